#include "pay/pathfind.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <queue>
#include <utility>

namespace sidebolt {

namespace {

__extension__ using U128 = unsigned __int128;

constexpr uint32_t kNone = std::numeric_limits<uint32_t>::max();
constexpr uint64_t kMaxU64 = std::numeric_limits<uint64_t>::max();
//! Labels kept per node; beyond it the costliest goes. Real graphs stay far below it.
constexpr uint16_t kMaxLabelsPerNode = 32;
//! The forward pass for the cost bound settles at most this share of the nodes (1/32): a small
//! ball around the source and the guided search from the target meet at a fraction of the work
//! of either alone.
constexpr size_t kForwardShare = 32;
//! ...but at least a few, so that small graphs get real bounds as well.
constexpr size_t kMinForwardSettled = 4;

uint64_t SaturatingAdd(uint64_t a, uint64_t b) { return a > kMaxU64 - b ? kMaxU64 : a + b; }

//! (scid, direction) -> msat that earlier parts of a multi-part payment already put there.
using InFlight = std::map<std::pair<uint64_t, ChannelDirection>, uint64_t>;

uint64_t InFlightAt(const InFlight* in_flight, uint64_t scid, ChannelDirection direction)
{
    if (in_flight == nullptr || in_flight->empty()) return 0;
    const auto found = in_flight->find({scid, direction});
    return found == in_flight->end() ? 0 : found->second;
}

uint64_t CapacityMsat(Sat capacity) { return capacity.value() > kMaxU64 / 1000 ? kMaxU64 : capacity.value() * 1000; }

/**
 * What multi-part splitting may put on a channel direction, from what the scorer learned. After a
 * failure the liquidity lies between the learned bounds: cautious, a part is sized at their middle
 * (as likely to pass as not), where one at the top fails again and teaches a single msat.
 */
struct LiquidityCeiling {
    const PaymentScorer* scorer;
    uint64_t now;
    bool cautious;

    //! capacity_msat 0: unknown. kMaxU64 when nothing bounds it.
    uint64_t At(ShortChannelId scid, ChannelDirection direction, uint64_t capacity_msat) const
    {
        if (scorer == nullptr) return kMaxU64;
        const auto bounds = scorer->LearnedBounds(scid, direction, Msat{capacity_msat}, now);
        if (!bounds.has_max) return kMaxU64;
        if (!cautious || bounds.max < bounds.min) return bounds.max.value();
        return bounds.min.value() + (bounds.max.value() - bounds.min.value()) / 2;
    }
};

//! BOLT 7: "node_id_1 is the numerically-lesser", so the direction bit follows key order.
ChannelDirection DirectionBetween(const PubKey& from, const PubKey& to) { return from < to ? 0 : 1; }

//! The direction a path's edge `i` is crossed in.
ChannelDirection DirectionAt(const PathRequest& request, const std::vector<PathEdge>& path, size_t i)
{
    return DirectionBetween(i == 0 ? request.source : path[i - 1].node_id, path[i].node_id);
}

//! An announced channel's capacity in msat; 0 when it is not in the graph or its capacity unknown.
uint64_t KnownCapacityMsat(const RoutingGraph& graph, ShortChannelId scid)
{
    const RoutingGraph::Channel* channel = graph.FindChannel(scid);
    return channel == nullptr ? 0 : CapacityMsat(channel->capacity);
}

//! A channel of the request rather than the graph: one of our first hops or a route hint's.
struct ExtraEdge {
    uint32_t from{kNone};
    uint32_t to{kNone};
    uint32_t next_into{kNone}; //!< the next extra edge into `to`
    uint32_t next_out{kNone};  //!< the next extra edge out of `from`
    ShortChannelId short_channel_id;
    uint64_t scid{0}; //!< short_channel_id packed, as the graph keys channels
    ChannelDirection direction{0};
    bool first_hop{false};
    //! Spendable for a first hop; unknown (the maximum) for a hint.
    uint64_t liquidity_msat{kMaxU64};
    ForwardPolicy policy;
};

//! One way from a node to the target. The edge leaves `node` toward the node of label `next`.
struct Label {
    uint64_t amount{0};   //!< msat the HTLC arriving at node must carry
    uint64_t cost{0};     //!< CostWeights from node to the target
    uint32_t node{kNone};
    uint32_t next{kNone}; //!< the label downstream; kNone at the target
    uint32_t edge{kNone}; //!< graph channel index, or extra edge index when extra
    uint32_t cltv{0};     //!< sum of cltv_expiry_delta charged between node and the target
    uint32_t sibling{kNone};
    uint8_t hops{0};      //!< channels between node and the target
    ChannelDirection direction{0};
    bool extra{false};
    bool dead{false};
};

struct NodeState {
    uint32_t labels{kNone};     //!< live labels, linked through Label::sibling
    uint32_t extra_into{kNone}; //!< extra edges into this node, linked through ExtraEdge::next_into
    uint32_t extra_out{kNone};  //!< extra edges out of this node, linked through ExtraEdge::next_out
    uint16_t label_count{0};
    bool excluded{false};
    bool ever_labeled{false};
};

//! Lower bounds on what a path needs from the source to a node (SetCostBounds, SetLimitBounds).
struct Bounds {
    uint64_t cost{kMaxU64}; //!< kMaxU64: the source cannot reach the node (or the target)
    uint64_t fee{0};
    uint64_t cltv{0};
    uint64_t hops{1};
};

//! One channel direction the search may use.
struct Candidate {
    uint32_t from;
    uint32_t to;
    uint32_t edge; //!< graph channel index, or extra edge index when extra
    bool extra;
    bool first_hop;
    ChannelDirection direction;
    uint64_t fee_base_msat;
    uint32_t fee_proportional_millionths;
    uint16_t cltv_expiry_delta;
    uint64_t htlc_minimum_msat;
    uint64_t htlc_maximum_msat;
    //! The most the channel can carry: capacity or spendable, minus what is in flight.
    uint64_t limit_msat;
    //! For the scorer: the channel's capacity (0 unknown).
    uint64_t capacity_msat;
};

//! BOLT 7 fee of the edge's forwarding node on amount (nullopt on overflow).
std::optional<Msat> EdgeFee(const Candidate& edge, Msat amount)
{
    ForwardPolicy policy;
    policy.fee_base_msat = Msat{edge.fee_base_msat};
    policy.fee_proportional_millionths = edge.fee_proportional_millionths;
    return CheckedForwardingFee(policy, amount);
}

class Search
{
public:
    //! in_flight and ceiling: multi-part splitting's (null for a single path).
    Search(const RoutingGraph& graph, const PathRequest& request, const PaymentScorer* scorer, uint64_t now,
           const InFlight* in_flight, const LiquidityCeiling* ceiling = nullptr)
        : m_graph(graph), m_request(request), m_scorer(scorer), m_now(now), m_in_flight(in_flight), m_ceiling(ceiling),
          m_graph_slots(static_cast<uint32_t>(graph.NodeSlots())),
          m_max_amount(SaturatingAdd(request.amount.value(), request.max_fee.value())),
          m_max_hops(std::min(request.max_hops, kMaxPathHops))
    {
    }

