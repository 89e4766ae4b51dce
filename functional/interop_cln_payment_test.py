#!/usr/bin/env python3
"""Payments with Core Lightning: sidebolt S opens a channel to Core Lightning L and L opens one
to S with a push, so each side can pay the other; L invoices and S pays it with `pay`, S
invoices and L pays it (and S fails a wrong payment_secret as the final node); keysend both
ways; then S forwards L's payments to a second Core Lightning node L2 over a private channel
S - L2: refused with fee_insufficient when underpaid, forwarded with its fee, both over an
explicit `sendpay` route and with CLN's own xpay pathfinding told about S - L2; last, L pays an
S invoice in two parts, one over each channel between them.

Needs LIGHTNINGD and a real bitcoind (Core Lightning drives bitcoind with bitcoin-cli);
skipped otherwise."""

import hashlib

from test_framework.framework import SideboltTest
from test_framework.lightningd_node import LightningCliError
from test_framework.util import assert_equal, assert_true

# sidebolt's default forwarding policy (README "Payments"): what S charges and adds to the CLTV.
FEE_BASE_MSAT = 1000
FEE_PPM = 10
CLTV_DELTA = 34
FINAL_CLTV_SLACK = 6
# What L charges to forward.
L_FEE_BASE_MSAT = 2345
L_FEE_PPM = 67
# Core Lightning's waitsendpay codes: the destination failed the payment; a hop before it did.
PAY_DESTINATION_PERM_FAIL = 203
PAY_UNPARSEABLE_ONION_OR_NODE_FAILED = 204


def sha256_hex(preimage_hex):
    return hashlib.sha256(bytes.fromhex(preimage_hex)).hexdigest()


def cln_sendpay(cln, route, inv, amount, partid, payment_secret=None):
    """CLN `sendpay` over an explicit route, then `waitsendpay`: its result, or the
    LightningCliError carrying the failure (data: erring_node, failcodename...)."""
    cln.cli("sendpay", route=route, payment_hash=inv["payment_hash"], bolt11=inv["bolt11"],
            payment_secret=payment_secret or inv["payment_secret"], amount_msat=amount, partid=partid, groupid=partid)
    try:
        return cln.cli("waitsendpay", payment_hash=inv["payment_hash"], partid=partid, groupid=partid, timeout=60)
    except LightningCliError as e:
        return e


