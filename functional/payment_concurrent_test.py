#!/usr/bin/env python3
"""100 payments at once in both directions over one channel: A opens to B pushing half of the
capacity, B issues 50 invoices that A pays while A issues 50 that B pays, all 100 `pay` calls
running at the same time from Python threads. Every payment completes exactly once (one
complete HTLC per hash in listsendpays, listpays complete, the invoice paid with its amount),
and once no HTLC is left each side's balance moved by exactly the net amount and the two
balances still add up to the capacity."""

import threading
import time

from test_framework.framework import SideboltTest
from test_framework.util import assert_equal, assert_true

PER_DIRECTION = 50
CAPACITY_SAT = 1_000_000
PUSH_MSAT = 500_000_000


class Payer:
    """One `pay` in its own thread, started when `go` is set so all of them overlap."""

    def __init__(self, node, bolt11, go):
        self.result = None
        self.error = None
        self.thread = threading.Thread(target=self._run, args=(node, bolt11, go), daemon=True)
        self.thread.start()

    def _run(self, node, bolt11, go):
        go.wait()
        try:
            self.result = node.cli("pay", bolt11, timeout=180)
        except Exception as e:  # reported with the others below
            self.error = e


class PaymentConcurrentTest(SideboltTest):
    def set_test_params(self):
        self.num_nodes = 2

    def invoices(self, payee, tag, base_msat):
        """PER_DIRECTION invoices of distinct amounts from `payee`: {payment_hash: (label, amount, bolt11)}."""
        out = {}
        for i in range(PER_DIRECTION):
            label = f"{tag}-{i}"
            amount = base_msat + i * 1000
            inv = payee.cli("invoice", str(amount), label, f"concurrent {label}")
            out[inv["payment_hash"]] = (label, amount, inv["bolt11"])
        return out

    def check_paid_once(self, payer, payee, invoices, results):
        pays = {}
        for pay in payer.cli("listpays")["pays"]:
            pays.setdefault(pay["payment_hash"], []).append(pay)
        parts = {}
        for part in payer.cli("listsendpays")["payments"]:
            parts.setdefault(part["payment_hash"], []).append(part)
        # The payee reveals a preimage before it writes the invoice paid: the payer may hear first.
        labels = {label for label, _, _ in invoices.values()}
        self.wait_until(lambda: all(inv["status"] == "paid" for inv in payee.cli("listinvoices")["invoices"]
                                    if inv["label"] in labels), timeout=30, message="every invoice paid at the payee")
        listed = {inv["label"]: inv for inv in payee.cli("listinvoices")["invoices"]}
        for payment_hash, (label, amount, _) in invoices.items():
            paid = results[payment_hash]
            assert_equal(paid["status"], "complete", f"pay {label}")
            assert_equal(paid["amount_msat"], amount, f"pay {label}")
            assert_equal(paid["fee_msat"], 0, f"a direct payment pays no fee: {label}")
            [pay] = pays[payment_hash]
            assert_equal(pay["status"], "complete", f"listpays {label}")
            sent = parts[payment_hash]
            complete = [p for p in sent if p["status"] == "complete"]
            assert_equal(len(complete), 1, f"exactly one HTLC of {label} completed: {sent}")
            assert_true(all(p["status"] == "failed" for p in sent if p not in complete),
                        f"no other HTLC of {label} pending: {sent}")
            inv = listed[label]
            assert_equal(inv["status"], "paid", f"invoice {label}")
            assert_equal(inv["amount_received_msat"], amount, f"invoice {label} received its amount once")
            assert_equal(inv["payment_preimage"], paid["payment_preimage"], f"invoice {label}")
        pay_indexes = [i["pay_index"] for i in listed.values() if i["status"] == "paid"]
        assert_equal(len(pay_indexes), PER_DIRECTION, f"node {payee.index}: every invoice paid")
        assert_equal(len(set(pay_indexes)), PER_DIRECTION, f"node {payee.index}: one pay_index per invoice")
        return sum(results[h]["attempts"] for h in invoices)

    def run_test(self):
        a, b = self.nodes
        b_id = b.cli("getinfo")["id"]
        self.bitcoind.mine(101)
        a.cli("connect", b.p2p_address)
        self.log(f"A opens {CAPACITY_SAT} sat to B pushing {PUSH_MSAT} msat: both sides can pay")
        cid = a.cli("fundchannel", b_id, str(CAPACITY_SAT), "253", "0", str(PUSH_MSAT))["channel_id"]
        self.bitcoind.mine(3)
        for node in (a, b):
            self.wait_channel_normal(node, cid)
        start_a, start_b = a.channel(cid), b.channel(cid)
        assert_equal(start_a["to_us_msat"], CAPACITY_SAT * 1000 - PUSH_MSAT)
        assert_equal(start_b["to_us_msat"], PUSH_MSAT)

        to_b = self.invoices(b, "to-b", 1_000_000)
        to_a = self.invoices(a, "to-a", 700_000)
        go = threading.Event()
        payers = {h: Payer(a, inv[2], go) for h, inv in to_b.items()}
        payers.update({h: Payer(b, inv[2], go) for h, inv in to_a.items()})
        self.log(f"{2 * PER_DIRECTION} payments at once, {PER_DIRECTION} each way")
        started = time.monotonic()
        go.set()
        for payer in payers.values():
            payer.thread.join(240)
        elapsed = time.monotonic() - started
        failed = {h: p.error or "still running" for h, p in payers.items() if p.result is None}
        assert_equal(failed, {}, "every pay call returned")
        self.log(f"{len(payers)} concurrent payments took {elapsed:.1f}s")

        results = {h: p.result for h, p in payers.items()}
        attempts = self.check_paid_once(a, b, to_b, results) + self.check_paid_once(b, a, to_a, results)
        self.log(f"every payment completed exactly once, in {attempts} attempts in all")

        self.log("no HTLC left; balances moved by exactly the net amount")
        net_to_b = sum(amount for _, amount, _ in to_b.values()) - sum(amount for _, amount, _ in to_a.values())
        for node in (a, b):
            self.wait_until(lambda: node.channel(cid)["pending_htlcs"] == 0, timeout=60,
                            message=f"node {node.index}: HTLCs left on the channel")
        end_a, end_b = a.channel(cid), b.channel(cid)
        assert_equal(end_a["to_us_msat"], start_a["to_us_msat"] - net_to_b, "A's balance")
        assert_equal(end_b["to_us_msat"], start_b["to_us_msat"] + net_to_b, "B's balance")
        assert_equal(end_a["to_them_msat"], end_b["to_us_msat"], "A's view of B")
        assert_equal(end_b["to_them_msat"], end_a["to_us_msat"], "B's view of A")
        assert_equal(end_a["to_us_msat"] + end_a["to_them_msat"], CAPACITY_SAT * 1000, "the sum is the capacity")

        self.log("the channel still works after the burst")
        inv = b.cli("invoice", "1234000", "after", "after the burst")
        assert_equal(a.cli("pay", inv["bolt11"])["status"], "complete")


if __name__ == "__main__":
    PaymentConcurrentTest().main()
