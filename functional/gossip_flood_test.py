#!/usr/bin/env python3
"""A peer flooding invalid gossip is warned, then ignored, and harms nothing: A and B share an
announced channel; a peer-probe connects to A and sends thousands of channel_announcements that
decode but whose signatures are of another digest, interleaved with channel_updates of the A-B
channel with bad signatures. A warns it once per invalid message until the tenth
(GossipManager's kMaxInvalidPerPeer), then ignores its gossip for the rest of the connection:
exactly ten warnings, the connection kept. A's graph stays the A-B channel and the two nodes, A
answers RPCs throughout, pays B by keysend, and its logs hold no crash or sanitizer report. The
same peer reconnecting is listened to (and warned) again, and the forged updates of A-B spent
none of the budget of B's real ones. Correctly signed gossip of channels that do not exist on
chain (the probe's control mode) gets no warning and no graph entry."""

import json
import os
import subprocess
import time

from test_framework.framework import SideboltTest
from test_framework.sidebolt_node import require_binary
from test_framework.util import REGISTRY, TestFailure, assert_equal, assert_true

FLUSH = "-gossip.flushms=200"
# node/gossip_manager.cpp: kMaxInvalidPerPeer; every invalid message up to it gets a warning.
MAX_INVALID_PER_PEER = 10
# Pairs (announcement + update): 2 * FLOOD_PAIRS messages, well under the per-peer burst of 20000.
FLOOD_PAIRS = 2000
RECONNECT_PAIRS = 500
CONTROL_PAIRS = 100
HOLD_MS = 2000
# Each RPC through sidebolt-cli (an ASan build included) while the flood is being read.
RPC_BUDGET_S = 5.0
CRASH_MARKERS = ("AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer", "ThreadSanitizer", "runtime error:",
                 "terminate called", "Segmentation fault", "Assertion")
IGNORED_LOG = "invalid gossip messages: ignoring its gossip until it reconnects"


def parse_report(mode, text):
    lines = text.strip().splitlines()
    if not lines:
        raise TestFailure(f"peer-probe {mode} printed nothing")
    report = json.loads(lines[-1])
    if "error" in report:
        raise TestFailure(f"peer-probe {mode} failed: {report['error']}")
    return report