    Expected<FoundPath, PathfindError> Run();

private:
    uint32_t NodeFor(const PubKey& key);
    const PubKey& KeyOf(uint32_t node) const;
    void AddExtraEdges();
    void PrepareNodes();
    uint64_t ScidOf(const Candidate& edge) const;
    uint64_t InFlightOver(const Candidate& edge) const;
    bool Excluded(const Candidate& edge) const;
    Candidate GraphCandidate(uint32_t from, const RoutingGraph::HalfChannel& half) const;
    Candidate ExtraCandidate(uint32_t index) const;
    template <typename Visit>
    void ForEachEdgeInto(uint32_t node, Visit visit) const;
    template <typename Visit>
    void ForEachEdgeOutOf(uint32_t node, Visit visit) const;
    bool MayCarry(const Candidate& edge) const;
    template <typename Weight>
    void ShortestFromSource(Weight weight, uint64_t Bounds::*field, size_t max_settled);
    void SetCostBounds();
    void SetLimitBounds();
    std::optional<Expected<FoundPath, PathfindError>> SearchBackward(size_t budget);
    void Expand(uint32_t label_index);
    void Relax(uint32_t label_index, const Candidate& candidate);
    bool OnChain(uint32_t label_index, uint32_t node) const;
    bool Dominates(const Label& a, const Label& b) const;
    void Insert(const Label& label);
    void Unlink(uint32_t node, uint32_t label_index);
    FoundPath Reconstruct(uint32_t label_index) const;

    const RoutingGraph& m_graph;
    const PathRequest& m_request;
    const PaymentScorer* m_scorer;
    const uint64_t m_now;
    const InFlight* m_in_flight;
    const LiquidityCeiling* m_ceiling;
    const uint32_t m_graph_slots;
    const uint64_t m_max_amount;
    const size_t m_max_hops;

