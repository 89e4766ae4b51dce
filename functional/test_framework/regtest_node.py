"""A regtest full node for functional tests.

Real bitcoind when env BITCOIND names a binary or `bitcoind` is on PATH,
otherwise the bcoin stand-in (functional/regtest-node/launcher.js). Both are
driven the same way: cookie auth under <datadir>/regtest/.cookie, one ZMQ
address carrying every topic, a loaded wallet named WALLET_NAME.

The harness runs the stand-in with -persist, so chain, wallet keys and (on
clean stop) the mempool survive kill()/restart() as with bitcoind; with
standin_persist=False it restarts from genesis. `persists_chain` tells
which. bitcoind loses blocks connected since its last flush when killed:
call flush() before kill() when the height after restart matters.
"""

import base64
import fcntl
import http.client
import json
import os
import shutil
import subprocess
import time

from .util import REGISTRY, TestFailure, free_ports, kill_process, start_retrying_taken_ports, stop_process, tail

FUNCTIONAL_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STANDIN_DIR = os.path.join(FUNCTIONAL_DIR, "regtest-node")
WALLET_NAME = "test"
ZMQ_TOPICS = ("hashblock", "hashtx", "rawblock", "rawtx", "sequence")
# Core's fallbackfee in the harness; also the stand-in's default.
FALLBACK_FEE = "0.0002"


class RpcError(Exception):
    def __init__(self, code, message):
        super().__init__(f"RPC error {code}: {message}")
        self.code = code
        self.message = message


def find_bitcoind():
    env = os.environ.get("BITCOIND")
    if env:
        return env
    return shutil.which("bitcoind")


def ensure_standin_installed(timeout=600):
    """npm ci once per checkout; a file lock serialises parallel tests."""
    lock_path = os.path.join(STANDIN_DIR, ".npm-install.lock")
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        marker = os.path.join(STANDIN_DIR, "node_modules", ".package-lock.json")
        if os.path.exists(marker):
            return
        started = time.monotonic()
        env = dict(os.environ)
        # node-gyp must build against the installed Node headers (no internet to fetch them).
        prefix = os.path.dirname(os.path.dirname(os.path.realpath(shutil.which("node") or "/usr/bin/node")))
        if "npm_config_nodedir" not in env and os.path.exists(os.path.join(prefix, "include", "node", "node.h")):
            env["npm_config_nodedir"] = prefix
        result = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=STANDIN_DIR, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
        if result.returncode != 0:
            raise TestFailure(f"npm ci failed in {STANDIN_DIR}:\n{result.stdout.decode(errors='replace')}")
        print(f"installed stand-in node packages in {time.monotonic() - started:.1f}s", flush=True)


