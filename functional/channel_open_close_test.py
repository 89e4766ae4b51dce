#!/usr/bin/env python3
"""Channels between two sidebolt daemons, funded from bitcoind's wallet: A opens to B without a
push and B opens to A with one; both wait for 3 confirmations, then are normal on both sides
with the balances, reserves and funding the open implies; listfunds shows them. Every open
refusal gives a clear error and leaves no wallet output locked: unknown peer, too small, more
than the wallet holds. B restarts and the channels are reestablished by themselves (A
reconnects). Then A closes the first channel and B the second: each mutual close pays both
sides in bitcoind's wallet and the channels end closed once the close confirms."""

from test_framework.framework import SideboltTest
from test_framework.util import assert_equal, assert_true

RPC_INVALID_PARAMETER = -8
RPC_PEER_NOT_CONNECTED = -101
WALLET_INSUFFICIENT_FUNDS = (-4, -6)


class ChannelOpenCloseTest(SideboltTest):
    def set_test_params(self):
        self.num_nodes = 2

    def wait_state(self, node, channel_id, state, timeout=60):
        return self.wait_until(lambda: (c := node.channel(channel_id)) and c["state"] == state and c,
                               timeout=timeout, message=f"node {node.index}: channel {channel_id} never {state}")

    def assert_nothing_locked(self):
        assert_equal(self.bitcoind.wallet_rpc("listlockunspent"), [], "no wallet output may stay locked")

    def run_test(self):
        a, b = self.nodes
        a_id, b_id = (n.cli("getinfo")["id"] for n in self.nodes)
        self.bitcoind.mine(101)
        a.cli("connect", b.p2p_address)

        self.log("refusals: unknown peer, too small, more than the wallet holds")
        unknown = "02" + "11" * 32
        err = a.cli_error("fundchannel", unknown, "100000")
        assert_true(err["code"] in (RPC_PEER_NOT_CONNECTED, RPC_INVALID_PARAMETER), f"unknown peer: {err}")
        err = a.cli_error("fundchannel", b_id, "1000")
        assert_equal(err["code"], RPC_INVALID_PARAMETER, f"too small: {err}")
        assert_true("minimum" in err["message"], f"the message should say why: {err}")
        # 20,000 BTC: more than 101 regtest blocks ever paid out.
        err = a.cli_error("fundchannel", b_id, str(2_000_000_000_000))
        assert_true(err["code"] in WALLET_INSUFFICIENT_FUNDS, f"more than the wallet holds: {err}")
        assert_true("nsufficient" in err["message"], f"bitcoind's reason reaches the user: {err}")
        assert_equal(a.cli("listchannels")["channels"], [], "a refused open leaves no channel")
        self.assert_nothing_locked()

        self.log("A opens 200000 sat to B")
        opened = a.cli("fundchannel", b_id, "200000")
        first = opened["channel_id"]
        assert_equal(len(first), 64)
        mempool = self.bitcoind.rpc("getrawmempool")
        assert_true(opened["funding_txid"] in mempool, f"funding tx not broadcast: {opened} {mempool}")
        self.assert_nothing_locked()
        for node in (a, b):
            c = self.wait_state(node, first, "awaiting_lockin")
            assert_equal(c["capacity_sat"], 200000)
            assert_equal(c["funding_txid"], opened["funding_txid"])
        assert_equal(a.channel(first)["opener"], "local")
        assert_equal(b.channel(first)["opener"], "remote")

        self.log("B opens 100000 sat to A, pushing 20000000 msat")
        second = b.cli("fundchannel", a_id, "100000", "253", "0", "20000000")["channel_id"]

        self.bitcoind.mine(2)
        self.wait_until(lambda: a.channel(first)["funding_confirmations"] == 2, timeout=30)
        assert_equal(a.channel(first)["state"], "awaiting_lockin", "2 of 3 confirmations is not enough")
        self.bitcoind.mine(1)
        for node in (a, b):
            for cid in (first, second):
                c = self.wait_state(node, cid, "normal")
                assert_true("x" in c.get("short_channel_id", ""), f"short_channel_id: {c}")
        c = a.channel(first)
        assert_equal(c["to_us_msat"] + c["to_them_msat"], 200000 * 1000)
        assert_equal(c["to_them_msat"], 0)
        assert_equal(c["our_reserve_sat"], 2000, "1% reserve")
        assert_equal(c["channel_type"], "anchors_zero_fee_htlc_tx+static_remotekey")
        c = a.channel(second)
        assert_equal(c["to_us_msat"], 20000000, "the push arrived")
        assert_equal(b.channel(second)["to_us_msat"], 100000 * 1000 - 20000000)
        funds = a.cli("listfunds")
        assert_equal(funds["channels_total_msat"], 200000 * 1000 + 20000000)
        assert_true(funds["wallet"]["trusted_sat"] > 0, f"wallet balance: {funds}")

        self.log("B restarts: A reconnects and the channels are reestablished")
        b.stop()
        self.wait_until(lambda: not a.channel(first)["peer_connected"], timeout=30)
        b.start()
        for node in (a, b):
            for cid in (first, second):
                self.wait_until(lambda: (c := node.channel(cid)) and c["peer_connected"] and c["state"] == "normal",
                                timeout=60, message=f"node {node.index} never reestablished {cid}")

        self.log("A closes the first channel, B the second")
        closed = a.cli("close", first)
        assert_equal(closed["channel_id"], first)
        closed2 = b.cli("close", second)
        for txid in (closed["closing_txid"], closed2["closing_txid"]):
            self.wait_until(lambda: txid in self.bitcoind.rpc("getrawmempool"), timeout=30,
                            message=f"closing tx {txid} never reached the mempool")
        for node in (a, b):
            self.wait_state(node, first, "closing")
        self.bitcoind.mine(1)
        for node in (a, b):
            for cid in (first, second):
                self.wait_state(node, cid, "closed")
        for txid in (closed["closing_txid"], closed2["closing_txid"]):
            tx = self.bitcoind.wallet_rpc("gettransaction", txid)
            assert_equal(tx["confirmations"], 1, "the close pays bitcoind's wallet")
        self.assert_nothing_locked()


if __name__ == "__main__":
    ChannelOpenCloseTest().main()
