#!/usr/bin/env python3
"""The regtest world: a regtest node and N sideboltd beside it, following the chain and
connected to each other in a ring.

    functional/world.py [--nodes N] [--blocks B] [--keep]

Mines B blocks, shows each daemon's getinfo once it has followed them, mines one more block
and shows the daemons catching it, then connects each daemon to the next and pings it. With --keep the world stays up (printing the sidebolt-cli
commands to reach each daemon) until Ctrl-C. Later milestones add channels and payments here.
"""

import argparse
import json
import os
import shlex
import sys
import time

from test_framework.framework import SideboltTest


class World(SideboltTest):
    def __init__(self, args):
        super().__init__()
        self.args = args

    def set_test_params(self):
        self.num_nodes = self.args.nodes

    def show(self, title):
        print(f"\n--- {title}")
        for node in self.nodes:
            info = node.cli("getinfo")
            print(f"node {node.index}: " + json.dumps({k: info[k] for k in ("id", "blockheight", "synced", "chain_source")}))

    def connect_ring(self):
        """Each daemon connects to the next (BOLT 8 handshake + init), then pings it."""
        if len(self.nodes) < 2:
            return
        print("\n--- peers: each node connects to the next and pings it")
        for node, peer in zip(self.nodes, self.nodes[1:] + self.nodes[:1]):
            if len(self.nodes) == 2 and node.index == 1:
                break  # two nodes: one connection serves both directions
            peer_id = peer.cli("getinfo")["id"]
            node.cli("connect", peer.p2p_address)
            rtt = node.cli("ping", peer_id, "1000")["rtt_ms"]
            print(f"node {node.index} -> node {peer.index}: connected, ping {rtt:.2f} ms")
        for node in self.nodes:
            peers = node.cli("listpeers")
            print(f"node {node.index}: {len(peers)} peers " +
                  json.dumps([{"id": p["id"][:16] + "...", "direction": p["direction"]} for p in peers]))

    def run_test(self):
        btc = self.bitcoind
        self.log(f"{len(self.nodes)} sideboltd beside a {btc.backend} regtest node; mining {self.args.blocks} blocks")
        btc.mine(self.args.blocks)
        tip = btc.rpc("getbestblockhash")
        self.wait_until(lambda: all(n.cli("getinfo")["blockhash"] == tip for n in self.nodes), timeout=60)
        self.show(f"all daemons at height {btc.rpc('getblockcount')}")
        start = time.monotonic()
        [tip] = btc.mine(1)
        self.wait_until(lambda: all(n.cli("getinfo")["blockhash"] == tip for n in self.nodes), timeout=30, interval=0.02)
        self.log(f"one more block: every daemon followed it in {time.monotonic() - start:.2f}s")
        self.show("after one more block")
        self.connect_ring()
        print("\nfull getinfo of node 0:\n" + json.dumps(self.nodes[0].cli("getinfo"), indent=2))
        if self.args.keep:
            print("\nThe world is up. Try:")
            for node in self.nodes:
                print("  " + shlex.join([node.cli_path, f"-datadir={node.datadir}", "getinfo"]))
            print("Ctrl-C to stop everything.")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--blocks", type=int, default=101)
    parser.add_argument("--keep", action="store_true", help="keep the world running until Ctrl-C")
    args, rest = parser.parse_known_args()
    sys.argv = [sys.argv[0]] + rest
    World(args).main()


if __name__ == "__main__":
    main()
