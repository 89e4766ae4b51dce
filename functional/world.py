#!/usr/bin/env python3
"""The regtest world: a regtest node and N sideboltd beside it, following the chain and
connected to each other in a ring.

    functional/world.py [--nodes N] [--blocks B] [--keep]

Mines B blocks, shows each daemon's getinfo once it has followed them, mines one more block
and shows the daemons catching it, then connects each daemon to the next and pings it. Then
each daemon opens a channel to the next, funded from bitcoind's wallet, the blocks that lock
them in are mined, and every channel is shown normal on both sides; finally one channel is
closed cooperatively and its close confirmed. Before that close, payments go around the ring:
each node pays an invoice of the node two hops ahead (through the node between them, which
earns a forwarding fee; the invoice's route hints show the way) and sends a keysend to its
neighbour; a summary shows the payments, their latency, the fees each forwarding node earned and
the balances. With --keep the world stays up (printing the sidebolt-cli commands to reach each
daemon and a command that mines a block on the regtest node) until Ctrl-C.
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

    def channels(self, node):
        return node.cli("listchannels")["channels"]

    def open_ring(self):
        """Each daemon funds a channel to the next from bitcoind's wallet; 3 blocks lock them in."""
        if len(self.nodes) < 2:
            return []
        print("\n--- channels: each node opens 250000 sat to the next (pushing 50000000 msat)")
        opened = []
        for node, peer in zip(self.nodes, self.nodes[1:] + self.nodes[:1]):
            if len(self.nodes) == 2 and node.index == 1:
                break
            peer_id = peer.cli("getinfo")["id"]
            if not any(p["id"] == peer_id for p in node.cli("listpeers")):
                node.cli("connect", peer.p2p_address)
            start = time.monotonic()
            result = node.cli("fundchannel", peer_id, "250000", "253", "0", "50000000")
            print(f"node {node.index} -> node {peer.index}: channel {result['channel_id'][:16]}... "
                  f"funding {result['funding_txid'][:16]}...:{result['funding_output']} "
                  f"signed by both in {time.monotonic() - start:.2f}s")
            opened.append((node, peer, result["channel_id"]))
        print("mining 3 blocks for the funding transactions to lock in (channel.confirmations=3)")
        self.bitcoind.mine(3)
        start = time.monotonic()
        for node, peer, cid in opened:
            for side in (node, peer):
                self.wait_until(lambda: any(c["channel_id"] == cid and c["state"] == "normal" for c in self.channels(side)),
                                timeout=60, message=f"channel {cid} never normal on node {side.index}")
        for node, peer, cid in opened:
            for side in (node, peer):
                self.wait_until(lambda: any(c["channel_id"] == cid and c["peer_connected"] for c in self.channels(side)),
                                timeout=60, message=f"channel {cid} never reconnected on node {side.index}")
        print(f"all {len(opened)} channels normal on both sides {time.monotonic() - start:.2f}s after the third block")
        for node in self.nodes:
            for c in self.channels(node):
                print(f"node {node.index}: {c['short_channel_id']:>12} {c['state']:<8} capacity {c['capacity_sat']} sat, "
                      f"ours {c['to_us_msat'] // 1000} sat, theirs {c['to_them_msat'] // 1000} sat")
        return opened

    def our_balance(self, node):
        return sum(c["to_us_msat"] for c in self.channels(node) if c["state"] == "normal")

    def pay_around(self, opened):
        """Each node pays the node two hops ahead through the one between, and keysends its neighbour."""
        if len(opened) < 3:
            return
        print("\n--- payments: each node pays an invoice of the node two hops ahead, and keysends its neighbour")
        ids = [n.cli("getinfo")["id"] for n in self.nodes]
        before = [self.our_balance(n) for n in self.nodes]
        count = len(self.nodes)
        latencies = []
        paid_out = [0] * count
        received = [0] * count
        for i, payer in enumerate(self.nodes):
            payee = self.nodes[(i + 2) % count]
            amount = 1_000_000 * (i + 1)
            invoice = payee.cli("invoice", str(amount), f"world-{i}", f"from node {i}")
            start = time.monotonic()
            result = payer.cli("pay", invoice["bolt11"])
            latencies.append(time.monotonic() - start)
            paid_out[i] += result["amount_sent_msat"]
            received[payee.index] += amount
            print(f"node {i} paid node {payee.index} {amount} msat over {result['parts'][0]['route']} "
                  f"in {latencies[-1] * 1000:.0f} ms (fee {result['fee_msat']} msat, {result['attempts']} attempt(s))")
            neighbour = (i + 1) % count
            start = time.monotonic()
            sent = payer.cli("keysend", ids[neighbour], "100000")
            latencies.append(time.monotonic() - start)
            paid_out[i] += sent["amount_sent_msat"]
            received[neighbour] += 100000
            print(f"node {i} keysent node {neighbour} 100000 msat in {latencies[-1] * 1000:.0f} ms")
        # Settlement finishes just after pay returns (the payee's last revoke_and_ack).
        time.sleep(1)
        after = [self.our_balance(n) for n in self.nodes]
        latencies.sort()
        print(f"\n--- summary: {len(latencies)} payments, median latency {latencies[len(latencies) // 2] * 1000:.0f} ms, "
              f"slowest {latencies[-1] * 1000:.0f} ms")
        for n in self.nodes:
            i = n.index
            earned = after[i] - before[i] + paid_out[i] - received[i]
            print(f"node {i}: paid {paid_out[i]} msat, received {received[i]} msat, earned {earned} msat forwarding, "
                  f"balance in channels {after[i]} msat")

    def close_one(self, opened):
        if not opened:
            return
        node, peer, cid = opened[0]
        print(f"\n--- node {node.index} closes its channel to node {peer.index} cooperatively")
        result = node.cli("close", cid)
        print(f"closing transaction {result['closing_txid']} agreed and broadcast")
        self.bitcoind.mine(1)
        for side in (node, peer):
            self.wait_until(lambda: any(c["channel_id"] == cid and c["state"] == "closed" for c in self.channels(side)),
                            timeout=60, message=f"channel {cid} never closed on node {side.index}")
        print("the close is confirmed; both sides show the channel closed and the funds are back in bitcoind's wallet")

    def mine_command(self):
        """A ready-to-paste command that mines one block to a wallet address of the regtest node:
        bitcoin-cli for real bitcoind, curl with the cookie for the stand-in (no bitcoin-cli)."""
        btc = self.bitcoind
        address = btc.new_address()
        if not btc.is_standin:
            cli = os.path.normpath(os.path.join(os.path.dirname(btc.bitcoind_path), "bitcoin-cli"))
            return shlex.join([cli, "-regtest", f"-datadir={btc.datadir}", f"-rpcport={btc.rpc_port}",
                               "generatetoaddress", "1", address])
        body = json.dumps({"jsonrpc": "1.0", "id": "world", "method": "generatetoaddress", "params": [1, address]})
        # The cookie changes when the node restarts: read it when the command runs.
        return (f'curl -s --user "$(cat {shlex.quote(btc.cookie_path)})" --data-binary {shlex.quote(body)} '
                f"-H 'content-type: application/json' http://127.0.0.1:{btc.rpc_port}/")

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
        opened = self.open_ring()
        self.pay_around(opened)
        self.close_one(opened)
        print("\nfull getinfo of node 0:\n" + json.dumps(self.nodes[0].cli("getinfo"), indent=2))
        if self.args.keep:
            print("\nThe world is up. Try:")
            for node in self.nodes:
                print("  " + shlex.join([node.cli_path, f"-datadir={node.datadir}", "getinfo"]))
            print(f"Mine a block on the {self.bitcoind.backend} regtest node:")
            print("  " + self.mine_command())
            print("Ctrl-C to stop everything.")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=4)
    parser.add_argument("--blocks", type=int, default=101)
    parser.add_argument("--keep", action="store_true", help="keep the world running until Ctrl-C")
    args, rest = parser.parse_known_args()
    sys.argv = [sys.argv[0]] + rest
    World(args).main()


if __name__ == "__main__":
    main()
