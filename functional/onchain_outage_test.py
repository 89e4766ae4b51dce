#!/usr/bin/env python3
"""On-chain resolution (BOLT 5) across a bitcoind outage: bitcoind is stopped while sideboltd
keeps running, and comes back with blocks the daemons never saw arrive. They must catch up and
still act before every deadline that has not passed.

Two sidebolt daemons, A (opener) and B, both -developer and each making the other wait
TO_SELF_DELAY blocks. Each stage opens a fresh 400000 sat channel in which A pays B 100000 sat.
Every sweep pays bitcoind's wallet (both daemons share it) and the amounts are checked within fees.

A "blind" window is bitcoind restarted on other RPC, ZMQ and P2P ports: it runs and mines, but
the daemons (configured with the old ports) still cannot reach it, and their view stays at the
height they had when it stopped (checked). It is then restarted on its own ports and the
daemons learn every block of the window only after the outage.

1. A force-closes; its commitment confirms (height h) and B's to_remote sweep is in the mempool.
   bitcoind is stopped: both daemons report it unreachable and keep running. In a blind window
   TO_SELF_DELAY + 2 blocks are mined, so A's whole CSV window passes unseen. Back on its ports,
   A catches up and sweeps its to_local before any further block.
2. Same, but bitcoind stops while A's commitment is still in the mempool (kept on a clean stop):
   the commitment confirms in the blind window, with TO_SELF_DELAY + 1 blocks after it. A sweeps
   its to_local and B its to_remote, both before any further block.
3. bitcoind is killed -9 while A's commitment is in the mempool (lost with it), and two blocks
   are mined blind without it. A commitment must be published again: A's, or B's (B failed the
   channel on A's error and has been resending its own; whichever reaches the mempool first
   wins). The one that confirms is resolved by both: its owner sweeps at its CSV, the other its
   to_remote a block after it.
4. B keeps a commitment it later revokes. bitcoind is stopped and restarted on its ports; once
   the daemons are back (RPC and ZMQ), the revoked commitment is published and mined at once
   (height h) with TO_SELF_DELAY - 3 blocks after it, in one generatetoaddress. A must have its
   penalty confirmed before block h + TO_SELF_DELAY (where B's to_local becomes B's), and sweep
   its to_remote. The penalty goes into those blocks if it reaches the mempool in time, else
   into the next one; the blocks it could not have been in must not count as blocks it missed
   (no replacement at a higher feerate: generatetoaddress takes the whole mempool, so no block
   here ever goes by without a penalty that was in the mempool).
5. As 4, but the revoked commitment is published and mined in a blind window, with
   TO_SELF_DELAY - 2 blocks after it: A's penalty must be in the next block, the last one before
   the cheater's CSV expires (again without counting the blind blocks as ones it missed).

Every stage runs even when an earlier one failed; the test fails at the end naming each failed
stage. ONCHAIN_OUTAGE_STAGES=1,4 runs only those stages, for debugging."""

import time
import traceback

from test_framework.framework import SideboltTest
from test_framework.onchain_util import OnchainHelpers
from test_framework.util import TestFailure, assert_equal, assert_true, free_port

CAPACITY = 400000
FIRST_PAYMENT_SAT = 100000
PAY_BACK_SAT = 50000
TO_SELF_DELAY = 6


