#!/usr/bin/env python3
"""Interop with Core Lightning over BOLT 8 and BOLT 1: sidebolt connects to a Core Lightning
node (id@host:port) and, after a disconnect, Core Lightning connects to sidebolt; each time
listpeers on both sides shows the other with its init features, pings succeed both ways, and
the connection survives an idle period in which sidebolt's automatic pings must be answered.

Needs LIGHTNINGD and a real bitcoind (Core Lightning drives bitcoind with bitcoin-cli);
skipped otherwise."""

import time

from test_framework.framework import SideboltTest
from test_framework.util import assert_equal, assert_true

PING_INTERVAL = 2
IDLE_SECONDS = 10
# BOLT 9 bits every sidebolt init carries (either the even or the odd bit of each pair).
EXPECTED_PAIRS = {"var_onion_optin": 8, "option_static_remotekey": 12, "payment_secret": 14}


def feature_set(hex_features):
    value = int(hex_features, 16) if hex_features else 0
    return {bit for bit in range(value.bit_length()) if value >> bit & 1}


def sidebolt_peer(node, node_id):
    return next((p for p in node.cli("listpeers") if p["id"] == node_id), None)


class InteropClnConnectTest(SideboltTest):
    def set_test_params(self):
        self.num_nodes = 1
        self.num_cln_nodes = 1
        self.extra_args = [[f"-pinginterval={PING_INTERVAL}"]]

    def check_both_sides(self, direction):
        """Both list each other; sidebolt's view of CLN's features is what CLN advertises."""
        sb, cln = self.nodes[0], self.cln_nodes[0]
        peer = self.wait_until(lambda: sidebolt_peer(sb, cln.node_id), timeout=30,
                               message="sidebolt never listed the Core Lightning node")
        assert_equal(peer["direction"], direction, "direction of the Core Lightning peer on sidebolt")
        assert_equal(peer["features"], self.cln_features, "CLN's init features as sidebolt saw them")
        for name in ("var_onion_optin", "payment_secret/required", "option_static_remotekey"):
            assert_true(name in peer["features_names"], f"{name} missing from {peer['features_names']!r}")
        theirs = self.wait_until(lambda: cln.find_peer(self.sb_id), timeout=30,
                                 message="Core Lightning never listed the sidebolt node")
        bits = feature_set(theirs["features"])
        for name, even in EXPECTED_PAIRS.items():
            assert_true(even in bits or even + 1 in bits, f"CLN sees no {name} in sidebolt's {theirs['features']}")
        assert_true(14 in bits, f"payment_secret should be required (bit 14) in {theirs['features']}")
        self.log(f"{direction}: sidebolt sees {peer['features']}, CLN sees {theirs['features']} at "
                 f"{theirs.get('netaddr')}")
        return peer

    def ping_both_ways(self):
        sb, cln = self.nodes[0], self.cln_nodes[0]
        result = sb.cli("ping", cln.node_id, "300")
        assert_equal(result["len"], 300, "pong length from Core Lightning")
        assert_true(0 <= result["rtt_ms"] < 10_000, f"odd rtt {result}")
        # CLN's totlen counts the pong's type and length prefix too.
        reply = cln.cli("ping", id=self.sb_id, len=64, pongbytes=200)
        assert_equal(reply["totlen"], 200 + 4, "pong length from sidebolt as CLN counts it")
        self.log(f"ping: sidebolt -> CLN {result['rtt_ms']:.2f} ms; CLN -> sidebolt pong {reply['totlen']} bytes")

    def idle(self, connected_since):
        """Nothing but sidebolt's automatic pings for IDLE_SECONDS; the same connection stays up."""
        sb, cln = self.nodes[0], self.cln_nodes[0]
        self.log(f"idle for {IDLE_SECONDS}s (sidebolt pings every {PING_INTERVAL}s)")
        time.sleep(IDLE_SECONDS)
        peer = sidebolt_peer(sb, cln.node_id)
        assert_true(peer is not None, "sidebolt dropped the Core Lightning node while idle")
        assert_equal(peer["connected_since"], connected_since, "the connection was replaced while idle")
        assert_true("last_ping_rtt_ms" in peer, f"no automatic ping was answered: {peer}")
        assert_true(cln.find_peer(self.sb_id) is not None, "Core Lightning dropped sidebolt while idle")

    def run_test(self):
        sb, cln = self.nodes[0], self.cln_nodes[0]
        self.sb_id = sb.cli("getinfo")["id"]
        info = cln.cli("getinfo")
        self.cln_features = info["our_features"]["init"]
        self.log(f"Core Lightning {info['version']}, init features {self.cln_features}")
        [tip] = self.bitcoind.mine(1)
        self.wait_until(lambda: sb.cli("getinfo")["blockhash"] == tip, timeout=30)

        self.log("sidebolt connects to Core Lightning with id@host:port")
        assert_equal(sb.cli("connect", cln.p2p_address), {"id": cln.node_id})
        peer = self.check_both_sides("outbound")
        self.ping_both_ways()
        self.idle(peer["connected_since"])

        self.log("sidebolt disconnects; both sides drop the peer")
        sb.cli("disconnect", cln.node_id)
        self.wait_until(lambda: sidebolt_peer(sb, cln.node_id) is None, timeout=30)
        self.wait_until(lambda: cln.find_peer(self.sb_id) is None, timeout=30,
                        message="Core Lightning still lists sidebolt after the disconnect")

        self.log("Core Lightning connects to sidebolt")
        result = cln.connect(self.sb_id, "127.0.0.1", sb.p2p_port)
        assert_equal(result["id"], self.sb_id)
        assert_equal(result["direction"], "out", "CLN's connect result")
        peer = self.check_both_sides("inbound")
        self.ping_both_ways()
        self.idle(peer["connected_since"])

        self.log("Core Lightning disconnects; sidebolt drops the peer")
        cln.cli("disconnect", self.sb_id)
        self.wait_until(lambda: sidebolt_peer(sb, cln.node_id) is None, timeout=30,
                        message="sidebolt still lists Core Lightning after its disconnect")


if __name__ == "__main__":
    InteropClnConnectTest().main()
