#include "gossip/network_view.h"

#include "gossip/checksum.h"
#include "gossip/signatures.h"
#include "wire/features.h"

#include <algorithm>
#include <iterator>
#include <limits>
#include <utility>

namespace sidebolt {
namespace {
//! message_flags bit 1: "dont_forward", set on updates of channels that are not announced.
constexpr uint8_t kDontForwardFlag = 0x02;
//! channel_update payload: signature 64, chain_hash 32, short_channel_id 8, timestamp 4, then
//! "the fields below timestamp" that BOLT 7 compares at equal timestamps.
constexpr size_t kUpdateAfterTimestamp = 64 + 32 + 8 + 4;
constexpr uint64_t kAllQueryFlags = query_flag::kChannelAnnouncement | query_flag::kChannelUpdate1 |
                                    query_flag::kChannelUpdate2 | query_flag::kNodeAnnouncement1 |
                                    query_flag::kNodeAnnouncement2;
constexpr size_t kMaxEncodedMessage = 65535;

Bytes WithType(GossipMessageType type, ByteSpan payload)
{
    Bytes out;
    out.reserve(2 + payload.size());
    WireWriter writer(out);
    writer.WriteU16(static_cast<uint16_t>(type));
    writer.WriteBytes(payload);
    return out;
}

GossipResult Result(GossipOutcome outcome, std::string reason = {}) { return GossipResult{outcome, std::move(reason)}; }

bool SameBytesFrom(ByteSpan a, ByteSpan b, size_t offset)
{
    if (a.size() < offset || b.size() < offset) return a.size() == b.size() && std::ranges::equal(a, b);
    return std::ranges::equal(a.subspan(offset), b.subspan(offset));
}

//! BOLT 9 assigns channel_announcement features the context "C"; any other even bit is unknown.
std::optional<size_t> UnknownEvenChannelFeature(ByteSpan features)
{
    for (const size_t bit : FeatureBits::FromWire(features).SetBits()) {
        if (bit % 2 != 0) continue;
        const FeatureInfo* info = FindFeature(bit);
        if (info == nullptr || info->context.find('C') == std::string_view::npos) return bit;
    }
    return std::nullopt;
}

bool TooOld(uint32_t timestamp, uint32_t now) { return uint64_t{timestamp} + kGossipStaleSeconds < now; }
bool TooNew(uint32_t timestamp, uint32_t now) { return timestamp > uint64_t{now} + kGossipMaxFutureSeconds; }

//! Bytes of a BigSize holding `value`.
size_t BigSizeLength(uint64_t value) { return value < 0xFD ? 1 : value <= 0xFFFF ? 3 : value <= 0xFFFFFFFF ? 5 : 9; }

//! The encoded size (u16 type included) of a reply_channel_range with `count` ids.
size_t ReplySize(size_t count, bool timestamps, bool checksums)
{
    // type, chain_hash, first_blocknum, number_of_blocks, sync_complete, len, encoding byte.
    size_t size = 2 + 32 + 4 + 4 + 1 + 2 + 1 + 8 * count;
    if (timestamps) {
        const size_t length = 1 + 8 * count;
        size += 1 + BigSizeLength(length) + length;
    }
    if (checksums) {
        const size_t length = 8 * count;
        size += 1 + BigSizeLength(length) + length;
    }
    return size;
}

size_t MaxIdsPerReply(bool timestamps, bool checksums)
{
    size_t count = kMaxEncodedMessage / 8;
    while (ReplySize(count, timestamps, checksums) > kMaxEncodedMessage) --count;
    return count;
}

//! Age reference of one direction: its update's timestamp, or when the channel was added.
uint32_t DirectionTime(const ChannelEntry& channel, int direction)
{
    const auto& half = channel.halves[direction];
    return half ? half->update.timestamp : channel.added_at;
}
} // namespace

std::string_view ToString(GossipOutcome outcome)
{
    switch (outcome) {
    case GossipOutcome::kAccepted: return "accepted";
    case GossipOutcome::kDuplicate: return "duplicate";
    case GossipOutcome::kStale: return "stale";
    case GossipOutcome::kPending: return "pending";
    case GossipOutcome::kIgnored: return "ignored";
    case GossipOutcome::kRejected: return "rejected";
    }
    return "unknown";
}

NetworkView::NetworkView(const Hash256& chain_hash, NetworkViewLimits limits)
    : m_chain_hash(chain_hash), m_limits(limits)
{
}

GossipResult NetworkView::CheckChannelAnnouncement(const ChannelAnnouncementMessage& announcement,
                                                   ByteSpan payload) const
{
    const ShortChannelId scid = announcement.short_channel_id;
    // "if the specified chain_hash is unknown to the receiver: MUST ignore the message."
    if (announcement.chain_hash != m_chain_hash) return Result(GossipOutcome::kIgnored, "unknown chain_hash");
    // "node_id_1 is the lexicographically-lesser of the two compressed keys"; equal ids are no channel.
    if (!(announcement.node_id_1 < announcement.node_id_2)) {
        return Result(GossipOutcome::kRejected, "node_id_1 is not lesser than node_id_2");
    }
    if (const auto known = m_channels.find(scid); known != m_channels.end()) {
        // Signatures are malleable; the signed part decides whether it is the same announcement.
        if (SameBytesFrom(known->second.Payload(), payload, ChannelAnnouncementMessage::kSignedOffset)) {
            return Result(GossipOutcome::kDuplicate);
        }
        return Result(GossipOutcome::kRejected, "conflicts with the known announcement of " + scid.ToString());
    }
    // "if there is an unknown even bit in the features field: MUST NOT attempt to route
    // messages through the channel": a channel we cannot use is not kept.
    if (const auto bit = UnknownEvenChannelFeature(announcement.features)) {
        return Result(GossipOutcome::kIgnored, "unknown even feature bit " + std::to_string(*bit));
    }
    // "if bitcoin_signature_1, bitcoin_signature_2, node_signature_1 OR node_signature_2 are
    // invalid OR NOT correct: SHOULD send a warning ... MUST ignore the message."
    if (const auto bad = BadAnnouncementSignature(announcement, payload)) {
        return Result(GossipOutcome::kRejected, "bad " + std::string(ToString(*bad)));
    }
    return Result(GossipOutcome::kAccepted);
}

std::vector<Bytes> NetworkView::AddChannel(const ChannelAnnouncementMessage& announcement, ByteSpan payload,
                                           Sat capacity, uint32_t now)
{
    const ShortChannelId scid = announcement.short_channel_id;
    const auto [it, inserted] = m_channels.try_emplace(
        scid, ChannelEntry{.announcement = announcement,
                           .message = WithType(GossipMessageType::kChannelAnnouncement, payload),
                           .capacity = capacity,
                           .added_at = now,
                           .halves = {}});
    if (!inserted) return {};
    for (const PubKey& node_id : {announcement.node_id_1, announcement.node_id_2}) {
        m_nodes.try_emplace(node_id).first->second.channels.insert(scid);
    }

    // Replay what arrived before the channel, oldest first, so the newest valid update ends up
    // stored; only what is stored in the end is worth relaying.
    std::vector<PendingUpdate> held = TakePendingUpdates(scid);
    std::ranges::stable_sort(held, {}, [](const PendingUpdate& pending) { return pending.update.timestamp; });
    for (const PendingUpdate& pending : held) ApplyChannelUpdate(pending.update, pending.payload, now);
    std::vector<Bytes> accepted;
    for (const auto& half : it->second.halves) {
        if (half) accepted.push_back(half->message);
    }
    for (const PubKey& node_id : {announcement.node_id_1, announcement.node_id_2}) {
        const auto pending = m_pending_nodes.find(node_id);
        if (pending == m_pending_nodes.end()) continue;
        PendingNode node = std::move(pending->second);
        m_pending_node_order.erase(node.sequence);
        m_pending_nodes.erase(pending);
        if (ApplyNodeAnnouncement(node.announcement, node.payload).outcome == GossipOutcome::kAccepted) {
            accepted.push_back(WithType(GossipMessageType::kNodeAnnouncement, node.payload));
        }
    }
    return accepted;
}

GossipResult NetworkView::ApplyChannelUpdate(const ChannelUpdateMessage& update, ByteSpan payload, uint32_t now,
                                             GossipCheck check)
{
    // "if the specified chain_hash value is unknown ...: MUST ignore the channel update."
    if (update.chain_hash != m_chain_hash) return Result(GossipOutcome::kIgnored, "unknown chain_hash");
    // "MUST set dont_forward to 1" on updates of unannounced channels, which are not gossip.
    if ((update.message_flags & kDontForwardFlag) != 0) return Result(GossipOutcome::kIgnored, "dont_forward set");
    // "if the timestamp is unreasonably far in the future: MAY discard the channel_update."
    if (TooNew(update.timestamp, now)) return Result(GossipOutcome::kIgnored, "timestamp too far in the future");
    // Older than the pruning horizon, it would be pruned at once (and relaying it helps no one).
    if (TooOld(update.timestamp, now)) return Result(GossipOutcome::kIgnored, "timestamp older than two weeks");

    const auto channel_it = m_channels.find(update.short_channel_id);
    if (channel_it == m_channels.end()) return HoldUpdate(update, payload);
    ChannelEntry& channel = channel_it->second;
    const int direction = update.Direction();
    std::optional<ChannelHalf>& half = channel.halves[direction];
    if (half && std::ranges::equal(half->Payload(), payload)) return Result(GossipOutcome::kDuplicate);

    // "if signature is not a valid signature, using node_id ...: SHOULD send a warning and
    // close the connection. MUST NOT process the message further."
    if (check == GossipCheck::kVerify && !VerifyChannelUpdate(update, payload, channel.NodeId(direction))) {
        return Result(GossipOutcome::kRejected, "bad signature of node_id_" + std::to_string(direction + 1));
    }
    if (half) {
        // "if timestamp is lower than that of the last-received channel_update ...: SHOULD ignore".
        if (update.timestamp < half->update.timestamp) return Result(GossipOutcome::kStale, "older timestamp");
        if (update.timestamp == half->update.timestamp) {
            // "if the fields below timestamp are equal: SHOULD ignore this message"; if they
            // differ the origin "MAY" be blacklisted: we keep the first and drop this one.
            if (SameBytesFrom(half->Payload(), payload, kUpdateAfterTimestamp)) return Result(GossipOutcome::kDuplicate);
            return Result(GossipOutcome::kIgnored, "same timestamp, different parameters");
        }
    }
    // "if htlc_maximum_msat < htlc_minimum_msat: SHOULD ignore this channel during route
    // considerations"; "if htlc_maximum_msat is greater than channel capacity: ... SHOULD ignore".
    if (update.htlc_maximum_msat < update.htlc_minimum_msat) {
        return Result(GossipOutcome::kIgnored, "htlc_maximum_msat below htlc_minimum_msat");
    }
    if (update.htlc_maximum_msat > ToMsat(channel.capacity)) {
        return Result(GossipOutcome::kIgnored, "htlc_maximum_msat above the channel capacity");
    }
    half = ChannelHalf{.update = update,
                       .message = WithType(GossipMessageType::kChannelUpdate, payload),
                       .checksum = ChannelUpdateChecksum(payload)};
    return Result(GossipOutcome::kAccepted);
}

GossipResult NetworkView::HoldUpdate(const ChannelUpdateMessage& update, ByteSpan payload)
{
    // "if the short_channel_id does NOT match a previous channel_announcement ...: MUST ignore"
    // for now: its announcement may be waiting for the funding lookup, so hold a few.
    if (m_limits.max_pending_updates == 0 || m_limits.max_pending_updates_per_channel == 0) {
        return Result(GossipOutcome::kIgnored, "unknown channel");
    }
    const auto [first, last] = m_pending_by_channel.equal_range(update.short_channel_id);
    size_t held = 0;
    std::optional<uint64_t> oldest;
    for (auto it = first; it != last; ++it) {
        if (std::ranges::equal(m_pending_updates.at(it->second).payload, payload)) {
            return Result(GossipOutcome::kPending, "unknown channel");
        }
        oldest = oldest ? std::min(*oldest, it->second) : it->second;
        ++held;
    }
    if (held >= m_limits.max_pending_updates_per_channel) DropPendingUpdate(*oldest);
    if (m_pending_updates.size() >= m_limits.max_pending_updates) DropPendingUpdate(m_pending_updates.begin()->first);

    const uint64_t sequence = m_next_sequence++;
    m_pending_updates.emplace(sequence, PendingUpdate{.update = update, .payload = Bytes(payload.begin(), payload.end())});
    m_pending_by_channel.emplace(update.short_channel_id, sequence);
    return Result(GossipOutcome::kPending, "unknown channel");
}

void NetworkView::DropPendingUpdate(uint64_t sequence)
{
    const auto it = m_pending_updates.find(sequence);
    if (it == m_pending_updates.end()) return;
    const auto [first, last] = m_pending_by_channel.equal_range(it->second.update.short_channel_id);
    for (auto index = first; index != last; ++index) {
        if (index->second == sequence) {
            m_pending_by_channel.erase(index);
            break;
        }
    }
    m_pending_updates.erase(it);
}

std::vector<NetworkView::PendingUpdate> NetworkView::TakePendingUpdates(ShortChannelId short_channel_id)
{
    std::vector<PendingUpdate> out;
    const auto [first, last] = m_pending_by_channel.equal_range(short_channel_id);
    for (auto it = first; it != last; ++it) {
        const auto pending = m_pending_updates.find(it->second);
        out.push_back(std::move(pending->second));
        m_pending_updates.erase(pending);
    }
    m_pending_by_channel.erase(first, last);
    return out;
}

GossipResult NetworkView::ApplyNodeAnnouncement(const NodeAnnouncementMessage& announcement, ByteSpan payload,
                                                GossipCheck check)
{
    // "if signature is NOT a valid signature ...: SHOULD send a warning ... MUST NOT process
    // the message further." It needs only the message's node_id, so it comes first.
    if (check == GossipCheck::kVerify && !VerifyNodeAnnouncement(announcement, payload)) {
        return Result(GossipOutcome::kRejected, "bad signature");
    }
    // "if addrlen is insufficient to hold the address descriptors of the known types: SHOULD
    // send a warning".
    const auto addresses = announcement.ParseAddresses();
    if (!addresses) return Result(GossipOutcome::kRejected, "bad addresses: " + std::string(ToString(addresses.error())));
    // "if more than one type 5 address is announced: ... MUST not forward the node_announcement."
    const auto dns_count = std::ranges::count_if(
        *addresses, [](const NodeAddress& address) { return address.type == NodeAddress::Type::kDns; });
    if (dns_count > 1) return Result(GossipOutcome::kIgnored, "more than one DNS hostname");

    // "if node_id is NOT previously known from a channel_announcement message ...: SHOULD
    // ignore the message": held (verified) in case its channel is being looked up.
    const auto node_it = m_nodes.find(announcement.node_id);
    if (node_it == m_nodes.end()) return HoldNodeAnnouncement(announcement, payload);
    std::optional<StoredNodeAnnouncement>& stored = node_it->second.announcement;
    // "OR if timestamp is NOT greater than the last-received node_announcement from this
    // node_id: SHOULD ignore the message."
    if (stored && announcement.timestamp <= stored->announcement.timestamp) {
        if (announcement.timestamp == stored->announcement.timestamp &&
            SameBytesFrom(stored->Payload(), payload, NodeAnnouncementMessage::kSignedOffset)) {
            return Result(GossipOutcome::kDuplicate);
        }
        return Result(GossipOutcome::kStale, "timestamp not newer");
    }
    // Unknown even features concern routing through the node, "not the node_announcement
    // message itself": it is kept and relayed, marked so pathfinding avoids the node.
    const bool unknown_required = !UnknownRequiredFeatures(FeatureBits::FromWire(announcement.features)).empty();
    stored = StoredNodeAnnouncement{.announcement = announcement,
                                    .message = WithType(GossipMessageType::kNodeAnnouncement, payload),
                                    .unknown_required_features = unknown_required};
    return Result(GossipOutcome::kAccepted);
}

GossipResult NetworkView::HoldNodeAnnouncement(const NodeAnnouncementMessage& announcement, ByteSpan payload)
{
    if (m_limits.max_pending_node_announcements == 0) return Result(GossipOutcome::kIgnored, "no known channel");
    const auto held = m_pending_nodes.find(announcement.node_id);
    if (held != m_pending_nodes.end()) {
        if (announcement.timestamp <= held->second.announcement.timestamp) {
            return Result(GossipOutcome::kPending, "no known channel");
        }
        m_pending_node_order.erase(held->second.sequence);
        m_pending_nodes.erase(held);
    }
    if (m_pending_nodes.size() >= m_limits.max_pending_node_announcements) {
        const auto oldest = m_pending_node_order.begin();
        m_pending_nodes.erase(oldest->second);
        m_pending_node_order.erase(oldest);
    }
    const uint64_t sequence = m_next_sequence++;
    m_pending_nodes.emplace(announcement.node_id, PendingNode{.announcement = announcement,
                                                              .payload = Bytes(payload.begin(), payload.end()),
                                                              .sequence = sequence});
    m_pending_node_order.emplace(sequence, announcement.node_id);
    return Result(GossipOutcome::kPending, "no known channel");
}

bool NetworkView::RemoveChannel(ShortChannelId short_channel_id)
{
    const auto it = m_channels.find(short_channel_id);
    if (it == m_channels.end()) return false;
    // "if the announced node no longer has any associated open channels: MAY prune nodes".
    for (const PubKey& node_id : {it->second.announcement.node_id_1, it->second.announcement.node_id_2}) {
        const auto node = m_nodes.find(node_id);
        if (node == m_nodes.end()) continue;
        node->second.channels.erase(short_channel_id);
        if (node->second.channels.empty()) m_nodes.erase(node);
    }
    m_channels.erase(it);
    return true;
}

std::vector<ShortChannelId> NetworkView::PruneStale(uint32_t now)
{
    std::vector<ShortChannelId> stale;
    for (const auto& [scid, channel] : m_channels) {
        if (TooOld(std::min(DirectionTime(channel, 0), DirectionTime(channel, 1)), now)) stale.push_back(scid);
    }
    for (const ShortChannelId scid : stale) RemoveChannel(scid);
    return stale;
}

std::vector<ReplyChannelRangeMessage> NetworkView::ChannelsInRange(uint32_t first_blocknum, uint32_t number_of_blocks,
                                                                   std::optional<uint64_t> query_option) const
{
    const uint64_t option = query_option.value_or(0);
    const bool timestamps = (option & QueryChannelRangeMessage::kWantTimestamps) != 0;
    const bool checksums = (option & QueryChannelRangeMessage::kWantChecksums) != 0;
    const size_t max_ids = MaxIdsPerReply(timestamps, checksums);
    const uint64_t end = uint64_t{first_blocknum} + number_of_blocks;

    std::vector<ReplyChannelRangeMessage> replies;
    const auto start_reply = [&](uint32_t first) {
        ReplyChannelRangeMessage reply;
        reply.chain_hash = m_chain_hash;
        reply.first_blocknum = first;
        reply.sync_complete = 0;
        if (timestamps) reply.timestamps.emplace();
        if (checksums) reply.checksums.emplace();
        return reply;
    };
    // A reply ends where the next begins, so together they cover the query without gaps.
    const auto close_reply = [&](ReplyChannelRangeMessage& reply, uint64_t range_end, uint32_t next_first) {
        reply.number_of_blocks = static_cast<uint32_t>(
            std::min<uint64_t>(range_end - reply.first_blocknum, std::numeric_limits<uint32_t>::max()));
        replies.push_back(std::move(reply));
        reply = start_reply(next_first);
    };

    ReplyChannelRangeMessage current = start_reply(first_blocknum);
    auto it = m_channels.lower_bound(ShortChannelId{first_blocknum, 0, 0});
    while (it != m_channels.end() && it->first.block_height < end) {
        const uint32_t height = it->first.block_height;
        const auto block_end = m_channels.upper_bound(
            ShortChannelId{height, std::numeric_limits<uint32_t>::max(), std::numeric_limits<uint16_t>::max()});
        const auto block_count = static_cast<size_t>(std::distance(it, block_end));
        // Whole blocks per reply while they fit ("MUST limit number_of_blocks to the maximum
        // number of blocks whose results could fit").
        if (!current.short_channel_ids.empty() && current.short_channel_ids.size() + block_count > max_ids) {
            close_reply(current, height, height);
        }
        for (; it != block_end; ++it) {
            // A block too big for one reply is split ("MAY split block contents across
            // multiple reply_channel_range"); the pieces all name that block.
            if (current.short_channel_ids.size() == max_ids) close_reply(current, uint64_t{height} + 1, height);
            const ChannelEntry& channel = it->second;
            current.short_channel_ids.push_back(it->first);
            if (timestamps) {
                current.timestamps->push_back(ChannelTimestamps{
                    .timestamp_node_id_1 = channel.halves[0] ? channel.halves[0]->update.timestamp : 0,
                    .timestamp_node_id_2 = channel.halves[1] ? channel.halves[1]->update.timestamp : 0});
            }
            if (checksums) {
                current.checksums->push_back(
                    ChannelChecksums{.checksum_node_id_1 = channel.halves[0] ? channel.halves[0]->checksum : 0,
                                     .checksum_node_id_2 = channel.halves[1] ? channel.halves[1]->checksum : 0});
            }
        }
    }
    // "the final reply_channel_range message: MUST have first_blocknum plus number_of_blocks
    // equal or greater than the query_channel_range first_blocknum plus number_of_blocks".
    current.sync_complete = 1;
    close_reply(current, std::max<uint64_t>(end, current.first_blocknum), 0);
    return replies;
}

void NetworkView::AppendChannelMessages(const ChannelEntry& channel, uint64_t flags, std::set<PubKey>& nodes_sent,
                                        std::vector<Bytes>& out) const
{
    if ((flags & query_flag::kChannelAnnouncement) != 0) out.push_back(channel.message);
    const uint64_t update_flags[] = {query_flag::kChannelUpdate1, query_flag::kChannelUpdate2};
    const uint64_t node_flags[] = {query_flag::kNodeAnnouncement1, query_flag::kNodeAnnouncement2};
    for (const int direction : {0, 1}) {
        if ((flags & update_flags[direction]) != 0 && channel.halves[direction]) {
            out.push_back(channel.halves[direction]->message);
        }
    }
    for (const int direction : {0, 1}) {
        if ((flags & node_flags[direction]) == 0) continue;
        const PubKey& node_id = channel.NodeId(direction);
        const auto node = m_nodes.find(node_id);
        if (node == m_nodes.end() || !node->second.announcement) continue;
        if (nodes_sent.insert(node_id).second) out.push_back(node->second.announcement->message);
    }
}

std::vector<Bytes> NetworkView::MessagesFor(ShortChannelId short_channel_id, std::optional<uint64_t> query_flags) const
{
    std::vector<Bytes> out;
    const auto it = m_channels.find(short_channel_id);
    if (it == m_channels.end()) return out;
    std::set<PubKey> nodes_sent;
    AppendChannelMessages(it->second, query_flags.value_or(kAllQueryFlags), nodes_sent, out);
    return out;
}

std::vector<Bytes> NetworkView::MessagesForQuery(const QueryShortChannelIdsMessage& query) const
{
    std::vector<Bytes> out;
    std::set<PubKey> nodes_sent;
    const auto& ids = query.short_channel_ids;
    // Flags that do not match the ids one to one are a peer error the caller warns about;
    // here they count as absent.
    const bool use_flags = query.query_flags && query.query_flags->size() == ids.size();
    for (size_t i = 0; i < ids.size(); ++i) {
        const auto it = m_channels.find(ids[i]);
        if (it == m_channels.end()) continue;
        AppendChannelMessages(it->second, use_flags ? (*query.query_flags)[i] : kAllQueryFlags, nodes_sent, out);
    }
    return out;
}

std::vector<Bytes> NetworkView::MessagesSince(uint32_t first_timestamp, uint32_t timestamp_range) const
{
    const uint64_t end = uint64_t{first_timestamp} + timestamp_range;
    const auto in_range = [&](uint32_t timestamp) { return timestamp >= first_timestamp && timestamp < end; };
    std::vector<Bytes> out;
    for (const auto& [scid, channel] : m_channels) {
        bool announced = false;
        for (const auto& half : channel.halves) {
            if (!half || !in_range(half->update.timestamp)) continue;
            // "MUST consider the timestamp of the channel_announcement to be the timestamp of a
            // corresponding channel_update" and "MUST send the channel_announcement prior to any
            // corresponding channel_updates and node_announcements".
            if (!announced) out.push_back(channel.message);
            announced = true;
            out.push_back(half->message);
        }
    }
    for (const auto& [node_id, node] : m_nodes) {
        if (node.announcement && in_range(node.announcement->announcement.timestamp)) {
            out.push_back(node.announcement->message);
        }
    }
    return out;
}

std::vector<WantedChannel> NetworkView::WantedFromReply(const ReplyChannelRangeMessage& reply, uint32_t now) const
{
    if (reply.chain_hash != m_chain_hash) return {};
    const auto& ids = reply.short_channel_ids;
    // Extra arrays of the wrong length say nothing reliable about the ids: ignore them.
    const auto* timestamps = reply.timestamps && reply.timestamps->size() == ids.size() ? &*reply.timestamps : nullptr;
    const auto* checksums = reply.checksums && reply.checksums->size() == ids.size() ? &*reply.checksums : nullptr;
    const uint64_t update_flags[] = {query_flag::kChannelUpdate1, query_flag::kChannelUpdate2};

    std::vector<WantedChannel> wanted;
    for (size_t i = 0; i < ids.size(); ++i) {
        const std::array<uint32_t, 2> theirs =
            timestamps ? std::array{(*timestamps)[i].timestamp_node_id_1, (*timestamps)[i].timestamp_node_id_2}
                       : std::array<uint32_t, 2>{};
        const auto channel = m_channels.find(ids[i]);
        if (channel == m_channels.end()) {
            // A channel without updates or one we would prune at once is not worth fetching.
            if (timestamps) {
                const uint32_t newest = std::max(theirs[0], theirs[1]);
                const uint32_t oldest = std::min(theirs[0], theirs[1]) == 0 ? newest : std::min(theirs[0], theirs[1]);
                if (newest == 0 || TooOld(oldest, now)) continue;
            }
            wanted.push_back(WantedChannel{.short_channel_id = ids[i], .query_flags = kAllQueryFlags});
            continue;
        }
        if (!timestamps) continue;
        uint64_t flags = 0;
        for (const int direction : {0, 1}) {
            const auto& half = channel->second.halves[direction];
            const uint32_t ours = half ? half->update.timestamp : 0;
            if (theirs[direction] <= ours || TooOld(theirs[direction], now)) continue;
            const uint32_t their_checksum = checksums ? (direction == 0 ? (*checksums)[i].checksum_node_id_1
                                                                        : (*checksums)[i].checksum_node_id_2)
                                                      : 0;
            const bool same_content = half && checksums && their_checksum == half->checksum;
            if (same_content && uint64_t{ours} + kGossipRefreshSeconds >= now) continue;
            flags |= update_flags[direction];
        }
        if (flags != 0) wanted.push_back(WantedChannel{.short_channel_id = ids[i], .query_flags = flags});
    }
    return wanted;
}

const ChannelEntry* NetworkView::Channel(ShortChannelId short_channel_id) const
{
    const auto it = m_channels.find(short_channel_id);
    return it == m_channels.end() ? nullptr : &it->second;
}

const NodeEntry* NetworkView::Node(const PubKey& node_id) const
{
    const auto it = m_nodes.find(node_id);
    return it == m_nodes.end() ? nullptr : &it->second;
}

} // namespace sidebolt
