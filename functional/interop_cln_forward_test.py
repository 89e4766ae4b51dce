#!/usr/bin/env python3
"""Core Lightning forwards between two sidebolt nodes: S1 - L - S2, where S1 opens to L and L
opens a private channel to S2. S2's invoice carries a route hint for L - S2 with the policy L
gave S2 in its channel_update (Core Lightning's defaults); S1 pays it with `pay` through L, which keeps its
fee. Then L raises its fee on L - S2 after S2 made an invoice: S1's payment of it is refused by L
with fee_insufficient and fails naming L (Core Lightning sends no channel_update in failures over
a private channel, so there is no new fee to retry with).

Needs LIGHTNINGD and a real bitcoind (Core Lightning drives bitcoind with bitcoin-cli);
skipped otherwise."""

from test_framework.framework import SideboltTest
from test_framework.util import assert_equal, assert_true

# The policy sidebolt's route hints assume (README "Payments"). Core Lightning's defaults are the
# same (lightningd --help: --fee-base 1000, --fee-per-satoshi 10, --cltv-delta 34); L is started
# with them spelled out so that the test keeps meaning what it says if CLN's defaults change.
FEE_BASE_MSAT = 1000
FEE_PPM = 10
CLTV_DELTA = 34
RAISED_FEE_BASE_MSAT = 5000
ERR_PAY_FAILED = -133
# BOLT 4: fee_insufficient is UPDATE|12.
WIRE_FEE_INSUFFICIENT = 0x1000 | 12


