#!/usr/bin/env python3
"""The peer layer at its limits:

- Connecting to our own node id fails at once (RPC_PEER_CONNECT_FAILED) and lists nobody.
- The first ping after connecting comes straight back: without TCP_NODELAY, Nagle's algorithm
  held it behind our init until the peer's delayed ACK for that init, about 25 ms later.
- Out of file descriptors, sideboltd neither spins nor goes deaf. B's soft limit is lowered with
  prlimit, first to none spare while one idle TCP connection waits on its p2p port: accept
  fails, there is nothing to close, and B must wait between tries (its CPU use stays low)
  instead of retrying at once. Then to a few spare while idle connections keep arriving, as in
  a flood: B closes those still in their handshake to free descriptors, so getinfo answers.
  B says so in debug.log once, not at every failure, and takes peers again after the flood."""

import json
import os
import socket
import statistics
import subprocess
import threading
import time

from test_framework.framework import SideboltTest
from test_framework.sidebolt_node import CliError
from test_framework.util import TestFailure, assert_equal, assert_true

RPC_PEER_CONNECT_FAILED = -100
NAGLE_ROUNDS = 5
# Loopback round trips are well under 1 ms; Nagle's stall was about 25 ms.
MAX_FIRST_PING_MS = 10
# During the flood, descriptors B may open beyond those it has.
SPARE_DESCRIPTORS = 6
MAX_CPU_SHARE = 0.20
CPU_WINDOW_S = 2.0
FLOOD_INTERVAL_S = 0.02
ACCEPT_WARNING = "accepting a peer connection failed"


def open_fd_numbers(pid):
    return [int(fd) for fd in os.listdir(f"/proc/{pid}/fd")]


def set_fd_limit(pid, limit):
    """Lowers the soft RLIMIT_NOFILE of a running process (the hard limit stays)."""
    subprocess.run(["prlimit", f"--pid={pid}", f"--nofile={limit}:"], check=True)


