"""Base class for sidebolt functional tests.

    class MyTest(SideboltTest):
        def set_test_params(self):
            self.num_nodes = 2

        def run_test(self):
            self.bitcoind.mine(101)
            self.nodes[0].cli("getinfo")

    if __name__ == "__main__":
        MyTest().main()

Exit codes: 0 passed, 1 failed, 77 skipped. Each run gets its own directory
under $TMPDIR, removed on success and kept (with its path printed) on
failure. Every process started is killed on exit, whatever the outcome.
"""

import argparse
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback

from .lightningd_node import LightningdNode, require_lightningd
from .regtest_node import RegtestNode, RpcError
from .sidebolt_node import SideboltNode, require_binary
from .util import REGISTRY, SkipTest, TestFailure, tail, wait_until

EXIT_PASSED = 0
EXIT_FAILED = 1
EXIT_SKIPPED = 77


def _raise_keyboard_interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


class SideboltTest:
    def __init__(self):
        self.num_nodes = 1
        self.extra_args = []  # per sidebolt node: list of lists
        self.bitcoind_args = []
        self.bitcoind_backend = None  # None: auto (bitcoind if available)
        self.bitcoind = None
        self.nodes = []
        self.num_cln_nodes = 0
        self.cln_extra_args = []  # per Core Lightning node: list of lists
        self.cln_nodes = []
        self.tmpdir = None
        self.nocleanup = False
        self.name = type(self).__name__

    # --- to override ------------------------------------------------------------

    def set_test_params(self):
        pass

    def setup(self):
        """Starts the regtest node, `num_nodes` sidebolt daemons and `num_cln_nodes` Core Lightning
        nodes. A test with Core Lightning nodes is skipped without LIGHTNINGD or on the stand-in."""
        if self.num_nodes > 0:
            require_binary("sideboltd")
            require_binary("sidebolt-cli")
        self.bitcoind = RegtestNode(os.path.join(self.tmpdir, "bitcoind"), backend=self.bitcoind_backend,
                                    extra_args=self.bitcoind_args)
        if self.num_cln_nodes > 0:
            if self.bitcoind.is_standin:
                raise SkipTest("Core Lightning needs a real bitcoind (it drives it with bitcoin-cli); "
                               "the stand-in backend cannot serve it")
            require_lightningd()
        self.log(f"starting {self.bitcoind.backend} regtest node")
        self.bitcoind.start()
        self.log(f"{self.bitcoind.backend} RPC ready in {self.bitcoind.startup_seconds:.2f}s")
        for i in range(self.num_nodes):
            extra = self.extra_args[i] if i < len(self.extra_args) else []
            node = SideboltNode(i, os.path.join(self.tmpdir, f"sidebolt{i}"), self.bitcoind, extra_args=extra)
            self.nodes.append(node)
            node.start()
        for i in range(self.num_cln_nodes):
            extra = self.cln_extra_args[i] if i < len(self.cln_extra_args) else []
            cln = LightningdNode(i, os.path.join(self.tmpdir, f"cln{i}"), self.bitcoind, extra_args=extra)
            self.cln_nodes.append(cln)
            cln.start()
            self.log(f"Core Lightning node {i} up: {cln.node_id}")

    def run_test(self):
        raise NotImplementedError

    # --- helpers ---------------------------------------------------------------

    def log(self, message):
        print(f"{time.strftime('%H:%M:%S')} [{self.name}] {message}", flush=True)

    @staticmethod
    def wait_until(predicate, timeout=60, interval=0.1, message=None):
        return wait_until(predicate, timeout=timeout, interval=interval, message=message)

    def wait_channel_normal(self, node, channel_id, timeout=90):
        """Waits until sidebolt `node` shows the channel normal with its peer connected."""
        self.wait_until(lambda: (c := node.channel(channel_id)) and c["state"] == "normal" and c["peer_connected"],
                        timeout=timeout, message=f"node {node.index}: channel {channel_id} never normal")

    @staticmethod
    def assert_rpc_error(code, fn, *args, **kwargs):
        """Calls fn and checks it raises RpcError with `code`; returns the error."""
        try:
            fn(*args, **kwargs)
        except RpcError as e:
            if e.code != code:
                raise TestFailure(f"expected RPC error {code}, got {e.code}: {e.message}") from e
            return e
        raise TestFailure(f"expected RPC error {code}, call succeeded")

    def all_processes(self):
        return ([self.bitcoind] if self.bitcoind else []) + self.nodes + self.cln_nodes

    # --- driver ----------------------------------------------------------------

    def _parse_args(self):
        parser = argparse.ArgumentParser(description=self.name)
        parser.add_argument("--tmpdir", help="root for this run's directory (default $TMPDIR)")
        parser.add_argument("--nocleanup", action="store_true", help="keep the run directory on success")
        parser.add_argument("--backend", choices=["bitcoind", "standin"], help="force the regtest backend")
        return parser.parse_args()

    def main(self):
        args = self._parse_args()
        signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
        self.set_test_params()
        if args.backend:
            self.bitcoind_backend = args.backend
        self.nocleanup = args.nocleanup
        root = args.tmpdir or os.environ.get("TMPDIR") or tempfile.gettempdir()
        os.makedirs(root, exist_ok=True)
        self.tmpdir = tempfile.mkdtemp(prefix=f"sidebolt_{self.name}_", dir=root)
        status = EXIT_FAILED
        try:
            self.setup()
            self.run_test()
            status = EXIT_PASSED
        except SkipTest as e:
            self.log(f"skipped: {e}")
            status = EXIT_SKIPPED
        except KeyboardInterrupt:
            self.log("interrupted")
        except Exception:  # every failure must still reach teardown
            traceback.print_exc()
        finally:
            self.teardown(status)
        if status == EXIT_PASSED:
            self.log("passed")
        sys.exit(status)

    def teardown(self, status):
        graceful = status == EXIT_PASSED
        for proc in reversed(self.all_processes()):
            try:
                if graceful:
                    proc.stop()
                else:
                    proc.kill()
            except Exception as e:  # keep tearing down the rest
                self.log(f"teardown of {proc} failed: {e}")
        REGISTRY.kill_all()
        if status == EXIT_FAILED:
            for proc in self.all_processes():
                for path in proc.log_paths():
                    text = tail(path, 40)
                    if text:
                        print(f"----- tail of {path} -----\n{text}", flush=True)
            self.log(f"failed; run directory kept: {self.tmpdir}")
        elif not self.nocleanup:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
