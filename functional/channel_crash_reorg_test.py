#!/usr/bin/env python3
"""Channels between two sidebolt daemons survive kill -9 and reorgs.

1. kill -9 during the open, from A (opener) to B (fundee). (a) B is killed as it logs that it
   signed (racy: either end state), and once A logs the funding broadcast (A verified
   funding_signed, so B stored the channel before sending it: after its restart both list it
   and it locks in). (b) A is killed as it logs the broadcast (racy), and once bitcoind accepted
   its funding tx (must lock in). Whenever A still has the channel after the restarts, both
   reach `normal` with the short channel id of the funding block and no wallet output stays
   locked; when A forgot it, its coins are unlocked and no funding tx was broadcast.
2. kill -9 of B right after it logs that it agreed A's mutual close: after its restart a close
   confirms and both sides end `closed` (fails on a known bug, see kill_during_close).
3. A reorg of the funding block before channel_ready: the funding transaction confirms again in
   the new chain (re-broadcast by our broadcaster where the node dropped it: the stand-in
   empties its mempool on invalidateblock) and the channel locks in with the short channel id
   of its new block.
4. A reorg of the funding block of a `normal` channel: it stays `normal` (README: "a reorg of
   that block is followed"; nothing undoes channel_ready), its confirmations and short channel
   id follow the new chain, and it still closes cooperatively.

The racy kills land right after a log line that is written just before the batch that stores
it commits, so they accept either consistent end state and say which one they saw; what must
hold in each is asserted strictly."""

import os
import re
import time

from test_framework.framework import SideboltTest
from test_framework.util import BackgroundCli, TestFailure, assert_equal, assert_true


def channel_ids(node):
    return {c["channel_id"] for c in node.cli("listchannels")["channels"]}


