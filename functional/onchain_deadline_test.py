#!/usr/bin/env python3
"""HTLC deadlines take a channel on chain by themselves (BOLT 2 and 5), A and B with two channels.

1. A offers an HTLC on channel 1 and B dies with it committed. One block after the HTLC's CLTV
   (not before) A fails the channel and publishes its commitment; on real bitcoind its
   HTLC-timeout follows with a fee from the wallet and A's payment fails three blocks later.
2. B fulfils an HTLC A offered on channel 2, and A dies before it hears of it. Seven blocks
   before the CLTV (not before) B fails the channel and publishes its commitment, so that its
   HTLC-success confirms in time; on real bitcoind the HTLC-success follows with a wallet fee,
   and A, started again after those blocks, learns the preimage from the chain while catching
   up: its payment completes.

Zero-fee HTLC transactions need bitcoind's fundrawtransaction with external inputs: on the
stand-in each story stops once the commitment is confirmed."""

from test_framework.framework import SideboltTest
from test_framework.util import assert_equal, assert_true

COMMITMENT_SIGNED = 132
REVOKE_AND_ACK = 133
AMOUNT_MSAT = 50_000_000


class OnchainDeadlineTest(SideboltTest):
    def set_test_params(self):
        self.num_nodes = 2

    def run_test(self):
        a, b = self.nodes
        self.ids = [n.cli("getinfo")["id"] for n in self.nodes]
        self.bitcoind.mine(101)
        a.cli("connect", b.p2p_address)
        channels = [a.cli("fundchannel", self.ids[1], "500000")["channel_id"] for _ in range(2)]
        self.bitcoind.mine(3)
        for node in (a, b):
            for cid in channels:
                self.wait_channel_normal(node, cid)
        self.offered_deadline(a, b, channels[0])
        self.fulfilled_deadline(a, b, channels[1])

    def offered_deadline(self, a, b, cid):
        self.log("B dies with A's HTLC committed in both commitments")
        inv = b.cli("invoice", str(AMOUNT_MSAT), "offered", "never fulfilled")
        self.restart(b, [f"-devcrashaftersend={COMMITMENT_SIGNED}"])
        cltv = self.sendpay(a, cid, inv, delay=30)
        self.wait_until(lambda: b.process.poll() is not None, timeout=60, message="B never crashed")
        b.process = None

        self.log("at the CLTV A waits; one block later it fails the channel and publishes its commitment")
        self.mine_to(cltv, a)
        assert_true(a.channel(cid)["state"] != "failed", "A failed the channel before the HTLC's deadline")
        assert_equal(self.mempool_spender(a.channel(cid)), None)
        self.mine_to(cltv + 1, a)
        self.wait_until(lambda: a.channel(cid)["state"] == "failed", timeout=30, message="A never failed the channel")
        assert_true("deadline" in a.channel(cid)["failure"], a.channel(cid)["failure"])
        commitment = self.wait_until(lambda: self.mempool_spender(a.channel(cid)), timeout=30,
                                     message="A's commitment never reached the mempool")
        self.bitcoind.mine(1)
        onchain = self.wait_until(lambda: (o := a.channel(cid).get("onchain")) and o["kind"] and o, timeout=30,
                                  message="A never resolved its commitment")
        assert_equal(onchain["kind"], "local_commitment")
        assert_equal(onchain["spend_txid"], commitment)
        if self.bitcoind.is_standin:
            return
        self.log("the CLTV has passed: A's HTLC-timeout goes out at once, and the payment fails 3 blocks deep")
        self.wait_until(lambda: self.output(a, cid, "local_htlc_timeout")["spent_by"], timeout=30,
                        message="A's HTLC-timeout never reached the mempool")
        self.bitcoind.mine(3)
        self.wait_until(lambda: a.cli("listpays", inv["payment_hash"])["pays"][0]["status"] == "failed", timeout=30,
                        message="A's payment never failed")

    def fulfilled_deadline(self, a, b, cid):
        self.log("A dies as the HTLC is committed; B fulfils it and A never hears of it")
        self.restart(b, [])
        self.wait_channel_normal(a, cid)
        self.wait_channel_normal(b, cid)
        inv = b.cli("invoice", str(AMOUNT_MSAT), "fulfilled", "settled on chain")
        self.restart(a, [f"-devcrashaftersend={REVOKE_AND_ACK}"])
        self.wait_channel_normal(b, cid)
        cltv = self.sendpay(a, cid, inv, delay=40)
        self.wait_until(lambda: a.process.poll() is not None, timeout=60, message="A never crashed")
        a.process = None
        self.wait_until(lambda: b.cli("listinvoices", "fulfilled")["invoices"][0]["status"] == "paid", timeout=30,
                        message="B never fulfilled")

        self.log("seven blocks before the CLTV B fails the channel and publishes its commitment, not before")
        self.mine_to(cltv - 8, b)
        assert_true(b.channel(cid)["state"] != "failed", "B failed the channel before its deadline")
        self.mine_to(cltv - 7, b)
        self.wait_until(lambda: b.channel(cid)["state"] == "failed", timeout=30, message="B never failed the channel")
        commitment = self.wait_until(lambda: self.mempool_spender(b.channel(cid)), timeout=30,
                                     message="B's commitment never reached the mempool")
        self.bitcoind.mine(1)
        onchain = self.wait_until(lambda: (o := b.channel(cid).get("onchain")) and o["kind"] and o, timeout=30,
                                  message="B never resolved its commitment")
        assert_equal(onchain["kind"], "local_commitment")
        assert_equal(onchain["spend_txid"], commitment)
        if self.bitcoind.is_standin:
            a.start()
            self.wait_until(lambda: (o := a.channel(cid).get("onchain")) and o["kind"] == "remote_commitment",
                            timeout=60, message="A never recognized B's commitment")
            return

        self.log("B's HTLC-success goes out a block later with a wallet fee; A, back, reads the preimage from it")
        self.bitcoind.mine(1)
        success = self.wait_until(lambda: self.output(b, cid, "local_htlc_success")["spent_by"], timeout=30,
                                  message="B's HTLC-success never reached the mempool")
        self.bitcoind.mine(2)
        assert_true(self.bitcoind.rpc("getrawtransaction", success, True).get("confirmations", 0) >= 1,
                    "B's HTLC-success never confirmed")
        a.start()
        paid = self.wait_until(lambda: (p := a.cli("listpays", inv["payment_hash"])["pays"][0])["status"] == "complete" and p,
                               timeout=60, message="A never learned the preimage from the chain")
        assert_equal(paid["payment_preimage"], b.cli("listinvoices", "fulfilled")["invoices"][0]["payment_preimage"])

    def restart(self, node, extra_args):
        node.stop()
        node.start(extra_args=extra_args)

    def sendpay(self, payer, cid, inv, delay):
        """Pays over the one channel with an HTLC expiring `delay` blocks after the tip; its CLTV."""
        height = self.bitcoind.rpc("getblockcount")
        self.wait_until(lambda: payer.cli("getinfo")["blockheight"] == height, timeout=30, message="payer behind the chain")
        route = [{"id": self.ids[1], "channel": payer.channel(cid)["short_channel_id"], "amount_msat": AMOUNT_MSAT,
                  "delay": delay}]
        assert_equal(payer.cli("sendpay", route, inv["payment_hash"], inv["payment_secret"])["status"], "pending")
        return height + delay

    def mine_to(self, height, node):
        """Mines up to `height` and waits until sidebolt `node` has processed it."""
        self.bitcoind.mine(height - self.bitcoind.rpc("getblockcount"))
        self.wait_until(lambda: node.cli("getinfo")["blockheight"] == height, timeout=30, message=f"never at {height}")

    def mempool_spender(self, channel):
        """The txid of the mempool transaction spending the channel's funding output, or None."""
        for txid in self.bitcoind.rpc("getrawmempool"):
            tx = self.bitcoind.rpc("getrawtransaction", txid, True)
            if any(i.get("txid") == channel["funding_txid"] and i.get("vout") == channel["funding_output"] for i in tx["vin"]):
                return txid
        return None

    @staticmethod
    def output(node, cid, duty):
        return next(o for o in node.channel(cid)["onchain"]["outputs"] if o["duty"] == duty)


if __name__ == "__main__":
    OnchainDeadlineTest().main()
