#!/usr/bin/env python3
"""A commitment below bitcoind's mempool floor gets in as a package with its anchor child.

A and B open a channel and A pays B, so both have outputs. B goes away, and bitcoind is
restarted with -minrelaytxfee at 10 sat/vB, far above the feerate the commitment was signed at:
fees rose since. A closes unilaterally. bitcoind refuses the commitment alone, so A, without waiting for a
block, spends its anchor in a child funded by bitcoind's wallet that pays for both, and its
broadcaster, finding the child's parent missing, hands both to `submitpackage`. Both are in the
mempool before any block, and confirm in the next. B's sweep of its output and, after B's delay,
A's sweep of its own pay at least the new floor and confirm too.

Real bitcoind only: the stand-in has neither submitpackage nor fundrawtransaction with inputs."""

from test_framework.framework import SideboltTest
from test_framework.onchain_util import OnchainHelpers
from test_framework.util import SkipTest, assert_equal, assert_true

TO_SELF_DELAY = 6
PAYMENT_MSAT = 150_000_000
FLOOR_BTC_PER_KVB = "0.0001"
FLOOR_SAT_PER_VB = 10


class OnchainPackageTest(OnchainHelpers, SideboltTest):
    def set_test_params(self):
        self.num_nodes = 2
        # B makes A wait TO_SELF_DELAY blocks for its to_local.
        self.extra_args = [[], [f"-channel.toselfdelay={TO_SELF_DELAY}"]]

    def feerate_sat_per_vb(self, txid):
        entry = self.bitcoind.rpc("getmempoolentry", txid)
        return round(entry["fees"]["base"] * 100_000_000) / entry["vsize"]

    def child_of(self, txid):
        """A mempool transaction spending an output of txid, or None."""
        for m in self.bitcoind.rpc("getrawmempool"):
            if any(i.get("txid") == txid for i in self.bitcoind.rpc("getrawtransaction", m, True)["vin"]):
                return m
        return None

    def run_test(self):
        if self.bitcoind.is_standin:
            raise SkipTest("package relay (submitpackage) and wallet-funded CPFP need real bitcoind")
        a, b = self.nodes
        b_id = b.cli("getinfo")["id"]
        self.bitcoind.mine(101)
        a.cli("connect", b.p2p_address)
        cid = a.cli("fundchannel", b_id, "500000")["channel_id"]
        self.bitcoind.mine(3)
        for node in (a, b):
            self.wait_channel_normal(node, cid)
        inv = b.cli("invoice", str(PAYMENT_MSAT), "before", "fees rise")
        assert_equal(a.cli("pay", inv["bolt11"])["status"], "complete")
        self.wait_until(lambda: a.channel(cid)["pending_htlcs"] == 0 and b.channel(cid)["pending_htlcs"] == 0, timeout=30,
                        message="the payment never settled")
        signed_at = a.channel(cid)["feerate_per_kw"]

        self.log("B goes away: only A's commitment competes")
        b.stop()
        self.log(f"fees rise: bitcoind restarted with -minrelaytxfee={FLOOR_BTC_PER_KVB} (the commitment pays {signed_at} sat/kw)")
        self.bitcoind.extra_args.append(f"-minrelaytxfee={FLOOR_BTC_PER_KVB}")
        self.bitcoind.restart()
        assert_equal(self.bitcoind.rpc("getmempoolinfo")["minrelaytxfee"], float(FLOOR_BTC_PER_KVB))
        self.mine(1)
        assert_true(signed_at * 4 / 1000 < FLOOR_SAT_PER_VB, f"the commitment at {signed_at} sat/kw is not below the floor")

        self.log("A closes unilaterally: the commitment and its anchor child enter the mempool together, before any block")
        tip = self.tip()
        closed = a.cli("-named", "close", f"id={cid}", "unilateral=true")
        commitment = closed["closing_txid"]
        child = self.wait_until(lambda: self.child_of(commitment), timeout=30,
                                message=f"A's commitment {commitment} and its child never reached the mempool")
        assert_equal(self.tip(), tip)
        child_tx = self.bitcoind.rpc("getrawtransaction", child, True)
        anchor = a.channel(cid)["onchain"]
        anchor_out = next(o for o in anchor["outputs"] if o["duty"] == "anchor")
        assert_equal((child_tx["vin"][0]["txid"], child_tx["vin"][0]["vout"]), (commitment, anchor_out["output"]))
        assert_true(len(child_tx["vin"]) >= 2, f"the wallet's input pays the child's fee: {child_tx}")
        parent_entry = self.bitcoind.rpc("getmempoolentry", commitment)
        child_entry = self.bitcoind.rpc("getmempoolentry", child)
        parent_rate = self.feerate_sat_per_vb(commitment)
        package_rate = (round((parent_entry["fees"]["base"] + child_entry["fees"]["base"]) * 100_000_000)
                        / (parent_entry["vsize"] + child_entry["vsize"]))
        self.log(f"commitment {parent_rate:.2f} sat/vB alone, with its child {package_rate:.2f} sat/vB")
        assert_true(parent_rate < FLOOR_SAT_PER_VB <= package_rate,
                    f"the package pays the floor, the commitment alone does not: {parent_rate}, {package_rate}")
        assert_true(a.log_contains("below the mempool's floor"), "A's log never said why the child was made")

        self.log("one block confirms both; B, back, sweeps its output and A its own after B's delay, at the new floor")
        self.mine(1)
        b.start()
        spend_height = self.tip()
        assert_equal(self.confirmed_height(commitment), spend_height)
        assert_equal(self.confirmed_height(child), spend_height)
        b_sweep = self.wait_broadcast(b, cid, "to_remote")["txid"]
        self.wait_mempool(b_sweep, "B's sweep")
        assert_true(self.feerate_sat_per_vb(b_sweep) >= FLOOR_SAT_PER_VB, "B's sweep pays less than the floor")
        self.mine(TO_SELF_DELAY - 1)
        a_sweep = self.wait_broadcast(a, cid, "local_delayed")["txid"]
        self.wait_mempool(a_sweep, "A's sweep")
        assert_true(self.feerate_sat_per_vb(a_sweep) >= FLOOR_SAT_PER_VB, "A's sweep pays less than the floor")
        self.mine(1)
        for txid in (b_sweep, a_sweep):
            assert_true(self.confirmed_height(txid) is not None, f"{txid} never confirmed")
        self.wallet_owns_outputs(a_sweep)
        self.wallet_owns_outputs(b_sweep)


if __name__ == "__main__":
    OnchainPackageTest().main()