class OnchainOutageTest(OnchainHelpers, SideboltTest):
    def set_test_params(self):
        self.num_nodes = 2
        self.extra_args = [["-developer", f"-channel.toselfdelay={TO_SELF_DELAY}"],
                           ["-developer", f"-channel.toselfdelay={TO_SELF_DELAY}"]]

    # --- outage helpers --------------------------------------------------------------------

    def heights_seen(self):
        return [n.cli("getinfo")["blockheight"] for n in self.nodes]

    def wait_unreachable(self):
        """Both daemons report bitcoind unreachable and unsynced, and keep running."""
        for node in self.nodes:
            info = self.wait_until(lambda: (i := node.cli("getinfo")) and not i["bitcoind"]["reachable"] and i, timeout=30,
                                   message=f"node {node.index} never reported bitcoind unreachable")
            assert_equal(info["synced"], False, f"node {node.index} synced without bitcoind")
            assert_true(info["bitcoind"].get("last_error"), f"node {node.index} reports no error: {info}")
            assert_true(node.is_running(), f"sideboltd {node.index} died without bitcoind")

    def stop_bitcoind(self, kill=False):
        self.seen_before_outage = self.heights_seen()
        if kill:
            self.bitcoind.flush()
            self.log(f"bitcoind killed -9 at height {self.tip()}")
            self.bitcoind.kill()
        else:
            self.log(f"bitcoind stopped at height {self.tip()}")
            self.bitcoind.stop()
        self.wait_unreachable()

    def start_blind(self):
        """bitcoind runs again, on ports the daemons do not know."""
        btc = self.bitcoind
        self.own_ports = (btc.rpc_port, btc.p2p_port, btc.zmq_port)
        ports = set()
        while len(ports) < 3:
            port = free_port()
            if port not in self.own_ports:
                ports.add(port)
        btc.rpc_port, btc.p2p_port, btc.zmq_port = sorted(ports)
        btc.start(attempts=1)
        self.log(f"bitcoind up on other ports at height {self.tip()}: the daemons cannot see it")

    def assert_still_blind(self):
        time.sleep(1.0)
        seen = self.heights_seen()
        assert_equal(seen, self.seen_before_outage, f"the daemons' view moved during the blind window (bitcoind at {self.tip()})")
        for node in self.nodes:
            assert_equal(node.cli("getinfo")["bitcoind"]["reachable"], False, f"node {node.index} reaches bitcoind")

    def end_blind(self):
        """bitcoind back on its own ports: the daemons learn the window's blocks only now."""
        btc = self.bitcoind
        self.assert_still_blind()
        btc.stop()
        btc.rpc_port, btc.p2p_port, btc.zmq_port = self.own_ports
        btc.start(attempts=1)
        self.restored_at = time.monotonic()
        self.log(f"bitcoind back on its ports at height {self.tip()}; the daemons saw up to {self.seen_before_outage}")

    def wait_recovered(self, timeout=60):
        self.synced(timeout=timeout)
        for node in self.nodes:
            info = self.wait_until(lambda: (i := node.cli("getinfo")) and i["synced"] and i["bitcoind"]["reachable"] and i,
                                   timeout=30, message=f"node {node.index} never synced after the outage")
            assert_equal(info["blockheight"], self.tip())
        self.log(f"both daemons at tip {self.tip()} {time.monotonic() - self.restored_at:.1f} s after bitcoind came back")

    # --- channel helpers -------------------------------------------------------------------

    def keep_revoked(self, cid, label):
        """B keeps its current commitment, then pays A back, which revokes it. Returns it."""
        a, b = self.nodes
        revoked = b.cli("dev-signlastcommitment", cid)
        self.pay(b, a, PAY_BACK_SAT * 1000, label)
        self.wait_until(lambda: a.channel(cid)["pending_htlcs"] == 0 and b.channel(cid)["pending_htlcs"] == 0
                        and b.channel(cid)["to_us_msat"] == (FIRST_PAYMENT_SAT - PAY_BACK_SAT) * 1000,
                        timeout=30, message="the payment back never settled")
        return revoked

    def check_breach_amounts(self, cid, revoked_txid, penalty, a_sweep):
        a = self.nodes[0]
        commitment = self.bitcoind.rpc("getrawtransaction", revoked_txid, True)
        to_local = self.output(a, cid, "penalty_to_local")
        cheater_sat = round(commitment["vout"][to_local["output"]]["value"] * 100_000_000)
        assert_equal(to_local["amount_sat"], cheater_sat)
        # B's balance as of the revoked state: the first payment.
        assert_equal(cheater_sat, FIRST_PAYMENT_SAT)
        penalty_sat = self.wallet_owns_outputs(penalty)
        swept_sat = self.wallet_owns_outputs(a_sweep)
        onchain = self.onchain(a, cid)
        assert_true(cheater_sat - 2000 < penalty_sat < cheater_sat,
                    f"penalty {penalty} pays {penalty_sat} of the cheater's {cheater_sat} sat (fee {cheater_sat - penalty_sat} sat; "
                    f"penalty_replaced={onchain.get('penalty_replaced')}, penalty_feerate_per_kw={onchain.get('penalty_feerate_per_kw')})")
        assert_true(CAPACITY - FIRST_PAYMENT_SAT - 5000 < swept_sat < CAPACITY - FIRST_PAYMENT_SAT,
                    f"A's to_remote sweep pays {swept_sat}")
        self.log(f"penalty paid the wallet {penalty_sat} of {cheater_sat} sat, A's to_remote sweep {swept_sat} sat")

    # --- driver ------------------------------------------------------------------------------

    def run_test(self):
        a, b = self.nodes
        self.bitcoind.mine(101)
        self.synced()
        a.cli("connect", b.p2p_address)
        self.log(f"{self.bitcoind.backend}: persists_chain={self.bitcoind.persists_chain}")
        if not self.bitcoind.persists_chain:
            # Every stage needs the chain to survive bitcoind's restart.
            self.log("this regtest node loses its chain on restart: the outage stages cannot run on it")
            raise TestFailure("regtest node without a persistent chain")
        failed = self.run_stages(
            (("1: A's CSV window passes while bitcoind is unreachable", self.stage_csv_blind),
             ("2: A's commitment confirms and its CSV passes while bitcoind is unreachable", self.stage_confirm_blind),
             ("3: bitcoind killed with A's commitment in its mempool", self.stage_commitment_lost),
             ("4: a breach mined at once after bitcoind's restart", self.stage_breach_at_restart),
             ("5: a breach mined while bitcoind is unreachable", self.stage_breach_blind)),
            "ONCHAIN_OUTAGE_STAGES", before=self.bitcoind_up, after_failure=self.recover_after_failure)
        if failed:
            raise TestFailure("failed stages: " + "; ".join(failed))

    def bitcoind_up(self):
        """Before each stage: bitcoind runs and both daemons are at its tip."""
        if not self.bitcoind.is_running():
            self.bitcoind.start(attempts=1)
        self.synced()

    def recover_after_failure(self):
        """Puts bitcoind back on its own ports for the next stage."""
        btc = self.bitcoind
        try:
            if getattr(self, "own_ports", None) and (btc.rpc_port, btc.p2p_port, btc.zmq_port) != self.own_ports:
                btc.stop()
                btc.rpc_port, btc.p2p_port, btc.zmq_port = self.own_ports
            if not btc.is_running():
                btc.start(attempts=1)
        except Exception:
            traceback.print_exc()

    # --- stages --------------------------------------------------------------------------------

    def stage_csv_blind(self):
        a, b = self.nodes
        cid = self.open_and_pay("csv-blind", CAPACITY, FIRST_PAYMENT_SAT)
        commitment = self.force_close(cid)
        self.mine(1)
        h = self.tip()
        assert_equal(self.confirmed_height(commitment), h)
        for node in (a, b):
            self.wait_spend_height(node, cid, h)
        b_sweep = self.wait_broadcast(b, cid, "to_remote")["txid"]
        self.wait_mempool(b_sweep, "B's to_remote sweep")
        to_local = self.output(a, cid, "local_delayed")
        assert_equal(to_local["valid_from_height"], h + TO_SELF_DELAY, f"A's to_local: {to_local}")
        assert_true(not to_local["broadcast"], f"A swept before its CSV: {to_local}")

        self.stop_bitcoind()
        self.start_blind()
        assert_true(self.in_mempool(b_sweep), "B's sweep did not survive bitcoind's clean restart")
        self.bitcoind.mine(TO_SELF_DELAY + 2)
        assert_equal(self.confirmed_height(b_sweep), h + 1)
        self.log(f"blind: mined {h + 1}..{self.tip()}; A's to_local became spendable in block {h + TO_SELF_DELAY}, unseen")
        self.end_blind()
        tip = self.tip()
        assert_equal(tip, h + TO_SELF_DELAY + 2)
        self.wait_recovered()
        self.wait_spent_height(b, cid, "to_remote", b_sweep, h + 1)
        a_sweep = self.wait_broadcast(a, cid, "local_delayed")["txid"]
        self.wait_mempool(a_sweep, "A's to_local sweep, after catching up")
        assert_equal(self.tip(), tip, "a block came before A's sweep")
        self.log(f"A's to_local sweep in the mempool {time.monotonic() - self.restored_at:.1f} s after bitcoind came back")
        self.mine(1)
        assert_equal(self.confirmed_height(a_sweep), tip + 1)
        self.wait_spent_height(a, cid, "local_delayed", a_sweep, tip + 1)
        self.check_close_amounts(a_sweep, b_sweep, CAPACITY, FIRST_PAYMENT_SAT)

    def stage_confirm_blind(self):
        a, b = self.nodes
        cid = self.open_and_pay("confirm-blind", CAPACITY, FIRST_PAYMENT_SAT)
        commitment = self.force_close(cid)
        self.stop_bitcoind()
        self.start_blind()
        assert_true(self.in_mempool(commitment), "A's commitment did not survive bitcoind's clean restart")
        self.bitcoind.mine(1)
        h = self.tip()
        assert_equal(self.confirmed_height(commitment), h)
        self.bitcoind.mine(TO_SELF_DELAY + 1)
        self.log(f"blind: A's commitment confirmed at {h}, mined up to {self.tip()}; A's to_local spendable from "
                 f"block {h + TO_SELF_DELAY}")
        for node in (a, b):
            assert_equal(self.onchain(node, cid)["spend_height"], None, f"node {node.index} saw the blind confirmation")
        self.end_blind()
        tip = self.tip()
        self.wait_recovered()
        for node in (a, b):
            self.wait_spend_height(node, cid, h)
        assert_equal(self.output(a, cid, "local_delayed")["valid_from_height"], h + TO_SELF_DELAY)
        a_sweep = self.wait_broadcast(a, cid, "local_delayed")["txid"]
        b_sweep = self.wait_broadcast(b, cid, "to_remote")["txid"]
        self.wait_mempool(a_sweep, "A's to_local sweep, after catching up")
        self.wait_mempool(b_sweep, "B's to_remote sweep, after catching up")
        assert_equal(self.tip(), tip, "a block came before the sweeps")
        self.mine(1)
        for txid in (a_sweep, b_sweep):
            assert_equal(self.confirmed_height(txid), tip + 1, f"{txid} in the next block")
        self.wait_spent_height(a, cid, "local_delayed", a_sweep, tip + 1)
        self.wait_spent_height(b, cid, "to_remote", b_sweep, tip + 1)
        self.check_close_amounts(a_sweep, b_sweep, CAPACITY, FIRST_PAYMENT_SAT)

    def stage_commitment_lost(self):
        a, b = self.nodes
        cid = self.open_and_pay("lost", CAPACITY, FIRST_PAYMENT_SAT)
        commitment = self.force_close(cid)
        self.stop_bitcoind(kill=True)
        self.start_blind()
        assert_true(not self.in_mempool(commitment), "A's commitment survived bitcoind's kill -9: this stage tests nothing")
        self.bitcoind.mine(2)
        assert_equal(self.confirmed_height(commitment), None)
        self.end_blind()
        self.wait_recovered()
        # A's error made B fail the channel too, and B's broadcaster has been resending B's own
        # commitment since: both come back at the new tip and the mempool takes the first (the
        # stand-in has no replacement; Core's full RBF needs a higher fee). Either closes it.
        self.log("a commitment must be published again")
        [spender] = self.wait_until(lambda: self.funding_spenders(cid), timeout=30,
                                    message=f"no commitment published again after the outage (tip {self.tip()})")
        self.log(f"{'A' if spender == commitment else 'B'}'s commitment {spender[:16]} in the mempool "
                 f"{time.monotonic() - self.restored_at:.1f} s after bitcoind came back")
        if spender == commitment:
            closer, other = a, b
        else:
            closer, other = b, a
            self.wait_kind(b, cid, "local_commitment")
            self.wait_kind(a, cid, "remote_commitment")
        self.mine(1)
        h = self.tip()
        assert_equal(self.confirmed_height(spender), h)
        for node in (a, b):
            self.wait_spend_height(node, cid, h)
            assert_equal(self.onchain(node, cid)["spend_txid"], spender, f"node {node.index}")
        other_sweep = self.wait_broadcast(other, cid, "to_remote")["txid"]
        self.wait_mempool(other_sweep, f"node {other.index}'s to_remote sweep")
        valid_from = h + TO_SELF_DELAY
        assert_equal(self.output(closer, cid, "local_delayed")["valid_from_height"], valid_from)
        self.mine(valid_from - 2 - self.tip())
        self.synced(settle=1.0)
        assert_true(not self.output(closer, cid, "local_delayed")["broadcast"],
                    f"node {closer.index} swept before its CSV at tip {self.tip()}")
        self.mine(1)
        closer_sweep = self.wait_broadcast(closer, cid, "local_delayed")["txid"]
        self.wait_mempool(closer_sweep, f"node {closer.index}'s to_local sweep")
        self.mine(1)
        assert_equal(self.confirmed_height(closer_sweep), valid_from)
        assert_equal(self.confirmed_height(other_sweep), h + 1)
        if closer is a:
            self.check_close_amounts(closer_sweep, other_sweep, CAPACITY, FIRST_PAYMENT_SAT)
        else:
            self.check_close_amounts(other_sweep, closer_sweep, CAPACITY, FIRST_PAYMENT_SAT)

    def in_mempool_or_chain(self, txid):
        return self.in_mempool(txid) or self.confirmed_height(txid) is not None

    def wait_penalty(self, cid, revoked, h):
        """The version of A's penalty that is in bitcoind's mempool (or already mined): the
        spender of the cheater's to_local that A records (the stand-in, without replacement,
        keeps the first version whatever A replaced it with)."""
        a = self.nodes[0]
        onchain = self.wait_until(lambda: (o := self.onchain(a, cid)) and o.get("penalty_broadcast") and o, timeout=30,
                                  message=f"A never broadcast a penalty (tip {self.tip()}, shows {self.onchain(a, cid)})")
        assert_equal(onchain["kind"], "revoked_remote_commitment")
        assert_equal(onchain["spend_txid"], revoked["txid"])
        self.wait_spend_height(a, cid, h)
        penalty = self.wait_until(
            lambda: (x := self.output(a, cid, "penalty_to_local")) and x["spent_by"] and self.in_mempool_or_chain(x["spent_by"])
            and x["spent_by"], timeout=30,
            message=f"A's penalty never reached the mempool (tip {self.tip()}, shows {self.onchain(a, cid)})")
        onchain = self.onchain(a, cid)
        where = "mined" if self.confirmed_height(penalty) is not None else "in the mempool"
        self.log(f"A's penalty {penalty[:16]} {where} {time.monotonic() - self.restored_at:.1f} s after bitcoind came back "
                 f"(newest version {onchain['penalty_txid'][:16]}, replaced: {onchain.get('penalty_replaced')}, "
                 f"feerate: {onchain.get('penalty_feerate_per_kw')})")
        return penalty

    def confirm(self, txid, what, deadline):
        """txid is mined, or in the mempool at a tip before `deadline` (the last block that may take
        it): then the next block must take it. Returns its height."""
        height = self.confirmed_height(txid)
        if height is None:
            tip = self.tip()
            assert_true(tip < deadline, f"{what} {txid} still unconfirmed at tip {tip}; its last block was {deadline}")
            self.wait_mempool(txid, what)
            assert_equal(self.tip(), tip, f"a block came before {what}")
            self.mine(1)
            height = self.confirmed_height(txid)
            assert_equal(height, tip + 1, f"{what} {txid} in the next block")
        else:
            self.log(f"{what} {txid[:16]} was already mined, at {height}")
        return height

    def finish_breach(self, cid, revoked, h):
        """A's penalty confirms before block h + TO_SELF_DELAY, where B's to_local becomes B's."""
        a = self.nodes[0]
        penalty = self.wait_penalty(cid, revoked, h)
        p = self.confirm(penalty, "A's penalty", h + TO_SELF_DELAY - 1)
        assert_true(h <= p < h + TO_SELF_DELAY, f"penalty at {p}; the cheater may sweep in block {h + TO_SELF_DELAY}")
        self.wait_spent_height(a, cid, "penalty_to_local", penalty, p)
        a_sweep = self.wait_broadcast(a, cid, "to_remote")["txid"]
        self.wait_until(lambda: self.in_mempool_or_chain(a_sweep), timeout=30,
                        message=f"A's to_remote sweep {a_sweep} never reached the mempool")
        s = self.confirm(a_sweep, "A's to_remote sweep", self.tip() + 1)
        self.wait_spent_height(a, cid, "to_remote", a_sweep, s)
        # Every block here was mined by generatetoaddress, which takes the whole mempool: no
        # block went by with a version of the penalty in the mempool and without it. A
        # replacement can only count as missed a block mined before the penalty was sent.
        onchain = self.onchain(a, cid)
        if onchain.get("penalty_replaced"):
            paid = self.wallet_owns_outputs(penalty)
            lines = [line for line in a.read_log().splitlines() if "replacing it at" in line or "penalty of" in line]
            raise TestFailure(f"A replaced its penalty {onchain['penalty_replaced']} time(s), up to "
                              f"{onchain.get('penalty_feerate_per_kw')} sat/kw (newest {onchain['penalty_txid']}; the one "
                              f"that confirmed at {p}: {penalty}, paying the wallet {paid} of the cheater's "
                              f"{self.output(a, cid, 'penalty_to_local')['amount_sat']} sat), for blocks mined before its "
                              f"penalty reached bitcoind (revoked commitment at {h}): " + " | ".join(lines[-8:]))
        self.check_breach_amounts(cid, revoked["txid"], penalty, a_sweep)

    def zmq_connects(self, node):
        return node.read_log().count("ZMQ connected to")

    def stage_breach_at_restart(self):
        a, b = self.nodes
        cid = self.open_and_pay("breach-restart", CAPACITY, FIRST_PAYMENT_SAT)
        revoked = self.keep_revoked(cid, "breach-restart-back")
        connects = [self.zmq_connects(n) for n in self.nodes]
        self.stop_bitcoind()
        self.bitcoind.start(attempts=1)
        self.restored_at = time.monotonic()
        self.wait_recovered()
        for node, before in zip(self.nodes, connects):
            self.wait_until(lambda: self.zmq_connects(node) > before, timeout=30,
                            message=f"node {node.index} never reconnected to bitcoind's ZMQ")
        address = self.bitcoind.new_address()
        sent = time.monotonic()
        assert_equal(self.bitcoind.rpc("sendrawtransaction", revoked["tx"]), revoked["txid"])
        self.bitcoind.rpc("generatetoaddress", TO_SELF_DELAY - 2, address)
        mined_ms = 1000 * (time.monotonic() - sent)
        h = self.tip() - (TO_SELF_DELAY - 3)
        assert_equal(self.confirmed_height(revoked["txid"]), h)
        self.log(f"revoked commitment published and mined at {h}, tip {self.tip()}, {mined_ms:.0f} ms after it was sent; "
                 f"B's to_local is B's from block {h + TO_SELF_DELAY}")
        self.synced()
        self.finish_breach(cid, revoked, h)

    def stage_breach_blind(self):
        a, b = self.nodes
        cid = self.open_and_pay("breach-blind", CAPACITY, FIRST_PAYMENT_SAT)
        revoked = self.keep_revoked(cid, "breach-blind-back")
        self.stop_bitcoind()
        self.start_blind()
        assert_equal(self.bitcoind.rpc("sendrawtransaction", revoked["tx"]), revoked["txid"])
        self.bitcoind.mine(1)
        h = self.tip()
        assert_equal(self.confirmed_height(revoked["txid"]), h)
        self.bitcoind.mine(TO_SELF_DELAY - 2)
        self.log(f"blind: revoked commitment mined at {h}, tip {self.tip()}; the penalty must be in block "
                 f"{h + TO_SELF_DELAY - 1}, the cheater may sweep in block {h + TO_SELF_DELAY}")
        assert_equal(self.onchain(a, cid), None, "A saw the blind breach")
        self.end_blind()
        self.wait_recovered()
        self.finish_breach(cid, revoked, h)


if __name__ == "__main__":
    OnchainOutageTest().main()
