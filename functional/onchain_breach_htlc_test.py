#!/usr/bin/env python3
"""A breach with an HTLC in flight (BOLT 5), A -> B -> C, all sidebolt; B the cheater.

C dies right after signing the commitment with A's forwarded HTLC, so the HTLC stays in every
commitment of A - B. B keeps its A - B commitment with the HTLC (dev-signlastcommitment). C comes
back and is paid, B settles with A, and the kept commitment is revoked. B publishes it: before any
block A's penalty is in the mempool, taking B's to_local and the HTLC output with the revocation
key in one transaction, and once mined every penalized satoshi, less the fee, is in A's wallet."""

from test_framework.framework import SideboltTest
from test_framework.util import BackgroundCli, assert_equal, assert_true

COMMITMENT_SIGNED = 132
AMOUNT_MSAT = 120_000_000
FEE_MSAT = 1000 + AMOUNT_MSAT * 10 // 1_000_000
B_FIRST_MSAT = 150_000_000


class OnchainBreachHtlcTest(SideboltTest):
    def set_test_params(self):
        self.num_nodes = 3
        self.extra_args = [[], ["-developer"], []]

    def run_test(self):
        a, b, c = self.nodes
        ids = [n.cli("getinfo")["id"] for n in self.nodes]
        self.bitcoind.mine(101)
        a.cli("connect", b.p2p_address)
        b.cli("connect", c.p2p_address)
        ab = a.cli("fundchannel", ids[1], "500000")["channel_id"]
        bc = b.cli("fundchannel", ids[2], "500000")["channel_id"]
        self.bitcoind.mine(3)
        for node, cid in ((a, ab), (b, ab), (b, bc), (c, bc)):
            self.wait_channel_normal(node, cid)

        self.log("A pays B 150000 sat first, so that B has a to_local output to lose")
        first = b.cli("invoice", str(B_FIRST_MSAT), "first", "to B")
        assert_equal(a.cli("pay", first["bolt11"])["status"], "complete")
        self.wait_until(lambda: b.channel(ab)["to_us_msat"] == B_FIRST_MSAT and b.channel(ab)["pending_htlcs"] == 0,
                        timeout=30, message="B never settled the first payment")

        self.log("C dies with the forwarded HTLC committed; B keeps its A - B commitment carrying it")
        c.stop()
        c.start(extra_args=[f"-devcrashaftersend={COMMITMENT_SIGNED}"])
        self.wait_channel_normal(c, bc)
        self.wait_channel_normal(b, bc)
        inv = c.cli("invoice", str(AMOUNT_MSAT), "breach", "in flight")
        call = BackgroundCli(a, "pay", inv["bolt11"])
        self.wait_until(lambda: c.process.poll() is not None, timeout=60, message="C never crashed")
        c.process = None
        self.wait_until(lambda: a.channel(ab)["pending_htlcs"] == 1 and b.channel(ab)["pending_htlcs"] == 1, timeout=30,
                        message="A - B never carried the HTLC")
        kept = b.cli("dev-signlastcommitment", ab)

        self.log("C comes back and is paid; B settles with A, which revokes the kept commitment")
        c.start()
        call.join()
        assert_equal(a.cli("listpays", inv["payment_hash"])["pays"][0]["status"], "complete")
        self.wait_until(lambda: a.channel(ab)["pending_htlcs"] == 0 and b.channel(ab)["pending_htlcs"] == 0, timeout=30,
                        message="A - B never settled")
        b_balance_msat = b.channel(ab)["to_us_msat"]
        assert_equal(b_balance_msat, B_FIRST_MSAT + AMOUNT_MSAT + FEE_MSAT)

        self.log("B publishes it: A's penalty takes to_local and the HTLC output from the mempool")
        assert_equal(self.bitcoind.rpc("sendrawtransaction", kept["tx"]), kept["txid"])
        onchain = self.wait_until(lambda: (o := a.channel(ab).get("onchain")) and o.get("penalty_broadcast") and o,
                                  timeout=30, interval=0.01, message="A never broadcast a penalty")
        assert_equal(onchain["kind"], "revoked_remote_commitment")
        penalty = onchain["penalty_txid"]
        self.wait_until(lambda: penalty in self.bitcoind.rpc("getrawmempool"), timeout=30,
                        message="the penalty never reached the mempool")
        duties = sorted(o["duty"] for o in onchain["outputs"])
        assert_equal(duties, ["anchor", "penalty_htlc", "penalty_to_local", "to_remote"])
        penalized = {o["output"] for o in onchain["outputs"] if o["duty"].startswith("penalty_")}
        penalty_tx = self.bitcoind.rpc("getrawtransaction", penalty, True)
        assert_equal(sorted(i["vout"] for i in penalty_tx["vin"] if i["txid"] == kept["txid"]), sorted(penalized))

        self.log("mined: every penalized satoshi less the fee is in A's wallet")
        self.bitcoind.mine(1)
        commitment = self.bitcoind.rpc("getrawtransaction", kept["txid"], True)
        taken_sat = sum(round(o["value"] * 100_000_000) for o in commitment["vout"] if o["n"] in penalized)
        to_local = next(o for o in onchain["outputs"] if o["duty"] == "penalty_to_local")
        assert_equal(to_local["amount_sat"], B_FIRST_MSAT // 1000)
        htlc_out = next(o for o in onchain["outputs"] if o["duty"] == "penalty_htlc")
        assert_equal(htlc_out["amount_sat"], (AMOUNT_MSAT + FEE_MSAT) // 1000)
        self.wait_until(lambda: any(u["txid"] == penalty for u in self.bitcoind.wallet_rpc("listunspent", 0)),
                        timeout=30, message="the penalty does not pay A's wallet")
        paid = sum(round(u["amount"] * 100_000_000) for u in self.bitcoind.wallet_rpc("listunspent", 0) if u["txid"] == penalty)
        assert_true(taken_sat - 3000 < paid < taken_sat, f"penalty pays {paid} of {taken_sat} sat")


if __name__ == "__main__":
    OnchainBreachHtlcTest().main()
