#!/usr/bin/env python3
"""Bad configurations fail fast with a clear message and a non-zero exit, and write nothing
in the datadir but the log: unknown key, wrong network, bad RPC password, unreachable bitcoind
(saying at once what it waits for), datadir already in use, bad config file. A seed deleted or
replaced beside an existing store is refused and left as it is. A second daemon on a port in use
(RPC or peers) fails. -version prints the version; help marks optional parameters."""

import os
import re
import subprocess
import time

from test_framework.framework import SideboltTest
from test_framework.sidebolt_node import SideboltNode
from test_framework.util import REGISTRY, assert_equal, assert_true, free_port, kill_process, refused_port

REPO_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def project_version():
    with open(os.path.join(REPO_DIR, "CMakeLists.txt")) as f:
        return re.search(r"project\(sidebolt VERSION ([0-9.]+)", f.read()).group(1)


class BadConfigTest(SideboltTest):
    def set_test_params(self):
        self.num_nodes = 1

    def run_fail(self, name, args, expect, conf=None):
        datadir = os.path.join(self.tmpdir, "bad_" + name)
        os.makedirs(datadir, exist_ok=True)
        if conf is not None:
            with open(os.path.join(datadir, "sidebolt.conf"), "w") as f:
                f.write(conf)
        template = SideboltNode(99, datadir, self.bitcoind)
        cmd = template.command() + args
        result = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
        assert_true(result.returncode != 0, f"{name}: expected failure, got exit 0")
        assert_true(expect in result.stderr, f"{name}: stderr lacks {expect!r}: {result.stderr!r}")
        left = sorted(set(os.listdir(datadir)) - {"sidebolt.conf", "stdout.log"})
        assert_true(left in ([], ["debug.log"]), f"{name}: datadir holds more than the log: {left}")
        self.log(f"{name}: {result.stderr.strip()}")

    def run_test(self):
        conn = self.bitcoind.connection_args()
        self.run_fail("unknown_key", ["-bogus=1"], "unknown setting 'bogus'")
        self.run_fail("unknown_key_in_file", [], "unknown setting 'rpcprot'", conf="rpcprot=1\n")
        self.run_fail("datadir_in_file", [], "can only be given on the command line", conf="datadir=/tmp/elsewhere\n")
        self.run_fail("wrong_network", ["-network=signet"], "is on chain 'regtest'")
        self.run_fail("bad_network_name", ["-network=moon"], "unknown network 'moon'")
        self.run_fail("bad_password", ["-bitcoin.rpcuser=nobody", "-bitcoin.rpcpassword=wrong",
                                       "-bitcoin.rpccookiefile="], "rejected our RPC credentials")
        with refused_port() as port:
            self.run_fail("unreachable", [f"-bitcoin.rpcport={port}", "-bitcoin.startuptimeout=2"], "cannot reach bitcoind")
        self.run_fail("bad_port", ["-rpcport=70000"], "not a valid port")
        self.run_fail("no_rpc_threads", ["-rpcthreads=0"], "setting 'rpcthreads' must be from 1 to 1024")
        self.run_fail("busypoll_range", ["-busypollus=-1"], "setting 'busypollus' must be from 0 to 1000000")
        self.test_waiting_for_bitcoind()
        self.test_version()
        self.test_seed_checked_against_store()
        self.test_ports_in_use()
        self.test_help_marks_optional_parameters()

        self.log("datadir in use by the running node")
        running = self.nodes[0]
        result = subprocess.run(running.command() + [f"-rpcport={free_port()}"], stdin=subprocess.DEVNULL,
                                capture_output=True, text=True, timeout=60)
        assert_true(result.returncode != 0 and "already in use" in result.stderr, f"datadir lock: {result.stderr!r}")
        assert_equal(running.cli("getinfo")["network"], "regtest")
        assert_true(conn["port"] > 0, "connection args")

    def test_waiting_for_bitcoind(self):
        """Without bitcoind the daemon says at once what it waits for, repeats it every 10 s, then gives up."""
        # Held for the whole wait: a test running beside this one once took a port picked free,
        # and its bitcoind answered.
        with refused_port() as port:
            datadir = os.path.join(self.tmpdir, "waiting")
            node = SideboltNode(97, datadir, self.bitcoind)
            output_path = os.path.join(datadir, "stdout.log")
            started = time.monotonic()
            with open(output_path, "wb") as output:
                process = REGISTRY.spawn(node.command([f"-bitcoin.rpcport={port}", "-bitcoin.startuptimeout=12"]),
                                         stdout=output)
            try:
                def output_text():
                    with open(output_path, encoding="utf-8", errors="replace") as f:
                        return f.read()
                expected = f"Waiting for bitcoind at 127.0.0.1:{port} (cookie "
                self.wait_until(lambda: expected in output_text(), timeout=5, interval=0.1,
                                message="no early 'Waiting for bitcoind' on stderr")
                early = time.monotonic() - started
                assert_true(re.search(r"giving up in 1[12] s", output_text()), f"no deadline in {output_text()!r}")
                assert_true(expected in node.read_log(), "the waiting message is not in debug.log")
                code = process.wait(timeout=30)
            finally:
                kill_process(process)
            text = output_text()
            assert_true(code != 0, "expected failure without bitcoind")
            assert_true(text.count(expected) >= 2, f"the waiting message was not repeated: {text!r}")
            assert_true("cannot reach bitcoind" in text and "gave up after 12 s" in text, f"no final error: {text!r}")
            left = sorted(set(os.listdir(datadir)) - {"stdout.log"})
            assert_true(left in ([], ["debug.log"]), f"waiting: datadir holds more than the log: {left}")
            self.log(f"waiting for bitcoind: first message after {early:.1f} s")

    def test_version(self):
        template = SideboltNode(96, os.path.join(self.tmpdir, "version"), self.bitcoind)
        version = project_version()
        for binary, name in ((template.daemon_path, "sideboltd"), (template.cli_path, "sidebolt-cli")):
            result = subprocess.run([binary, "-version"], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                    timeout=30)
            assert_equal(result.returncode, 0)
            assert_equal(result.stdout, f"{name} v{version}\n")

    def test_seed_checked_against_store(self):
        """A seed missing or replaced beside an existing store is refused, never recreated."""
        node = SideboltNode(95, os.path.join(self.tmpdir, "seeded"), self.bitcoind)
        node.start()
        node_id = node.cli("getinfo")["id"]
        node.stop()
        seed_path = os.path.join(node.datadir, "seed")
        with open(seed_path, "rb") as f:
            seed = f.read()

        def start_fails(name, expect):
            result = subprocess.run(node.command(), stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                    timeout=60)
            assert_true(result.returncode != 0, f"{name}: expected failure, got exit 0")
            assert_true(expect in result.stderr, f"{name}: stderr lacks {expect!r}: {result.stderr!r}")
            self.log(f"{name}: {result.stderr.strip()}")

        os.remove(seed_path)
        start_fails("seed_deleted", "is missing, but the store in this datadir belongs to node " + node_id)
        assert_true(not os.path.exists(seed_path), "a missing seed was recreated")

        other = os.urandom(32)
        fd = os.open(seed_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, other)
        os.close(fd)
        start_fails("seed_replaced", "but the store in this datadir belongs to node " + node_id)
        with open(seed_path, "rb") as f:
            assert_equal(f.read(), other)

        os.remove(seed_path)
        fd = os.open(seed_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, seed)
        os.close(fd)
        node.start()
        assert_equal(node.cli("getinfo")["id"], node_id)
        node.stop()

    def test_ports_in_use(self):
        running = self.nodes[0]
        for name, args, expect in (
                ("rpc_port_in_use", [f"-rpcport={running.rpc_port}"],
                 f"Unable to bind RPC server to 127.0.0.1:{running.rpc_port}: address in use. "
                 "Is sideboltd already running?"),
                ("p2p_port_in_use", [f"-bind=127.0.0.1:{running.p2p_port}"],
                 f"cannot listen for peers on 127.0.0.1:{running.p2p_port}")):
            node = SideboltNode(94, os.path.join(self.tmpdir, name), self.bitcoind)
            result = subprocess.run(node.command(args), stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                    timeout=60)
            assert_true(result.returncode != 0, f"{name}: expected failure, got exit 0")
            assert_true(expect in result.stderr, f"{name}: stderr lacks {expect!r}: {result.stderr!r}")
            self.log(f"{name}: {result.stderr.strip()}")
        assert_equal(running.cli("getinfo")["network"], "regtest")

    def test_help_marks_optional_parameters(self):
        help_text = self.nodes[0].cli("help")
        for usage in ("ping id [len]", "connect id [host] [port]", "listchainevents [count]",
                      "dev-watchoutpoint txid vout"):
            assert_true(usage + "\n" in help_text, f"help lacks {usage!r}: {help_text!r}")


if __name__ == "__main__":
    BadConfigTest().main()
