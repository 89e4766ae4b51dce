#!/usr/bin/env python3
"""kill -9 of each node of a route A -> B -> C at each step of an HTLC's life, then restart.

For every message of an HTLC's life, the node that sends it is restarted with
-devcrashaftersend=<BOLT type> (it SIGKILLs itself 300 ms after handing the first such message to
the peer layer), A sends one HTLC to C with sendpay over B, the crash is awaited and the node
restarted normally:
- a payment C has an invoice for: update_add_htlc from A and B, commitment_signed and
  revoke_and_ack from A, B and C, update_fulfill_htlc from C and B;
- a payment C fails (the invoice deleted with delinvoice, or a random hash): update_fail_htlc
  from C and B.
After the peers reconnect, the payment has exactly one final outcome at A (waitsendpay, listpays,
listsendpays agree; a complete one carries the preimage of the hash): complete, with C's invoice
paid with the amount once, when C has the invoice (nothing expired and every node came back);
failed, with no invoice paid, when it has not. The one exception is A's update_add_htlc: an update
leaves before the batch that made it is written (the peer undoes it on reconnection unless a
commitment_signed covers it, and that one waits for the write), so A dies with the payment never
written: after the restart A knows no such payment and C was not paid. No HTLC is left on either channel, each
balance moved by exactly what the outcome implies on both sides and adds up to the capacity,
and a further `pay` A -> C succeeds. The three nodes and two channels are reused by every case."""

import hashlib
import json
import os

from test_framework.framework import SideboltTest
from test_framework.sidebolt_node import CliError
from test_framework.util import BackgroundCli, assert_equal, assert_true

UPDATE_ADD_HTLC, UPDATE_FULFILL_HTLC, UPDATE_FAIL_HTLC = 128, 130, 131
COMMITMENT_SIGNED, REVOKE_AND_ACK = 132, 133
NAMES = {128: "update_add_htlc", 130: "update_fulfill_htlc", 131: "update_fail_htlc",
         132: "commitment_signed", 133: "revoke_and_ack"}
A, B, C = 0, 1, 2
# What C knows of the payment hash: an invoice, an invoice deleted with delinvoice, nothing.
INVOICE, DELETED, UNKNOWN = "invoice", "deleted", "unknown"
# (message type, node that sends it and dies, what C knows of the hash)
CASES = [(UPDATE_ADD_HTLC, A, INVOICE), (UPDATE_ADD_HTLC, B, INVOICE),
         (COMMITMENT_SIGNED, A, INVOICE), (COMMITMENT_SIGNED, B, INVOICE), (COMMITMENT_SIGNED, C, INVOICE),
         (REVOKE_AND_ACK, A, INVOICE), (REVOKE_AND_ACK, B, INVOICE), (REVOKE_AND_ACK, C, INVOICE),
         (UPDATE_FULFILL_HTLC, C, INVOICE), (UPDATE_FULFILL_HTLC, B, INVOICE),
         (UPDATE_FAIL_HTLC, C, DELETED), (UPDATE_FAIL_HTLC, B, UNKNOWN)]
CAPACITY_SAT = 1_000_000
AMOUNT_MSAT = 3_000_000
FEE_BASE_MSAT, FEE_PPM, CLTV_DELTA, FINAL_CLTV = 1000, 10, 34, 18
ERR_PAYMENT_FAILED = -133
ERR_INVALID_PARAMETER = -8
NEVER_WRITTEN = "never written"


