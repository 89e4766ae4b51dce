#!/usr/bin/env python3
"""A breach whose HTLC the cheater takes to the second stage (BOLT 5), A -> B -> C, B the cheater.

As in onchain_breach_htlc_test: C dies right after signing the commitment with A's forwarded
HTLC, B keeps its A - B commitment carrying it (dev-signlastcommitment, with its HTLC-success
transaction), C comes back and is paid, and B settles with A, which revokes the kept commitment.
A (the victim) is then stopped, and the test plays B: it publishes the revoked commitment, and
in the next block B's HTLC-success with the preimage, funded by an input of the test's own key
(B's signature is SIGHASH_SINGLE|ANYONECANPAY). A comes back: it classifies the spend as a revoked
remote commitment and, the batched penalty being broken, penalizes B's to_local alone and the
output of B's HTLC-success with the revocation key, before B's to_self_delay lets B sweep it.
On real bitcoind an empty block follows, and A replaces the second-stage penalty with one paying
a higher fee (BIP 125). Once mined, A's wallet holds to_local and the HTLC-success output less
the penalties' fees."""

import hashlib

from test_framework.ecdsa_test_only import PrivateKey
from test_framework.framework import SideboltTest
from test_framework.tx import COIN, Tx, TxIn, TxOut, btc_to_sat, find_output, p2wpkh_script, segwit_address
from test_framework.util import BackgroundCli, assert_equal, assert_true

COMMITMENT_SIGNED = 132
AMOUNT_MSAT = 120_000_000
FEE_MSAT = 1000 + AMOUNT_MSAT * 10 // 1_000_000
B_FIRST_MSAT = 150_000_000
# The HTLC A forwards to B, and output 0 of B's zero-fee HTLC-success transaction.
HTLC_SAT = (AMOUNT_MSAT + FEE_MSAT) // 1000
# B's to_local in the kept commitment (A opened, so A pays the commitment fee and anchors).
TO_LOCAL_SAT = B_FIRST_MSAT // 1000
# The test's coin that pays the fee of B's HTLC-success, and that fee.
FEE_COIN_SAT = 100_000
HTLC_TX_FEE_SAT = 4_000
# What a penalty may cost at most in fees in this test.
MAX_PENALTY_FEE_SAT = 5_000


