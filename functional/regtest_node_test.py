#!/usr/bin/env python3
"""Self-test of the regtest node (bcoin stand-in or real bitcoind).

Checks the RPC, ZMQ and consensus behaviour sidebolt relies on: mining and
chain queries, wallet sends, Core's sendrawtransaction error codes,
testmempoolaccept, channel funding through PSBTs (walletcreatefundedpsbt, walletprocesspsbt,
finalizepsbt, lockunspent), a P2WSH 2-of-2 spend signed in Python, CSV and CLTV
timelocks enforced to the block, invalidate/reconsider with ZMQ sequence
notifications, and kill/restart. Must pass on both backends.
"""

import os

from test_framework.ecdsa_test_only import PrivateKey
from test_framework.framework import SideboltTest
from test_framework.tx import (
    COIN, MAX_SEQUENCE, Tx, TxIn, TxOut, btc_to_sat, cltv_script, csv_script, find_output, hash256,
    multisig_2of2_script, p2wpkh_script, p2wsh_script, segwit_address,
)
from test_framework.util import assert_equal, assert_true
from test_framework.zmq_subscriber import ZmqSubscriber

CORE_REGTEST_GENESIS = "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"
FEE = 2000  # satoshis; comfortably above 1 sat/vB for these small transactions


class ZmqLog:
    """Receives every notification and checks per-topic sequence numbers stay contiguous."""

    def __init__(self, address):
        self.sub = ZmqSubscriber(address, ["hashblock", "hashtx", "rawblock", "rawtx", "sequence"])
        self.last_seq = {}
        self.received = []

    def _record(self, n):
        last = self.last_seq.get(n.topic)
        if last is not None:
            assert_equal(n.sequence, (last + 1) & 0xFFFFFFFF, f"ZMQ {n.topic} sequence")
        self.last_seq[n.topic] = n.sequence
        self.received.append(n)
        return n

    def wait_for(self, predicate, timeout=30):
        return [self._record(n) for n in self.sub.receive_until(predicate, timeout)][-1]

    def drain(self):
        return [self._record(n) for n in self.sub.drain()]


