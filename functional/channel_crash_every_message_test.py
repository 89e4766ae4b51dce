#!/usr/bin/env python3
"""kill -9 right after every message of the open and of the close, on the side that sends it.

The daemon that sends the message runs with -devcrashaftersend=<BOLT type>: it kills itself
(SIGKILL) 300 ms after handing that message to the peer layer, once the batch that produced it
is durable. It is then restarted normally, the peers reconnect, blocks are mined, and the channel
must end consistent on both sides:
- open (A opens to B): open_channel and funding_created from A, accept_channel and
  funding_signed from B, channel_ready from each. Either both sides reach `normal` with the same
  short channel id, or A forgot the open: then no funding transaction exists, B has at most an
  unfunded channel (`awaiting_lockin`, forgotten after 2016 blocks, or `failed` once A answers its
  reestablish with an error), and no wallet coin stays locked;
- close (A starts it): shutdown and closing_signed from each side. The close always completes:
  a closing transaction confirms and both sides end `closed`."""


from test_framework.framework import SideboltTest
from test_framework.util import BackgroundCli, assert_equal, assert_true

OPEN_CHANNEL, ACCEPT_CHANNEL, FUNDING_CREATED, FUNDING_SIGNED, CHANNEL_READY = 32, 33, 34, 35, 36
SHUTDOWN, CLOSING_SIGNED = 38, 39
# channel_ready first: a daemon retransmits it on reconnection for a channel with no update yet,
# so these run before other channels exist (and after a payment moved the one they leave).
OPEN_CASES = [(CHANNEL_READY, 0), (CHANNEL_READY, 1), (OPEN_CHANNEL, 0), (ACCEPT_CHANNEL, 1), (FUNDING_CREATED, 0),
              (FUNDING_SIGNED, 1)]
CLOSE_CASES = [(SHUTDOWN, 0), (SHUTDOWN, 1), (CLOSING_SIGNED, 0), (CLOSING_SIGNED, 1)]
NAMES = {32: "open_channel", 33: "accept_channel", 34: "funding_created", 35: "funding_signed",
         36: "channel_ready", 38: "shutdown", 39: "closing_signed"}


def channels(node):
    return {c["channel_id"]: c for c in node.cli("listchannels")["channels"]}


