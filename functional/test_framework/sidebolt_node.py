"""A sideboltd process for functional tests.

Contract with the daemon (it is being written against this):
  sideboltd -datadir=DIR -network=regtest -bitcoin.rpcconnect=127.0.0.1
            -bitcoin.rpcport=N -bitcoin.rpccookiefile=FILE -rpcport=M [extra...]
  logs to DIR/debug.log; `sidebolt-cli -datadir=DIR -rpcport=M METHOD ARGS...`
  prints the JSON result on stdout and exits 0, or exits non-zero with the
  error on stderr. Non-string arguments are passed as JSON text, like
  bitcoin-cli. The `stop` method shuts the daemon down. SideboltNode.cli makes
  the same call in-process; cli_test.py holds the binary to this contract.
"""

import base64
import http.client
import json
import os
import re
import socket
import subprocess
import time

from .util import REGISTRY, SkipTest, TestFailure, free_ports, kill_process, start_retrying_taken_ports, stop_process, tail, wait_until

REPO_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# sidebolt-cli's exit codes.
EXIT_RPC_ERROR = 1
EXIT_CONNECTION = 2
EXIT_USAGE = 3


def cli_param(arg):
    """sidebolt-cli's reading of one argument: a JSON object or array when it parses as one,
    else a string (the daemon converts numeric strings where it expects numbers)."""
    if arg.startswith(("{", "[")):
        try:
            return json.loads(arg)
        except json.JSONDecodeError:
            pass
    return arg


def cli_output(result):
    """What a test reads of sidebolt-cli's output for `result`: it prints strings raw and the
    rest as JSON, and the caller parses the text back when it is JSON."""
    if result is None:
        return None
    text = (result if isinstance(result, str) else json.dumps(result)).strip()
    if not text:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


class CliError(Exception):
    def __init__(self, returncode, stderr, stdout):
        super().__init__(f"sidebolt-cli exited {returncode}: {stderr.strip() or stdout.strip()}")
        self.returncode = returncode
        self.stderr = stderr
        self.stdout = stdout


def find_binary(name, bin_dir=None):
    """Finds `name` in SIDEBOLT_BIN_DIR (default build/) or up to two folders below it."""
    base = bin_dir or os.environ.get("SIDEBOLT_BIN_DIR") or os.path.join(REPO_DIR, "build")
    base_depth = base.rstrip(os.sep).count(os.sep)
    for root, dirs, files in os.walk(base):
        if name in files:
            candidate = os.path.join(root, name)
            if os.access(candidate, os.X_OK):
                return candidate
        if root.count(os.sep) - base_depth >= 2:
            dirs.clear()
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "CMakeFiles")
    return None


def require_binary(name):
    """Path of a built program, or SkipTest; a failure when SIDEBOLT_BIN_DIR was given,
    since a run that names its build (the test command) must not pass by skipping."""
    path = find_binary(name)
    if path:
        return path
    if os.environ.get("SIDEBOLT_BIN_DIR"):
        raise TestFailure(f"{name} not found under SIDEBOLT_BIN_DIR={os.environ['SIDEBOLT_BIN_DIR']}")
    raise SkipTest(f"{name} not built (set SIDEBOLT_BIN_DIR)")


