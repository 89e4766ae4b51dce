#!/usr/bin/env python3
"""Misbehaving peers are dropped and harm nobody else: with A connected to B and a well-behaved
peer-probe held open, each bad peer-probe mode (random bytes, a truncated or wrong-version act
one, a stalled maximal message, a corrupted length MAC, no init, no pongs) is disconnected by B,
while B keeps answering RPCs, A and B keep pinging each other and the good probe stays connected
and answers B's pings throughout.

B runs with -pinginterval=2, so a silent peer is dropped within about 4 s. The handshake and init
timeouts are fixed at 30 s in the daemon, so those two probes run in the background while the
others go one by one."""

import json
import os
import subprocess

from test_framework.framework import SideboltTest
from test_framework.sidebolt_node import require_binary
from test_framework.util import REGISTRY, TestFailure, assert_equal, assert_true, tail

# mode -> (min, max) ms between the offence and B hanging up.
IMMEDIATE = (0, 5_000)
# A ping after 2 s, dropped 2 s later when no pong came.
PONG_TIMEOUT = (1_500, 15_000)
# PeerConnectionOptions::handshake_timeout and PeerManagerOptions::init_timeout.
THIRTY_SECONDS = (25_000, 45_000)
FAST_MODES = {
    "random-bytes": IMMEDIATE,
    "bad-version": IMMEDIATE,
    "bad-mac": IMMEDIATE,
    "oversized-length": PONG_TIMEOUT,
    "no-pong": PONG_TIMEOUT,
}
SLOW_MODES = {
    "truncated-act1": THIRTY_SECONDS,
    "no-init": THIRTY_SECONDS,
}


def parse_report(mode, text):
    """The probe's last output line, as JSON; a failure if it says the probe could not play."""
    lines = text.strip().splitlines()
    if not lines:
        raise TestFailure(f"peer-probe {mode} printed nothing")
    report = json.loads(lines[-1])
    if "error" in report:
        raise TestFailure(f"peer-probe {mode} failed: {report['error']}")
    return report


class P2pMisbehaveTest(SideboltTest):
    def set_test_params(self):
        self.num_nodes = 2
        self.extra_args = [[], ["-pinginterval=2"]]

    def probe_args(self, mode, hold_ms):
        return [self.probe, "--connect", f"127.0.0.1:{self.b.p2p_port}", "--node-id", self.b_id,
                "--mode", mode, "--hold-ms", str(hold_ms)]

    def spawn_probe(self, mode, hold_ms):
        return REGISTRY.spawn(self.probe_args(mode, hold_ms), stdout=subprocess.PIPE)

    def check_dropped(self, mode, report, bounds):
        self.log(f"{mode}: {report}")
        assert_equal(report["mode"], mode)
        assert_true(report["closed_by_peer"], f"B did not drop the {mode} peer")
        low, high = bounds
        assert_true(low <= report["after_ms"] <= high, f"{mode}: dropped after {report['after_ms']} ms, "
                    f"expected {low}..{high}")

    def check_healthy(self):
        """B is up and answers; A and B still ping; only A and the good probe are connected."""
        assert_true(self.b.is_running(), "B exited")
        assert_equal(self.b.cli("getinfo")["id"], self.b_id)
        assert_true(self.a.cli("ping", self.b_id)["rtt_ms"] >= 0, "A -> B ping")
        assert_true(self.b.cli("ping", self.a_id)["rtt_ms"] >= 0, "B -> A ping")
        expected = sorted([self.a_id, self.good_id])
        self.wait_until(lambda: sorted(p["id"] for p in self.b.cli("listpeers")) == expected, timeout=15,
                        message=f"B's peers are not exactly A and the good probe: {self.b.cli('listpeers')}")

    def run_test(self):
        self.probe = require_binary("peer-probe")
        self.a, self.b = self.nodes
        self.a_id, self.b_id = (n.cli("getinfo")["id"] for n in self.nodes)
        self.a.cli("connect", self.b.p2p_address)

        self.log("a good probe connects and stays for the whole test")
        good = self.spawn_probe("good", 600_000)
        ready = json.loads(good.stdout.readline())
        assert_equal(ready.get("event"), "ready", f"good probe did not get ready: {ready}")
        self.good_id = ready["id"]
        self.check_healthy()

        self.log(f"background: {', '.join(SLOW_MODES)} (B's 30 s timeouts)")
        slow = {mode: self.spawn_probe(mode, 60_000) for mode in SLOW_MODES}

        for mode, bounds in FAST_MODES.items():
            result = subprocess.run(self.probe_args(mode, 20_000), stdin=subprocess.DEVNULL, capture_output=True,
                                    text=True, timeout=60)
            assert_equal(result.returncode, 0, f"peer-probe {mode} exit code ({result.stderr.strip()})")
            self.check_dropped(mode, parse_report(mode, result.stdout), bounds)
            self.check_healthy()

        for mode, proc in slow.items():
            output, _ = proc.communicate(timeout=90)
            REGISTRY.forget(proc)
            assert_equal(proc.returncode, 0, f"peer-probe {mode} exit code")
            self.check_dropped(mode, parse_report(mode, output.decode()), SLOW_MODES[mode])
        self.check_healthy()

        self.log("the good probe was never dropped and answered B's pings")
        good.terminate()
        output, _ = good.communicate(timeout=30)
        REGISTRY.forget(good)
        report = parse_report("good", output.decode())
        self.log(f"good: {report}")
        assert_true(not report["closed_by_peer"], "B dropped the good probe")
        assert_true(report["pings_answered"] >= 5, f"B should have pinged the good probe every 2 s: {report}")
        self.wait_until(lambda: [p["id"] for p in self.b.cli("listpeers")] == [self.a_id], timeout=15,
                        message="B still lists the good probe after it left")

        # Under ASan, LeakSanitizer runs at exit and fails it on anything the bad peers leaked.
        for node in (self.a, self.b):
            assert_equal(node.stop(), 0, f"node {node.index} exit code\n{tail(node.stdout_path, 40)}")


if __name__ == "__main__":
    P2pMisbehaveTest().main()
