#!/usr/bin/env python3
"""On-chain resolution (BOLT 5) survives reorgs of 1 to 6 blocks and kill -9 at each stage.

Two sidebolt daemons, A (opener) and B, both -developer (dev-signlastcommitment); each stage
opens a fresh 400000 sat channel in which A first pays B 100000 sat, so both have an output.
Each makes the other wait TO_SELF_DELAY blocks. Every sweep must pay bitcoind's wallet (both
daemons share it, as in onchain_test.py), and the amounts are checked within fees.

1. A force-closes. (a) A 1-block reorg of the block carrying A's commitment: both see the spend
   unconfirmed, the commitment confirms again (rebroadcast where the node dropped it), A's CSV
   counts from the new height, B's to_remote sweep (same txid) confirms again. (b) A 4-block
   reorg of it with empty replacement blocks, so that the commitment confirms two blocks later
   than it first did: A must not sweep at the old CSV height, only at the new one. (c) A 2-block
   reorg whose replacement block carries B's commitment instead of A's: both switch to it (A
   sweeps its to_remote a block later, B its to_local at the CSV), and nothing of the reorged-out
   commitment (B's sweep of it) may show as spending an output of B's.
2. A reorg of the block carrying A's to_local sweep: (a) 1 block: the sweep confirms again;
   (b) 6 blocks, down to the block after the commitment, so the sweep (and B's to_remote sweep)
   are unconfirmed and A's sweep is not final again until the CSV: both confirm again.
3. kill -9 of A (a) once its commitment is in bitcoind's mempool, before it confirms (after the
   restart A must show its resolution without waiting for a block); (b) after it confirmed,
   before the CSV (restarted before the CSV expires); (c) as it logs the broadcast of its
   to_local sweep. A still sweeps exactly at the CSV height and nothing is lost.
4. A keeps a commitment it later revokes. B is killed -9, the revoked commitment is mined and
   TO_SELF_DELAY-3 more blocks pass; B restarts and must have its penalty in the mempool before
   the cheater's CSV expires. Then (a) a 1-block reorg of the penalty's block: the penalty
   confirms again; (b) a reorg down to the revoked commitment's block (5 or 6 blocks; the
   cheater republishes it on the stand-in, which drops its mempool): the penalty confirms again.
5. A keeps a commitment it later revokes, then closes with its current one; B sweeps its
   to_remote and A's to_local sweep reaches the mempool at the CSV. A 6-block reorg puts the
   revoked commitment in the replacement block: B must penalize it.

On the stand-in both broadcasters resend their own commitment at the new tip after a reorg, and
B's may win the race for the emptied mempool; A's is then mined explicitly (logged).

Every stage runs even when an earlier one failed; the test fails at the end naming each failed
stage or check (a traceback is printed where a stage failed). ONCHAIN_REORG_CRASH_STAGES=1c,3
runs only those stages (by the label before the colon), for debugging."""

import os
import re
import time

from test_framework.framework import SideboltTest
from test_framework.onchain_util import OnchainHelpers
from test_framework.util import TestFailure, assert_equal, assert_true

CAPACITY = 400000
FIRST_PAYMENT_SAT = 100000
TO_SELF_DELAY = 6