    uint32_t m_source{kNone};
    uint32_t m_target{kNone};
    //! Below this amount a label may hit an htlc_minimum_msat upstream that a larger one passes.
    uint64_t m_htlc_minimum_bound{0};
    std::vector<PubKey> m_extra_keys;
    std::vector<ExtraEdge> m_extra_edges;
    std::vector<std::pair<uint64_t, ChannelDirection>> m_excluded_channels;
    std::vector<NodeState> m_nodes;
    std::vector<Bounds> m_bounds;
    std::vector<Label> m_labels;
    std::priority_queue<std::pair<uint64_t, uint32_t>, std::vector<std::pair<uint64_t, uint32_t>>, std::greater<>> m_queue;
};

uint32_t Search::NodeFor(const PubKey& key)
{
    if (const auto index = m_graph.FindNode(key)) return *index;
    for (size_t i = 0; i < m_extra_keys.size(); ++i) {
        if (m_extra_keys[i] == key) return m_graph_slots + static_cast<uint32_t>(i);
    }
    m_extra_keys.push_back(key);
    return m_graph_slots + static_cast<uint32_t>(m_extra_keys.size() - 1);
}

const PubKey& Search::KeyOf(uint32_t node) const
{
    return node < m_graph_slots ? *m_graph.NodeKey(node) : m_extra_keys[node - m_graph_slots];
}

void Search::AddExtraEdges()
{
    for (const LocalChannel& channel : m_request.first_hops) {
        if (channel.spendable_msat == Msat{0}) continue;
        ExtraEdge edge;
        edge.from = m_source;
        edge.to = NodeFor(channel.peer_id);
        edge.short_channel_id = channel.short_channel_id;
        edge.scid = channel.short_channel_id.ToU64();
        edge.direction = DirectionBetween(m_request.source, channel.peer_id);
        edge.first_hop = true;
        const uint64_t used = InFlightAt(m_in_flight, edge.scid, edge.direction);
        edge.liquidity_msat = channel.spendable_msat.value() - std::min(used, channel.spendable_msat.value());
        edge.policy = channel.limits;
        m_extra_edges.push_back(edge);
    }
    for (const auto& hint : m_request.route_hints) {
        // The hint's path, from our side: its first edge is ours and is dropped here.
        const LocalChannel placeholder{m_request.source, ShortChannelId{}, Msat{0}, ForwardPolicy{}};
        const std::vector<PathEdge> path = PathThroughHint(placeholder, hint, m_request.target);
        for (size_t j = 1; j < path.size(); ++j) {
            const PubKey& from = hint[j - 1].node_id;
            ExtraEdge edge;
            edge.from = NodeFor(from);
            edge.to = NodeFor(path[j].node_id);
            if (edge.from == edge.to) continue;
            edge.short_channel_id = path[j].short_channel_id;
            edge.scid = path[j].short_channel_id.ToU64();
            edge.direction = DirectionBetween(from, path[j].node_id);
            edge.policy = path[j].policy;
            // A hint may name a public channel: then its capacity is known.
            if (const RoutingGraph::Channel* known = m_graph.FindChannel(path[j].short_channel_id)) {
                if (known->capacity > Sat{0}) {
                    const uint64_t capacity = CapacityMsat(known->capacity);
                    edge.liquidity_msat = capacity - std::min(capacity, InFlightAt(m_in_flight, edge.scid, edge.direction));
                }
            }
            m_extra_edges.push_back(edge);
        }
    }
}

void Search::PrepareNodes()
{
    m_nodes.assign(m_graph_slots + m_extra_keys.size(), NodeState{});
    for (uint32_t i = 0; i < m_extra_edges.size(); ++i) {
        ExtraEdge& edge = m_extra_edges[i];
        edge.next_into = m_nodes[edge.to].extra_into;
        m_nodes[edge.to].extra_into = i;
        edge.next_out = m_nodes[edge.from].extra_out;
        m_nodes[edge.from].extra_out = i;
        const uint64_t minimum = edge.policy.htlc_minimum_msat.value();
        if (minimum <= m_max_amount) m_htlc_minimum_bound = std::max(m_htlc_minimum_bound, minimum);
    }
    m_htlc_minimum_bound = std::max(m_htlc_minimum_bound, m_graph.LargestHtlcMinimumUpTo(m_max_amount));
    for (const PubKey& key : m_request.excluded_nodes) {
        const auto index = m_graph.FindNode(key);
        if (index && *index != m_source && *index != m_target) m_nodes[*index].excluded = true;
        for (size_t i = 0; i < m_extra_keys.size(); ++i) {
            const auto extra = m_graph_slots + static_cast<uint32_t>(i);
            if (m_extra_keys[i] == key && extra != m_source && extra != m_target) m_nodes[extra].excluded = true;
        }
    }
    for (const ExcludedChannel& excluded : m_request.excluded_channels) {
        m_excluded_channels.emplace_back(excluded.short_channel_id.ToU64(), excluded.direction);
    }
    std::sort(m_excluded_channels.begin(), m_excluded_channels.end());
}

// The scid lives in the channel record, away from the node's halves: read it only when needed.
uint64_t Search::ScidOf(const Candidate& edge) const
{
    return edge.extra ? m_extra_edges[edge.edge].scid : m_graph.GetChannel(edge.edge).scid;
}

uint64_t Search::InFlightOver(const Candidate& edge) const
{
    if (m_in_flight == nullptr || m_in_flight->empty()) return 0;
    return InFlightAt(m_in_flight, ScidOf(edge), edge.direction);
}

bool Search::Excluded(const Candidate& edge) const
{
    return !m_excluded_channels.empty() && std::binary_search(m_excluded_channels.begin(), m_excluded_channels.end(),
                                                              std::make_pair(ScidOf(edge), edge.direction));
}

Expected<FoundPath, PathfindError> Search::Run()
{
    if (m_request.amount == Msat{0}) return PathfindError::ZERO_AMOUNT;
    if (m_request.source == m_request.target) return PathfindError::SOURCE_IS_TARGET;
    m_source = NodeFor(m_request.source);
    m_target = NodeFor(m_request.target);
    AddExtraEdges();
    PrepareNodes();
    SetCostBounds();
    if (m_bounds[m_target].cost == kMaxU64) return PathfindError::NO_PATH;
    // Usually the cost bound leads straight to the source. When labels pile up instead (limits
    // that bind, or no path within them), bounds for the limits prune them: search again.
    if (auto result = SearchBackward(m_nodes.size())) return std::move(*result);
    SetLimitBounds();
    return std::move(*SearchBackward(std::numeric_limits<size_t>::max()));
}

//! The search proper, from the target back to the source; nullopt after budget expansions.
std::optional<Expected<FoundPath, PathfindError>> Search::SearchBackward(size_t budget)
{
    m_labels.clear();
    m_queue = {};
    for (NodeState& state : m_nodes) {
        state.labels = kNone;
        state.label_count = 0;
        state.ever_labeled = false;
    }
    Label start;
    start.amount = m_request.amount.value();
    start.node = m_target;
    Insert(start);
    for (size_t expanded = 0; !m_queue.empty();) {
        const uint32_t index = m_queue.top().second;
        m_queue.pop();
        if (m_labels[index].dead) continue;
        // Labels come out by cost plus a lower bound on the cost still to come, which never
        // overestimates and never drops along an edge: the first complete path is the cheapest.
        if (m_labels[index].node == m_source) return Reconstruct(index);
        if (expanded++ == budget) return std::nullopt;
        Expand(index);
    }
    return PathfindError::NO_PATH;
}

Candidate Search::GraphCandidate(uint32_t from, const RoutingGraph::HalfChannel& half) const
{
    const uint64_t capacity = half.capacity == Sat{0} ? 0 : CapacityMsat(half.capacity);
    Candidate edge{from, half.to, half.channel, false, false, half.direction, half.fee_base_msat,
                   half.fee_proportional_millionths, half.cltv_expiry_delta, half.htlc_minimum_msat,
                   half.htlc_maximum_msat, capacity == 0 ? kMaxU64 : capacity, capacity};
    if (m_ceiling != nullptr) {
        edge.limit_msat = std::min(edge.limit_msat, m_ceiling->At(ShortChannelId::FromU64(ScidOf(edge)), edge.direction, capacity));
    }
    if (edge.limit_msat != kMaxU64) edge.limit_msat -= std::min(InFlightOver(edge), edge.limit_msat);
    return edge;
}

Candidate Search::ExtraCandidate(uint32_t index) const
{
    const ExtraEdge& edge = m_extra_edges[index];
    const ForwardPolicy& policy = edge.policy;
    return {edge.from, edge.to, index, true, edge.first_hop, edge.direction, policy.fee_base_msat.value(),
            policy.fee_proportional_millionths, policy.cltv_expiry_delta, policy.htlc_minimum_msat.value(),
            policy.htlc_maximum_msat.value(), edge.liquidity_msat, 0};
}

template <typename Visit>
void Search::ForEachEdgeInto(uint32_t node, Visit visit) const
{
    if (node < m_graph_slots) {
        // node's own halves lead out of it; their reverses lead in.
        for (const RoutingGraph::HalfChannel& out : m_graph.HalvesOutOf(node)) {
            const RoutingGraph::HalfChannel& in = m_graph.Half(m_graph.GetChannel(out.channel), 1 - out.direction);
            // Our first hops, when given, replace the graph's channels out of the source.
            if (!in.Usable() || (out.to == m_source && !m_request.first_hops.empty())) continue;
            visit(GraphCandidate(out.to, in));
        }
    }
    for (uint32_t i = m_nodes[node].extra_into; i != kNone; i = m_extra_edges[i].next_into) visit(ExtraCandidate(i));
}

template <typename Visit>
void Search::ForEachEdgeOutOf(uint32_t node, Visit visit) const
{
    if (node < m_graph_slots && (node != m_source || m_request.first_hops.empty())) {
        for (const RoutingGraph::HalfChannel& out : m_graph.HalvesOutOf(node)) {
            if (out.Usable()) visit(GraphCandidate(node, out));
        }
    }
    for (uint32_t i = m_nodes[node].extra_out; i != kNone; i = m_extra_edges[i].next_out) visit(ExtraCandidate(i));
}

//! Whether the edge can carry some amount between the payment and the payment plus max_fee.
bool Search::MayCarry(const Candidate& edge) const
{
    const uint64_t amount = m_request.amount.value();
    return edge.htlc_maximum_msat >= amount && edge.limit_msat >= amount && edge.htlc_minimum_msat <= m_max_amount &&
           edge.to != m_source && edge.from != m_target && !m_nodes[edge.from].excluded && !m_nodes[edge.to].excluded &&
           !Excluded(edge);
}

/**
 * Dijkstra forward from the source by weight(edge), over the edges the search may use, until it
 * reaches the target or has settled max_settled nodes: every node not settled by then is at
 * least as far as the last one settled, so that distance bounds them all (and the bounds stay
 * consistent: they never drop by more than an edge's weight along it).
 */
template <typename Weight>
void Search::ShortestFromSource(Weight weight, uint64_t Bounds::*field, size_t max_settled)
{
    using Entry = std::pair<uint64_t, uint32_t>;
    std::priority_queue<Entry, std::vector<Entry>, std::greater<>> queue;
    m_bounds[m_source].*field = 0;
    queue.emplace(0, m_source);
    for (size_t settled = 0; !queue.empty();) {
        const uint64_t distance = queue.top().first;
        const uint32_t node = queue.top().second;
        queue.pop();
        if (distance != m_bounds[node].*field) continue;
        if (node == m_target || settled++ == max_settled) {
            for (Bounds& bounds : m_bounds) bounds.*field = std::min(bounds.*field, distance);
            return;
        }
        ForEachEdgeOutOf(node, [&](const Candidate& edge) {
            if (!MayCarry(edge)) return;
            // The source's own channel costs nothing (no fee, no delta in the onion), but is a hop.
            const uint64_t next = SaturatingAdd(distance, edge.from != m_source ? weight(edge) : field == &Bounds::hops ? 1 : 0);
            if (next < m_bounds[edge.to].*field) {
                m_bounds[edge.to].*field = next;
                queue.emplace(next, edge.to);
            }
        });
    }
}

/**
 * Lower bounds on the cost from the source to nodes, each edge priced at the payment amount:
 * amounts only grow toward the source, and fee and risk only grow with the amount. The penalty
 * is left out (zero bounds it too; a scorer lookup on every edge of the ball costs more than it
 * saves). They steer the search toward the source (A*), and show at once when the target is out
 * of reach.
 */
void Search::SetCostBounds()
{
    m_bounds.assign(m_nodes.size(), Bounds{});
    m_bounds[m_source] = {0, 0, 0, 0};
    const Msat amount = m_request.amount;
    const CostWeights& weights = m_request.weights;
    ShortestFromSource(
        [&](const Candidate& edge) {
            const auto fee = EdgeFee(edge, amount);
            return SaturatingAdd(fee ? fee->value() : kMaxU64, CltvRisk(weights, amount, edge.cltv_expiry_delta));
        },
        &Bounds::cost, std::max(m_nodes.size() / kForwardShare, kMinForwardSettled));
}

//! The least fee, delay and hops from the source to every node, to prune labels that cannot
//! meet max_fee, max_cltv or max_hops. Three more passes, so only when the search needs them.
void Search::SetLimitBounds()
{
    constexpr size_t kAll = std::numeric_limits<size_t>::max();
    const Msat amount = m_request.amount;
    for (Bounds& bounds : m_bounds) bounds.fee = bounds.cltv = bounds.hops = kMaxU64;
    ShortestFromSource(
        [&](const Candidate& edge) {
            const auto fee = EdgeFee(edge, amount);
            return fee ? fee->value() : kMaxU64;
        },
        &Bounds::fee, kAll);
    ShortestFromSource([](const Candidate& edge) { return uint64_t{edge.cltv_expiry_delta}; }, &Bounds::cltv, kAll);
    ShortestFromSource([](const Candidate&) { return uint64_t{1}; }, &Bounds::hops, kAll);
}

void Search::Expand(uint32_t label_index)
{
    ForEachEdgeInto(m_labels[label_index].node, [&](const Candidate& edge) { Relax(label_index, edge); });
}

void Search::Relax(uint32_t label_index, const Candidate& candidate)
{
    const Label& next = m_labels[label_index];
    const uint64_t carried = next.amount;
    const uint32_t from = candidate.from;
    if (carried < candidate.htlc_minimum_msat || carried > candidate.htlc_maximum_msat || carried > candidate.limit_msat) return;
    if (from == m_target || m_nodes[from].excluded || Excluded(candidate)) return;
    if (m_nodes[from].ever_labeled && OnChain(label_index, from)) return;

    uint64_t penalty = 0;
    if (m_scorer != nullptr && !candidate.first_hop) {
        // Earlier parts of this payment already hold some of the channel's liquidity.
        const double probability = m_scorer->SuccessProbability(ScidOf(candidate), candidate.direction,
                                                                SaturatingAdd(carried, InFlightOver(candidate)),
                                                                candidate.capacity_msat, m_now);
        if (probability <= 0) return;
        penalty = ProbabilityPenalty(m_request.weights, Msat{carried}, probability);
    }

    Label label;
    label.node = from;
    label.next = label_index;
    label.edge = candidate.edge;
    label.extra = candidate.extra;
    label.direction = candidate.direction;
    label.hops = static_cast<uint8_t>(next.hops + 1);
    if (from == m_source) {
        // We pay no fee to ourselves and our own delta is not in the onion.
        if (label.hops > m_max_hops) return;
        label.amount = carried;
        label.cltv = next.cltv;
        label.cost = SaturatingAdd(next.cost, penalty);
    } else {
        const auto fee = EdgeFee(candidate, Msat{carried});
        if (!fee || fee->value() > m_max_amount - carried) return;
        label.amount = carried + fee->value();
        label.cltv = static_cast<uint32_t>(std::min<uint64_t>(uint64_t{next.cltv} + candidate.cltv_expiry_delta, kNone));
        const uint64_t risk = CltvRisk(m_request.weights, Msat{carried}, candidate.cltv_expiry_delta);
        label.cost = SaturatingAdd(SaturatingAdd(next.cost, fee->value()), SaturatingAdd(risk, penalty));
        // What the path still needs from the source to `from` must fit the limits too.
        const Bounds& bounds = m_bounds[from];
        const uint64_t fee_so_far = label.amount - m_request.amount.value();
        if (bounds.cost == kMaxU64 || SaturatingAdd(label.hops, bounds.hops) > m_max_hops ||
            SaturatingAdd(label.cltv, bounds.cltv) > m_request.max_cltv ||
            SaturatingAdd(fee_so_far, bounds.fee) > m_request.max_fee.value()) {
            return;
        }
    }
    Insert(label);
}

bool Search::OnChain(uint32_t label_index, uint32_t node) const
{
    for (uint32_t i = label_index; i != kNone; i = m_labels[i].next) {
        if (m_labels[i].node == node) return true;
    }
    return false;
}

/**
 * a makes b useless: every extension of b costs no less, carries no less (fees, liquidity and
 * max_fee only get harder with amount) and has no less delay and hops. htlc_minimum_msat is the
 * exception: a smaller amount may fail one that b passes, unless a is already above all of them.
 */
bool Search::Dominates(const Label& a, const Label& b) const
{
    return a.cost <= b.cost && a.amount <= b.amount && a.cltv <= b.cltv && a.hops <= b.hops &&
           (a.amount >= m_htlc_minimum_bound || a.amount == b.amount);
}

void Search::Unlink(uint32_t node, uint32_t label_index)
{
    NodeState& state = m_nodes[node];
    uint32_t* link = &state.labels;
    while (*link != label_index) link = &m_labels[*link].sibling;
    *link = m_labels[label_index].sibling;
    m_labels[label_index].dead = true;
    --state.label_count;
}

void Search::Insert(const Label& label)
{
    NodeState& state = m_nodes[label.node];
    uint32_t costliest = kNone;
    for (uint32_t i = state.labels; i != kNone;) {
        const Label& existing = m_labels[i];
        const uint32_t sibling = existing.sibling;
        if (Dominates(existing, label)) return;
        if (Dominates(label, existing)) {
            Unlink(label.node, i);
        } else if (costliest == kNone || existing.cost > m_labels[costliest].cost) {
            costliest = i;
        }
        i = sibling;
    }
    if (state.label_count >= kMaxLabelsPerNode) {
        if (label.cost >= m_labels[costliest].cost) return;
        Unlink(label.node, costliest);
    }
    const auto index = static_cast<uint32_t>(m_labels.size());
    m_labels.push_back(label);
    m_labels.back().sibling = state.labels;
    state.labels = index;
    ++state.label_count;
    state.ever_labeled = true;
    m_queue.emplace(SaturatingAdd(label.cost, m_bounds[label.node].cost), index);
}

FoundPath Search::Reconstruct(uint32_t label_index) const
{
    const Label& first = m_labels[label_index];
    FoundPath found;
    found.fee = Msat{first.amount - m_request.amount.value()};
    found.total_cltv_delta = first.cltv + m_request.final_cltv_delta;
    found.cost = first.cost;
    for (uint32_t i = label_index; m_labels[i].next != kNone; i = m_labels[i].next) {
        const Label& label = m_labels[i];
        const PubKey& far_end = KeyOf(m_labels[label.next].node);
        if (label.extra) {
            const ExtraEdge& edge = m_extra_edges[label.edge];
            found.path.push_back({far_end, edge.short_channel_id, edge.policy});
        } else {
            const RoutingGraph::Channel& channel = m_graph.GetChannel(label.edge);
            found.path.push_back({far_end, channel.Scid(), m_graph.Half(channel, label.direction).Policy()});
        }
    }
    return found;
}

//! What a part over path may still carry, per channel: see FindRoutes.
struct PartChecker {
    const RoutingGraph& graph;
    const PathRequest& request;
    const PaymentScorer* scorer;
    uint64_t now;
    const InFlight& in_flight;
    const LiquidityCeiling& ceiling;

