// GossipManager driven by fakes: a PeerLink that records what is sent to whom, a GossipChain
// scripted per short_channel_id, a clock the test moves and a scratch LMDB env. The manager runs
// its own threads, so effects are awaited with a bounded poll; Stats() (answered on the gossip
// thread after every job posted before it) serves as a barrier before asserting that something
// did not happen.

#include "tests/gossip/gossip_fixtures.h"
#include "tests/node/node_test_util.h"
#include "node/gossip_manager.h"

#include "channel/scripts.h"
#include "gossip/signatures.h"
#include "primitives/hash.h"
#include "primitives/script.h"
#include "primitives/tx.h"
#include "store/env.h"
#include "wire/gossip_messages.h"
#include "wire/message.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace sidebolt {
namespace {

using namespace std::chrono_literals;

using test::NodeOf;
using test::Received;
using test::TestNode;

constexpr uint32_t kStart = test::kNow;
constexpr Sat kCapacity{1'000'000};

//! Polls cond until it holds or 5 s pass: the manager acts on its own threads.
template <typename Cond>
bool Eventually(Cond cond)
{
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!cond()) {
        if (std::chrono::steady_clock::now() >= deadline) return cond();
        std::this_thread::sleep_for(2ms);
    }
    return true;
}

uint16_t TypeOf(ByteSpan message) { return static_cast<uint16_t>(message[0] << 8 | message[1]); }

//! Collects every (peer, message) the manager sends.
class RecordingLink : public PeerLink
{
public:
    void Send(const PubKey& peer, uint64_t connection, Bytes message) override
    {
        const std::lock_guard lock(m_mutex);
        m_connections.push_back(connection);
        m_sent.emplace_back(peer, std::move(message));
    }
    void Disconnect(const PubKey&, std::optional<uint64_t>) override {}
    void Connect(const PubKey&, const std::string&, uint16_t) override {}
    void PauseReading(const PubKey&) override {}
    void ResumeReading(const PubKey&) override {}

    //! The connections the messages of `type` to peer were addressed to, in order.
    std::vector<uint64_t> ConnectionsOf(const PubKey& peer, GossipMessageType type)
    {
        const std::lock_guard lock(m_mutex);
        std::vector<uint64_t> out;
        for (size_t i = 0; i < m_sent.size(); ++i) {
            if (m_sent[i].first == peer && TypeOf(m_sent[i].second) == static_cast<uint16_t>(type)) out.push_back(m_connections[i]);
        }
        return out;
    }

    //! The types sent to peer, in order.
    std::vector<uint16_t> TypesTo(const PubKey& peer)
    {
        const std::lock_guard lock(m_mutex);
        std::vector<uint16_t> types;
        for (const auto& [to, message] : m_sent) {
            if (to == peer) types.push_back(TypeOf(message));
        }
        return types;
    }

    //! The messages of M's type sent to peer, decoded, with their payloads (to check signatures).
    template <typename M>
    std::vector<Received<M>> SentTo(const PubKey& peer)
    {
        const std::lock_guard lock(m_mutex);
        std::vector<Received<M>> out;
        for (const auto& [to, message] : m_sent) {
            if (to != peer || TypeOf(message) != static_cast<uint16_t>(M::kType)) continue;
            const Bytes payload(message.begin() + 2, message.end());
            auto decoded = M::DecodePayload(payload);
            REQUIRE(decoded);
            out.push_back(Received<M>{std::move(*decoded), payload});
        }
        return out;
    }

    template <typename M>
    size_t CountTo(const PubKey& peer)
    {
        return SentTo<M>(peer).size();
    }

    //! The channel_announcements, channel_updates and node_announcements sent to peer.
    size_t GossipTo(const PubKey& peer)
    {
        return CountTo<ChannelAnnouncementMessage>(peer) + CountTo<ChannelUpdateMessage>(peer) +
               CountTo<NodeAnnouncementMessage>(peer);
    }

private:
    std::mutex m_mutex;
    std::vector<std::pair<PubKey, Bytes>> m_sent;
    std::vector<uint64_t> m_connections;
};

//! Answers LookupFunding from a script per short_channel_id (the last answer repeats; none is
//! NOT_FOUND), records each call with the clock, and can hold callers until released.
class ScriptedChain : public GossipChain
{
public:
    explicit ScriptedChain(const std::atomic<uint32_t>& clock) : m_clock(clock) {}

    FundingLookup LookupFunding(uint32_t block_height, uint32_t tx_index, uint32_t output_index) override
    {
        std::unique_lock lock(m_mutex);
        m_released.wait(lock, [&] { return !m_held; });
        const ShortChannelId scid{block_height, tx_index, static_cast<uint16_t>(output_index)};
        m_calls.emplace_back(scid, m_clock.load());
        auto& script = m_answers[scid.ToU64()];
        if (script.empty()) return FundingLookup{FundingLookup::Status::NOT_FOUND, {}, {}};
        FundingLookup answer = script.front();
        if (script.size() > 1) script.pop_front();
        return answer;
    }

    void Answer(const ShortChannelId& scid, std::vector<FundingLookup> answers)
    {
        const std::lock_guard lock(m_mutex);
        m_answers[scid.ToU64()] = std::deque<FundingLookup>(answers.begin(), answers.end());
    }
    void Hold(bool held)
    {
        {
            const std::lock_guard lock(m_mutex);
            m_held = held;
        }
        m_released.notify_all();
    }
    size_t Calls()
    {
        const std::lock_guard lock(m_mutex);
        return m_calls.size();
    }
    //! The clock at each lookup of scid.
    std::vector<uint32_t> CallTimes(const ShortChannelId& scid)
    {
        const std::lock_guard lock(m_mutex);
        std::vector<uint32_t> times;
        for (const auto& [called, at] : m_calls) {
            if (called == scid) times.push_back(at);
        }
        return times;
    }

private:
    const std::atomic<uint32_t>& m_clock;
    std::mutex m_mutex;
    std::condition_variable m_released;
    bool m_held{false};
    std::map<uint64_t, std::deque<FundingLookup>> m_answers;
    std::vector<std::pair<ShortChannelId, uint32_t>> m_calls;
};

