#!/usr/bin/env python3
"""Payments per second between two daemons on loopback, one channel, invoices made beforehand.

    bench/pay_bench.py [--payments N] [--concurrency 1,8,32,64] [--backend standin|bitcoind]

Starts a regtest node and two sideboltd (SIDEBOLT_BIN_DIR picks the build; use a Release one),
opens one channel A -> B, has B make every invoice first, then A pays them: one at a time, then
with several payments in flight at once. Prints payments/s, latency p50/p99 (from the `pay` call
to its answer), device syncs per payment on each node (from `getmetrics`: one per store
commit, its commit-log record, and two per checkpoint) and how long the disk took for those
commit-log writes (p50/p99 of both nodes' writes in the round, to within a fifth: a payment
waits for four of them one after another). When LIGHTNINGD names
Core Lightning and the backend is real bitcoind, two Core Lightning nodes run the same payments
in the same run and the ratios are printed.

Every call goes over a kept-alive JSON-RPC connection per client thread (HTTP to sideboltd, the
unix socket to lightningd) so that no process is spawned per payment. Each `pay` request is
encoded before its clock starts and its answer parsed after the clock stops: a latency is the
node's, from the request's first byte written to the answer's last byte read, not the Python
client's JSON work. Both implementations are timed the same way.

`--pause N,SECONDS` has the one-at-a-time round wait after every N payments, as a node paying in
bursts, and prints the first payment after a pause apart. For experiments: PAY_BENCH_DAEMON_ARGS
adds arguments to both sideboltd (e.g. "-busypollus=0"), PAY_BENCH_LOGLEVEL sets their log level
(default warn), and PAY_BENCH_LATENCIES=PREFIX writes each round's latencies in ms to
PREFIX.<implementation>.<in flight>, one a line.
"""

import argparse
import base64
import http.client
import json
import math
import os
import platform
import queue
import socket
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "functional"))

from test_framework.framework import SideboltTest  # noqa: E402
from test_framework.lightningd_node import LightningdNode, find_lightningd  # noqa: E402
from test_framework.util import TestFailure  # noqa: E402

CHANNEL_SAT = 16_000_000
INVOICE_MSAT = 1_000_000


