#!/usr/bin/env python3
"""A forwarded HTLC whose downstream channel goes on chain (BOLT 5), A -> B -> C, all sidebolt.

C dies right after signing the commitment that carries A's HTLC (-devcrashaftersend), before B's
revoke_and_ack reaches it. B closes B-C unilaterally with the HTLC in its commitment. C comes
back and recognizes B's commitment as the pending one; B never irrevocably committed to the HTLC
from C's side, so C must not claim it with its preimage (BOLT 5) and lets it time out. At the
HTLC's CLTV, B's HTLC-timeout transaction (zero fee under option_anchors) gets its fee from
bitcoind's wallet; three blocks later B fails A's HTLC upstream, so A's payment fails; once C's
to_self_delay has passed, B sweeps the HTLC-timeout output into bitcoind's wallet.

The wallet pays the fee with fundrawtransaction and an external input, which only real bitcoind
does: on the stand-in the test stops after C's refusal to claim."""

import time

from test_framework.framework import SideboltTest
from test_framework.util import BackgroundCli, assert_equal, assert_true

COMMITMENT_SIGNED = 132
TO_SELF_DELAY = 6
AMOUNT_MSAT = 120_000_000
FEE_MSAT = 1000 + AMOUNT_MSAT * 10 // 1_000_000


