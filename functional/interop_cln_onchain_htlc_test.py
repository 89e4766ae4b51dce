#!/usr/bin/env python3
"""Force closes with an HTLC pending, between sidebolt S and Core Lightning, both directions.

Each Core Lightning node runs test_framework/cln_hold_plugin.py, which holds incoming HTLCs
undecided (its htlc_accepted hook does not answer) until told to release them.

- S force-closes on L0 while L0 holds S's HTLC: L0 never learns to claim it, so at its CLTV S's
  HTLC-timeout transaction (its fee from bitcoind's wallet) takes it back, S's payment fails three
  blocks later, and once L0's to_self_delay has passed S sweeps the HTLC-timeout output into
  bitcoind's wallet.
- L1 force-closes (dev-fail) on S while L1 holds S's HTLC, then releases it: L1 claims the HTLC
  from its own commitment with its HTLC-success transaction, S reads the preimage from the chain
  and its payment completes; S's to_remote comes back to bitcoind's wallet.

Needs LIGHTNINGD and a real bitcoind; skipped otherwise."""

import hashlib
import os

from test_framework.framework import SideboltTest
from test_framework.onchain_util import OnchainHelpers
from test_framework.util import BackgroundCli, assert_equal, assert_true

CAPACITY = 400000
PAYMENT_MSAT = 60_000_000
# Core Lightning's --watchtime-blocks: the to_self_delay it asks of S.
CLN_TO_SELF_DELAY = 6
HOLD_PLUGIN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "test_framework", "cln_hold_plugin.py")