class SideboltNode:
    READY_PROBE = "getinfo"

    def __init__(self, index, datadir, bitcoind, extra_args=(), bin_dir=None):
        self.index = index
        self.datadir = os.path.abspath(datadir)
        os.makedirs(self.datadir, exist_ok=True)
        self.bitcoind = bitcoind
        self.extra_args = list(extra_args)
        self.daemon_path = find_binary("sideboltd", bin_dir)
        self.cli_path = find_binary("sidebolt-cli", bin_dir)
        self._pick_ports()
        #: Set by the first launch: later starts keep the ports, which peers and tests know.
        self.launched = False
        self.process = None
        self.log_path = os.path.join(self.datadir, "debug.log")
        self.stdout_path = os.path.join(self.datadir, "stdout.log")

    def log_paths(self):
        return [self.stdout_path, self.log_path]

    def command(self, extra_args=None):
        conn = self.bitcoind.connection_args()
        return [
            self.daemon_path,
            f"-datadir={self.datadir}",
            "-network=regtest",
            f"-bitcoin.rpcconnect={conn['host']}",
            f"-bitcoin.rpcport={conn['port']}",
            f"-bitcoin.rpccookiefile={conn['cookie_file']}",
            f"-rpcport={self.rpc_port}",
            f"-bind=127.0.0.1:{self.p2p_port}",
        ] + self.extra_args + list(extra_args or [])

    def start(self, extra_args=None, wait=True, timeout=60):
        """Starts sideboltd. Its first start, with its own ports, picks new ones if another process
        took them between the pick and the bind; later starts keep them (peers know them)."""
        if self.daemon_path is None:
            raise TestFailure("sideboltd not found (set SIDEBOLT_BIN_DIR or build into build/)")
        if self.is_running():
            raise TestFailure(f"sidebolt node {self.index} already running")
        first_start = not self.launched
        if not wait:
            self._launch(extra_args)
            return
        start_retrying_taken_ports(lambda: self._launch(extra_args), lambda: self.wait_for_rpc(timeout), self._bind_failed,
                                   self._pick_ports, attempts=3 if first_start and not extra_args else 1)

    def _pick_ports(self):
        self.rpc_port, self.p2p_port = free_ports(2)

    def _launch(self, extra_args):
        log = open(self.stdout_path, "ab")
        log.write(f"\n=== start {time.strftime('%H:%M:%S')}\n".encode())
        log.flush()
        self.process = REGISTRY.spawn(self.command(extra_args), stdout=log)
        self.launched = True
        log.close()
        return self.process

    def _bind_failed(self):
        text = tail(self.stdout_path, 20) + tail(self.log_path, 20)
        return "Unable to bind RPC server" in text or "cannot listen for peers" in text

    def is_running(self):
        return self.process is not None and self.process.poll() is None

    def wait_for_rpc(self, timeout=60):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise TestFailure(f"sideboltd {self.index} exited with code {self.process.returncode}:\n"
                                  f"{tail(self.stdout_path, 30)}\n{tail(self.log_path, 30)}")
            try:
                self.cli(self.READY_PROBE, timeout=10)
                return
            except (CliError, subprocess.TimeoutExpired) as e:
                last = e
            time.sleep(0.2)
        raise TestFailure(f"sideboltd {self.index} RPC not ready after {timeout}s (last: {last})")

    def cli(self, method, *args, timeout=60):
        """Calls `method` as `sidebolt-cli -datadir=DIR -rpcport=M METHOD ARGS...` would and returns
        what it prints, parsed as JSON (or the raw text if not JSON); raises CliError with its
        exit code and stderr. In-process: a sanitizer-built sidebolt-cli takes ~70 ms of CPU a
        call, which made the CLI most of a functional run. cli_test.py checks the binary itself
        against this contract."""
        words = [method] + [a if isinstance(a, str) else json.dumps(a) for a in args]
        named = False
        while words[0].startswith("-"):
            if words[0] not in ("-named", "--named"):
                raise TestFailure(f"SideboltNode.cli takes -named only, not {words[0]}: run the binary for other options")
            named = True
            words.pop(0)
        method, words = words[0], words[1:]
        if named:
            if any("=" not in w for w in words):
                raise CliError(EXIT_USAGE, json.dumps({"code": -1, "message": f"with -named, arguments are key=value; got {words}"}), "")
            params = {key: cli_param(value) for key, value in (w.split("=", 1) for w in words)}
        else:
            params = [cli_param(w) for w in words]
        request = json.dumps({"jsonrpc": "1.0", "id": "sidebolt-cli", "method": method, "params": params})
        cookie_path = os.path.join(self.datadir, ".cookie")
        try:
            with open(cookie_path, encoding="utf-8") as f:
                credentials = f.read().rstrip("\r\n")
        except OSError:
            raise CliError(EXIT_CONNECTION, json.dumps({"code": -1, "message": f"cannot read the RPC cookie {cookie_path}"}), "")
        connection = http.client.HTTPConnection("127.0.0.1", self.rpc_port, timeout=timeout)
        try:
            connection.request("POST", "/", request, {
                "Content-Type": "application/json",
                "Authorization": "Basic " + base64.b64encode(credentials.encode()).decode(),
            })
            response = connection.getresponse()
            body = response.read()
        except socket.timeout:
            raise subprocess.TimeoutExpired(f"{method} on sidebolt node {self.index}", timeout)
        except (OSError, http.client.HTTPException) as e:
            message = f"could not connect to sideboltd at 127.0.0.1:{self.rpc_port}: {e}"
            raise CliError(EXIT_CONNECTION, json.dumps({"code": -1, "message": message}), "")
        finally:
            connection.close()
        if response.status == 401:
            raise CliError(EXIT_CONNECTION, json.dumps({"code": -401, "message": "authorization failed: wrong RPC credentials"}), "")
        reply = json.loads(body)
        if reply.get("error") is not None:
            raise CliError(EXIT_RPC_ERROR, json.dumps(reply["error"], indent=2), "")
        return cli_output(reply.get("result"))

    def cli_error(self, method, *args, timeout=60):
        """Runs a call that must fail; returns the parsed {code, message}."""
        try:
            result = self.cli(method, *args, timeout=timeout)
        except CliError as e:
            return json.loads(e.stderr)
        raise TestFailure(f"{method} {args}: expected an error, got {result!r}")

    def channel(self, channel_id):
        """This node's listchannels entry for `channel_id`, or None."""
        return next((c for c in self.cli("listchannels")["channels"] if c["channel_id"] == channel_id), None)

    def stop(self, timeout=30):
        """`stop` RPC, then wait; SIGKILL after `timeout`. Returns the exit code."""
        if not self.is_running():
            return None
        try:
            self.cli("stop", timeout=10)
        except (CliError, subprocess.TimeoutExpired):
            pass
        code = stop_process(self.process, timeout)
        REGISTRY.forget(self.process)
        self.process = None
        return code

    def kill(self):
        kill_process(self.process)
        self.process = None

    @property
    def p2p_address(self):
        """id@127.0.0.1:port, what `connect` takes."""
        return f"{self.cli('getinfo')['id']}@127.0.0.1:{self.p2p_port}"

    def read_log(self):
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def log_contains(self, text):
        return text in self.read_log()

    def wait_for_log(self, regex, timeout=60):
        """Waits until debug.log matches `regex`; returns the match."""
        pattern = re.compile(regex)
        return wait_until(lambda: pattern.search(self.read_log()), timeout=timeout, interval=0.1,
                          message=f"log of sidebolt node {self.index} never matched /{regex}/")
