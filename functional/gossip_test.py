#!/usr/bin/env python3
"""Gossip (BOLT 7) between sidebolt daemons: A - B - C open announced channels; at six
confirmations both ends exchange announcement_signatures, and every node learns both channels
(each direction's channel_update) and every node_announcement (alias, color, address). A finds
a route to C over the graph (getroute) and pays C by keysend with no route hint; D, which joins
later and opens nothing, syncs the whole graph from C by queries; a restart loads the graph from
the store; a channel closed on chain disappears from every node's graph."""

from test_framework.framework import SideboltTest
from test_framework.util import assert_equal, assert_true

FLUSH = "-gossip.flushms=200"


class GossipTest(SideboltTest):
    def set_test_params(self):
        self.num_nodes = 4
        self.extra_args = [
            [FLUSH, "-alias=alice", "-color=ff0000", "-announceaddr=127.0.0.1:19735"],
            [FLUSH, "-alias=bob", "-feebase=2000", "-feeppm=100", "-cltvdelta=40"],
            [FLUSH, "-alias=carol"],
            [FLUSH],
        ]

    def graph(self, node):
        return node.cli("listgraphchannels")["channels"]

    def wait_graph(self, node, count, what):
        self.wait_until(lambda: len([c for c in self.graph(node) if "last_update" in c]) == count, timeout=60,
                        message=f"{what}: {self.graph(node)}")

    def run_test(self):
        a, b, c, d = self.nodes
        ids = [n.cli("getinfo")["id"] for n in self.nodes]
        self.bitcoind.mine(101)
        a.cli("connect", b.p2p_address)
        b.cli("connect", c.p2p_address)
        self.log("announced channels A-B and B-C")
        ab = a.cli("fundchannel", ids[1], "500000", "1000", "1")["channel_id"]
        bc = b.cli("fundchannel", ids[2], "500000", "1000", "1")["channel_id"]
        self.bitcoind.mine(3)
        for node, cid in ((a, ab), (b, ab), (b, bc), (c, bc)):
            self.wait_channel_normal(node, cid)
        assert_equal(self.graph(a), [], "nothing is announced before six confirmations")

        self.log("six confirmations: announcement_signatures, then every node learns both channels")
        self.bitcoind.mine(3)
        for node, name in ((a, "A"), (b, "B"), (c, "C")):
            self.wait_graph(node, 4, f"{name} never learned both channels in both directions")
        scids = sorted({ch["short_channel_id"] for ch in self.graph(a)})
        assert_equal(len(scids), 2)
        b_to_c = next(ch for ch in self.graph(a) if ch["source"] == ids[1] and ch["destination"] == ids[2])
        assert_equal(b_to_c["base_fee_millisatoshi"], 2000, f"B's policy as A sees it: {b_to_c}")
        assert_equal(b_to_c["fee_per_millionth"], 100)
        assert_equal(b_to_c["delay"], 40)
        assert_equal(b_to_c["amount_msat"], 500000000)
        assert_true(b_to_c["active"], "B is connected to C")

        self.log("node announcements: alias, color and address")
        self.wait_until(lambda: all("alias" in n for n in a.cli("listnodes")["nodes"]) and len(a.cli("listnodes")["nodes"]) == 3,
                        timeout=30, message=f"A's nodes: {a.cli('listnodes')}")
        alice = c.cli("listnodes", ids[0])["nodes"]
        self.wait_until(lambda: "alias" in c.cli("listnodes", ids[0])["nodes"][0], timeout=30)
        alice = c.cli("listnodes", ids[0])["nodes"][0]
        assert_equal(alice["alias"], "alice")
        assert_equal(alice["color"], "ff0000")
        assert_equal(alice["addresses"], ["127.0.0.1:19735"])
        assert_equal(a.cli("listnodes", ids[1])["nodes"][0]["alias"], "bob")

        self.log("A routes to C over the graph: through B, paying B's fee")
        route = a.cli("getroute", ids[2], "10000000")
        assert_equal([h["id"] for h in route["route"]], [ids[1], ids[2]])
        assert_equal(route["fee_msat"], 2000 + 10000000 * 100 // 1000000)
        assert_equal(route["route"][0]["delay"] - route["route"][1]["delay"], 40, "B's cltv delta")
        sent = a.cli("keysend", ids[2], "10000000")
        assert_equal(sent["status"], "complete")
        assert_equal(sent["fee_msat"], 3000)

        self.log("D joins C later with no channel and syncs the graph by queries")
        d.cli("connect", c.p2p_address)
        self.wait_graph(d, 4, "D never synced both channels")
        self.wait_until(lambda: len(d.cli("listnodes")["nodes"]) == 3, timeout=30)

        self.log("a restart loads the graph from the store")
        d.stop()
        d.start()
        assert_equal(len([ch for ch in self.graph(d) if "last_update" in ch]), 4, "D's graph after a restart")

        self.log("B-C closes on chain: the channel leaves every graph")
        bc_scid = next(ch["short_channel_id"] for ch in self.graph(a) if ids[2] in (ch["source"], ch["destination"]))
        b.cli("close", bc)
        self.bitcoind.mine(1)
        for node, name in ((a, "A"), (b, "B"), (d, "D")):
            self.wait_until(lambda: all(ch["short_channel_id"] != bc_scid for ch in self.graph(node)), timeout=60,
                            message=f"{name} still has the closed channel")
        assert_equal(len(self.graph(a)), 2, "A-B remains")


if __name__ == "__main__":
    GossipTest().main()