    uint64_t Liquidity(const std::vector<PathEdge>& path, size_t i) const
    {
        const PathEdge& edge = path[i];
        const ChannelDirection direction = DirectionAt(request, path, i);
        const uint64_t scid = edge.short_channel_id.ToU64();
        uint64_t liquidity = kMaxU64;
        if (i == 0 && !request.first_hops.empty()) {
            for (const LocalChannel& channel : request.first_hops) {
                if (channel.short_channel_id == edge.short_channel_id) liquidity = channel.spendable_msat.value();
            }
        } else {
            const uint64_t capacity = KnownCapacityMsat(graph, edge.short_channel_id);
            if (capacity != 0) liquidity = capacity;
            liquidity = std::min(liquidity, ceiling.At(edge.short_channel_id, direction, capacity));
        }
        const uint64_t used = InFlightAt(&in_flight, scid, direction);
        return liquidity - std::min(liquidity, used);
    }

    //! The route of a part of amount, when its path's liquidity, htlc limits and fee_left allow it.
    std::optional<Route> Fits(const std::vector<PathEdge>& path, Msat amount, Msat fee_left) const
    {
        auto route = BuildRoute(path, amount, request.final_cltv_delta);
        if (!route || route->fee_msat() > fee_left) return std::nullopt;
        for (size_t i = 0; i < path.size(); ++i) {
            if (route->hops[i].amount_msat.value() > Liquidity(path, i)) return std::nullopt;
        }
        return std::move(*route);
    }
};

void AddInFlight(InFlight& in_flight, const PathRequest& request, const RoutePart& part, bool add)
{
    const auto route = BuildRoute(part.path, part.amount, request.final_cltv_delta);
    if (!route) return;
    for (size_t i = 0; i < part.path.size(); ++i) {
        const std::pair key{part.path[i].short_channel_id.ToU64(), DirectionAt(request, part.path, i)};
        uint64_t& used = in_flight[key];
        const uint64_t carried = route->hops[i].amount_msat.value();
        used = add ? SaturatingAdd(used, carried) : used - std::min(used, carried);
    }
}

bool SamePath(const std::vector<PathEdge>& a, const std::vector<PathEdge>& b)
{
    return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](const PathEdge& x, const PathEdge& y) {
        return x.short_channel_id == y.short_channel_id && x.node_id == y.node_id;
    });
}