class ChannelCrashEveryMessageTest(SideboltTest):
    def set_test_params(self):
        self.num_nodes = 2
        # Unfunded channels left at B by the cases where A forgets its open count as pending.
        self.extra_args = [["-channel.maxpendingopens=50"], ["-channel.maxpendingopens=50"]]

    def crash_run(self, crasher, message_type, method, *args, then=None):
        """Restarts `crasher` armed to die after `message_type`, runs `method` on A in the
        background (and `then`, e.g. mining the blocks channel_ready waits for), waits for the
        crash, and restarts it normally."""
        node = self.nodes[crasher]
        node.stop()
        node.start(extra_args=[f"-devcrashaftersend={message_type}"])
        self.reconnect()
        self.wait_reestablished()
        call = BackgroundCli(self.nodes[0], method, *args)
        if then:
            then(call)
        self.wait_until(lambda: node.process.poll() is not None, timeout=90,
                        message=f"node {crasher} never crashed after {NAMES[message_type]}")
        assert_true(node.log_contains("devcrashaftersend"), "the crash came from the armed message")
        node.process = None
        node.start()
        call.thread.join(130)
        self.reconnect()
        return call

    def reconnect(self):
        a, b = self.nodes
        b_id = b.cli("getinfo")["id"]
        if not any(p["id"] == b_id for p in a.cli("listpeers")):
            a.cli("connect", b.p2p_address)

    def wait_reestablished(self):
        """Both daemons connected again and every normal channel reestablished (so the next
        step does not race the reconnection)."""
        a, b = self.nodes
        b_id = b.cli("getinfo")["id"]

        def ready():
            if not any(p["id"] == b_id for p in a.cli("listpeers")):
                self.reconnect()
                return False
            return all(c["peer_connected"] for n in (a, b) for c in channels(n).values() if c["state"] == "normal")

        self.wait_until(ready, timeout=60, message="the daemons never reconnected")

    def assert_nothing_locked(self):
        self.wait_until(lambda: self.bitcoind.wallet_rpc("listlockunspent") == [], timeout=30,
                        message="a wallet coin stayed locked")

    def open_case(self, message_type, crasher):
        a, b = self.nodes
        before_a, before_b = set(channels(a)), set(channels(b))
        def lock_in(call):
            call.thread.join(120)
            self.bitcoind.mine(3)

        self.crash_run(crasher, message_type, "fundchannel", b.cli("getinfo")["id"], "100000",
                       then=lock_in if message_type == CHANNEL_READY else None)
        self.bitcoind.mine(3)
        new_a = lambda: {k: v for k, v in channels(a).items() if k not in before_a}
        new_b = lambda: {k: v for k, v in channels(b).items() if k not in before_b}

        def settled():
            ours, theirs = new_a(), new_b()
            if not ours:
                return True
            return all(c["state"] == "normal" and c["peer_connected"] for c in ours.values()) and \
                all(theirs.get(k, {}).get("state") == "normal" for k in ours)

        self.wait_until(settled, timeout=90, message=f"open with a crash after {NAMES[message_type]} never settled")
        ours, theirs = new_a(), new_b()
        if ours:
            [(cid, c)] = ours.items()
            assert_equal(theirs[cid]["short_channel_id"], c["short_channel_id"], "both sides agree on the channel")
            outcome = "completed"
        else:
            # B may keep the unfunded channel (forgotten after 2016 blocks) or fail it when A
            # answers its channel_reestablish with "unknown channel"; either way nothing was funded.
            for c in theirs.values():
                assert_true(c["state"] in ("awaiting_lockin", "failed"), f"B's side of a forgotten open: {c}")
                assert_equal(c["funding_confirmations"], 0, "no funding transaction confirmed for a forgotten open")
                assert_equal(c["to_us_msat"], 0, "B put nothing in an open A forgot")
            outcome = "forgotten by A" + (f", B's side {next(iter(theirs.values()))['state']}" if theirs else "")
        self.assert_nothing_locked()
        self.log(f"crash after {NAMES[message_type]} from node {crasher}: the open {outcome}")
        return next(iter(ours), None)

    def open_normal(self):
        a, b = self.nodes
        cid = a.cli("fundchannel", b.cli("getinfo")["id"], "100000")["channel_id"]
        self.bitcoind.mine(3)
        self.wait_until(lambda: all(channels(n).get(cid, {}).get("state") == "normal" for n in (a, b)), timeout=60)
        self.wait_until(lambda: all(channels(n)[cid]["peer_connected"] for n in (a, b)), timeout=60)
        return cid

    def close_case(self, message_type, crasher):
        a, b = self.nodes
        cid = self.open_normal()
        self.crash_run(crasher, message_type, "close", cid)

        def closing_in_mempool():
            # The side that did not crash may have agreed and broadcast alone (the crashed one then
            # learns the close from the chain): either side's closing transaction will do.
            mempool = self.bitcoind.rpc("getrawmempool")
            return any(channels(n).get(cid, {}).get("closing_txid") in mempool for n in (a, b))

        self.wait_until(closing_in_mempool, timeout=90, message=f"close with a crash after {NAMES[message_type]} never broadcast")
        self.bitcoind.mine(1)
        for node in (a, b):
            self.wait_until(lambda: channels(node)[cid]["state"] == "closed", timeout=60,
                            message=f"node {node.index}: channel never closed after a crash after {NAMES[message_type]}")
        assert_equal(channels(a)[cid]["closing_txid"], channels(b)[cid]["closing_txid"], "one closing transaction")
        self.log(f"crash after {NAMES[message_type]} from node {crasher}: the close completed")

    def run_test(self):
        a, b = self.nodes
        self.bitcoind.mine(101)
        a.cli("connect", b.p2p_address)
        for message_type, crasher in OPEN_CASES:
            if self.open_case(message_type, crasher) and message_type == CHANNEL_READY:
                # Move the new channel past its first commitment: no channel_ready retransmission.
                # Both at the tip first: the blocks just mined, reaching the payer after its
                # keysend left and the payee before it arrived, would bring the HTLC's expiry too
                # near the payee's height (CI saw three such blocks within 20 ms).
                best = self.bitcoind.rpc("getbestblockhash")
                for node in (a, b):
                    self.wait_until(lambda: node.cli("getinfo")["blockhash"] == best, timeout=30,
                                    message=f"node {node.index} never reached the tip")
                a.cli("keysend", b.cli("getinfo")["id"], "1000000")
        for message_type, crasher in CLOSE_CASES:
            self.close_case(message_type, crasher)


if __name__ == "__main__":
    ChannelCrashEveryMessageTest().main()