class ChannelCrashReorgTest(SideboltTest):
    def set_test_params(self):
        self.num_nodes = 2

    # --- helpers -------------------------------------------------------------------------

    def log_offset(self, node):
        try:
            return os.path.getsize(node.log_path)
        except OSError:
            return 0

    def kill_on_log(self, node, regex, offset, timeout=60, watched=None):
        """kill -9 `node` as soon as the log of `watched` (default: node) after `offset` matches
        `regex`; returns the match. Polls tightly: the kill should land right after that step."""
        watched = watched or node
        pattern = re.compile(regex)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with open(watched.log_path, "rb") as f:
                f.seek(offset)
                match = pattern.search(f.read().decode(errors="replace"))
            if match:
                node.kill()
                return match
            time.sleep(0.002)
        raise TestFailure(f"log of sidebolt node {watched.index} never matched /{regex}/")

    def wait_state(self, node, channel_id, state, timeout=60):
        return self.wait_until(lambda: (c := node.channel(channel_id)) and c["state"] == state and c,
                               timeout=timeout, message=f"node {node.index}: channel {channel_id} never {state}")

    def wait_connected(self, node, channel_id, timeout=60):
        self.wait_until(lambda: (c := node.channel(channel_id)) and c["peer_connected"], timeout=timeout,
                        message=f"node {node.index}: peer of {channel_id} never reconnected")

    def assert_nothing_locked(self):
        assert_equal(self.bitcoind.wallet_rpc("listlockunspent"), [], "no wallet output may stay locked")

    def in_mempool(self, txid):
        return txid in self.bitcoind.rpc("getrawmempool")

    def wait_mempool(self, txid, timeout=30):
        self.wait_until(lambda: self.in_mempool(txid), timeout=timeout, message=f"tx {txid} never reached the mempool")

    def confirmed_at(self, txid):
        """(height, index in block, block hash) of txid in the active chain, or None."""
        tip = self.bitcoind.rpc("getblockcount")
        for height in range(tip, tip - 10, -1):
            block_hash = self.bitcoind.rpc("getblockhash", height)
            block = self.bitcoind.rpc("getblock", block_hash)
            if txid in block["tx"]:
                return block["height"], block["tx"].index(txid), block_hash
        return None

    def both_synced(self):
        tip = self.bitcoind.rpc("getblockcount")
        for node in self.nodes:
            self.wait_until(lambda: node.cli("getinfo")["blockheight"] == tip, timeout=30,
                            message=f"node {node.index} never reached height {tip}")

    def lock_in(self, channel_id, funding_txid):
        """Mines until the funding tx has 3 confirmations; both sides must reach normal with the
        short channel id of the funding block. A funding tx persisted but not sent before a kill
        is resent at the next block (not at startup), so one extra block may be needed."""
        try:
            self.wait_until(lambda: self.in_mempool(funding_txid), timeout=10)
        except TestFailure:
            self.log(f"funding tx {funding_txid} not in the mempool after the restart: mining for the rebroadcast")
        height, index, _ = self.confirmed_at(funding_txid) or self.mine_until_confirmed(funding_txid, max_blocks=2)
        self.bitcoind.mine(height + 2 - self.bitcoind.rpc("getblockcount"))
        for node in self.nodes:
            c = self.wait_state(node, channel_id, "normal")
            assert_equal(c["short_channel_id"], f"{height}x{index}x{c['funding_output']}", f"node {node.index}")
            assert_equal(c["funding_confirmations"], 3, f"node {node.index}")

    def open_and_lock_in(self, a, b_id, amount):
        opened = a.cli("fundchannel", b_id, str(amount))
        self.lock_in(opened["channel_id"], opened["funding_txid"])
        return opened["channel_id"]

    # --- cases ---------------------------------------------------------------------------

    def run_test(self):
        a, b = self.nodes
        self.b_id = b.cli("getinfo")["id"]
        self.bitcoind.mine(101)
        a.cli("connect", b.p2p_address)
        self.both_synced()
        self.kill_during_open("1a racy: kill -9 the fundee as it logs that it signed", victim=b, watched=b,
                              regex=r"channel \w+ with \w+ signed; waiting for the funding transaction")
        self.kill_during_open("1a: kill -9 the fundee once the opener has funding_signed", victim=b, watched=a,
                              regex=r"channel \w+ with \w+: funding transaction \w+ stored and broadcast", must_complete=True)
        self.kill_during_open("1b racy: kill -9 the opener as it logs the funding broadcast", victim=a, watched=a,
                              regex=r"channel \w+ with \w+: funding transaction \w+ stored and broadcast")
        usable = self.kill_during_open("1b: kill -9 the opener once bitcoind has its funding tx", victim=a, watched=a,
                                       regex=r"broadcast \w+ \(funding \w+\): ok", must_complete=True)
        cid = self.reorg_before_lockin()
        self.reorg_after_lockin(cid)
        # Last: it exposes a known bug when the kill lands after B stored the agreed close.
        self.kill_during_close(usable)

    def a_connected_to_b(self):
        return any(p["id"] == self.b_id for p in self.nodes[0].cli("listpeers"))

    def ensure_connected(self):
        """After an open both sides forgot, nothing reconnects by itself (no live channel)."""
        if not self.a_connected_to_b():
            self.nodes[0].cli("connect", self.nodes[1].p2p_address)
        self.wait_until(self.a_connected_to_b, timeout=30, message="A never connected to B")

    def kill_during_open(self, title, victim, watched, regex, must_complete=False):
        """A opens to B; `victim` is killed -9 when `watched` logs `regex`, then restarted. The end
        state must be consistent; with must_complete the kill came after the point of no return
        and the channel must lock in. Returns the channel id if it locked in."""
        a, b = self.nodes
        self.log(title)
        before_a, before_b = channel_ids(a), channel_ids(b)
        fund = BackgroundCli(a, "fundchannel", self.b_id, "100000")
        self.kill_on_log(victim, regex, self.log_offset(watched), watched=watched)
        fund.join()
        victim.start()
        new_a = channel_ids(a) - before_a
        assert_true(len(new_a) <= 1, f"one open, channels {new_a}")
        if new_a:
            (cid,) = new_a
            self.log("the opener kept the channel: it must lock in on both sides")
            if fund.result is not None:
                assert_equal(fund.result["channel_id"], cid)
            # Persist before send: funding_signed left B only after B stored the channel, and A
            # stored it (with its funding tx) before it could be broadcast.
            assert_true(cid in channel_ids(b), "the fundee lost a channel the opener has")
            funding_txid = a.channel(cid)["funding_txid"]
            # A reconnects by itself: it has a live channel with B and knows B's address.
            self.wait_connected(a, cid)
            self.lock_in(cid, funding_txid)
            # Not before: a funding tx stored but not yet sent when A died keeps its inputs
            # locked in the wallet until it is resent (at the next block).
            self.assert_nothing_locked()
            return cid
        assert_true(not must_complete, "the opener lost a channel whose funding_signed it had verified")
        self.log(f"the kill came before the opener stored funding_signed ({fund.error}): the open is forgotten")
        assert_true(fund.result is None, f"fundchannel answered {fund.result} but the opener has no channel")
        self.wait_until(lambda: self.bitcoind.wallet_rpc("listlockunspent") == [], timeout=30,
                        message="the forgotten open left wallet outputs locked")
        # The fundee may keep what it signed (BOLT 2: it forgets it after 2016 blocks unfunded), or
        # fail it when the opener answers its channel_reestablish with "unknown channel"; never
        # with a funding transaction, as none was broadcast.
        for cid in channel_ids(b) - before_b:
            c = b.channel(cid)
            assert_true(c["state"] in ("awaiting_lockin", "failed"), f"fundee's leftover: {c}")
            assert_true(not self.in_mempool(c["funding_txid"]), "a funding tx left before the opener stored it")
            assert_equal(c["funding_confirmations"], 0)
        self.ensure_connected()
        return None

    def kill_during_close(self, cid):
        a, b = self.nodes
        self.log("2: kill -9 the accepting peer right after it agreed the mutual close")
        self.wait_connected(a, cid)
        self.wait_connected(b, cid)
        offset = self.log_offset(b)
        close = BackgroundCli(a, "close", cid)
        self.kill_on_log(b, r"channel \w+: mutual close \w+ agreed", offset)
        b.start()
        self.log(f"B restarted with the channel {b.channel(cid)['state']}; A has it {a.channel(cid)['state']}")
        # Whatever the kill interrupted, a closing transaction reaches the chain: the one both
        # agreed, B's stored one (its broadcaster resends persisted transactions at each block),
        # or one renegotiated after the reconnection.
        def closing_txids():
            return {c.get("closing_txid") for n in (a, b) if (c := n.channel(cid))} - {None}

        closing = None
        for _ in range(3):
            try:
                self.wait_until(lambda: any(self.in_mempool(t) for t in closing_txids()), timeout=10)
            except TestFailure:
                pass
            self.bitcoind.mine(1)
            closing = next((t for t in closing_txids() if self.confirmed_at(t)), None)
            if closing:
                break
        assert_true(closing is not None, "no closing transaction confirmed after the restart")
        # When the kill lands after B stored the agreed close but before its closing_signed left,
        # A never learns that transaction: A recognises it on chain as a mutual close by its
        # shape (BOLT 3: locktime 0 and a final sequence, unlike a commitment), so both sides
        # end `closed` (A's `close` RPC may time out meanwhile).
        for node in (a, b):
            self.wait_state(node, cid, "closed", timeout=30)
        assert_equal(a.channel(cid)["closing_txid"], closing)
        assert_equal(b.channel(cid)["closing_txid"], closing)
        if close.result is not None:
            assert_equal(close.result["closing_txid"], closing)

    def mine_until_confirmed(self, txid, max_blocks=3):
        """Mines one block at a time (each to a new address) until txid is in the active chain."""
        for _ in range(max_blocks):
            self.bitcoind.mine(1)
            if found := self.confirmed_at(txid):
                return found
        raise TestFailure(f"{txid} not mined in {max_blocks} blocks of the new chain")

    def invalidate_funding_block(self, cid, funding_txid):
        a, b = self.nodes
        _, _, old_hash = self.confirmed_at(funding_txid)
        self.bitcoind.rpc("invalidateblock", old_hash)
        for node in (a, b):
            self.wait_until(lambda: "short_channel_id" not in node.channel(cid), timeout=30,
                            message=f"node {node.index} never saw the funding block disconnected")
            assert_equal(node.channel(cid)["funding_confirmations"], 0)
        if self.bitcoind.is_standin:
            # The stand-in drops its mempool on invalidateblock: only our broadcaster brings it back.
            self.log("stand-in: the funding tx must come back from the broadcaster")
        return old_hash

    def reorg_before_lockin(self):
        a, b = self.nodes
        self.log("3: reorg of the funding block before channel_ready")
        opened = a.cli("fundchannel", self.b_id, "150000")
        cid, txid = opened["channel_id"], opened["funding_txid"]
        self.wait_mempool(txid)
        self.bitcoind.mine(1)
        for node in (a, b):
            self.wait_until(lambda: node.channel(cid)["funding_confirmations"] == 1, timeout=30)
        old_hash = self.invalidate_funding_block(cid, txid)
        for node in (a, b):
            assert_equal(node.channel(cid)["state"], "awaiting_lockin")
        height, index, new_hash = self.mine_until_confirmed(txid)
        assert_true(new_hash != old_hash)
        self.bitcoind.mine(2)
        for node in (a, b):
            c = self.wait_state(node, cid, "normal")
            assert_equal(c["short_channel_id"], f"{height}x{index}x{c['funding_output']}", f"node {node.index}")
            assert_equal(c["funding_confirmations"], 3)
        return cid

    def reorg_after_lockin(self, cid):
        a, b = self.nodes
        self.log("4: reorg of the funding block of a normal channel")
        txid = a.channel(cid)["funding_txid"]
        old_scid = a.channel(cid)["short_channel_id"]
        old_hash = self.invalidate_funding_block(cid, txid)
        for node in (a, b):
            assert_equal(node.channel(cid)["state"], "normal", "a reorg does not undo channel_ready")
        height, index, new_hash = self.mine_until_confirmed(txid)
        assert_true(new_hash != old_hash)
        for node in (a, b):
            self.wait_until(lambda: node.channel(cid)["funding_confirmations"] == 1, timeout=30)
        self.bitcoind.mine(1)
        for node in (a, b):
            self.wait_until(lambda: node.channel(cid)["funding_confirmations"] == 2, timeout=30)
            c = node.channel(cid)
            assert_equal(c["state"], "normal")
            assert_equal(c["short_channel_id"], f"{height}x{index}x{c['funding_output']}", f"node {node.index}")
        self.log(f"short channel id {old_scid} -> {a.channel(cid)['short_channel_id']}")
        self.log("the channel still closes cooperatively")
        closed = a.cli("close", cid)
        self.wait_mempool(closed["closing_txid"])
        self.bitcoind.mine(1)
        for node in (a, b):
            self.wait_state(node, cid, "closed")
        self.assert_nothing_locked()


if __name__ == "__main__":
    ChannelCrashReorgTest().main()