//! FindRoutes: parts one after the other, each over the cheapest path for what is left.
class Splitter
{
public:
    Splitter(const RoutingGraph& graph, const PathRequest& request, const PaymentScorer* scorer, uint64_t now, Msat min_part,
             bool cautious)
        : m_graph(graph), m_request(request), m_scorer(scorer), m_now(now), m_min_part(min_part),
          m_ceiling{scorer, now, cautious}, m_checker{graph, request, scorer, now, m_in_flight, m_ceiling},
          m_remaining(request.amount), m_fee_left(request.max_fee)
    {
    }

    Expected<std::vector<RoutePart>, PathfindError> Run(size_t max_parts)
    {
        while (m_remaining > Msat{0}) {
            if (m_parts.size() == max_parts) return PathfindError::TOO_MANY_PARTS;
            auto found = FindPart();
            if (!found) return PathfindError::NO_PATH;
            const Msat amount = LargestAmount(found->first.path, found->second);
            if (!Merge(found->first.path, amount) && !Append(std::move(found->first.path), amount)) return PathfindError::NO_PATH;
            m_remaining -= amount;
        }
        return std::move(m_parts);
    }

private:
    //! A path for everything left, else for halves of it: a part must leave at least min_part.
    std::optional<std::pair<FoundPath, Msat>> FindPart()
    {
        PathRequest request = m_request;
        request.max_fee = m_fee_left;
        for (Msat tried = m_remaining;;) {
            request.amount = tried;
            // Cautious, the search itself keeps off what the parts may not use: else it would
            // offer the same path again and again. Otherwise the scorer's penalty is enough.
            auto result = Search(m_graph, request, m_scorer, m_now, &m_in_flight, m_ceiling.cautious ? &m_ceiling : nullptr).Run();
            // The search bounds liquidity by capacity; a cautious part may need to be smaller.
            if (result && m_checker.Fits(result->path, tried, m_fee_left)) return std::pair{std::move(*result), tried};
            const Msat next = std::min(Msat{tried.value() / 2}, Msat::SaturatingSub(m_remaining, m_min_part));
            if (next < m_min_part || next == Msat{0}) return std::nullopt;
            tried = next;
        }
    }