class PaymentCrashTest(SideboltTest):
    def set_test_params(self):
        self.num_nodes = 3
        policy = [f"-feebase={FEE_BASE_MSAT}", f"-feeppm={FEE_PPM}", f"-cltvdelta={CLTV_DELTA}"]
        self.extra_args = [[], policy, []]

    # --- the line A - B - C ---------------------------------------------------------

    def connect_all(self):
        """A dials B and B dials C again where the link is down (the dialling side reconnects by
        itself too; this only makes it prompt)."""
        a, b, c = self.nodes
        for dialer, target in ((a, b), (b, c)):
            if not any(p["id"] == self.ids[target.index] for p in dialer.cli("listpeers")):
                try:
                    dialer.cli("connect", target.p2p_address)
                except Exception:  # raced with its own reconnection: checked by wait_reestablished
                    pass

    def wait_reestablished(self):
        def ready():
            self.connect_all()
            return all((ch := n.channel(cid))["state"] == "normal" and ch["peer_connected"]
                       for n, cid in self.ends())
        self.wait_until(ready, timeout=90, message="the channels were never reestablished")

    def ends(self):
        a, b, c = self.nodes
        return ((a, self.ab), (b, self.ab), (b, self.bc), (c, self.bc))

    def expected_views(self):
        """(node, channel, to_us_msat) each end must show once nothing is in flight."""
        a, b, c = self.nodes
        return ((a, self.ab, self.a_ab), (b, self.ab, CAPACITY_SAT * 1000 - self.a_ab),
                (b, self.bc, self.b_bc), (c, self.bc, CAPACITY_SAT * 1000 - self.b_bc))

    def assert_balances(self, what):
        """No HTLC left on either channel, both sides agree and the balances add up."""
        def settled():
            views = {n.index: {ch["channel_id"]: ch for ch in n.cli("listchannels")["channels"]} for n in self.nodes}
            return all(views[n.index][cid]["pending_htlcs"] == 0 for n, cid in self.ends()) and views
        views = self.wait_until(settled, timeout=90, message=f"{what}: an HTLC stays on a channel")
        for node, cid, to_us in self.expected_views():
            ch = views[node.index][cid]
            assert_equal(ch["state"], "normal", f"{what}: node {node.index}")
            assert_equal(ch["to_us_msat"], to_us, f"{what}: node {node.index}'s balance on {cid}")
            assert_equal(ch["to_us_msat"] + ch["to_them_msat"], CAPACITY_SAT * 1000,
                         f"{what}: node {node.index}'s balances on {cid} add up to the capacity")

    def route(self, amount):
        fee = FEE_BASE_MSAT + amount * FEE_PPM // 1_000_000
        return [{"id": self.ids[B], "channel": self.ab_scid, "amount_msat": amount + fee,
                 "delay": FINAL_CLTV + 2 + CLTV_DELTA},
                {"id": self.ids[C], "channel": self.bc_scid, "amount_msat": amount, "delay": FINAL_CLTV + 2}], fee

    # --- one case -------------------------------------------------------------------

    def crash_case(self, number, message_type, crasher, hash_at_c):
        a, c = self.nodes[A], self.nodes[C]
        what = f"crash of node {'ABC'[crasher]} after {NAMES[message_type]}"
        node = self.nodes[crasher]
        node.stop()
        node.start(extra_args=[f"-devcrashaftersend={message_type}"])
        self.wait_reestablished()

        label = f"case-{number}"
        if hash_at_c == UNKNOWN:
            payment_hash, secret = os.urandom(32).hex(), None
        else:
            inv = c.cli("invoice", str(AMOUNT_MSAT), label, what)
            payment_hash, secret = inv["payment_hash"], inv["payment_secret"]
            if hash_at_c == DELETED:
                assert_equal(c.cli("delinvoice", label, "unpaid")["label"], label)
        route, fee = self.route(AMOUNT_MSAT)
        args = [route, payment_hash] + ([secret] if secret else [])
        call = BackgroundCli(a, "sendpay", *args)
        self.wait_until(lambda: node.process.poll() is not None, timeout=90,
                        message=f"node {crasher} never crashed: {what}")
        assert_true(node.log_contains("devcrashaftersend"), "the crash came from the armed message")
        at_crash = "?" if crasher == A else a.cli("listpays", payment_hash)["pays"][0]["status"]
        node.process = None
        node.start()
        call.thread.join(130)
        if crasher != A:
            assert_true(call.error is None, f"{what}: sendpay on A failed: {call.error}")
            assert_equal(call.result["status"], "pending", f"{what}: sendpay")
        self.wait_reestablished()

        outcome = self.outcome(payment_hash, what)
        if outcome["status"] == NEVER_WRITTEN:
            assert_equal((message_type, crasher), (UPDATE_ADD_HTLC, A), f"{what}: only A's add leaves unwritten")
            assert_equal(c.cli("listinvoices", label)["invoices"][0]["status"], "unpaid", f"{what}: C not paid")
        elif hash_at_c == INVOICE:
            # Nothing expired and every node came back: the HTLC A signed for must reach C.
            assert_equal(outcome["status"], "complete", f"{what}: C has the invoice")
            # C reveals the preimage before it writes the invoice paid: A may hear first.
            self.wait_until(lambda: c.cli("listinvoices", label)["invoices"][0]["status"] == "paid", timeout=30,
                            message=f"{what}: A completed, so C's invoice is paid")
            [invoice] = c.cli("listinvoices", label)["invoices"]
            assert_equal(invoice["amount_received_msat"], AMOUNT_MSAT, f"{what}: C received the amount once")
            assert_equal(invoice["payment_preimage"], outcome["payment_preimage"], f"{what}: one preimage")
        else:
            assert_equal(outcome["status"], "failed", f"{what}: C has no invoice for the hash")
            assert_equal(c.cli("listinvoices", label)["invoices"], [], f"{what}: no invoice came back")
        if outcome["status"] == "complete":
            self.a_ab -= AMOUNT_MSAT + fee
            self.b_bc -= AMOUNT_MSAT
        self.assert_balances(what)
        self.log(f"{what} (A's payment then {at_crash}): the payment {outcome['status']}, exactly once; "
                 "balances add up")
        self.pay_again(what)

    def outcome(self, payment_hash, what):
        """A's one final outcome for the hash, agreed by waitsendpay, listpays and listsendpays."""
        a = self.nodes[A]
        try:
            done = a.cli("waitsendpay", payment_hash, "90", timeout=120)
        except CliError as e:
            err = json.loads(e.stderr)
            if err["code"] == ERR_INVALID_PARAMETER:
                assert_equal(a.cli("listpays", payment_hash)["pays"], [], f"{what}: A knows no such payment")
                assert_equal(a.cli("listsendpays", payment_hash)["payments"], [], f"{what}: nor its HTLC")
                return {"status": NEVER_WRITTEN}
            assert_equal(err["code"], ERR_PAYMENT_FAILED, f"{what}: waitsendpay: {err}")
            done = {"status": "failed"}
        [pay] = a.cli("listpays", payment_hash)["pays"]
        assert_equal(pay["status"], done["status"], f"{what}: listpays agrees with waitsendpay")
        [part] = a.cli("listsendpays", payment_hash)["payments"]
        assert_equal(part["status"], done["status"], f"{what}: the one HTLC sent")
        if done["status"] == "complete":
            preimage = bytes.fromhex(done["payment_preimage"])
            assert_equal(hashlib.sha256(preimage).hexdigest(), payment_hash, f"{what}: the preimage pays the hash")
            assert_equal(pay["payment_preimage"], done["payment_preimage"], f"{what}: listpays' preimage")
        return done

    def pay_again(self, what):
        a, c = self.nodes[A], self.nodes[C]
        inv = c.cli("invoice", "1000000", f"after-{self.payments_after}", "after the crash")
        self.payments_after += 1
        paid = a.cli("pay", inv["bolt11"], timeout=120)
        assert_equal(paid["status"], "complete", f"after {what}: a further payment")
        self.a_ab -= paid["amount_sent_msat"]
        self.b_bc -= 1000000
        self.assert_balances(f"after {what} and a further payment")

    # --- the test -------------------------------------------------------------------

    def run_test(self):
        a, b, c = self.nodes
        self.ids = [n.cli("getinfo")["id"] for n in self.nodes]
        self.bitcoind.mine(101)
        a.cli("connect", b.p2p_address)
        b.cli("connect", c.p2p_address)
        self.log(f"channels A-B and B-C, {CAPACITY_SAT} sat each, opened by the left side")
        self.ab = a.cli("fundchannel", self.ids[B], str(CAPACITY_SAT))["channel_id"]
        self.bc = b.cli("fundchannel", self.ids[C], str(CAPACITY_SAT))["channel_id"]
        self.bitcoind.mine(3)
        self.wait_reestablished()
        self.ab_scid = a.channel(self.ab)["short_channel_id"]
        self.bc_scid = b.channel(self.bc)["short_channel_id"]
        self.a_ab = self.b_bc = CAPACITY_SAT * 1000
        self.payments_after = 0
        # Past the first commitment: no channel_ready retransmission on the reconnections below.
        self.pay_again("the opens")
        for number, (message_type, crasher, hash_at_c) in enumerate(CASES):
            self.crash_case(number, message_type, crasher, hash_at_c)


if __name__ == "__main__":
    PaymentCrashTest().main()