class RegtestNode:
    def __init__(self, datadir, backend=None, extra_args=(), start_timeout=60, standin_persist=True):
        self.datadir = os.path.abspath(datadir)
        os.makedirs(self.datadir, exist_ok=True)
        bitcoind = find_bitcoind()
        if backend is None:
            backend = "bitcoind" if bitcoind else "standin"
        if backend not in ("bitcoind", "standin"):
            raise ValueError(f"unknown backend {backend}")
        if backend == "bitcoind" and not bitcoind:
            raise TestFailure("bitcoind requested but not found (set BITCOIND or put it on PATH)")
        self.backend = backend
        self.bitcoind_path = bitcoind
        self.extra_args = list(extra_args)
        self.standin_persist = standin_persist
        self.start_timeout = start_timeout
        self.process = None
        self.rpc_port = None
        self.p2p_port = None
        self.zmq_port = None
        self.stdout_path = os.path.join(self.datadir, "stdout.log")
        self.debug_log_path = os.path.join(self.datadir, "regtest", "debug.log")
        self.cookie_path = os.path.join(self.datadir, "regtest", ".cookie")
        self._connections = {}

    # --- properties ---------------------------------------------------------

    @property
    def is_standin(self):
        return self.backend == "standin"

    @property
    def persists_chain(self):
        return not self.is_standin or self.standin_persist

    @property
    def zmq_address(self):
        return f"tcp://127.0.0.1:{self.zmq_port}"

    def log_paths(self):
        return [self.stdout_path, self.debug_log_path]

    # --- lifecycle --------------------------------------------------------------

    def _command(self):
        common = [
            f"-datadir={self.datadir}",
            f"-port={self.p2p_port}",
            f"-rpcport={self.rpc_port}",
            f"-fallbackfee={FALLBACK_FEE}",
            "-nowallet",
        ] + [f"-zmqpub{topic}={self.zmq_address}" for topic in ZMQ_TOPICS]
        if self.is_standin:
            persist = ["-persist"] if self.standin_persist else []
            return ["node", os.path.join(STANDIN_DIR, "launcher.js")] + common + persist + self.extra_args
        return [self.bitcoind_path, "-regtest", "-server", "-txindex", "-listen=1", "-bind=127.0.0.1",
                "-rpcbind=127.0.0.1", "-rpcallowip=127.0.0.1", "-dnsseed=0", "-fixedseeds=0",
                "-listenonion=0", "-natpmp=0", "-discover=0", "-keypool=10",
                "-printtoconsole=0", "-debug=zmq", "-debug=rpc"] + common + self.extra_args

    def _pick_ports(self):
        self.rpc_port, self.p2p_port, self.zmq_port = free_ports(3)

    def start(self, attempts=3):
        """Starts the node and waits for RPC; picks new ports if a bind race lost."""
        if self.is_standin:
            ensure_standin_installed()
        if self.rpc_port is None:
            self._pick_ports()
        started = [0.0]

        def launch():
            started[0] = time.monotonic()
            self._launch()
            return self.process

        def ready():
            self.wait_for_rpc(self.start_timeout)
            self.startup_seconds = time.monotonic() - started[0]
            self._ensure_wallet()

        start_retrying_taken_ports(launch, ready, self._bind_failed, self._pick_ports, attempts)

    def _launch(self):
        self._connections.clear()
        if os.path.exists(self.cookie_path) and self.process is None:
            os.unlink(self.cookie_path)  # stale cookie from a killed run
        log = open(self.stdout_path, "ab")
        log.write(f"\n=== start {time.strftime('%H:%M:%S')}: {' '.join(self._command())}\n".encode())
        log.flush()
        self.process = REGISTRY.spawn(self._command(), stdout=log)
        log.close()

    def _bind_failed(self):
        text = tail(self.stdout_path, 20) + tail(self.debug_log_path, 20)
        return any(s in text for s in ("Unable to bind", "Address already in use", "EADDRINUSE"))

    def wait_for_rpc(self, timeout=60):
        deadline = time.monotonic() + timeout
        last_error = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise TestFailure(f"{self.backend} exited with code {self.process.returncode} during startup:\n"
                                  f"{tail(self.stdout_path, 30)}")
            if os.path.exists(self.cookie_path):
                try:
                    self.rpc("getblockcount", timeout=5)
                    return
                except (OSError, RpcError, http.client.HTTPException) as e:
                    # -28: bitcoind warming up; connection errors: not listening yet.
                    last_error = e
            time.sleep(0.05)
        raise TestFailure(f"{self.backend} RPC not ready after {timeout}s (last error: {last_error})")

    def _ensure_wallet(self):
        try:
            self.rpc("createwallet", WALLET_NAME)
        except RpcError as e:
            # bitcoind restarted on its old datadir: the wallet exists on disk.
            if e.code != -4:
                raise
            try:
                self.rpc("loadwallet", WALLET_NAME)
            except RpcError as e2:
                if e2.code != -35:
                    raise

    def flush(self):
        """Makes bitcoind write its chain state, so a kill() keeps every block
        (an unclean shutdown otherwise loses blocks connected since the last
        flush). Nothing to do for the in-memory stand-in."""
        if not self.is_standin:
            self.rpc("gettxoutsetinfo")

    def is_running(self):
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout=60):
        """Graceful stop via the `stop` RPC; SIGKILL if it does not exit in time."""
        if not self.is_running():
            return
        try:
            self.rpc("stop", timeout=10)
        except (OSError, RpcError, http.client.HTTPException):
            pass
        stop_process(self.process, timeout)
        REGISTRY.forget(self.process)
        self.process = None
        self._connections.clear()

    def kill(self):
        """SIGKILL, like a crash: no cleanup, cookie left behind."""
        kill_process(self.process)
        self.process = None
        self._connections.clear()

    def restart(self, graceful=True):
        """Stops (or kills) and starts again on the same datadir and ports."""
        if graceful:
            self.stop()
        else:
            self.kill()
        if os.path.exists(self.cookie_path):
            os.unlink(self.cookie_path)
        self.start()

    # --- RPC ---------------------------------------------------------------------

    def _auth_header(self):
        with open(self.cookie_path) as f:
            return "Basic " + base64.b64encode(f.read().strip().encode()).decode()

    def rpc(self, method, *params, wallet=None, timeout=120):
        """Calls `method`; raises RpcError(code, message) on a JSON-RPC error."""
        path = "/" if wallet is None else f"/wallet/{wallet}"
        body = json.dumps({"jsonrpc": "1.0", "id": method, "method": method, "params": list(params)})
        headers = {"Authorization": self._auth_header(), "Content-Type": "application/json"}
        conn = self._connections.pop(timeout, None)
        # A kept-alive connection may have been closed by the server meanwhile;
        # only then is resending safe (the request never reached it).
        reused = conn is not None
        while True:
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", self.rpc_port, timeout=timeout)
            try:
                conn.request("POST", path, body, headers)
                response = conn.getresponse()
                data = response.read()
                break
            except (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected):
                conn.close()
                conn = None
                if not reused:
                    raise
                reused = False
            except BaseException:
                conn.close()
                raise
        self._connections[timeout] = conn
        if response.status == 401:
            raise RpcError(-401, "unauthorized (HTTP 401)")
        if not data:
            raise RpcError(-1, f"empty HTTP {response.status} reply")
        reply = json.loads(data)
        if reply.get("error"):
            raise RpcError(reply["error"]["code"], reply["error"]["message"])
        return reply["result"]

    def wallet_rpc(self, method, *params, **kwargs):
        return self.rpc(method, *params, wallet=WALLET_NAME, **kwargs)

    # --- conveniences -------------------------------------------------------------

    def new_address(self):
        return self.wallet_rpc("getnewaddress")

    def mine(self, n=1, address=None):
        """Mines n blocks (to a fresh wallet address by default); returns their hashes."""
        if address is None:
            address = self.new_address()
        return self.rpc("generatetoaddress", n, address)

    def connection_args(self):
        """What a client (e.g. sideboltd) needs to reach this node's RPC."""
        return {"host": "127.0.0.1", "port": self.rpc_port, "cookie_file": self.cookie_path}