    //! The most the path takes, from what the search proved it carries up to all that is left.
    Msat LargestAmount(const std::vector<PathEdge>& path, Msat proven) const
    {
        Msat low = proven;
        Msat high = m_remaining;
        while (low < high) {
            const Msat middle{low.value() + (high.value() - low.value() + 1) / 2};
            if (m_checker.Fits(path, middle, m_fee_left)) {
                low = middle;
            } else {
                high = Msat{middle.value() - 1};
            }
        }
        // Leave nothing, or at least min_part (proven leaves that much).
        if (low < m_remaining && m_remaining - low < m_min_part) return std::max(proven, m_remaining - m_min_part);
        return low;
    }

    //! One HTLC instead of two when an earlier part took the same path and the channels hold the sum.
    bool Merge(const std::vector<PathEdge>& path, Msat amount)
    {
        const auto same = std::find_if(m_parts.begin(), m_parts.end(), [&](const RoutePart& part) { return SamePath(part.path, path); });
        if (same == m_parts.end()) return false;
        AddInFlight(m_in_flight, m_request, *same, false);
        const auto merged = m_checker.Fits(same->path, same->amount + amount, m_fee_left + same->fee);
        if (merged) {
            m_fee_left = m_fee_left + same->fee - merged->fee_msat();
            same->amount = same->amount + amount;
            same->fee = merged->fee_msat();
        }
        AddInFlight(m_in_flight, m_request, *same, true);
        return merged.has_value();
    }

