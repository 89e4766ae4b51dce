#!/usr/bin/env python3
"""Our commitment with an HTLC at stake, missing blocks, is pulled in by a CPFP child (anchors).

B dies with A's HTLC committed; A closes unilaterally. Blocks are then mined with generateblock
so that they leave A's commitment out. After the first, A spends its anchor output in a child
that bitcoind's wallet funds (an input and change added behind the anchor's, fundrawtransaction)
so that commitment and child together pay a higher feerate; after the second, the child is
replaced by one paying more, and bitcoind evicts the first. A normal block then confirms the
commitment with the newest child, whose change is back in A's wallet.

Real bitcoind only: the stand-in cannot fund a transaction that already has inputs, and has no
replacement."""

import time

from test_framework.framework import SideboltTest
from test_framework.onchain_util import OnchainHelpers
from test_framework.util import SkipTest, assert_equal, assert_true

COMMITMENT_SIGNED = 132
AMOUNT_MSAT = 50_000_000


class OnchainCpfpTest(OnchainHelpers, SideboltTest):
    def set_test_params(self):
        self.num_nodes = 2

    def anchor(self, node, cid):
        onchain = node.channel(cid).get("onchain") or {}
        return next((o for o in onchain.get("outputs", []) if o["duty"] == "anchor"), None)

    def run_test(self):
        if self.bitcoind.is_standin:
            raise SkipTest("CPFP through bitcoind's wallet needs fundrawtransaction with external inputs (real bitcoind)")
        a, b = self.nodes
        b_id = b.cli("getinfo")["id"]
        self.bitcoind.mine(101)
        a.cli("connect", b.p2p_address)
        cid = a.cli("fundchannel", b_id, "500000")["channel_id"]
        self.bitcoind.mine(3)
        for node in (a, b):
            self.wait_channel_normal(node, cid)

        self.log("B dies with A's HTLC committed; A closes unilaterally")
        inv = b.cli("invoice", str(AMOUNT_MSAT), "held", "never fulfilled")
        b.stop()
        b.start(extra_args=[f"-devcrashaftersend={COMMITMENT_SIGNED}"])
        self.wait_channel_normal(b, cid)
        self.wait_channel_normal(a, cid)
        route = [{"id": b_id, "channel": a.channel(cid)["short_channel_id"], "amount_msat": AMOUNT_MSAT, "delay": 40}]
        assert_equal(a.cli("sendpay", route, inv["payment_hash"], inv["payment_secret"])["status"], "pending")
        self.wait_until(lambda: b.process.poll() is not None, timeout=60, message="B never crashed")
        b.process = None
        self.wait_until(lambda: a.channel(cid)["pending_htlcs"] == 1, timeout=30, message="the HTLC never got committed")
        a.cli("-named", "close", f"id={cid}", "unilateral=true")
        commitment = self.wait_until(lambda: self.funding_spenders(cid), timeout=30,
                                     message="A's commitment never reached the mempool")[0]
        anchor = self.wait_until(lambda: self.anchor(a, cid), timeout=30, message="A never resolved its commitment")
        assert_equal(a.channel(cid)["onchain"]["kind"], "local_commitment")
        parent = self.bitcoind.rpc("getmempoolentry", commitment)
        parent_fee = round(parent["fees"]["base"] * 100_000_000)
        assert_equal(anchor["txid"] if "txid" in anchor else None, None, "a child before any block was missed")

        children, fees = [], []
        for missed in (1, 2):
            self.log(f"a block without the commitment ({missed}): A's anchor pays for it")
            self.mine_only([])
            shown = self.wait_until(lambda: (o := self.anchor(a, cid)) and o.get("txid") and o["txid"] not in children and o,
                                    timeout=30, message="A never spent its anchor")
            child = shown["txid"]
            self.wait_until(lambda: self.in_mempool(child), timeout=30,
                            message="the child never reached the mempool")
            tx = self.bitcoind.rpc("getrawtransaction", child, True)
            assert_equal((tx["vin"][0]["txid"], tx["vin"][0]["vout"]), (commitment, anchor["output"]))
            assert_true(len(tx["vin"]) >= 2, "the wallet added no input")
            entry = self.bitcoind.rpc("getmempoolentry", child)
            fee = round(entry["fees"]["base"] * 100_000_000)
            package_vsize = parent["vsize"] + entry["vsize"]
            package_rate = (parent_fee + fee) / package_vsize
            self.log(f"  child {child[:16]} pays {fee} sat: the package pays {package_rate:.1f} sat/vB "
                     f"(the commitment alone {parent_fee / parent['vsize']:.1f})")
            # The package meets the feerate A shows (sat/kw; 250 of it make 1 sat/vB), within rounding.
            assert_true(package_rate >= shown["feerate_per_kw"] / 250 * 0.99, f"{package_rate} sat/vB < {shown['feerate_per_kw']} sat/kw")
            descendant = round(self.bitcoind.rpc("getmempoolentry", commitment)["fees"]["descendant"] * 100_000_000)
            assert_equal(descendant, parent_fee + fee)
            if children:
                assert_true(fee >= fees[-1] + entry["vsize"], f"replacement fee {fee} after {fees[-1]}")
                assert_true(not self.in_mempool(children[-1]), "the replaced child is still there")
                assert_equal(shown["replaced"], len(children))
            children.append(child)
            fees.append(fee)

        self.log("a normal block confirms the commitment with the newest child")
        self.bitcoind.mine(1)
        for txid in (commitment, children[-1]):
            assert_equal(self.bitcoind.rpc("getrawtransaction", txid, True).get("confirmations", 0), 1)
        tx = self.bitcoind.rpc("getrawtransaction", children[-1], True)
        coins = {(u["txid"], u["vout"]) for u in self.bitcoind.wallet_rpc("listunspent", 0)}
        assert_true(all((children[-1], o["n"]) in coins for o in tx["vout"]), "the child's outputs are not all the wallet's")
        self.log("and no child after that")
        self.bitcoind.mine(1)
        time.sleep(1)
        assert_equal(self.anchor(a, cid)["txid"], children[-1])


if __name__ == "__main__":
    OnchainCpfpTest().main()
