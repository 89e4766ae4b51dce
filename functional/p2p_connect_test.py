#!/usr/bin/env python3
"""Peers over BOLT 8: A connects to B (id@host:port) and B to C (id host port), so each daemon
is seen both as inbound and outbound; listpeers shows direction, address and features on both
sides; ping answers (up to the largest pong BOLT 1 allows); disconnect from either side
removes the peer on both; a restarted node keeps its id and takes connections again; and
connect, ping and disconnect fail with the documented codes on a wrong node id, a closed
port, bad parameters and unknown peers."""

import json
import time

from test_framework.framework import SideboltTest
from test_framework.sidebolt_node import CliError
from test_framework.util import TestFailure, assert_equal, assert_true, free_port

RPC_INVALID_PARAMETER = -8
RPC_PEER_CONNECT_FAILED = -100
RPC_PEER_NOT_CONNECTED = -101


def cli_error(code, node, method, *args):
    """Runs a call that must fail with `code`; returns the error message."""
    try:
        result = node.cli(method, *args)
    except CliError as e:
        error = json.loads(e.stderr)
        if error["code"] != code:
            raise TestFailure(f"{method} {args}: expected error {code}, got {error}") from e
        return error["message"]
    raise TestFailure(f"{method} {args}: expected error {code}, got result {result!r}")


def find_peer(node, node_id):
    return next((p for p in node.cli("listpeers") if p["id"] == node_id), None)