    bool Append(std::vector<PathEdge> path, Msat amount)
    {
        const auto route = m_checker.Fits(path, amount, m_fee_left);
        if (!route) return false;
        m_parts.push_back({std::move(path), amount, route->fee_msat()});
        m_fee_left -= route->fee_msat();
        AddInFlight(m_in_flight, m_request, m_parts.back(), true);
        return true;
    }

    const RoutingGraph& m_graph;
    const PathRequest& m_request;
    const PaymentScorer* m_scorer;
    const uint64_t m_now;
    const Msat m_min_part;
    InFlight m_in_flight;
    const LiquidityCeiling m_ceiling;
    const PartChecker m_checker;
    std::vector<RoutePart> m_parts;
    Msat m_remaining;
    Msat m_fee_left;
};

//! Whether a part sends some channel after our own more than its cautious ceiling.
bool AboveCautious(const RoutingGraph& graph, const PathRequest& request, const LiquidityCeiling& cautious,
                   const std::vector<RoutePart>& parts)
{
    if (cautious.scorer == nullptr || cautious.scorer->Empty()) return false;
    for (const RoutePart& part : parts) {
        const auto route = BuildRoute(part.path, part.amount, request.final_cltv_delta);
        if (!route) continue;
        for (size_t i = request.first_hops.empty() ? 0 : 1; i < part.path.size(); ++i) {
            const ShortChannelId scid = part.path[i].short_channel_id;
            const uint64_t ceiling = cautious.At(scid, DirectionAt(request, part.path, i), KnownCapacityMsat(graph, scid));
            if (route->hops[i].amount_msat.value() > ceiling) return true;
        }
    }
    return false;
}

} // namespace

