#include "pay/graph.h"

#include <algorithm>
#include <cstring>
#include <iterator>

namespace sidebolt {

namespace {

//! An unordered_map entry: key, value, next pointer and cached hash, rounded to malloc's 16 bytes.
template <typename Key, typename Value>
constexpr size_t HashNodeBytes()
{
    return (sizeof(Key) + sizeof(Value) + 2 * sizeof(void*) + 15) / 16 * 16;
}

template <typename Map>
size_t HashMapBytes(const Map& map)
{
    return map.bucket_count() * sizeof(void*) + map.size() * HashNodeBytes<typename Map::key_type, typename Map::mapped_type>();
}

} // namespace

ForwardPolicy PolicyOf(const ChannelUpdateMessage& update)
{
    ForwardPolicy policy;
    policy.fee_base_msat = Msat{update.fee_base_msat};
    policy.fee_proportional_millionths = update.fee_proportional_millionths;
    policy.cltv_expiry_delta = update.cltv_expiry_delta;
    policy.htlc_minimum_msat = update.htlc_minimum_msat;
    policy.htlc_maximum_msat = update.htlc_maximum_msat;
    return policy;
}

ForwardPolicy RoutingGraph::HalfChannel::Policy() const
{
    ForwardPolicy policy;
    policy.fee_base_msat = Msat{fee_base_msat};
    policy.fee_proportional_millionths = fee_proportional_millionths;
    policy.cltv_expiry_delta = cltv_expiry_delta;
    policy.htlc_minimum_msat = Msat{htlc_minimum_msat};
    policy.htlc_maximum_msat = Msat{htlc_maximum_msat};
    return policy;
}

size_t RoutingGraph::PubKeyHasher::operator()(const PubKey& key) const
{
    // The x coordinate after the parity byte is uniformly distributed already.
    uint64_t bits;
    std::memcpy(&bits, key.Bytes33().data() + 1, sizeof(bits));
    return static_cast<size_t>(bits);
}

bool RoutingGraph::AddChannel(ShortChannelId scid, const PubKey& node_1, const PubKey& node_2, Sat capacity)
{
    const uint64_t key = scid.ToU64();
    if (!(node_1 < node_2) || ShortChannelId::FromU64(key) != scid || m_channel_index.contains(key)) return false;

    ChannelIndex index;
    if (m_free_channels.empty()) {
        index = static_cast<ChannelIndex>(m_channels.size());
        m_channels.emplace_back();
    } else {
        index = m_free_channels.back();
        m_free_channels.pop_back();
    }
    Channel& channel = m_channels[index];
    channel.scid = key;
    channel.capacity = capacity;
    channel.nodes = {AddNode(node_1), AddNode(node_2)};
    for (ChannelDirection direction = 0; direction < 2; ++direction) {
        HalfChannel half;
        half.capacity = capacity;
        half.to = channel.nodes[1 - direction];
        half.channel = index;
        half.direction = direction;
        auto& halves = m_out[channel.nodes[direction]];
        channel.slots[direction] = static_cast<uint32_t>(halves.size());
        halves.push_back(half);
    }
    m_channel_index.emplace(key, index);
    return true;
}

bool RoutingGraph::SetPolicy(ShortChannelId scid, ChannelDirection direction, const ForwardPolicy& policy, bool disabled)
{
    // BOLT 7 channel_update carries "u32:fee_base_msat"; anything larger is not from the wire.
    if (direction > 1 || policy.fee_base_msat.value() > std::numeric_limits<uint32_t>::max()) return false;
    const auto index = FindChannelIndex(scid);
    if (!index) return false;

    const Channel& channel = m_channels[*index];
    HalfChannel& half = m_out[channel.nodes[direction]][channel.slots[direction]];
    CountHtlcMinimum(half, -1);
    half.htlc_minimum_msat = policy.htlc_minimum_msat.value();
    half.htlc_maximum_msat = policy.htlc_maximum_msat.value();
    half.fee_base_msat = static_cast<uint32_t>(policy.fee_base_msat.value());
    half.fee_proportional_millionths = policy.fee_proportional_millionths;
    half.cltv_expiry_delta = policy.cltv_expiry_delta;
    half.has_policy = true;
    half.disabled = disabled;
    CountHtlcMinimum(half, +1);
    return true;
}

bool RoutingGraph::RemoveChannel(ShortChannelId scid)
{
    const auto found = m_channel_index.find(scid.ToU64());
    if (found == m_channel_index.end() || ShortChannelId::FromU64(found->first) != scid) return false;
    const ChannelIndex index = found->second;
    m_channel_index.erase(found);

    for (ChannelDirection direction = 0; direction < 2; ++direction) DetachHalf(index, direction);
    m_channels[index] = Channel{};
    m_free_channels.push_back(index);
    return true;
}

std::optional<RoutingGraph::ChannelIndex> RoutingGraph::FindChannelIndex(ShortChannelId scid) const
{
    const uint64_t key = scid.ToU64();
    if (ShortChannelId::FromU64(key) != scid) return std::nullopt;
    const auto found = m_channel_index.find(key);
    if (found == m_channel_index.end()) return std::nullopt;
    return found->second;
}

const RoutingGraph::Channel* RoutingGraph::FindChannel(ShortChannelId scid) const
{
    const auto index = FindChannelIndex(scid);
    return index ? &m_channels[*index] : nullptr;
}

std::optional<ForwardPolicy> RoutingGraph::PolicyFrom(ShortChannelId scid, const PubKey& from) const
{
    const Channel* channel = FindChannel(scid);
    const auto node = FindNode(from);
    if (channel == nullptr || !node) return std::nullopt;
    for (const ChannelDirection direction : {ChannelDirection{0}, ChannelDirection{1}}) {
        if (channel->nodes[direction] != *node) continue;
        const HalfChannel& half = Half(*channel, direction);
        if (half.has_policy) return half.Policy();
    }
    return std::nullopt;
}

std::optional<RoutingGraph::NodeIndex> RoutingGraph::FindNode(const PubKey& node) const
{
    const auto found = m_node_index.find(node);
    if (found == m_node_index.end()) return std::nullopt;
    return found->second;
}

uint64_t RoutingGraph::LargestHtlcMinimumUpTo(uint64_t limit) const
{
    auto above = m_htlc_minimum_counts.upper_bound(limit);
    if (above == m_htlc_minimum_counts.begin()) return 0;
    return std::prev(above)->first;
}

size_t RoutingGraph::MemoryUsage() const
{
    size_t bytes = m_channels.capacity() * sizeof(Channel) + m_free_channels.capacity() * sizeof(ChannelIndex) +
                   HashMapBytes(m_channel_index) + m_node_keys.capacity() * sizeof(std::optional<PubKey>) +
                   m_out.capacity() * sizeof(std::vector<HalfChannel>) + m_free_nodes.capacity() * sizeof(NodeIndex) +
                   HashMapBytes(m_node_index);
    for (const auto& halves : m_out) bytes += halves.capacity() * sizeof(HalfChannel);
    // std::map nodes: three pointers, a colour and the pair.
    bytes += m_htlc_minimum_counts.size() * (4 * sizeof(void*) + sizeof(std::pair<uint64_t, uint32_t>));
    return bytes;
}

RoutingGraph::NodeIndex RoutingGraph::AddNode(const PubKey& node)
{
    const auto found = m_node_index.find(node);
    if (found != m_node_index.end()) return found->second;
    NodeIndex index;
    if (m_free_nodes.empty()) {
        index = static_cast<NodeIndex>(m_node_keys.size());
        m_node_keys.emplace_back(node);
        m_out.emplace_back();
    } else {
        index = m_free_nodes.back();
        m_free_nodes.pop_back();
        m_node_keys[index] = node;
    }
    m_node_index.emplace(node, index);
    return index;
}

void RoutingGraph::DetachHalf(ChannelIndex index, ChannelDirection direction)
{
    const Channel& channel = m_channels[index];
    const NodeIndex node = channel.nodes[direction];
    auto& halves = m_out[node];
    const uint32_t slot = channel.slots[direction];
    CountHtlcMinimum(halves[slot], -1);
    // Swap with the last half, whose channel must learn its new slot.
    if (slot + 1 != halves.size()) {
        halves[slot] = halves.back();
        m_channels[halves[slot].channel].slots[halves[slot].direction] = slot;
    }
    halves.pop_back();
    if (!halves.empty()) return;
    // A node exists in BOLT 7 only through its channels: forget it and reuse its slot.
    m_node_index.erase(*m_node_keys[node]);
    m_node_keys[node].reset();
    halves.shrink_to_fit();
    m_free_nodes.push_back(node);
}

void RoutingGraph::CountHtlcMinimum(const HalfChannel& half, int change)
{
    if (!half.has_policy) return;
    if (change > 0) {
        ++m_htlc_minimum_counts[half.htlc_minimum_msat];
        return;
    }
    const auto found = m_htlc_minimum_counts.find(half.htlc_minimum_msat);
    if (found != m_htlc_minimum_counts.end() && --found->second == 0) m_htlc_minimum_counts.erase(found);
}

} // namespace sidebolt