class SideboltRpc:
    """One kept-alive HTTP connection to sideboltd's JSON-RPC, with the cookie."""

    def __init__(self, node):
        with open(os.path.join(node.datadir, ".cookie")) as f:
            self.auth = "Basic " + base64.b64encode(f.read().strip().encode()).decode()
        self.port = node.rpc_port
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=300)
        self.next_id = 0

    def call(self, method, *params):
        self.next_id += 1
        body = json.dumps({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": list(params)})
        self.conn.request("POST", "/", body, {"Authorization": self.auth, "Content-Type": "application/json"})
        reply = json.loads(self.conn.getresponse().read())
        if reply.get("error"):
            raise TestFailure(f"{method}: {reply['error']}")
        return reply["result"]


class ClnRpc:
    """One connection to lightningd's unix socket (its JSON-RPC)."""

    def __init__(self, cln):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(os.path.join(cln.lightning_dir, "regtest", "lightning-rpc"))
        self.decoder = json.JSONDecoder()
        self.buffer = ""
        self.next_id = 0

    def call(self, method, **params):
        self.next_id += 1
        self.sock.sendall(json.dumps({"jsonrpc": "2.0", "id": self.next_id, "method": method,
                                      "params": params}).encode())
        while True:
            text = self.buffer.lstrip()
            try:
                reply, end = self.decoder.raw_decode(text)
                self.buffer = text[end:]
                break
            except json.JSONDecodeError:
                chunk = self.sock.recv(1 << 16)
                if not chunk:
                    raise TestFailure(f"lightningd closed the RPC socket during {method}")
                self.buffer += chunk.decode()
        if reply.get("error"):
            raise TestFailure(f"{method}: {reply['error']}")
        return reply["result"]


def pay_result(answer):
    """The result of a `pay` answer, or TestFailure with its error."""
    reply = json.loads(answer)
    if reply.get("error"):
        raise TestFailure(f"pay: {reply['error']}")
    return reply["result"]


class SideboltPayClient:
    """`pay` over a raw kept-alive HTTP/1.1 connection: requests encoded ahead, answers read whole."""

    def __init__(self, node):
        self.rpc = SideboltRpc(node)
        self.sock = socket.create_connection(("127.0.0.1", self.rpc.port), timeout=300)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""
        self.next_id = 0

    def prepare(self, bolt11):
        self.next_id += 1
        body = json.dumps({"jsonrpc": "2.0", "id": self.next_id, "method": "pay", "params": [bolt11]}).encode()
        head = (f"POST / HTTP/1.1\r\nHost: 127.0.0.1:{self.rpc.port}\r\nAuthorization: {self.rpc.auth}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
        return head.encode() + body

    def exchange(self, request):
        self.sock.sendall(request)
        while b"\r\n\r\n" not in self.buffer:
            self.receive()
        head, _, rest = self.buffer.partition(b"\r\n\r\n")
        length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:"))
        while len(rest) < length:
            rest += self.receive_chunk()
        self.buffer = rest[length:]
        return rest[:length]

    def receive(self):
        self.buffer += self.receive_chunk()

    def receive_chunk(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise TestFailure("sideboltd closed the RPC connection")
        return chunk



class ClnPayClient:
    """`pay` over lightningd's unix socket: requests encoded ahead, answers read up to the blank
    line lightningd ends each one with."""

    def __init__(self, cln):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(os.path.join(cln.lightning_dir, "regtest", "lightning-rpc"))
        self.buffer = b""
        self.next_id = 0

    def prepare(self, bolt11):
        self.next_id += 1
        return json.dumps({"jsonrpc": "2.0", "id": self.next_id, "method": "pay", "params": {"bolt11": bolt11}}).encode()

    def exchange(self, request):
        self.sock.sendall(request)
        while b"\n\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise TestFailure("lightningd closed the RPC connection")
            self.buffer += chunk
        answer, _, self.buffer = self.buffer.partition(b"\n\n")
        return answer



def bucket_percentile(buckets, fraction):
    """The upper bound (µs) of the bucket holding `fraction` of a {upper bound: count} histogram."""
    total = sum(buckets.values())
    if total == 0:
        return None
    rank, seen = max(1, math.ceil(fraction * total)), 0
    for upper in sorted(buckets):
        seen += buckets[upper]
        if seen >= rank:
            return upper
    return max(buckets)


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class Implementation:
    """A pair of nodes of one implementation: invoices at the payee, `pay` at the payer, and
    each node's device syncs where the implementation reports them."""

    name = ""
    rpc_class = None
    pay_client_class = None

    def __init__(self, payer, payee):
        self.payer, self.payee = payer, payee

    def client(self):
        return self.pay_client_class(self.payer)

    def make_invoices(self, count, tag):
        rpc = self.rpc_class(self.payee)
        return [self.invoice(rpc, f"{tag}-{i}") for i in range(count)]

    def invoice(self, rpc, label):
        raise NotImplementedError

    def check_paid(self, result):
        if result.get("status") != "complete":
            raise TestFailure(f"{self.name}: payment not complete: {result}")

    def store_metrics(self):
        """Each node's store counters where the implementation reports them: its device syncs and,
        when timed, its commit-log write durations ({bucket upper bound in µs: count})."""
        return None


class Sidebolt(Implementation):
    name = "sidebolt"
    rpc_class = SideboltRpc
    pay_client_class = SideboltPayClient

    def invoice(self, rpc, label):
        return rpc.call("invoice", INVOICE_MSAT, label, "bench")["bolt11"]

    def store_metrics(self):
        stores = [SideboltRpc(n).call("getmetrics")["store"] for n in (self.payer, self.payee)]
        # A build before the store timed its writes (when comparing builds) has no write times.
        return tuple({"syncs": store["syncs"],
                      "writes": {upper: count for upper, count in store["commit_write_us"]["buckets"]}
                      if "commit_write_us" in store else None} for store in stores)


class CoreLightning(Implementation):
    name = "Core Lightning"
    rpc_class = ClnRpc
    pay_client_class = ClnPayClient

    def invoice(self, rpc, label):
        return rpc.call("invoice", amount_msat=INVOICE_MSAT, label=label, description="bench")["bolt11"]


def run_round(impl, invoices, concurrency, pause=None):
    """Pays every invoice with `concurrency` client threads; returns (seconds, latencies, syncs).
    The clients connect before the clock starts. `pause` (one client only): (n, seconds), a
    quiet spell after every n payments, left out of the round's time."""
    work = queue.Queue()
    for bolt11 in invoices:
        work.put(bolt11)
    latencies, errors = [], []
    lock = threading.Lock()
    paused = [0.0]

    def worker(client):
        while True:
            try:
                bolt11 = work.get_nowait()
            except queue.Empty:
                return
            if pause and latencies and len(latencies) % pause[0] == 0:
                time.sleep(pause[1])
                paused[0] += pause[1]
            request = client.prepare(bolt11)
            try:
                start = time.perf_counter()
                answer = client.exchange(request)
                latency = time.perf_counter() - start
                impl.check_paid(pay_result(answer))
            except Exception as e:  # reported after the round
                with lock:
                    errors.append(e)
                return
            with lock:
                latencies.append(latency)

    # Connecting is not paying: a burst of connections can also overflow the listen backlog
    # and wait out a SYN retransmission.
    clients = [impl.client() for _ in range(concurrency)]
    before = impl.store_metrics()
    threads = [threading.Thread(target=worker, args=(client,)) for client in clients]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - start - paused[0]
    after = impl.store_metrics()
    if errors:
        raise TestFailure(f"{impl.name}: {len(errors)} payments failed, first: {errors[0]}")
    syncs = writes = None
    if before is not None:
        syncs = tuple(a["syncs"] - b["syncs"] for a, b in zip(after, before))
        # Both nodes' log writes of the round together: they share the disk.
        if all(m["writes"] is not None for m in before):
            writes = {}
            for b, a in zip(before, after):
                for upper, count in a["writes"].items():
                    writes[upper] = writes.get(upper, 0) + count - b["writes"].get(upper, 0)
    return seconds, latencies, syncs, writes


class PayBench(SideboltTest):
    def __init__(self, args):
        super().__init__()
        self.args = args

    def set_test_params(self):
        self.num_nodes = 2
        threads = max(self.args.concurrency) + 8
        extra = os.environ.get("PAY_BENCH_DAEMON_ARGS", "").split()
        self.extra_args = [[f"-rpcthreads={threads}", f"-loglevel={os.environ.get('PAY_BENCH_LOGLEVEL', 'warn')}", *extra]] * 2

    def _parse_args(self):
        return self.args

    def open_sidebolt_channel(self, a, b):
        self.bitcoind.mine(101)
        b_id = b.cli("getinfo")["id"]
        a.cli("connect", b.p2p_address)
        channel_id = a.cli("fundchannel", b_id, str(CHANNEL_SAT))["channel_id"]
        self.bitcoind.mine(6)
        for node in (a, b):
            self.wait_until(lambda n=node: any(c["channel_id"] == channel_id and c["state"] == "normal"
                                               and c["peer_connected"] for c in n.cli("listchannels")["channels"]),
                            timeout=120, message="channel never normal")

    def start_cln_pair(self):
        lightningd = find_lightningd()
        if not lightningd or self.bitcoind.is_standin:
            return None
        payer, payee = (LightningdNode(i, os.path.join(self.tmpdir, f"cln{i}"), self.bitcoind) for i in range(2))
        self.cln_nodes = [payer, payee]
        for node in self.cln_nodes:
            node.start()
        self.bitcoind.wallet_rpc("sendtoaddress", payer.cli("newaddr")["bech32"], 1)
        self.bitcoind.mine(1)
        self.wait_until(lambda: len(payer.cli("listfunds")["outputs"]) > 0, timeout=60, message="CLN saw no coins")
        payer.cli("connect", payee.node_id, "127.0.0.1", payee.p2p_port)
        payer.cli("fundchannel", id=payee.node_id, amount=CHANNEL_SAT, announce=False)
        self.bitcoind.mine(6)
        self.wait_until(lambda: any(c["state"] == "CHANNELD_NORMAL" for c in payer.cli("listpeerchannels")["channels"]),
                        timeout=120, message="CLN channel never normal")
        self.wait_until(lambda: any(c["state"] == "CHANNELD_NORMAL" for c in payee.cli("listpeerchannels")["channels"]),
                        timeout=120, message="CLN channel never normal at the payee")
        return CoreLightning(payer, payee)

    def measure(self, impl):
        rounds = [(1, self.args.sequential)] + [(c, self.args.payments) for c in self.args.concurrency if c > 1]
        total = self.args.warmup + sum(n for _, n in rounds)
        self.log(f"{impl.name}: making {total} invoices at the payee")
        invoices = impl.make_invoices(total, "bench")
        run_round(impl, invoices[:self.args.warmup], 1)
        invoices = invoices[self.args.warmup:]
        results = []
        for concurrency, count in rounds:
            batch, invoices = invoices[:count], invoices[count:]
            seconds, latencies, syncs, writes = run_round(impl, batch, concurrency,
                                                          self.args.pause if concurrency == 1 else None)
            if os.environ.get("PAY_BENCH_LATENCIES"):
                with open(f"{os.environ['PAY_BENCH_LATENCIES']}.{impl.name}.{concurrency}", "w") as f:
                    f.write("\n".join(f"{x * 1000:.3f}" for x in latencies))
            row = {"concurrency": concurrency, "payments": count, "per_s": count / seconds,
                   "p50_ms": percentile(latencies, 0.50) * 1000, "p99_ms": percentile(latencies, 0.99) * 1000,
                   "syncs": None if syncs is None else [c / count for c in syncs],
                   "write_ms": None if not writes or not sum(writes.values()) else
                               [bucket_percentile(writes, q) / 1000 for q in (0.50, 0.99)]}
            results.append(row)
            syncs_text = ("" if row["syncs"] is None else
                          f"  syncs/payment payer {row['syncs'][0]:.2f} payee {row['syncs'][1]:.2f}")
            if row["write_ms"]:
                syncs_text += f"  log write p50 {row['write_ms'][0]:.2f} ms p99 {row['write_ms'][1]:.2f} ms"
            self.log(f"{impl.name} x{concurrency}: {row['per_s']:.0f} payments/s  p50 {row['p50_ms']:.2f} ms  "
                     f"p99 {row['p99_ms']:.2f} ms{syncs_text}")
            if self.args.pause and concurrency == 1 and len(latencies) > self.args.pause[0]:
                n = self.args.pause[0]
                first = latencies[n::n]
                others = [x for i, x in enumerate(latencies) if i == 0 or i % n]
                self.log(f"{impl.name} x1: first payment after a pause p50 {percentile(first, 0.5) * 1000:.2f} ms "
                         f"({len(first)}); the others p50 {percentile(others, 0.5) * 1000:.2f} ms "
                         f"p99 {percentile(others, 0.99) * 1000:.2f} ms")
        return results

    def run_test(self):
        a, b = self.nodes
        self.open_sidebolt_channel(a, b)
        sidebolt = self.measure(Sidebolt(a, b))
        cln_impl = self.start_cln_pair()
        cln = self.measure(cln_impl) if cln_impl else None
        self.report(sidebolt, cln)

    def report(self, sidebolt, cln):
        print(f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, {platform.platform()}; "
              f"backend {self.bitcoind.backend}; one channel, {INVOICE_MSAT // 1000} sat invoices")
        print(f"{'in flight':>9} {'payments':>8} | {'sidebolt/s':>10} {'p50 ms':>7} {'p99 ms':>7} "
              f"{'syncs A':>9} {'syncs B':>9} {'write p50':>9} {'write p99':>9}"
              + (" | CLN/s  p50 ms  p99 ms | ratio/s" if cln else ""))
        for i, row in enumerate(sidebolt):
            writes = row["write_ms"] or [float("nan")] * 2
            line = (f"{row['concurrency']:>9} {row['payments']:>8} | {row['per_s']:>10.0f} {row['p50_ms']:>7.2f} "
                    f"{row['p99_ms']:>7.2f} {row['syncs'][0]:>9.2f} {row['syncs'][1]:>9.2f} {writes[0]:>9.2f} {writes[1]:>9.2f}")
            if cln:
                other = cln[i]
                line += (f" | {other['per_s']:>5.0f} {other['p50_ms']:>7.2f} {other['p99_ms']:>7.2f} | "
                         f"{row['per_s'] / other['per_s']:>6.1f}x")
            print(line)
        if not cln:
            print("(Core Lightning not run: set LIGHTNINGD and use the real bitcoind backend to compare)")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sequential", type=int, default=200, help="payments made one at a time (default 200)")
    parser.add_argument("--payments", type=int, default=2000, help="payments per concurrent round (default 2000)")
    parser.add_argument("--concurrency", default="8,32,64",
                        help="payments in flight for the concurrent rounds (default 8,32,64)")
    parser.add_argument("--warmup", type=int, default=20, help="payments before measuring (default 20)")
    parser.add_argument("--pause", metavar="N,SECONDS",
                        help="one at a time, wait SECONDS after every N payments, as a node between bursts "
                             "of payments (the waits are not counted in payments/s)")
    parser.add_argument("--backend", choices=["bitcoind", "standin"], help="force the regtest backend")
    parser.add_argument("--tmpdir", help="root for this run's directory (default $TMPDIR)")
    parser.add_argument("--nocleanup", action="store_true", help="keep the run directory")
    args = parser.parse_args()
    args.concurrency = [int(c) for c in args.concurrency.split(",") if c]
    if args.pause:
        count, seconds = args.pause.split(",")
        args.pause = (int(count), float(seconds))
        if args.pause[0] < 1 or args.pause[1] < 0:
            parser.error("--pause needs N >= 1 and SECONDS >= 0")
    PayBench(args).main()


if __name__ == "__main__":
    main()
