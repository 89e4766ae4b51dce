#!/usr/bin/env python3
"""The open refusals channel_open_close_test.py does not cover, each with a clear error on the
opener, nothing left at the peer and no wallet coin locked: a peer we are not connected to, more
pending opens with one peer than -channel.maxpendingopens allows, and bitcoind unreachable when
the funding transaction is to be built. After each, an open that should work still works."""

from test_framework.framework import SideboltTest
from test_framework.util import assert_equal, assert_true

RPC_PEER_NOT_CONNECTED = -101
ERR_TOO_MANY_PENDING = -106


class ChannelOpenRefusalsTest(SideboltTest):
    def set_test_params(self):
        self.num_nodes = 2
        self.extra_args = [["-channel.maxpendingopens=1"], []]

    def assert_nothing_locked(self):
        self.wait_until(lambda: self.bitcoind.wallet_rpc("listlockunspent") == [], timeout=30,
                        message="a wallet coin stayed locked")

    def run_test(self):
        a, b = self.nodes
        b_id = b.cli("getinfo")["id"]
        self.bitcoind.mine(101)

        self.log("a peer we are not connected to")
        err = a.cli_error("fundchannel", b_id, "100000")
        assert_equal(err["code"], RPC_PEER_NOT_CONNECTED, f"not connected: {err}")
        assert_true("not connected" in err["message"], f"the message says why: {err}")
        assert_equal(b.cli("listchannels")["channels"], [], "the peer saw nothing")

        self.log("bitcoind unreachable while the funding transaction is built")
        a.cli("connect", b.p2p_address)
        self.bitcoind.stop()
        err = a.cli_error("fundchannel", b_id, "100000")
        assert_true(err["code"] != 0 and err["message"], f"bitcoind down: {err}")
        self.log(f"  refused with {err['code']}: {err['message']}")
        assert_equal(a.cli("listchannels")["channels"], [], "no channel kept by the opener")
        self.bitcoind.start()
        self.wait_until(lambda: a.cli("getinfo")["bitcoind"]["reachable"], timeout=60)
        self.bitcoind.mine(1)
        self.assert_nothing_locked()
        self.wait_until(lambda: all(c["state"] != "awaiting_lockin" or c["funding_confirmations"] == 0
                                    for c in b.cli("listchannels")["channels"]), timeout=10)
        if not any(p["id"] == b_id for p in a.cli("listpeers")):
            a.cli("connect", b.p2p_address)

        self.log("one pending open at most (-channel.maxpendingopens=1): the second is refused")
        first = a.cli("fundchannel", b_id, "100000")["channel_id"]
        err = a.cli_error("fundchannel", b_id, "100000")
        assert_equal(err["code"], ERR_TOO_MANY_PENDING, f"too many pending: {err}")
        assert_true("pending" in err["message"], f"the message says why: {err}")
        self.assert_nothing_locked()
        ids = {c["channel_id"] for c in a.cli("listchannels")["channels"] if c["state"] == "awaiting_lockin"}
        assert_equal(ids, {first}, "only the first open is pending")

        self.log("once it locks in, the next open is accepted")
        self.bitcoind.mine(3)
        self.wait_until(lambda: any(c["channel_id"] == first and c["state"] == "normal"
                                    for c in a.cli("listchannels")["channels"]), timeout=60)
        second = a.cli("fundchannel", b_id, "100000")["channel_id"]
        assert_true(second != first)
        self.assert_nothing_locked()


if __name__ == "__main__":
    ChannelOpenRefusalsTest().main()