class OnchainReorgCrashTest(OnchainHelpers, SideboltTest):
    def set_test_params(self):
        self.num_nodes = 2
        self.extra_args = [["-developer", f"-channel.toselfdelay={TO_SELF_DELAY}"],
                           ["-developer", f"-channel.toselfdelay={TO_SELF_DELAY}"]]

    # --- helpers -------------------------------------------------------------------------

    def mine_empty(self, n):
        """n blocks without any transaction (generateblock), on both backends."""
        hashes = [self.mine_only([]) for _ in range(n)]
        self.synced(*[x for x in self.nodes if x.is_running()])
        return hashes

    def mine_until_confirmed(self, txid, what, max_blocks=2):
        """Mines one block at a time until txid is in the active chain; its height."""
        if (height := self.confirmed_height(txid)) is not None:
            return height
        for _ in range(max_blocks):
            try:
                self.wait_until(lambda: self.in_mempool(txid), timeout=10)
            except TestFailure:
                self.log(f"{what} not in the mempool at tip {self.tip()}: mining anyway")
            self.mine(1)
            if (height := self.confirmed_height(txid)) is not None:
                return height
        raise TestFailure(f"{what} {txid} not confirmed within {max_blocks} blocks of the new chain")

    def mine_commitment_again(self, cid, commitment, raw):
        """After a reorg unconfirmed A's commitment: waits for it in the mempool and mines it;
        its height. On the stand-in (mempool dropped) both broadcasters resend their own
        commitment at the new tip, and B's may win: then A's is mined explicitly (generateblock
        with its raw transaction), as B's winning is no fault of A's."""
        self.wait_until(lambda: self.in_mempool(commitment) or (self.bitcoind.is_standin and self.funding_spenders(cid)),
                        timeout=30, message=f"A's commitment {commitment} never came back to the mempool")
        if self.in_mempool(commitment):
            self.mine(1)
        else:
            self.log(f"stand-in: B's own commitment {self.funding_spenders(cid)} won the mempool race at the new tip; "
                     f"mining A's explicitly")
            self.bitcoind.rpc("generateblock", self.bitcoind.new_address(), [raw])
            self.synced()
        height = self.confirmed_height(commitment)
        assert_equal(height, self.tip(), "A's commitment in the replacement block")
        return height

    def log_offset(self, node):
        try:
            return os.path.getsize(node.log_path)
        except OSError:
            return 0

    def kill_on_log(self, node, regex, offset, timeout=60):
        """kill -9 `node` as soon as its log after `offset` matches `regex`; returns the match."""
        pattern = re.compile(regex)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with open(node.log_path, "rb") as f:
                f.seek(offset)
                match = pattern.search(f.read().decode(errors="replace"))
            if match:
                node.kill()
                return match
            time.sleep(0.002)
        raise TestFailure(f"log of sidebolt node {node.index} never matched /{regex}/")

    def assert_no_early_sweep(self, cid, valid_from):
        """At tip valid_from - 2 (processed), A has neither broadcast nor sent its to_local sweep."""
        a = self.nodes[0]
        self.synced(a, settle=1.0)
        to_local = self.output(a, cid, "local_delayed")
        assert_equal(to_local["valid_from_height"], valid_from, f"A's to_local at tip {self.tip()}: {to_local}")
        assert_true(not to_local["broadcast"], f"A swept its to_local at tip {self.tip()}, before its CSV "
                                               f"(valid from {valid_from}): {to_local}")
        commitment = self.onchain(a, cid)["spend_txid"]
        assert_equal(self.spenders_of(commitment, to_local["output"]), [], "a spend of A's to_local before its CSV")

    def sweep_at_csv(self, cid, height):
        """The commitment confirmed at `height`: A sweeps its to_local exactly when the block at
        height + TO_SELF_DELAY may include it, not a block before. Returns the sweep's txid (in
        the mempool)."""
        a = self.nodes[0]
        valid_from = height + TO_SELF_DELAY
        self.mine(valid_from - 2 - self.tip())
        self.assert_no_early_sweep(cid, valid_from)
        self.mine(1)
        sweep = self.wait_broadcast(a, cid, "local_delayed")["txid"]
        self.wait_mempool(sweep, "A's to_local sweep")
        return sweep

    # --- driver --------------------------------------------------------------------------

    def run_test(self):
        a, b = self.nodes
        self.bitcoind.mine(101)
        self.synced()
        a.cli("connect", b.p2p_address)
        self.soft_failures = []
        failed = self.run_stages(
            (("1a+2a: 1-block reorgs of the commitment and of the to_local sweep", self.stage_shallow_reorgs),
             ("1b+2b: 4-block reorg of the commitment, 6-block reorg of the sweeps", self.stage_deep_reorgs),
             ("1c: a 2-block reorg puts B's commitment in place of A's", self.stage_swap),
             ("3: kill -9 of A at each stage of its unilateral close", self.stage_kills),
             ("4: kill -9 of the victim, breach mined meanwhile; reorgs of the penalty", self.stage_breach),
             ("5: a 6-block reorg replaces A's current commitment by a revoked one", self.stage_reorg_to_revoked)),
            "ONCHAIN_REORG_CRASH_STAGES")
        for failure in self.soft_failures:
            self.log(f"FAILED CHECK {failure}")
        if failed or self.soft_failures:
            raise TestFailure("failed stages: " + "; ".join(failed + self.soft_failures))

    def soft_fail(self, message):
        """A failed check after which the stage can still go on (the test fails at the end)."""
        self.log(f"FAILED CHECK {message}")
        self.soft_failures.append(message)

    # --- stages --------------------------------------------------------------------------

    def stage_shallow_reorgs(self):
        a, b = self.nodes
        cid = self.open_and_pay("shallow", CAPACITY, FIRST_PAYMENT_SAT)
        commitment = self.force_close(cid)
        raw = self.bitcoind.rpc("getrawtransaction", commitment)
        [block] = self.mine(1)
        h = self.tip()
        assert_equal(self.confirmed_height(commitment), h)
        for node in (a, b):
            self.wait_spend_height(node, cid, h)
        b_sweep = self.wait_broadcast(b, cid, "to_remote")["txid"]
        self.wait_mempool(b_sweep, "B's to_remote sweep")
        assert_equal(self.output(a, cid, "local_delayed")["valid_from_height"], h + TO_SELF_DELAY)

        self.log(f"1a: reorg of 1 block, the commitment's ({h})")
        self.bitcoind.rpc("invalidateblock", block)
        self.synced()
        for node in (a, b):
            self.wait_spend_height(node, cid, None)
        self.wait_until(lambda: self.output(a, cid, "local_delayed")["valid_from_height"] is None, timeout=30,
                        message=f"A's to_local still valid from a height after its commitment was unconfirmed: "
                                f"{self.output(a, cid, 'local_delayed')}")
        if self.bitcoind.is_standin:
            self.log("stand-in: the mempool was dropped; A's broadcaster must bring the commitment back")
        h2 = self.mine_commitment_again(cid, commitment, raw)
        self.log(f"the commitment confirmed again at {h2}")
        for node in (a, b):
            self.wait_spend_height(node, cid, h2)
        assert_equal(self.output(a, cid, "local_delayed")["valid_from_height"], h2 + TO_SELF_DELAY)
        assert_equal(self.output(b, cid, "to_remote")["txid"], b_sweep, "B's to_remote sweep is deterministic")
        b_height = self.mine_until_confirmed(b_sweep, "B's to_remote sweep")
        assert_equal(b_height, h2 + 1, "B's to_remote sweep one block after the commitment")
        self.wait_spent_height(b, cid, "to_remote", b_sweep, b_height)

        a_sweep = self.sweep_at_csv(cid, h2)
        [block] = self.mine(1)
        s = self.tip()
        assert_equal(self.confirmed_height(a_sweep), s)
        self.wait_spent_height(a, cid, "local_delayed", a_sweep, s)

        self.log(f"2a: reorg of 1 block, the to_local sweep's ({s})")
        self.bitcoind.rpc("invalidateblock", block)
        self.synced()
        self.wait_spent_height(a, cid, "local_delayed", a_sweep, None)
        s2 = self.mine_until_confirmed(a_sweep, "A's to_local sweep")
        assert_equal(s2, s, "the sweep is final: it confirms again in the replacement block")
        self.wait_spent_height(a, cid, "local_delayed", a_sweep, s2)
        self.check_close_amounts(a_sweep, b_sweep, CAPACITY, FIRST_PAYMENT_SAT)

    def stage_deep_reorgs(self):
        a, b = self.nodes
        cid = self.open_and_pay("deep", CAPACITY, FIRST_PAYMENT_SAT)
        commitment = self.force_close(cid)
        raw = self.bitcoind.rpc("getrawtransaction", commitment)
        [block] = self.mine(1)
        h = self.tip()
        for node in (a, b):
            self.wait_spend_height(node, cid, h)
        b_sweep = self.wait_broadcast(b, cid, "to_remote")["txid"]
        self.wait_mempool(b_sweep, "B's to_remote sweep")
        self.mine(3)
        assert_equal(self.confirmed_height(b_sweep), h + 1)
        self.wait_spent_height(b, cid, "to_remote", b_sweep, h + 1)

        self.log(f"1b: reorg of 4 blocks ({h}..{h + 3}) from the commitment's; 2 empty blocks replace them first")
        self.bitcoind.rpc("invalidateblock", block)
        self.synced()
        for node in (a, b):
            self.wait_spend_height(node, cid, None)
        self.wait_spent_height(b, cid, "to_remote", b_sweep, None)
        self.mine_empty(2)
        assert_equal(self.confirmed_height(commitment), None)
        h2 = self.mine_commitment_again(cid, commitment, raw)
        assert_equal(h2, h + 2)
        self.log(f"the commitment confirmed again at {h2}, 2 blocks later than at first")
        for node in (a, b):
            self.wait_spend_height(node, cid, h2)
        assert_equal(self.output(a, cid, "local_delayed")["valid_from_height"], h2 + TO_SELF_DELAY)
        b_height = self.mine_until_confirmed(b_sweep, "B's to_remote sweep")
        assert_equal(b_height, h2 + 1)
        self.wait_spent_height(b, cid, "to_remote", b_sweep, b_height)
        # sweep_at_csv checks at tip h2 + TO_SELF_DELAY - 2 = h + TO_SELF_DELAY: a node still
        # counting from the first confirmation would have swept at tip h + TO_SELF_DELAY - 1.
        a_sweep = self.sweep_at_csv(cid, h2)
        self.mine(1)
        s = self.tip()
        assert_equal(self.confirmed_height(a_sweep), s)
        self.wait_spent_height(a, cid, "local_delayed", a_sweep, s)

        first = self.bitcoind.rpc("getblockhash", h2 + 1)
        self.log(f"2b: reorg of 6 blocks ({h2 + 1}..{s}): both sweeps unconfirmed, A's not final until its CSV again")
        self.bitcoind.rpc("invalidateblock", first)
        self.synced()
        self.wait_spent_height(a, cid, "local_delayed", a_sweep, None)
        self.wait_spent_height(b, cid, "to_remote", b_sweep, None)
        for node in (a, b):
            assert_equal(self.onchain(node, cid)["spend_height"], h2, "the commitment stayed confirmed")
        b_height = self.mine_until_confirmed(b_sweep, "B's to_remote sweep")
        assert_equal(b_height, h2 + 1)
        self.mine(h2 + TO_SELF_DELAY - 1 - self.tip())
        assert_equal(self.confirmed_height(a_sweep), None)
        self.wait_mempool(a_sweep, "A's to_local sweep, final again")
        self.mine(1)
        assert_equal(self.confirmed_height(a_sweep), h2 + TO_SELF_DELAY)
        self.wait_spent_height(a, cid, "local_delayed", a_sweep, h2 + TO_SELF_DELAY)
        self.wait_spent_height(b, cid, "to_remote", b_sweep, h2 + 1)
        self.check_close_amounts(a_sweep, b_sweep, CAPACITY, FIRST_PAYMENT_SAT)

    def stage_swap(self):
        a, b = self.nodes
        cid = self.open_and_pay("swap", CAPACITY, FIRST_PAYMENT_SAT)
        b_commitment = b.cli("dev-signlastcommitment", cid)
        commitment = self.force_close(cid)
        [block] = self.mine(1)
        h = self.tip()
        for node in (a, b):
            self.wait_spend_height(node, cid, h)
        b_sweep = self.wait_broadcast(b, cid, "to_remote")["txid"]
        self.wait_mempool(b_sweep, "B's to_remote sweep")
        self.mine(1)
        assert_equal(self.confirmed_height(b_sweep), h + 1)
        self.wait_spent_height(b, cid, "to_remote", b_sweep, h + 1)

        self.log(f"1c: reorg of 2 blocks ({h}..{h + 1}); the replacement block carries B's commitment, not A's")
        self.bitcoind.rpc("invalidateblock", block)
        self.bitcoind.rpc("generateblock", self.bitcoind.new_address(), [b_commitment["tx"]])
        self.synced()
        h2 = self.tip()
        assert_equal(self.confirmed_height(b_commitment["txid"]), h2)
        assert_equal(self.confirmed_height(commitment), None)
        a_onchain = self.wait_kind(a, cid, "remote_commitment")
        b_onchain = self.wait_kind(b, cid, "local_commitment")
        for node, o in ((a, a_onchain), (b, b_onchain)):
            assert_equal((o["spend_txid"], o["spend_height"]), (b_commitment["txid"], h2), f"node {node.index}")
        # Nothing of A's commitment may linger in the resolution of B's: no output of B's
        # commitment has been spent yet.
        for node, o in ((a, a_onchain), (b, b_onchain)):
            # Only our own sweeps (already due: A's to_remote) may spend them yet.
            stale = [x for x in o["outputs"] if x["spent_by"] is not None and x["spent_by"] != x.get("txid")]
            if stale:
                self.soft_fail(f"1c: node {node.index} shows outputs of the new commitment {b_commitment['txid']} spent by "
                               f"transactions of the reorged-out one: {stale}")
        b_to_local = self.output(b, cid, "local_delayed")
        assert_equal(b_to_local["valid_from_height"], h2 + TO_SELF_DELAY, f"B's to_local: {b_to_local}")
        a_sweep = self.wait_broadcast(a, cid, "to_remote")["txid"]
        self.wait_mempool(a_sweep, "A's to_remote sweep of B's commitment")
        self.mine(1)
        assert_equal(self.confirmed_height(a_sweep), h2 + 1)
        self.wait_spent_height(a, cid, "to_remote", a_sweep, h2 + 1)
        self.mine(h2 + TO_SELF_DELAY - 2 - self.tip())
        self.synced(settle=1.0)
        assert_true(not self.output(b, cid, "local_delayed")["broadcast"], "B swept its to_local before its CSV")
        self.mine(1)
        b_local_sweep = self.wait_broadcast(b, cid, "local_delayed")["txid"]
        self.wait_mempool(b_local_sweep, "B's to_local sweep")
        self.mine(1)
        self.wait_spent_height(b, cid, "local_delayed", b_local_sweep, h2 + TO_SELF_DELAY)
        self.check_close_amounts(a_sweep, b_local_sweep, CAPACITY, FIRST_PAYMENT_SAT,
                                 a_what="A's to_remote sweep", b_what="B's to_local sweep")

    def stage_kills(self):
        a, b = self.nodes
        cid = self.open_and_pay("kills", CAPACITY, FIRST_PAYMENT_SAT)
        self.log("3a: kill -9 of A once its commitment is in the mempool")
        closed = a.cli("-named", "close", f"id={cid}", "unilateral=true")
        commitment = closed["closing_txid"]
        self.wait_mempool(commitment, "A's commitment")
        # Killed once A has recorded and resolved the spend (the record is what must survive).
        self.wait_kind(a, cid, "local_commitment")
        a.kill()
        self.restart(a)
        assert_equal(a.channel(cid)["state"], "failed")
        onchain = self.onchain(a, cid)
        assert_true(onchain is not None, "A forgot the funding spend it had recorded before the kill")
        assert_equal(onchain["spend_txid"], commitment)
        assert_equal(onchain["spend_height"], None)
        self.wait_kind(b, cid, "remote_commitment")
        # Restarted with nothing new on chain, A must still show (and act on) the resolution it
        # had before the kill, not wait for the next block to rebuild it.
        try:
            self.wait_kind(a, cid, "local_commitment", timeout=15)
        except TestFailure as e:
            self.soft_fail(f"3a: after the restart A shows no resolution until a block comes: {e}; "
                           f"onchain={self.onchain(a, cid)}")
        self.mine(1)
        self.wait_kind(a, cid, "local_commitment")
        h = self.tip()
        assert_equal(self.confirmed_height(commitment), h)
        for node in (a, b):
            self.wait_spend_height(node, cid, h)
        assert_equal(self.output(a, cid, "local_delayed")["valid_from_height"], h + TO_SELF_DELAY)
        b_sweep = self.wait_broadcast(b, cid, "to_remote")["txid"]
        self.mine(1)
        assert_equal(self.confirmed_height(b_sweep), h + 1)

        self.log("3b: kill -9 of A after the commitment confirmed; a block mined while it is down")
        a.kill()
        self.bitcoind.mine(1)
        self.restart(a)
        to_local = self.output(a, cid, "local_delayed")
        assert_equal(to_local["valid_from_height"], h + TO_SELF_DELAY, f"after the restart: {to_local}")
        assert_true(not to_local["broadcast"], f"swept before the CSV after the restart: {to_local}")
        valid_from = h + TO_SELF_DELAY
        self.mine(valid_from - 2 - self.tip())
        self.assert_no_early_sweep(cid, valid_from)

        self.log("3c: kill -9 of A as it logs the broadcast of its to_local sweep, at the CSV")
        offset = self.log_offset(a)
        self.bitcoind.mine(1)
        self.kill_on_log(a, r"broadcasting \S*local_delayed\S* \w+|broadcasting [^\n]*to_local[^\n]*", offset)
        tip_at_kill = self.tip()
        self.restart(a)
        to_local = self.output(a, cid, "local_delayed")
        assert_true(to_local["broadcast"], f"A, restarted at its CSV height, has not swept: {to_local}")
        a_sweep = to_local["txid"]
        try:
            self.wait_mempool(a_sweep, "A's to_local sweep", timeout=10)
        except TestFailure:
            self.log("A's sweep not resent at the restart: mining for the rebroadcast at the next tip")
        height = self.mine_until_confirmed(a_sweep, "A's to_local sweep", max_blocks=2)
        assert_equal(tip_at_kill, valid_from - 1)
        self.wait_spent_height(a, cid, "local_delayed", a_sweep, height)
        if height != valid_from:
            raise TestFailure(f"A's sweep confirmed at {height}, not at its CSV height {valid_from}: the kill delayed it")
        self.check_close_amounts(a_sweep, b_sweep, CAPACITY, FIRST_PAYMENT_SAT)

    def stage_breach(self):
        a, b = self.nodes
        cid = self.open_and_pay("breach", CAPACITY, FIRST_PAYMENT_SAT)
        self.log("4: A keeps its commitment, then pays B 50000 sat more, which revokes it")
        revoked = a.cli("dev-signlastcommitment", cid)
        self.pay(a, b, 50_000_000, "breach-after")
        self.wait_until(lambda: a.channel(cid)["pending_htlcs"] == 0 and b.channel(cid)["pending_htlcs"] == 0
                        and b.channel(cid)["to_us_msat"] == (FIRST_PAYMENT_SAT + 50000) * 1000,
                        timeout=30, message="the second payment never settled")
        self.log("kill -9 of B; A's revoked commitment is mined, and TO_SELF_DELAY-3 more blocks")
        b.kill()
        assert_equal(self.bitcoind.rpc("sendrawtransaction", revoked["tx"]), revoked["txid"])
        [commit_block] = self.mine(1)
        h = self.tip()
        assert_equal(self.confirmed_height(revoked["txid"]), h)
        self.mine(TO_SELF_DELAY - 3)
        self.log(f"B restarts at tip {self.tip()}; the cheater may sweep in block {h + TO_SELF_DELAY}")
        self.restart(b)
        onchain = self.wait_until(lambda: (o := self.onchain(b, cid)) and o["penalty_broadcast"] and o, timeout=30,
                                  message="B never broadcast a penalty after its restart")
        assert_equal(onchain["kind"], "revoked_remote_commitment")
        assert_equal(onchain["spend_txid"], revoked["txid"])
        assert_equal(onchain["spend_height"], h)
        penalty = onchain["penalty_txid"]
        self.wait_mempool(penalty, "B's penalty")
        b_sweep = self.wait_broadcast(b, cid, "to_remote")["txid"]
        self.wait_mempool(b_sweep, "B's to_remote sweep")
        assert_true(self.tip() < h + TO_SELF_DELAY - 1, "the penalty came too late")
        [block] = self.mine(1)
        p = self.tip()
        assert_equal(self.confirmed_height(penalty), p)
        assert_equal(self.confirmed_height(b_sweep), p)
        self.wait_spent_height(b, cid, "penalty_to_local", penalty, p)

        self.log(f"4a: reorg of 1 block, the penalty's ({p})")
        self.bitcoind.rpc("invalidateblock", block)
        self.synced()
        self.wait_spent_height(b, cid, "penalty_to_local", penalty, None)
        assert_equal(self.onchain(b, cid)["spend_height"], h)
        p2 = self.mine_until_confirmed(penalty, "B's penalty")
        assert_equal(p2, p)
        self.wait_spent_height(b, cid, "penalty_to_local", penalty, p2)
        self.mine_until_confirmed(b_sweep, "B's to_remote sweep")

        depth = self.tip() - h + 1
        self.log(f"4b: reorg of {depth} blocks ({h}..{self.tip()}), down to the revoked commitment's")
        self.bitcoind.rpc("invalidateblock", commit_block)
        self.synced()
        self.wait_spend_height(b, cid, None)
        self.wait_spent_height(b, cid, "penalty_to_local", penalty, None)
        if self.bitcoind.is_standin:
            self.log("stand-in: the mempool was dropped; the cheater republishes its revoked commitment")
            assert_equal(self.bitcoind.rpc("sendrawtransaction", revoked["tx"]), revoked["txid"])
        else:
            self.wait_mempool(revoked["txid"], "the revoked commitment, back from the disconnected block")
        self.mine(1)
        h2 = self.tip()
        assert_equal(self.confirmed_height(revoked["txid"]), h2)
        self.wait_spend_height(b, cid, h2)
        # On bitcoind the penalty came back to the mempool with the commitment; on the stand-in
        # B's broadcaster resends it at the next tip (the commitment's block).
        p3 = self.mine_until_confirmed(penalty, "B's penalty") if self.confirmed_height(penalty) is None else h2
        if not self.bitcoind.is_standin:
            assert_equal(p3, h2, "the penalty confirms with the commitment it came back with")
        assert_true(p3 < h2 + TO_SELF_DELAY - 1, f"the penalty confirmed at {p3}, the cheater's CSV ends at {h2 + TO_SELF_DELAY}")
        self.wait_spent_height(b, cid, "penalty_to_local", penalty, p3)
        self.mine_until_confirmed(b_sweep, "B's to_remote sweep")

        commitment = self.bitcoind.rpc("getrawtransaction", revoked["txid"], True)
        to_local = self.output(b, cid, "penalty_to_local")
        cheater_sat = round(commitment["vout"][to_local["output"]]["value"] * 100_000_000)
        assert_equal(to_local["amount_sat"], cheater_sat)
        assert_true(CAPACITY - FIRST_PAYMENT_SAT - 5000 < cheater_sat < CAPACITY - FIRST_PAYMENT_SAT,
                    f"A's to_local in its revoked commitment: {cheater_sat}")
        penalty_sat = self.wallet_owns_outputs(penalty)
        swept_sat = self.wallet_owns_outputs(b_sweep)
        assert_true(cheater_sat - 2000 < penalty_sat < cheater_sat, f"penalty pays {penalty_sat} of {cheater_sat}")
        # B's balance in the revoked commitment: the first payment only.
        assert_true(FIRST_PAYMENT_SAT - 2000 < swept_sat < FIRST_PAYMENT_SAT, f"B's to_remote sweep pays {swept_sat}")
        self.log(f"penalty paid the wallet {penalty_sat} of {cheater_sat} sat, B's to_remote sweep {swept_sat} sat")

    def stage_reorg_to_revoked(self):
        a, b = self.nodes
        cid = self.open_and_pay("reorg-revoked", CAPACITY, FIRST_PAYMENT_SAT)
        revoked = a.cli("dev-signlastcommitment", cid)
        self.pay(a, b, 50_000_000, "reorg-revoked-after")
        self.wait_until(lambda: a.channel(cid)["pending_htlcs"] == 0 and b.channel(cid)["pending_htlcs"] == 0
                        and b.channel(cid)["to_us_msat"] == (FIRST_PAYMENT_SAT + 50000) * 1000,
                        timeout=30, message="the second payment never settled")
        self.log("5: A closes with its current commitment; B sweeps its to_remote, A's to_local sweep reaches the mempool")
        commitment = self.force_close(cid)
        [block] = self.mine(1)
        h = self.tip()
        b_sweep = self.wait_broadcast(b, cid, "to_remote")["txid"]
        self.wait_mempool(b_sweep, "B's to_remote sweep")
        a_sweep = self.sweep_at_csv(cid, h)
        assert_equal(self.tip(), h + TO_SELF_DELAY - 1)
        # B records that spend of an output of A's commitment (every output is watched).
        b.wait_for_log(rf"output \d+ of {commitment} spent by {a_sweep}", timeout=30)
        self.log(f"reorg of {self.tip() - h + 1} blocks ({h}..{self.tip()}); the replacement block carries A's revoked commitment")
        self.bitcoind.rpc("invalidateblock", block)
        self.bitcoind.rpc("generateblock", self.bitcoind.new_address(), [revoked["tx"]])
        self.synced()
        h2 = self.tip()
        assert_equal(self.confirmed_height(revoked["txid"]), h2)
        onchain = self.wait_kind(b, cid, "revoked_remote_commitment")
        assert_equal((onchain["spend_txid"], onchain["spend_height"]), (revoked["txid"], h2))
        try:
            onchain = self.wait_until(lambda: (o := self.onchain(b, cid)) and o.get("penalty_broadcast") and o, timeout=20)
        except TestFailure:
            onchain = self.onchain(b, cid)
            raise TestFailure(f"B never penalized the revoked commitment that the reorg confirmed at {h2} (the cheater may "
                              f"sweep it in block {h2 + TO_SELF_DELAY}): onchain={onchain}")
        penalty = onchain["penalty_txid"]
        self.wait_mempool(penalty, "B's penalty")
        self.mine(1)
        assert_equal(self.confirmed_height(penalty), h2 + 1)
        to_local = self.output(b, cid, "penalty_to_local")
        penalty_sat = self.wallet_owns_outputs(penalty)
        assert_true(to_local["amount_sat"] - 2000 < penalty_sat < to_local["amount_sat"],
                    f"penalty pays {penalty_sat} of {to_local['amount_sat']}")
        self.log(f"penalty paid the wallet {penalty_sat} of {to_local['amount_sat']} sat")


if __name__ == "__main__":
    OnchainReorgCrashTest().main()
