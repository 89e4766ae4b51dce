#!/usr/bin/env python3
"""Channels with Core Lightning: sidebolt opens to Core Lightning and Core Lightning opens to
sidebolt; both channels reach normal operation on both sides (CHANNELD_NORMAL for Core
Lightning); each side reconnects after the other restarts and the channels stay normal; then
sidebolt closes the first channel and Core Lightning the second, and both closes confirm.

Needs LIGHTNINGD and a real bitcoind (Core Lightning drives bitcoind with bitcoin-cli);
skipped otherwise."""

from test_framework.framework import SideboltTest
from test_framework.util import assert_equal, assert_true


class InteropClnChannelTest(SideboltTest):
    def set_test_params(self):
        self.num_nodes = 1
        self.num_cln_nodes = 1

    def wait_normal(self, channel_id):
        sb = self.nodes[0]
        self.wait_until(lambda: (c := sb.channel(channel_id)) and c["state"] == "normal", timeout=90,
                        message=f"sidebolt never saw {channel_id} normal")
        self.wait_until(lambda: (c := self.cln_nodes[0].channel(channel_id)) and c["state"] == "CHANNELD_NORMAL", timeout=90,
                        message=f"Core Lightning never saw {channel_id} normal: {self.cln_nodes[0].channel(channel_id)}")

    def run_test(self):
        sb, cln = self.nodes[0], self.cln_nodes[0]
        btc = self.bitcoind
        sb_id = sb.cli("getinfo")["id"]
        btc.mine(101)
        # Core Lightning funds from its own wallet.
        cln_address = cln.cli("newaddr")["bech32"]
        btc.wallet_rpc("sendtoaddress", cln_address, 1)
        btc.mine(1)
        self.wait_until(lambda: len(cln.cli("listfunds")["outputs"]) > 0, timeout=60,
                        message="Core Lightning never saw its coins")

        self.log("sidebolt opens 300000 sat to Core Lightning")
        sb.cli("connect", cln.p2p_address)
        ours = sb.cli("fundchannel", cln.node_id, "300000")["channel_id"]
        self.log("Core Lightning opens 250000 sat to sidebolt")
        theirs = cln.cli("fundchannel", id=sb_id, amount=250000)["channel_id"]
        btc.mine(6)
        for cid in (ours, theirs):
            self.wait_normal(cid)
        c = sb.channel(theirs)
        assert_equal(c["opener"], "remote")
        assert_equal(c["to_them_msat"] + c["to_us_msat"], 250000 * 1000)
        assert_true(c["channel_type"].startswith("anchors") or c["channel_type"] == "static_remotekey", str(c))

        self.log("Core Lightning restarts; sidebolt reconnects and both channels are reestablished")
        cln.stop()
        cln.start()
        for cid in (ours, theirs):
            self.wait_normal(cid)
            self.wait_until(lambda: sb.channel(cid)["peer_connected"], timeout=90)
        self.log("sidebolt restarts; the channels are reestablished again")
        sb.stop()
        sb.start()
        self.wait_until(lambda: cln.find_peer(sb_id) is not None or
                        cln.cli("connect", sb_id, "127.0.0.1", sb.p2p_port), timeout=90)
        for cid in (ours, theirs):
            self.wait_normal(cid)

        self.log("sidebolt closes its channel, Core Lightning closes its own")
        closed = sb.cli("close", ours)
        cln.cli("close", id=theirs)
        btc.mine(1)
        self.wait_until(lambda: sb.channel(ours)["state"] == "closed", timeout=90,
                        message="sidebolt's close never confirmed")
        self.wait_until(lambda: sb.channel(theirs)["state"] == "closed", timeout=90,
                        message="Core Lightning's close never confirmed on sidebolt")
        tx = btc.wallet_rpc("gettransaction", closed["closing_txid"])
        assert_equal(tx["confirmations"], 1, "sidebolt's close pays bitcoind's wallet")


if __name__ == "__main__":
    InteropClnChannelTest().main()