def cpu_seconds(pid):
    """utime + stime of the process, all threads, from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as f:
        # The command name is in parentheses and may hold spaces: split after it.
        fields = f.read().rsplit(")", 1)[1].split()
    # Fields 14 and 15 of stat(5), counted from the state (field 3) here.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Flood:
    """Idle TCP connections to a port: opened on demand, or every `interval` from a thread."""

    def __init__(self, port):
        self.port = port
        self.sockets = []
        self._stop = threading.Event()
        self._thread = None

    def open_one(self):
        self.sockets.append(socket.create_connection(("127.0.0.1", self.port), timeout=5))

    def start(self, interval):
        def run():
            while not self._stop.wait(interval):
                self.open_one()
        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    def stop(self):
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)

    def closed_by_peer(self):
        """How many of the connections the other end has closed."""
        closed = 0
        for s in self.sockets:
            s.setblocking(False)
            try:
                closed += s.recv(1) == b""
            except BlockingIOError:
                pass
            except ConnectionResetError:
                closed += 1
        return closed

    def close_all(self):
        for s in self.sockets:
            s.close()
        self.sockets.clear()


class P2pLimitsTest(SideboltTest):
    def set_test_params(self):
        self.num_nodes = 2

    def cli_error(self, code, node, method, *args):
        try:
            result = node.cli(method, *args)
        except CliError as e:
            error = json.loads(e.stderr)
            assert_equal(error["code"], code, f"{method} error code ({error})")
            return error["message"]
        raise TestFailure(f"{method} {args}: expected error {code}, got result {result!r}")

    def connect_to_ourselves(self):
        self.log("connect to our own node id fails at once")
        start = time.monotonic()
        message = self.cli_error(RPC_PEER_CONNECT_FAILED, self.b, "connect", self.b.p2p_address)
        self.log(f"own id: {message} ({time.monotonic() - start:.2f}s)")
        assert_true("cannot connect to our own node id" in message, f"unclear message: {message}")
        assert_equal(self.b.cli("listpeers"), [])

    def first_pings(self):
        self.log(f"first ping after connecting, both ways, {NAGLE_ROUNDS} times")
        rtts = []
        for _ in range(NAGLE_ROUNDS):
            self.a.cli("connect", self.b.p2p_address)
            rtts.append(self.a.cli("ping", self.b_id)["rtt_ms"])
            rtts.append(self.b.cli("ping", self.a_id)["rtt_ms"])
            self.a.cli("disconnect", self.b_id)
            self.wait_until(lambda: not self.a.cli("listpeers") and not self.b.cli("listpeers"), timeout=30,
                            message="A and B still list each other")
        self.log(f"first ping round trips (ms): {rtts}")
        # The median: a loaded machine may delay one, Nagle delayed every one of them.
        assert_true(statistics.median(rtts) < MAX_FIRST_PING_MS,
                    f"first pings after connecting are slow (Nagle?): {rtts}")

    def check_cpu(self, pid, what):
        cpu_before, wall_before = cpu_seconds(pid), time.monotonic()
        time.sleep(CPU_WINDOW_S)
        share = (cpu_seconds(pid) - cpu_before) / (time.monotonic() - wall_before)
        self.log(f"B's CPU use {what}: {share:.0%} of a core")
        assert_true(share < MAX_CPU_SHARE, f"B spins {what}: {share:.0%} of a core")

    def out_of_descriptors(self):
        pid = self.b.process.pid
        baseline = len(open_fd_numbers(pid))
        flood = Flood(self.b.p2p_port)
        try:
            # The limit is on descriptor numbers: at the lowest free one, the next descriptor
            # fails. The only peer connection is A's, established: nothing accept may close.
            numbers = set(open_fd_numbers(pid))
            set_fd_limit(pid, next(n for n in range(len(numbers) + 1) if n not in numbers))
            self.log(f"no descriptor left ({baseline} open); one idle connection waits to be accepted")
            flood.open_one()
            self.wait_until(lambda: self.b.log_contains(ACCEPT_WARNING), timeout=10,
                            message="B did not warn that accept failed")
            self.check_cpu(pid, "while accept fails with nothing to free")

            set_fd_limit(pid, max(open_fd_numbers(pid)) + 1 + SPARE_DESCRIPTORS)
            self.log(f"{SPARE_DESCRIPTORS} descriptors spare; idle connections keep coming")
            flood.start(FLOOD_INTERVAL_S)
            self.check_cpu(pid, "during the flood")
            start = time.monotonic()
            assert_equal(self.b.cli("getinfo", timeout=20)["id"], self.b_id)
            self.log(f"getinfo answered in {time.monotonic() - start:.2f}s during the flood")
        finally:
            flood.stop()
        assert_true(self.b.is_running(), "B exited")
        closed = flood.closed_by_peer()
        self.log(f"B closed {closed} of {len(flood.sockets)} idle connections to free descriptors")
        assert_true(closed > 0, "B should close idle connections still in their handshake when out of descriptors")

        warnings = [line for line in self.b.read_log().splitlines() if ACCEPT_WARNING in line]
        self.log(f"warning: {warnings[0]}")
        assert_equal(len(warnings), 1, "accept warnings (at most one a minute)")
        assert_true("Too many open files" in warnings[0], f"the warning should say why: {warnings[0]}")

        self.log("flood over: B takes peers again")
        flood.close_all()
        # B closes each connection as it reads its end, once it has accepted what is queued.
        self.wait_until(lambda: len(open_fd_numbers(pid)) <= baseline + 2, timeout=20,
                        message=f"B still holds the flood's descriptors: {len(open_fd_numbers(pid))} open")
        self.a.cli("disconnect", self.b_id)
        self.wait_until(lambda: not self.b.cli("listpeers"), timeout=30, message="B still lists A")
        assert_equal(self.a.cli("connect", self.b.p2p_address), {"id": self.b_id})
        assert_true(self.a.cli("ping", self.b_id)["rtt_ms"] >= 0, "ping after the flood")

    def run_test(self):
        self.a, self.b = self.nodes
        self.a_id = self.a.cli("getinfo")["id"]
        self.b_id = self.b.cli("getinfo")["id"]
        self.connect_to_ourselves()
        self.first_pings()
        self.a.cli("connect", self.b.p2p_address)
        self.out_of_descriptors()


if __name__ == "__main__":
    P2pLimitsTest().main()