class InteropClnPaymentTest(SideboltTest):
    def set_test_params(self):
        self.num_nodes = 1
        self.num_cln_nodes = 2
        # L's own forwarding fee, told to S in its channel_updates (S's route hints carry it).
        self.cln_extra_args = [[f"--fee-base={L_FEE_BASE_MSAT}", f"--fee-per-satoshi={L_FEE_PPM}"], []]

    def wait_normal(self, cln, channel_id):
        self.wait_channel_normal(self.nodes[0], channel_id)
        self.wait_until(lambda: (c := cln.channel(channel_id)) and c["state"] == "CHANNELD_NORMAL",
                        timeout=90, message=f"{cln} never saw {channel_id} normal: {cln.channel(channel_id)}")

    def fund_cln(self, cln):
        self.bitcoind.wallet_rpc("sendtoaddress", cln.cli("newaddr")["bech32"], 1)

    def run_test(self):
        sb, cln, cln2 = self.nodes[0], self.cln_nodes[0], self.cln_nodes[1]
        btc = self.bitcoind
        sb_id = sb.cli("getinfo")["id"]
        btc.mine(101)
        self.fund_cln(cln)
        btc.mine(1)
        self.wait_until(lambda: len(cln.cli("listfunds")["outputs"]) > 0, timeout=60,
                        message="Core Lightning never saw its coins")

        self.log("S opens 500000 sat to L; L opens 500000 sat to S pushing 100000 sat; S opens 300000 sat to L2 "
                 "(private)")
        sb.cli("connect", cln.p2p_address)
        sb.cli("connect", cln2.p2p_address)
        s_to_l = sb.cli("fundchannel", cln.node_id, "500000")["channel_id"]
        l_to_s = cln.cli("fundchannel", id=sb_id, amount=500000, announce=False, push_msat=100000000)["channel_id"]
        s_to_l2 = sb.cli("fundchannel", cln2.node_id, "300000")["channel_id"]
        btc.mine(6)
        for node, cid in ((cln, s_to_l), (cln, l_to_s), (cln2, s_to_l2)):
            self.wait_normal(node, cid)
        assert_equal(sb.channel(l_to_s)["to_us_msat"], 100000000, "L's push reached S")

        self.private_updates(sb, cln, l_to_s)
        self.pay_cln_invoice(sb, cln)
        self.cln_pays_sidebolt(sb, sb_id, cln, l_to_s)
        self.keysend_both_ways(sb, sb_id, cln)
        self.forward_to_l2(sb, sb_id, cln, cln2, l_to_s, s_to_l2)
        self.cln_pays_sidebolt_in_two_parts(sb, sb_id, cln, s_to_l, l_to_s)
        for node in (cln, cln2):
            broken = [line for line in node.read_log().splitlines() if " BROKEN " in line]
            assert_true(not broken, f"{node} logged a broken peer or protocol error: {broken}")

    def private_updates(self, sb, cln, l_to_s):
        self.log("the private channel L - S: each side's channel_update reaches the other directly (BOLT 7)")
        # L has S's: Core Lightning shows what the peer announced for its side.
        self.wait_until(lambda: (cln.channel(l_to_s) or {}).get("updates", {}).get("remote") is not None, timeout=60,
                        message=f"L never got S's channel_update: {cln.channel(l_to_s)}")
        remote = cln.channel(l_to_s)["updates"]["remote"]
        assert_equal(remote["fee_base_msat"], FEE_BASE_MSAT, f"S's policy at L: {remote}")
        assert_equal(remote["fee_proportional_millionths"], FEE_PPM)
        assert_equal(remote["cltv_expiry_delta"], CLTV_DELTA)
        # S has L's: an S invoice's route hint over that channel says what L charges.
        probes = iter(range(1000))

        def hint_through_l():
            bolt11 = sb.cli("invoice", "1000", f"probe-{next(probes)}", "probe")["bolt11"]
            scid = sb.channel(l_to_s)["short_channel_id"]
            hops = [r[0] for r in sb.cli("decode", bolt11).get("routes", []) if r[0]["short_channel_id"] == scid]
            return hops[0] if hops else None
        self.wait_until(lambda: (hop := hint_through_l()) and hop["fee_base_msat"] == L_FEE_BASE_MSAT, timeout=60,
                        message=f"S's route hint never took L's fee: {hint_through_l()}")
        assert_equal(hint_through_l()["fee_proportional_millionths"], L_FEE_PPM)

    def pay_cln_invoice(self, sb, cln):
        self.log("L invoices 50000 sat; S pays it with `pay`")
        inv = cln.cli("invoice", amount_msat=50000000, label="from-s", description="coffee")
        decoded = sb.cli("decode", inv["bolt11"])
        assert_true(decoded["valid"] and decoded["payee"] == cln.node_id, f"sidebolt decodes L's invoice: {decoded}")
        paid = sb.cli("pay", inv["bolt11"])
        assert_equal(paid["status"], "complete")
        assert_equal(paid["amount_msat"], 50000000)
        assert_equal(paid["fee_msat"], 0, "a direct channel costs no fee")
        listed = cln.cli("listinvoices", label="from-s")["invoices"][0]
        assert_equal(listed["status"], "paid", f"L's invoice: {listed}")
        assert_equal(listed["amount_received_msat"], 50000000)
        assert_equal(paid["payment_preimage"], listed["payment_preimage"], "S learned L's preimage")
        assert_equal(sha256_hex(paid["payment_preimage"]), inv["payment_hash"])
        assert_equal(sb.cli("listpays", inv["payment_hash"])["pays"][0]["status"], "complete")

    def cln_pays_sidebolt(self, sb, sb_id, cln, l_to_s):
        self.log("S invoices 30000 sat; L pays it")
        inv = sb.cli("invoice", "30000000", "from-l", "tea")
        decoded = cln.cli("decode", inv["bolt11"])
        assert_true(decoded["valid"], f"L decodes S's invoice: {decoded}")
        features = int(decoded["features"], 16)
        # var_onion_optin (8) and payment_secret (14) required, basic_mpp (17) optional.
        assert_equal(features & (1 << 8 | 1 << 14 | 1 << 17), 1 << 8 | 1 << 14 | 1 << 17, f"features {decoded}")
        paid = cln.cli("pay", inv["bolt11"])
        assert_equal(paid["status"], "complete", f"L's pay: {paid}")
        assert_equal(sha256_hex(paid["payment_preimage"]), inv["payment_hash"])
        got = sb.cli("waitanyinvoice", "0", "30")
        assert_equal(got["label"], "from-l")
        assert_equal(got["status"], "paid")
        listed = sb.cli("listinvoices", "from-l")["invoices"][0]
        assert_equal(listed["status"], "paid")
        assert_equal(listed["amount_received_msat"], 30000000)
        assert_equal(listed["payment_preimage"], paid["payment_preimage"])

        self.log("L sends to a second S invoice with a wrong payment_secret: S fails it as the final node")
        inv = sb.cli("invoice", "1000000", "wrong-secret", "cake")
        decoded = cln.cli("decode", inv["bolt11"])
        route = [{"id": sb_id, "channel": cln.channel(l_to_s)["short_channel_id"], "amount_msat": 1000000,
                  "delay": decoded["min_final_cltv_expiry"] + FINAL_CLTV_SLACK}]
        refused = cln_sendpay(cln, route, inv, 1000000, 1, payment_secret="11" * 32)
        assert_true(isinstance(refused, LightningCliError) and refused.code == PAY_DESTINATION_PERM_FAIL,
                    f"wrong secret: {refused}")
        assert_equal((refused.data or {}).get("failcodename"), "WIRE_INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS",
                     f"S's failure: {refused.data}")
        assert_equal(sb.cli("listinvoices", "wrong-secret")["invoices"][0]["status"], "unpaid")

    def keysend_both_ways(self, sb, sb_id, cln):
        self.log("keysend S -> L, 7000 sat")
        sent = sb.cli("keysend", cln.node_id, "7000000")
        assert_equal(sent["status"], "complete", f"S's keysend: {sent}")
        assert_equal(sent["amount_msat"], 7000000)
        received = [i for i in cln.cli("listinvoices")["invoices"]
                    if i.get("payment_hash") == sha256_hex(sent["payment_preimage"])]
        assert_true(len(received) == 1 and received[0]["status"] == "paid", f"L records the keysend: {received}")
        assert_equal(received[0]["amount_received_msat"], 7000000)

        self.log("keysend L -> S, 8000 sat")
        # S's keysend is complete once the preimage is back; its HTLC leaves S's commitment a
        # round trip later, which moves to_us_msat: read the balance after that.
        self.wait_until(lambda: all(c["pending_htlcs"] == 0 for c in sb.cli("listchannels")["channels"]
                                    if c["peer_id"] == cln.node_id), timeout=30,
                        message="S's keysend never settled in its channels")
        before = sum(c["to_us_msat"] for c in sb.cli("listchannels")["channels"] if c["peer_id"] == cln.node_id)
        sent = cln.cli("keysend", destination=sb_id, amount_msat=8000000)
        assert_equal(sent["status"], "complete", f"L's keysend: {sent}")
        assert_equal(sent["amount_msat"], 8000000)
        self.wait_until(lambda: sum(c["to_us_msat"] for c in sb.cli("listchannels")["channels"]
                                    if c["peer_id"] == cln.node_id) == before + 8000000, timeout=30,
                        message="S's balance never grew by L's keysend")

    def forward_to_l2(self, sb, sb_id, cln, cln2, l_to_s, s_to_l2):
        """L pays L2 through S with `sendpay` and an explicit route. CLN's own pathfinding cannot
        be used: L2's invoice carries no route hint for S - L2, because CLN builds hints from
        `listincoming`, which only lists channels whose peer sent a channel_update, and sidebolt
        sends none until BOLT 7 is implemented; without the hint L's `pay` fails with
        "Unknown destination node"."""
        amount = 20000000
        fee = FEE_BASE_MSAT + amount * FEE_PPM // 1000000
        inv = cln2.cli("invoice", amount_msat=amount, label="via-s", description="forwarded")
        # A payer adds slack to the payee's min_final_cltv_expiry (BOLT 4 "Recommendations for
        # Routing"). Without it S refuses: CLN's regtest invoices ask for 10 blocks, below the 12
        # that sidebolt's forward check wants between now and an outgoing expiry (BOLT 2's S=12).
        final_cltv = cln.cli("decode", inv["bolt11"])["min_final_cltv_expiry"] + FINAL_CLTV_SLACK
        first = cln.channel(l_to_s)["short_channel_id"]
        second = cln2.channel(s_to_l2)["short_channel_id"]

        def route(first_amount):
            return [{"id": sb_id, "channel": first, "amount_msat": first_amount, "delay": final_cltv + CLTV_DELTA},
                    {"id": cln2.node_id, "channel": second, "amount_msat": amount, "delay": final_cltv}]

        self.log("L sends 20000 sat to L2 through S without S's fee: S refuses with fee_insufficient")
        # S's failure carries an empty channel_update (no gossip yet): CLN must still attribute it.
        refused = cln_sendpay(cln, route(amount), inv, amount, 1)
        assert_true(isinstance(refused, LightningCliError) and refused.code == PAY_UNPARSEABLE_ONION_OR_NODE_FAILED,
                    f"underpaid forward: {refused}")
        failed = cln.cli("listsendpays", payment_hash=inv["payment_hash"])["payments"]
        assert_equal(failed[0]["status"], "failed")
        details = refused.data or {}
        assert_equal(details.get("erring_node"), sb_id, f"S is the failing hop: {details}")
        assert_equal(details.get("failcodename"), "WIRE_FEE_INSUFFICIENT", f"S's failure code: {details}")

        self.log("L sends again with S's fee: S forwards to L2")
        paid = cln_sendpay(cln, route(amount + fee), inv, amount, 2)
        assert_true(not isinstance(paid, LightningCliError), f"forward through S: {paid}")
        assert_equal(paid["status"], "complete")
        assert_equal(paid["amount_sent_msat"], amount + fee)
        assert_equal(sha256_hex(paid["payment_preimage"]), inv["payment_hash"])
        listed = cln2.cli("listinvoices", label="via-s")["invoices"][0]
        assert_equal(listed["status"], "paid")
        assert_equal(listed["amount_received_msat"], amount)

        self.log("L pays a second L2 invoice with xpay, told about S - L2 by an askrene layer")
        # The layer says what S's channel_update would: sidebolt's default policy. The invoice asks
        # for BOLT 11's default 18 blocks: xpay adds no slack to the final CLTV (see above).
        inv = cln2.cli("invoice", amount_msat=amount, label="via-s-xpay", description="forwarded", cltv=18)
        cln.cli("askrene-create-layer", layer="sidebolt")
        cln.cli("askrene-create-channel", layer="sidebolt", source=sb_id, destination=cln2.node_id,
                short_channel_id=second, capacity_msat=300000000)
        direction = 0 if sb_id < cln2.node_id else 1  # BOLT 7: 0 when the source is node_1
        cln.cli("askrene-update-channel", layer="sidebolt", short_channel_id_dir=f"{second}/{direction}", enabled=True,
                htlc_minimum_msat=1, htlc_maximum_msat=250000000, fee_base_msat=FEE_BASE_MSAT,
                fee_proportional_millionths=FEE_PPM, cltv_expiry_delta=CLTV_DELTA)
        paid = cln.cli("xpay", invstring=inv["bolt11"], layers=["sidebolt"])
        assert_equal(paid["amount_msat"], amount)
        assert_equal(paid["amount_sent_msat"], amount + fee, "S charges its policy")
        assert_equal(sha256_hex(paid["payment_preimage"]), inv["payment_hash"])
        assert_equal(cln2.cli("listinvoices", label="via-s-xpay")["invoices"][0]["status"], "paid")

    def cln_pays_sidebolt_in_two_parts(self, sb, sb_id, cln, s_to_l, l_to_s):
        """BOLT 4 basic multi-part: L pays one S invoice with two HTLCs, one over each channel
        between them (CLN `sendpay` with partid, one groupid); S holds the first part until the
        second makes up total_msat, then settles both and marks the invoice paid once."""
        self.log("S moves 60000 sat to L's side of S - L with sendpay, so L can pay over both channels")
        seed = cln.cli("invoice", amount_msat=60000000, label="seed-s-to-l", description="balance")
        seed_cltv = cln.cli("decode", seed["bolt11"])["min_final_cltv_expiry"] + FINAL_CLTV_SLACK
        s_to_l_scid = sb.channel(s_to_l)["short_channel_id"]
        sb.cli("sendpay", [{"id": cln.node_id, "channel": s_to_l_scid, "amount_msat": 60000000, "delay": seed_cltv}],
               seed["payment_hash"], seed["payment_secret"])
        assert_equal(sb.cli("waitsendpay", seed["payment_hash"], "60")["status"], "complete")
        # Complete once the preimage is back; the HTLC leaves S's commitment (and to_us_msat
        # moves) a round trip later: the balances below are read after that.
        self.wait_until(lambda: all(c["pending_htlcs"] == 0 for c in sb.cli("listchannels")["channels"]
                                    if c["peer_id"] == cln.node_id), timeout=30,
                        message="S's sendpay never settled in its channels")

        total = 40000000
        parts = {1: (l_to_s, 25000000), 2: (s_to_l, 15000000)}
        self.log(f"S invoices {total // 1000} sat; L sends it as two parts: 25000 sat over L - S, 15000 sat over S - L")
        inv = sb.cli("invoice", str(total), "mpp-from-l", "two parts")
        delay = cln.cli("decode", inv["bolt11"])["min_final_cltv_expiry"] + FINAL_CLTV_SLACK
        before = {cid: sb.channel(cid)["to_us_msat"] for cid, _ in parts.values()}
        for partid, (cid, amount) in parts.items():
            spendable = cln.channel(cid)["spendable_msat"]
            assert_true(spendable >= amount, f"L can send {amount} msat over {cid}: {spendable}")
            route = [{"id": sb_id, "channel": cln.channel(cid)["short_channel_id"], "amount_msat": amount,
                      "delay": delay}]
            cln.cli("sendpay", route=route, payment_hash=inv["payment_hash"], bolt11=inv["bolt11"],
                    payment_secret=inv["payment_secret"], amount_msat=total, partid=partid, groupid=1)
            if partid == 1:
                # One part is not the whole amount: S holds it (BOLT 4: MUST NOT fulfill below total_msat).
                self.wait_until(lambda: [p["status"] for p in cln.cli("listsendpays", payment_hash=inv["payment_hash"])
                                         ["payments"]] == ["pending"], timeout=30, message="L never sent the first part")
                assert_equal(sb.cli("listinvoices", "mpp-from-l")["invoices"][0]["status"], "unpaid")
        for partid in parts:
            done = cln.cli("waitsendpay", payment_hash=inv["payment_hash"], partid=partid, groupid=1, timeout=60)
            assert_equal(done["status"], "complete", f"part {partid}: {done}")
            assert_equal(sha256_hex(done["payment_preimage"]), inv["payment_hash"])
        got = sb.cli("waitinvoice", "mpp-from-l")
        assert_equal(got["status"], "paid")
        listed = sb.cli("listinvoices", "mpp-from-l")["invoices"][0]
        assert_equal(listed["status"], "paid")
        assert_equal(listed["amount_received_msat"], total, f"both parts counted: {listed}")
        for cid, amount in parts.values():
            self.wait_until(lambda: sb.channel(cid)["to_us_msat"] == before[cid] + amount, timeout=30,
                            message=f"S's side of {cid} never grew by its part {amount}: {sb.channel(cid)}")


if __name__ == "__main__":
    InteropClnPaymentTest().main()
