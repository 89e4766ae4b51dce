"""A Core Lightning node (lightningd) for interop tests.

The binary comes from env LIGHTNINGD (lightning-cli beside it); lightningd finds its
subdaemons relative to its own path, so it runs from where it lies. It needs a real
bitcoind: it talks to it through bitcoin-cli (beside the regtest node's bitcoind) with the
regtest node's datadir, whose cookie it reads.

    cln = LightningdNode(0, os.path.join(tmpdir, "cln0"), self.bitcoind)
    cln.start()
    cln.cli("getinfo")["id"]
    cln.connect(sidebolt_id, "127.0.0.1", port)
"""

import json
import os
import subprocess
import time

from .util import REGISTRY, SkipTest, TestFailure, free_port, kill_process, start_retrying_taken_ports, stop_process, tail


class LightningCliError(Exception):
    """lightning-cli reported a JSON-RPC error (code, message, data) or failed to run."""

    def __init__(self, code, message, data=None):
        super().__init__(f"lightning-cli error {code}: {message}")
        self.code = code
        self.message = message
        self.data = data


def find_lightningd():
    return os.environ.get("LIGHTNINGD") or None


def require_lightningd():
    """Path of lightningd from LIGHTNINGD, or SkipTest saying how to enable the test."""
    path = find_lightningd()
    if not path:
        raise SkipTest("Core Lightning interop needs LIGHTNINGD (path of lightningd, lightning-cli beside it)")
    if not os.access(path, os.X_OK):
        raise TestFailure(f"LIGHTNINGD={path} is not an executable")
    return path


class LightningdNode:
    READY_TIMEOUT = 60

    def __init__(self, index, lightning_dir, bitcoind, extra_args=(), lightningd=None):
        if bitcoind.is_standin:
            raise TestFailure("Core Lightning needs a real bitcoind (bitcoin-cli), not the stand-in")
        self.index = index
        self.lightning_dir = os.path.abspath(lightning_dir)
        os.makedirs(self.lightning_dir, exist_ok=True)
        self.bitcoind = bitcoind
        self.extra_args = list(extra_args)
        self.lightningd_path = lightningd or require_lightningd()
        self.cli_path = os.path.join(os.path.dirname(self.lightningd_path), "lightning-cli")
        self.bitcoin_cli_path = os.path.join(os.path.dirname(bitcoind.bitcoind_path), "bitcoin-cli")
        self.p2p_port = None
        self.process = None
        self.log_path = os.path.join(self.lightning_dir, "log")
        self.stdout_path = os.path.join(self.lightning_dir, "stdout.log")
        self._id = None

    def __str__(self):
        return f"lightningd {self.index}"

    def log_paths(self):
        return [self.stdout_path, self.log_path]

    def command(self):
        return [
            self.lightningd_path,
            "--network=regtest",
            f"--lightning-dir={self.lightning_dir}",
            f"--bitcoin-cli={self.bitcoin_cli_path}",
            f"--bitcoin-datadir={self.bitcoind.datadir}",
            f"--bitcoin-rpcport={self.bitcoind.rpc_port}",
            "--disable-dns",
            f"--addr=127.0.0.1:{self.p2p_port}",
            f"--log-file={self.log_path}",
            f"--alias=cln{self.index}",
        ] + self.extra_args

    def start(self, attempts=3):
        """Starts lightningd and waits for getinfo; picks a new port if the bind race was lost."""
        if self.is_running():
            raise TestFailure(f"{self} already running")
        if self.p2p_port is None:
            self._pick_port()
        start_retrying_taken_ports(self._launch, lambda: self.wait_for_rpc(self.READY_TIMEOUT),
                                   lambda: "Address already in use" in tail(self.log_path, 20) + tail(self.stdout_path, 20),
                                   self._pick_port, attempts)

    def _pick_port(self):
        self.p2p_port = free_port()

    def _launch(self):
        log = open(self.stdout_path, "ab")
        log.write(f"\n=== start {time.strftime('%H:%M:%S')}: {' '.join(self.command())}\n".encode())
        log.flush()
        self.process = REGISTRY.spawn(self.command(), stdout=log)
        log.close()
        return self.process

    def wait_for_rpc(self, timeout):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise TestFailure(f"{self} exited with code {self.process.returncode} during startup:\n"
                                  f"{tail(self.stdout_path, 30)}\n{tail(self.log_path, 30)}")
            try:
                self._id = self.cli("getinfo", timeout=10)["id"]
                return
            except (LightningCliError, subprocess.TimeoutExpired) as e:
                last = e
            time.sleep(0.2)
        raise TestFailure(f"{self} RPC not ready after {timeout}s (last: {last})")

    def is_running(self):
        return self.process is not None and self.process.poll() is None

    def cli(self, method, *args, timeout=60, **kwargs):
        """Runs lightning-cli; positional or keyword (-k) parameters; returns the JSON result.
        Raises LightningCliError(code, message) on an RPC error."""
        if kwargs and args:
            raise ValueError("lightning-cli takes positional or keyword parameters, not both")
        # Notifications (xpay's "# ->...: Success" lines) would precede the JSON on stdout.
        argv = [self.cli_path, f"--lightning-dir={self.lightning_dir}", "--network=regtest", "--notifications=none"]
        if kwargs:
            argv += ["-k", method] + [f"{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in kwargs.items()]
        else:
            argv += [method] + [a if isinstance(a, str) else json.dumps(a) for a in args]
        result = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                timeout=timeout)
        stdout = result.stdout.decode(errors="replace")
        try:
            reply = json.loads(stdout) if stdout.strip() else None
        except json.JSONDecodeError:
            reply = None
        if result.returncode != 0:
            if isinstance(reply, dict) and "code" in reply:
                raise LightningCliError(reply["code"], reply.get("message", ""), reply.get("data"))
            raise LightningCliError(None, f"exit {result.returncode}: {result.stderr.decode(errors='replace').strip()}"
                                          f" {stdout.strip()}")
        return reply

    @property
    def node_id(self):
        if self._id is None:
            self._id = self.cli("getinfo")["id"]
        return self._id

    @property
    def p2p_address(self):
        """id@127.0.0.1:port, what sidebolt's `connect` takes."""
        return f"{self.node_id}@127.0.0.1:{self.p2p_port}"

    def connect(self, node_id, host, port):
        """CLN `connect`; returns its result (id, features, direction, address)."""
        return self.cli("connect", node_id, host, str(port))

    def channel(self, channel_id):
        """This node's listpeerchannels entry for `channel_id`, or None."""
        return next((c for c in self.cli("listpeerchannels")["channels"] if c["channel_id"] == channel_id), None)

    def find_peer(self, node_id):
        """The listpeers entry for `node_id` while connected, else None."""
        peers = self.cli("listpeers", node_id)["peers"]
        return next((p for p in peers if p["id"] == node_id and p.get("connected")), None)

    def stop(self, timeout=30):
        """`stop` RPC, then wait; SIGKILL after `timeout`. Returns the exit code."""
        if not self.is_running():
            return None
        try:
            self.cli("stop", timeout=10)
        except (LightningCliError, subprocess.TimeoutExpired):
            pass
        code = stop_process(self.process, timeout)
        REGISTRY.forget(self.process)
        self.process = None
        return code

    def kill(self):
        kill_process(self.process)
        self.process = None

    def read_log(self):
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""