class InteropClnForwardTest(SideboltTest):
    def set_test_params(self):
        self.num_nodes = 2
        self.num_cln_nodes = 1
        self.cln_extra_args = [[f"--fee-base={FEE_BASE_MSAT}", f"--fee-per-satoshi={FEE_PPM}",
                                f"--cltv-delta={CLTV_DELTA}"]]

    def wait_normal(self, sb, cln, channel_id):
        self.wait_channel_normal(sb, channel_id)
        self.wait_until(lambda: (c := cln.channel(channel_id)) and c["state"] == "CHANNELD_NORMAL",
                        timeout=90, message=f"{cln} never saw {channel_id} normal: {cln.channel(channel_id)}")

    def run_test(self):
        s1, s2, cln = self.nodes[0], self.nodes[1], self.cln_nodes[0]
        btc = self.bitcoind
        s2_id = s2.cli("getinfo")["id"]
        btc.mine(101)
        btc.wallet_rpc("sendtoaddress", cln.cli("newaddr")["bech32"], 1)
        btc.mine(1)
        self.wait_until(lambda: len(cln.cli("listfunds")["outputs"]) > 0, timeout=60,
                        message="Core Lightning never saw its coins")

        self.log("S1 opens 500000 sat to L; L opens 500000 sat to S2 (private)")
        s1.cli("connect", cln.p2p_address)
        s2.cli("connect", cln.p2p_address)
        s1_to_l = s1.cli("fundchannel", cln.node_id, "500000")["channel_id"]
        l_to_s2 = cln.cli("fundchannel", id=s2_id, amount=500000, announce=False)["channel_id"]
        btc.mine(6)
        self.wait_normal(s1, cln, s1_to_l)
        self.wait_normal(s2, cln, l_to_s2)
        l_s2_scid = cln.channel(l_to_s2)["short_channel_id"]
        assert_equal(s2.channel(l_to_s2)["short_channel_id"], l_s2_scid, "both ends agree on the scid")

        self.forward_through_l(s1, s2, cln, s1_to_l, l_to_s2, l_s2_scid)
        self.raised_fee_refused(s1, s2, cln, l_s2_scid)
        broken = [line for line in cln.read_log().splitlines() if " BROKEN " in line]
        assert_true(not broken, f"{cln} logged a broken peer or protocol error: {broken}")

    def forward_through_l(self, s1, s2, cln, s1_to_l, l_to_s2, l_s2_scid):
        amount = 20000000
        fee = FEE_BASE_MSAT + amount * FEE_PPM // 1000000
        self.log("S2 invoices 20000 sat: its route hint is L - S2 with the assumed policy")
        inv = s2.cli("invoice", str(amount), "via-l", "forwarded by CLN")
        decoded = s1.cli("decode", inv["bolt11"])
        assert_true(decoded["valid"], f"S1 decodes S2's invoice: {decoded}")
        routes = decoded.get("routes") or []
        assert_equal(len(routes), 1, f"one hint, for S2's only channel: {decoded}")
        assert_equal(len(routes[0]), 1, f"a one-hop hint: {routes}")
        hop = routes[0][0]
        assert_equal(hop["pubkey"], cln.node_id, f"the hint starts at L: {hop}")
        assert_equal(hop["short_channel_id"], l_s2_scid, f"the hint names L - S2: {hop}")
        assert_equal((hop["fee_base_msat"], hop["fee_proportional_millionths"], hop["cltv_expiry_delta"]),
                     (FEE_BASE_MSAT, FEE_PPM, CLTV_DELTA), f"the hint's policy is L's: {hop}")

        self.log("S1 pays it with `pay`: L forwards and keeps 1200 msat")
        s1_before = s1.channel(s1_to_l)["to_us_msat"]
        s2_before = s2.channel(l_to_s2)["to_us_msat"]
        paid = s1.cli("pay", inv["bolt11"])
        assert_equal(paid["status"], "complete", f"S1's pay: {paid}")
        assert_equal(paid["amount_msat"], amount)
        assert_equal(paid["fee_msat"], fee, f"L's fee: {paid}")
        assert_equal(paid["amount_sent_msat"], amount + fee)
        got = s2.cli("waitinvoice", "via-l")
        assert_equal(got["status"], "paid")
        listed = s2.cli("listinvoices", "via-l")["invoices"][0]
        assert_equal(listed["status"], "paid")
        assert_equal(listed["amount_received_msat"], amount)
        assert_equal(listed["payment_preimage"], paid["payment_preimage"])

        self.log("balances moved on both channels; L lists one settled forward earning its fee")
        self.wait_until(lambda: s1.channel(s1_to_l)["to_us_msat"] == s1_before - amount - fee, timeout=30,
                        message=f"S1's balance never fell by amount + fee: {s1.channel(s1_to_l)}")
        self.wait_until(lambda: s2.channel(l_to_s2)["to_us_msat"] == s2_before + amount, timeout=30,
                        message=f"S2's balance never grew by the amount: {s2.channel(l_to_s2)}")
        assert_equal(s1.channel(s1_to_l)["pending_htlcs"], 0)
        assert_equal(s2.channel(l_to_s2)["pending_htlcs"], 0)
        self.wait_until(lambda: [f["status"] for f in cln.cli("listforwards")["forwards"]] == ["settled"],
                        timeout=30, message=f"L's forwards: {cln.cli('listforwards')}")
        forward = cln.cli("listforwards")["forwards"][0]
        assert_equal(forward["in_msat"] - forward["out_msat"], fee, f"L's forward: {forward}")
        assert_equal(forward["out_msat"], amount)
        assert_equal(forward["out_channel"], l_s2_scid)

    def raised_fee_refused(self, s1, s2, cln, l_s2_scid):
        self.log("S2 invoices again; then L raises its fee base on L - S2 to 5000 msat, above that invoice's hint")
        amount = 20000000
        inv = s2.cli("invoice", str(amount), "raised-fee", "underpaid")
        hop = s1.cli("decode", inv["bolt11"])["routes"][0][0]
        assert_equal(hop["fee_base_msat"], FEE_BASE_MSAT, "S2's hint says L's fee when it was made")
        # enforcedelay=0: by default CLN keeps accepting the old fee for 600 s after a change.
        updated = cln.cli("setchannel", id=l_s2_scid, feebase=RAISED_FEE_BASE_MSAT, enforcedelay=0)["channels"]
        assert_true(len(updated) == 1 and updated[0]["fee_base_msat"] == RAISED_FEE_BASE_MSAT, f"setchannel: {updated}")

        self.log("S1 pays: L refuses with fee_insufficient, naming L")
        # Core Lightning sends no channel_update in failures over a private channel: S1 cannot
        # learn the new fee from the failure, and with L - S2 excluded there is no other route.
        err = s1.cli_error("pay", inv["bolt11"])
        assert_equal(err["code"], ERR_PAY_FAILED, f"refused: {err}")
        assert_true("fee_insufficient" in err["message"] and cln.node_id in err["message"],
                    f"names L and the code: {err}")
        failed = s1.cli("listpays", inv["payment_hash"])["pays"][0]
        assert_equal(failed["status"], "failed", f"S1's payment: {failed}")
        assert_equal(failed["erring_index"], 0, f"the first hop, L, failed it: {failed}")
        assert_equal(s2.cli("listinvoices", "raised-fee")["invoices"][0]["status"], "unpaid")
        refused = [f for f in cln.cli("listforwards")["forwards"] if f["status"] != "settled"]
        assert_true(len(refused) == 1 and refused[0]["status"] == "local_failed"
                    and refused[0].get("failcode") == WIRE_FEE_INSUFFICIENT, f"L's refusal: {refused}")


if __name__ == "__main__":
    InteropClnForwardTest().main()