class P2pConnectTest(SideboltTest):
    def set_test_params(self):
        self.num_nodes = 3

    def wait_connected(self, node, node_id):
        return self.wait_until(lambda: find_peer(node, node_id), timeout=30,
                               message=f"node {node.index} never listed peer {node_id}")

    def wait_disconnected(self, node, node_id):
        self.wait_until(lambda: find_peer(node, node_id) is None, timeout=30,
                        message=f"node {node.index} still lists peer {node_id}")

    def check_peer(self, node, node_id, direction, port=None):
        peer = self.wait_connected(node, node_id)
        assert_equal(peer["direction"], direction, f"direction of {node_id} on node {node.index}")
        host, _, peer_port = peer["address"].rpartition(":")
        assert_equal(host, "127.0.0.1")
        if port is not None:
            assert_equal(int(peer_port), port, "an outbound peer's address is where we connected")
        assert_true(peer["features"] and all(ch in "0123456789abcdef" for ch in peer["features"]),
                    f"features should be lowercase hex: {peer['features']!r}")
        for name in ("var_onion_optin", "payment_secret/required", "option_static_remotekey"):
            assert_true(name in peer["features_names"], f"{name} missing from {peer['features_names']!r}")
        assert_true(abs(peer["connected_since"] - time.time()) < 120, f"odd connected_since {peer['connected_since']}")
        assert_true(peer["bytes_in"] > 0 and peer["bytes_out"] > 0, f"no traffic counted: {peer}")
        return peer

    def run_test(self):
        a, b, c = self.nodes
        a_id, b_id, c_id = (n.cli("getinfo")["id"] for n in self.nodes)
        assert_equal(b.cli("getinfo")["binding"], [f"127.0.0.1:{b.p2p_port}"])

        self.log("A connects to B with id@host:port, B to C with id host port")
        assert_equal(a.cli("connect", b.p2p_address), {"id": b_id})
        assert_equal(b.cli("connect", c_id, "127.0.0.1", str(c.p2p_port)), {"id": c_id})
        a_sees_b = self.check_peer(a, b_id, "outbound", b.p2p_port)
        b_sees_a = self.check_peer(b, a_id, "inbound")
        self.check_peer(b, c_id, "outbound", c.p2p_port)
        c_sees_b = self.check_peer(c, b_id, "inbound")
        # All three run the same build, so each advertises the same init features.
        assert_equal(a_sees_b["features"], c_sees_b["features"])
        assert_equal(a_sees_b["features"], b_sees_a["features"])
        assert_equal([n.cli("getinfo")["num_peers"] for n in self.nodes], [1, 2, 1])
        # Connecting again to a connected peer is a no-op that succeeds.
        assert_equal(a.cli("connect", b.p2p_address), {"id": b_id})
        assert_equal(len(a.cli("listpeers")), 1)

        self.log("ping both ways, with empty and maximal pongs")
        result = a.cli("ping", b_id)
        assert_equal(result["len"], 128)
        assert_true(0 <= result["rtt_ms"] < 10_000, f"odd rtt {result}")
        assert_equal(b.cli("ping", a_id, "0")["len"], 0)
        # A pong of 65531 bytes is a 65535-byte message: the largest BOLT 8 can carry.
        assert_equal(c.cli("ping", b_id, "65531")["len"], 65531)
        cli_error(RPC_INVALID_PARAMETER, c, "ping", b_id, "65532")
        assert_true("last_ping_rtt_ms" in find_peer(a, b_id), "listpeers should show the last ping's rtt")

        self.log("disconnect from the outbound side, then from the inbound side")
        assert_equal(a.cli("disconnect", b_id), None)
        self.wait_disconnected(a, b_id)
        self.wait_disconnected(b, a_id)
        c.cli("disconnect", b_id)
        self.wait_disconnected(c, b_id)
        self.wait_disconnected(b, c_id)
        assert_equal([n.cli("getinfo")["num_peers"] for n in self.nodes], [0, 0, 0])

        self.log("restart B while A is connected: A notices, B keeps its id, A reconnects")
        a.cli("connect", b.p2p_address)
        self.wait_connected(b, a_id)
        assert_equal(b.stop(), 0, "B's exit code")
        self.wait_disconnected(a, b_id)
        b.start()
        assert_equal(b.cli("getinfo")["id"], b_id)
        assert_equal(a.cli("connect", b.p2p_address), {"id": b_id})
        self.check_peer(b, a_id, "inbound")
        assert_true(a.cli("ping", b_id)["rtt_ms"] >= 0, "ping after restart")

        self.log("failures: wrong node id, closed port")
        # C's id at B's address: B cannot decrypt act one and hangs up.
        message = cli_error(RPC_PEER_CONNECT_FAILED, a, "connect", f"{c_id}@127.0.0.1:{b.p2p_port}")
        self.log(f"wrong node id: {message}")
        assert_true(f"127.0.0.1:{b.p2p_port}" in message and "handshake" in message, f"unclear message: {message}")
        assert_true(find_peer(a, c_id) is None and find_peer(b, a_id) is not None, "a failed connect changes no peer")
        closed_port = free_port()
        message = cli_error(RPC_PEER_CONNECT_FAILED, a, "connect", f"{c_id}@127.0.0.1:{closed_port}")
        self.log(f"closed port: {message}")
        assert_true("refused" in message.lower(), f"closed port should say refused: {message}")

        self.log("failures: bad parameters")
        cli_error(RPC_INVALID_PARAMETER, a, "connect", f"{'zz' * 33}@127.0.0.1:{b.p2p_port}")
        cli_error(RPC_INVALID_PARAMETER, a, "connect", f"{b_id[:-2]}@127.0.0.1:{b.p2p_port}")
        cli_error(RPC_INVALID_PARAMETER, a, "connect", f"{b_id}@127.0.0.1:notaport")
        cli_error(RPC_INVALID_PARAMETER, a, "connect", f"{b_id}@127.0.0.1:70000")
        cli_error(RPC_INVALID_PARAMETER, a, "connect", f"{b_id}@127.0.0.1:0")
        cli_error(RPC_INVALID_PARAMETER, a, "connect", b_id, "127.0.0.1", "70000")
        cli_error(RPC_INVALID_PARAMETER, a, "ping", "not-a-node-id")
        cli_error(RPC_INVALID_PARAMETER, a, "disconnect", "02" + "00" * 32)

        self.log("failures: ping and disconnect of a peer that is not connected")
        cli_error(RPC_PEER_NOT_CONNECTED, a, "ping", c_id)
        cli_error(RPC_PEER_NOT_CONNECTED, a, "disconnect", c_id)
        assert_equal([p["id"] for p in a.cli("listpeers")], [b_id])


if __name__ == "__main__":
    P2pConnectTest().main()
