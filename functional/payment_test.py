#!/usr/bin/env python3
"""Payments between three sidebolt daemons in a line, A - B - C: C issues invoices, A pays
them through B, which forwards for a fee; keysend from A to C; the same invoice is never paid
twice; a payment with no route fails clearly; listinvoices, waitanyinvoice, listpays and
listsendpays report what happened; balances move by exactly the amounts and fees."""

import os

from test_framework.framework import SideboltTest
from test_framework.util import assert_equal, assert_true

ERR_ALREADY_PAID = -130
ERR_NO_ROUTE = -132


class PaymentTest(SideboltTest):
    def set_test_params(self):
        self.num_nodes = 3
        # B forwards for 1000 msat + 10 ppm, which it tells C directly (the channels are private).
        # C keeps no CPU awake after its channel activity, and is paid all the same.
        self.extra_args = [[], ["-feebase=1000", "-feeppm=10"], ["-busypollus=0"]]

    def run_test(self):
        a, b, c = self.nodes
        ids = [n.cli("getinfo")["id"] for n in self.nodes]
        self.bitcoind.mine(101)
        a.cli("connect", b.p2p_address)
        b.cli("connect", c.p2p_address)
        self.log("channels A-B and B-C, 500000 sat each, opened by the left side")
        ab = a.cli("fundchannel", ids[1], "500000")["channel_id"]
        bc = b.cli("fundchannel", ids[2], "500000")["channel_id"]
        self.bitcoind.mine(3)
        for node, cid in ((a, ab), (b, ab), (b, bc), (c, bc)):
            self.wait_channel_normal(node, cid)

        self.log("C invoices 100000 sat; A pays it directly over B... once B forwards")
        inv = c.cli("invoice", "100000000", "first", "coffee")
        commits_before = a.cli("getmetrics")["store"]
        paid = a.cli("pay", inv["bolt11"])
        assert_equal(paid["status"], "complete")
        assert_equal(paid["amount_msat"], 100000000)
        # B's fee: 1000 msat + 10 ppm of 100000000 msat.
        assert_equal(paid["fee_msat"], 1000 + 1000, f"B's forwarding fee: {paid}")
        assert_equal(paid["amount_sent_msat"], 100000000 + 2000)
        preimage = paid["payment_preimage"]
        import hashlib
        assert_equal(hashlib.sha256(bytes.fromhex(preimage)).hexdigest(), inv["payment_hash"], "the preimage pays the hash")
        got = c.cli("waitanyinvoice", "0", "30")
        assert_equal(got["label"], "first")
        assert_equal(got["status"], "paid")
        listed = c.cli("listinvoices", "first")["invoices"][0]
        assert_equal(listed["status"], "paid")
        assert_equal(listed["amount_received_msat"], 100000000)

        self.log("balances moved by the amount and the fee")
        self.wait_until(lambda: c.channel(bc)["to_us_msat"] == 100000000, timeout=30,
                        message="C's balance never reached the payment")
        self.wait_until(lambda: b.channel(ab)["to_us_msat"] == 100002000, timeout=30,
                        message="B never received amount plus fee from A")
        assert_equal(b.channel(bc)["to_them_msat"], 100000000)
        assert_equal(a.channel(ab)["pending_htlcs"], 0)
        # Adding, signing and settling an HTLC are writes the payer made durably before sending.
        commits_after = a.cli("getmetrics")["store"]
        assert_true(commits_before["durable"], "the store syncs its commits")
        assert_true(commits_after["commits"] >= commits_before["commits"] + 3, f"getmetrics: {commits_after}")
        # Each commit is one sync of its commit-log record; checkpoints add two each. The counters
        # are read one after the other while other writers may commit: a commit or a checkpoint
        # caught between them moves the count by up to two.
        new_syncs = commits_after["syncs"] - commits_before["syncs"]
        expected = (commits_after["commits"] - commits_before["commits"] +
                    2 * (commits_after["checkpoints"] - commits_before["checkpoints"]))
        assert_true(abs(new_syncs - expected) <= 2, f"getmetrics: {commits_before} then {commits_after}")
        # Each commit's log write is timed (the same reads apart, up to a commit either way): the
        # histogram took the new ones, and its quantiles read from it in order.
        writes_before, writes_after = commits_before["commit_write_us"], commits_after["commit_write_us"]
        new_writes = writes_after["count"] - writes_before["count"]
        assert_true(abs(new_writes - (commits_after["commits"] - commits_before["commits"])) <= 2,
                    f"getmetrics: {commits_before} then {commits_after}")
        assert_equal(sum(count for _, count in writes_after["buckets"]), writes_after["count"])
        assert_true(0 < writes_after["p50"] <= writes_after["p90"] <= writes_after["p99"] <= writes_after["max"],
                    f"getmetrics: {writes_after}")
        assert_true(abs(commits_after["checkpoint_us"]["count"] - commits_after["checkpoints"]) <= 1, f"getmetrics: {commits_after}")
        # Quiet for a second after those commits, the store checkpoints by itself rather than
        # in a later payment's commit.
        self.wait_until(lambda: a.cli("getmetrics")["store"]["idle_checkpoints"] > commits_after["idle_checkpoints"],
                        timeout=30, message="A's store never checkpointed while quiet")
        self.log("40 keysends one at a time, back and forth over A-B: A's store checkpoints on its own, and what is pending reads back")
        before = a.cli("getmetrics")["store"]
        sent_before = len(a.cli("listsendpays")["payments"])
        for n in range(40):
            payer, payee = (a, ids[1]) if n % 2 == 0 else (b, ids[0])
            assert_equal(payer.cli("keysend", payee, "1000")["status"], "complete")
        after = a.cli("getmetrics")["store"]
        # A checkpoint every 64 commits: the 40 keysends' commits (two or more each) reach one.
        full = (after["checkpoints"] - after["idle_checkpoints"]) - (before["checkpoints"] - before["idle_checkpoints"])
        assert_true(full >= 1, f"getmetrics: {before} then {after}")
        # A's 20 keysends read back from its store, wherever they are between log and LMDB.
        sent = a.cli("listsendpays")["payments"]
        assert_equal(len(sent) - sent_before, 20)
        assert_true(all(p["status"] == "complete" for p in sent[-20:]), f"listsendpays: {sent[-20:]}")
        # One idle-priority poller per CPU the daemon may use, up to 8.
        assert_equal(a.cli("getmetrics")["busypoll"]["threads"], min(8, len(os.sched_getaffinity(0))))
        assert_equal(c.cli("getmetrics")["busypoll"], {"threads": 0, "spun_ms": 0})

        self.log("the same invoice is never paid twice")
        err = a.cli_error("pay", inv["bolt11"])
        assert_equal(err["code"], ERR_ALREADY_PAID, f"second pay: {err}")

        self.log("keysend A -> B (a keysend needs a route without hints: a channel of ours until gossip)")
        sent = a.cli("keysend", ids[1], "5000000")
        assert_equal(sent["status"], "complete")
        assert_equal(sent["amount_msat"], 5000000)
        assert_equal(sent["fee_msat"], 0)
        self.wait_until(lambda: b.channel(ab)["to_us_msat"] == 105002000, timeout=30,
                        message="B never received the keysend")
        err = a.cli_error("keysend", ids[2], "5000000")
        assert_equal(err["code"], ERR_NO_ROUTE, f"keysend to a node we have no route to: {err}")

        self.log("C pays back to A through B (C's balance is what A paid)")
        inv_a = a.cli("invoice", "20000000", "back", "change")
        back = c.cli("pay", inv_a["bolt11"])
        assert_equal(back["status"], "complete")

        self.log("an amount larger than any channel can carry fails with no route")
        big = c.cli("invoice", "900000000", "too-big", "too much")
        err = a.cli_error("pay", big["bolt11"])
        assert_true(err["code"] in (ERR_NO_ROUTE, -133), f"too big: {err}")
        pays = a.cli("listpays")["pays"]
        statuses = {p["payment_hash"]: p["status"] for p in pays}
        assert_equal(statuses[inv["payment_hash"]], "complete")
        parts = a.cli("listsendpays", inv["payment_hash"])["payments"]
        assert_true(len(parts) >= 1 and parts[0]["status"] == "complete", f"listsendpays: {parts}")

        self.log("restart C: the paid invoice stays paid; a new invoice is paid after reestablish")
        c.stop()
        c.start()
        for node, cid in ((b, bc), (c, bc)):
            self.wait_channel_normal(node, cid)
        assert_equal(c.cli("listinvoices", "first")["invoices"][0]["status"], "paid")
        inv2 = c.cli("invoice", "1000000", "after-restart", "tea")
        assert_equal(a.cli("pay", inv2["bolt11"])["status"], "complete")

        self.log("restart A: its payments are still listed and a paid invoice is still never paid twice")
        a.stop()
        a.start()
        self.wait_channel_normal(a, ab)
        statuses = {p["payment_hash"]: p["status"] for p in a.cli("listpays")["pays"]}
        assert_equal(statuses.get(inv["payment_hash"]), "complete", f"after restart: {statuses}")
        assert_equal(statuses.get(inv2["payment_hash"]), "complete")
        err = a.cli_error("pay", inv["bolt11"])
        assert_equal(err["code"], ERR_ALREADY_PAID, f"pay again after restart: {err}")

        self.log("sendpay over an explicit route A -> B -> C, then waitsendpay; an underpaid route fails at B")
        amount = 2000000
        inv4 = c.cli("invoice", str(amount), "explicit", "by route")
        fee = 1000 + amount * 10 // 1000000
        route = [{"id": ids[1], "channel": a.channel(ab)["short_channel_id"], "amount_msat": amount + fee, "delay": 18 + 2 + 34},
                 {"id": ids[2], "channel": b.channel(bc)["short_channel_id"], "amount_msat": amount, "delay": 18 + 2}]
        pending = a.cli("sendpay", route, inv4["payment_hash"], inv4["payment_secret"])
        assert_equal(pending["status"], "pending")
        done = a.cli("waitsendpay", inv4["payment_hash"], "30")
        assert_equal(done["status"], "complete")
        assert_equal(done["fee_msat"], fee)
        inv5 = c.cli("invoice", str(amount), "underpaid", "by route")
        route[0]["amount_msat"] = amount + fee - 1
        a.cli("sendpay", route, inv5["payment_hash"], inv5["payment_secret"])
        err = a.cli_error("waitsendpay", inv5["payment_hash"], "30")
        assert_equal(err["code"], -133)
        assert_true("fee_insufficient" in err["message"], f"underpaid route: {err}")

        self.log("B raises its fee: an invoice C made before still says the old one; B refuses it with its "
                 "channel_update, and A pays again at the new fee")
        stale = c.cli("invoice", "1000000", "new-fee", "cake")
        assert_equal(b.cli("setchannelfee", "5000", "0")["feebase_msat"], 5000)
        paid = a.cli("pay", stale["bolt11"])
        assert_equal(paid["status"], "complete", f"pay: {paid}")
        assert_equal(paid["fee_msat"], 5000)
        attempts = a.cli("listsendpays", stale["payment_hash"])["payments"]
        assert_equal([p["status"] for p in attempts], ["failed", "complete"], f"refused once, then paid: {attempts}")

        self.log("B gave C its new channel_update directly (BOLT 7, private channel): C's hints now say 5000")
        probes = iter(range(1000))

        def hint_fee():
            probe = c.cli("invoice", "1000000", f"probe-{next(probes)}", "probe")["bolt11"]
            return c.cli("decode", probe)["routes"][0][0]["fee_base_msat"]
        self.wait_until(lambda: hint_fee() == 5000, timeout=30, message="C's route hint never took B's new fee")
        fresh = c.cli("invoice", "1000000", "fresh-fee", "cake")
        paid = a.cli("pay", fresh["bolt11"])
        assert_equal(paid["status"], "complete")
        assert_equal(paid["fee_msat"], 5000)
        assert_equal(len(a.cli("listsendpays", fresh["payment_hash"])["payments"]), 1, "right the first time")

if __name__ == "__main__":
    PaymentTest().main()
