#!/usr/bin/env python3
"""On-chain enforcement (BOLT 5) between two sidebolt daemons sharing bitcoind's wallet.

Breach: B keeps a commitment it later revokes (dev-signlastcommitment), then publishes it. A sees
it in bitcoind's mempool and has its penalty there before any block is mined; once mined, A also
sweeps its own to_remote output. Everything goes to addresses of bitcoind's wallet.

Unilateral close: A force-closes a second channel (close ... unilateral). B sweeps its to_remote
after one confirmation; A sweeps its to_local once B's to_self_delay has passed, not before.
listchannels shows each output's duty, when it becomes valid and what was broadcast.

close ... unilateraltimeout: with B there the close is mutual; with B gone, A waits the timeout
and then publishes its commitment."""

import time

from test_framework.framework import SideboltTest
from test_framework.onchain_util import OnchainHelpers
from test_framework.util import assert_equal, assert_true

CAPACITY = 400000
TO_SELF_DELAY = 6


class OnchainTest(OnchainHelpers, SideboltTest):
    def set_test_params(self):
        self.num_nodes = 2
        # B plays the cheater (it needs the dev- RPC) and makes A wait TO_SELF_DELAY blocks.
        self.extra_args = [[], ["-developer", f"-channel.toselfdelay={TO_SELF_DELAY}"]]

    def open_channel(self, a, b, b_id):
        cid = a.cli("fundchannel", b_id, str(CAPACITY))["channel_id"]
        self.bitcoind.mine(3)
        for node in (a, b):
            self.wait_channel_normal(node, cid)
        return cid

    def run_test(self):
        a, b = self.nodes
        a_id, b_id = (n.cli("getinfo")["id"] for n in self.nodes)
        self.bitcoind.mine(101)
        a.cli("connect", b.p2p_address)
        self.breach(a, b, b_id)
        unilateral = self.unilateral_close(a, b, b_id)
        self.close_with_timeout(a, b, b_id)
        self.irrevocably_resolved(a, *unilateral)

    def breach(self, a, b, b_id):
        self.log("A opens to B and pays it 150000 sat; B keeps that commitment")
        cid = self.open_channel(a, b, b_id)
        self.pay(a, b, 150_000_000, "before")
        self.wait_until(lambda: b.channel(cid)["to_us_msat"] == 150_000_000 and b.channel(cid)["pending_htlcs"] == 0,
                        timeout=30, message="B never settled the payment")
        err = a.cli_error("dev-signlastcommitment", cid)
        assert_equal(err["code"], -32601, f"dev- RPCs exist only with -developer: {err}")
        revoked = b.cli("dev-signlastcommitment", cid)
        self.log("B pays 100000 sat back: the kept commitment is now revoked")
        self.pay(b, a, 100_000_000, "after")
        self.wait_until(lambda: a.channel(cid)["pending_htlcs"] == 0 and b.channel(cid)["to_us_msat"] == 50_000_000,
                        timeout=30, message="the payment back never settled")

        self.log("B publishes the revoked commitment; A must answer from the mempool")
        sent_at = time.monotonic()
        assert_equal(self.bitcoind.rpc("sendrawtransaction", revoked["tx"]), revoked["txid"])
        onchain = self.wait_until(lambda: (o := self.onchain(a, cid)) and o.get("penalty_broadcast") and o, timeout=30,
                                  interval=0.005, message="A never broadcast a penalty")
        penalty = onchain["penalty_txid"]
        self.wait_until(lambda: self.in_mempool(penalty), timeout=30, interval=0.005,
                        message="the penalty never reached bitcoind's mempool")
        self.log(f"penalty {penalty[:16]} in the mempool {1000 * (time.monotonic() - sent_at):.0f} ms after the breach")
        assert_equal(onchain["kind"], "revoked_remote_commitment")
        assert_equal(onchain["spend_txid"], revoked["txid"])
        cheater = self.wait_until(lambda: (o := self.onchain(b, cid)) and o["kind"] and o, timeout=30,
                                  message="B never classified the commitment it published")
        assert_equal((cheater["kind"], cheater["outputs"]), ("revoked_local_commitment", []), "B has nothing to claim")
        assert_equal(onchain["spend_height"], None, "still unconfirmed: the penalty came from the mempool")
        assert_equal(a.channel(cid)["state"], "failed")
        duties = sorted(o["duty"] for o in onchain["outputs"])
        assert_equal(duties, ["anchor", "penalty_to_local", "to_remote"], f"outputs: {onchain['outputs']}")

        self.log("mined: the penalty confirms with the commitment, then A sweeps its to_remote (1-block CSV)")
        self.bitcoind.mine(1)
        to_remote = self.wait_until(
            lambda: (o := self.onchain(a, cid)) and next((x for x in o["outputs"] if x["duty"] == "to_remote" and x["broadcast"]), None),
            timeout=30, message="A never swept its to_remote")
        self.wait_until(lambda: self.in_mempool(to_remote["txid"]), timeout=30, message="to_remote sweep not in the mempool")
        self.bitcoind.mine(1)
        penalty_sat = self.wallet_owns_outputs(penalty, timeout=0)
        swept_sat = self.wallet_owns_outputs(to_remote["txid"], timeout=0)
        commitment = self.bitcoind.rpc("getrawtransaction", revoked["txid"], True)
        cheater_sat = next(round(o["value"] * 1e8) for o in commitment["vout"] if o["n"] == next(
            x["output"] for x in onchain["outputs"] if x["duty"] == "penalty_to_local"))
        # B's 150000 sat as of the revoked state, less the penalty's fee.
        assert_equal(cheater_sat, 150000)
        assert_true(cheater_sat - 2000 < penalty_sat < cheater_sat, f"penalty pays {penalty_sat} of {cheater_sat}")
        # A's balance then: the capacity less B's 150000, the commitment fee and two anchors.
        assert_true(CAPACITY - 150000 - 5000 < swept_sat < CAPACITY - 150000, f"to_remote sweep pays {swept_sat}")
        for txid in (penalty, to_remote["txid"]):
            assert_true(self.bitcoind.rpc("getrawtransaction", txid, True).get("confirmations", 0) >= 1, f"{txid} unconfirmed")
        self.log("listchannels follows each output to the spend that resolved it")
        tip = self.bitcoind.rpc("getblockcount")
        self.wait_until(lambda: all(o["spent_height"] is not None for o in self.onchain(a, cid)["outputs"] if o["duty"] != "anchor"),
                        timeout=30, message="spends of the outputs never shown confirmed")
        outputs = {o["duty"]: o for o in self.onchain(a, cid)["outputs"]}
        assert_equal((outputs["penalty_to_local"]["spent_by"], outputs["penalty_to_local"]["spent_height"]), (penalty, tip - 1))
        assert_equal((outputs["to_remote"]["spent_by"], outputs["to_remote"]["spent_height"]), (to_remote["txid"], tip))

    def unilateral_close(self, a, b, b_id):
        self.log("a second channel; A pays B 100000 sat, then closes it unilaterally")
        cid = self.open_channel(a, b, b_id)
        self.pay(a, b, 100_000_000, "second")
        self.wait_until(lambda: a.channel(cid)["pending_htlcs"] == 0 and b.channel(cid)["to_us_msat"] == 100_000_000,
                        timeout=30, message="the payment never settled")
        closed = a.cli("-named", "close", f"id={cid}", "unilateral=true")
        assert_equal(closed["type"], "unilateral")
        commitment = closed["closing_txid"]
        self.wait_until(lambda: self.in_mempool(commitment), timeout=30, message="A's commitment not in the mempool")
        self.wait_until(lambda: (o := self.onchain(a, cid)) and o["kind"] == "local_commitment", timeout=30,
                        message="A never resolved its own commitment")
        self.wait_until(lambda: (o := self.onchain(b, cid)) and o["kind"] == "remote_commitment", timeout=30,
                        message="B never recognized A's commitment")
        err = a.cli_error("-named", "close", f"id={cid}", "unilateral=true")
        assert_equal(err["code"], -104, f"closing a failed channel again: {err}")

        self.bitcoind.mine(1)
        height = self.bitcoind.rpc("getblockcount")
        self.log("B's to_remote is swept after one block; A's to_local waits for B's to_self_delay")
        b_sweep = self.wait_until(
            lambda: next((x for x in self.onchain(b, cid)["outputs"] if x["duty"] == "to_remote" and x["broadcast"]), None),
            timeout=30, message="B never swept its to_remote")
        # A follows the block on its own: B's sweep says nothing of when A took it in.
        to_local = self.wait_until(
            lambda: next((x for x in self.onchain(a, cid)["outputs"] if x["duty"] == "local_delayed" and x["valid_from_height"] is not None), None),
            timeout=30, message="A never saw its commitment confirmed")
        assert_equal(to_local["valid_from_height"], height + TO_SELF_DELAY, f"to_local: {to_local}")
        assert_true(not to_local["broadcast"], "to_local swept before its CSV")
        self.bitcoind.mine(TO_SELF_DELAY - 2)
        time.sleep(1)
        assert_true(not next(x for x in self.onchain(a, cid)["outputs"] if x["duty"] == "local_delayed")["broadcast"],
                    "to_local swept before its CSV")
        self.bitcoind.mine(1)
        a_sweep = self.wait_until(
            lambda: next((x for x in self.onchain(a, cid)["outputs"] if x["duty"] == "local_delayed" and x["broadcast"]), None),
            timeout=30, message="A never swept its to_local")
        self.wait_until(lambda: self.in_mempool(a_sweep["txid"]), timeout=30,
                        message="bitcoind did not take A's to_local sweep at its CSV")
        self.bitcoind.mine(1)
        b_sat = self.wallet_owns_outputs(b_sweep["txid"], timeout=0)
        a_sat = self.wallet_owns_outputs(a_sweep["txid"], timeout=0)
        assert_true(100000 - 2000 < b_sat < 100000, f"B's sweep pays {b_sat}")
        assert_true(CAPACITY - 100000 - 5000 < a_sat < CAPACITY - 100000, f"A's sweep pays {a_sat}")
        return cid, commitment, a_sweep["txid"], a_sat

    def irrevocably_resolved(self, a, cid, commitment, sweep, swept_sat):
        """BOLT 5: once the last spend is 100 blocks deep, the channel leaves listchannels for
        listclosedchannels, with what came back to the wallet."""
        confirmations = self.bitcoind.rpc("getrawtransaction", sweep, True)["confirmations"]
        self.log(f"A's to_local sweep is {confirmations} deep; at 100 A forgets the channel and keeps its history")
        self.bitcoind.mine(99 - confirmations)
        self.wait_until(lambda: a.cli("getinfo")["blockheight"] == self.bitcoind.rpc("getblockcount"), timeout=30)
        time.sleep(0.5)
        assert_true(a.channel(cid) is not None, "forgotten before its last spend was 100 deep")
        assert_true(all(c["channel_id"] != cid for c in a.cli("listclosedchannels")["channels"]), "closed too early")
        self.bitcoind.mine(1)
        closed = self.wait_until(lambda: next((c for c in a.cli("listclosedchannels")["channels"] if c["channel_id"] == cid), None),
                                 timeout=30, message="A never moved the channel to listclosedchannels")
        assert_true(a.channel(cid) is None, "still in listchannels")
        assert_equal(closed["close_kind"], "local_commitment")
        assert_equal(closed["spend_txid"], commitment)
        assert_equal(closed["capacity_sat"], CAPACITY)
        assert_equal(closed["resolved_height"], self.bitcoind.rpc("getblockcount") - 99)
        assert_equal(closed["returned_sat"], swept_sat)
        assert_true(sweep in closed["our_txids"], f"{sweep} not among {closed['our_txids']}")

    def close_with_timeout(self, a, b, b_id):
        self.log("close with unilateraltimeout: mutual while B answers, unilateral once B is gone")
        answering, gone = self.open_channel(a, b, b_id), self.open_channel(a, b, b_id)
        closed = a.cli("-named", "close", f"id={answering}", "unilateraltimeout=30")
        assert_equal(closed["type"], "mutual")
        err = a.cli_error("-named", "close", f"id={gone}", "unilateraltimeout=0")
        assert_equal(err["code"], -8, f"a zero timeout: {err}")
        err = a.cli_error("-named", "close", f"id={gone}", "unilateral=true", "unilateraltimeout=5")
        assert_equal(err["code"], -8, f"both unilateral and a timeout: {err}")
        b.stop()
        started = time.monotonic()
        closed = a.cli("-named", "close", f"id={gone}", "unilateraltimeout=3")
        waited = time.monotonic() - started
        assert_equal(closed["type"], "unilateral")
        assert_true(3 <= waited < 10, f"the unilateral close came {waited:.1f} s after the call")
        self.wait_until(lambda: self.in_mempool(closed["closing_txid"]), timeout=30, message="A's commitment not in the mempool")
        assert_equal(a.channel(gone)["state"], "failed")


if __name__ == "__main__":
    OnchainTest().main()
