#!/usr/bin/env python3
"""BOLT 3 transactions built by channel-txtool, checked by a real regtest node.

A channel funded on chain is closed unilaterally twice:
  * honestly (option_anchor_outputs, whose HTLC transactions carry their own fee): the
    commitment confirms; the to_local sweep is refused before to_self_delay (non-BIP68-final)
    and accepted at it; the HTLC-timeout is refused before its CLTV (non-final) and accepted at
    it; the HTLC-success with the preimage is accepted at once;
  * after revocation (option_anchors, the default): one penalty transaction spends to_local and
    both HTLC outputs with the revocation key at once.
testmempoolaccept is asked first, then sendrawtransaction, and every spend is mined.
"""

import hashlib
import json
import subprocess

from test_framework.ecdsa_test_only import PrivateKey
from test_framework.framework import SideboltTest
from test_framework.sidebolt_node import require_binary
from test_framework.tx import COIN, find_output, p2wpkh_script, segwit_address
from test_framework.util import assert_equal, assert_true

TO_SELF_DELAY = 5
FEERATE_PER_KW = 2500  # 10 sat/vB: above the relay minimum for every transaction here
FUNDING_SAT = 1_000_000


def secret(label):
    return hashlib.sha256(label.encode()).hexdigest()


def party(name):
    return {f"{role}": secret(f"{name} {role}") for role in (
        "funding_secret", "revocation_basepoint_secret", "payment_basepoint_secret",
        "delayed_payment_basepoint_secret", "htlc_basepoint_secret")}


