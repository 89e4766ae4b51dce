#!/usr/bin/env python3
"""Bad configurations fail fast with a clear message and a non-zero exit, and write nothing
in the datadir but the log: unknown key, wrong network, bad RPC password, unreachable bitcoind,
datadir already in use, bad config file."""

import os
import subprocess

from test_framework.framework import SideboltTest
from test_framework.sidebolt_node import SideboltNode
from test_framework.util import assert_equal, assert_true, free_port


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
        self.run_fail("unreachable", [f"-bitcoin.rpcport={free_port()}", "-bitcoin.startuptimeout=2"], "cannot reach bitcoind")
        self.run_fail("bad_port", ["-rpcport=70000"], "not a valid port")

        self.log("datadir in use by the running node")
        running = self.nodes[0]
        result = subprocess.run(running.command() + [f"-rpcport={free_port()}"], stdin=subprocess.DEVNULL,
                                capture_output=True, text=True, timeout=60)
        assert_true(result.returncode != 0 and "already in use" in result.stderr, f"datadir lock: {result.stderr!r}")
        assert_equal(running.cli("getinfo")["network"], "regtest")
        assert_true(conn["port"] > 0, "connection args")


if __name__ == "__main__":
    BadConfigTest().main()