//! The output a channel_announcement's short_channel_id must point to: the 2-of-2 P2WSH of its keys.
FundingLookup Found(const ChannelAnnouncementMessage& announcement, Sat capacity = kCapacity)
{
    FundingLookup lookup;
    lookup.status = FundingLookup::Status::FOUND;
    Bytes seed;
    WireWriter(seed).WriteU64(announcement.short_channel_id.ToU64());
    lookup.outpoint = OutPoint{Sha256(seed), announcement.short_channel_id.output_index};
    lookup.output = TxOut{static_cast<int64_t>(capacity.value()),
                          P2wshScript(FundingScript(announcement.bitcoin_key_1, announcement.bitcoin_key_2)).Data()};
    return lookup;
}

FundingLookup WithStatus(FundingLookup::Status status) { return FundingLookup{status, {}, {}}; }

test::UpdateTerms Terms(uint32_t fee_base, uint32_t fee_ppm)
{
    return test::UpdateTerms{.timestamp = kStart, .fee_base_msat = fee_base, .fee_proportional_millionths = fee_ppm};
}

//! A public channel between two other nodes, with both directions' updates (different fees, so
//! each direction's policy can be told apart).
struct PeerChannel {
    PeerChannel(TestNode node_a, TestNode node_b, ShortChannelId id)
        : a(std::move(node_a)), b(std::move(node_b)), scid(id), announcement(test::SignedAnnouncement(a, b, scid)),
          update_a(test::UpdateFrom(a, b, scid, Terms(1000, 100))), update_b(test::UpdateFrom(b, a, scid, Terms(2000, 200)))
    {
    }
    TestNode a;
    TestNode b;
    ShortChannelId scid;
    ChannelAnnouncementMessage announcement;
    ChannelUpdateMessage update_a;
    ChannelUpdateMessage update_b;
};

struct Harness {
    test::ScratchDir dir{"sidebolt-gossip-manager"};
    store::Env env{dir.Path(), test::FastEnv()};
    std::atomic<uint32_t> now{kStart};
    RecordingLink link;
    ScriptedChain chain{now};
    TestNode self = NodeOf(1);
    std::unique_ptr<GossipManager> manager;
    //! The peer layer's number of the last connection announced.
    uint64_t connections{0};

    Harness() { Start(); }
    ~Harness()
    {
        // A held lookup would keep the lookup thread from joining.
        chain.Hold(false);
        if (manager) manager->Stop();
    }
    Harness(const Harness&) = delete;
    Harness& operator=(const Harness&) = delete;

    GossipOptions Options()
    {
        GossipOptions options;
        options.chain_hash = test::TestChain();
        options.alias = "self";
        options.color = {9, 9, 9};
        options.flush_interval = 10ms;
        options.clock = [this] { return now.load(); };
        return options;
    }
    void Start()
    {
        manager = std::make_unique<GossipManager>(env, link, chain, self.node_key, Options());
        manager->Start();
    }
    //! A new manager on the same store, as after a restart of the daemon.
    void Restart()
    {
        manager->Stop();
        manager.reset();
        Start();
    }

    void Connect(const PubKey& peer) { manager->OnPeerConnected(peer, FeatureBits{}, ++connections); }
    void Deliver(const PubKey& from, const Bytes& encoded)
    {
        CHECK(manager->OnPeerMessage(from, TypeOf(encoded), ByteSpan(encoded).subspan(2)));
    }
    template <typename M>
    void Deliver(const PubKey& from, const M& message)
    {
        Deliver(from, test::Encoded(message));
    }
    //! The channel's announcement and both updates, as a peer sends them.
    void DeliverChannel(const PubKey& from, const PeerChannel& channel)
    {
        Deliver(from, channel.announcement);
        Deliver(from, channel.update_a);
        Deliver(from, channel.update_b);
    }
    //! The channel of nodes 2 and 3, its funding found by the chain, announced with both updates by `from`.
    PeerChannel DeliverFoundChannel(const PubKey& from)
    {
        PeerChannel channel(NodeOf(2), NodeOf(3), {500, 1, 0});
        chain.Answer(channel.scid, {Found(channel.announcement)});
        DeliverChannel(from, channel);
        return channel;
    }
    //! Jobs posted before this have run on the gossip thread when it returns.
    GossipStats Barrier() { return manager->Stats(); }

    size_t UpdatesListed(const ShortChannelId& scid)
    {
        const auto directions = manager->ListChannels(scid);
        return static_cast<size_t>(std::ranges::count_if(directions, [](const auto& d) { return d.update.has_value(); }));
    }
    void ConnectBlock(const std::vector<OutPoint>& spent)
    {
        Block block;
        for (const OutPoint& outpoint : spent) {
            Transaction tx;
            tx.vin.push_back(TxIn{.prevout = outpoint, .script_sig = {}, .sequence = 0xFFFFFFFF, .witness = {}});
            tx.vout.push_back(TxOut{1000, Bytes(34, 0)});
            block.txs.push_back(tx);
            block.txids.push_back(tx.GetTxid());
        }
        env.Write([&](store::WriteTxn& txn) { manager->OnBlockConnected(txn, 600, block.header.GetHash(), block); });
    }
};

PubKey PeerId(uint32_t seed) { return NodeOf(seed).Id(); }

template <typename M>
bool AllOf(const std::vector<Received<M>>& received, const ShortChannelId& scid)
{
    return std::ranges::all_of(received, [&](const auto& r) { return r.message.short_channel_id == scid; });
}

const GraphChannelSummary* FromSource(const std::vector<GraphChannelSummary>& directions, const PubKey& source)
{
    const auto it = std::ranges::find_if(directions, [&](const auto& d) { return d.source == source; });
    return it == directions.end() ? nullptr : &*it;
}

