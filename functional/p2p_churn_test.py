#!/usr/bin/env python3
"""Connection churn leaks nothing: 200 inbound connections (peer-probe churn: handshake, init,
a ping answered, close) and 25 outbound connect/disconnect rounds between two daemons leave
sideboltd's open file descriptors where they were and its resident memory within a bound.

Both are measured after a warm-up, so allocator pools, Asio's reactor and lazily opened
files are already in the baseline. ASan keeps freed memory in a quarantine of up to 256 MB,
which would look like growth; the daemons here run with a small quarantine instead. Both
daemons must then stop with exit code 0: under ASan, LeakSanitizer fails the exit on a leak."""

import json
import os
import subprocess
import time

from test_framework.framework import SideboltTest
from test_framework.sidebolt_node import require_binary
from test_framework.util import TestFailure, assert_equal, assert_true, tail

CHURN = 200
WARMUP = 50
OUTBOUND_ROUNDS = 25
FD_SLACK = 3
RSS_SLACK_KB = 8 * 1024


def open_fds(node):
    return len(os.listdir(f"/proc/{node.process.pid}/fd"))


def rss_kb(node):
    with open(f"/proc/{node.process.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise TestFailure("no VmRSS in /proc/<pid>/status")


class P2pChurnTest(SideboltTest):
    def set_test_params(self):
        self.num_nodes = 2
        # Extends (not replaces) what the caller set, e.g. detect_leaks from contrib/test.sh.
        os.environ["ASAN_OPTIONS"] = ":".join(filter(None, [os.environ.get("ASAN_OPTIONS"), "quarantine_size_mb=1"]))

    def churn(self, count):
        result = subprocess.run([self.probe, "--connect", f"127.0.0.1:{self.b.p2p_port}", "--node-id", self.b_id,
                                 "--mode", "churn", "--count", str(count)],
                                stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)
        assert_equal(result.returncode, 0, f"peer-probe churn exit code ({result.stdout.strip()})")
        report = json.loads(result.stdout.strip().splitlines()[-1])
        self.log(f"churn {count}: {report}")
        assert_equal(report["completed"], count, f"some connections failed: {report.get('first_error')}")
        return report

    def wait_no_peers(self, node):
        self.wait_until(lambda: not node.cli("listpeers"), timeout=30,
                        message=f"node {node.index} still lists closed peers")

    def wait_fds(self, node, limit):
        """The closes are asynchronous: give the descriptor count a moment to come back."""
        try:
            self.wait_until(lambda: open_fds(node) <= limit, timeout=10)
        except TestFailure:
            fd_dir = f"/proc/{node.process.pid}/fd"
            fds = sorted(os.readlink(os.path.join(fd_dir, fd)) for fd in os.listdir(fd_dir))
            raise TestFailure(f"node {node.index} leaks descriptors: {len(fds)} open, limit {limit}: {fds}")

    def measure(self, node):
        return open_fds(node), rss_kb(node)

    def check_growth(self, node, what, before):
        self.wait_no_peers(node)
        self.wait_fds(node, before[0] + FD_SLACK)
        (fds_before, rss_before), (fds_after, rss_after) = before, self.measure(node)
        self.log(f"{what}: fds {fds_before} -> {fds_after}, VmRSS {rss_before} -> {rss_after} kB "
                 f"({rss_after - rss_before:+d} kB)")
        assert_true(abs(fds_after - fds_before) <= FD_SLACK, f"{what}: descriptors {fds_before} -> {fds_after}")
        assert_true(rss_after - rss_before <= RSS_SLACK_KB,
                    f"{what}: VmRSS grew {rss_after - rss_before} kB (bound {RSS_SLACK_KB} kB)")

    def outbound_rounds(self, count):
        for _ in range(count):
            self.a.cli("connect", self.b.p2p_address)
            self.a.cli("disconnect", self.b_id)
            self.wait_until(lambda: not self.a.cli("listpeers"), timeout=30, message="A still lists B")

    def run_test(self):
        self.probe = require_binary("peer-probe")
        self.a, self.b = self.nodes
        self.b_id = self.b.cli("getinfo")["id"]

        self.log(f"inbound: warm up with {WARMUP} connections, then {CHURN}")
        self.churn(WARMUP)
        self.wait_no_peers(self.b)
        before = self.measure(self.b)
        start = time.monotonic()
        report = self.churn(CHURN)
        self.log(f"{CHURN} connections in {time.monotonic() - start:.1f}s, slowest {report['max_ms']} ms")
        self.check_growth(self.b, f"B after {CHURN} inbound connections", before)

        self.log(f"outbound: {OUTBOUND_ROUNDS} connect/disconnect rounds A -> B")
        self.outbound_rounds(3)
        self.wait_no_peers(self.b)
        before_a, before_b = self.measure(self.a), self.measure(self.b)
        self.outbound_rounds(OUTBOUND_ROUNDS)
        self.check_growth(self.a, f"A after {OUTBOUND_ROUNDS} outbound connections", before_a)
        self.check_growth(self.b, f"B after {OUTBOUND_ROUNDS} more inbound connections", before_b)

        # Under ASan, LeakSanitizer runs at exit and fails it on any leak the churn left behind.
        for node in self.nodes:
            code = node.stop()
            assert_equal(code, 0, f"node {node.index} exit code after churn\n{tail(node.stdout_path, 40)}")


if __name__ == "__main__":
    P2pChurnTest().main()
