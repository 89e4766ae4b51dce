#!/usr/bin/env python3
"""getinfo follows the chain: 101 blocks, then each new block within 2 s over ZMQ; with ZMQ
disabled the daemon follows by polling and says so."""

import time

from test_framework.framework import SideboltTest
from test_framework.util import assert_equal, assert_true


class ChainFollowTest(SideboltTest):
    def set_test_params(self):
        self.num_nodes = 2
        # Node 1 ignores ZMQ: the polling path must follow the same chain.
        self.extra_args = [[], ["-bitcoin.zmq=0", "-bitcoin.pollinterval=200"]]

    def wait_for_height(self, node, height, timeout=30):
        return self.wait_until(lambda: node.cli("getinfo")["blockheight"] == height, timeout=timeout,
                               message=f"node {node.index} never reached height {height}")

    def run_test(self):
        zmq_node, poll_node = self.nodes
        info = zmq_node.cli("getinfo")
        assert_equal(info["network"], "regtest")
        assert_equal(len(info["id"]), 66)
        assert_equal(info["chain_source"], "zmq")
        assert_equal(poll_node.cli("getinfo")["chain_source"], "polling")
        assert_true(poll_node.log_contains("following the chain by RPC polling"), "polling mode not logged")

        hashes = self.bitcoind.mine(101)
        for node in self.nodes:
            self.wait_for_height(node, self.bitcoind.rpc("getblockcount"))
            info = node.cli("getinfo")
            assert_equal(info["blockhash"], hashes[-1])
            assert_true(info["synced"], "node should report synced at the tip")
            assert_equal(info["bitcoind"]["blocks"], info["blockheight"])

        self.log("a new block must show up within 2 s over ZMQ")
        for _ in range(3):
            start = time.monotonic()
            [new_hash] = self.bitcoind.mine(1)
            self.wait_until(lambda: zmq_node.cli("getinfo")["blockhash"] == new_hash, timeout=2, interval=0.02,
                            message="block not seen within 2 s over ZMQ")
            self.log(f"block seen after {time.monotonic() - start:.3f}s")
        self.wait_for_height(poll_node, self.bitcoind.rpc("getblockcount"))

        # The CLI finds port and cookie from the datadir alone.
        events = zmq_node.cli("listchainevents", "5")
        assert_equal(len(events), 5)
        assert_true(all(e["type"] == "connected" for e in events), "only connects expected")
        assert_equal([e["height"] for e in events], sorted(e["height"] for e in events))


if __name__ == "__main__":
    ChainFollowTest().main()