TEST_CASE("gossip manager: a peer's channel with its funding found is listed, its nodes too, and routable")
{
    Harness h;
    const PubKey p1 = PeerId(20);
    h.Connect(p1);
    const PeerChannel channel = h.DeliverFoundChannel(p1);
    h.Deliver(p1, test::SignedNodeAnnouncement(channel.a, kStart, {}, {}, "alice"));

    REQUIRE(Eventually([&] { return h.UpdatesListed(channel.scid) == 2; }));
    const auto directions = h.manager->ListChannels(std::nullopt);
    REQUIRE(directions.size() == 2);
    const auto* from_a = FromSource(directions, channel.a.Id());
    const auto* from_b = FromSource(directions, channel.b.Id());
    REQUIRE(from_a);
    REQUIRE(from_b);
    CHECK(from_a->destination == channel.b.Id());
    CHECK(from_b->destination == channel.a.Id());
    for (const auto* direction : {from_a, from_b}) {
        CHECK(direction->short_channel_id == channel.scid);
        CHECK(direction->capacity == kCapacity);
    }
    CHECK(from_a->update->fee_base_msat == 1000);
    CHECK(from_a->update->fee_proportional_millionths == 100);
    CHECK(from_b->update->fee_base_msat == 2000);
    CHECK(from_b->update->fee_proportional_millionths == 200);

    // The node_announcement waited for the channel's lookup, then was applied.
    REQUIRE(Eventually([&] {
        const auto nodes = h.manager->ListNodes(channel.a.Id());
        return nodes.size() == 1 && nodes[0].announcement.has_value();
    }));
    const auto nodes = h.manager->ListNodes(std::nullopt);
    REQUIRE(nodes.size() == 2);
    for (const auto& node : nodes) {
        CHECK((node.node_id == channel.a.Id() || node.node_id == channel.b.Id()));
        CHECK(node.channels == 1);
        CHECK(node.announcement.has_value() == (node.node_id == channel.a.Id()));
    }
    const auto alice = h.manager->ListNodes(channel.a.Id());
    CHECK(std::string(reinterpret_cast<const char*>(alice[0].announcement->alias.data()), 5) == "alice");

    const auto path =
        h.manager->FindPath(PathRequest{.source = channel.a.Id(), .target = channel.b.Id(), .amount = Msat{50'000}});
    REQUIRE(path.has_value());
    REQUIRE(path->size() == 1);
    CHECK((*path)[0].short_channel_id == channel.scid);
    CHECK((*path)[0].node_id == channel.b.Id());

    const GossipStats stats = h.Barrier();
    CHECK(stats.channels == 1);
    CHECK(stats.nodes == 2);
    CHECK(stats.rejected == 0);
    CHECK(h.chain.Calls() == 1);
}

TEST_CASE("gossip manager: a channel_update from a payment's failure is routed with at once, and kept only if newest")
{
    Harness h;
    const PubKey p1 = PeerId(20);
    h.Connect(p1);
    const PeerChannel channel = h.DeliverFoundChannel(p1);
    REQUIRE(Eventually([&] { return h.UpdatesListed(channel.scid) == 2; }));
    const auto fee_of_a = [&] { return h.manager->ChannelPolicy(channel.scid, channel.a.Id())->fee_base_msat; };
    const auto listed_fee_of_a = [&] { return FromSource(h.manager->ListChannels(channel.scid), channel.a.Id())->update->fee_base_msat; };
    const auto apply = [&](const ChannelUpdateMessage& update) {
        const Bytes payload = test::PayloadOf(update);
        h.manager->ApplyPaymentUpdate(update, payload);
    };

    // Newer: the graph has it before the call returns (the payment's retry searches at once).
    test::UpdateTerms newer = Terms(7777, 100);
    newer.timestamp = kStart + 10;
    apply(test::UpdateFrom(channel.a, channel.b, channel.scid, newer));
    CHECK(fee_of_a() == Msat{7777});
    REQUIRE(Eventually([&] { return listed_fee_of_a() == 7777; }));
    CHECK(h.Barrier().rejected == 0);

    // Signed by the other end: not taken.
    apply(test::SignedUpdate(channel.b.node_key, channel.scid, channel.a.Id() < channel.b.Id() ? 0 : 1, Terms(1, 1)));
    CHECK(fee_of_a() == Msat{7777});

    // Older than what the view holds: routed with for a moment, then the newest is back.
    test::UpdateTerms older = Terms(5, 5);
    older.timestamp = kStart + 5;
    apply(test::UpdateFrom(channel.a, channel.b, channel.scid, older));
    REQUIRE(Eventually([&] { return fee_of_a() == Msat{7777}; }));
    CHECK(listed_fee_of_a() == 7777);
}

TEST_CASE("gossip manager: a channel whose funding output is wrong, spent or missing never appears; unavailable is retried")
{
    Harness h;
    const PubKey p1 = PeerId(20);
    h.Connect(p1);
    const PeerChannel wrong_script(NodeOf(2), NodeOf(3), {500, 1, 0});
    const PeerChannel spent(NodeOf(4), NodeOf(5), {501, 1, 0});
    const PeerChannel missing(NodeOf(6), NodeOf(7), {502, 1, 0});
    // The 2-of-2 of other keys: an output that exists but is not this channel's.
    FundingLookup other_keys = Found(wrong_script.announcement);
    other_keys.output.script_pubkey =
        P2wshScript(FundingScript(spent.announcement.bitcoin_key_1, spent.announcement.bitcoin_key_2)).Data();
    h.chain.Answer(wrong_script.scid, {other_keys});
    h.chain.Answer(spent.scid, {WithStatus(FundingLookup::Status::SPENT)});
    h.chain.Answer(missing.scid, {WithStatus(FundingLookup::Status::NOT_FOUND)});
    for (const PeerChannel* channel : {&wrong_script, &spent, &missing}) h.DeliverChannel(p1, *channel);

    REQUIRE(Eventually([&] { return h.Barrier().rejected == 3; }));
    CHECK(h.manager->ListChannels(std::nullopt).empty());
    CHECK(h.manager->ListNodes(std::nullopt).empty());
    CHECK(h.Barrier().channels == 0);
    CHECK(!h.manager->FindPath(PathRequest{.source = spent.a.Id(), .target = spent.b.Id(), .amount = Msat{1000}}));

    // bitcoind away: asked again kLookupRetrySeconds (10) later by the injected clock, not before.
    const PeerChannel retried(NodeOf(8), NodeOf(9), {503, 1, 0});
    h.chain.Answer(retried.scid, {WithStatus(FundingLookup::Status::UNAVAILABLE), Found(retried.announcement)});
    h.DeliverChannel(p1, retried);
    REQUIRE(Eventually([&] { return h.chain.CallTimes(retried.scid).size() == 1; }));
    std::this_thread::sleep_for(250ms);
    h.now += 9;
    std::this_thread::sleep_for(250ms);
    CHECK(h.chain.CallTimes(retried.scid).size() == 1);
    CHECK(h.Barrier().channels == 0);
    h.now += 1;
    // Its updates were held meanwhile and come with it.
    REQUIRE(Eventually([&] { return h.UpdatesListed(retried.scid) == 2; }));
    const auto times = h.chain.CallTimes(retried.scid);
    REQUIRE(times.size() == 2);
    CHECK(times[1] >= times[0] + 10);
    CHECK(h.Barrier().rejected == 3);
}

TEST_CASE("gossip manager: invalid gossip gets a warning; after ten the peer is ignored until it reconnects")
{
    Harness h;
    const PubKey bad = PeerId(20);
    const PubKey good = PeerId(21);
    h.Connect(bad);
    h.Connect(good);
    const PeerChannel channel(NodeOf(2), NodeOf(3), {500, 1, 0});
    h.chain.Answer(channel.scid, {Found(channel.announcement)});
    // Signed for another short_channel_id: none of the four signatures verifies.
    ChannelAnnouncementMessage forged = test::SignedAnnouncement(channel.a, channel.b, {600, 1, 0});
    forged.short_channel_id = channel.scid;

    h.Deliver(bad, forged);
    REQUIRE(Eventually([&] { return h.link.CountTo<WarningMessage>(bad) == 1; }));
    const auto warning = h.link.SentTo<WarningMessage>(bad)[0].message;
    CHECK(std::string(warning.data.begin(), warning.data.end()).find("channel_announcement") != std::string::npos);
    for (int i = 1; i < 10; ++i) h.Deliver(bad, forged);
    REQUIRE(Eventually([&] { return h.link.CountTo<WarningMessage>(bad) == 10; }));
    CHECK(h.link.CountTo<WarningMessage>(good) == 0);

    // Ignored now: no more warnings, and valid gossip is not even looked up.
    h.Deliver(bad, forged);
    h.DeliverChannel(bad, channel);
    const GossipStats stats = h.Barrier();
    CHECK(stats.rejected == 10);
    CHECK(stats.channels == 0);
    CHECK(h.link.CountTo<WarningMessage>(bad) == 10);
    CHECK(h.chain.Calls() == 0);

    h.manager->OnPeerDisconnected(bad);
    h.Connect(bad);
    h.DeliverChannel(bad, channel);
    REQUIRE(Eventually([&] { return h.UpdatesListed(channel.scid) == 2; }));
    CHECK(h.chain.Calls() == 1);
}

TEST_CASE("gossip manager: peers' gossip is relayed as each peer's filter asks, never back to its origin")
{
    Harness h;
    const PubKey origin = PeerId(20);
    const PubKey late = PeerId(21);
    const PubKey witness = PeerId(22);
    for (const PubKey& peer : {origin, late, witness}) h.Connect(peer);
    const GossipTimestampFilterMessage everything{test::TestChain(), kStart - 1000, UINT32_MAX, {}};
    // The origin asks for everything too: only its being the origin keeps its gossip from it.
    h.Deliver(origin, everything);
    h.Deliver(witness, everything);

    const PeerChannel channel(NodeOf(2), NodeOf(3), {500, 1, 0});
    h.chain.Answer(channel.scid, {Found(channel.announcement)});
    // The funding lookup answers after the updates and node_announcement came, as it does with
    // a real bitcoind: they are held, then released with the channel.
    h.chain.Hold(true);
    h.DeliverChannel(origin, channel);
    h.Deliver(origin, test::SignedNodeAnnouncement(channel.a, kStart, {}, {}, "alice"));
    h.Barrier();
    h.chain.Hold(false);

    REQUIRE(Eventually([&] { return h.link.GossipTo(witness) == 4; }));
    CHECK(AllOf(h.link.SentTo<ChannelAnnouncementMessage>(witness), channel.scid));
    CHECK(h.link.CountTo<ChannelUpdateMessage>(witness) == 2);
    CHECK(h.link.CountTo<NodeAnnouncementMessage>(witness) == 1);
    // The same flush passed the others by: no filter yet, or the origin.
    CHECK(h.link.GossipTo(late) == 0);
    CHECK(h.link.GossipTo(origin) == 0);

    // A filter that starts after the gossip's timestamps brings nothing.
    h.Deliver(late, GossipTimestampFilterMessage{test::TestChain(), kStart + 1000, UINT32_MAX, {}});
    h.Barrier();
    CHECK(h.link.GossipTo(late) == 0);
    // One covering them brings what we hold, the announcement first.
    h.Deliver(late, GossipTimestampFilterMessage{test::TestChain(), kStart - 10, 3600, {}});
    REQUIRE(Eventually([&] { return h.link.GossipTo(late) == 4; }));
    CHECK(h.link.TypesTo(late).back() == static_cast<uint16_t>(GossipMessageType::kNodeAnnouncement));
    const auto types = h.link.TypesTo(late);
    const auto first_gossip = std::ranges::find_if(types, [](uint16_t type) { return type >= 256 && type <= 258; });
    REQUIRE(first_gossip != types.end());
    CHECK(*first_gossip == static_cast<uint16_t>(GossipMessageType::kChannelAnnouncement));

    // A newer update from the origin is relayed by the next flush to both filters but its origin.
    const ChannelUpdateMessage newer =
        test::UpdateFrom(channel.a, channel.b, channel.scid, {.timestamp = kStart + 60, .fee_base_msat = 3000});
    h.Deliver(origin, newer);
    REQUIRE(Eventually([&] {
        return h.link.CountTo<ChannelUpdateMessage>(late) == 3 && h.link.CountTo<ChannelUpdateMessage>(witness) == 3;
    }));
    CHECK(h.link.SentTo<ChannelUpdateMessage>(late).back().message.fee_base_msat == 3000);
    CHECK(h.link.SentTo<ChannelUpdateMessage>(witness).back().message.fee_base_msat == 3000);
    CHECK(h.link.GossipTo(origin) == 0);
}

TEST_CASE("gossip manager: our channel goes to every peer, its update signed by us and disabled while the peer is away")
{
    Harness h;
    const TestNode other = NodeOf(2);
    const PubKey p3 = PeerId(20);
    const PubKey p4 = PeerId(21);
    h.Connect(p3);
    h.Connect(p4);
    const ShortChannelId scid{500, 1, 0};
    const ChannelAnnouncementMessage announcement = test::SignedAnnouncement(h.self, other, scid);
    const int our_direction = h.self.Id() < other.Id() ? 0 : 1;
    h.chain.Answer(scid, {Found(announcement)});
    h.manager->AnnounceOurChannel(announcement, kCapacity);

    // No filter from p3 or p4: what we generate goes to them anyway.
    for (const PubKey& peer : {p3, p4}) {
        REQUIRE(Eventually([&] { return h.link.GossipTo(peer) == 3; }));
        CHECK(AllOf(h.link.SentTo<ChannelAnnouncementMessage>(peer), scid));
        const auto updates = h.link.SentTo<ChannelUpdateMessage>(peer);
        REQUIRE(updates.size() == 1);
        CHECK(updates[0].message.short_channel_id == scid);
        CHECK(updates[0].message.Direction() == our_direction);
        CHECK(updates[0].message.Disabled());
        CHECK(VerifyChannelUpdate(updates[0].message, updates[0].payload, h.self.Id()));
        CHECK(!VerifyChannelUpdate(updates[0].message, updates[0].payload, other.Id()));
        const auto nodes = h.link.SentTo<NodeAnnouncementMessage>(peer);
        REQUIRE(nodes.size() == 1);
        CHECK(nodes[0].message.node_id == h.self.Id());
        CHECK(VerifyNodeAnnouncement(nodes[0].message, nodes[0].payload));
    }
    const uint32_t disabled_at = h.link.SentTo<ChannelUpdateMessage>(p3)[0].message.timestamp;

    // The channel peer connects: enabled, told directly and relayed to all.
    h.Connect(other.Id());
    REQUIRE(Eventually([&] {
        return h.link.CountTo<ChannelUpdateMessage>(other.Id()) >= 1 && h.link.CountTo<ChannelUpdateMessage>(p3) == 2;
    }));
    for (const PubKey& peer : {other.Id(), p3}) {
        const auto enabled = h.link.SentTo<ChannelUpdateMessage>(peer).back();
        CHECK(!enabled.message.Disabled());
        CHECK(enabled.message.timestamp > disabled_at);
        CHECK(VerifyChannelUpdate(enabled.message, enabled.payload, h.self.Id()));
    }
    const auto directions = h.manager->ListChannels(scid);
    const auto* listed = FromSource(directions, h.self.Id());
    REQUIRE(listed);
    REQUIRE(listed->update);
    CHECK(!listed->update->Disabled());

    // setchannelfee: a newer update with the new fee.
    ForwardPolicy policy;
    policy.fee_base_msat = Msat{4321};
    policy.fee_proportional_millionths = 55;
    h.manager->SetPolicy(policy);
    REQUIRE(Eventually([&] { return h.link.CountTo<ChannelUpdateMessage>(p4) == 3; }));
    const auto updates = h.link.SentTo<ChannelUpdateMessage>(p4);
    CHECK(updates[2].message.fee_base_msat == 4321);
    CHECK(updates[2].message.fee_proportional_millionths == 55);
    CHECK(updates[2].message.timestamp > updates[1].message.timestamp);
    CHECK(!updates[2].message.Disabled());
    CHECK(VerifyChannelUpdate(updates[2].message, updates[2].payload, h.self.Id()));

    // The peer leaves: disabled again.
    h.manager->OnPeerDisconnected(other.Id());
    REQUIRE(Eventually([&] { return h.link.CountTo<ChannelUpdateMessage>(p4) == 4; }));
    CHECK(h.link.SentTo<ChannelUpdateMessage>(p4).back().message.Disabled());
}

TEST_CASE("gossip manager: a private channel's updates pass between its two ends only")
{
    Harness h;
    const TestNode peer = NodeOf(2);
    const PubKey bystander = PeerId(20);
    h.Connect(peer.Id());
    h.Connect(bystander);
    const ShortChannelId scid{500, 2, 1};
    const OutPoint funding{Sha256(Bytes{'p'}), 1};
    const int our_direction = h.self.Id() < peer.Id() ? 0 : 1;
    h.manager->OurPrivateChannel(peer.Id(), scid, funding, kCapacity);

    // Ours goes to the peer, signed by us for our side, and to nobody else.
    REQUIRE(Eventually([&] { return h.link.CountTo<ChannelUpdateMessage>(peer.Id()) == 1; }));
    const auto ours = h.link.SentTo<ChannelUpdateMessage>(peer.Id())[0];
    CHECK(ours.message.short_channel_id == scid);
    CHECK(ours.message.Direction() == our_direction);
    CHECK(!ours.message.Disabled());
    CHECK(VerifyChannelUpdate(ours.message, ours.payload, h.self.Id()));
    h.Barrier();
    CHECK(h.link.GossipTo(bystander) == 0);
    CHECK(h.manager->ListChannels(scid).empty());
    // Failures of HTLCs over it carry it to the payer (who had the channel from a route hint).
    CHECK(h.manager->OurChannelUpdate(scid) == std::optional<Bytes>{test::Encoded(ours.message)});
    CHECK(!h.manager->ChannelPolicy(scid, peer.Id()));

    // The peer's says what it charges to reach us, and stays between us.
    h.Deliver(peer.Id(), test::UpdateFrom(peer, h.self, scid, Terms(3000, 30)));
    REQUIRE(Eventually([&] { return h.manager->ChannelPolicy(scid, peer.Id()).has_value(); }));
    CHECK(h.manager->ChannelPolicy(scid, peer.Id())->fee_base_msat == Msat{3000});
    CHECK(h.manager->ChannelPolicy(scid, peer.Id())->fee_proportional_millionths == 30);
    CHECK(!h.manager->ChannelPolicy(scid, h.self.Id()));
    CHECK(h.Barrier().rejected == 0);
    CHECK(h.link.GossipTo(bystander) == 0);
    CHECK(h.manager->ListChannels(scid).empty());

    // An older one changes nothing; forged ones and ones for our side are refused.
    test::UpdateTerms older = Terms(9000, 90);
    older.timestamp = kStart - 1;
    h.Deliver(peer.Id(), test::UpdateFrom(peer, h.self, scid, older));
    const TestNode forger = NodeOf(3);
    h.Deliver(peer.Id(), test::SignedUpdate(forger.node_key, scid, static_cast<uint8_t>(1 - our_direction), Terms(1, 1)));
    h.Deliver(peer.Id(), test::UpdateFrom(h.self, peer, scid, Terms(1, 1)));
    CHECK(h.Barrier().rejected == 2);
    CHECK(h.manager->ChannelPolicy(scid, peer.Id())->fee_base_msat == Msat{3000});
    // Someone else's update for it is no more than gossip about an unknown channel.
    h.Deliver(bystander, test::UpdateFrom(peer, h.self, scid, Terms(5, 5)));
    h.Barrier();
    CHECK(h.manager->ChannelPolicy(scid, peer.Id())->fee_base_msat == Msat{3000});

    // A new policy reaches the peer; so does a reconnection, with a newer timestamp each time.
    ForwardPolicy policy;
    policy.fee_base_msat = Msat{777};
    h.manager->SetPolicy(policy);
    REQUIRE(Eventually([&] { return h.link.CountTo<ChannelUpdateMessage>(peer.Id()) == 2; }));
    CHECK(h.link.SentTo<ChannelUpdateMessage>(peer.Id())[1].message.fee_base_msat == 777);
    h.manager->OnPeerDisconnected(peer.Id());
    h.now += 5;
    h.Connect(peer.Id());
    REQUIRE(Eventually([&] { return h.link.CountTo<ChannelUpdateMessage>(peer.Id()) == 3; }));
    const auto sent = h.link.SentTo<ChannelUpdateMessage>(peer.Id());
    CHECK(sent[2].message.timestamp > sent[1].message.timestamp);
    CHECK(!sent[2].message.Disabled());
    CHECK(h.link.GossipTo(bystander) == 0);

    // Closed on chain: the peer's policy is forgotten.
    h.ConnectBlock({funding});
    REQUIRE(Eventually([&] { return !h.manager->ChannelPolicy(scid, peer.Id()).has_value(); }));
}

TEST_CASE("gossip manager: a private channel's update that came before the channel was registered still counts")
{
    Harness h;
    const TestNode peer = NodeOf(2);
    h.Connect(peer.Id());
    const ShortChannelId scid{500, 3, 0};
    // The peer's channel_ready and channel_update arrive together; the channel manager's word later.
    h.Deliver(peer.Id(), test::UpdateFrom(peer, h.self, scid, Terms(4321, 12)));
    h.Barrier();
    CHECK(!h.manager->ChannelPolicy(scid, peer.Id()));
    h.manager->OurPrivateChannel(peer.Id(), scid, OutPoint{Sha256(Bytes{'q'}), 0}, kCapacity);
    REQUIRE(Eventually([&] { return h.manager->ChannelPolicy(scid, peer.Id()).has_value(); }));
    CHECK(h.manager->ChannelPolicy(scid, peer.Id())->fee_base_msat == Msat{4321});
}

TEST_CASE("gossip manager: connecting sends a filter, the first peer a range query; queries are answered")
{
    Harness h;
    const PubKey first = PeerId(20);
    const PubKey second = PeerId(21);
    h.Connect(first);
    h.Connect(second);
    REQUIRE(Eventually([&] { return h.link.CountTo<GossipTimestampFilterMessage>(second) == 1; }));
    for (const PubKey& peer : {first, second}) {
        const auto filters = h.link.SentTo<GossipTimestampFilterMessage>(peer);
        REQUIRE(filters.size() == 1);
        CHECK(filters[0].message.chain_hash == test::TestChain());
        // From a little before now, so gossip a peer held back to stagger it still comes.
        CHECK(filters[0].message.first_timestamp < kStart);
        CHECK(filters[0].message.first_timestamp >= kStart - 3600);
        CHECK(filters[0].message.timestamp_range == UINT32_MAX);
    }
    const auto ranges = h.link.SentTo<QueryChannelRangeMessage>(first);
    REQUIRE(ranges.size() == 1);
    CHECK(ranges[0].message.chain_hash == test::TestChain());
    CHECK(ranges[0].message.first_blocknum == 0);
    CHECK(ranges[0].message.number_of_blocks == UINT32_MAX);
    CHECK(h.link.CountTo<QueryChannelRangeMessage>(second) == 0);

    const PeerChannel channel(NodeOf(2), NodeOf(3), {500, 1, 0});
    h.chain.Answer(channel.scid, {Found(channel.announcement)});
    h.DeliverChannel(first, channel);
    REQUIRE(Eventually([&] { return h.UpdatesListed(channel.scid) == 2; }));

    h.Deliver(second, QueryChannelRangeMessage{test::TestChain(), 0, UINT32_MAX, QueryChannelRangeMessage::kWantTimestamps, {}});
    REQUIRE(Eventually([&] {
        const auto replies = h.link.SentTo<ReplyChannelRangeMessage>(second);
        return !replies.empty() && replies.back().message.sync_complete == 1;
    }));
    std::vector<ShortChannelId> named;
    for (const auto& reply : h.link.SentTo<ReplyChannelRangeMessage>(second)) {
        CHECK(reply.message.chain_hash == test::TestChain());
        named.insert(named.end(), reply.message.short_channel_ids.begin(), reply.message.short_channel_ids.end());
        if (!reply.message.short_channel_ids.empty()) {
            REQUIRE(reply.message.timestamps);
            CHECK((*reply.message.timestamps)[0].timestamp_node_id_1 == kStart);
            CHECK((*reply.message.timestamps)[0].timestamp_node_id_2 == kStart);
        }
    }
    CHECK(named == std::vector<ShortChannelId>{channel.scid});

    const size_t before = h.link.TypesTo(second).size();
    h.Deliver(second, QueryShortChannelIdsMessage{test::TestChain(), {channel.scid}, std::nullopt, {}});
    REQUIRE(Eventually([&] { return h.link.CountTo<ReplyShortChannelIdsEndMessage>(second) == 1; }));
    const auto types = h.link.TypesTo(second);
    const std::vector<uint16_t> answer(types.begin() + static_cast<std::ptrdiff_t>(before), types.end());
    CHECK(answer == std::vector<uint16_t>{static_cast<uint16_t>(GossipMessageType::kChannelAnnouncement),
                                          static_cast<uint16_t>(GossipMessageType::kChannelUpdate),
                                          static_cast<uint16_t>(GossipMessageType::kChannelUpdate),
                                          static_cast<uint16_t>(GossipMessageType::kReplyShortChannelIdsEnd)});
    CHECK(AllOf(h.link.SentTo<ChannelAnnouncementMessage>(second), channel.scid));
    CHECK(h.link.SentTo<ReplyShortChannelIdsEndMessage>(second)[0].message.full_information == 1);
}

TEST_CASE("gossip manager: each connection gets its own filter and range query, addressed to it alone")
{
    // The peer layer drops what is addressed to a connection already replaced: a query made for
    // the first connection is not repeated on the second, which gets its own.
    Harness h;
    const PubKey peer = PeerId(20);
    h.Connect(peer);
    h.manager->OnPeerDisconnected(peer);
    h.Connect(peer);
    REQUIRE(Eventually([&] { return h.link.ConnectionsOf(peer, GossipMessageType::kQueryChannelRange).size() == 2; }));
    CHECK(h.link.ConnectionsOf(peer, GossipMessageType::kGossipTimestampFilter) == std::vector<uint64_t>{1, 2});
    // The sync with the first connection ended with it; the second starts it again.
    CHECK(h.link.ConnectionsOf(peer, GossipMessageType::kQueryChannelRange) == std::vector<uint64_t>{1, 2});
}

TEST_CASE("gossip manager: sync asks for the channels a range reply names, one id query at a time")
{
    Harness h;
    const PubKey first = PeerId(20);
    const PubKey second = PeerId(21);
    h.Connect(first);
    h.Connect(second);
    REQUIRE(Eventually([&] { return h.link.CountTo<QueryChannelRangeMessage>(first) == 1; }));

    // More unknown channels than one query_short_channel_ids asks for (4000).
    ReplyChannelRangeMessage reply;
    reply.chain_hash = test::TestChain();
    reply.first_blocknum = 0;
    reply.number_of_blocks = UINT32_MAX;
    reply.sync_complete = 1;
    for (uint32_t i = 0; i < 4100; ++i) reply.short_channel_ids.push_back(ShortChannelId{1000 + i, 1, 0});
    // Only the peer we sync from is listened to.
    h.Deliver(second, reply);
    h.Deliver(first, reply);
    REQUIRE(Eventually([&] { return h.link.CountTo<QueryShortChannelIdsMessage>(first) == 1; }));
    h.Barrier();
    CHECK(h.link.CountTo<QueryShortChannelIdsMessage>(first) == 1);
    CHECK(h.link.CountTo<QueryShortChannelIdsMessage>(second) == 0);
    const auto query = h.link.SentTo<QueryShortChannelIdsMessage>(first)[0].message;
    CHECK(query.chain_hash == test::TestChain());
    REQUIRE(query.short_channel_ids.size() == 4000);
    CHECK(std::ranges::equal(query.short_channel_ids, std::span(reply.short_channel_ids).first(4000)));
    // Unknown channels: everything about them.
    REQUIRE(query.query_flags);
    REQUIRE(query.query_flags->size() == 4000);
    CHECK(std::ranges::all_of(*query.query_flags, [](uint64_t flags) { return flags == 31; }));

    // BOLT 7: the next query only after reply_short_channel_ids_end.
    h.Deliver(first, ReplyShortChannelIdsEndMessage{test::TestChain(), 1, {}});
    REQUIRE(Eventually([&] { return h.link.CountTo<QueryShortChannelIdsMessage>(first) == 2; }));
    const auto rest = h.link.SentTo<QueryShortChannelIdsMessage>(first)[1].message;
    CHECK(std::ranges::equal(rest.short_channel_ids, std::span(reply.short_channel_ids).subspan(4000)));

    h.Deliver(first, ReplyShortChannelIdsEndMessage{test::TestChain(), 1, {}});
    h.Barrier();
    CHECK(h.link.CountTo<QueryShortChannelIdsMessage>(first) == 2);
}

TEST_CASE("gossip manager: a block spending a channel's funding output removes the channel")
{
    Harness h;
    const PubKey p1 = PeerId(20);
    h.Connect(p1);
    const PeerChannel channel(NodeOf(2), NodeOf(3), {500, 1, 0});
    const FundingLookup funding = Found(channel.announcement);
    h.chain.Answer(channel.scid, {funding});
    h.DeliverChannel(p1, channel);
    h.Deliver(p1, test::SignedNodeAnnouncement(channel.a, kStart, {}, {}, "alice"));
    REQUIRE(Eventually([&] {
        const auto nodes = h.manager->ListNodes(channel.a.Id());
        return h.UpdatesListed(channel.scid) == 2 && nodes.size() == 1 && nodes[0].announcement.has_value();
    }));
    // Stored (Stop writes what is pending), so the close must remove it from the store too.
    h.Restart();
    REQUIRE(h.Barrier().channels == 1);

    // Another output of the same transaction: nothing closes.
    h.ConnectBlock({OutPoint{funding.outpoint.txid, funding.outpoint.n + 1}});
    CHECK(h.Barrier().channels == 1);

    h.ConnectBlock({funding.outpoint});
    REQUIRE(Eventually([&] { return h.Barrier().channels == 0; }));
    CHECK(h.manager->ListChannels(std::nullopt).empty());
    CHECK(h.manager->ListNodes(std::nullopt).empty());
    CHECK(!h.manager->FindPath(PathRequest{.source = channel.a.Id(), .target = channel.b.Id(), .amount = Msat{1000}}));

    // Forgotten in the store too: neither the channel nor its nodes' announcements come back.
    h.Restart();
    CHECK(h.Barrier().channels == 0);
    CHECK(h.manager->ListNodes(std::nullopt).empty());
    h.manager->Stop();
    size_t stored_nodes = 0;
    const store::Db nodes_db = h.env.OpenDb("gossip_nodes");
    store::ReadTxn txn(h.env);
    txn.ForEachPrefix(nodes_db, {}, [&](ByteSpan, ByteSpan) {
        ++stored_nodes;
        return true;
    });
    CHECK(stored_nodes == 0);
}

TEST_CASE("gossip manager: the graph comes back from the store after a restart without asking bitcoind")
{
    Harness h;
    const PubKey p1 = PeerId(20);
    const TestNode other = NodeOf(4);
    h.Connect(p1);
    const PeerChannel channel = h.DeliverFoundChannel(p1);
    h.Deliver(p1, test::SignedNodeAnnouncement(channel.a, kStart, {}, {}, "alice"));
    h.Deliver(p1, test::SignedNodeAnnouncement(channel.b, kStart, {}, {}, "bob"));
    const ShortChannelId ours{501, 1, 0};
    const ChannelAnnouncementMessage our_announcement = test::SignedAnnouncement(h.self, other, ours);
    h.chain.Answer(ours, {Found(our_announcement)});
    h.manager->AnnounceOurChannel(our_announcement, kCapacity);

    const auto announced = [&] {
        const auto nodes = h.manager->ListNodes(std::nullopt);
        return std::ranges::count_if(nodes, [](const auto& node) { return node.announcement.has_value(); });
    };
    // Both directions of theirs, ours of ours; alice, bob and us announced.
    REQUIRE(Eventually([&] { return h.UpdatesListed(channel.scid) == 2 && h.UpdatesListed(ours) == 1 && announced() == 3; }));
    const auto channels_before = h.manager->ListChannels(std::nullopt);
    const auto nodes_before = h.manager->ListNodes(std::nullopt);
    const auto our_update_before = h.manager->OurChannelUpdate(ours);
    REQUIRE(our_update_before);
    const size_t lookups = h.chain.Calls();
    CHECK(lookups == 2);

    h.now += 100;
    h.Restart();
    const auto channels_after = h.manager->ListChannels(std::nullopt);
    REQUIRE(channels_after.size() == channels_before.size());
    for (size_t i = 0; i < channels_after.size(); ++i) {
        CHECK(channels_after[i].short_channel_id == channels_before[i].short_channel_id);
        CHECK(channels_after[i].source == channels_before[i].source);
        CHECK(channels_after[i].capacity == channels_before[i].capacity);
        CHECK(channels_after[i].update == channels_before[i].update);
    }
    const auto nodes_after = h.manager->ListNodes(std::nullopt);
    REQUIRE(nodes_after.size() == nodes_before.size());
    for (size_t i = 0; i < nodes_after.size(); ++i) {
        CHECK(nodes_after[i].node_id == nodes_before[i].node_id);
        CHECK(nodes_after[i].channels == nodes_before[i].channels);
        CHECK(nodes_after[i].announcement == nodes_before[i].announcement);
    }
    CHECK(h.manager->OurChannelUpdate(ours) == our_update_before);
    CHECK(h.manager->FindPath(PathRequest{.source = channel.b.Id(), .target = channel.a.Id(), .amount = Msat{1000}}).has_value());
    CHECK(h.Barrier().channels == 2);
    CHECK(h.chain.Calls() == lookups);
}

TEST_CASE("gossip manager: OurChannelUpdate is the latest update we signed for our channel, nothing for others")
{
    Harness h;
    const PubKey p1 = PeerId(20);
    const TestNode other = NodeOf(2);
    h.Connect(p1);
    const ShortChannelId ours{500, 1, 0};
    const ChannelAnnouncementMessage announcement = test::SignedAnnouncement(h.self, other, ours);
    const FundingLookup funding = Found(announcement);
    h.chain.Answer(ours, {funding});
    const PeerChannel theirs(NodeOf(3), NodeOf(4), {501, 1, 0});
    h.chain.Answer(theirs.scid, {Found(theirs.announcement)});
    CHECK(!h.manager->OurChannelUpdate(ours));

    h.manager->AnnounceOurChannel(announcement, kCapacity);
    h.DeliverChannel(p1, theirs);
    REQUIRE(Eventually([&] { return h.manager->OurChannelUpdate(ours).has_value() && h.UpdatesListed(theirs.scid) == 2; }));
    CHECK(!h.manager->OurChannelUpdate(theirs.scid));

    const auto decode = [](const Bytes& message) {
        REQUIRE(TypeOf(message) == static_cast<uint16_t>(GossipMessageType::kChannelUpdate));
        const Bytes payload(message.begin() + 2, message.end());
        auto update = ChannelUpdateMessage::DecodePayload(payload);
        REQUIRE(update);
        return Received<ChannelUpdateMessage>{*update, payload};
    };
    const auto first = decode(*h.manager->OurChannelUpdate(ours));
    CHECK(first.message.short_channel_id == ours);
    CHECK(VerifyChannelUpdate(first.message, first.payload, h.self.Id()));

    ForwardPolicy policy;
    policy.fee_base_msat = Msat{7000};
    h.manager->SetPolicy(policy);
    REQUIRE(Eventually([&] { return decode(*h.manager->OurChannelUpdate(ours)).message.fee_base_msat == 7000; }));
    const auto second = decode(*h.manager->OurChannelUpdate(ours));
    CHECK(second.message.timestamp > first.message.timestamp);
    CHECK(VerifyChannelUpdate(second.message, second.payload, h.self.Id()));
    // The one listed in the graph is the same.
    const auto directions = h.manager->ListChannels(ours);
    const auto* listed = FromSource(directions, h.self.Id());
    REQUIRE(listed);
    CHECK(listed->update == second.message);

    // Closed on chain: no longer ours to vouch for.
    h.ConnectBlock({funding.outpoint});
    REQUIRE(Eventually([&] { return !h.manager->OurChannelUpdate(ours).has_value(); }));
}

} // namespace
} // namespace sidebolt
