#!/usr/bin/env python3
"""Gossip (BOLT 7) between five sidebolt daemons in a line, then a ring: A - B - C - D - E open
announced channels; at six confirmations both ends exchange announcement_signatures and every node
learns every channel (both directions' channel_update) and every node_announcement (alias, color,
address). A pays E by keysend over a route it found itself (no hint), paying B, C and D their fees.
E - A closes the ring, and A pays C an invoice too large for either way round: the payment splits
over both sides of the ring, including the part of a remote channel's balance the first attempt
overshot. F, which joins later and opens nothing, syncs the whole graph from C by queries; a
restart loads the graph from the store; a channel closed on chain leaves every node's graph."""

from test_framework.framework import SideboltTest
from test_framework.util import assert_equal, assert_true

FLUSH = "-gossip.flushms=200"
SAT = 1000


class GossipTest(SideboltTest):
    def set_test_params(self):
        self.num_nodes = 6
        self.extra_args = [
            [FLUSH, "-alias=alice", "-color=ff0000", "-announceaddr=127.0.0.1:19735"],
            [FLUSH, "-alias=bob", "-feebase=2000", "-feeppm=100", "-cltvdelta=40"],
            [FLUSH, "-alias=carol"],
            [FLUSH, "-feebase=500", "-feeppm=10", "-cltvdelta=50"],
            [FLUSH],
            [FLUSH],
        ]

    def graph(self, node):
        return node.cli("listgraphchannels")["channels"]

    def updated(self, node):
        return [c for c in self.graph(node) if "last_update" in c]

    def wait_graph(self, nodes, count, what):
        for node in nodes:
            self.wait_until(lambda: len(self.updated(node)) == count, timeout=90,
                            message=f"node {node.index} {what}: {self.graph(node)}")

    def open_channels(self, pairs):
        """Each (funder, fundee, push_sat) opens an announced 500,000-sat channel; returns their ids
        once normal on both ends."""
        ids = []
        for funder, fundee, push in pairs:
            funder.cli("connect", fundee.p2p_address)
            ids.append(funder.cli("fundchannel", self.ids[fundee.index], "500000", "1000", "1", str(push * SAT))["channel_id"])
        self.bitcoind.mine(3)
        for (funder, fundee, _), cid in zip(pairs, ids):
            self.wait_channel_normal(funder, cid)
            self.wait_channel_normal(fundee, cid)
        return ids

    def run_test(self):
        a, b, c, d, e, f = self.nodes
        self.ids = [n.cli("getinfo")["id"] for n in self.nodes]
        ring = [a, b, c, d, e]
        self.bitcoind.mine(101)

        self.log("a line A - B - C - D - E of announced channels (each pushes half to the next but A)")
        cids = self.open_channels([(a, b, 0), (b, c, 250000), (c, d, 250000), (d, e, 250000)])
        assert_equal(self.graph(a), [], "nothing is announced before six confirmations")
        self.bitcoind.mine(3)
        self.wait_graph(ring, 8, "never learned the four channels in both directions")
        b_to_c = next(ch for ch in self.graph(e) if ch["source"] == self.ids[1] and ch["destination"] == self.ids[2])
        assert_equal(b_to_c["base_fee_millisatoshi"], 2000, f"B's policy as E sees it: {b_to_c}")
        assert_equal(b_to_c["fee_per_millionth"], 100)
        assert_equal(b_to_c["delay"], 40)
        assert_equal(b_to_c["amount_msat"], 500000 * SAT)
        assert_true(b_to_c["active"], "B is connected to C")

        self.log("node announcements: alias, color and address, at the far end of the line")
        self.wait_until(lambda: len([n for n in e.cli("listnodes")["nodes"] if "alias" in n]) == 5, timeout=60,
                        message=f"E's nodes: {e.cli('listnodes')}")
        alice = e.cli("listnodes", self.ids[0])["nodes"][0]
        assert_equal(alice["alias"], "alice")
        assert_equal(alice["color"], "ff0000")
        assert_equal(alice["addresses"], ["127.0.0.1:19735"])
        assert_equal(a.cli("listnodes", self.ids[1])["nodes"][0]["alias"], "bob")

        self.log("A pays E by keysend over the route it finds: B, C and D each take their fee")
        amount = 10000 * SAT
        route = a.cli("getroute", self.ids[4], str(amount))
        assert_equal([h["id"] for h in route["route"]], self.ids[1:5])
        # BOLT 7 fees, from the payee back: D charges on what reaches E, C on what reaches D...
        policies = {ch["source"]: ch for ch in self.graph(a)
                    if self.ids.index(ch["destination"]) == self.ids.index(ch["source"]) + 1}
        carried = amount
        for hop in (3, 2, 1):
            policy = policies[self.ids[hop]]
            carried += policy["base_fee_millisatoshi"] + carried * policy["fee_per_millionth"] // 1000000
        assert_equal(route["fee_msat"], carried - amount)
        assert_equal(route["route"][2]["delay"] - route["route"][3]["delay"], 50, "D's cltv delta")
        sent = a.cli("keysend", self.ids[4], str(amount))
        assert_equal(sent["status"], "complete", f"keysend: {sent}")
        assert_equal(sent["fee_msat"], carried - amount)
        assert_equal(len(sent["parts"]), 1)
        assert_equal(sent["parts"][0]["route"].count(">"), 3, f"four channels: {sent['parts'][0]['route']}")

        self.log("E - A closes the ring; every node learns the fifth channel")
        cids += self.open_channels([(e, a, 250000)])
        self.bitcoind.mine(3)
        self.wait_graph(ring, 10, "never learned the ring's five channels")
        scid = {frozenset((ch["source"], ch["destination"])): ch["short_channel_id"] for ch in self.graph(a)}
        bc = scid[frozenset(self.ids[1:3])]
        ea = scid[frozenset((self.ids[4], self.ids[0]))]

        self.log("A pays C 400,000 sat: more than either way round carries, so it goes both ways")
        invoice = c.cli("invoice", str(400000 * SAT), "ring", "both ways round")["bolt11"]
        paid = a.cli("pay", invoice)
        assert_equal(paid["status"], "complete", f"pay: {paid}")
        # pay answers on the first preimage; the other parts settle right after.
        self.wait_until(lambda: all(p["status"] != "pending" for p in a.cli("listpays", paid["payment_hash"])["pays"][0]["parts"]),
                        timeout=30, message="parts still pending")
        paid = a.cli("listpays", paid["payment_hash"])["pays"][0]
        self.log(f"paid in {paid['attempts']} attempt(s): {[(p['route'], p['status'], p['amount_msat']) for p in paid['parts']]}")
        settled = [p for p in paid["parts"] if p["status"] == "complete"]
        assert_true(len(settled) >= 2, f"split in parts: {paid['parts']}")
        assert_equal(sum(p["amount_msat"] for p in settled), 400000 * SAT)
        assert_true(any(bc in p["route"] for p in settled), f"some of it through B - C: {settled}")
        assert_true(any(p["route"].startswith(ea) for p in settled), f"some of it through E - A: {settled}")
        assert_equal(c.cli("listinvoices", "ring")["invoices"][0]["status"], "paid")

        self.log("F joins C later with no channel and syncs the graph by queries")
        f.cli("connect", c.p2p_address)
        self.wait_graph([f], 10, "never synced the ring")
        self.wait_until(lambda: len(f.cli("listnodes")["nodes"]) == 5, timeout=30)

        self.log("a restart loads the graph from the store")
        f.stop()
        f.start()
        assert_equal(len(self.updated(f)), 10, "F's graph after a restart")

        self.log("C - D closes on chain: the channel leaves every graph")
        cd = scid[frozenset(self.ids[2:4])]
        c.cli("close", cids[2])
        self.bitcoind.mine(1)
        for node in ring + [f]:
            self.wait_until(lambda: all(ch["short_channel_id"] != cd for ch in self.graph(node)), timeout=60,
                            message=f"node {node.index} still has the closed channel")
        assert_equal(len(self.graph(a)), 8, "the other four channels remain")


if __name__ == "__main__":
    GossipTest().main()
