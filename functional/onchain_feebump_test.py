#!/usr/bin/env python3
"""A penalty that misses blocks is replaced at higher feerates before the cheater's CSV (BIP 125).

B keeps a commitment, revokes it, and publishes it. A's penalty enters the mempool. Blocks are
then mined with generateblock, which lets the test choose their transactions: the first takes
only the revoked commitment, the next two nothing. After each block without it A replaces its
penalty with one spending the same outputs at a higher fee; bitcoind evicts the one replaced.
The feerate climbs in even steps to its cap (1,000 sat/vB) in the last block before B's to_local
becomes B's (A makes B wait TO_SELF_DELAY blocks). A normal block then confirms the newest, and
A's wallet holds what B lost less that fee.

Real bitcoind only: the stand-in has no replacement (BIP 125)."""

import time

from test_framework.framework import SideboltTest
from test_framework.onchain_util import OnchainHelpers
from test_framework.util import SkipTest, assert_equal, assert_true

CAPACITY = 400000
TO_SELF_DELAY = 12
# 1,000 sat/vB in sat per 1000 weight units.
MAX_FEERATE = 250_000


class OnchainFeeBumpTest(OnchainHelpers, SideboltTest):
    def set_test_params(self):
        self.num_nodes = 2
        # A makes B, the cheater, wait TO_SELF_DELAY blocks for its to_local.
        self.extra_args = [[f"-channel.toselfdelay={TO_SELF_DELAY}"], ["-developer"]]

    def mempool_fee_sat(self, txid):
        """txid's own fee if it is in bitcoind's mempool, else None."""
        if not self.in_mempool(txid):
            return None
        return round(self.bitcoind.rpc("getmempoolentry", txid)["fees"]["base"] * 100_000_000)

    def spends(self, txid):
        return sorted((i["txid"], i["vout"]) for i in self.bitcoind.rpc("getrawtransaction", txid, True)["vin"])

    def run_test(self):
        if self.bitcoind.is_standin:
            raise SkipTest("replacement (BIP 125) needs real bitcoind")
        a, b = self.nodes
        b_id = b.cli("getinfo")["id"]
        self.bitcoind.mine(101)
        a.cli("connect", b.p2p_address)
        cid = a.cli("fundchannel", b_id, str(CAPACITY))["channel_id"]
        self.bitcoind.mine(3)
        for node in (a, b):
            self.wait_channel_normal(node, cid)

        self.log("A pays B 150000 sat; B keeps that commitment and pays 100000 back, revoking it")
        self.pay(a, b, 150_000_000, "before")
        self.wait_until(lambda: b.channel(cid)["to_us_msat"] == 150_000_000 and b.channel(cid)["pending_htlcs"] == 0,
                        timeout=30, message="B never settled the payment")
        revoked = b.cli("dev-signlastcommitment", cid)
        self.pay(b, a, 100_000_000, "after")
        self.wait_until(lambda: a.channel(cid)["pending_htlcs"] == 0 and b.channel(cid)["to_us_msat"] == 50_000_000,
                        timeout=30, message="the payment back never settled")

        self.log("B publishes it; A's penalty enters the mempool")
        assert_equal(self.bitcoind.rpc("sendrawtransaction", revoked["tx"]), revoked["txid"])
        first = self.wait_until(lambda: (o := a.channel(cid).get("onchain")) and o.get("penalty_broadcast") and o["penalty_txid"],
                                timeout=30, message="A never broadcast a penalty")
        first_fee = self.wait_until(lambda: self.mempool_fee_sat(first), timeout=30, message="the penalty never reached the mempool")
        inputs = self.spends(first)

        self.log("a block with the revoked commitment alone: the penalty misses it")
        self.mine_only([revoked["txid"]])
        spend_height = self.bitcoind.rpc("getblockcount")
        self.wait_until(lambda: a.channel(cid)["onchain"]["spend_height"] == spend_height, timeout=30,
                        message="A never saw the commitment confirm")
        assert_equal(a.channel(cid)["onchain"].get("penalty_replaced"), None, "replaced before it missed a block")

        # B's sweep of its to_local may enter block spend_height + TO_SELF_DELAY: the penalty
        # must be in the block before.
        deadline = spend_height + TO_SELF_DELAY - 1
        txids, fees = [first], [first_fee]
        while self.bitcoind.rpc("getblockcount") < deadline - 1:
            at_cap = a.channel(cid)["onchain"].get("penalty_feerate_per_kw") == MAX_FEERATE
            self.mine_only([])
            if at_cap:
                time.sleep(1)
                assert_equal(a.channel(cid)["onchain"]["penalty_replaced"], len(txids) - 1, "replaced past the cap")
                continue
            replaced = len(txids)
            self.log(f"an empty block: A replaces its penalty (replacement {replaced})")
            onchain = self.wait_until(lambda: (o := a.channel(cid)["onchain"]).get("penalty_replaced") == replaced and o,
                                      timeout=30, message=f"A never replaced its penalty a {replaced}. time")
            txid = onchain["penalty_txid"]
            fee = self.wait_until(lambda: self.mempool_fee_sat(txid), timeout=30, message="the replacement never reached the mempool")
            assert_equal(self.spends(txid), inputs, "a replacement spends what the penalty spent")
            vsize = self.bitcoind.rpc("getmempoolentry", txid)["vsize"]
            # BIP 125: more than the replaced one, by at least 1 sat/vB of its own size.
            assert_true(fee >= fees[-1] + vsize, f"replacement fee {fee} after {fees[-1]} ({vsize} vB)")
            assert_true(self.mempool_fee_sat(txids[-1]) is None, "the replaced penalty is still in the mempool")
            weight = self.bitcoind.rpc("getrawtransaction", txid, True)["weight"]
            assert_true(onchain["penalty_feerate_per_kw"] * weight // 1000 <= fee,
                        f"fee {fee} below the feerate shown ({onchain['penalty_feerate_per_kw']} sat/kw, {weight} WU)")
            self.log(f"  {txid[:16]} pays {fee} sat ({fee / vsize:.1f} sat/vB), {fee - fees[-1]} more")
            txids.append(txid)
            fees.append(fee)
        assert_equal(self.bitcoind.rpc("getblockcount"), deadline - 1)
        assert_equal(a.channel(cid)["onchain"]["penalty_feerate_per_kw"], MAX_FEERATE, "the last version pays the cap")

        self.log("a normal block confirms the newest penalty; A's wallet has B's to_local less its fee")
        self.bitcoind.mine(1)
        self.wait_until(lambda: self.bitcoind.rpc("getrawtransaction", txids[-1], True).get("confirmations", 0) == 1,
                        timeout=30, message="the newest penalty did not confirm")
        assert_equal(self.bitcoind.rpc("getblockcount"), deadline)
        commitment = self.bitcoind.rpc("getrawtransaction", revoked["txid"], True)
        cheater_sat = sum(round(commitment["vout"][n]["value"] * 100_000_000) for _, n in inputs)
        assert_equal(cheater_sat, 150000)
        coins = [u for u in self.bitcoind.wallet_rpc("listunspent", 0) if u["txid"] == txids[-1]]
        assert_equal(len(coins), 1, "the penalty pays one output of A's wallet")
        assert_equal(round(coins[0]["amount"] * 100_000_000), cheater_sat - fees[-1])
        self.wait_until(lambda: next(o for o in a.channel(cid)["onchain"]["outputs"] if o["duty"] == "penalty_to_local")["spent_by"]
                        == txids[-1], timeout=30, message="listchannels never showed the newest penalty as the spend")


if __name__ == "__main__":
    OnchainFeeBumpTest().main()