class Bolt3OnchainTest(SideboltTest):
    def set_test_params(self):
        self.num_nodes = 0

    # --- helpers ---------------------------------------------------------------

    def tool(self, request):
        result = subprocess.run([self.txtool], input=json.dumps(request).encode(), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, timeout=60)
        if result.returncode != 0:
            raise AssertionError(f"channel-txtool failed: {result.stderr.decode()}")
        return json.loads(result.stdout)

    def height(self):
        return self.bitcoind.rpc("getblockcount")

    def fund_channel(self, alice, bob):
        node = self.bitcoind
        pub = lambda s: PrivateKey(int(s, 16)).pubkey().serialize().hex()
        funding = self.tool({"command": "funding_script", "local_funding_pubkey": pub(alice["funding_secret"]),
                             "remote_funding_pubkey": pub(bob["funding_secret"])})
        script_pubkey = bytes.fromhex(funding["script_pubkey"])
        txid = node.wallet_rpc("sendtoaddress", segwit_address(script_pubkey), FUNDING_SAT / COIN)
        node.mine(1)
        vout = find_output(node.rpc("getrawtransaction", txid, True), funding["script_pubkey"])
        return {"txid": txid, "vout": vout, "amount_sat": FUNDING_SAT}

    def channel(self, fmt, funding, htlcs, commitment_number):
        alice, bob = party("alice"), party("bob")
        return self.tool({
            "command": "channel", "format": fmt, "funding": funding, "holder": alice, "counterparty": bob,
            "holder_is_opener": True, "to_self_delay": TO_SELF_DELAY, "dust_limit_sat": 546,
            "feerate_per_kw": FEERATE_PER_KW, "commitment_number": commitment_number,
            "per_commitment_secret": secret(f"alice per-commitment {commitment_number}"),
            "to_local_msat": 600_000_000, "to_remote_msat": FUNDING_SAT * 1000 - 600_000_000 - sum(
                h["amount_msat"] for h in htlcs),
            "htlcs": htlcs, "sweep": {"script_pubkey": self.sweep_script.hex(), "feerate_per_kw": FEERATE_PER_KW}})

    def assert_accepted(self, tx, what):
        node = self.bitcoind
        [result] = node.rpc("testmempoolaccept", [tx["hex"]])
        assert_equal(result["allowed"], True, f"{what}: testmempoolaccept {result}")
        assert_equal(node.rpc("sendrawtransaction", tx["hex"]), tx["txid"], what)
        node.mine(1)
        assert_equal(node.rpc("getrawtransaction", tx["txid"], True)["confirmations"], 1, f"{what} confirmed")
        self.log(f"{what} accepted and confirmed")

    def assert_rejected(self, tx, reason, what):
        node = self.bitcoind
        [result] = node.rpc("testmempoolaccept", [tx["hex"]])
        assert_equal(result["allowed"], False, f"{what}: testmempoolaccept {result}")
        err = self.assert_rpc_error(-26, node.rpc, "sendrawtransaction", tx["hex"])
        assert_true(reason in err.message, f"{what}: expected {reason}, got {err.message}")
        self.log(f"{what} rejected: {err.message}")

    # --- test ----------------------------------------------------------------------

    def run_test(self):
        self.txtool = require_binary("channel-txtool")
        node = self.bitcoind
        node.mine(101)
        self.sweep_script = p2wpkh_script(PrivateKey.from_seed(b"bolt3 sweep wallet").pubkey().serialize())
        self.test_honest_close()
        self.test_revoked_close()

    def test_honest_close(self):
        funding = self.fund_channel(party("alice"), party("bob"))
        cltv = self.height() + 12
        preimage = secret("received htlc preimage")
        htlcs = [
            {"direction": "offered", "amount_msat": 40_000_000, "payment_preimage": secret("offered"), "cltv_expiry": cltv},
            {"direction": "received", "amount_msat": 50_000_000, "payment_preimage": preimage, "cltv_expiry": cltv + 50},
        ]
        txs = self.channel("anchor_outputs", funding, htlcs, commitment_number=7)
        kinds = sorted(o["kind"] for o in txs["commitment"]["outputs"])
        assert_equal(kinds, ["local_anchor", "offered_htlc", "received_htlc", "remote_anchor", "to_local", "to_remote"])
        self.assert_accepted(txs["commitment"], "commitment spending the funding output")

        timeout = next(t for t in txs["htlc_txs"] if t["type"] == "timeout")
        success = next(t for t in txs["htlc_txs"] if t["type"] == "success")
        assert_equal(timeout["locktime"], cltv)
        self.assert_accepted(success, "HTLC-success with the preimage")

        # One confirmation so far: one block short of to_self_delay is still too early.
        self.bitcoind.mine(TO_SELF_DELAY - 3)
        self.assert_rejected(txs["to_local_sweep"], "non-BIP68-final", "to_local sweep before to_self_delay")
        self.bitcoind.mine(1)
        self.assert_accepted(txs["to_local_sweep"], "to_local sweep at to_self_delay")

        self.bitcoind.mine(cltv - 1 - self.height())
        self.assert_rejected(timeout, "non-final", "HTLC-timeout before its CLTV")
        self.bitcoind.mine(1)
        self.assert_accepted(timeout, "HTLC-timeout at its CLTV")

        # The HTLC-success output is delayed like to_local.
        self.assert_accepted(success["sweep"], "HTLC-success output swept after to_self_delay")

    def test_revoked_close(self):
        funding = self.fund_channel(party("alice"), party("bob"))
        cltv = self.height() + 100
        htlcs = [
            {"direction": "offered", "amount_msat": 40_000_000, "payment_preimage": secret("o2"), "cltv_expiry": cltv},
            {"direction": "received", "amount_msat": 50_000_000, "payment_preimage": secret("r2"), "cltv_expiry": cltv},
        ]
        txs = self.channel("anchors", funding, htlcs, commitment_number=3)
        self.assert_accepted(txs["commitment"], "revoked commitment (option_anchors)")
        # Bob holds the revocation secret: to_local and both HTLC outputs, no delay.
        self.assert_accepted(txs["penalty"], "penalty spending to_local and both HTLCs")
        tx = self.bitcoind.rpc("getrawtransaction", txs["penalty"]["txid"], True)
        assert_equal(len(tx["vin"]), 3, "penalty inputs")


if __name__ == "__main__":
    Bolt3OnchainTest().main()