class OnchainBreachSecondStageTest(SideboltTest):
    def set_test_params(self):
        self.num_nodes = 3
        self.extra_args = [[], ["-developer"], []]

    # --- helpers --------------------------------------------------------------------------

    def spender(self, txid, vout):
        """The mempool transaction spending txid:vout, or None."""
        if not self.bitcoind.is_standin:
            [entry] = self.bitcoind.rpc("gettxspendingprevout", [{"txid": txid, "vout": vout}])
            return entry.get("spendingtxid")
        for m in self.bitcoind.rpc("getrawmempool"):
            tx = self.bitcoind.rpc("getrawtransaction", m, True)
            if any(i.get("txid") == txid and i.get("vout") == vout for i in tx["vin"]):
                return m
        return None

    def mempool_fee_sat(self, txid):
        return btc_to_sat(self.bitcoind.rpc("getmempoolentry", txid)["fees"]["base"])

    def spends(self, txid):
        return sorted((i["txid"], i["vout"]) for i in self.bitcoind.rpc("getrawtransaction", txid, True)["vin"])

    def confirmations(self, txid):
        return self.bitcoind.rpc("getrawtransaction", txid, True).get("confirmations", 0)

    def wallet_paid_sat(self, txid):
        """Every output of txid is a coin of bitcoind's wallet (A's sweep wallet); their sum."""
        outputs = len(self.bitcoind.rpc("getrawtransaction", txid, True)["vout"])
        coins = self.wait_until(lambda: (c := [u for u in self.bitcoind.wallet_rpc("listunspent", 0) if u["txid"] == txid])
                                and len(c) == outputs and c,
                                timeout=30, message=f"{txid}: not every output pays A's wallet")
        return sum(btc_to_sat(u["amount"]) for u in coins)

    def onchain_output(self, node, cid, duty):
        return next(o for o in node.channel(cid)["onchain"]["outputs"] if o["duty"] == duty)

    # --- test -----------------------------------------------------------------------------

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

        self.log("the test's key gets a coin to pay the fee of B's HTLC-success later")
        key = PrivateKey.from_seed(b"onchain breach second stage fee key")
        key_script = p2wpkh_script(key.pubkey().serialize())
        fee_txid = self.bitcoind.wallet_rpc("sendtoaddress", segwit_address(key_script), FEE_COIN_SAT / COIN)
        self.bitcoind.mine(1)
        fee_vout = find_output(self.bitcoind.rpc("getrawtransaction", fee_txid, True), key_script.hex())
        assert_equal(self.confirmations(fee_txid), 1)

        self.log("A pays B 150000 sat first, so that B has a to_local output to lose")
        first = b.cli("invoice", str(B_FIRST_MSAT), "first", "to B")
        assert_equal(a.cli("pay", first["bolt11"])["status"], "complete")
        self.wait_until(lambda: b.channel(ab)["to_us_msat"] == B_FIRST_MSAT and b.channel(ab)["pending_htlcs"] == 0,
                        timeout=30, message="B never settled the first payment")

        self.log("C dies with the forwarded HTLC committed; B keeps its A - B commitment and HTLC-success")
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
        assert_equal(len(kept["htlc_txs"]), 1, "HTLC transactions of the kept commitment")
        kept_htlc = kept["htlc_txs"][0]
        assert_equal(kept_htlc["kind"], "htlc_success")
        assert_equal(kept_htlc["payment_hash"], inv["payment_hash"])
        assert_equal(kept_htlc["preimage_known"], False)
        htlc_tx = Tx.deserialize(bytes.fromhex(kept_htlc["tx"]))
        assert_equal(htlc_tx.txid(), kept_htlc["txid"])
        assert_equal((len(htlc_tx.vin), len(htlc_tx.vout)), (1, 1), "a zero-fee HTLC-success: one input, one output")
        assert_equal(htlc_tx.vin[0].txid, kept["txid"])
        assert_equal(htlc_tx.vin[0].sequence, 1, "the HTLC output's 1-block CSV")
        assert_equal(htlc_tx.vout[0].value, HTLC_SAT, "zero fee: output 0 carries the whole HTLC")
        assert_equal(len(htlc_tx.vin[0].witness), 5)
        assert_equal(htlc_tx.vin[0].witness[3], bytes(32), "the preimage B did not know yet")
        htlc_output = htlc_tx.vin[0].vout

        self.log("C comes back and is paid; B settles with A, which revokes the kept commitment")
        c.start()
        call.join()
        assert_true(call.error is None, f"pay failed: {call.error}")
        assert_equal(call.result["status"], "complete")
        preimage = bytes.fromhex(call.result["payment_preimage"])
        assert_equal(hashlib.sha256(preimage).hexdigest(), inv["payment_hash"])
        self.wait_until(lambda: a.channel(ab)["pending_htlcs"] == 0 and b.channel(ab)["pending_htlcs"] == 0, timeout=30,
                        message="A - B never settled")
        assert_equal(b.channel(ab)["to_us_msat"], B_FIRST_MSAT + AMOUNT_MSAT + FEE_MSAT)

        self.log("A, the victim, stops; B publishes the revoked commitment, mined")
        a.stop()
        assert_equal(self.bitcoind.rpc("sendrawtransaction", kept["tx"]), kept["txid"])
        self.bitcoind.mine(1)
        spend_height = self.bitcoind.rpc("getblockcount")
        assert_equal(self.confirmations(kept["txid"]), 1)
        commitment = self.bitcoind.rpc("getrawtransaction", kept["txid"], True)
        assert_equal(btc_to_sat(commitment["vout"][htlc_output]["value"]), HTLC_SAT)

        self.log("B's HTLC-success with the preimage, its fee from the test's coin, mined in the next block")
        htlc_tx.vin[0].witness[3] = preimage
        htlc_tx.vin.append(TxIn(fee_txid, fee_vout))
        htlc_tx.vout.append(TxOut(FEE_COIN_SAT - HTLC_TX_FEE_SAT, key_script))
        htlc_tx.sign_p2wpkh(1, FEE_COIN_SAT, key)
        second_stage = htlc_tx.txid()
        assert_equal(self.bitcoind.rpc("sendrawtransaction", htlc_tx.hex()), second_stage)
        if not self.bitcoind.is_standin:
            assert_equal(self.mempool_fee_sat(second_stage), HTLC_TX_FEE_SAT)
        self.bitcoind.mine(1)
        assert_equal(self.confirmations(second_stage), 1, "B's HTLC-success did not confirm")
        second_stage_height = spend_height + 1

        self.log("A comes back: it penalizes B's to_local and the output of B's HTLC-success")
        a.start()
        onchain = self.wait_until(lambda: (o := a.channel(ab).get("onchain")) and o.get("kind") and o, timeout=60,
                                  message="A never resolved the funding spend")
        assert_equal(onchain["kind"], "revoked_remote_commitment")
        assert_equal(onchain["spend_txid"], kept["txid"])
        duties = sorted(o["duty"] for o in onchain["outputs"])
        assert_equal(duties, ["anchor", "penalty_htlc", "penalty_to_local", "to_remote"])
        to_local = self.onchain_output(a, ab, "penalty_to_local")
        assert_equal(to_local["amount_sat"], TO_LOCAL_SAT)
        htlc = self.onchain_output(a, ab, "penalty_htlc")
        assert_equal((htlc["output"], htlc["amount_sat"]), (htlc_output, HTLC_SAT))
        self.wait_until(lambda: (o := self.onchain_output(a, ab, "penalty_htlc"))["spent_by"] == second_stage
                        and o["spent_height"] == second_stage_height, timeout=30,
                        message=f"A never saw B's HTLC-success spend the HTLC output "
                                f"(shows {self.onchain_output(a, ab, 'penalty_htlc')})")
        to_local_penalty = self.wait_until(lambda: self.spender(kept["txid"], to_local["output"]), timeout=30,
                                           message="A never broadcast a penalty of B's to_local")
        stage_penalty = self.wait_until(lambda: self.spender(second_stage, 0), timeout=30,
                                        message="A never broadcast a penalty of B's HTLC-success output")
        assert_equal(self.spends(to_local_penalty), [(kept["txid"], to_local["output"])],
                     "the to_local penalty spends to_local alone (the HTLC output is gone)")
        assert_equal(self.spends(stage_penalty), [(second_stage, 0)], "the second-stage penalty's inputs")
        self.log(f"to_local penalty {to_local_penalty}, second-stage penalty {stage_penalty}")

        if self.bitcoind.is_standin:
            self.log("stand-in: no replacement (BIP 125); the block-without-the-penalty step is skipped")
        else:
            self.log("an empty block: A replaces both penalties at higher fees")
            stage_fee = self.mempool_fee_sat(stage_penalty)
            to_local_fee = self.mempool_fee_sat(to_local_penalty)
            self.bitcoind.rpc("generateblock", self.bitcoind.new_address(), [])
            replaced = self.wait_until(lambda: (s := self.spender(second_stage, 0)) and s != stage_penalty and s, timeout=30,
                                       message=f"A never replaced its second-stage penalty {stage_penalty} after a block "
                                               f"without it (tip {self.bitcoind.rpc('getblockcount')})")
            new_fee = self.mempool_fee_sat(replaced)
            vsize = self.bitcoind.rpc("getmempoolentry", replaced)["vsize"]
            assert_equal(self.spends(replaced), [(second_stage, 0)], "the replacement spends what the penalty spent")
            assert_true(new_fee >= stage_fee + vsize, f"replacement fee {new_fee} after {stage_fee} ({vsize} vB)")
            assert_true(stage_penalty not in self.bitcoind.rpc("getrawmempool"), "the replaced penalty is still in the mempool")
            self.log(f"second-stage penalty replaced: {stage_fee} -> {new_fee} sat ({replaced})")
            stage_penalty = replaced
            to_local_replaced = self.wait_until(
                lambda: (s := self.spender(kept["txid"], to_local["output"])) and s != to_local_penalty and s, timeout=30,
                message=f"A never replaced its to_local penalty {to_local_penalty} after a block without it")
            assert_true(self.mempool_fee_sat(to_local_replaced) > to_local_fee, "the to_local replacement pays no more")
            to_local_penalty = to_local_replaced

        self.log("mined: A's wallet holds to_local and the HTLC-success output less the penalties' fees")
        stage_fee = self.mempool_fee_sat(stage_penalty)
        to_local_fee = self.mempool_fee_sat(to_local_penalty)
        self.bitcoind.mine(1)
        assert_equal(self.confirmations(stage_penalty), 1, "the second-stage penalty did not confirm")
        assert_equal(self.confirmations(to_local_penalty), 1, "the to_local penalty did not confirm")
        stage_paid = self.wallet_paid_sat(stage_penalty)
        to_local_paid = self.wallet_paid_sat(to_local_penalty)
        assert_equal(stage_paid, HTLC_SAT - stage_fee)
        assert_equal(to_local_paid, TO_LOCAL_SAT - to_local_fee)
        assert_true(0 < stage_fee < MAX_PENALTY_FEE_SAT, f"second-stage penalty fee {stage_fee}")
        assert_true(0 < to_local_fee < MAX_PENALTY_FEE_SAT, f"to_local penalty fee {to_local_fee}")
        self.log(f"second-stage penalty paid {stage_paid} of {HTLC_SAT} sat, to_local penalty {to_local_paid} of {TO_LOCAL_SAT}")
        height = self.bitcoind.rpc("getblockcount")
        self.wait_until(lambda: (o := self.onchain_output(a, ab, "penalty_to_local"))["spent_by"] == to_local_penalty
                        and o["spent_height"] == height, timeout=30,
                        message=f"A never showed its to_local penalty confirmed (shows {self.onchain_output(a, ab, 'penalty_to_local')})")
        onchain = a.channel(ab)["onchain"]
        assert_equal(onchain["kind"], "revoked_remote_commitment")
        assert_equal(self.onchain_output(a, ab, "penalty_htlc")["spent_by"], second_stage)

        self.log("listchannels shows the second stage, penalized, and from when B could have swept it")
        stage = self.wait_until(lambda: (s := a.channel(ab)["onchain"]["second_stage"]) and s[0]["spent_height"] == height and s[0],
                                timeout=30, message=f"A never showed its second-stage penalty confirmed: {a.channel(ab)['onchain']}")
        assert_equal((stage["txid"], stage["output"], stage["duty"]), (second_stage, htlc_output, "penalty_second_stage"))
        assert_equal((stage["our_txid"], stage["spent_by"]), (stage_penalty, stage_penalty))
        # A imposes its default channel.toselfdelay (144) on B.
        assert_equal(stage["valid_from_height"], second_stage_height + 144)
        if not self.bitcoind.is_standin:
            assert_equal(stage["replaced"], 1)


if __name__ == "__main__":
    OnchainBreachSecondStageTest().main()
