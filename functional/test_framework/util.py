"""Shared helpers: free ports, child-process registry, waiting, assertions."""

import atexit
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import threading
import time

_PR_SET_PDEATHSIG = 1


class TestFailure(AssertionError):
    pass


class SkipTest(Exception):
    """The test cannot run here (a binary is missing); the runner reports it as skipped."""


def free_port():
    """A TCP port that was free a moment ago (bind-to-0). Callers retry on a bind race."""
    return free_ports(1)[0]


def free_ports(count):
    """`count` distinct TCP ports that were free a moment ago: bound all at once, since the
    kernel may hand out a port again as soon as it is released (a node's RPC and peer ports once
    came out the same)."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@contextlib.contextmanager
def refused_port():
    """A port nothing answers on, for as long as the block runs: bound but not listening, so a
    connection is refused and no other process (a test running beside this one) can take it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        yield s.getsockname()[1]


def start_retrying_taken_ports(launch, wait_ready, bind_failed, pick_ports, attempts=3):
    """Starts a node: launch() spawns it and returns the process, wait_ready() waits until it
    answers. When it exited because another process took a port between the pick and the bind
    (bind_failed()), picks new ports and tries again, `attempts` times in all."""
    for attempt in range(attempts):
        if attempt > 0:
            pick_ports()
        process = launch()
        try:
            return wait_ready()
        except TestFailure:
            if attempt == attempts - 1 or process.poll() is None or not bind_failed():
                raise
            REGISTRY.forget(process)


class BackgroundCli:
    """Runs one sidebolt-cli call on a thread and keeps its result or its error: the daemon may
    be killed under it."""

    def __init__(self, node, method, *args):
        self.result = None
        self.error = None
        self.thread = threading.Thread(target=self._run, args=(node, method, args), daemon=True)
        self.thread.start()

    def _run(self, node, method, args):
        try:
            self.result = node.cli(method, *args, timeout=120)
        except Exception as e:  # reported by whoever waits for the call
            self.error = e

    def join(self, timeout=90):
        self.thread.join(timeout)
        if self.thread.is_alive():
            raise TestFailure("background sidebolt-cli call never returned")
        return self


def wait_until(predicate, timeout=60, interval=0.1, message=None):
    """Polls `predicate` until it returns a truthy value, which is returned."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TestFailure(message or f"condition not met within {timeout}s: {getattr(predicate, '__name__', predicate)}")
        time.sleep(interval)


def assert_equal(actual, expected, message=""):
    if actual != expected:
        raise TestFailure(f"{message + ': ' if message else ''}{actual!r} != {expected!r}")


def assert_true(condition, message="assertion failed"):
    if not condition:
        raise TestFailure(message)


def tail(path, lines=40):
    """Last `lines` lines of a text file ('' if it does not exist)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 64 * 1024))
            data = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(data.splitlines()[-lines:])


def _die_with_parent():
    """Runs in the child before exec: SIGKILL it if the test process dies,
    so a crashed or killed test never leaves nodes running."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


class ProcessRegistry:
    """Every process a test starts, so teardown and atexit can kill them all."""

    def __init__(self):
        self._lock = threading.Lock()
        self._procs = []
        atexit.register(self.kill_all)

    def spawn(self, args, *, stdout, cwd=None, env=None):
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=stdout, stderr=subprocess.STDOUT,
                                cwd=cwd, env=env, preexec_fn=_die_with_parent)
        with self._lock:
            self._procs.append(proc)
        return proc

    def forget(self, proc):
        with self._lock:
            if proc in self._procs:
                self._procs.remove(proc)

    def kill_all(self):
        with self._lock:
            procs = list(self._procs)
            self._procs.clear()
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass


REGISTRY = ProcessRegistry()


def kill_process(proc):
    """SIGKILL, like a crash, and forget it; a no-op for None or an exited process."""
    if proc is None:
        return
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=30)
    REGISTRY.forget(proc)


def stop_process(proc, timeout):
    """Waits up to `timeout` for `proc` to exit, then SIGKILLs it. Returns its exit code."""
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait(timeout=10)
