#!/usr/bin/env python3
"""sidebolt-cli itself, against the contract the other tests reach in-process (SideboltNode.cli):
it finds port and cookie in the datadir, sends arguments as strings or JSON objects and arrays,
takes -named key=value arguments, prints strings raw and the rest as JSON, and exits 1 with the
daemon's {code, message} on stderr for an RPC error, 2 when it cannot reach or log in to the
daemon, 3 on usage errors."""

import json
import subprocess

from test_framework.framework import SideboltTest
from test_framework.sidebolt_node import EXIT_CONNECTION, EXIT_RPC_ERROR, EXIT_USAGE
from test_framework.util import assert_equal, assert_true, refused_port

RPC_METHOD_NOT_FOUND = -32601


class CliTest(SideboltTest):
    def set_test_params(self):
        self.num_nodes = 1

    def run_cli(self, *args, datadir=True):
        node = self.nodes[0]
        argv = [node.cli_path] + ([f"-datadir={node.datadir}"] if datadir else []) + list(args)
        return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)

    def expect_error(self, exit_code, code, *args, datadir=True):
        result = self.run_cli(*args, datadir=datadir)
        assert_equal(result.returncode, exit_code, f"exit code of {args}: {result.stderr}")
        assert_equal(result.stdout, "")
        error = json.loads(result.stderr)
        assert_equal(error["code"], code, f"error of {args}")
        assert_true(error["message"], f"{args}: an error without a message")
        return error["message"]

    def run_test(self):
        node = self.nodes[0]
        self.log("the port and cookie come from the datadir alone")
        result = self.run_cli("getinfo")
        assert_equal(result.returncode, 0, result.stderr)
        assert_equal(json.loads(result.stdout), node.cli("getinfo"))

        self.log("positional arguments: numbers as text, JSON kept as JSON; strings printed raw")
        made = json.loads(self.run_cli("invoice", "21000", "positional", "a coffee").stdout)
        listed = node.cli("listinvoices", "positional")["invoices"][0]
        assert_equal((listed["amount_msat"], listed["description"], listed["bolt11"]), (21000, "a coffee", made["bolt11"]))
        assert_equal(json.loads(self.run_cli("listinvoices", "positional").stdout), node.cli("listinvoices", "positional"))

        self.log("-named key=value arguments fill their positions")
        result = self.run_cli("-named", "invoice", "amount_msat=5000", "label=named", "description=by name", "expiry=600")
        assert_equal(result.returncode, 0, result.stderr)
        named = node.cli("listinvoices", "named")["invoices"][0]
        assert_equal((named["amount_msat"], named["description"]), (5000, "by name"))
        assert_equal(self.run_cli("-named", "invoice", "5000").returncode, EXIT_USAGE)
        assert_equal(node.cli("-named", "listinvoices", "label=named"), node.cli("listinvoices", "named"))

        self.log("errors: the daemon's code and message on stderr, exit 1")
        message = self.expect_error(EXIT_RPC_ERROR, RPC_METHOD_NOT_FOUND, "nosuchmethod")
        assert_true("nosuchmethod" in message, message)
        self.expect_error(EXIT_RPC_ERROR, node.cli_error("invoice", "any", "positional", "again")["code"],
                          "invoice", "any", "positional", "again")

        self.log("cannot reach or log in to the daemon: exit 2")
        with refused_port() as port:
            self.expect_error(EXIT_CONNECTION, -1, f"-rpcport={port}", "getinfo")
        self.expect_error(EXIT_CONNECTION, -401, "-rpcuser=nobody", "-rpcpassword=wrong", "getinfo")
        self.expect_error(EXIT_CONNECTION, -1, f"-datadir={self.tmpdir}/nowhere", "getinfo", datadir=False)

        self.log("usage: no method is exit 3 with the help")
        result = self.run_cli()
        assert_equal(result.returncode, EXIT_USAGE)
        assert_true("Usage: sidebolt-cli" in result.stdout, result.stdout)


if __name__ == "__main__":
    CliTest().main()