class RegtestNodeTest(SideboltTest):
    def set_test_params(self):
        self.num_nodes = 0

    # --- helpers -------------------------------------------------------------

    def fund(self, script_pubkey, amount_sat):
        """Pays amount_sat to script_pubkey from the wallet, confirms it; returns (txid, vout, value)."""
        node = self.bitcoind
        txid = node.wallet_rpc("sendtoaddress", segwit_address(script_pubkey), amount_sat / COIN)
        node.mine(1)
        tx = node.rpc("getrawtransaction", txid, True)
        return txid, find_output(tx, script_pubkey.hex()), amount_sat

    def spend_tx(self, txid, vout, value, to_script, sequence=MAX_SEQUENCE, locktime=0, fee=FEE):
        return Tx(version=2, vin=[TxIn(txid, vout, sequence=sequence)],
                  vout=[TxOut(value - fee, to_script)], locktime=locktime)

    def height(self):
        return self.bitcoind.rpc("getblockcount")

    # --- test ------------------------------------------------------------------

    def run_test(self):
        node = self.bitcoind
        self.log(f"backend: {node.backend}; version {node.rpc('getnetworkinfo')['version']}")
        self.zmq = ZmqLog(node.zmq_address)
        self.test_mining_and_chain_info()
        self.test_wallet_send()
        self.test_fund_sign_raw()
        self.key = PrivateKey.from_seed(b"regtest-node-test key")
        self.key_script = p2wpkh_script(self.key.pubkey().serialize())
        self.test_sendrawtransaction_errors()
        self.test_testmempoolaccept()
        self.test_p2wsh_2of2()
        self.test_csv()
        self.test_cltv()
        self.test_psbt_funding()  # after the tests that need self.sent_tx's outputs unspent
        self.test_invalidate_reconsider()
        self.test_kill_restart()

    def test_mining_and_chain_info(self):
        node = self.bitcoind
        zmq = self.zmq
        assert_equal(node.rpc("getblockhash", 0), CORE_REGTEST_GENESIS, "genesis")
        info = node.rpc("getblockchaininfo")
        assert_equal(info["chain"], "regtest")
        address = node.new_address()
        assert_true(address.startswith("bcrt1q"), f"bech32 regtest address expected, got {address}")

        # ZMQ subscriptions take effect asynchronously: mine until one arrives.
        for _ in range(20):
            node.mine(1, address)
            if zmq.sub.socket.poll(500):
                break
        zmq.drain()
        start_height = self.height()
        self.log(f"ZMQ connected after {start_height} block(s); mining to 101")
        hashes = node.mine(101 - start_height, address)
        zmq.wait_for(lambda n: n.topic == "hashblock" and n.hash_hex() == hashes[-1])
        zmq.drain()
        rawblock = next(n for n in zmq.received
                        if n.topic == "rawblock" and hash256(n.body[:80])[::-1].hex() == hashes[-1])
        assert_equal(rawblock.body.hex(), node.rpc("getblock", hashes[-1], 0), "rawblock body")

        info = node.rpc("getblockchaininfo")
        assert_equal(info["blocks"], 101)
        assert_equal(info["headers"], 101)
        assert_equal(info["bestblockhash"], hashes[-1])
        assert_equal(info["bestblockhash"], node.rpc("getbestblockhash"))
        assert_equal(info["initialblockdownload"], False)
        assert_equal(info["pruned"], False)
        header = node.rpc("getblockheader", hashes[-1])
        assert_equal(header["height"], 101)
        assert_equal(header["confirmations"], 1)
        assert_equal(header["previousblockhash"], node.rpc("getblockhash", 100))
        assert_equal(len(node.rpc("getblockheader", hashes[-1], False)), 160)
        block = node.rpc("getblock", hashes[-1], 2)
        assert_equal(block["tx"][0]["vin"][0].get("coinbase") is not None, True, "coinbase in verbose block")
        # Exactly one coinbase (block 1) has 101 confirmations and is spendable.
        balances = node.wallet_rpc("getbalances")["mine"]
        assert_equal(btc_to_sat(balances["trusted"]), 50 * COIN, "mature balance")
        assert_equal(btc_to_sat(node.wallet_rpc("getbalance")), 50 * COIN)
        fee = node.rpc("estimatesmartfee", 6)
        assert_true("errors" in fee or "feerate" in fee, f"estimatesmartfee shape: {fee}")
        notifications = {n["type"] for n in node.rpc("getzmqnotifications")}
        assert_equal(notifications, {"pubhashblock", "pubhashtx", "pubrawblock", "pubrawtx", "pubsequence"})

    def test_wallet_send(self):
        node = self.bitcoind
        address = node.new_address()
        txid = node.wallet_rpc("sendtoaddress", address, 1.5)
        assert_true(txid in node.rpc("getrawmempool"), "wallet tx in mempool")
        self.zmq.wait_for(lambda n: n.topic == "rawtx" and Tx.deserialize(n.body).txid() == txid)
        added = self.zmq.wait_for(lambda n: n.topic == "sequence" and n.label() == "A" and n.hash_hex() == txid)
        assert_true(added.mempool_sequence() >= 1)
        entry = node.rpc("getmempoolentry", txid)
        assert_true(entry["vsize"] > 0 and btc_to_sat(entry["fees"]["base"]) > 0, f"mempool entry {entry}")
        mined = node.mine(1)
        self.zmq.wait_for(lambda n: n.topic == "sequence" and n.label() == "C" and n.hash_hex() == mined[0])
        tx = node.rpc("getrawtransaction", txid, True)
        assert_equal(tx["confirmations"], 1)
        assert_equal(tx["blockhash"], mined[0])
        vout = find_output(tx, node.rpc("validateaddress", address)["scriptPubKey"])
        out = node.rpc("gettxout", txid, vout)
        assert_equal(btc_to_sat(out["value"]), 150_000_000)
        assert_equal(out["confirmations"], 1)
        self.sent_txid = txid
        self.sent_tx = tx

    def test_fund_sign_raw(self):
        """The funding flow a Lightning node uses: fund a zero-input tx, lock, sign, broadcast."""
        node = self.bitcoind
        witness_script = multisig_2of2_script(PrivateKey.from_seed(b"x").pubkey().serialize(),
                                              PrivateKey.from_seed(b"y").pubkey().serialize())
        funding_script = p2wsh_script(witness_script)
        unfunded = Tx(version=2, vout=[TxOut(300_000, funding_script)])
        funded = node.wallet_rpc("fundrawtransaction", unfunded.hex())
        tx = Tx.deserialize(bytes.fromhex(funded["hex"]))
        assert_true(len(tx.vin) >= 1, "fundrawtransaction added inputs")
        assert_true(any(o.script_pubkey == funding_script and o.value == 300_000 for o in tx.vout), "output kept")
        assert_true(funded["changepos"] in range(-1, len(tx.vout)), f"changepos {funded['changepos']}")
        assert_true(btc_to_sat(funded["fee"]) > 0, "fee")

        outpoints = [{"txid": i.txid, "vout": i.vout} for i in tx.vin]
        assert_equal(node.wallet_rpc("lockunspent", False, outpoints), True)
        locked = {(o["txid"], o["vout"]) for o in node.wallet_rpc("listlockunspent")}
        assert_equal(locked, {(o["txid"], o["vout"]) for o in outpoints})
        unspent = {(u["txid"], u["vout"]) for u in node.wallet_rpc("listunspent")}
        assert_true(not (locked & unspent), "locked coins are not listed as unspent")
        self.assert_rpc_error(-8, node.wallet_rpc, "lockunspent", False, outpoints)
        assert_equal(node.wallet_rpc("lockunspent", True, outpoints), True)

        signed = node.wallet_rpc("signrawtransactionwithwallet", funded["hex"])
        assert_equal(signed["complete"], True, f"sign: {signed}")
        txid = node.rpc("sendrawtransaction", signed["hex"])
        assert_equal(txid, tx.txid(), "signing does not change the txid")
        node.mine(1)
        assert_equal(node.rpc("getrawtransaction", txid, True)["confirmations"], 1)

    def test_psbt_funding(self):
        """sideboltd's funding flow: a funded PSBT paying a 2-of-2 P2WSH, inputs locked, signed, finalized."""
        node = self.bitcoind
        witness_script = multisig_2of2_script(PrivateKey.from_seed(b"psbt a").pubkey().serialize(),
                                              PrivateKey.from_seed(b"psbt b").pubkey().serialize())
        funding_script = p2wsh_script(witness_script)
        outputs = [{segwit_address(funding_script): 0.004}]
        options = {"fee_rate": 2, "lockUnspents": True, "changePosition": 1}
        funded = node.wallet_rpc("walletcreatefundedpsbt", [], outputs, 0, options)
        assert_equal(funded["changepos"], 1)
        fee = btc_to_sat(funded["fee"])
        assert_true(fee > 0, f"fee {funded}")
        decoded = node.rpc("decodepsbt", funded["psbt"])
        assert_equal(btc_to_sat(decoded["fee"]), fee, "decodepsbt fee")
        assert_true(all("witness_utxo" in i for i in decoded["inputs"]), "segwit inputs carry witness_utxo")

        # lockUnspents: the inputs are locked, so a second funding picks other coins or none.
        locked = {(o["txid"], o["vout"]) for o in node.wallet_rpc("listlockunspent")}
        assert_true(len(locked) >= 1, "lockUnspents locked the inputs")
        assert_true(not locked & {(u["txid"], u["vout"]) for u in node.wallet_rpc("listunspent")}, "locked not listed")
        balance = btc_to_sat(node.wallet_rpc("getbalances")["mine"]["trusted"])
        self.assert_rpc_error(-4, node.wallet_rpc, "walletcreatefundedpsbt", [], [{node.new_address(): balance / COIN}],
                              0, {"fee_rate": 1})
        self.assert_rpc_error(-4, node.wallet_rpc, "walletcreatefundedpsbt", [], [{node.new_address(): 21_000_000}])
        self.assert_rpc_error(-8, node.wallet_rpc, "walletcreatefundedpsbt", [], outputs, 0,
                              {"fee_rate": 2, "feeRate": 0.0001})
        self.assert_rpc_error(-8, node.wallet_rpc, "walletcreatefundedpsbt", [], outputs, 0, {"changePosition": 5})
        self.assert_rpc_error(-3, node.wallet_rpc, "walletcreatefundedpsbt", [], outputs, 0, {"bogus": 1})
        self.assert_rpc_error(-5, node.wallet_rpc, "walletcreatefundedpsbt", [], [{"bcrt1qxyz": 0.1}])
        self.assert_rpc_error(-18, node.rpc, "walletcreatefundedpsbt", [], outputs, wallet="nosuchwallet")
        self.assert_rpc_error(-22, node.wallet_rpc, "walletprocesspsbt", "not base64!")
        self.assert_rpc_error(-22, node.rpc, "finalizepsbt", "cHNidP8=")

        # Unsigned, finalizepsbt reports incomplete; sign without finalizing, then finalize.
        assert_equal(node.rpc("finalizepsbt", funded["psbt"])["complete"], False)
        signed = node.wallet_rpc("walletprocesspsbt", funded["psbt"], True, "ALL", True, False)
        assert_equal(signed["complete"], False, "not final without finalize")
        partial = node.rpc("decodepsbt", signed["psbt"])["inputs"]
        assert_true(all(len(i.get("partial_signatures", {})) == 1 for i in partial), f"partial sigs {partial}")
        final = node.rpc("finalizepsbt", signed["psbt"])
        assert_equal(final["complete"], True)
        tx = Tx.deserialize(bytes.fromhex(final["hex"]))
        assert_equal(tx.vout[0].script_pubkey, funding_script)
        assert_equal(tx.vout[0].value, 400_000)
        assert_equal({(i.txid, i.vout) for i in tx.vin}, locked, "the locked coins are the inputs")
        assert_true(all(i.witness and not i.script_sig for i in tx.vin), "native segwit inputs only")
        # walletprocesspsbt finalizes by default and returns the same transaction.
        assert_equal(node.wallet_rpc("walletprocesspsbt", funded["psbt"])["hex"], final["hex"])

        [accept] = node.rpc("testmempoolaccept", [final["hex"]])
        assert_equal(accept["allowed"], True, f"testmempoolaccept: {accept}")
        assert_equal(btc_to_sat(accept["fees"]["base"]), fee)
        assert_true(fee >= 2 * accept["vsize"], f"fee {fee} below 2 sat/vB for vsize {accept['vsize']}")

        # Abandon: unlock, lock again by hand, then broadcast; a spent coin is no longer locked.
        outpoints = [{"txid": t, "vout": n} for t, n in locked]
        assert_equal(node.wallet_rpc("lockunspent", True, outpoints), True)
        assert_equal(node.wallet_rpc("listlockunspent"), [])
        self.assert_rpc_error(-8, node.wallet_rpc, "lockunspent", True, outpoints)  # expected locked output
        assert_equal(node.wallet_rpc("lockunspent", False, outpoints), True)
        self.assert_rpc_error(-8, node.wallet_rpc, "lockunspent", False, outpoints)  # already locked
        self.assert_rpc_error(-8, node.wallet_rpc, "lockunspent", False, [{"txid": "11" * 32, "vout": 0}])
        self.assert_rpc_error(-8, node.wallet_rpc, "lockunspent", False, [{"txid": outpoints[0]["txid"], "vout": 99}])
        assert_equal(node.rpc("sendrawtransaction", final["hex"]), tx.txid())
        assert_equal(node.wallet_rpc("listlockunspent"), [], "broadcast spends (and unlocks) the coins")
        self.assert_rpc_error(-8, node.wallet_rpc, "lockunspent", False, outpoints)  # expected unspent output
        node.mine(1)
        assert_equal(node.rpc("getrawtransaction", tx.txid(), True)["confirmations"], 1)

        # Locked coins are not spent by the wallet's other funding paths either.
        [coin] = [u for u in node.wallet_rpc("listunspent") if u["txid"] == tx.txid()]
        node.wallet_rpc("lockunspent", False, [{"txid": coin["txid"], "vout": coin["vout"]}])
        for _ in range(3):
            sent = node.rpc("getrawtransaction", node.wallet_rpc("sendtoaddress", node.new_address(), 0.1), True)
            assert_true((coin["txid"], coin["vout"]) not in {(i["txid"], i["vout"]) for i in sent["vin"]},
                        "sendtoaddress avoided the locked coin")
        assert_equal(node.wallet_rpc("lockunspent", True), True)
        assert_equal(node.wallet_rpc("listlockunspent"), [])
        node.mine(1)

    def test_sendrawtransaction_errors(self):
        node = self.bitcoind
        self.assert_rpc_error(-22, node.rpc, "sendrawtransaction", "00")
        self.assert_rpc_error(-22, node.rpc, "sendrawtransaction", "zz")
        self.assert_rpc_error(-5, node.rpc, "generatetoaddress", 1, "not-an-address")
        self.assert_rpc_error(-8, node.rpc, "getblockhash", 10_000)
        self.assert_rpc_error(-5, node.rpc, "getblockheader", "00" * 32)
        self.assert_rpc_error(-5, node.rpc, "getrawtransaction", "00" * 32)
        self.assert_rpc_error(-32601, node.rpc, "nosuchmethod")

        missing = Tx(vin=[TxIn("11" * 32, 0)], vout=[TxOut(10_000, self.key_script)])
        self.assert_rpc_error(-25, node.rpc, "sendrawtransaction", missing.hex())
        spent_input = self.sent_tx["vin"][0]
        spent = Tx(vin=[TxIn(spent_input["txid"], spent_input["vout"])], vout=[TxOut(10_000, self.key_script)])
        self.assert_rpc_error(-25, node.rpc, "sendrawtransaction", spent.hex())
        self.assert_rpc_error(-27, node.rpc, "sendrawtransaction", self.sent_tx["hex"])

        txid, vout, value = self.fund(self.key_script, 100_000)
        dust = self.spend_tx(txid, vout, value, self.key_script, fee=value - 100)
        dust.sign_p2wpkh(0, value, self.key)
        err = self.assert_rpc_error(-26, node.rpc, "sendrawtransaction", dust.hex())
        assert_true("dust" in err.message, f"dust reason: {err.message}")

        height = self.height()
        nonfinal = self.spend_tx(txid, vout, value, self.key_script, sequence=0xFFFFFFFE, locktime=height + 10)
        nonfinal.sign_p2wpkh(0, value, self.key)
        err = self.assert_rpc_error(-26, node.rpc, "sendrawtransaction", nonfinal.hex())
        assert_true("non-final" in err.message, f"non-final reason: {err.message}")

        good = self.spend_tx(txid, vout, value, self.key_script)
        good.sign_p2wpkh(0, value, self.key)
        assert_equal(node.rpc("sendrawtransaction", good.hex()), good.txid())
        # Already in the mempool is success in Core.
        assert_equal(node.rpc("sendrawtransaction", good.hex()), good.txid())
        node.mine(1)
        self.key_coin = (good.txid(), 0, good.vout[0].value)

    def test_testmempoolaccept(self):
        node = self.bitcoind
        txid, vout, value = self.key_coin
        good = self.spend_tx(txid, vout, value, self.key_script)
        good.sign_p2wpkh(0, value, self.key)
        [result] = node.rpc("testmempoolaccept", [good.hex()])
        assert_equal(result["allowed"], True, f"testmempoolaccept: {result}")
        assert_equal(result["txid"], good.txid())
        assert_equal(result["wtxid"], good.wtxid())
        assert_equal(result["vsize"], good.vsize())
        assert_equal(btc_to_sat(result["fees"]["base"]), FEE)
        assert_true(good.txid() not in node.rpc("getrawmempool"), "testmempoolaccept must not add")

        dust = self.spend_tx(txid, vout, value, self.key_script, fee=value - 100)
        dust.sign_p2wpkh(0, value, self.key)
        [result] = node.rpc("testmempoolaccept", [dust.hex()])
        assert_equal(result["allowed"], False)
        assert_equal(result["reject-reason"], "dust")
        missing = Tx(vin=[TxIn("22" * 32, 1)], vout=[TxOut(10_000, self.key_script)])
        [result] = node.rpc("testmempoolaccept", [missing.hex()])
        assert_equal(result["reject-reason"], "missing-inputs")

    def test_p2wsh_2of2(self):
        node = self.bitcoind
        key_a = PrivateKey.from_seed(b"funding a")
        key_b = PrivateKey.from_seed(b"funding b")
        pub_a, pub_b = key_a.pubkey().serialize(), key_b.pubkey().serialize()
        witness_script = multisig_2of2_script(pub_a, pub_b)
        txid, vout, value = self.fund(p2wsh_script(witness_script), 1_000_000)
        spend = self.spend_tx(txid, vout, value, self.key_script)
        sig_a = spend.sign_p2wsh(0, witness_script, value, key_a)
        sig_b = spend.sign_p2wsh(0, witness_script, value, key_b)
        ordered = [sig_a, sig_b] if pub_a < pub_b else [sig_b, sig_a]

        spend.vin[0].witness = [b""] + ordered[::-1] + [witness_script]
        err = self.assert_rpc_error(-26, node.rpc, "sendrawtransaction", spend.hex())
        self.log(f"misordered 2-of-2 signatures rejected: {err.message}")
        wrong_key = spend.sign_p2wsh(0, witness_script, value, PrivateKey.from_seed(b"mallory"))
        spend.vin[0].witness = [b"", ordered[0], wrong_key, witness_script]
        err = self.assert_rpc_error(-26, node.rpc, "sendrawtransaction", spend.hex())
        self.log(f"wrong-key 2-of-2 signature rejected: {err.message}")

        err = self.assert_rpc_error(-25, node.rpc, "generateblock", node.new_address(), [spend.hex()])
        self.log(f"block with the invalid spend rejected: {err.message}")

        spend.vin[0].witness = [b""] + ordered + [witness_script]
        assert_equal(node.rpc("sendrawtransaction", spend.hex()), spend.txid())
        node.mine(1)
        assert_equal(node.rpc("getrawtransaction", spend.txid(), True)["confirmations"], 1)

    def test_csv(self):
        node = self.bitcoind
        delay = 5
        witness_script = csv_script(delay, self.key.pubkey().serialize())
        txid, vout, value = self.fund(p2wsh_script(witness_script), 500_000)  # 1 confirmation

        def spend():
            tx = self.spend_tx(txid, vout, value, self.key_script, sequence=delay)
            tx.vin[0].witness = [tx.sign_p2wsh(0, witness_script, value, self.key), witness_script]
            return tx

        node.mine(delay - 2)  # delay - 1 confirmations: one block short
        tx = spend()
        err = self.assert_rpc_error(-26, node.rpc, "sendrawtransaction", tx.hex())
        assert_true("non-BIP68-final" in err.message, f"CSV reason: {err.message}")
        self.log(f"CSV spend one block early rejected: {err.message}")
        node.mine(1)
        assert_equal(node.rpc("sendrawtransaction", tx.hex()), tx.txid())
        node.mine(1)

    def test_cltv(self):
        node = self.bitcoind
        lock_height = self.height() + 5
        witness_script = cltv_script(lock_height, self.key.pubkey().serialize())
        txid, vout, value = self.fund(p2wsh_script(witness_script), 500_000)
        tx = self.spend_tx(txid, vout, value, self.key_script, sequence=0xFFFFFFFE, locktime=lock_height)
        tx.vin[0].witness = [tx.sign_p2wsh(0, witness_script, value, self.key), witness_script]
        node.mine(lock_height - 1 - self.height())  # next block would be lock_height: still non-final
        err = self.assert_rpc_error(-26, node.rpc, "sendrawtransaction", tx.hex())
        assert_true("non-final" in err.message, f"CLTV reason: {err.message}")
        self.log(f"CLTV spend one block early rejected: {err.message}")
        node.mine(1)
        assert_equal(node.rpc("sendrawtransaction", tx.hex()), tx.txid())
        node.mine(1)

    def test_invalidate_reconsider(self):
        node = self.bitcoind
        zmq = self.zmq
        txid = node.wallet_rpc("sendtoaddress", node.new_address(), 0.5)
        [tip] = node.mine(1)
        parent = node.rpc("getblockheader", tip)["previousblockhash"]
        zmq.drain()

        node.rpc("invalidateblock", tip)
        assert_equal(node.rpc("getbestblockhash"), parent)
        zmq.wait_for(lambda n: n.topic == "sequence" and n.label() == "D" and n.hash_hex() == tip)
        self.wait_until(lambda: txid in node.rpc("getrawmempool"), timeout=10,
                        message="disconnected block's transaction returns to the mempool")
        assert_equal(node.rpc("getblockheader", tip)["confirmations"], -1)

        node.rpc("reconsiderblock", tip)
        assert_equal(node.rpc("getbestblockhash"), tip)
        zmq.wait_for(lambda n: n.topic == "sequence" and n.label() == "C" and n.hash_hex() == tip)
        zmq.wait_for(lambda n: n.topic == "hashblock" and n.hash_hex() == tip)
        assert_true(txid not in node.rpc("getrawmempool"), "reconnected tx leaves the mempool")
        assert_equal(node.rpc("getrawtransaction", txid, True)["blockhash"], tip)

    def test_kill_restart(self):
        node = self.bitcoind
        node.mine(1)  # nothing pending: the wallet balance is all confirmed
        height = self.height()
        tip = node.rpc("getbestblockhash")
        balance = node.wallet_rpc("getbalance")
        self.zmq.sub.close()
        node.flush()
        node.kill()
        node.start()
        if node.persists_chain:
            assert_equal(self.height(), height, "height after kill/restart")
            assert_equal(node.rpc("getbestblockhash"), tip)
            assert_equal(node.wallet_rpc("getbalance"), balance, "wallet balance after kill/restart")
        else:
            assert_equal(self.height(), 0, "in-memory stand-in restarts from genesis")
        node.mine(1)
        assert_equal(self.height(), (height if node.persists_chain else 0) + 1)

        # A clean stop keeps the mempool (Core's mempool.dat) and removes the cookie.
        txid = node.wallet_rpc("sendtoaddress", node.new_address(), 0.25) if node.persists_chain else None
        node.stop()
        assert_true(not os.path.exists(node.cookie_path), "cookie removed on clean stop")
        node.start()
        assert_equal(node.rpc("getblockchaininfo")["chain"], "regtest")
        if txid:
            self.wait_until(lambda: txid in node.rpc("getrawmempool"), timeout=30,
                            message="mempool reloaded after a clean restart")


if __name__ == "__main__":
    RegtestNodeTest().main()
