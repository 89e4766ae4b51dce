#!/usr/bin/env python3
"""On-chain enforcement against Core Lightning, each story on its own channel from sidebolt S:

- L0 cheats: it hands out its commitment (dev-sign-last-tx), pays S, then publishes the revoked
  one. S's penalty is in bitcoind's mempool before any block and confirms, paying S's wallet.
- S cheats: S publishes a commitment it revoked (dev-signlastcommitment); Core Lightning L1
  penalizes it: the cheater's to_local is spent with the revocation key (witness `<sig> 1
  <script>`) long before its CSV.
- L2 force-closes (dev-fail): S sweeps its to_remote after a block.
- S force-closes on L0 (close unilateral): Core Lightning's wallet takes its side, and S sweeps
  its to_local once L0's to_self_delay has passed.

Needs LIGHTNINGD and a real bitcoind; skipped otherwise."""

from test_framework.framework import SideboltTest
from test_framework.util import TestFailure, assert_equal, assert_true

CAPACITY = 400000
# Core Lightning's --watchtime-blocks: the to_self_delay it asks of S.
CLN_TO_SELF_DELAY = 6


class InteropClnOnchainTest(SideboltTest):
    def set_test_params(self):
        self.num_nodes = 1
        self.extra_args = [["-developer"]]
        self.num_cln_nodes = 3
        self.cln_extra_args = [["--developer", "--dev-bitcoind-poll=1", f"--watchtime-blocks={CLN_TO_SELF_DELAY}"]] * 3

    def wait_normal(self, cln, channel_id):
        self.wait_channel_normal(self.nodes[0], channel_id)
        self.wait_until(lambda: (c := cln.channel(channel_id)) and c["state"] == "CHANNELD_NORMAL",
                        timeout=90, message=f"{cln} never saw {channel_id} normal: {cln.channel(channel_id)}")

    def open_to(self, sb, cln):
        cid = sb.cli("fundchannel", cln.node_id, str(CAPACITY))["channel_id"]
        self.bitcoind.mine(6)
        self.wait_normal(cln, cid)
        return cid

    def s_pays(self, sb, cln, cid, amount_msat, label):
        inv = cln.cli("invoice", amount_msat=amount_msat, label=label, description=label)
        assert_equal(sb.cli("pay", inv["bolt11"])["status"], "complete")
        self.wait_until(lambda: sb.channel(cid)["pending_htlcs"] == 0 and cln.channel(cid)["htlcs"] == [], timeout=30,
                        message="the payment never settled on both sides")

    def cln_pays(self, sb, cln, cid, amount_msat, label):
        inv = sb.cli("invoice", str(amount_msat), label, label)
        assert_equal(cln.cli("pay", inv["bolt11"])["status"], "complete")
        self.wait_until(lambda: sb.channel(cid)["pending_htlcs"] == 0 and cln.channel(cid)["htlcs"] == [], timeout=30,
                        message="the payment never settled on both sides")

    def onchain(self, sb, cid):
        return sb.channel(cid).get("onchain")

    def our_output(self, sb, cid, duty):
        return next((o for o in (self.onchain(sb, cid) or {}).get("outputs", []) if o["duty"] == duty), None)

    def wallet_owns_outputs(self, txid):
        tx = self.bitcoind.rpc("getrawtransaction", txid, True)
        coins = [u for u in self.bitcoind.wallet_rpc("listunspent", 0) if u["txid"] == txid]
        assert_equal(sorted(u["vout"] for u in coins), [o["n"] for o in tx["vout"]], f"{txid}: outputs not all the wallet's")
        return sum(round(u["amount"] * 100_000_000) for u in coins)

    def spender(self, txid, vout):
        """The mempool transaction spending txid:vout, or the confirmed one (by scanning recent blocks)."""
        found = self.bitcoind.rpc("gettxspendingprevout", [{"txid": txid, "vout": vout}])[0]
        if "spendingtxid" in found:
            return found["spendingtxid"]
        tip = self.bitcoind.rpc("getblockcount")
        for height in range(max(0, tip - 20), tip + 1):
            block = self.bitcoind.rpc("getblock", self.bitcoind.rpc("getblockhash", height), 2)
            for tx in block["tx"]:
                if any(i.get("txid") == txid and i.get("vout") == vout for i in tx["vin"]):
                    return tx["txid"]
        return None

    def wait_spent(self, txid, vout, blocks, message):
        """The spender of txid:vout, mining a block after each 5 s it is not seen, at most `blocks`."""
        for _ in range(blocks):
            try:
                return self.wait_until(lambda: self.spender(txid, vout), timeout=5, interval=0.5)
            except TestFailure:
                self.bitcoind.mine(1)
        raise TestFailure(message)

    def run_test(self):
        sb = self.nodes[0]
        l0, l1, l2 = self.cln_nodes
        self.bitcoind.mine(101)
        for cln in self.cln_nodes:
            # Core Lightning asserts when a channel opens before it has followed any block.
            self.wait_until(lambda: cln.cli("getinfo")["blockheight"] >= 101, timeout=60,
                            message=f"{cln} never followed the chain")
            sb.cli("connect", cln.p2p_address)
        self.cln_cheats(sb, l0)
        self.sidebolt_cheats(sb, l1)
        self.cln_force_closes(sb, l2)
        self.sidebolt_force_closes(sb, l0)
        for cln in self.cln_nodes:
            broken = [line for line in cln.read_log().splitlines() if " BROKEN " in line]
            assert_true(not broken, f"{cln} logged a broken peer or protocol error: {broken}")

    def cln_cheats(self, sb, l0):
        self.log("S opens to L0 and pays it 150000 sat; L0 keeps that commitment and pays 100000 sat back")
        cid = self.open_to(sb, l0)
        self.s_pays(sb, l0, cid, 150_000_000, "to-l0")
        revoked = l0.cli("dev-sign-last-tx", id=sb.cli("getinfo")["id"])["tx"]
        self.cln_pays(sb, l0, cid, 100_000_000, "back-from-l0")
        self.log("L0's revoked commitment goes to bitcoind: S must penalize it from the mempool")
        txid = self.bitcoind.rpc("sendrawtransaction", revoked)
        onchain = self.wait_until(lambda: (o := self.onchain(sb, cid)) and o.get("penalty_broadcast") and o, timeout=30,
                                  interval=0.01, message="S never broadcast a penalty")
        assert_equal(onchain["spend_txid"], txid)
        assert_equal(onchain["kind"], "revoked_remote_commitment")
        self.wait_until(lambda: onchain["penalty_txid"] in self.bitcoind.rpc("getrawmempool"), timeout=30,
                        message="bitcoind refused S's penalty")
        self.bitcoind.mine(1)
        penalty_sat = self.wallet_owns_outputs(onchain["penalty_txid"])
        # L0's 150000 sat of the revoked state, less the penalty's fee.
        assert_true(150000 - 2000 < penalty_sat < 150000, f"penalty pays {penalty_sat}")
        to_remote = self.wait_until(lambda: (o := self.our_output(sb, cid, "to_remote")) and o["broadcast"] and o,
                                    timeout=30, message="S never swept its to_remote")
        self.bitcoind.mine(1)
        swept = self.wallet_owns_outputs(to_remote["txid"])
        assert_true(CAPACITY - 150000 - 5000 < swept < CAPACITY - 150000, f"to_remote sweep pays {swept}")

    def sidebolt_cheats(self, sb, l1):
        self.log("S opens to L1, keeps its commitment, pays L1 150000 sat, then publishes the revoked one")
        cid = self.open_to(sb, l1)
        revoked = sb.cli("dev-signlastcommitment", cid)
        self.s_pays(sb, l1, cid, 150_000_000, "to-l1")
        self.bitcoind.rpc("sendrawtransaction", revoked["tx"])
        self.bitcoind.mine(1)
        commitment = self.bitcoind.rpc("getrawtransaction", revoked["txid"], True)
        # S's to_local: the one output of at least the old balance's size but the anchors.
        to_local = max(commitment["vout"], key=lambda o: o["value"])["n"]
        self.log("Core Lightning must take S's to_local with the revocation key before its CSV")
        spender = self.wait_spent(revoked["txid"], to_local, CLN_TO_SELF_DELAY - 2, "Core Lightning never spent the revoked to_local")
        witness = self.bitcoind.rpc("getrawtransaction", spender, True)["vin"]
        witness = next(i for i in witness if i["txid"] == revoked["txid"] and i["vout"] == to_local)["txinwitness"]
        assert_equal(witness[1], "01", f"a penalty spends to_local with the revocation branch: {witness}")

    def cln_force_closes(self, sb, l2):
        self.log("S opens to L2 and pays it 100000 sat; L2 fails the channel and publishes its commitment")
        cid = self.open_to(sb, l2)
        self.s_pays(sb, l2, cid, 100_000_000, "to-l2")
        l2.cli("dev-fail", id=sb.cli("getinfo")["id"])
        # Its kind is known once bitcoind's wallet gave the sweep address.
        onchain = self.wait_until(lambda: (o := self.onchain(sb, cid)) and o["kind"] and o, timeout=30,
                                  message="S never resolved L2's commitment")
        assert_equal(onchain["kind"], "remote_commitment")
        self.bitcoind.mine(1)
        sweep = self.wait_until(lambda: (o := self.our_output(sb, cid, "to_remote")) and o["broadcast"] and o,
                                timeout=30, message="S never swept its to_remote")
        self.wait_until(lambda: sweep["txid"] in self.bitcoind.rpc("getrawmempool"), timeout=30,
                        message="bitcoind refused S's sweep")
        self.bitcoind.mine(1)
        swept = self.wallet_owns_outputs(sweep["txid"])
        assert_true(CAPACITY - 100000 - 5000 < swept < CAPACITY - 100000, f"to_remote sweep pays {swept}")

    def sidebolt_force_closes(self, sb, l0):
        self.log("S opens a second channel to L0, pays it 100000 sat and closes it unilaterally")
        cid = self.open_to(sb, l0)
        self.s_pays(sb, l0, cid, 100_000_000, "to-l0-again")
        closed = sb.cli("-named", "close", f"id={cid}", "unilateral=true")
        self.wait_until(lambda: closed["closing_txid"] in self.bitcoind.rpc("getrawmempool"), timeout=30,
                        message="bitcoind refused S's commitment")
        self.bitcoind.mine(1)
        to_local = self.wait_until(lambda: self.our_output(sb, cid, "local_delayed"), timeout=30,
                                   message="S never resolved its commitment")
        assert_true(not to_local["broadcast"], "to_local swept before its CSV")
        self.bitcoind.mine(CLN_TO_SELF_DELAY - 1)
        sweep = self.wait_until(lambda: (o := self.our_output(sb, cid, "local_delayed")) and o["broadcast"] and o,
                                timeout=30, message="S never swept its to_local")
        self.wait_until(lambda: sweep["txid"] in self.bitcoind.rpc("getrawmempool"), timeout=30,
                        message="bitcoind refused S's to_local sweep")
        self.bitcoind.mine(1)
        swept = self.wallet_owns_outputs(sweep["txid"])
        assert_true(CAPACITY - 100000 - 5000 < swept < CAPACITY - 100000, f"to_local sweep pays {swept}")
        self.log("Core Lightning's wallet holds its own side of S's commitment")
        commitment = self.bitcoind.rpc("getrawtransaction", closed["closing_txid"], True)
        theirs = next(o["n"] for o in commitment["vout"] if round(o["value"] * 1e8) == 100000)
        # Its to_remote (1-block CSV under anchors) is a coin of its wallet, spent when it needs it.
        self.wait_until(lambda: any(o["txid"] == closed["closing_txid"] and o["output"] == theirs
                                    for o in l0.cli("listfunds")["outputs"]),
                        timeout=30, message="Core Lightning's wallet never took its to_remote")

if __name__ == "__main__":
    InteropClnOnchainTest().main()
