"""Helpers for tests of on-chain resolution (BOLT 5): mining and waiting for the daemons to
follow, bitcoind's mempool, chain and wallet, and the `onchain` part of a listchannels entry.

    class MyTest(OnchainHelpers, SideboltTest):
        ...

The helpers use the test's `bitcoind`, `nodes`, `wait_until` and `log`. Where a helper plays a
channel's two sides, nodes[0] is A (the opener) and nodes[1] is B."""

import os
import time
import traceback

from .util import assert_equal, assert_true


class OnchainHelpers:
    """Mixin for a SideboltTest."""

    # --- chain -----------------------------------------------------------------------------

    def tip(self):
        """bitcoind's block count."""
        return self.bitcoind.rpc("getblockcount")

    def synced(self, *nodes, settle=0.0, timeout=30):
        """Waits until every node given (default all) has processed bitcoind's tip; `settle` more
        seconds let the channel manager act on it before a negative check."""
        best = self.bitcoind.rpc("getbestblockhash")
        for node in nodes or self.nodes:
            self.wait_until(lambda: node.cli("getinfo")["blockhash"] == best, timeout=timeout,
                            message=f"node {node.index} never reached tip {best} (height {self.tip()})")
        if settle:
            time.sleep(settle)

    def mine(self, n=1):
        """Mines n blocks and waits until every running node has processed them; their hashes."""
        hashes = self.bitcoind.mine(n)
        self.synced(*[x for x in self.nodes if x.is_running()])
        return hashes

    def mine_only(self, txids):
        """Mines one block holding exactly `txids` (generateblock; [] for an empty block), without
        waiting for the nodes; its hash."""
        return self.bitcoind.rpc("generateblock", self.bitcoind.new_address(), txids)["hash"]

    def in_mempool(self, txid):
        return txid in self.bitcoind.rpc("getrawmempool")

    def wait_mempool(self, txid, what, timeout=30):
        """Waits until txid (`what`, for the failure message) is in bitcoind's mempool."""
        self.wait_until(lambda: self.in_mempool(txid), timeout=timeout,
                        message=f"{what} {txid} never reached the mempool (tip {self.tip()})")

    def confirmed_height(self, txid, depth=30):
        """Height of txid in the active chain (searching the last `depth` blocks), or None."""
        tip = self.tip()
        for height in range(tip, max(tip - depth, 0), -1):
            if txid in self.bitcoind.rpc("getblock", self.bitcoind.rpc("getblockhash", height))["tx"]:
                return height
        return None

    def spenders_of(self, txid, vout):
        """Mempool transactions spending txid:vout."""
        found = []
        for m in self.bitcoind.rpc("getrawmempool"):
            tx = self.bitcoind.rpc("getrawtransaction", m, True)
            if any(i.get("txid") == txid and i.get("vout") == vout for i in tx["vin"]):
                found.append(m)
        return found

    def funding_spenders(self, cid):
        """Mempool transactions spending the funding output of channel `cid` (as A shows it)."""
        c = self.nodes[0].channel(cid)
        return self.spenders_of(c["funding_txid"], c["funding_output"])

    def wallet_owns_outputs(self, txid, timeout=30):
        """Every output of txid is an unspent coin of bitcoind's wallet (waiting up to `timeout`
        seconds for them, 0: checked at once); returns their sum in sat."""
        tx = self.bitcoind.rpc("getrawtransaction", txid, True)
        if timeout:
            self.wait_until(lambda: len([u for u in self.bitcoind.wallet_rpc("listunspent", 0) if u["txid"] == txid]) == len(tx["vout"]),
                            timeout=timeout, message=f"{txid}: outputs not all the wallet's")
        coins = [u for u in self.bitcoind.wallet_rpc("listunspent", 0) if u["txid"] == txid]
        assert_equal(sorted(u["vout"] for u in coins), [o["n"] for o in tx["vout"]], f"{txid}: outputs not all the wallet's")
        return sum(round(u["amount"] * 100_000_000) for u in coins)

    # --- channels ----------------------------------------------------------------------------

    def restart(self, node):
        """Starts sidebolt `node` again and waits until it has processed bitcoind's tip."""
        node.start()
        self.synced(node)

    def pay(self, payer, payee, amount_msat, label):
        """`payer` pays an invoice of `payee`; the payment must complete."""
        invoice = payee.cli("invoice", str(amount_msat), label, label)
        assert_equal(payer.cli("pay", invoice["bolt11"])["status"], "complete")

    def open_and_pay(self, label, capacity_sat, payment_sat):
        """A fresh channel A -> B (restarting either if down) of `capacity_sat`, in which A paid B
        `payment_sat`; its id."""
        a, b = self.nodes[:2]
        for node in (a, b):
            if not node.is_running():
                self.restart(node)
        b_id = b.cli("getinfo")["id"]
        if not any(p["id"] == b_id for p in a.cli("listpeers")):
            a.cli("connect", b.p2p_address)
        cid = a.cli("fundchannel", b_id, str(capacity_sat))["channel_id"]
        self.mine(3)
        for node in (a, b):
            self.wait_channel_normal(node, cid)
        self.pay(a, b, payment_sat * 1000, label)
        self.wait_until(lambda: a.channel(cid)["pending_htlcs"] == 0 and b.channel(cid)["pending_htlcs"] == 0
                        and b.channel(cid)["to_us_msat"] == payment_sat * 1000,
                        timeout=30, message="the first payment never settled")
        return cid

    def force_close(self, cid):
        """A closes unilaterally; returns its commitment's txid once both resolved it from the mempool."""
        a, b = self.nodes[:2]
        closed = a.cli("-named", "close", f"id={cid}", "unilateral=true")
        assert_equal(closed["type"], "unilateral")
        commitment = closed["closing_txid"]
        self.wait_mempool(commitment, "A's commitment")
        self.wait_kind(a, cid, "local_commitment")
        self.wait_kind(b, cid, "remote_commitment")
        return commitment

    def onchain(self, node, cid):
        """The `onchain` part of `node`'s listchannels entry for `cid` (None without either)."""
        c = node.channel(cid)
        return c.get("onchain") if c else None

    def output(self, node, cid, duty):
        """The output with `duty` in `node`'s resolution of `cid`, or None."""
        o = self.onchain(node, cid)
        return next((x for x in o["outputs"] if x["duty"] == duty), None) if o else None

    def wait_kind(self, node, cid, kind, timeout=30):
        """Waits until `node` resolves the spend of `cid` as `kind`; returns its `onchain`."""
        # onchain.kind is null until bitcoind's wallet gave the sweep address.
        return self.wait_until(lambda: (o := self.onchain(node, cid)) and o["kind"] == kind and o, timeout=timeout,
                               message=f"node {node.index}: channel {cid} never resolved as {kind} "
                                       f"(shows {self.onchain(node, cid)})")

    def wait_spend_height(self, node, cid, height, timeout=30):
        """Waits until `node` shows the funding spend of `cid` confirmed at `height` (None: unconfirmed)."""
        self.wait_until(lambda: (o := self.onchain(node, cid)) and o["spend_height"] == height, timeout=timeout,
                        message=f"node {node.index}: funding spend of {cid} never shown at height {height} "
                                f"(shows {self.onchain(node, cid)})")

    def wait_broadcast(self, node, cid, duty, timeout=30):
        """Waits until `node` has broadcast its spend of the `duty` output; returns that output."""
        return self.wait_until(lambda: (x := self.output(node, cid, duty)) and x["broadcast"] and x, timeout=timeout,
                               message=f"node {node.index}: {duty} of {cid} never broadcast at tip {self.tip()} "
                                       f"(shows {self.output(node, cid, duty)})")

    def wait_spent_height(self, node, cid, duty, txid, height, timeout=30):
        """Waits until `node` shows the `duty` output spent by txid at `height` (None: unconfirmed)."""
        self.wait_until(lambda: (x := self.output(node, cid, duty)) and x["spent_by"] == txid and x["spent_height"] == height,
                        timeout=timeout, message=f"node {node.index}: {duty} of {cid} never shown spent by {txid} at "
                                                 f"{height} (shows {self.output(node, cid, duty)})")

    def check_close_amounts(self, a_sweep, b_sweep, capacity_sat, b_share_sat,
                            a_what="A's to_local sweep", b_what="B's to_remote sweep"):
        """After a unilateral close of a channel of `capacity_sat` where B had `b_share_sat`, A's
        and B's sweeps pay bitcoind's wallet their shares less fees."""
        a_sat = self.wallet_owns_outputs(a_sweep)
        b_sat = self.wallet_owns_outputs(b_sweep)
        # A: the capacity less B's share, the commitment fee and two anchors, less the sweep fee.
        assert_true(capacity_sat - b_share_sat - 5000 < a_sat < capacity_sat - b_share_sat, f"{a_what} pays {a_sat}")
        assert_true(b_share_sat - 2000 < b_sat < b_share_sat, f"{b_what} pays {b_sat}")
        self.log(f"{a_what} paid the wallet {a_sat} sat, {b_what} {b_sat} sat")

    # --- stages ------------------------------------------------------------------------------

    def run_stages(self, stages, only_env, before=None, after_failure=None):
        """Runs each (title, function) of `stages`, even when an earlier one failed; returns the
        titles of those that failed (a traceback is printed for each). `before` runs at the start
        of each stage (a failure of it fails the stage), `after_failure` after a failed one. The
        environment variable `only_env` (e.g. "1,4", while debugging) runs only the stages whose
        label before the colon it names."""
        failed = []
        only = os.environ.get(only_env)
        started = time.monotonic()
        for title, stage in stages:
            if only and title.split(":")[0] not in only.split(","):
                continue
            self.log(f"=== stage {title}")
            t0 = time.monotonic()
            try:
                if before:
                    before()
                stage()
                self.log(f"=== stage {title}: passed in {time.monotonic() - t0:.0f} s")
            except Exception:
                traceback.print_exc()
                self.log(f"=== stage {title}: FAILED after {time.monotonic() - t0:.0f} s")
                failed.append(title)
                if after_failure:
                    after_failure()
        self.log(f"all stages in {time.monotonic() - started:.0f} s")
        return failed
