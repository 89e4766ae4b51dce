#!/usr/bin/env python3
"""With no bitcoin.rpccookiefile, user or password, sideboltd finds bitcoind's cookie the way
bitcoin-cli does: $HOME/.bitcoin/<network subfolder>/.cookie (here $HOME/.bitcoin is the
regtest node's datadir); bitcoin.datadir points elsewhere; and sidebolt-cli needs only -datadir."""

import os
import subprocess

from test_framework.framework import SideboltTest
from test_framework.sidebolt_node import SideboltNode
from test_framework.util import assert_equal


class BitcoindDiscoveryTest(SideboltTest):
    def set_test_params(self):
        self.num_nodes = 0

    def start_daemon(self, name, args, env):
        node = SideboltNode(len(self.nodes), os.path.join(self.tmpdir, name), self.bitcoind)
        cmd = [node.daemon_path, f"-datadir={node.datadir}", "-network=regtest", f"-rpcport={node.rpc_port}",
               f"-bind=127.0.0.1:{node.p2p_port}", f"-bitcoin.rpcport={self.bitcoind.rpc_port}"] + args
        log = open(node.stdout_path, "ab")
        node.process = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env)
        log.close()
        self.nodes.append(node)
        # No -rpcport for the CLI: it must find port and cookie in the datadir alone.
        cli = [node.cli_path, f"-datadir={node.datadir}", "-rpcwait=30", "getinfo"]
        out = subprocess.run(cli, capture_output=True, text=True, timeout=60)
        assert_equal(out.returncode, 0, f"cli failed: {out.stderr}")
        return node

    def run_test(self):
        self.bitcoind.mine(5)
        home = os.path.join(self.tmpdir, "home")
        os.makedirs(home)
        os.symlink(self.bitcoind.datadir, os.path.join(home, ".bitcoin"))
        env = dict(os.environ, HOME=home)
        self.start_daemon("from_home", [], env)
        self.start_daemon("from_datadir", [f"-bitcoin.datadir={self.bitcoind.datadir}"],
                          dict(os.environ, HOME=os.path.join(self.tmpdir, "nowhere")))
        tip = self.bitcoind.rpc("getbestblockhash")
        for node in self.nodes:
            self.wait_until(lambda: node.cli("getinfo")["blockhash"] == tip)
            node.wait_for_log(r"cookie .*/regtest/\.cookie")


if __name__ == "__main__":
    BitcoindDiscoveryTest().main()
