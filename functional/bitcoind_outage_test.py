#!/usr/bin/env python3
"""The regtest node killed, then restarted: sideboltd keeps running, reports bitcoind
unreachable and unsynced, then recovers and follows the chain again. ZMQ messages dropped
(a sequence gap): reconciliation catches up without waiting for the poll timer."""

from test_framework.framework import SideboltTest
from test_framework.util import assert_equal, assert_true


class BitcoindOutageTest(SideboltTest):
    def set_test_params(self):
        self.num_nodes = 1

    def at_tip(self, node):
        return node.cli("getinfo")["blockhash"] == self.bitcoind.rpc("getbestblockhash")

    def run_test(self):
        node, btc = self.nodes[0], self.bitcoind
        btc.mine(101)
        self.wait_until(lambda: self.at_tip(node))
        self.test_zmq_gap(node, btc)

        self.log("kill the regtest node")
        btc.kill()
        info = self.wait_until(lambda: (lambda i: not i["bitcoind"]["reachable"] and i)(node.cli("getinfo")),
                               timeout=30, message="daemon never noticed bitcoind was gone")
        assert_equal(info["synced"], False)
        assert_true("last_error" in info["bitcoind"], "an error should be reported")
        assert_true(node.is_running(), "sideboltd must keep running without bitcoind")

        self.log("restart the regtest node")
        btc.start()
        btc.mine(3)
        self.wait_until(lambda: self.at_tip(node), timeout=60, message="no recovery after bitcoind restart")
        info = node.cli("getinfo")
        assert_true(info["synced"] and info["bitcoind"]["reachable"], f"not recovered: {info}")

    def test_zmq_gap(self, node, btc):
        before = node.cli("getinfo")["zmq"]
        node.cli("dev-dropzmq", "3")
        btc.mine(1)
        [tip] = btc.mine(1)
        # Well inside the 5 s ZMQ-mode poll interval: only the gap can have triggered this.
        self.wait_until(lambda: node.cli("getinfo")["blockhash"] == tip, timeout=3, interval=0.05,
                        message="gap did not trigger a reconciliation")
        after = node.cli("getinfo")["zmq"]
        assert_equal(after["dropped"] - before["dropped"], 3)
        assert_true(after["gaps"] > before["gaps"], "gap not counted")
        node.wait_for_log(r"ZMQ \w+ sequence gap", timeout=5)


if __name__ == "__main__":
    BitcoindOutageTest().main()