class InteropClnOnchainHtlcTest(OnchainHelpers, SideboltTest):
    def set_test_params(self):
        self.num_nodes = 1
        self.num_cln_nodes = 2
        self.cln_extra_args = [["--developer", "--dev-bitcoind-poll=1", f"--watchtime-blocks={CLN_TO_SELF_DELAY}",
                                f"--plugin={HOLD_PLUGIN}"]] * 2

    def open_to(self, sb, cln):
        cid = sb.cli("fundchannel", cln.node_id, str(CAPACITY))["channel_id"]
        self.mine(6)
        self.wait_channel_normal(sb, cid)
        self.wait_until(lambda: (c := cln.channel(cid)) and c["state"] == "CHANNELD_NORMAL",
                        timeout=90, message=f"{cln} never saw {cid} normal: {cln.channel(cid)}")
        return cid

    def held_payment(self, sb, cln, cid, label):
        """S pays an invoice of `cln`, which holds the HTLC: (invoice, the background pay call)."""
        inv = cln.cli("invoice", amount_msat=PAYMENT_MSAT, label=label, description=label)
        cln.cli("holdstart")
        call = BackgroundCli(sb, "pay", inv["bolt11"])
        self.wait_until(lambda: cln.cli("holdcount")["held"] == 1, timeout=30, message=f"{cln} never held the HTLC")
        self.wait_until(lambda: sb.channel(cid)["pending_htlcs"] == 1, timeout=30, message="S never committed the HTLC")
        return inv, call

    def pay_status(self, sb, inv):
        return sb.cli("listpays", inv["payment_hash"])["pays"][0]["status"]

    def run_test(self):
        sb = self.nodes[0]
        l0, l1 = self.cln_nodes
        self.bitcoind.mine(101)
        # Core Lightning pays the fees of its own zero-fee HTLC transactions from its wallet.
        for cln in (l0, l1):
            address = cln.cli("newaddr")
            self.bitcoind.wallet_rpc("sendtoaddress", address.get("bech32") or address.get("p2tr"), 1)
        self.mine(1)
        for cln in (l0, l1):
            self.wait_until(lambda: len(cln.cli("listfunds")["outputs"]) > 0, timeout=60,
                            message=f"{cln} never saw its coins")
            sb.cli("connect", cln.p2p_address)
        self.sidebolt_closes_with_htlc(sb, l0)
        self.cln_closes_with_htlc(sb, l1)

    def sidebolt_closes_with_htlc(self, sb, l0):
        self.log("S pays L0, which holds the HTLC; S closes unilaterally")
        cid = self.open_to(sb, l0)
        inv, call = self.held_payment(sb, l0, cid, "held-by-l0")
        closed = sb.cli("-named", "close", f"id={cid}", "unilateral=true")
        self.wait_mempool(closed["closing_txid"], "S's commitment")
        self.mine(1)
        timeout_out = self.wait_until(lambda: self.output(sb, cid, "local_htlc_timeout"), timeout=30,
                                      message="S never resolved its commitment's HTLC")
        valid_from = timeout_out["valid_from_height"]
        assert_true(valid_from > self.tip() + 5, f"the HTLC-timeout waits for the CLTV: {timeout_out}")

        self.log(f"at the CLTV (block {valid_from}) S's HTLC-timeout goes out with a fee from bitcoind's wallet")
        self.mine(valid_from - 1 - self.tip())
        spent = self.wait_until(lambda: self.output(sb, cid, "local_htlc_timeout")["spent_by"], timeout=30,
                                message="S's HTLC-timeout never reached the mempool")
        htlc_timeout = self.bitcoind.rpc("getrawtransaction", spent, True)
        assert_equal((htlc_timeout["vin"][0]["txid"], htlc_timeout["vin"][0]["vout"]), (closed["closing_txid"], timeout_out["output"]))
        assert_true(len(htlc_timeout["vin"]) >= 2, f"a wallet input pays the fee: {htlc_timeout}")
        self.mine(1)
        confirmed = self.confirmed_height(spent)
        assert_true(confirmed is not None, "S's HTLC-timeout never confirmed")

        self.log("three blocks deep, S's payment fails; after L0's delay S sweeps the HTLC-timeout output")
        self.mine(2)
        self.wait_until(lambda: self.pay_status(sb, inv) == "failed", timeout=30, message="S's payment never failed")
        call.join()
        assert_true(call.error is not None, f"S's pay returned {call.result} for a failed payment")
        self.mine(confirmed + CLN_TO_SELF_DELAY - 1 - self.tip())
        sweep = self.wait_until(lambda: self.bitcoind.rpc("gettxspendingprevout", [{"txid": spent, "vout": 0}])[0].get("spendingtxid"),
                                timeout=30, message="S never swept its HTLC-timeout output")
        self.mine(1)
        swept = self.wallet_owns_outputs(sweep)
        htlc_sat = PAYMENT_MSAT // 1000
        assert_true(htlc_sat - 3000 < swept < htlc_sat, f"S's sweep returns {swept} of the {htlc_sat} sat HTLC")
        assert_equal(l0.cli("listinvoices", label="held-by-l0")["invoices"][0]["status"], "unpaid")
        l0.cli("holdrelease")

    def cln_closes_with_htlc(self, sb, l1):
        self.log("S pays L1, which holds the HTLC; L1 fails the channel and publishes its commitment")
        cid = self.open_to(sb, l1)
        inv, call = self.held_payment(sb, l1, cid, "held-by-l1")
        l1.cli("dev-fail", id=sb.cli("getinfo")["id"])
        onchain = self.wait_until(lambda: (o := sb.channel(cid).get("onchain")) and o["kind"] and o, timeout=30,
                                  message="S never resolved L1's commitment")
        assert_equal(onchain["kind"], "remote_commitment")
        claim = next(o for o in onchain["outputs"] if o["duty"] == "remote_htlc_timeout")
        self.mine(1)
        assert_equal(self.pay_status(sb, inv), "pending")

        self.log("L1 releases the HTLC: it claims it on chain with the preimage, and S's payment completes from that")
        assert_equal(l1.cli("holdrelease")["released"], 1)
        claimed = self.wait_until(lambda: self.output(sb, cid, "remote_htlc_timeout")["spent_by"], timeout=60,
                                  message="L1 never claimed the HTLC on chain")
        self.mine(1)
        self.wait_until(lambda: self.pay_status(sb, inv) == "complete", timeout=30,
                        message="S never read the preimage from L1's claim")
        call.join()
        assert_true(call.error is None and call.result["status"] == "complete", f"S's pay: {call.error} {call.result}")
        pays = sb.cli("listpays", inv["payment_hash"])["pays"][0]
        assert_equal(hashlib.sha256(bytes.fromhex(pays["payment_preimage"])).hexdigest(), inv["payment_hash"])
        claim_tx = self.bitcoind.rpc("getrawtransaction", claimed, True)
        assert_equal((claim_tx["vin"][0]["txid"], claim_tx["vin"][0]["vout"]), (onchain["spend_txid"], claim["output"]))
        assert_equal(l1.cli("listinvoices", label="held-by-l1")["invoices"][0]["status"], "paid")

        self.log("S's to_remote comes back to bitcoind's wallet")
        sweep = self.wait_broadcast(sb, cid, "to_remote")["txid"]
        # Valid a block after L1's commitment: it may have confirmed with L1's claim already.
        self.wait_until(lambda: self.in_mempool(sweep) or self.confirmed_height(sweep) is not None, timeout=30,
                        message=f"S's to_remote sweep {sweep} never reached bitcoind")
        self.mine(1)
        swept = self.wallet_owns_outputs(sweep)
        assert_true(CAPACITY - PAYMENT_MSAT // 1000 - 5000 < swept < CAPACITY - PAYMENT_MSAT // 1000, f"to_remote sweep pays {swept}")


if __name__ == "__main__":
    InteropClnOnchainHtlcTest().main()