class GossipFloodTest(SideboltTest):
    def set_test_params(self):
        self.num_nodes = 2
        self.extra_args = [[FLUSH, "-alias=alice"], [FLUSH, "-alias=bob"]]

    def graph(self):
        return self.a.cli("listgraphchannels")["channels"]

    def graph_nodes(self):
        return sorted(n["nodeid"] for n in self.a.cli("listnodes")["nodes"])

    def probe_args(self, mode, pairs, key, scid=None):
        args = [self.probe, "--connect", f"127.0.0.1:{self.a.p2p_port}", "--node-id", self.ids[0], "--mode", mode,
                "--count", str(pairs), "--hold-ms", str(HOLD_MS), "--key", key]
        return args + (["--scid", scid] if scid else [])

    def run_probe(self, mode, pairs, key, scid=None):
        """Runs the probe; while it runs, times A's RPCs. Returns its report and the slowest RPC."""
        proc = REGISTRY.spawn(self.probe_args(mode, pairs, key, scid), stdout=subprocess.PIPE)
        slowest = 0.0
        calls = 0
        while proc.poll() is None:
            for method in ("getinfo", "listgraphchannels", "listpeers"):
                started = time.monotonic()
                self.a.cli(method, timeout=30)
                slowest = max(slowest, time.monotonic() - started)
                calls += 1
        output, _ = proc.communicate(timeout=60)
        REGISTRY.forget(proc)
        assert_equal(proc.returncode, 0, f"peer-probe {mode} exit code")
        report = parse_report(mode, output.decode())
        self.log(f"{mode}: {report}; {calls} RPCs to A meanwhile, slowest {slowest:.2f} s")
        assert_equal(report["mode"], mode)
        return report, slowest

    def wait_probe_gone(self, probe_id):
        self.wait_until(lambda: probe_id not in [p["id"] for p in self.a.cli("listpeers")], timeout=15,
                        message=f"A still lists probe {probe_id}")

    def check_graph_unchanged(self):
        graph = self.graph()
        assert_equal(sorted((c["short_channel_id"], c["source"], c["destination"]) for c in graph),
                     sorted((c["short_channel_id"], c["source"], c["destination"]) for c in self.baseline),
                     f"A's graph changed: {graph}")
        for before, after in zip(sorted(self.baseline, key=lambda c: c["source"]), sorted(graph, key=lambda c: c["source"])):
            for field in ("base_fee_millisatoshi", "fee_per_millionth", "delay", "htlc_minimum_msat", "htlc_maximum_msat",
                          "amount_msat"):
                assert_equal(after[field], before[field], f"A's {field} of {after['source']}")
        assert_equal(self.graph_nodes(), sorted(self.ids), "A's nodes")

    def ignored_count(self):
        return self.a.read_log().count(IGNORED_LOG)

    def check_flood(self, report, pairs, ignored_before):
        assert_equal(report["sent"], 2 * pairs, f"the probe could not send everything: {report}")
        assert_true(not report["stalled"], "A stopped reading the probe")
        assert_equal(report["warnings"], MAX_INVALID_PER_PEER, f"warnings, one per invalid message up to the limit: {report}")
        assert_true(report["first_warning"].startswith("channel_announcement refused: bad "), report["first_warning"])
        assert_equal(report["errors"], 0, "A sent an error")
        assert_true(not report["closed_by_peer"] and report["connection_up"], f"A dropped the flooding peer: {report}")
        short = report["id"][:16]
        self.a.wait_for_log(f"peer {short} sent {MAX_INVALID_PER_PEER} {IGNORED_LOG}", timeout=10)
        assert_equal(self.ignored_count(), ignored_before + 1, "one 'ignoring' line per flooding connection")

    def run_test(self):
        self.probe = require_binary("peer-probe")
        self.a, self.b = self.nodes
        self.ids = [n.cli("getinfo")["id"] for n in self.nodes]
        self.bitcoind.mine(101)
        self.a.cli("connect", self.b.p2p_address)

        self.log("announced channel A-B, six confirmations")
        channel = self.a.cli("fundchannel", self.ids[1], "500000", "1000", "1")["channel_id"]
        self.bitcoind.mine(6)
        self.wait_channel_normal(self.a, channel)
        self.wait_until(lambda: len([c for c in self.graph() if "last_update" in c]) == 2, timeout=60,
                        message=f"A never learned the channel in both directions: {self.graph()}")
        self.wait_until(lambda: self.graph_nodes() == sorted(self.ids), timeout=30)
        self.baseline = self.graph()
        scid = self.baseline[0]["short_channel_id"]
        started = time.monotonic()
        self.a.cli("listgraphchannels")
        self.log(f"A-B is {scid}; a quiet listgraphchannels takes {time.monotonic() - started:.2f} s")

        self.log(f"control: {CONTROL_PAIRS} correctly signed announcements of channels not on chain")
        report, _ = self.run_probe("good-gossip", CONTROL_PAIRS, os.urandom(32).hex())
        assert_equal(report["sent"], 2 * CONTROL_PAIRS)
        assert_equal(report["warnings"], 0, f"valid signatures were warned: {report}")
        assert_true(report["connection_up"], "A dropped the control peer")
        self.wait_probe_gone(report["id"])
        self.check_graph_unchanged()

        key = os.urandom(32).hex()
        self.log(f"flood: {FLOOD_PAIRS} bad announcements interleaved with bad updates of {scid}")
        report, slowest = self.run_probe("bad-gossip", FLOOD_PAIRS, key, scid)
        self.check_flood(report, FLOOD_PAIRS, 0)
        assert_true(slowest < RPC_BUDGET_S, f"A took {slowest:.2f} s to answer an RPC during the flood")
        probe_id = report["id"]
        self.log(f"flood: {report['sent']} messages in {report['send_ms']} ms, {report['warnings']} warnings")
        self.check_graph_unchanged()

        self.log("A still pays B")
        sent = self.a.cli("keysend", self.ids[1], "10000000")
        assert_equal(sent["status"], "complete")

        self.log("the same peer reconnects: listened to, so warned, again")
        self.wait_probe_gone(probe_id)
        report, slowest = self.run_probe("bad-gossip", RECONNECT_PAIRS, key, scid)
        assert_equal(report["id"], probe_id, "the probe reconnected as the same peer")
        self.check_flood(report, RECONNECT_PAIRS, 1)
        assert_true(slowest < RPC_BUDGET_S, f"A took {slowest:.2f} s to answer an RPC during the second flood")
        self.wait_probe_gone(probe_id)
        self.check_graph_unchanged()
        assert_equal(self.a.cli("keysend", self.ids[1], "10000000")["status"], "complete")
        assert_equal([p["id"] for p in self.a.cli("listpeers")], [self.ids[1]])

        self.log("forged updates of A-B spent no budget of B's: B's new fee still reaches A")
        self.b.cli("setchannelfee", "3000", "30")
        self.wait_until(lambda: any(c["source"] == self.ids[1] and c.get("base_fee_millisatoshi") == 3000 for c in self.graph()),
                        timeout=30, message=f"B's new fee never reached A: {self.graph()}")

        self.log("no crash or sanitizer report; a clean stop (LeakSanitizer runs at exit under ASan)")
        for node in (self.a, self.b):
            assert_true(node.is_running(), f"node {node.index} exited")
        for node in (self.a, self.b):
            assert_equal(node.stop(), 0, f"node {node.index} exit code")
            for path in node.log_paths():
                with open(path, encoding="utf-8", errors="replace") as f:
                    text = f.read()
                found = [m for m in CRASH_MARKERS if m in text]
                assert_true(not found, f"{path} has {found}")


if __name__ == "__main__":
    GossipFloodTest().main()
