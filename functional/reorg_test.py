#!/usr/bin/env python3
"""A reorg (invalidateblock of 3 blocks, then 4 new ones) ends with the follower on the new
tip, having delivered the 3 disconnects newest first, then the 4 connects oldest first."""

from test_framework.framework import SideboltTest
from test_framework.util import assert_equal


class ReorgTest(SideboltTest):
    def set_test_params(self):
        self.num_nodes = 1

    def run_test(self):
        node = self.nodes[0]
        self.bitcoind.mine(110)
        tip = self.bitcoind.rpc("getblockcount")
        self.wait_until(lambda: node.cli("getinfo")["blockheight"] == tip)
        old = [self.bitcoind.rpc("getblockhash", h) for h in range(tip - 2, tip + 1)]
        before = len(node.cli("listchainevents"))

        self.bitcoind.rpc("invalidateblock", old[0])
        new = self.bitcoind.mine(4)
        self.wait_until(lambda: node.cli("getinfo")["blockhash"] == new[-1], timeout=30,
                        message="follower did not reach the new tip")
        assert_equal(node.cli("getinfo")["blockheight"], tip + 1)

        events = node.cli("listchainevents")[before:]
        disconnects = [e for e in events if e["type"] == "disconnected"]
        connects = [e for e in events if e["type"] == "connected"]
        assert_equal([e["hash"] for e in disconnects], list(reversed(old)), "disconnects newest first")
        assert_equal([e["height"] for e in disconnects], [tip, tip - 1, tip - 2])
        # Everything disconnected comes before anything connected.
        assert_equal([e["type"] for e in events], ["disconnected"] * 3 + ["connected"] * 4)
        assert_equal([e["hash"] for e in connects], new, "connects oldest first")
        assert_equal([e["height"] for e in connects], list(range(tip - 2, tip + 2)))
        node.wait_for_log(r"block disconnected height=%d" % tip)


if __name__ == "__main__":
    ReorgTest().main()