uint64_t CltvRisk(const CostWeights& weights, Msat carried, uint16_t cltv_expiry_delta)
{
    const U128 risk = U128{carried.value()} * cltv_expiry_delta * weights.cltv_risk_ppb / 1'000'000'000;
    return risk > kMaxU64 ? kMaxU64 : static_cast<uint64_t>(risk);
}

uint64_t ProbabilityPenalty(const CostWeights& weights, Msat carried, double probability)
{
    if (probability >= 1.0) return 0;
    if (!(probability > 0.0)) return kMaxU64;
    const double scale = static_cast<double>(weights.penalty_base_msat) +
                         static_cast<double>(carried.value()) * weights.penalty_ppm / 1'000'000.0;
    const double penalty = std::round(-std::log(probability) * scale);
    return penalty >= 1.8e19 ? kMaxU64 : static_cast<uint64_t>(penalty);
}

Expected<FoundPath, PathfindError> FindCheapestPath(const RoutingGraph& graph, const PathRequest& request,
                                                    const PaymentScorer* scorer, uint64_t now)
{
    return Search(graph, request, scorer, now, nullptr).Run();
}

Expected<std::vector<PathEdge>, PathfindError> FindPath(const RoutingGraph& graph, const PathRequest& request,
                                                        const PaymentScorer* scorer, uint64_t now)
{
    auto found = FindCheapestPath(graph, request, scorer, now);
    if (!found) return found.error();
    return std::move(found->path);
}

Expected<std::vector<RoutePart>, PathfindError> FindRoutes(const RoutingGraph& graph, const PathRequest& request,
                                                           const PaymentScorer* scorer, uint64_t now, Msat min_part,
                                                           size_t max_parts)
{
    if (request.amount == Msat{0}) return PathfindError::ZERO_AMOUNT;
    if (request.source == request.target) return PathfindError::SOURCE_IS_TARGET;
    // Up to the top of what was learned first: when that places nothing, less will not either.
    // Parts that ask a channel for more than the middle of its learned range are planned again
    // cautiously, and the cautious plan is kept when it places everything.
    auto optimistic = Splitter(graph, request, scorer, now, min_part, false).Run(max_parts);
    if (!optimistic || !AboveCautious(graph, request, LiquidityCeiling{scorer, now, true}, *optimistic)) return optimistic;
    auto cautious = Splitter(graph, request, scorer, now, min_part, true).Run(max_parts);
    return cautious ? cautious : optimistic;
}

} // namespace sidebolt
