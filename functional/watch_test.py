#!/usr/bin/env python3
"""The watch API the channel code uses, seen through dev-watch*: a watched outpoint spent in
the mempool, then confirmed, then reorged out gives the three events in order; a watched txid
reports its confirmation and its un-confirmation by the reorg."""

from test_framework.ecdsa_test_only import PrivateKey
from test_framework.framework import SideboltTest
from test_framework.tx import COIN, Tx, TxIn, TxOut, find_output, p2wpkh_script, segwit_address
from test_framework.util import assert_equal


class WatchTest(SideboltTest):
    def set_test_params(self):
        self.num_nodes = 1

    def events(self, kind):
        return [e for e in self.nodes[0].cli("dev-listwatchevents") if e["event"] == kind]

    def wait_for_event(self, kind, count=1):
        return self.wait_until(lambda: len(self.events(kind)) >= count and self.events(kind), timeout=30,
                               message=f"no {kind} event")[count - 1]

    def run_test(self):
        node, btc = self.nodes[0], self.bitcoind
        btc.mine(101)
        key = PrivateKey.from_seed(b"watch test key")
        script = p2wpkh_script(key.pubkey().serialize())
        funding_txid = btc.wallet_rpc("sendtoaddress", segwit_address(script), 1.0)
        btc.mine(1)
        vout = find_output(btc.rpc("getrawtransaction", funding_txid, True), script.hex())
        self.wait_until(lambda: node.cli("getinfo")["blockhash"] == btc.rpc("getbestblockhash"))

        outpoint = node.cli("dev-watchoutpoint", funding_txid, str(vout))
        assert_equal(outpoint, f"{funding_txid}:{vout}")
        spend = Tx(version=2, vin=[TxIn(funding_txid, vout)], vout=[TxOut(COIN - 10_000, script)])
        spend.sign_p2wpkh(0, COIN, key)
        # As the channel code does: watch a transaction before broadcasting it.
        node.cli("dev-watchtxid", spend.txid(), "2")
        spend_txid = btc.rpc("sendrawtransaction", spend.hex())
        assert_equal(spend_txid, spend.txid())

        spent = self.wait_for_event("outpoint_spent")
        assert_equal(spent["spending_txid"], spend_txid)
        assert_equal(spent["in_mempool"], True)
        self.wait_for_event("tx_seen_in_mempool")

        [block] = btc.mine(1)
        height = btc.rpc("getblockcount")
        confirmed = self.wait_for_event("outpoint_spend_confirmed")
        assert_equal((confirmed["spending_txid"], confirmed["height"]), (spend_txid, height))
        assert_equal(self.wait_for_event("tx_confirmed")["depth"], 1)

        btc.rpc("invalidateblock", block)
        unconfirmed = self.wait_for_event("outpoint_spend_unconfirmed")
        assert_equal(unconfirmed["spending_txid"], spend_txid)
        self.wait_for_event("tx_unconfirmed")

        kinds = [e["event"] for e in node.cli("dev-listwatchevents") if e["event"].startswith("outpoint")]
        assert_equal(kinds[:3], ["outpoint_spent", "outpoint_spend_confirmed", "outpoint_spend_unconfirmed"])


if __name__ == "__main__":
    WatchTest().main()
