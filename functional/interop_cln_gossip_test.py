#!/usr/bin/env python3
"""Gossip with Core Lightning: sidebolt S opens an announced channel to Core Lightning L1, and L1
one to a second Core Lightning node L2. At six confirmations S and L1 exchange
announcement_signatures; then Core Lightning, which checks every signature and the funding output
itself, lists S's channel (both directions, with S's fee policy) and S's node announcement, and S
lists L1 - L2 with L1's and L2's policies and aliases. S pays an L2 invoice (public channels: the
invoice carries no route hint) over a route S found through L1, and L2 pays S back over a route it
found itself with S's channel_update.

Needs LIGHTNINGD and a real bitcoind; skipped otherwise."""

from test_framework.framework import SideboltTest
from test_framework.util import assert_equal, assert_true


class InteropClnGossipTest(SideboltTest):
    def set_test_params(self):
        self.num_nodes = 1
        self.num_cln_nodes = 2
        self.extra_args = [["-gossip.flushms=200", "-alias=sidebolt-s", "-feebase=1500", "-feeppm=200", "-cltvdelta=36",
                            "-announceaddr=127.0.0.1:19999"]]
        self.cln_extra_args = [["--developer", "--dev-fast-gossip"], ["--developer", "--dev-fast-gossip"]]

    def graph(self):
        return self.nodes[0].cli("listgraphchannels")["channels"]

    def run_test(self):
        sb, l1, l2 = self.nodes[0], self.cln_nodes[0], self.cln_nodes[1]
        btc = self.bitcoind
        sb_id = sb.cli("getinfo")["id"]
        btc.mine(101)
        address = l1.cli("newaddr")
        btc.wallet_rpc("sendtoaddress", address.get("bech32") or address.get("p2tr"), 1)
        btc.mine(1)
        self.wait_until(lambda: len(l1.cli("listfunds")["outputs"]) > 0, timeout=60, message="L1 never saw its coins")

        self.log("S opens an announced channel to L1; L1 one to L2")
        sb.cli("connect", l1.p2p_address)
        l1.connect(l2.node_id, "127.0.0.1", l2.p2p_port)
        s_l1 = sb.cli("fundchannel", l1.node_id, "500000", "1000", "1")["channel_id"]
        l1_l2 = l1.cli("fundchannel", id=l2.node_id, amount=400000, push_msat=100000000)["channel_id"]
        btc.mine(6)
        self.wait_channel_normal(sb, s_l1)
        for cln, cid in ((l1, s_l1), (l1, l1_l2)):
            self.wait_until(lambda: (c := cln.channel(cid)) and c["state"] == "CHANNELD_NORMAL", timeout=90,
                            message=f"{cln} never saw {cid} normal")

        self.log("Core Lightning checks and lists S's channel and node announcement")
        scid = sb.channel(s_l1)["short_channel_id"]
        self.wait_until(lambda: len(l2.cli("listchannels", short_channel_id=scid)["channels"]) == 2, timeout=90,
                        message=f"L2 never learned S's channel: {l2.cli('listchannels', short_channel_id=scid)}")
        from_s = next(c for c in l2.cli("listchannels", short_channel_id=scid)["channels"] if c["source"] == sb_id)
        assert_equal(from_s["base_fee_millisatoshi"], 1500, f"S's channel_update as L2 sees it: {from_s}")
        assert_equal(from_s["fee_per_millionth"], 200)
        assert_equal(from_s["delay"], 36)
        assert_true(from_s["public"] and from_s["active"], f"{from_s}")
        self.wait_until(lambda: "alias" in (l2.cli("listnodes", id=sb_id)["nodes"] or [{}])[0], timeout=60,
                        message="L2 never got S's node_announcement")
        s_node = l2.cli("listnodes", id=sb_id)["nodes"][0]
        assert_equal(s_node["alias"], "sidebolt-s")
        assert_equal([(a["address"], a["port"]) for a in s_node["addresses"]], [("127.0.0.1", 19999)])

        self.log("S checks and lists L1 - L2 and both Core Lightning nodes")
        self.wait_until(lambda: len([c for c in self.graph() if "last_update" in c]) == 4, timeout=90,
                        message=f"S's graph: {self.graph()}")
        self.wait_until(lambda: all("alias" in n for n in sb.cli("listnodes")["nodes"]), timeout=60,
                        message=f"S's nodes: {sb.cli('listnodes')}")
        assert_equal(sb.cli("listnodes", l2.node_id)["nodes"][0]["alias"], "cln1")

        self.log("S pays L2's invoice over a route through L1 it found itself")
        inv = l2.cli("invoice", amount_msat=20000000, label="from-s", description="over the graph")
        assert_equal(sb.cli("decode", inv["bolt11"]).get("route_hints", []), [], "public channels: no route hint")
        paid = sb.cli("pay", inv["bolt11"])
        assert_equal(paid["status"], "complete")
        assert_true(paid["fee_msat"] > 0, f"L1 charged its fee: {paid}")
        assert_equal(l2.cli("listinvoices", label="from-s")["invoices"][0]["status"], "paid")

        self.log("L2 pays S's invoice over a route it found with S's channel_update")
        inv = sb.cli("invoice", "5000000", "from-l2", "back")
        back = l2.cli("pay", inv["bolt11"])
        assert_equal(back["status"], "complete", f"L2's pay: {back}")
        assert_equal(sb.cli("listinvoices", "from-l2")["invoices"][0]["status"], "paid")

        for node in (l1, l2):
            broken = [line for line in node.read_log().splitlines() if " BROKEN " in line]
            assert_true(not broken, f"{node} logged a broken peer or protocol error: {broken}")


if __name__ == "__main__":
    InteropClnGossipTest().main()
