#ifndef SIDEBOLT_PAY_GRAPH_H
#define SIDEBOLT_PAY_GRAPH_H

#include "pay/route.h"
#include "primitives/key.h"
#include "util/amount.h"
#include "wire/gossip_messages.h"
#include "wire/wire.h"

#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

namespace sidebolt {

//! BOLT 7 channel_update direction bit: 0 forwards node_1 -> node_2, 1 forwards node_2 -> node_1.
using ChannelDirection = uint8_t;

//! The forwarding terms a channel_update states for its direction.
ForwardPolicy PolicyOf(const ChannelUpdateMessage& update);

/**
 * The public network as the router sees it (BOLT 7 channel_announcement and channel_update).
 *
 * Laid out for the search: each node owns a contiguous vector of the half-channels it forwards
 * over (its own policy, the far end, the capacity), so walking a node's edges reads one block of
 * memory and touches no PubKey or hash map. Nodes and channels are addressed by 32-bit indices;
 * freed slots are reused, so indices stay small as channels close.
 */
class RoutingGraph
{
public:
    using NodeIndex = uint32_t;
    using ChannelIndex = uint32_t;
    static constexpr uint32_t kNoIndex = std::numeric_limits<uint32_t>::max();

    //! One direction of a channel, stored with the node that forwards over it (48 bytes).
    struct HalfChannel {
        uint64_t htlc_minimum_msat{0};
        uint64_t htlc_maximum_msat{0};
        //! The channel's; zero when unknown (no funding output looked up).
        Sat capacity;
        uint32_t fee_base_msat{0};
        uint32_t fee_proportional_millionths{0};
        //! The far end: this half forwards from the owning node to `to`.
        NodeIndex to{kNoIndex};
        ChannelIndex channel{kNoIndex};
        uint16_t cltv_expiry_delta{0};
        bool has_policy{false};
        bool disabled{false};
        ChannelDirection direction{0};

        //! Announced and not disabled (BOLT 7: the disable bit "indicates ... temporarily unavailable").
        bool Usable() const { return has_policy && !disabled; }
        ForwardPolicy Policy() const;
    };

    struct Channel {
        uint64_t scid{0}; //!< ShortChannelId::ToU64
        Sat capacity;
        //! node_1 < node_2; kNoIndex in both for a free slot.
        std::array<NodeIndex, 2> nodes{kNoIndex, kNoIndex};
        //! Where direction d's half sits in nodes[d]'s vector (see Half).
        std::array<uint32_t, 2> slots{kNoIndex, kNoIndex};

        bool Live() const { return nodes[0] != kNoIndex; }
        ShortChannelId Scid() const { return ShortChannelId::FromU64(scid); }
    };

    /**
     * False when the channel exists already, when node_1 is not below node_2 (BOLT 7: "node_id_1
     * is the numerically-lesser of the two DER-encoded keys") or when scid does not survive the
     * 8-byte wire encoding.
     */
    bool AddChannel(ShortChannelId scid, const PubKey& node_1, const PubKey& node_2, Sat capacity);
    /**
     * The channel_update for one direction. False for an unknown channel, a direction above 1 or a
     * fee_base_msat beyond channel_update's u32 field.
     */
    bool SetPolicy(ShortChannelId scid, ChannelDirection direction, const ForwardPolicy& policy, bool disabled);
    //! False when the channel is unknown. A node left without channels is forgotten.
    bool RemoveChannel(ShortChannelId scid);

    bool HasChannel(ShortChannelId scid) const { return FindChannelIndex(scid).has_value(); }
    bool HasNode(const PubKey& node) const { return FindNode(node).has_value(); }
    std::optional<ChannelIndex> FindChannelIndex(ShortChannelId scid) const;
    //! nullptr when unknown; valid until the next AddChannel or RemoveChannel.
    const Channel* FindChannel(ShortChannelId scid) const;
    std::optional<NodeIndex> FindNode(const PubKey& node) const;
    //! The announced policy of `from` over the channel (disabled or not); nullopt when none.
    std::optional<ForwardPolicy> PolicyFrom(ShortChannelId scid, const PubKey& from) const;

    size_t NodeCount() const { return m_node_index.size(); }
    size_t ChannelCount() const { return m_channel_index.size(); }

    // Index-based access for the search. Slots may be free (Channel::Live, NodeKey nullopt).
    size_t NodeSlots() const { return m_node_keys.size(); }
    size_t ChannelSlots() const { return m_channels.size(); }
    const std::optional<PubKey>& NodeKey(NodeIndex node) const { return m_node_keys[node]; }
    const Channel& GetChannel(ChannelIndex channel) const { return m_channels[channel]; }
    //! Direction d of a live channel: nodes[d] forwarding to the other end.
    const HalfChannel& Half(const Channel& channel, ChannelDirection direction) const
    {
        return m_out[channel.nodes[direction]][channel.slots[direction]];
    }
    //! The halves node forwards over, one per channel of node. Their reverses lead into node.
    std::span<const HalfChannel> HalvesOutOf(NodeIndex node) const { return m_out[node]; }

    /**
     * The largest htlc_minimum_msat among announced directions that is at most limit (0 if none).
     * The search needs it to know below which amount a cheaper label may not replace a costlier one.
     */
    uint64_t LargestHtlcMinimumUpTo(uint64_t limit) const;

    //! Heap bytes held by the graph's containers (capacities, hash nodes and buckets), an estimate.
    size_t MemoryUsage() const;

private:
    struct PubKeyHasher {
        size_t operator()(const PubKey& key) const;
    };

    NodeIndex AddNode(const PubKey& node);
    void DetachHalf(ChannelIndex channel, ChannelDirection direction);
    void CountHtlcMinimum(const HalfChannel& half, int change);

    std::vector<Channel> m_channels;
    std::vector<ChannelIndex> m_free_channels;
    std::unordered_map<uint64_t, ChannelIndex> m_channel_index;

    std::vector<std::optional<PubKey>> m_node_keys;
    std::vector<std::vector<HalfChannel>> m_out;
    std::vector<NodeIndex> m_free_nodes;
    std::unordered_map<PubKey, NodeIndex, PubKeyHasher> m_node_index;

    //! htlc_minimum_msat value -> how many announced directions use it (a handful of distinct values).
    std::map<uint64_t, uint32_t> m_htlc_minimum_counts;
};

} // namespace sidebolt

#endif
