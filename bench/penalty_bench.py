#!/usr/bin/env python3
"""Breach remedy latency: from a revoked commitment entering bitcoind's mempool to the penalty
transaction entering it.

    bench/penalty_bench.py [--breaches N] [--backend standin|bitcoind]

Starts a regtest node and two sideboltd: A, the victim, and B, the cheater (-developer). A opens
N channels to B. On each, A pays B, B keeps its current commitment (dev-signlastcommitment) and
pays part back, so the kept commitment is revoked. Then, one channel at a time, the revoked
commitment is handed to bitcoind (sendrawtransaction) with no block mined. A subscriber of
bitcoind's ZMQ `rawtx` stamps the commitment's arrival in the mempool and the arrival of the
first transaction spending it, A's penalty: the difference is the latency printed (median, p90,
max). It covers bitcoind's notification to sideboltd, the resolver, signing, the durable write
and sendrawtransaction, and bitcoind's acceptance of the penalty. SIDEBOLT_BIN_DIR picks the
build; use a Release one.

Core Lightning, LND, Eclair and LDK act on a revoked commitment only once it is in a block, so
there is no same-method comparison: their latency is at least the time to the next block.
"""

import argparse
import os
import platform
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "functional"))

from test_framework.framework import SideboltTest  # noqa: E402
from test_framework.tx import Tx  # noqa: E402
from test_framework.util import TestFailure  # noqa: E402
from test_framework.zmq_subscriber import ZmqSubscriber  # noqa: E402

CHANNEL_SAT = 1_000_000
PAY_MSAT = 300_000_000
PAY_BACK_MSAT = 100_000_000
OPEN_BATCH = 2


class MempoolClock:
    """Stamps every transaction bitcoind announces on ZMQ `rawtx` with its arrival time."""

    def __init__(self, address):
        self.subscriber = ZmqSubscriber(address, ["rawtx"])
        self.seen = {}  # txid -> (monotonic seconds, spent txids)
        self.lock = threading.Condition()
        self.stopping = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stopping:
            try:
                note = self.subscriber.receive(timeout=0.2)
            except TimeoutError:
                continue
            at = time.monotonic()
            tx = Tx.deserialize(note.body)
            with self.lock:
                self.seen.setdefault(tx.txid(), (at, {i.txid for i in tx.vin}))
                self.lock.notify_all()

    def wait(self, predicate, timeout=30):
        """The (txid, time) of the first transaction seen for which predicate(txid, spent) holds."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while True:
                for txid, (at, spent) in self.seen.items():
                    if predicate(txid, spent):
                        return txid, at
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TestFailure("timed out waiting for a transaction on ZMQ rawtx")
                self.lock.wait(remaining)

    def close(self):
        self.stopping = True
        self.thread.join()
        self.subscriber.close()


class PenaltyBench(SideboltTest):
    def __init__(self, args):
        super().__init__()
        self.args = args

    def set_test_params(self):
        self.num_nodes = 2
        loglevel = f"-loglevel={os.environ.get('PENALTY_BENCH_LOGLEVEL', 'warn')}"
        self.extra_args = [[loglevel], [loglevel, "-developer"]]

    def _parse_args(self):
        return self.args

    def pay_over(self, payer, payee, cid, amount_msat, label):
        """Pays over channel `cid` (an explicit route: several channels join A and B)."""
        invoice = payee.cli("invoice", str(amount_msat), label, "bench")
        route = [{"id": payee.cli("getinfo")["id"], "channel": payer.channel(cid)["short_channel_id"],
                  "amount_msat": amount_msat, "delay": 18 + 2}]
        payer.cli("sendpay", route, invoice["payment_hash"], invoice["payment_secret"])
        if payer.cli("waitsendpay", invoice["payment_hash"], "60")["status"] != "complete":
            raise TestFailure(f"payment {label} failed")

    def prepare(self, a, b):
        """Opens the channels and returns one revoked commitment of B's per channel."""
        count = self.args.breaches
        # One mature coinbase per funding transaction, so none waits on another's change.
        self.bitcoind.mine(100 + count)
        b_id = b.cli("getinfo")["id"]
        a.cli("connect", b.p2p_address)
        channels = []
        while len(channels) < count:
            # A few at a time: sideboltd limits the opens pending with one peer.
            batch = [a.cli("fundchannel", b_id, str(CHANNEL_SAT))["channel_id"] for _ in range(min(OPEN_BATCH, count - len(channels)))]
            self.bitcoind.mine(3)
            for cid in batch:
                for node in (a, b):
                    self.wait_channel_normal(node, cid)
            channels += batch
        revoked = []
        for i, cid in enumerate(channels):
            self.pay_over(a, b, cid, PAY_MSAT, f"to-b-{i}")
            self.wait_until(lambda c=cid: b.channel(c)["to_us_msat"] == PAY_MSAT and b.channel(c)["pending_htlcs"] == 0,
                            timeout=30, message="B never settled")
            revoked.append(b.cli("dev-signlastcommitment", cid))
            self.pay_over(b, a, cid, PAY_BACK_MSAT, f"to-a-{i}")
            self.wait_until(lambda c=cid: a.channel(c)["pending_htlcs"] == 0 and b.channel(c)["pending_htlcs"] == 0,
                            timeout=30, message="the payment back never settled")
        return revoked

    def run_test(self):
        a, b = self.nodes
        revoked = self.prepare(a, b)
        clock = MempoolClock(self.bitcoind.zmq_address)
        latencies = []
        try:
            for commitment in revoked:
                self.bitcoind.rpc("sendrawtransaction", commitment["tx"])
                _, entered = clock.wait(lambda txid, _, c=commitment: txid == c["txid"])
                penalty, answered = clock.wait(lambda _, spent, c=commitment: c["txid"] in spent)
                latencies.append(answered - entered)
                self.log(f"breach {len(latencies)}: penalty {penalty[:16]} {1000 * (answered - entered):.1f} ms after the commitment")
        finally:
            clock.close()
        self.report(latencies)

    def report(self, latencies):
        ms = sorted(1000 * x for x in latencies)
        p90 = ms[min(len(ms) - 1, int(0.9 * len(ms)))]
        print(f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, {platform.platform()}; "
              f"backend {self.bitcoind.backend}; {len(ms)} breaches, one channel each, no block mined")
        print(f"revoked commitment in the mempool -> penalty in the mempool: median {statistics.median(ms):.1f} ms, "
              f"p90 {p90:.1f} ms, min {ms[0]:.1f} ms, max {ms[-1]:.1f} ms")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--breaches", type=int, default=10, help="channels breached, one after another (default 10)")
    parser.add_argument("--backend", choices=["bitcoind", "standin"], help="force the regtest backend")
    parser.add_argument("--tmpdir", help="root for this run's directory (default $TMPDIR)")
    parser.add_argument("--nocleanup", action="store_true", help="keep the run directory")
    args = parser.parse_args()
    PenaltyBench(args).main()


if __name__ == "__main__":
    main()
