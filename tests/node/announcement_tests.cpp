// BOLT 7 announcement_signatures between two channel managers wired to each other in one process:
// when ours leave (six confirmations, channel_ready both ways, no shutdown), what the peer's
// complete, what a bad one gets, and what a restart and a reconnection keep. The fake wallet,
// chain and links follow channel_manager_tests.cpp and htlc_router_tests.cpp; the links here
// also lose or hold back messages of chosen types, and count the connections they are told to drop.

#include "tests/node/node_test_util.h"
#include "node/channel_manager.h"

#include "channel/scripts.h"
#include "gossip/signatures.h"
#include "node/channel_record.h"
#include "primitives/hash.h"
#include "primitives/key.h"
#include "primitives/script.h"
#include "store/env.h"
#include "util/sync.h"
#include "wire/channel_messages.h"
#include "wire/gossip_messages.h"
#include "wire/message.h"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

namespace sidebolt {
namespace {

using namespace std::chrono_literals;

using test::FakeChain;
using test::FastEnv;
using test::KeyOf;
using test::ScratchDir;

constexpr uint16_t kSigsType = static_cast<uint16_t>(GossipMessageType::kAnnouncementSignatures);
constexpr uint16_t kWarningType = static_cast<uint16_t>(MessageType::kWarning);
constexpr uint16_t kChannelReadyType = static_cast<uint16_t>(ChannelMessageType::kChannelReady);
constexpr uint16_t kShutdownType = static_cast<uint16_t>(ChannelMessageType::kShutdown);
constexpr Sat kCapacity{500'000};

Hash256 ChainHash() { return Sha256(Bytes{'r', 'e', 'g', 't', 'e', 's', 't'}); }

//! Funds each channel from a made-up coin of its own; pays no fees (none are needed here).
class FakeWallet : public ChannelWallet
{
public:
    WalletFunding Fund(const Script& script_pubkey, Sat amount, uint32_t, std::optional<uint32_t>) override
    {
        const MutexLock lock(m_mutex);
        WalletFunding funding;
        TxIn in;
        in.prevout = OutPoint{Sha256(Bytes{'c', 'o', 'i', 'n', salt, m_funded}), 0};
        in.witness = {Bytes(71, 1), Bytes(33, 2)};
        funding.tx.vin.push_back(in);
        funding.tx.vout.push_back(TxOut{static_cast<int64_t>(amount.value()), script_pubkey.Data()});
        funding.tx.vout.push_back(TxOut{50'000, P2wpkhScript(KeyOf(9).GetPubKey()).Data()});
        funding.locked_inputs = {in.prevout};
        ++m_funded;
        return funding;
    }
    void Unlock(std::span<const OutPoint>) override {}
    Bytes NewPayoutScript() override { return P2wpkhScript(KeyOf(8).GetPubKey()).Data(); }
    Transaction AddFeeInputs(const Transaction&, uint32_t, uint32_t) override
    {
        throw NodeError(-4, "this test's wallet has no coins for fees");
    }
    Transaction FundChild(const Transaction&, uint32_t, const TxOut&, uint32_t, Sat) override
    {
        throw NodeError(-4, "this test's wallet has no coins for fees");
    }

    uint8_t salt{0};

private:
    Mutex m_mutex;
    uint8_t m_funded GUARDED_BY(m_mutex){0};
};

struct Node;

/**
 * Delivers what one node sends to the connected peer it names, as the peer layer would, and
 * logs every message sent (type, payload), delivered or not. Messages of a dropped type are lost
 * on the way; those of a held type wait, in order, for Release.
 */
class FakeLink : public PeerLink
{
public:
    explicit FakeLink(PubKey self_id) : self(std::move(self_id)) {}

    void Send(const PubKey& to, uint64_t connection, Bytes message) override EXCLUDES(m_mutex);
    //! The manager asks to close the connection: counted only, the test decides what follows.
    void Disconnect(const PubKey&, std::optional<uint64_t>) override { ++disconnects; }
    void Connect(const PubKey&, const std::string&, uint16_t) override {}
    void PauseReading(const PubKey&) override {}
    void ResumeReading(const PubKey&) override {}

    //! Routes to `node` from now on; `announce` runs first, so the manager hears of the
    //! connection before any message on it.
    //! Each attachment is a new connection, numbered as the peer layer would: what was sent
    //! for an earlier one is not delivered. `announce` is given the number.
    void Attach(const PubKey& peer, Node& node, const std::function<void(uint64_t connection)>& announce) EXCLUDES(m_mutex)
    {
        const MutexLock lock(m_mutex);
        m_peers.insert_or_assign(peer, Attached{&node, ++m_connections});
        announce(m_connections);
    }
    void Detach(const PubKey& peer) EXCLUDES(m_mutex)
    {
        const MutexLock lock(m_mutex);
        m_peers.erase(peer);
    }
    void Drop(uint16_t type, bool drop) EXCLUDES(m_mutex)
    {
        const MutexLock lock(m_mutex);
        if (drop) {
            m_dropped.insert(type);
        } else {
            m_dropped.erase(type);
        }
    }
    void Hold(uint16_t type) EXCLUDES(m_mutex)
    {
        const MutexLock lock(m_mutex);
        m_held_types.insert(type);
    }
    //! Delivers what was held, in order, and holds nothing more.
    void Release() EXCLUDES(m_mutex)
    {
        const MutexLock lock(m_mutex);
        m_held_types.clear();
        for (const auto& [to, connection, type, payload] : std::exchange(m_held, {})) Deliver(to, connection, type, payload);
    }
    std::vector<Bytes> Sent(uint16_t type) EXCLUDES(m_mutex)
    {
        const MutexLock lock(m_mutex);
        std::vector<Bytes> out;
        for (const auto& [sent_type, payload] : m_sent) {
            if (sent_type == type) out.push_back(payload);
        }
        return out;
    }
    size_t Count(uint16_t type) { return Sent(type).size(); }

    const PubKey self;
    std::atomic<int> disconnects{0};

private:
    //! Held while delivering, so a node being detached (or restarted) gets nothing after.
    void Deliver(const PubKey& to, uint64_t connection, uint16_t type, ByteSpan payload) REQUIRES(m_mutex);

    Mutex m_mutex;
    struct Attached {
        Node* node;
        uint64_t connection;
    };
    std::map<PubKey, Attached> m_peers GUARDED_BY(m_mutex);
    uint64_t m_connections GUARDED_BY(m_mutex){0};
    std::vector<std::pair<uint16_t, Bytes>> m_sent GUARDED_BY(m_mutex);
    std::set<uint16_t> m_dropped GUARDED_BY(m_mutex);
    std::set<uint16_t> m_held_types GUARDED_BY(m_mutex);
    std::vector<std::tuple<PubKey, uint64_t, uint16_t, Bytes>> m_held GUARDED_BY(m_mutex);
};

//! A channel manager over its own store, signing announcements with its node key.
struct Node {
    explicit Node(uint8_t key_byte)
        : key(KeyOf(key_byte)), id(key.GetPubKey()), link(id), env(std::make_unique<store::Env>(dir.Path(), FastEnv()))
    {
        wallet.salt = key_byte;
        Make();
    }
    //! Unlinks itself from its peers first, so none delivers to a manager being destroyed.
    ~Node()
    {
        for (Node* peer : peers) {
            peer->link.Detach(id);
            peer->peers.erase(this);
        }
        manager.reset();
    }

    void Make()
    {
        ChannelManagerOptions options;
        options.chain_hash = ChainHash();
        options.rpc_timeout = 20s;
        options.policy.minimum_depth = 3;
        options.signature_helpers = 0;
        options.node_id = id;
        options.node_sign = [this](const Hash256& digest) { return key.Sign(digest); };
        options.on_channel_announced = [this](const ChannelAnnouncementMessage& announcement, Sat capacity) {
            const MutexLock lock(m_announced_mutex);
            m_announced.emplace_back(announcement, capacity);
        };
        const uint8_t salt = id.span()[1];
        manager = std::make_unique<ChannelManager>(*env, link, wallet, chain,
                                                   [salt](uint64_t index) {
                                                       Bytes secret(32, salt);
                                                       secret[0] = static_cast<uint8_t>(index);
                                                       return Secret<32>(secret);
                                                   },
                                                   options);
        manager->Start(height);
    }

    //! Drops the manager (as a crash would drop memory) and builds a new one on the same store.
    //! Disconnect the node first.
    void Restart()
    {
        manager.reset();
        Make();
    }

    void MineBlock(const std::vector<Transaction>& txs = {})
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

    //! The tip block leaves the chain (a reorg), as the follower reports it.
    void DisconnectBlock()
    {
        env->Write([&](store::WriteTxn& txn) { manager->OnBlockDisconnected(txn, height, Hash256{}); });
        --height;
        manager->OnTipChanged(BlockRef{});
    }

    std::vector<std::pair<ChannelAnnouncementMessage, Sat>> Announced() EXCLUDES(m_announced_mutex)
    {
        const MutexLock lock(m_announced_mutex);
        return m_announced;
    }

    std::optional<ChannelPhase> PhaseOf(const Hash256& channel_id)
    {
        for (const auto& c : manager->ListChannels()) {
            if (c.channel_id == channel_id) return c.phase;
        }
        return std::nullopt;
    }

    //! The channel's record as the store holds it (read beside the running worker: LMDB readers
    //! see the last commit).
    std::optional<Bytes> StoredRecord(const Hash256& channel_id)
    {
        const store::Db channels = env->OpenDb("channels");
        const store::ReadTxn txn(*env);
        return txn.Get(channels, channel_id);
    }

    PrivKey key;
    PubKey id;
    ScratchDir dir;
    FakeLink link;
    FakeWallet wallet;
    FakeChain chain;
    std::unique_ptr<store::Env> env;
    std::unique_ptr<ChannelManager> manager;
    int height{100};
    //! Nodes whose links may deliver to this one.
    std::set<Node*> peers;

private:
    Mutex m_announced_mutex;
    std::vector<std::pair<ChannelAnnouncementMessage, Sat>> m_announced GUARDED_BY(m_announced_mutex);
};

void FakeLink::Send(const PubKey& to, uint64_t connection, Bytes message)
{
    const MutexLock lock(m_mutex);
    if (message.size() < 2) return;
    const uint16_t type = static_cast<uint16_t>(message[0] << 8 | message[1]);
    const ByteSpan payload = ByteSpan(message).subspan(2);
    m_sent.emplace_back(type, Bytes(payload.begin(), payload.end()));
    if (m_dropped.contains(type)) return;
    if (m_held_types.contains(type)) {
        m_held.emplace_back(to, connection, type, Bytes(payload.begin(), payload.end()));
        return;
    }
    Deliver(to, connection, type, payload);
}

void FakeLink::Deliver(const PubKey& to, uint64_t connection, uint16_t type, ByteSpan payload)
{
    const auto peer = m_peers.find(to);
    if (peer == m_peers.end() || peer->second.connection != connection) return;
    ChannelManager& other = *peer->second.node->manager;
    if (type == static_cast<uint16_t>(MessageType::kError)) {
        const auto error = ErrorMessage::DecodePayload(payload);
        if (error) other.OnPeerNotice(self, error->channel_id, true, std::string(error->data.begin(), error->data.end()));
        return;
    }
    if (type == kWarningType) return;
    other.OnPeerMessage(self, type, payload);
}

void Connect(Node& a, Node& b)
{
    a.peers.insert(&b);
    b.peers.insert(&a);
    a.link.Attach(b.id, b, [&](uint64_t a_to_b) {
        b.link.Attach(a.id, a, [&](uint64_t b_to_a) {
            a.manager->OnPeerConnected(b.id, OurInitFeatures(), a_to_b);
            b.manager->OnPeerConnected(a.id, OurInitFeatures(), b_to_a);
        });
    });
}

void Disconnect(Node& a, Node& b)
{
    a.link.Detach(b.id);
    b.link.Detach(a.id);
    a.manager->OnPeerDisconnected(b.id);
    b.manager->OnPeerDisconnected(a.id);
}

struct Opened {
    Hash256 channel_id{};
    Transaction funding;
    uint32_t output{0};
};

Opened Fund(Node& opener, Node& peer, bool announce)
{
    FundChannelRequest request{peer.id};
    request.amount = kCapacity;
    request.announce = announce;
    const FundChannelResult result = opener.manager->FundChannel(request);
    for (const auto& tx : opener.chain.Broadcasts()) {
        if (tx.GetTxid() == result.funding_txid) return Opened{result.channel_id, tx, result.funding_output};
    }
    FAIL("funding transaction not broadcast");
    return {};
}

//! Mines at both nodes: the first block holds `txs`, the rest are empty.
void MineBoth(Node& a, Node& b, int blocks, const std::vector<Transaction>& txs = {})
{
    for (int i = 0; i < blocks; ++i) {
        a.MineBlock(i == 0 ? txs : std::vector<Transaction>{});
        b.MineBlock(i == 0 ? txs : std::vector<Transaction>{});
    }
}

bool WaitUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout = 10s)
{
    for (auto waited = 0ms; waited < timeout; waited += 10ms) {
        if (done()) return true;
        std::this_thread::sleep_for(10ms);
    }
    return done();
}

/**
 * Lets the two workers run dry: a worker answers ListChannels after everything posted before it,
 * and the second call after the batch of the first sent its messages (delivery posts them to the
 * other worker at once). Three rounds cover a message, its answer and the answer to that.
 */
void Settle(Node& a, Node& b)
{
    for (int round = 0; round < 3; ++round) {
        for (Node* node : {&a, &b}) {
            node->manager->ListChannels();
            node->manager->ListChannels();
        }
    }
}

AnnouncementSignaturesMessage DecodeSigs(const Bytes& payload)
{
    auto decoded = AnnouncementSignaturesMessage::DecodePayload(payload);
    REQUIRE(decoded);
    return *decoded;
}

//! Hands `message` to `to` as if its peer `from` had sent it.
void SendAs(const PubKey& from, Node& to, const AnnouncementSignaturesMessage& message)
{
    Bytes payload;
    message.EncodePayload(payload);
    CHECK(to.manager->OnPeerMessage(from, kSigsType, payload));
}

//! The funding_pubkey each node gave in the open (opener) or the accept (the other).
PubKey OpenerFundingKey(Node& opener)
{
    const auto sent = opener.link.Sent(static_cast<uint16_t>(ChannelMessageType::kOpenChannel));
    REQUIRE(sent.size() == 1);
    const auto open = OpenChannelMessage::DecodePayload(sent.front());
    REQUIRE(open);
    return open->funding_pubkey;
}

PubKey AcceptorFundingKey(Node& acceptor)
{
    const auto sent = acceptor.link.Sent(static_cast<uint16_t>(ChannelMessageType::kAcceptChannel));
    REQUIRE(sent.size() == 1);
    const auto accept = AcceptChannelMessage::DecodePayload(sent.front());
    REQUIRE(accept);
    return accept->funding_pubkey;
}

ShortChannelId ScidOf(const Opened& channel)
{
    // The funding transaction is the first after the coinbase of block 101.
    return ShortChannelId{101, 1, static_cast<uint16_t>(channel.output)};
}

} // namespace

TEST_CASE("announce: both ends send announcement_signatures at six confirmations and hand over one valid channel_announcement")
{
    // 0x21's node id sorts after 0x22's or not: the checks below hold either way.
    Node a(0x21), b(0x22);
    Connect(a, b);
    const Opened channel = Fund(a, b, true);
    MineBoth(a, b, 5, {channel.funding});
    Settle(a, b);
    // Normal since the third confirmation, but five are not enough to announce.
    CHECK(a.PhaseOf(channel.channel_id) == ChannelPhase::NORMAL);
    CHECK(b.PhaseOf(channel.channel_id) == ChannelPhase::NORMAL);
    CHECK(a.link.Count(kSigsType) == 0);
    CHECK(b.link.Count(kSigsType) == 0);
    CHECK(a.Announced().empty());

    MineBoth(a, b, 1);
    REQUIRE(WaitUntil([&] { return a.Announced().size() == 1 && b.Announced().size() == 1; }));
    Settle(a, b);
    const auto ours = a.Announced();
    const auto theirs = b.Announced();
    REQUIRE(ours.size() == 1);
    REQUIRE(theirs.size() == 1);
    const ChannelAnnouncementMessage& announcement = ours.front().first;
    CHECK(announcement == theirs.front().first);
    CHECK(ours.front().second == kCapacity);
    CHECK(theirs.front().second == kCapacity);

    Bytes encoded;
    announcement.EncodePayload(encoded);
    CHECK(VerifyChannelAnnouncement(announcement, encoded));
    CHECK(announcement.chain_hash == ChainHash());
    CHECK(announcement.short_channel_id == ScidOf(channel));
    CHECK(announcement.node_id_1 < announcement.node_id_2);
    const std::map<PubKey, PubKey> funding_key{{a.id, OpenerFundingKey(a)}, {b.id, AcceptorFundingKey(b)}};
    REQUIRE(funding_key.size() == 2);
    CHECK(funding_key.begin()->first == announcement.node_id_1);
    CHECK(funding_key.rbegin()->first == announcement.node_id_2);
    CHECK(announcement.bitcoin_key_1 == funding_key.at(announcement.node_id_1));
    CHECK(announcement.bitcoin_key_2 == funding_key.at(announcement.node_id_2));

    // One announcement_signatures each, for this channel, signed by the sender's two keys.
    const Hash256 digest = AnnouncementDigest(announcement);
    for (Node* node : {&a, &b}) {
        const auto sent = node->link.Sent(kSigsType);
        REQUIRE(sent.size() == 1);
        const AnnouncementSignaturesMessage sigs = DecodeSigs(sent.front());
        CHECK(sigs.channel_id == channel.channel_id);
        CHECK(sigs.short_channel_id == ScidOf(channel));
        CHECK(VerifyEcdsa(node->id, digest, sigs.node_signature));
        CHECK(VerifyEcdsa(funding_key.at(node->id), digest, sigs.bitcoin_signature));
        CHECK(node->link.Count(kWarningType) == 0);
        CHECK(node->link.disconnects == 0);
    }
}

TEST_CASE("announce: a channel opened without announce never sends announcement_signatures; one received gets a warning")
{
    Node a(0x23), b(0x24);
    Connect(a, b);
    const Opened channel = Fund(a, b, false);
    MineBoth(a, b, 8, {channel.funding});
    Settle(a, b);
    CHECK(a.PhaseOf(channel.channel_id) == ChannelPhase::NORMAL);
    CHECK(a.link.Count(kSigsType) == 0);
    CHECK(b.link.Count(kSigsType) == 0);

    // Signed properly or not, it names a channel not to be announced: a warning, nothing more.
    const ChannelAnnouncementMessage unsigned_announcement =
        UnsignedChannelAnnouncement(ChainHash(), ScidOf(channel), b.id, a.id, AcceptorFundingKey(b), OpenerFundingKey(a));
    const EcdsaSignature signature = b.key.Sign(AnnouncementDigest(unsigned_announcement));
    SendAs(b.id, a, AnnouncementSignaturesMessage{channel.channel_id, ScidOf(channel), signature, signature, {}});
    // And one for a channel A never had.
    SendAs(b.id, a, AnnouncementSignaturesMessage{Sha256(Bytes{'n', 'o'}), ScidOf(channel), signature, signature, {}});
    REQUIRE(WaitUntil([&] { return a.link.Count(kWarningType) == 2; }));
    Settle(a, b);
    const auto warnings = a.link.Sent(kWarningType);
    REQUIRE(warnings.size() == 2);
    CHECK(WarningMessage::DecodePayload(warnings[0])->channel_id == channel.channel_id);
    CHECK(a.link.disconnects == 0);
    CHECK(a.link.Count(static_cast<uint16_t>(MessageType::kError)) == 0);
    CHECK(a.link.Count(kSigsType) == 0);
    CHECK(a.PhaseOf(channel.channel_id) == ChannelPhase::NORMAL);
    CHECK(a.Announced().empty());
}

TEST_CASE("announce: six confirmations before the peer's channel_ready: ours go out once the channel is normal")
{
    Node a(0x25), b(0x26);
    Connect(a, b);
    const Opened channel = Fund(a, b, true);
    // B sees two blocks only, below its minimum_depth of three: no channel_ready from it yet.
    MineBoth(a, b, 2, {channel.funding});
    for (int i = 0; i < 4; ++i) a.MineBlock();
    Settle(a, b);
    CHECK(a.link.Count(kChannelReadyType) == 1);
    CHECK(a.PhaseOf(channel.channel_id) == ChannelPhase::AWAITING_LOCKIN);
    CHECK(a.link.Count(kSigsType) == 0);

    // B's third block: its channel_ready makes the channel normal at A, six deep there.
    b.MineBlock();
    REQUIRE(WaitUntil([&] { return a.link.Count(kSigsType) == 1; }));
    Settle(a, b);
    CHECK(a.PhaseOf(channel.channel_id) == ChannelPhase::NORMAL);
    // B, three deep, keeps A's for later and sends nothing yet.
    CHECK(b.link.Count(kSigsType) == 0);
    CHECK(a.Announced().empty());
    CHECK(b.Announced().empty());
    CHECK(b.link.Count(kWarningType) == 0);

    for (int i = 0; i < 3; ++i) b.MineBlock();
    REQUIRE(WaitUntil([&] { return a.Announced().size() == 1 && b.Announced().size() == 1; }));
    Settle(a, b);
    CHECK(a.Announced().front().first == b.Announced().front().first);
    CHECK(a.Announced().front().first.short_channel_id == ScidOf(channel));
    // Each sent exactly once: A's went at lock-in, not again at B's blocks or answer.
    CHECK(a.link.Count(kSigsType) == 1);
    CHECK(b.link.Count(kSigsType) == 1);
}

TEST_CASE("announce: a bad announcement_signatures gets a warning and a dropped connection, and changes nothing")
{
    Node a(0x27), b(0x28);
    Connect(a, b);
    const Opened channel = Fund(a, b, true);
    // B's own are lost on the way: A has only what the test hands it.
    b.link.Drop(kSigsType, true);
    MineBoth(a, b, 6, {channel.funding});
    REQUIRE(WaitUntil([&] { return b.Announced().size() == 1; }));
    Settle(a, b);
    REQUIRE(b.link.Count(kSigsType) == 1);
    REQUIRE(a.link.Count(kSigsType) == 1);
    const AnnouncementSignaturesMessage genuine = DecodeSigs(b.link.Sent(kSigsType).front());
    const std::optional<Bytes> stored = a.StoredRecord(channel.channel_id);
    REQUIRE(stored);
    REQUIRE(DeserializeChannelRecord(*stored));
    CHECK_FALSE(DeserializeChannelRecord(*stored)->remote_announcement_sigs);

    // Real signatures in the wrong places, and the right ones for another channel.
    AnnouncementSignaturesMessage bad_node = genuine;
    bad_node.node_signature = genuine.bitcoin_signature;
    AnnouncementSignaturesMessage bad_bitcoin = genuine;
    bad_bitcoin.bitcoin_signature = genuine.node_signature;
    AnnouncementSignaturesMessage wrong_scid = genuine;
    wrong_scid.short_channel_id.tx_index += 1;
    const std::vector<std::pair<std::string, AnnouncementSignaturesMessage>> forgeries{
        {"bad node signature", bad_node}, {"bad bitcoin signature", bad_bitcoin}, {"wrong short_channel_id", wrong_scid}};
    size_t count = 0;
    for (const auto& forgery : forgeries) {
        const std::string& what = forgery.first;
        const AnnouncementSignaturesMessage& forged = forgery.second;
        CAPTURE(what);
        ++count;
        SendAs(b.id, a, forged);
        REQUIRE(WaitUntil([&] { return a.link.Count(kWarningType) == count && a.link.disconnects == static_cast<int>(count); }));
        Settle(a, b);
        const auto warning = WarningMessage::DecodePayload(a.link.Sent(kWarningType).back());
        REQUIRE(warning);
        CHECK(warning->channel_id == channel.channel_id);
        CHECK(a.Announced().empty());
        CHECK(a.StoredRecord(channel.channel_id) == stored);
        CHECK(a.link.Count(kSigsType) == 1);
        CHECK(a.PhaseOf(channel.channel_id) == ChannelPhase::NORMAL);
    }
    // Undecodable: the connection goes without a word (BOLT 1).
    CHECK(a.manager->OnPeerMessage(b.id, kSigsType, Bytes{1, 2, 3}));
    CHECK(a.link.disconnects == 4);

    // The genuine ones still complete it: the forgeries left no trace.
    SendAs(b.id, a, genuine);
    REQUIRE(WaitUntil([&] { return a.Announced().size() == 1; }));
    Settle(a, b);
    CHECK(a.Announced().front().first == b.Announced().front().first);
    CHECK(a.link.Count(kWarningType) == 3);
    CHECK(a.link.disconnects == 4);
    CHECK(a.link.Count(kSigsType) == 1);
}

TEST_CASE("announce: the peer's signatures survive a restart; after reconnection ours wait for the peer's and answer once")
{
    Node a(0x29), b(0x2a);
    Connect(a, b);
    const Opened channel = Fund(a, b, true);
    // A's are lost on the way: A learns B's, B never learns A's.
    a.link.Drop(kSigsType, true);
    MineBoth(a, b, 6, {channel.funding});
    REQUIRE(WaitUntil([&] { return a.Announced().size() == 1; }));
    Settle(a, b);
    CHECK(b.Announced().empty());
    REQUIRE(a.link.Count(kSigsType) == 1);
    REQUIRE(b.link.Count(kSigsType) == 1);
    const ChannelAnnouncementMessage announcement = a.Announced().front().first;
    const AnnouncementSignaturesMessage from_b = DecodeSigs(b.link.Sent(kSigsType).front());
    const auto stored = a.StoredRecord(channel.channel_id);
    REQUIRE(stored);
    const auto record = DeserializeChannelRecord(*stored);
    REQUIRE(record);
    CHECK(record->remote_announcement_sigs == EndpointSignatures{from_b.node_signature, from_b.bitcoin_signature});

    // Load hands the complete announcement over again, from the record alone.
    Disconnect(a, b);
    a.Restart();
    REQUIRE(a.Announced().size() == 2);
    CHECK(a.Announced().back().first == announcement);

    // B retransmits (it never received A's), held on the way; A, holding B's, sends nothing.
    a.link.Drop(kSigsType, false);
    b.link.Hold(kSigsType);
    Connect(a, b);
    REQUIRE(WaitUntil([&] { return b.link.Count(kSigsType) == 2; }));
    Settle(a, b);
    CHECK(a.PhaseOf(channel.channel_id) == ChannelPhase::NORMAL);
    CHECK(a.link.Count(kSigsType) == 1);

    // The first from the peer gets one answer; B then completes it and does not answer back.
    b.link.Release();
    REQUIRE(WaitUntil([&] { return b.Announced().size() == 1; }));
    Settle(a, b);
    CHECK(a.link.Count(kSigsType) == 2);
    CHECK(b.link.Count(kSigsType) == 2);
    CHECK(b.Announced().front().first == announcement);
    CHECK(a.Announced().back().first == announcement);
    CHECK(a.link.Count(kWarningType) == 0);
    CHECK(b.link.Count(kWarningType) == 0);
    const auto b_record = DeserializeChannelRecord(b.StoredRecord(channel.channel_id).value_or(Bytes{}));
    REQUIRE(b_record);
    CHECK(b_record->remote_announcement_sigs);
}

TEST_CASE("announce: a channel whose shutdown was sent sends no announcement_signatures")
{
    Node a(0x2b), b(0x2c);
    Connect(a, b);
    const Opened channel = Fund(a, b, true);
    MineBoth(a, b, 3, {channel.funding});
    REQUIRE(WaitUntil([&] { return a.PhaseOf(channel.channel_id) == ChannelPhase::NORMAL; }));
    // B's answering shutdown is held back, so the close stays where BOLT 7 forbids announcing.
    b.link.Hold(kShutdownType);
    CHECK_THROWS_AS(a.manager->Close(channel.channel_id, P2wpkhScript(KeyOf(7).GetPubKey()).Data(), std::nullopt, 200ms),
                    NodeError);
    REQUIRE(WaitUntil([&] { return b.link.Count(kShutdownType) == 1; }));
    CHECK(a.link.Count(kShutdownType) == 1);
    MineBoth(a, b, 4);
    Settle(a, b);
    CHECK(a.PhaseOf(channel.channel_id) == ChannelPhase::SHUTTING_DOWN);
    CHECK(b.PhaseOf(channel.channel_id) == ChannelPhase::SHUTTING_DOWN);
    CHECK(a.link.Count(kSigsType) == 0);
    CHECK(b.link.Count(kSigsType) == 0);
    CHECK(a.Announced().empty());
    CHECK(b.Announced().empty());
}

// The signatures exchanged cover the old short_channel_id: a reorg forgets them with the height.
TEST_CASE("announce: a reorg that moves the funding transaction has both ends sign its new short_channel_id")
{
    Node a(0x2d), b(0x2e);
    Connect(a, b);
    const Opened channel = Fund(a, b, true);
    MineBoth(a, b, 6, {channel.funding});
    REQUIRE(WaitUntil([&] { return a.Announced().size() == 1 && b.Announced().size() == 1; }));
    Settle(a, b);
    // The six blocks are replaced by seven, the funding transaction now in the second: the
    // signatures exchanged cover a short_channel_id that no longer exists.
    for (int i = 0; i < 6; ++i) {
        a.DisconnectBlock();
        b.DisconnectBlock();
    }
    MineBoth(a, b, 1);
    MineBoth(a, b, 6, {channel.funding});
    const ShortChannelId moved{102, 1, static_cast<uint16_t>(channel.output)};
    CHECK(WaitUntil([&] { return a.Announced().size() == 2 && b.Announced().size() == 2; }, 2s));
    Settle(a, b);
    for (Node* node : {&a, &b}) {
        const auto sent = node->link.Sent(kSigsType);
        REQUIRE(sent.size() >= 1);
        CHECK(DecodeSigs(sent.back()).short_channel_id == moved);
        const auto announced = node->Announced();
        REQUIRE(!announced.empty());
        const ChannelAnnouncementMessage& announcement = announced.back().first;
        CHECK(announcement.short_channel_id == moved);
        Bytes encoded;
        announcement.EncodePayload(encoded);
        CHECK(VerifyChannelAnnouncement(announcement, encoded));
    }
    // Nor does a restart hand over the stale signatures under the new short_channel_id.
    Disconnect(a, b);
    a.Restart();
    for (const auto& [announcement, capacity] : a.Announced()) {
        Bytes encoded;
        announcement.EncodePayload(encoded);
        CHECK(VerifyChannelAnnouncement(announcement, encoded));
    }
}

} // namespace sidebolt