class OnchainHtlcTest(SideboltTest):
    def set_test_params(self):
        self.num_nodes = 3
        # C makes B wait TO_SELF_DELAY blocks for its HTLC-timeout output.
        self.extra_args = [[], [], [f"-channel.toselfdelay={TO_SELF_DELAY}"]]

    def run_test(self):
        a, b, c = self.nodes
        ids = [n.cli("getinfo")["id"] for n in self.nodes]
        self.bitcoind.mine(101)
        a.cli("connect", b.p2p_address)
        b.cli("connect", c.p2p_address)
        ab = a.cli("fundchannel", ids[1], "500000")["channel_id"]
        bc = b.cli("fundchannel", ids[2], "500000")["channel_id"]
        self.bitcoind.mine(3)
        for node, cid in ((a, ab), (b, ab), (b, bc), (c, bc)):
            self.wait_channel_normal(node, cid)
        b_before = b.channel(ab)["to_us_msat"]

        self.log("C dies right after it signs the commitment with A's HTLC, before fulfilling it")
        c.stop()
        c.start(extra_args=[f"-devcrashaftersend={COMMITMENT_SIGNED}"])
        self.wait_channel_normal(c, bc)
        self.wait_channel_normal(b, bc)
        inv = c.cli("invoice", str(AMOUNT_MSAT), "on-chain", "settled on chain")
        call = BackgroundCli(a, "pay", inv["bolt11"])
        self.wait_until(lambda: c.process.poll() is not None, timeout=60, message="C never crashed")
        c.process = None
        self.wait_until(lambda: b.channel(bc)["pending_htlcs"] == 1, timeout=30, message="B-C never carried the HTLC")
        assert_equal(a.cli("listpays", inv["payment_hash"])["pays"][0]["status"], "pending")

        self.log("B closes B-C unilaterally with the HTLC in its commitment")
        closed = b.cli("-named", "close", f"id={bc}", "unilateral=true")
        self.wait_until(lambda: closed["closing_txid"] in self.bitcoind.rpc("getrawmempool"), timeout=30,
                        message="B's commitment never reached the mempool")
        self.bitcoind.mine(1)
        # Seen in the mempool first, the commitment's outputs get their heights once its block is in.
        def confirmed_timeout_duty():
            onchain = b.channel(bc).get("onchain")
            duties = [o for o in (onchain or {}).get("outputs", []) if o["duty"] == "local_htlc_timeout"]
            return onchain if duties and duties[0]["valid_from_height"] is not None else None
        onchain = self.wait_until(confirmed_timeout_duty, timeout=30, message="B never resolved its commitment")
        assert_equal(onchain["kind"], "local_commitment")
        timeout_duty = next(o for o in onchain["outputs"] if o["duty"] == "local_htlc_timeout")
        assert_true(timeout_duty["valid_from_height"] > self.bitcoind.rpc("getblockcount") + 10,
                    f"the HTLC times out at its CLTV, not before: {timeout_duty}")

        self.log("C comes back: B's pending commitment is not irrevocably its, so C does not claim the HTLC")
        c.start()
        c_onchain = self.wait_until(lambda: (o := c.channel(bc).get("onchain")) and o["kind"] and o, timeout=60,
                                    message="C never resolved B's commitment")
        assert_equal(c_onchain["kind"], "remote_pending_commitment")
        success = next(o for o in c_onchain["outputs"] if o["duty"] == "remote_htlc_success")
        assert_true("txid" not in success and not success["broadcast"], f"C must let the HTLC time out: {success}")
        if self.bitcoind.is_standin:
            self.log("the stand-in cannot fund a zero-fee HTLC transaction (fundrawtransaction with inputs): stopping here")
            return

        self.log("at the HTLC's CLTV B's HTLC-timeout transaction goes out with a fee from bitcoind's wallet")
        self.bitcoind.mine(timeout_duty["valid_from_height"] - 2 - self.bitcoind.rpc("getblockcount"))
        assert_true(not self.timeout_output(b, bc)["broadcast"] and self.timeout_output(b, bc)["spent_by"] is None,
                    "HTLC-timeout before its CLTV")
        self.bitcoind.mine(1)
        spent = self.wait_until(lambda: self.timeout_output(b, bc)["spent_by"], timeout=30,
                                message="B's HTLC-timeout transaction never reached the mempool")
        htlc_timeout = self.bitcoind.rpc("getrawtransaction", spent, True)
        assert_true(len(htlc_timeout["vin"]) >= 2 and len(htlc_timeout["vout"]) == 2,
                    f"wallet input and change beside the HTLC's: {htlc_timeout}")
        self.bitcoind.mine(1)
        self.log("three blocks deep, B fails A's HTLC upstream: A's payment fails")
        assert_equal(a.cli("listpays", inv["payment_hash"])["pays"][0]["status"], "pending")
        self.bitcoind.mine(2)
        self.wait_until(lambda: a.cli("listpays", inv["payment_hash"])["pays"][0]["status"] == "failed", timeout=30,
                        message="A's payment never failed")
        self.wait_until(lambda: a.channel(ab)["pending_htlcs"] == 0 and b.channel(ab)["to_us_msat"] == b_before,
                        timeout=30, message=f"A-B never removed the HTLC: {a.channel(ab)}")
        call.join()

        self.log("after C's to_self_delay B sweeps the HTLC-timeout output")
        confirmed = self.timeout_output(b, bc)["spent_height"]
        self.bitcoind.mine(confirmed + TO_SELF_DELAY - 1 - self.bitcoind.rpc("getblockcount"))
        sweep = self.wait_until(lambda: self.bitcoind.rpc("gettxspendingprevout", [{"txid": spent, "vout": 0}])[0].get("spendingtxid"),
                                timeout=30, message="B never swept its HTLC-timeout output")
        self.bitcoind.mine(1)
        swept = sum(round(u["amount"] * 100_000_000) for u in self.bitcoind.wallet_rpc("listunspent", 0) if u["txid"] == sweep)
        htlc_sat = (AMOUNT_MSAT) // 1000
        assert_true(htlc_sat - 2000 < swept < htlc_sat, f"B's sweep pays {swept} sat of the {htlc_sat} sat HTLC")

        self.log("B keeps B-C until its last spend, the sweep of the HTLC-timeout output, is 100 blocks deep")
        self.bitcoind.mine(98)
        self.wait_until(lambda: b.cli("getinfo")["blockheight"] == self.bitcoind.rpc("getblockcount"), timeout=30)
        time.sleep(0.5)
        assert_true(b.channel(bc) is not None, "B forgot B-C before the second stage's sweep was 100 deep")
        self.bitcoind.mine(1)
        closed = self.wait_until(lambda: next((c for c in b.cli("listclosedchannels")["channels"] if c["channel_id"] == bc), None),
                                 timeout=30, message="B never moved B-C to listclosedchannels")
        assert_equal(closed["close_kind"], "local_commitment")
        for txid in (spent, sweep):
            assert_true(txid in closed["our_txids"], f"{txid} not among B's transactions {closed['our_txids']}")
        assert_true(closed["returned_sat"] >= swept, f"B's closed channel returned {closed['returned_sat']} sat")

    def timeout_output(self, node, cid):
        return next(o for o in node.channel(cid)["onchain"]["outputs"] if o["duty"] == "local_htlc_timeout")

if __name__ == "__main__":
    OnchainHtlcTest().main()
