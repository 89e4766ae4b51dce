// Two channel managers wired to each other in one process: fake peers deliver each one's
// messages to the other, a fake wallet funds, a fake chain records broadcasts and blocks are
// fed through the listener interface. Covers the open, lock-in, restart with reestablish and
// the cooperative close end to end, and the open's refusals, without bitcoind.

#include "tests/node/node_test_util.h"
#include "node/channel_manager.h"
#include "node/htlc_router.h"
#include "node/invoice_store.h"

#include "channel/close.h"
#include "channel/scripts.h"
#include "primitives/script.h"
#include "store/env.h"
#include "util/idle_poller.h"
#include "util/sync.h"
#include "wire/message.h"

#include <doctest/doctest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace sidebolt {
namespace {

using namespace std::chrono_literals;

using test::FakeChain;
using test::FastEnv;
using test::KeyOf;
using test::ScratchDir;


class FakeWallet : public ChannelWallet
{
public:
    WalletFunding Fund(const Script& script_pubkey, Sat amount, uint32_t, std::optional<uint32_t> minconf) override
    {
        std::lock_guard lock(m_mutex);
        last_minconf = minconf;
        if (fail_with) throw NodeError(*fail_with, "Insufficient funds");
        WalletFunding funding;
        TxIn in;
        in.prevout = OutPoint{Sha256(Bytes{'c', 'o', 'i', 'n', static_cast<uint8_t>(m_funded)}), 0};
        in.witness = {Bytes(71, 1), Bytes(33, 2)};
        funding.tx.vin.push_back(in);
        funding.tx.vout.push_back(TxOut{static_cast<int64_t>(amount.value()), script_pubkey.Data()});
        funding.tx.vout.push_back(TxOut{50'000, P2wpkhScript(KeyOf(9).GetPubKey()).Data()});
        funding.locked_inputs = {in.prevout};
        ++m_funded;
        return funding;
    }
    void Unlock(std::span<const OutPoint> outpoints) override
    {
        std::lock_guard lock(m_mutex);
        unlocked += outpoints.size();
    }
    Bytes NewPayoutScript() override { return P2wpkhScript(KeyOf(8).GetPubKey()).Data(); }
    Transaction AddFeeInputs(const Transaction&, uint32_t, uint32_t) override
    {
        throw NodeError(-4, "this test's wallet has no coins for fees");
    }
    Transaction FundChild(const Transaction&, uint32_t, const TxOut&, uint32_t, Sat) override
    {
        throw NodeError(-4, "this test's wallet has no coins for fees");
    }

    std::mutex m_mutex;
    std::optional<int> fail_with;
    std::optional<uint32_t> last_minconf;
    size_t unlocked{0};
    int m_funded{0};
};

struct Node;

//! Delivers what one node sends to the other, as the peer layer would (type, then payload).
class FakeLink : public PeerLink
{
public:
    void Send(const PubKey&, uint64_t connection, Bytes message) override;
    //! With `reads`, each call is one read for the other node (OnPeerReadDelivered after it).
    void SendAll(const PubKey& peer, uint64_t connection, std::vector<Bytes> messages) override;
    void Disconnect(const PubKey&, std::optional<uint64_t> connection_number) override
    {
        if (!connection_number || *connection_number == connection) ++disconnects;
    }
    void Connect(const PubKey&, const std::string&, uint16_t) override {}
    void PauseReading(const PubKey&) override { ++pauses; }
    void ResumeReading(const PubKey&) override { ++resumes; }
    //! What was sent while no other node is set, in order.
    std::vector<Bytes> Unrouted() EXCLUDES(m_mutex)
    {
        const MutexLock lock(m_mutex);
        return m_unrouted;
    }
    //! While held, Send blocks its caller (the worker): a peer layer or a disk that is slow.
    void HoldSends(bool hold) EXCLUDES(m_mutex)
    {
        {
            const MutexLock lock(m_mutex);
            m_hold = hold;
        }
        m_released.notify_all();
    }

    PubKey self = KeyOf(1).GetPubKey();
    Node* other{nullptr};
    bool connected{true};
    //! The number of the current connection, as the peer layer gives it: what was sent for an
    //! earlier one is dropped (counted in `stale`).
    std::atomic<uint64_t> connection{1};
    std::atomic<int> stale{0};
    //! Report reads to the other node, as the peer layer does (ChannelManagerOptions::wake_per_read).
    bool reads{false};
    //! Called with each message's type as the other node is handed it.
    std::function<void(uint16_t)> on_deliver;
    std::atomic<int> disconnects{0};
    std::atomic<int> pauses{0};
    std::atomic<int> resumes{0};

private:
    void Deliver(Bytes message);

    Mutex m_mutex;
    std::condition_variable m_released;
    bool m_hold GUARDED_BY(m_mutex){false};
    std::vector<Bytes> m_unrouted GUARDED_BY(m_mutex);
};

struct Node {
    //! With payments: an HtlcRouter (no graph: routes over our channels) and its invoice store.
    explicit Node(uint8_t byte, bool with_payments = false)
        : id(KeyOf(byte).GetPubKey()), key_byte(byte), pays(with_payments), env(std::make_unique<store::Env>(dir.Path(), FastEnv()))
    {
        link.self = id;
        Make();
    }

    void Make()
    {
        ChannelManagerOptions options;
        options.rpc_timeout = 20s;
        options.policy.minimum_depth = 3;
        // As the daemon: the messages of one read are one batch.
        options.wake_per_read = pays;
        // Long enough that the waits end with the next payment even on a loaded machine.
        options.settle_wait = 500ms;
        options.run_when_idle = run_when_idle;
        if (signature_helpers) options.signature_helpers = *signature_helpers;
        link.reads = pays;
        const uint8_t salt = id.span()[1];
        manager = std::make_unique<ChannelManager>(*env, link, wallet, chain,
                                                   [salt](uint64_t index) {
                                                       Bytes secret(32, salt);
                                                       secret[0] = static_cast<uint8_t>(index);
                                                       return Secret<32>(secret);
                                                   },
                                                   options);
        if (pays) {
            invoices = std::make_unique<InvoiceStore>(*env);
            router = std::make_unique<HtlcRouter>(*env, *invoices, KeyOf(key_byte), RouterOptions{});
            manager->SetRouter(*router);
        }
        chain_listener_height = height;
        manager->Start(height);
    }

    //! Drops the manager (as a crash would drop memory) and builds a new one on the same store.
    void Restart()
    {
        manager.reset();
        router.reset();
        invoices.reset();
        Make();
    }

    void MineBlock(const std::vector<Transaction>& txs)
    {
        Block block;
        block.txs.push_back(Transaction{});
        block.txids.push_back(Sha256(Bytes{'c', 'b', static_cast<uint8_t>(height)}));
        for (const auto& tx : txs) {
            block.txs.push_back(tx);
            block.txids.push_back(tx.GetTxid());
        }
        ++height;
        env->Write([&](store::WriteTxn& txn) { manager->OnBlockConnected(txn, height, Hash256{}, block); });
        manager->OnTipChanged(BlockRef{});
    }

    ChannelSummary WaitFor(const Hash256& channel_id, ChannelPhase phase)
    {
        for (int i = 0; i < 400; ++i) {
            for (const auto& c : manager->ListChannels()) {
                if (c.channel_id == channel_id && c.phase == phase) return c;
            }
            std::this_thread::sleep_for(10ms);
        }
        FAIL("channel never reached ", ChannelPhaseName(phase));
        return manager->ListChannels().front();
    }

    PubKey id;
    uint8_t key_byte;
    bool pays;
    ScratchDir dir;
    std::unique_ptr<store::Env> env;
    FakeLink link;
    FakeWallet wallet;
    FakeChain chain;
    std::unique_ptr<InvoiceStore> invoices;
    std::unique_ptr<HtlcRouter> router;
    //! After the router: it is the manager's until the manager goes.
    std::unique_ptr<ChannelManager> manager;
    int height{100};
    int chain_listener_height{100};
    //! ChannelManagerOptions::run_when_idle for the next Make (Restart).
    std::function<bool(std::function<void()>)> run_when_idle;
    //! ChannelManagerOptions::signature_helpers for the next Make, when set.
    std::optional<size_t> signature_helpers;
};

void FakeLink::Send(const PubKey& peer, uint64_t connection_number, Bytes message)
{
    std::vector<Bytes> one;
    one.push_back(std::move(message));
    SendAll(peer, connection_number, std::move(one));
}

void FakeLink::SendAll(const PubKey&, uint64_t connection_number, std::vector<Bytes> messages)
{
    {
        UniqueLock lock(m_mutex);
        lock.Wait(m_released, [&]() REQUIRES(m_mutex) { return !m_hold; });
    }
    // Checked once released: the connection may have been replaced while this call was held.
    if (connection_number != connection) {
        stale += static_cast<int>(messages.size());
        return;
    }
    for (Bytes& message : messages) Deliver(std::move(message));
    if (reads && other && connected) other->manager->OnPeerReadDelivered(self);
}

void FakeLink::Deliver(Bytes message)
{
    if (!other) {
        const MutexLock lock(m_mutex);
        m_unrouted.push_back(std::move(message));
        return;
    }
    if (!connected || message.size() < 2) return;
    const uint16_t type = static_cast<uint16_t>(message[0] << 8 | message[1]);
    if (on_deliver) on_deliver(type);
    const ByteSpan payload = ByteSpan(message).subspan(2);
    if (type == static_cast<uint16_t>(MessageType::kError)) {
        const auto error = ErrorMessage::DecodePayload(payload);
        if (error) other->manager->OnPeerNotice(self, error->channel_id, true, std::string(error->data.begin(), error->data.end()));
        return;
    }
    if (type == static_cast<uint16_t>(MessageType::kWarning)) return;
    other->manager->OnPeerMessage(self, type, payload);
}

void Connect(Node& a, Node& b)
{
    a.link.other = &b;
    b.link.other = &a;
    a.link.connected = b.link.connected = true;
    // Each end numbers its connections.
    a.manager->OnPeerConnected(b.id, OurInitFeatures(), ++a.link.connection);
    b.manager->OnPeerConnected(a.id, OurInitFeatures(), ++b.link.connection);
}

void Disconnect(Node& a, Node& b)
{
    a.link.connected = b.link.connected = false;
    a.manager->OnPeerDisconnected(b.id);
    b.manager->OnPeerDisconnected(a.id);
}

Transaction FundingOf(Node& opener)
{
    const auto broadcasts = opener.chain.Broadcasts();
    REQUIRE(broadcasts.size() >= 1);
    return broadcasts.front();
}

//! A opens a channel of `amount` to B and both see its funding three blocks deep; A's side is normal.
FundChannelResult OpenToNormal(Node& a, Node& b, Sat amount)
{
    FundChannelRequest request{b.id};
    request.amount = amount;
    const FundChannelResult opened = a.manager->FundChannel(request);
    const Transaction funding = FundingOf(a);
    for (int block = 0; block < 3; ++block) {
        const std::vector<Transaction> txs = block == 0 ? std::vector<Transaction>{funding} : std::vector<Transaction>{};
        a.MineBlock(txs);
        b.MineBlock(txs);
    }
    a.WaitFor(opened.channel_id, ChannelPhase::NORMAL);
    return opened;
}

//! Waits until both ends of the channel have no HTLC left and B holds `paid`.
void WaitSettled(Node& a, Node& b, const Hash256& channel_id, Msat paid)
{
    const auto settled = [&](Node& node, Msat ours) {
        const auto channels = node.manager->ListChannels();
        return std::any_of(channels.begin(), channels.end(), [&](const ChannelSummary& c) {
            return c.channel_id == channel_id && c.pending_htlcs == 0 && c.local_balance == ours;
        });
    };
    for (int i = 0; i < 500; ++i) {
        if (settled(b, paid) && settled(a, Msat{500'000'000} - paid)) return;
        std::this_thread::sleep_for(10ms);
    }
    FAIL("the channel never settled");
}

//! A keysends `amount` to B, with the preimage Sha256(seed).
PaymentRecord Keysend(Node& a, const Node& b, const Bytes& seed, Msat amount = Msat{1'000'000})
{
    const Hash256 preimage = Sha256(seed);
    PayRequest pay(b.id);
    pay.payment_hash = Sha256(preimage);
    pay.amount_msat = amount;
    pay.keysend_preimage = preimage;
    return a.manager->Pay(pay, 20s);
}

} // namespace

TEST_CASE("open, lock in, restart with reestablish, and close cooperatively")
{
    Node a(1), b(2);
    Connect(a, b);
    FundChannelRequest request{b.id};
    request.amount = Sat{500'000};
    request.push = Msat{100'000'000};
    request.minconf = 2;
    const FundChannelResult opened = a.manager->FundChannel(request);
    const Transaction funding = FundingOf(a);
    CHECK(a.wallet.last_minconf == std::optional<uint32_t>{2});
    CHECK(funding.GetTxid() == opened.funding_txid);
    CHECK(funding.vout[opened.funding_output].value == 500'000);
    CHECK(a.wallet.unlocked == 0);
    b.WaitFor(opened.channel_id, ChannelPhase::AWAITING_LOCKIN);

    // minimum_depth 3: two blocks are not enough.
    a.MineBlock({funding});
    b.MineBlock({funding});
    a.MineBlock({});
    b.MineBlock({});
    auto summary = a.WaitFor(opened.channel_id, ChannelPhase::AWAITING_LOCKIN);
    CHECK(summary.funding_confirmations == 2);
    a.MineBlock({});
    b.MineBlock({});
    summary = a.WaitFor(opened.channel_id, ChannelPhase::NORMAL);
    const auto theirs = b.WaitFor(opened.channel_id, ChannelPhase::NORMAL);
    CHECK(summary.local_balance == Msat{400'000'000});
    CHECK(summary.remote_balance == Msat{100'000'000});
    CHECK(theirs.local_balance == Msat{100'000'000});
    REQUIRE(summary.short_channel_id);
    CHECK(summary.short_channel_id->block_height == 101);
    CHECK(summary.short_channel_id->tx_index == 1);

    // B loses its memory and comes back from the store; reestablish keeps the channel normal.
    Disconnect(a, b);
    b.Restart();
    Connect(a, b);
    b.WaitFor(opened.channel_id, ChannelPhase::NORMAL);

    // A (the opener, who proposes the fee) asks for 2000 sat/kw over its estimate of 500; B's
    // range reaches 5000, so it accepts A's first offer.
    const CloseResult closed = a.manager->Close(opened.channel_id, std::nullopt, 2000);
    a.WaitFor(opened.channel_id, ChannelPhase::CLOSING);
    b.WaitFor(opened.channel_id, ChannelPhase::CLOSING);
    REQUIRE(closed.closing_tx.vin.size() == 1);
    std::vector<ByteSpan> paid;
    int64_t paid_total = 0;
    for (const auto& out : closed.closing_tx.vout) {
        paid.emplace_back(out.script_pubkey);
        paid_total += out.value;
    }
    CHECK(Sat{static_cast<uint64_t>(500'000 - paid_total)} == ClosingFeeFor(paid, 2000));
    CHECK(closed.closing_tx.vin[0].prevout == OutPoint{opened.funding_txid, opened.funding_output});
    // Both pay to the fake wallet's script; the opener pays the fee, so B's output is exact.
    bool found_b = false;
    for (const auto& out : closed.closing_tx.vout) found_b |= out.value == 100'000;
    CHECK(found_b);
    a.MineBlock({closed.closing_tx});
    b.MineBlock({closed.closing_tx});
    a.WaitFor(opened.channel_id, ChannelPhase::CLOSED);
    b.WaitFor(opened.channel_id, ChannelPhase::CLOSED);
}

TEST_CASE("open refusals leave nothing behind")
{
    Node a(3), b(4);
    FundChannelRequest request{b.id};
    request.amount = Sat{500'000};

    SUBCASE("peer not connected")
    {
        CHECK_THROWS_AS(a.manager->FundChannel(request), NodeError);
    }
    SUBCASE("too small for our own policy")
    {
        Connect(a, b);
        request.amount = Sat{1'000};
        try {
            a.manager->FundChannel(request);
            FAIL("a tiny channel was opened");
        } catch (const NodeError& e) {
            CHECK(e.Code() == kErrInvalidParameter);
        }
    }
    SUBCASE("the wallet cannot fund it: bitcoind's code reaches the caller, the peer hears why")
    {
        Connect(a, b);
        a.wallet.fail_with = -4;
        try {
            a.manager->FundChannel(request);
            FAIL("an unfunded channel was opened");
        } catch (const NodeError& e) {
            CHECK(e.Code() == -4);
        }
        CHECK(a.chain.Broadcasts().empty());
        CHECK(a.manager->ListChannels().empty());
    }
    SUBCASE("disconnect during the open fails it and unlocks nothing that was never locked")
    {
        Connect(a, b);
        b.link.connected = false; // B never answers
        std::thread disconnect([&] {
            std::this_thread::sleep_for(100ms);
            a.manager->OnPeerDisconnected(b.id);
        });
        CHECK_THROWS_AS(a.manager->FundChannel(request), NodeError);
        disconnect.join();
        CHECK(a.manager->ListChannels().empty());
    }
}

TEST_CASE("a peer flooding a stalled worker has its reading paused, not dropped; all is handled in order")
{
    Node a(9);
    const PubKey peer = KeyOf(10).GetPubKey();
    a.manager->OnPeerConnected(peer, OurInitFeatures(), a.link.connection);
    const size_t count = 4 * 256; // four times ChannelManagerOptions::max_queued_peer_messages
    const auto channel_id = [](size_t i) {
        Hash256 id{};
        id[0] = static_cast<uint8_t>(i >> 8);
        id[1] = static_cast<uint8_t>(i);
        id[2] = 1; // never all zero, which would name every channel
        return id;
    };
    {
        // The worker's first answer blocks in the peer layer, standing for a slow write.
        a.link.HoldSends(true);
        for (size_t i = 0; i < count; ++i) {
            const Bytes message = EncodeChannelMessage(ShutdownMessage{.channel_id = channel_id(i), .scriptpubkey = {}, .extension = {}});
            const uint16_t type = static_cast<uint16_t>(message[0] << 8 | message[1]);
            CHECK(a.manager->OnPeerMessage(peer, type, ByteSpan(message).subspan(2)));
        }
        // Paused once at the high-water mark; never resumed while the worker cannot commit.
        std::this_thread::sleep_for(100ms);
        CHECK(a.link.pauses == 1);
        CHECK(a.link.resumes == 0);
        CHECK(a.link.Unrouted().empty());
        a.link.HoldSends(false);
    }
    // Each message, for a channel we do not have, gets its error (BOLT 1), in the order sent.
    for (int i = 0; i < 1000 && a.link.Unrouted().size() < count; ++i) std::this_thread::sleep_for(10ms);
    const auto sent = a.link.Unrouted();
    REQUIRE(sent.size() == count);
    for (size_t i = 0; i < count; ++i) {
        REQUIRE(sent[i].size() >= 2 + 32);
        CHECK((sent[i][0] << 8 | sent[i][1]) == static_cast<int>(MessageType::kError));
        CHECK(ErrorMessage::DecodePayload(ByteSpan(sent[i]).subspan(2))->channel_id == channel_id(i));
    }
    for (int i = 0; i < 200 && a.link.resumes == 0; ++i) std::this_thread::sleep_for(10ms);
    CHECK(a.link.resumes == 1);
    CHECK(a.link.pauses == 1);
    CHECK(a.link.disconnects == 0);
}

TEST_CASE("a malformed channel message drops the transport; other types are not ours")
{
    Node a(7), b(8);
    Connect(a, b);
    const Bytes garbage{1, 2, 3};
    // commitment_signed (132) cut short: BOLT 1 makes it a protocol violation.
    CHECK(a.manager->OnPeerMessage(b.id, 132, garbage));
    CHECK(a.link.disconnects == 1);
    // A type that is no channel message is left to the peer layer (BOLT 1's odd/even rule).
    CHECK_FALSE(a.manager->OnPeerMessage(b.id, 18, garbage));
    CHECK(a.link.disconnects == 1);
}

TEST_CASE("a peer's error fails the channel and publishes our commitment")
{
    Node a(5), b(6);
    Connect(a, b);
    const FundChannelResult opened = OpenToNormal(a, b, Sat{300'000});
    a.manager->OnPeerNotice(b.id, opened.channel_id, true, "something broke");
    const auto failed = a.WaitFor(opened.channel_id, ChannelPhase::FAILED);
    CHECK(failed.failure.find("something broke") != std::string::npos);
    const auto broadcasts = a.chain.Broadcasts();
    REQUIRE(broadcasts.size() == 2);
    CHECK(broadcasts[1].vin[0].prevout == OutPoint{opened.funding_txid, opened.funding_output});
    CHECK(broadcasts[1].vin[0].witness.size() == 4); // 0, two signatures, the funding script
}

TEST_CASE("a unilateral close hands our commitment to bitcoind before the peer hears the error")
{
    // Told first, the peer answers with its own commitment, which could reach the mempool first.
    Node a(12), b(13);
    Connect(a, b);
    const FundChannelResult opened = OpenToNormal(a, b, Sat{300'000});
    b.WaitFor(opened.channel_id, ChannelPhase::NORMAL);
    std::atomic<size_t> handed_at_error{0};
    a.link.on_deliver = [&](uint16_t type) {
        if (type == static_cast<uint16_t>(MessageType::kError)) handed_at_error = a.chain.Handed();
    };
    const CloseResult closed = a.manager->ForceClose(opened.channel_id);
    b.WaitFor(opened.channel_id, ChannelPhase::FAILED);
    const auto broadcasts = a.chain.Broadcasts();
    REQUIRE(broadcasts.size() == 2);
    CHECK(broadcasts[1].GetTxid() == closed.closing_tx.GetTxid());
    CHECK(handed_at_error == 2);
}

TEST_CASE("answering a list takes no write transaction: it is answered while another writer holds the store")
{
    Node a(11);
    const uint64_t commits = a.env->Commits();
    // A batch with nothing to store must not queue behind a slow writer (nor sync the disk).
    std::optional<store::WriteTxn> writer;
    writer.emplace(*a.env);
    auto listed = std::async(std::launch::async, [&] { return a.manager->ListChannels(); });
    const bool answered = listed.wait_for(10s) == std::future_status::ready;
    writer.reset(); // lets a list that did wait finish, so the test fails rather than hangs
    CHECK(answered);
    CHECK(listed.get().empty());
    CHECK(a.env->Commits() == commits);
}

TEST_CASE("payments one at a time: each end writes its store twice and signs once a payment")
{
    Node a(1, true), b(2, true);
    Connect(a, b);
    const FundChannelResult opened = OpenToNormal(a, b, Sat{500'000});
    b.WaitFor(opened.channel_id, ChannelPhase::NORMAL);
    std::array<std::atomic<int>, 2> signatures{};
    a.link.on_deliver = [&](uint16_t type) { signatures[0] += type == static_cast<uint16_t>(ChannelMessageType::kCommitmentSigned); };
    b.link.on_deliver = [&](uint16_t type) { signatures[1] += type == static_cast<uint16_t>(ChannelMessageType::kCommitmentSigned); };

    constexpr Msat kAmount{1'000'000};
    const auto keysend = [&](uint8_t n) {
        const PaymentRecord record = Keysend(a, b, Bytes{'k', n}, kAmount);
        CHECK(record.status == PaymentStatus::COMPLETE);
        CHECK(record.preimage == Sha256(Bytes{'k', n}));
    };
    keysend(0);
    WaitSettled(a, b, opened.channel_id, kAmount);

    // The payee's fulfill is signed in its answer to the next payment's commitment_signed, and
    // that answer's revoke_and_ack lets the payer sign the settlement with the next HTLC after:
    // one commitment round takes the settlement of one payment and the offer of the next, one
    // write at each end takes each half of it. Answered at once, a fulfill took a round of its
    // own (B signed twice a payment); before that, three or four writes a payment at each end.
    // On a loaded machine a read now and then arrives in two parts.
    constexpr uint8_t kPayments = 20;
    const uint64_t a_before = a.env->Commits();
    const uint64_t b_before = b.env->Commits();
    const int a_signed_before = signatures[0];
    const int b_signed_before = signatures[1];
    for (uint8_t n = 1; n <= kPayments; ++n) keysend(n);
    // Counted before the last settlement, which takes rounds of its own once no payment follows.
    const uint64_t a_writes = a.env->Commits() - a_before;
    const uint64_t b_writes = b.env->Commits() - b_before;
    const int a_signed = signatures[0] - a_signed_before;
    const int b_signed = signatures[1] - b_signed_before;
    WaitSettled(a, b, opened.channel_id, Msat{kAmount.value() * (kPayments + 1)});
    CAPTURE(a_writes);
    CAPTURE(b_writes);
    CAPTURE(a_signed);
    CAPTURE(b_signed);
    // The payee's second write (the revoke_and_ack that locked the HTLC in) comes before its
    // fulfill, so both ends have written twice when a payment completes.
    CHECK(a_writes >= 2 * kPayments);
    CHECK(a_writes <= 2 * kPayments + 3);
    CHECK(b_writes >= 2 * kPayments);
    CHECK(b_writes <= 2 * kPayments + 3);
    CHECK(a_signed >= kPayments);
    CHECK(a_signed <= kPayments + 2);
    CHECK(b_signed >= kPayments);
    CHECK(b_signed <= kPayments + 2);
}

TEST_CASE("with an idle poller the next commitments' keys are derived on it, and payments go on")
{
    // Outlives the poller: a job may still be finishing when the test ends.
    std::atomic<int> jobs{0};
    IdlePoller poller{1ms, 2, IdlePoller::Priority::NORMAL};
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (poller.Threads() == 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
    REQUIRE(poller.Threads() > 0);
    const auto run = [&](std::function<void()> job) {
        return poller.Post([&jobs, job = std::move(job)] {
            job();
            ++jobs;
        });
    };
    Node a(20, true), b(21, true);
    a.run_when_idle = run;
    b.run_when_idle = run;
    a.Restart();
    b.Restart();
    Connect(a, b);
    const FundChannelResult opened = OpenToNormal(a, b, Sat{500'000});
    b.WaitFor(opened.channel_id, ChannelPhase::NORMAL);
    constexpr uint8_t kPayments = 10;
    for (uint8_t n = 0; n < kPayments; ++n) CHECK(Keysend(a, b, Bytes{'i', n}).status == PaymentStatus::COMPLETE);
    WaitSettled(a, b, opened.channel_id, Msat{1'000'000 * kPayments});
    // Each payment steps the channel at both ends, and each step warms both sides' keys; the
    // last jobs may still be running.
    const auto jobs_deadline = std::chrono::steady_clock::now() + 10s;
    while (jobs.load() < 2 * kPayments && std::chrono::steady_clock::now() < jobs_deadline) std::this_thread::sleep_for(1ms);
    CHECK(jobs.load() >= 2 * kPayments);
}

TEST_CASE("a side's keys are not posted to warm again while its last job waits or runs")
{
    // At idle priority a job may wait a millisecond for a CPU; a second beside it would only
    // derive the same keys again. Jobs here are held, never run, until the test drops them.
    Mutex mutex;
    std::vector<std::function<void()>> held;
    const auto hold = [&](std::function<void()> job) {
        const MutexLock lock(mutex);
        held.push_back(std::move(job));
        return true;
    };
    const auto held_count = [&] {
        const MutexLock lock(mutex);
        return held.size();
    };
    Node a(22, true), b(23, true);
    for (Node* node : {&a, &b}) {
        node->run_when_idle = hold;
        // No check is helped: every job posted is a warm job.
        node->signature_helpers = 0;
        node->Restart();
    }
    Connect(a, b);
    const FundChannelResult opened = OpenToNormal(a, b, Sat{500'000});
    b.WaitFor(opened.channel_id, ChannelPhase::NORMAL);
    for (uint8_t n = 0; n < 5; ++n) CHECK(Keysend(a, b, Bytes{'w', n}).status == PaymentStatus::COMPLETE);
    // Every step asked both sides to be warmed, at both ends: one job each at most.
    CHECK(held_count() >= 1);
    CHECK(held_count() <= 4);
    {
        // Dropped unrun, as a stopping poller drops them: the sides may be warmed again.
        const MutexLock lock(mutex);
        held.clear();
    }
    CHECK(Keysend(a, b, Bytes{'w', 5}).status == PaymentStatus::COMPLETE);
    WaitSettled(a, b, opened.channel_id, Msat{1'000'000 * 6});
    CHECK(held_count() >= 1);
    CHECK(held_count() <= 4);
}

TEST_CASE("a payee's fulfill leaves only once the revoke_and_ack that locked its HTLC in is written")
{
    // Sent before that write, a crash of the payee would leave the payer holding the preimage
    // and a revoked commitment without the HTLC that the payee could not punish.
    Node a(18, true), b(19, true);
    Connect(a, b);
    const FundChannelResult opened = OpenToNormal(a, b, Sat{500'000});
    b.WaitFor(opened.channel_id, ChannelPhase::NORMAL);
    std::atomic<uint64_t> b_commits_at_revocation{0};
    std::atomic<int> fulfills{0};
    std::atomic<int> early{0};
    a.link.on_deliver = [&](uint16_t type) {
        if (type == static_cast<uint16_t>(ChannelMessageType::kRevokeAndAck)) b_commits_at_revocation = b.env->Commits();
    };
    b.link.on_deliver = [&](uint16_t type) {
        if (type != static_cast<uint16_t>(ChannelMessageType::kUpdateFulfillHtlc)) return;
        ++fulfills;
        if (b.env->Commits() <= b_commits_at_revocation) ++early;
    };
    for (uint8_t n = 0; n < 5; ++n) CHECK(Keysend(a, b, Bytes{'f', n}).status == PaymentStatus::COMPLETE);
    CHECK(fulfills == 5);
    CHECK(early == 0);
}

TEST_CASE("what was made for a connection already replaced is not sent on the next: one channel_reestablish")
{
    // A restarted peer and we connect to each other at once: the worker hears of the first
    // connection after the second replaced it. Its channel_reestablish for the first, sent on
    // the second too, reached the peer as a second one there: "unexpected message", a warning
    // and a disconnection.
    Node a(16, true), b(17, true);
    Connect(a, b);
    const FundChannelResult opened = OpenToNormal(a, b, Sat{300'000});
    b.WaitFor(opened.channel_id, ChannelPhase::NORMAL);
    const auto connected = [&](Node& node, bool want) {
        const auto channels = node.manager->ListChannels();
        return channels.size() == 1 && channels[0].peer_connected == want;
    };
    Disconnect(a, b);
    for (int i = 0; i < 1000 && !(connected(a, false) && connected(b, false)); ++i) std::this_thread::sleep_for(5ms);
    REQUIRE((connected(a, false) && connected(b, false)));

    const auto is_reestablish = [](uint16_t type) { return type == static_cast<uint16_t>(ChannelMessageType::kChannelReestablish); };
    std::atomic<int> reestablishes_to_b{0};
    std::atomic<int> reestablishes_to_a{0};
    a.link.on_deliver = [&](uint16_t type) { reestablishes_to_b += is_reestablish(type); };
    b.link.on_deliver = [&](uint16_t type) { reestablishes_to_a += is_reestablish(type); };
    a.link.connected = b.link.connected = true;
    // A's answer to the first connection waits in the peer layer while that connection is replaced.
    a.link.HoldSends(true);
    a.manager->OnPeerConnected(b.id, OurInitFeatures(), ++a.link.connection);
    a.manager->OnPeerDisconnected(b.id);
    a.manager->OnPeerConnected(b.id, OurInitFeatures(), ++a.link.connection);
    b.manager->OnPeerConnected(a.id, OurInitFeatures(), ++b.link.connection);
    a.link.HoldSends(false);
    for (int i = 0; i < 1000 && (reestablishes_to_a == 0 || reestablishes_to_b == 0); ++i) std::this_thread::sleep_for(5ms);
    REQUIRE(reestablishes_to_a == 1);

    // A payment after: whatever A sent for the first connection would have reached B before it.
    CHECK(Keysend(a, b, Bytes{'r'}).status == PaymentStatus::COMPLETE);
    CHECK(a.link.stale >= 1);
    CHECK(reestablishes_to_b == 1);
    CHECK(a.link.disconnects == 0);
    CHECK(b.link.disconnects == 0);
}
} // namespace sidebolt
