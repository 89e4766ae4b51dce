#!/usr/bin/env python3
"""sideboltd stopped, 20 blocks mined, restarted: it delivers every missed block in order and
ends at the tip. Also: a killed daemon (no clean shutdown) resumes from what it committed."""

from test_framework.framework import SideboltTest
from test_framework.util import assert_equal


class RestartCatchupTest(SideboltTest):
    def set_test_params(self):
        self.num_nodes = 1

    def at_tip(self, node):
        return node.cli("getinfo")["blockhash"] == self.bitcoind.rpc("getbestblockhash")

    def run_test(self):
        node = self.nodes[0]
        self.bitcoind.mine(101)
        self.wait_until(lambda: self.at_tip(node))
        node_id = node.cli("getinfo")["id"]
        stopped_at = node.cli("getinfo")["blockheight"]

        node.stop()
        missed = self.bitcoind.mine(20)
        node.start()
        self.wait_until(lambda: self.at_tip(node), timeout=30, message="no catch-up after restart")
        assert_equal(node.cli("getinfo")["id"], node_id, "node id must survive a restart")
        events = node.cli("listchainevents")
        assert_equal([e["hash"] for e in events[-20:]], missed, "every missed block, in order")
        assert_equal(events[-20]["height"], stopped_at + 1)

        self.log("kill -9, mine, restart")
        node.kill()
        missed = self.bitcoind.mine(5)
        node.start()
        self.wait_until(lambda: self.at_tip(node), timeout=30)
        assert_equal([e["hash"] for e in node.cli("listchainevents")[-5:]], missed)


if __name__ == "__main__":
    RestartCatchupTest().main()
