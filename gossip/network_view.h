#ifndef SIDEBOLT_GOSSIP_NETWORK_VIEW_H
#define SIDEBOLT_GOSSIP_NETWORK_VIEW_H

#include "primitives/hash.h"
#include "primitives/key.h"
#include "util/amount.h"
#include "util/bytes.h"
#include "wire/gossip_messages.h"
#include "wire/wire.h"

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sidebolt {

//! BOLT 7 "Recommendation on Pruning Stale Entries": two weeks (1209600 seconds).
inline constexpr uint32_t kGossipStaleSeconds = 1'209'600;
//! BOLT 7 leaves "unreasonably far in the future" to us: more than a day ahead of our clock.
inline constexpr uint32_t kGossipMaxFutureSeconds = 86'400;
//! An update whose content we hold (same checksum) is fetched again once ours is this old, so
//! its newer timestamp keeps the channel from being pruned.
inline constexpr uint32_t kGossipRefreshSeconds = kGossipStaleSeconds / 2;

//! What became of a gossip message given to NetworkView.
enum class GossipOutcome : uint8_t {
    //! New and valid: stored (for CheckChannelAnnouncement: verify the funding output, then
    //! AddChannel). The caller queues it for rebroadcast.
    kAccepted,
    //! The same content is already stored: nothing to do.
    kDuplicate,
    //! Not newer than what we hold: ignored.
    kStale,
    //! About a channel or node not known yet: held until AddChannel brings it.
    kPending,
    //! Well formed and correctly signed, or not checked at all, but not something we keep
    //! (another chain, unknown even feature, timestamp out of range, ...). No warning: an honest
    //! peer may relay it.
    kIgnored,
    //! Invalid (a bad signature, misordered node ids, a conflicting announcement, bad
    //! addresses): the caller SHOULD send the peer a warning.
    kRejected,
};
std::string_view ToString(GossipOutcome outcome);

struct GossipResult {
    GossipOutcome outcome;
    //! Why, for logs and warnings; empty when accepted.
    std::string reason;

    bool operator==(const GossipResult&) const = default;
};

//! The latest channel_update of one direction of a channel.
struct ChannelHalf {
    ChannelUpdateMessage update;
    //! u16 type then the payload as received, relayed verbatim.
    Bytes message;
    //! BOLT 7 checksum (ChannelUpdateChecksum) of the payload, for reply_channel_range.
    uint32_t checksum{0};

    ByteSpan Payload() const { return ByteSpan(message).subspan(2); }
};

struct ChannelEntry {
    ChannelAnnouncementMessage announcement;
    //! u16 type then the payload as received, relayed verbatim.
    Bytes message;
    //! The funding output's value, as the caller found it on chain.
    Sat capacity;
    //! When AddChannel stored it: the age of a direction that never sent an update.
    uint32_t added_at{0};
    //! By the direction bit of channel_flags: [0] from node_id_1, [1] from node_id_2.
    std::array<std::optional<ChannelHalf>, 2> halves;

    ShortChannelId ShortId() const { return announcement.short_channel_id; }
    uint32_t BlockHeight() const { return announcement.short_channel_id.block_height; }
    //! node_id_1 for direction 0, node_id_2 for 1: the origin of that direction's updates.
    const PubKey& NodeId(int direction) const { return direction == 0 ? announcement.node_id_1 : announcement.node_id_2; }
    ByteSpan Payload() const { return ByteSpan(message).subspan(2); }
};

struct StoredNodeAnnouncement {
    NodeAnnouncementMessage announcement;
    //! u16 type then the payload as received.
    Bytes message;
    //! BOLT 7: with unknown even feature bits a node is kept and relayed, but we "MUST NOT
    //! route a payment through the node" (and should not connect or pay to it).
    bool unknown_required_features{false};

    ByteSpan Payload() const { return ByteSpan(message).subspan(2); }
};

//! A node of at least one known channel.
struct NodeEntry {
    std::set<ShortChannelId> channels;
    std::optional<StoredNodeAnnouncement> announcement;
};

//! A channel a reply_channel_range told us about that we want, with the query_short_channel_ids
//! flags (query_flag::*) of what we want of it.
struct WantedChannel {
    ShortChannelId short_channel_id;
    uint64_t query_flags{0};
    bool operator==(const WantedChannel&) const = default;
};

//! Whether signatures are checked: gossip we stored after checking it is loaded back trusted.
enum class GossipCheck : uint8_t { kVerify, kTrusted };

struct NetworkViewLimits {
    //! channel_updates for channels we do not know yet, held until AddChannel (oldest dropped).
    size_t max_pending_updates{4000};
    size_t max_pending_updates_per_channel{4};
    //! Verified node_announcements of nodes without a known channel yet, one per node.
    size_t max_pending_node_announcements{1000};
};

/**
 * The validated gossip of one chain: channels (announcement, capacity, the latest update of each
 * direction) and the nodes at their ends, every message kept as received so it is relayed
 * verbatim. Pure: the caller checks funding outputs against the chain and passes the time.
 * Lookups and updates are O(log n); range queries cost O(log n + k).
 */
class NetworkView
{
public:
    explicit NetworkView(const Hash256& chain_hash, NetworkViewLimits limits = {});

    const Hash256& ChainHash() const { return m_chain_hash; }

    /**
     * Every channel_announcement rule that needs no chain: our chain, node_id_1 < node_id_2,
     * no unknown even feature, the four signatures over `payload` (the received payload that
     * `announcement` was decoded from), and no conflict with a stored announcement of the
     * same short_channel_id. kAccepted means: look up the funding output, then AddChannel.
     */
    GossipResult CheckChannelAnnouncement(const ChannelAnnouncementMessage& announcement, ByteSpan payload) const;

    /**
     * Stores a channel that passed CheckChannelAnnouncement and whose funding output is unspent
     * and worth `capacity`. Held updates and node announcements for it are applied at `now`;
     * the ones accepted are returned (u16 type then payload) for rebroadcast. A channel
     * already stored is left as it is.
     */
    std::vector<Bytes> AddChannel(const ChannelAnnouncementMessage& announcement, ByteSpan payload, Sat capacity,
                                  uint32_t now);

    //! BOLT 7 channel_update receiving rules at time `now` (unix seconds).
    GossipResult ApplyChannelUpdate(const ChannelUpdateMessage& update, ByteSpan payload, uint32_t now,
                                    GossipCheck check = GossipCheck::kVerify);

    //! BOLT 7 node_announcement receiving rules.
    GossipResult ApplyNodeAnnouncement(const NodeAnnouncementMessage& announcement, ByteSpan payload,
                                       GossipCheck check = GossipCheck::kVerify);

    //! Forgets a channel (its funding output was spent) and any node left without a channel.
    bool RemoveChannel(ShortChannelId short_channel_id);

    /**
     * BOLT 7: "if the timestamp of the latest channel_update in either direction is older than
     * two weeks (1209600 seconds): MAY prune the channel". A direction without any update counts
     * from when the channel was added. Returns the removed channels.
     */
    std::vector<ShortChannelId> PruneStale(uint32_t now);

    /**
     * The reply_channel_range sequence answering query_channel_range: whole blocks per reply,
     * each reply's range starting where the previous one ended, from first_blocknum to the
     * query's end (the last with sync_complete = 1, the others 0), each encoding to at most 65535
     * bytes, with timestamps and/or checksums as `query_option` asks. A block with more channels
     * than one reply holds is split over replies that all name just that block.
     */
    std::vector<ReplyChannelRangeMessage> ChannelsInRange(uint32_t first_blocknum, uint32_t number_of_blocks,
                                                          std::optional<uint64_t> query_option = std::nullopt) const;

    /**
     * The messages (u16 type then payload) answering one query_short_channel_ids entry:
     * announcement, update of node 1, update of node 2, node announcement 1, node announcement
     * 2, as `query_flags` (query_flag::*) asks; nullopt (no encoded_query_flags) asks for all.
     */
    std::vector<Bytes> MessagesFor(ShortChannelId short_channel_id, std::optional<uint64_t> query_flags) const;
    //! The whole answer to a query_short_channel_ids: the entries in order, each
    //! node_announcement once ("SHOULD avoid sending duplicate node_announcements").
    std::vector<Bytes> MessagesForQuery(const QueryShortChannelIdsMessage& query) const;

    /**
     * gossip_timestamp_filter: the messages whose timestamp is in [first_timestamp,
     * first_timestamp + timestamp_range). A channel_announcement goes when one of its updates
     * does, right before them; node announcements follow all channel messages.
     */
    std::vector<Bytes> MessagesSince(uint32_t first_timestamp, uint32_t timestamp_range) const;

    /**
     * The querying side: the channels of a reply_channel_range we lack (all flags), or whose
     * updates are newer than ours (update flags), to ask for with query_short_channel_ids.
     * Skips what would be pruned at `now` at once, and, when checksums came, updates whose
     * content we hold unless ours is older than kGossipRefreshSeconds. Nothing for another chain.
     */
    std::vector<WantedChannel> WantedFromReply(const ReplyChannelRangeMessage& reply, uint32_t now) const;

    size_t ChannelCount() const { return m_channels.size(); }
    size_t NodeCount() const { return m_nodes.size(); }
    size_t PendingUpdateCount() const { return m_pending_updates.size(); }
    size_t PendingNodeAnnouncementCount() const { return m_pending_nodes.size(); }

    //! nullptr when unknown.
    const ChannelEntry* Channel(ShortChannelId short_channel_id) const;
    const NodeEntry* Node(const PubKey& node_id) const;
    //! In short_channel_id (block height) order, for listgraphchannels.
    const std::map<ShortChannelId, ChannelEntry>& Channels() const { return m_channels; }
    //! Every node of a known channel, announced or not, for listnodes.
    const std::map<PubKey, NodeEntry>& Nodes() const { return m_nodes; }

private:
    struct PendingUpdate {
        ChannelUpdateMessage update;
        Bytes payload;
    };
    struct PendingNode {
        NodeAnnouncementMessage announcement;
        Bytes payload;
        uint64_t sequence{0};
    };

    GossipResult HoldUpdate(const ChannelUpdateMessage& update, ByteSpan payload);
    void DropPendingUpdate(uint64_t sequence);
    std::vector<PendingUpdate> TakePendingUpdates(ShortChannelId short_channel_id);
    GossipResult HoldNodeAnnouncement(const NodeAnnouncementMessage& announcement, ByteSpan payload);
    void AppendChannelMessages(const ChannelEntry& channel, uint64_t flags, std::set<PubKey>& nodes_sent,
                               std::vector<Bytes>& out) const;

    Hash256 m_chain_hash;
    NetworkViewLimits m_limits;
    std::map<ShortChannelId, ChannelEntry> m_channels;
    std::map<PubKey, NodeEntry> m_nodes;
    //! Held channel_updates by arrival, so the oldest is dropped first, and their index by channel.
    std::map<uint64_t, PendingUpdate> m_pending_updates;
    std::multimap<ShortChannelId, uint64_t> m_pending_by_channel;
    //! Held node_announcements by node, and by arrival.
    std::map<PubKey, PendingNode> m_pending_nodes;
    std::map<uint64_t, PubKey> m_pending_node_order;
    uint64_t m_next_sequence{0};
};

} // namespace sidebolt

#endif
