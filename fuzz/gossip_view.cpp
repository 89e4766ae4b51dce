// Arbitrary sequences of gossip against one NetworkView: messages decoded from fuzz bytes,
// announcements and updates signed by a small pool of nodes with fields from the input (so most
// reach the rules past the signature check), removals, pruning as time passes, and every query.
// The view must never crash and must stay consistent: channels and nodes point at each other,
// stored updates obey the rules they were admitted by, held messages stay within their bounds,
// stored messages fed again are duplicates, and query answers decode and fit in a message.
#include "gossip/checksum.h"
#include "gossip/network_view.h"
#include "gossip/signatures.h"
#include "tests/gossip/gossip_fixtures.h"
#include "wire/features.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <vector>

using namespace sidebolt;
using namespace sidebolt::test;

namespace {
void Require(bool condition)
{
    if (!condition) std::abort();
}

class FuzzInput
{
public:
    FuzzInput(const uint8_t* data, size_t size) : m_data(data, size) {}
    bool Empty() const { return m_pos >= m_data.size(); }
    uint8_t U8() { return Empty() ? 0 : m_data[m_pos++]; }
    uint64_t Uint(size_t bytes)
    {
        uint64_t value = 0;
        for (size_t i = 0; i < bytes; ++i) value = (value << 8) | U8();
        return value;
    }
    Bytes Take(size_t count)
    {
        const size_t available = std::min(count, m_data.size() - std::min(m_pos, m_data.size()));
        Bytes out(m_data.begin() + static_cast<std::ptrdiff_t>(m_pos),
                  m_data.begin() + static_cast<std::ptrdiff_t>(m_pos + available));
        m_pos += available;
        return out;
    }

private:
    ByteSpan m_data;
    size_t m_pos{0};
};

constexpr size_t kPoolSize = 6;
const NetworkViewLimits kLimits{.max_pending_updates = 8, .max_pending_updates_per_channel = 2,
                                .max_pending_node_announcements = 4};

const std::vector<TestNode>& Pool()
{
    static const std::vector<TestNode> pool = [] {
        std::vector<TestNode> nodes;
        for (uint32_t i = 0; i < kPoolSize; ++i) nodes.push_back(NodeOf(i + 1));
        return nodes;
    }();
    return pool;
}

const TestNode& PoolNode(FuzzInput& in) { return Pool()[in.U8() % kPoolSize]; }

//! A small space of short_channel_ids, so messages meet the channels they are about.
ShortChannelId FuzzScid(FuzzInput& in)
{
    const uint8_t bits = in.U8();
    return ShortChannelId{100u + (bits & 0x07), (bits >> 3) & 0x03u, static_cast<uint16_t>((bits >> 5) & 0x01)};
}

Bytes FuzzFeatures(FuzzInput& in)
{
    const uint8_t choice = in.U8();
    if (choice < 160) return {};
    FeatureBits bits;
    bits.Set(choice % 64);
    return bits.ToWire();
}

const Hash256& FuzzChain(FuzzInput& in)
{
    static const Hash256 other = ChainHash(Network::Mainnet);
    return in.U8() < 240 ? TestChain() : other;
}

uint32_t NearTime(FuzzInput& in, uint32_t now)
{
    // Mostly within a few days of now, either way; sometimes weeks away.
    const int64_t offset = static_cast<int16_t>(in.Uint(2)) * int64_t{(in.U8() & 1) ? 60 : 1};
    return static_cast<uint32_t>(std::clamp<int64_t>(int64_t{now} + offset, 0, UINT32_MAX));
}

Sat FuzzCapacity(FuzzInput& in) { return Sat{in.Uint(3) + 1}; }

void FeedAnnouncement(NetworkView& view, const ChannelAnnouncementMessage& announcement, ByteSpan payload,
                      Sat capacity, uint32_t now)
{
    const GossipResult result = view.CheckChannelAnnouncement(announcement, payload);
    if (result.outcome != GossipOutcome::kAccepted) return;
    Require(VerifyChannelAnnouncement(announcement, payload));
    Require(announcement.node_id_1 < announcement.node_id_2);
    for (const Bytes& replayed : view.AddChannel(announcement, payload, capacity, now)) {
        Require(IsGossipMessageKnown(static_cast<uint16_t>(replayed[0] << 8 | replayed[1])));
    }
    Require(view.Channel(announcement.short_channel_id) != nullptr);
}

void RawMessage(FuzzInput& in, NetworkView& view, uint32_t now)
{
    const auto type = static_cast<uint16_t>(256 + in.U8() % 3);
    const Bytes payload = in.Take(in.Uint(2) % 600);
    const auto decoded = DecodeGossipMessage(type, payload);
    if (!decoded) return;
    if (const auto* announcement = std::get_if<ChannelAnnouncementMessage>(&*decoded)) {
        FeedAnnouncement(view, *announcement, payload, FuzzCapacity(in), now);
    } else if (const auto* update = std::get_if<ChannelUpdateMessage>(&*decoded)) {
        view.ApplyChannelUpdate(*update, payload, now);
    } else if (const auto* node = std::get_if<NodeAnnouncementMessage>(&*decoded)) {
        view.ApplyNodeAnnouncement(*node, payload);
    }
}

void SignedChannelAnnouncement(FuzzInput& in, NetworkView& view, uint32_t now)
{
    const TestNode& x = PoolNode(in);
    const TestNode& y = PoolNode(in);
    const ShortChannelId scid = FuzzScid(in);
    Bytes features = FuzzFeatures(in);
    Bytes trailing = in.Take(in.U8() % 4);
    const ChannelAnnouncementMessage announcement =
        SignedAnnouncement(x, y, scid, std::move(features), std::move(trailing), FuzzChain(in));
    const Bytes payload = PayloadOf(announcement);
    FeedAnnouncement(view, announcement, payload, FuzzCapacity(in), now);
}

void SignedChannelUpdate(FuzzInput& in, NetworkView& view, uint32_t now)
{
    const ShortChannelId scid = FuzzScid(in);
    const int direction = in.U8() & 1;
    // Usually the right signer when the channel is known, else anyone of the pool.
    const ChannelEntry* channel = view.Channel(scid);
    const uint8_t who = in.U8();
    const PrivKey* signer = &Pool()[who % kPoolSize].node_key;
    if (channel && who < 200) {
        for (const TestNode& node : Pool()) {
            if (node.Id() == channel->NodeId(direction)) signer = &node.node_key;
        }
    }
    UpdateTerms terms;
    terms.timestamp = NearTime(in, now);
    terms.fee_base_msat = static_cast<uint32_t>(in.Uint(2));
    terms.fee_proportional_millionths = static_cast<uint32_t>(in.Uint(2));
    terms.htlc_minimum_msat = Msat{in.Uint(2)};
    terms.htlc_maximum_msat = Msat{in.Uint(5)};
    terms.message_flags = in.U8() < 220 ? ChannelUpdateMessage::kMustBeOneFlag : in.U8();
    terms.disabled = (in.U8() & 1) != 0;
    terms.trailing = in.Take(in.U8() % 4);
    const ChannelUpdateMessage update = SignedUpdate(*signer, scid, direction, terms, FuzzChain(in));
    const Bytes payload = PayloadOf(update);
    const GossipResult result = view.ApplyChannelUpdate(update, payload, now);
    if (result.outcome == GossipOutcome::kAccepted) {
        const ChannelEntry* stored = view.Channel(scid);
        Require(stored && stored->halves[direction] && stored->halves[direction]->update == update);
    }
}

void SignedNode(FuzzInput& in, NetworkView& view, uint32_t now)
{
    const TestNode& node = PoolNode(in);
    const uint32_t timestamp = NearTime(in, now);
    Bytes features = FuzzFeatures(in);
    Bytes addresses;
    const uint8_t choice = in.U8();
    if (choice < 128) {
        addresses = NodeAnnouncementMessage::EncodeAddresses(
            {NodeAddress{NodeAddress::Type::kIpv4, {10, 0, 0, static_cast<uint8_t>(choice)}, 9735}});
    } else {
        addresses = in.Take(in.U8() % 48);
    }
    const NodeAnnouncementMessage announcement =
        SignedNodeAnnouncement(node, timestamp, std::move(features), std::move(addresses));
    const GossipResult result = view.ApplyNodeAnnouncement(announcement, PayloadOf(announcement));
    if (result.outcome == GossipOutcome::kAccepted) {
        const NodeEntry* stored = view.Node(node.Id());
        Require(stored && stored->announcement && stored->announcement->announcement == announcement);
    }
}

//! Every answer decodes, and a range answer follows BOLT 7's reply rules.
void Queries(FuzzInput& in, const NetworkView& view, uint32_t now)
{
    const uint32_t first = 96 + in.U8() % 16;
    const uint32_t count = in.U8() < 240 ? in.U8() : static_cast<uint32_t>(in.Uint(4));
    const std::optional<uint64_t> option = in.U8() < 64 ? std::nullopt : std::optional<uint64_t>(in.U8() % 4);
    const auto replies = view.ChannelsInRange(first, count, option);
    Require(!replies.empty() && replies.front().first_blocknum == first);
    for (size_t i = 0; i < replies.size(); ++i) {
        Require(replies[i].sync_complete == (i + 1 == replies.size() ? 1 : 0));
        if (i > 0) Require(replies[i].first_blocknum == uint64_t{replies[i - 1].first_blocknum} + replies[i - 1].number_of_blocks);
        const Bytes encoded = EncodeGossipMessage(GossipMessage{replies[i]});
        Require(encoded.size() <= 65535);
        const auto decoded = DecodeGossipMessage(static_cast<uint16_t>(GossipMessageType::kReplyChannelRange),
                                                 ByteSpan(encoded).subspan(2));
        Require(decoded && std::get<ReplyChannelRangeMessage>(*decoded) == replies[i]);
        for (const WantedChannel& wanted : view.WantedFromReply(replies[i], now)) {
            Require(std::ranges::count(replies[i].short_channel_ids, wanted.short_channel_id) == 1);
            Require(wanted.query_flags != 0);
        }
    }
    const uint64_t end = uint64_t{replies.back().first_blocknum} + replies.back().number_of_blocks;
    Require(end >= std::min<uint64_t>(uint64_t{first} + count, UINT32_MAX));

    const std::optional<uint64_t> flags = in.U8() < 64 ? std::nullopt : std::optional<uint64_t>(in.U8() % 32);
    std::vector<Bytes> messages = view.MessagesFor(FuzzScid(in), flags);
    const std::vector<Bytes> since = view.MessagesSince(static_cast<uint32_t>(in.Uint(4)), static_cast<uint32_t>(in.Uint(4)));
    messages.insert(messages.end(), since.begin(), since.end());
    for (const Bytes& message : messages) {
        const auto type = static_cast<uint16_t>(message[0] << 8 | message[1]);
        Require(DecodeGossipMessage(type, ByteSpan(message).subspan(2)).has_value());
    }
}

//! Stored messages fed again change nothing.
void Refeed(const NetworkView& view, uint32_t now)
{
    NetworkView copy = view;
    for (const auto& [scid, channel] : view.Channels()) {
        const auto announcement = ChannelAnnouncementMessage::DecodePayload(channel.Payload());
        Require(announcement && copy.CheckChannelAnnouncement(*announcement, channel.Payload()).outcome == GossipOutcome::kDuplicate);
        for (const auto& half : channel.halves) {
            if (!half) continue;
            const auto outcome = copy.ApplyChannelUpdate(half->update, half->Payload(), now).outcome;
            Require(outcome == GossipOutcome::kDuplicate || outcome == GossipOutcome::kIgnored);
        }
    }
    for (const auto& [node_id, node] : view.Nodes()) {
        if (!node.announcement) continue;
        Require(copy.ApplyNodeAnnouncement(node.announcement->announcement, node.announcement->Payload()).outcome ==
                GossipOutcome::kDuplicate);
    }
    Require(copy.ChannelCount() == view.ChannelCount() && copy.NodeCount() == view.NodeCount());
}

void CheckInvariants(const NetworkView& view)
{
    for (const auto& [scid, channel] : view.Channels()) {
        const ChannelAnnouncementMessage& announcement = channel.announcement;
        Require(announcement.short_channel_id == scid);
        Require(announcement.node_id_1 < announcement.node_id_2);
        Require(announcement.chain_hash == view.ChainHash());
        for (const int direction : {0, 1}) {
            const NodeEntry* node = view.Node(channel.NodeId(direction));
            Require(node && node->channels.contains(scid));
            const auto& half = channel.halves[direction];
            if (!half) continue;
            Require(half->update.short_channel_id == scid && half->update.Direction() == direction);
            Require(half->update.htlc_minimum_msat <= half->update.htlc_maximum_msat);
            Require(half->update.htlc_maximum_msat <= ToMsat(channel.capacity));
            Require(half->checksum == ChannelUpdateChecksum(half->Payload()));
            Require(half->message.size() >= 2 && half->message[1] == 2 && half->message[0] == 1);
        }
    }
    for (const auto& [node_id, node] : view.Nodes()) {
        Require(!node.channels.empty());
        for (const ShortChannelId& scid : node.channels) {
            const ChannelEntry* channel = view.Channel(scid);
            Require(channel && (channel->NodeId(0) == node_id || channel->NodeId(1) == node_id));
        }
        if (node.announcement) Require(node.announcement->announcement.node_id == node_id);
    }
    Require(view.ChannelCount() == view.Channels().size() && view.NodeCount() == view.Nodes().size());
    Require(view.PendingUpdateCount() <= kLimits.max_pending_updates);
    Require(view.PendingNodeAnnouncementCount() <= kLimits.max_pending_node_announcements);
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    FuzzInput in(data, size);
    NetworkView view(TestChain(), kLimits);
    uint32_t now = kNow;
    for (size_t step = 0; step < 64 && !in.Empty(); ++step) {
        switch (in.U8() % 9) {
        case 0: RawMessage(in, view, now); break;
        case 1: SignedChannelAnnouncement(in, view, now); break;
        case 2: SignedChannelUpdate(in, view, now); break;
        case 3: SignedNode(in, view, now); break;
        case 4: view.RemoveChannel(FuzzScid(in)); break;
        case 5: {
            now += static_cast<uint32_t>(in.Uint(3)) * 8;
            for (const ShortChannelId& scid : view.PruneStale(now)) Require(view.Channel(scid) == nullptr);
            break;
        }
        case 6: Queries(in, view, now); break;
        case 7: Refeed(view, now); break;
        default: {
            // An announcement that was accepted stays a duplicate after an update or removal elsewhere.
            const ShortChannelId scid = FuzzScid(in);
            if (const ChannelEntry* channel = view.Channel(scid)) {
                Require(view.CheckChannelAnnouncement(channel->announcement, channel->Payload()).outcome ==
                        GossipOutcome::kDuplicate);
            }
            break;
        }
        }
        CheckInvariants(view);
    }
    return 0;
}
