// Pathfinding over the BOLT 7 graph: hand-built graphs for each rule (fees, disabled directions,
// htlc limits, capacity, exclusions, fee/delay/hop limits, route hints, our own first hops), a
// brute-force oracle over every simple path of random small graphs, the success-probability
// scorer, and multi-part splitting.
#include "pay/graph.h"
#include "pay/pathfind.h"
#include "pay/route.h"
#include "pay/scorer.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <tuple>

using namespace sidebolt;

namespace {

__extension__ using U128 = unsigned __int128;

constexpr uint64_t kMaxU64 = std::numeric_limits<uint64_t>::max();

PubKey Node(size_t n) { return PrivKey::FromBytes(Bytes(32, static_cast<uint8_t>(n + 1)))->GetPubKey(); }

ForwardPolicy Policy(uint64_t base, uint32_t ppm, uint16_t delta)
{
    ForwardPolicy policy;
    policy.fee_base_msat = Msat{base};
    policy.fee_proportional_millionths = ppm;
    policy.cltv_expiry_delta = delta;
    policy.htlc_minimum_msat = Msat{1};
    return policy;
}

//! A graph over keys Node(0), Node(1), ... with channels numbered from 1.
struct Net {
    std::vector<PubKey> keys;
    RoutingGraph graph;
    uint32_t next_scid{1};

    explicit Net(size_t count)
    {
        for (size_t i = 0; i < count; ++i) keys.push_back(Node(i));
    }

    static ShortChannelId Scid(uint32_t n) { return ShortChannelId{700'000 + n, n, 1}; }

    ShortChannelId Connect(size_t a, size_t b, Sat capacity = Sat{0})
    {
        const ShortChannelId scid = Scid(next_scid++);
        const bool ordered = keys[a] < keys[b];
        REQUIRE(graph.AddChannel(scid, ordered ? keys[a] : keys[b], ordered ? keys[b] : keys[a], capacity));
        return scid;
    }
    //! from's channel_update for forwarding to `to` over scid.
    void Update(ShortChannelId scid, size_t from, size_t to, const ForwardPolicy& policy, bool disabled = false)
    {
        REQUIRE(graph.SetPolicy(scid, Direction(from, to), policy, disabled));
    }
    ChannelDirection Direction(size_t from, size_t to) const { return keys[from] < keys[to] ? 0 : 1; }
    //! A channel announced both ways with the same terms.
    ShortChannelId Link(size_t a, size_t b, const ForwardPolicy& policy, Sat capacity = Sat{0})
    {
        const ShortChannelId scid = Connect(a, b, capacity);
        Update(scid, a, b, policy);
        Update(scid, b, a, policy);
        return scid;
    }

    PathRequest Request(size_t source, size_t target, uint64_t amount) const
    {
        return PathRequest{.source = keys[source], .target = keys[target], .amount = Msat{amount}};
    }

    //! The nodes a path visits after the source, as indices into keys (99 for an unknown key).
    std::vector<size_t> Hops(const std::vector<PathEdge>& path) const
    {
        std::vector<size_t> hops;
        for (const PathEdge& edge : path) {
            const auto found = std::find(keys.begin(), keys.end(), edge.node_id);
            hops.push_back(found == keys.end() ? 99 : static_cast<size_t>(found - keys.begin()));
        }
        return hops;
    }
};

/**
 * Runs the search and checks what every found path must satisfy: BuildRoute accepts it with the
 * fee and delay the search computed, and FindPath returns the same path.
 */
std::optional<FoundPath> Find(const RoutingGraph& graph, const PathRequest& request, const PaymentScorer* scorer = nullptr,
                              uint64_t now = 0)
{
    auto found = FindCheapestPath(graph, request, scorer, now);
    if (!found) return std::nullopt;
    REQUIRE_FALSE(found->path.empty());
    CHECK(found->path.size() <= kMaxPathHops);
    const auto route = BuildRoute(found->path, request.amount, request.final_cltv_delta);
    REQUIRE(route);
    CHECK(route->fee_msat() == found->fee);
    CHECK(route->final_amount_msat() == request.amount);
    CHECK(route->first_cltv() == found->total_cltv_delta);
    CHECK(found->fee <= request.max_fee);
    CHECK(found->total_cltv_delta - request.final_cltv_delta <= request.max_cltv);
    const auto path = FindPath(graph, request, scorer, now);
    REQUIRE(path);
    CHECK(path->size() == found->path.size());
    return std::move(*found);
}

FoundPath MustFind(const RoutingGraph& graph, const PathRequest& request, const PaymentScorer* scorer = nullptr,
                   uint64_t now = 0)
{
    auto found = Find(graph, request, scorer, now);
    REQUIRE(found);
    return std::move(*found);
}

PathfindError FindError(const RoutingGraph& graph, const PathRequest& request, const PaymentScorer* scorer = nullptr)
{
    const auto found = FindCheapestPath(graph, request, scorer, 0);
    REQUIRE_FALSE(found);
    return found.error();
}

/**
 * Source 0, target 4. Expensive 0-1-4 (node 1 charges 10000 msat) or cheap 0-2-3-4 (1000 msat
 * at each of 2 and 3). The amount is 1,000,000 msat.
 */
struct Diamond {
    Net net{5};
    ShortChannelId s1, s14, s2, s23, s34;
    PathRequest request = net.Request(0, 4, 1'000'000);

    Diamond()
    {
        s1 = net.Link(0, 1, Policy(0, 0, 40));
        s14 = net.Link(1, 4, Policy(10'000, 0, 40));
        s2 = net.Link(0, 2, Policy(0, 0, 40));
        s23 = net.Link(2, 3, Policy(1000, 0, 40));
        s34 = net.Link(3, 4, Policy(1000, 0, 40));
    }
    std::vector<size_t> Hops() { return net.Hops(MustFind(net.graph, request).path); }
};

} // namespace

TEST_CASE("pathfind: the cheaper path wins even with more hops; fees on what is carried")
{
    Diamond diamond;
    const auto found = Find(diamond.net.graph, diamond.request);
    REQUIRE(found);
    CHECK(diamond.net.Hops(found->path) == std::vector<size_t>{2, 3, 4});
    CHECK(found->fee == Msat{2000});
    CHECK(found->total_cltv_delta == 18 + 80);
    // Fee 2000 plus CLTV risk: 1,000,000 msat * 40 blocks * 1900 / 1e9 = 76 per forwarding hop.
    CHECK(found->cost == 2000 + 2 * 76);
    CHECK(found->path[0].short_channel_id == diamond.s2);
    CHECK(found->path[2].short_channel_id == diamond.s34);

    // Proportional fees compound: node 3 charges on 1,000,000, node 2 on 1,000,000 + node 3's fee.
    diamond.net.Update(diamond.s23, 2, 3, Policy(1000, 1000, 40));
    diamond.net.Update(diamond.s34, 3, 4, Policy(1000, 1000, 40));
    const auto compounded = Find(diamond.net.graph, diamond.request);
    REQUIRE(compounded);
    CHECK(diamond.net.Hops(compounded->path) == std::vector<size_t>{2, 3, 4});
    CHECK(compounded->fee == Msat{2000 + 1000 + 1'002'000 / 1000});
}

TEST_CASE("pathfind: a direct channel to the payee costs no fee")
{
    Net net(3);
    net.Link(0, 1, Policy(0, 0, 40));
    net.Link(1, 2, Policy(0, 0, 6));
    const ShortChannelId direct = net.Link(0, 2, Policy(50'000, 50'000, 500));
    const auto found = Find(net.graph, net.Request(0, 2, 5'000'000));
    REQUIRE(found);
    REQUIRE(found->path.size() == 1);
    CHECK(found->path[0].short_channel_id == direct);
    CHECK(found->fee == Msat{0});
    CHECK(found->cost == 0);
}

TEST_CASE("pathfind: a disabled or unannounced direction is not used")
{
    Diamond diamond;
    diamond.net.Update(diamond.s34, 4, 3, Policy(1000, 0, 40), true); // the other direction
    CHECK(diamond.Hops() == std::vector<size_t>{2, 3, 4});
    diamond.net.Update(diamond.s34, 3, 4, Policy(1000, 0, 40), true);
    CHECK(diamond.Hops() == std::vector<size_t>{1, 4});

    Net net(2);
    const ShortChannelId scid = net.Connect(0, 1);
    CHECK(FindError(net.graph, net.Request(0, 1, 1000)) == PathfindError::NO_PATH);
    net.Update(scid, 1, 0, Policy(0, 0, 1));
    CHECK(FindError(net.graph, net.Request(0, 1, 1000)) == PathfindError::NO_PATH);
    net.Update(scid, 0, 1, Policy(0, 0, 1));
    CHECK(Find(net.graph, net.Request(0, 1, 1000)));
}

TEST_CASE("pathfind: htlc_minimum_msat and htlc_maximum_msat apply to the amount each channel carries")
{
    // Channel 2->3 carries 1,000,000 plus node 3's fee of 1000.
    for (const auto& [minimum, maximum, cheap] : std::vector<std::tuple<uint64_t, uint64_t, bool>>{
             {1'001'000, kMaxU64, true},
             {1'001'001, kMaxU64, false},
             {1, 1'001'000, true},
             {1, 1'000'999, false},
         }) {
        Diamond diamond;
        ForwardPolicy policy = Policy(1000, 0, 40);
        policy.htlc_minimum_msat = Msat{minimum};
        policy.htlc_maximum_msat = Msat{maximum};
        diamond.net.Update(diamond.s23, 2, 3, policy);
        CHECK(diamond.Hops() == (cheap ? std::vector<size_t>{2, 3, 4} : std::vector<size_t>{1, 4}));
    }
    // The last channel carries exactly the amount.
    Diamond diamond;
    ForwardPolicy policy = Policy(1000, 0, 40);
    policy.htlc_maximum_msat = Msat{999'999};
    diamond.net.Update(diamond.s34, 3, 4, policy);
    CHECK(diamond.Hops() == std::vector<size_t>{1, 4});
}

TEST_CASE("pathfind: a channel's capacity bounds what it carries; unknown capacity does not")
{
    for (const auto& [capacity, cheap] : std::vector<std::pair<uint64_t, bool>>{{0, true}, {1001, true}, {1000, false}}) {
        Diamond diamond;
        // Rebuild 2-3 with a capacity: it carries 1,001,000 msat.
        REQUIRE(diamond.net.graph.RemoveChannel(diamond.s23));
        diamond.s23 = diamond.net.Link(2, 3, Policy(1000, 0, 40), Sat{capacity});
        CHECK(diamond.Hops() == (cheap ? std::vector<size_t>{2, 3, 4} : std::vector<size_t>{1, 4}));
    }
}

TEST_CASE("pathfind: excluded channel directions and nodes")
{
    Diamond diamond;
    diamond.request.excluded_channels = {{diamond.s34, diamond.net.Direction(4, 3)}};
    CHECK(diamond.Hops() == std::vector<size_t>{2, 3, 4});
    diamond.request.excluded_channels = {{diamond.s34, diamond.net.Direction(3, 4)}};
    CHECK(diamond.Hops() == std::vector<size_t>{1, 4});
    diamond.request.excluded_channels.clear();
    diamond.request.excluded_nodes = {diamond.net.keys[3]};
    CHECK(diamond.Hops() == std::vector<size_t>{1, 4});
    diamond.request.excluded_nodes.push_back(diamond.net.keys[1]);
    CHECK(FindError(diamond.net.graph, diamond.request) == PathfindError::NO_PATH);
}

TEST_CASE("pathfind: max_fee and max_cltv reject routes above them")
{
    Diamond diamond;
    diamond.request.max_fee = Msat{2000};
    CHECK(diamond.Hops() == std::vector<size_t>{2, 3, 4});
    diamond.request.max_fee = Msat{1999};
    CHECK(FindError(diamond.net.graph, diamond.request) == PathfindError::NO_PATH);
    diamond.request.max_fee = Msat{kMaxU64};
    diamond.request.max_cltv = 79; // 0-2-3-4 adds 80 blocks, 0-1-4 adds 40
    CHECK(diamond.Hops() == std::vector<size_t>{1, 4});
    diamond.request.max_cltv = 39;
    CHECK(FindError(diamond.net.graph, diamond.request) == PathfindError::NO_PATH);
}

/**
 * Source 0 -> 1 -> 2, then from 2 to the target 4 either directly (cheap, but a long delay, a
 * high fee or ... as each case sets) or through 3. Node 2 keeps both ways: which one is usable
 * shows only after node 1 adds its own fee, delay and hop.
 */
TEST_CASE("pathfind: limits are enforced on the whole path, not greedily per node")
{
    const auto build = [](const ForwardPolicy& direct, const ForwardPolicy& via_3, const ForwardPolicy& at_3) {
        auto net = std::make_unique<Net>(5);
        net->Link(0, 1, Policy(0, 0, 40));
        net->Link(1, 2, Policy(1000, 0, 40));
        const ShortChannelId s24 = net->Connect(2, 4);
        net->Update(s24, 2, 4, direct);
        const ShortChannelId s23 = net->Connect(2, 3);
        net->Update(s23, 2, 3, via_3);
        const ShortChannelId s34 = net->Connect(3, 4);
        net->Update(s34, 3, 4, at_3);
        return net;
    };

    SUBCASE("delay: the cheap way is too slow once node 1 adds 40 blocks")
    {
        const auto net = build(Policy(100, 0, 300), Policy(100, 0, 10), Policy(1000, 0, 10));
        PathRequest request = net->Request(0, 4, 1'000'000);
        CHECK(net->Hops(MustFind(net->graph, request).path) == std::vector<size_t>{1, 2, 4});
        request.max_cltv = 339; // 1 and 2 add 40 + 300 on the cheap way, 40 + 10 + 10 on the other
        CHECK(net->Hops(MustFind(net->graph, request).path) == std::vector<size_t>{1, 2, 3, 4});
    }
    SUBCASE("htlc_minimum_msat: only the way with more fees carries enough for node 1's channel")
    {
        // Both ways add 20 blocks; direct: fee 100 over one hop, via 3: fees 100 + 1000 over two.
        auto net = build(Policy(100, 0, 20), Policy(100, 0, 10), Policy(1000, 0, 10));
        PathRequest request = net->Request(0, 4, 1'000'000);
        CHECK(net->Hops(MustFind(net->graph, request).path) == std::vector<size_t>{1, 2, 4});
        ForwardPolicy at_1 = Policy(1000, 0, 40);
        at_1.htlc_minimum_msat = Msat{1'001'000};
        net->Update(Net::Scid(2), 1, 2, at_1); // channel 1-2
        CHECK(net->Hops(MustFind(net->graph, request).path) == std::vector<size_t>{1, 2, 3, 4});
    }
    SUBCASE("fee: the cheapest cost pays more fee than allowed once node 1 adds its own")
    {
        // Direct: fee 1500 but no delay risk; via 3: fees 200 + 200 with a large delay risk.
        const auto net = build(Policy(1500, 0, 1), Policy(200, 0, 144), Policy(200, 0, 144));
        PathRequest request = net->Request(0, 4, 1'000'000);
        request.weights.cltv_risk_ppb = 10'000; // 1,000,000 * 144 * 1e-5 = 1440 msat a hop
        const FoundPath cheapest = MustFind(net->graph, request);
        CHECK(net->Hops(cheapest.path) == std::vector<size_t>{1, 2, 4});
        CHECK(cheapest.fee == Msat{2500});
        request.max_fee = Msat{2499};
        const FoundPath within = MustFind(net->graph, request);
        CHECK(net->Hops(within.path) == std::vector<size_t>{1, 2, 3, 4});
        CHECK(within.fee == Msat{1400});
    }
    SUBCASE("hops: the cheap way is one hop too long once node 1 adds its hop")
    {
        // The same delay both ways: only the hop count tells the two apart.
        const auto net = build(Policy(5000, 0, 20), Policy(100, 0, 10), Policy(100, 0, 10));
        PathRequest request = net->Request(0, 4, 1'000'000);
        CHECK(net->Hops(MustFind(net->graph, request).path) == std::vector<size_t>{1, 2, 3, 4});
        request.max_hops = 3;
        CHECK(net->Hops(MustFind(net->graph, request).path) == std::vector<size_t>{1, 2, 4});
        request.max_hops = 2;
        CHECK(FindError(net->graph, request) == PathfindError::NO_PATH);
    }
}

TEST_CASE("pathfind: route hints reach a payee the graph does not know")
{
    Net net(4);
    net.Link(0, 1, Policy(0, 0, 40));
    net.Link(1, 2, Policy(1000, 100, 40));
    const PubKey payee = Node(50);
    const PubKey private_node = Node(51);
    PathRequest request{.source = net.keys[0], .target = payee, .amount = Msat{2'000'000}};
    CHECK(FindError(net.graph, request) == PathfindError::NO_PATH);

    const HintHop from_2{net.keys[2], Net::Scid(90), Msat{2000}, 1000, 80};
    const HintHop from_private{private_node, Net::Scid(91), Msat{10}, 10, 9};
    request.route_hints = {{from_2, from_private}};
    const auto found = Find(net.graph, request);
    REQUIRE(found);
    CHECK(net.Hops(found->path) == std::vector<size_t>{1, 2, 99, 99});
    CHECK(found->path[2].node_id == private_node);
    CHECK(found->path[2].short_channel_id == Net::Scid(90));
    CHECK(found->path[2].policy.cltv_expiry_delta == 80); // the hint's terms, on the edge it names
    CHECK(found->path[3].node_id == payee);
    CHECK(found->path[3].policy.fee_base_msat == Msat{10});
    // 10 + 20 at the private node, then 2000 + 2000.03 at node 2, then 1000 + 200.4 at node 1.
    CHECK(found->fee == Msat{30 + 4000 + 1200});
    CHECK(found->total_cltv_delta == 18 + 9 + 80 + 40);

    // A hint from a node we cannot reach does not help; a second hint does.
    request.route_hints = {{HintHop{Node(60), Net::Scid(92), Msat{0}, 0, 9}}};
    CHECK(FindError(net.graph, request) == PathfindError::NO_PATH);
    request.route_hints.push_back({HintHop{net.keys[1], Net::Scid(93), Msat{1}, 1, 9}});
    CHECK(net.Hops(MustFind(net.graph, request).path) == std::vector<size_t>{1, 99});
    // Excluding the hint's channel applies too.
    request.excluded_channels = {{Net::Scid(93), net.keys[1] < payee ? ChannelDirection{0} : ChannelDirection{1}}};
    CHECK(FindError(net.graph, request) == PathfindError::NO_PATH);
}

TEST_CASE("pathfind: our first hops replace the graph's channels out of the source")
{
    Net net(4);
    net.Link(0, 1, Policy(0, 0, 40));
    net.Link(1, 3, Policy(0, 0, 40));
    net.Link(2, 3, Policy(3000, 0, 40));
    PathRequest request = net.Request(0, 3, 1'000'000);
    CHECK(net.Hops(MustFind(net.graph, request).path) == std::vector<size_t>{1, 3});

    // Only a private channel to node 2 is open: the graph's 0-1 is stale.
    ForwardPolicy limits;
    limits.htlc_minimum_msat = Msat{1000};
    request.first_hops = {LocalChannel{net.keys[2], Net::Scid(80), Msat{1'003'000}, limits}};
    const auto found = Find(net.graph, request);
    REQUIRE(found);
    CHECK(net.Hops(found->path) == std::vector<size_t>{2, 3});
    CHECK(found->path[0].short_channel_id == Net::Scid(80));
    CHECK(found->path[0].policy.htlc_minimum_msat == Msat{1000});
    CHECK(found->fee == Msat{3000});

    // The first hop carries the amount and every fee.
    request.first_hops[0].spendable_msat = Msat{1'002'999};
    CHECK(FindError(net.graph, request) == PathfindError::NO_PATH);
    request.first_hops[0].spendable_msat = Msat{1'003'000};
    request.first_hops[0].limits.htlc_maximum_msat = Msat{1'002'999};
    CHECK(FindError(net.graph, request) == PathfindError::NO_PATH);

    // A first hop straight to the payee.
    request.first_hops.push_back(LocalChannel{net.keys[3], Net::Scid(81), Msat{1'000'000}, ForwardPolicy{}});
    CHECK(net.Hops(MustFind(net.graph, request).path) == std::vector<size_t>{3});
    request.first_hops.back().spendable_msat = Msat{0};
    CHECK(FindError(net.graph, request) == PathfindError::NO_PATH);
}

TEST_CASE("pathfind: at most 20 channels (BOLT 4 onion size)")
{
    Net net(23);
    for (size_t i = 0; i + 1 < 23; ++i) net.Link(i, i + 1, Policy(1, 1, 10));
    const auto twenty = Find(net.graph, net.Request(0, 20, 10'000));
    REQUIRE(twenty);
    CHECK(twenty->path.size() == 20);
    CHECK(FindError(net.graph, net.Request(0, 21, 10'000)) == PathfindError::NO_PATH);
    PathRequest request = net.Request(0, 21, 10'000);
    request.max_hops = 50; // the constant still applies
    CHECK(FindError(net.graph, request) == PathfindError::NO_PATH);

    // A costly short-cut makes the 21-channel target reachable, and is taken over 20 cheap hops.
    net.Link(2, 21, Policy(100'000, 0, 10));
    const auto shortcut = Find(net.graph, net.Request(0, 21, 10'000));
    REQUIRE(shortcut);
    CHECK(net.Hops(shortcut->path) == std::vector<size_t>{1, 2, 21});
}

TEST_CASE("pathfind: unreachable targets and bad requests")
{
    Net net(5);
    net.Link(0, 1, Policy(0, 0, 40));
    net.Link(2, 3, Policy(0, 0, 40));
    CHECK(FindError(net.graph, net.Request(0, 3, 1000)) == PathfindError::NO_PATH);
    CHECK(FindError(net.graph, net.Request(0, 4, 1000)) == PathfindError::NO_PATH); // unknown node
    CHECK(FindError(net.graph, net.Request(4, 1, 1000)) == PathfindError::NO_PATH); // unknown source
    CHECK(FindError(net.graph, net.Request(0, 1, 0)) == PathfindError::ZERO_AMOUNT);
    CHECK(FindError(net.graph, net.Request(1, 1, 1000)) == PathfindError::SOURCE_IS_TARGET);
    CHECK(FindError(RoutingGraph{}, net.Request(0, 1, 1000)) == PathfindError::NO_PATH);
}

// ---------------------------------------------------------------------------------------------
// Brute force: every simple path of a random small graph, priced by the same cost function.

namespace {

struct OracleEdge {
    size_t from;
    size_t to;
    ShortChannelId scid;
    ChannelDirection direction;
    ForwardPolicy policy;
    uint64_t limit;    //!< capacity or spendable, msat
    uint64_t capacity; //!< for the scorer (0 unknown)
    bool first_hop;
};

struct RandomCase {
    Net net{8}; //!< a private node from a route hint may join the keys
    size_t nodes{0};
    PathRequest request = net.Request(0, 1, 1);
    std::optional<PaymentScorer> scorer;
    uint64_t now{0};
    std::vector<OracleEdge> edges;
};

uint64_t Pick(std::mt19937_64& rng, uint64_t low, uint64_t high) { return low + rng() % (high - low + 1); }
bool Chance(std::mt19937_64& rng, int one_in) { return rng() % static_cast<uint64_t>(one_in) == 0; }

//! cheap: fees of a few msat, so that paths come close in cost.
ForwardPolicy RandomPolicy(std::mt19937_64& rng, uint64_t amount, bool cheap)
{
    ForwardPolicy policy = Policy(Pick(rng, 0, cheap ? 20 : 3000), static_cast<uint32_t>(Pick(rng, 0, cheap ? 20 : 20'000)),
                                  static_cast<uint16_t>(Pick(rng, 1, 150)));
    policy.htlc_minimum_msat = Msat{Chance(rng, 5) ? Pick(rng, 0, amount * 2) : Pick(rng, 0, 1000)};
    policy.htlc_maximum_msat = Msat{Chance(rng, 5) ? Pick(rng, amount / 2, amount * 2) : kMaxU64};
    return policy;
}

void BuildRandomCase(std::mt19937_64& rng, RandomCase& random)
{
    // Sometimes every delta is zero, so that only the hop count limits path length.
    const bool no_delay = Chance(rng, 4);
    const bool cheap = Chance(rng, 3);
    random.nodes = Pick(rng, 6, 8);
    const uint64_t amount = Pick(rng, 10'000, 5'000'000);
    const size_t source = rng() % random.nodes;
    size_t target = rng() % random.nodes;
    if (target == source) target = (source + 1) % random.nodes;
    random.request = random.net.Request(source, target, amount);
    PathRequest& request = random.request;

    const size_t channels = Pick(rng, random.nodes, 3 * random.nodes);
    for (size_t i = 0; i < channels; ++i) {
        const size_t a = rng() % random.nodes;
        const size_t b = rng() % random.nodes;
        if (a == b) continue;
        const Sat capacity{Chance(rng, 4) ? 0 : Pick(rng, amount / 1000, amount / 200)};
        const ShortChannelId scid = random.net.Connect(a, b, capacity);
        for (const auto& [from, to] : {std::pair{a, b}, std::pair{b, a}}) {
            if (Chance(rng, 8)) continue;
            ForwardPolicy policy = RandomPolicy(rng, amount, cheap);
            if (no_delay) policy.cltv_expiry_delta = 0;
            const bool disabled = Chance(rng, 10);
            random.net.Update(scid, from, to, policy, disabled);
            if (!disabled) {
                const uint64_t limit = capacity == Sat{0} ? kMaxU64 : capacity.value() * 1000;
                random.edges.push_back({from, to, scid, random.net.Direction(from, to), policy, limit,
                                        capacity == Sat{0} ? 0 : limit, false});
            }
        }
    }
    if (Chance(rng, 4)) {
        // Our own channels replace the graph's out of the source.
        std::erase_if(random.edges, [&](const OracleEdge& edge) { return edge.from == source; });
        for (uint64_t i = Pick(rng, 1, 3); i > 0; --i) {
            const size_t peer = rng() % random.nodes;
            if (peer == source) continue;
            ForwardPolicy limits = RandomPolicy(rng, amount, cheap);
            const LocalChannel channel{random.net.keys[peer], Net::Scid(500 + static_cast<uint32_t>(i)),
                                       Msat{Pick(rng, amount / 2, amount * 2)}, limits};
            request.first_hops.push_back(channel);
            random.edges.push_back({source, peer, channel.short_channel_id, random.net.Direction(source, peer), limits,
                                    channel.spendable_msat.value(), 0, true});
        }
        if (request.first_hops.empty()) request.first_hops.push_back({random.net.keys[target], Net::Scid(599), Msat{0}, {}});
    }
    if (Chance(rng, 4)) {
        // A route hint into the target, from a graph node, maybe through a private node.
        const size_t entry = rng() % random.nodes;
        std::vector<size_t> chain{entry};
        if (Chance(rng, 2)) {
            chain.push_back(random.net.keys.size());
            random.net.keys.push_back(Node(40));
        }
        chain.push_back(target);
        std::vector<HintHop> hint;
        for (size_t j = 0; j + 1 < chain.size(); ++j) {
            const HintHop hop{random.net.keys[chain[j]], Net::Scid(600 + static_cast<uint32_t>(j)), Msat{Pick(rng, 0, 3000)},
                              static_cast<uint32_t>(Pick(rng, 0, 20'000)), static_cast<uint16_t>(no_delay ? 0 : Pick(rng, 1, 150))};
            hint.push_back(hop);
            ForwardPolicy policy = Policy(hop.fee_base_msat.value(), hop.fee_proportional_millionths, hop.cltv_expiry_delta);
            policy.htlc_minimum_msat = Msat{0};
            if (chain[j] != chain[j + 1]) {
                random.edges.push_back({chain[j], chain[j + 1], hop.short_channel_id,
                                        random.net.Direction(chain[j], chain[j + 1]), policy, kMaxU64, 0, false});
            }
        }
        request.route_hints.push_back(hint);
    }
    if (Chance(rng, 3)) request.max_fee = Msat{Pick(rng, 0, 30'000)};
    if (Chance(rng, 3)) request.max_cltv = static_cast<uint32_t>(Pick(rng, 0, 300));
    if (Chance(rng, 4)) request.max_hops = Pick(rng, 1, 4);
    if (Chance(rng, 5) && !random.edges.empty()) {
        const OracleEdge& edge = random.edges[rng() % random.edges.size()];
        request.excluded_channels.push_back({edge.scid, edge.direction});
    }
    if (Chance(rng, 5)) request.excluded_nodes.push_back(random.net.keys[rng() % random.net.keys.size()]);
    const uint32_t risks[] = {0, 1900, 1'000'000};
    request.weights.cltv_risk_ppb = risks[rng() % 3];

    if (Chance(rng, 2)) {
        random.scorer.emplace();
        random.now = 100'000;
        for (int i = 0; i < 6 && !random.edges.empty(); ++i) {
            const OracleEdge& edge = random.edges[rng() % random.edges.size()];
            const Msat observed{Pick(rng, amount / 2, amount * 2)};
            const uint64_t when = random.now - Pick(rng, 0, 10'000);
            if (Chance(rng, 2)) {
                random.scorer->RecordSuccess(edge.scid, edge.direction, observed, when);
            } else {
                random.scorer->RecordFailure(edge.scid, edge.direction, observed, when);
            }
        }
    }
}

struct OracleResult {
    uint64_t cost;
    Msat fee;
    uint64_t delay;
    size_t hops;
};

//! The search's cost of a path computed from scratch, or nullopt when the path breaks a rule.
std::optional<OracleResult> OracleCost(const RandomCase& random, const std::vector<const OracleEdge*>& edges)
{
    const PathRequest& request = random.request;
    if (edges.size() > std::min(request.max_hops, kMaxPathHops)) return std::nullopt;
    std::vector<PathEdge> path;
    for (const OracleEdge* edge : edges) path.push_back({random.net.keys[edge->to], edge->scid, edge->policy});
    const auto route = BuildRoute(path, request.amount, 0);
    if (!route || route->fee_msat() > request.max_fee) return std::nullopt;
    U128 cost = 0;
    uint64_t delay = 0;
    for (size_t i = 0; i < edges.size(); ++i) {
        const OracleEdge& edge = *edges[i];
        const uint64_t carried = route->hops[i].amount_msat.value();
        if (carried > edge.limit) return std::nullopt;
        if (i > 0) {
            const uint16_t delta = edge.policy.cltv_expiry_delta;
            delay += delta;
            cost += route->hops[i - 1].amount_msat.value() - carried;
            cost += U128{carried} * delta * request.weights.cltv_risk_ppb / 1'000'000'000;
        }
        if (random.scorer && !edge.first_hop) {
            const double probability =
                random.scorer->SuccessProbability(edge.scid, edge.direction, Msat{carried}, Msat{edge.capacity}, random.now);
            if (probability <= 0) return std::nullopt;
            cost += ProbabilityPenalty(request.weights, Msat{carried}, probability);
        }
    }
    if (delay > request.max_cltv) return std::nullopt;
    return OracleResult{static_cast<uint64_t>(cost), route->fee_msat(), delay, edges.size()};
}

bool Excluded(const PathRequest& request, const OracleEdge& edge, const PubKey& to)
{
    const bool channel = std::count(request.excluded_channels.begin(), request.excluded_channels.end(),
                                    ExcludedChannel{edge.scid, edge.direction}) > 0;
    const bool node = to != request.target &&
                      std::count(request.excluded_nodes.begin(), request.excluded_nodes.end(), to) > 0;
    return channel || node;
}

std::optional<OracleResult> OracleBest(const RandomCase& random)
{
    std::optional<OracleResult> best;
    std::vector<const OracleEdge*> path;
    std::vector<bool> visited(random.net.keys.size());
    const auto index_of = [&](const PubKey& key) {
        return static_cast<size_t>(std::find(random.net.keys.begin(), random.net.keys.end(), key) - random.net.keys.begin());
    };
    const size_t target = index_of(random.request.target);
    const std::function<void(size_t)> walk = [&](size_t node) {
        if (node == target) {
            const auto result = OracleCost(random, path);
            if (result && (!best || result->cost < best->cost)) best = result;
            return;
        }
        if (path.size() >= kMaxPathHops) return;
        visited[node] = true;
        for (const OracleEdge& edge : random.edges) {
            if (edge.from != node || visited[edge.to] || Excluded(random.request, edge, random.net.keys[edge.to])) continue;
            path.push_back(&edge);
            walk(edge.to);
            path.pop_back();
        }
        visited[node] = false;
    };
    walk(index_of(random.request.source));
    return best;
}

//! Sets the fee, delay or hop limit just below what the unconstrained optimum needs, so the
//! search has to find the best path that stays within it.
void TightenALimit(std::mt19937_64& rng, RandomCase& random)
{
    const auto best = OracleBest(random);
    if (!best) return;
    PathRequest& request = random.request;
    switch (rng() % 3) {
    case 0:
        if (best->fee > Msat{0}) request.max_fee = Msat{best->fee.value() - 1};
        break;
    case 1:
        if (best->delay > 0) request.max_cltv = static_cast<uint32_t>(best->delay - 1);
        break;
    default:
        if (best->hops > 1) request.max_hops = best->hops - 1;
        break;
    }
}

} // namespace

TEST_CASE("pathfind: the search finds the brute-force optimum on random small graphs")
{
    size_t found_count = 0;
    size_t with_scorer = 0;
    size_t tightened_found = 0;
    size_t through_hint = 0;
    for (uint64_t seed = 1; seed <= 1500; ++seed) {
        CAPTURE(seed);
        std::mt19937_64 rng(seed);
        RandomCase random;
        BuildRandomCase(rng, random);
        const bool tighten = Chance(rng, 2);
        if (tighten) TightenALimit(rng, random);
        const PaymentScorer* scorer = random.scorer ? &*random.scorer : nullptr;
        const auto expected = OracleBest(random);
        const auto found = Find(random.net.graph, random.request, scorer, random.now);
        REQUIRE(expected.has_value() == found.has_value());
        if (!found) continue;
        ++found_count;
        with_scorer += scorer != nullptr;
        tightened_found += tighten;
        through_hint += std::any_of(found->path.begin(), found->path.end(),
                                    [](const PathEdge& edge) { return edge.short_channel_id.block_height >= 700'600; });
        CHECK(found->cost == expected->cost);
        CHECK(found->fee == expected->fee);
    }
    // The generator must exercise both outcomes, and limits that bind.
    MESSAGE("found ", found_count, " of 1500, ", with_scorer, " with a scorer, ", tightened_found, " under a tightened limit, ",
            through_hint, " through a route hint");
    CHECK(found_count > 400);
    CHECK(found_count < 1300);
    CHECK(with_scorer > 150);
    CHECK(tightened_found > 100);
    CHECK(through_hint > 30);
}

// ---------------------------------------------------------------------------------------------
// The scorer.

TEST_CASE("scorer: uniform prior over the capacity, fixed prior when unknown")
{
    const PaymentScorer scorer;
    const ShortChannelId scid = Net::Scid(1);
    CHECK(scorer.SuccessProbability(scid, 0, Msat{0}, Msat{1000}, 0) == 1.0);
    CHECK(scorer.SuccessProbability(scid, 0, Msat{500}, Msat{999}, 0) == doctest::Approx(0.5));
    CHECK(scorer.SuccessProbability(scid, 0, Msat{1000}, Msat{1000}, 0) == doctest::Approx(1.0 / 1001));
    CHECK(scorer.SuccessProbability(scid, 0, Msat{1001}, Msat{1000}, 0) == 0.0);
    CHECK(scorer.SuccessProbability(scid, 1, Msat{1'000'000}, Msat{0}, 0) == doctest::Approx(0.6));
    CHECK(scorer.Empty());
}

TEST_CASE("scorer: a success raises the estimate, a failure lowers it for larger amounts")
{
    PaymentScorer scorer;
    const ShortChannelId scid = Net::Scid(1);
    const Msat capacity{1'000'000};
    const auto p = [&](uint64_t amount, ChannelDirection direction = 0) {
        return scorer.SuccessProbability(scid, direction, Msat{amount}, capacity, 1000);
    };
    const double before = p(600'000);
    scorer.RecordSuccess(scid, 0, Msat{400'000}, 1000);
    CHECK(p(400'000) == 1.0);
    CHECK(p(600'000) > before);
    CHECK(p(600'000) == doctest::Approx(400'001.0 / 600'001)); // uniform over 400k..1M
    CHECK(p(600'000, 1) == doctest::Approx(before));          // the other direction learned nothing

    scorer.RecordFailure(scid, 0, Msat{700'000}, 1000);
    CHECK(p(700'000) == 0.0);
    CHECK(p(699'999) > 0.0);
    CHECK(p(600'000) < 400'001.0 / 600'001);
    CHECK(p(600'000) == doctest::Approx(100'000.0 / 300'000)); // uniform over 400k..699,999
    CHECK(p(400'000) == 1.0);

    // A success above the failure: the liquidity grew, the old bound goes.
    scorer.RecordSuccess(scid, 0, Msat{800'000}, 1000);
    CHECK(p(800'000) == 1.0);
    CHECK(p(900'000) == doctest::Approx(100'001.0 / 200'001));
    // A failure below the success: the liquidity shrank, the old bound goes.
    scorer.RecordFailure(scid, 0, Msat{300'000}, 1000);
    CHECK(p(1) < 1.0);
    CHECK(p(300'000) == 0.0);
    CHECK(p(150'000) == doctest::Approx(150'000.0 / 300'000));

    // Unknown capacity: certain up to a success, nothing above a failure.
    const ShortChannelId other = Net::Scid(2);
    scorer.RecordSuccess(other, 1, Msat{5000}, 1000);
    scorer.RecordFailure(other, 1, Msat{9000}, 1000);
    CHECK(scorer.SuccessProbability(other, 1, Msat{5000}, Msat{0}, 1000) == 1.0);
    CHECK(scorer.SuccessProbability(other, 1, Msat{7000}, Msat{0}, 1000) == doctest::Approx(0.6));
    CHECK(scorer.SuccessProbability(other, 1, Msat{9000}, Msat{0}, 1000) == 0.0);
}

TEST_CASE("scorer: what was learned decays back to the prior")
{
    PaymentScorer scorer; // half-life one hour
    const ShortChannelId scid = Net::Scid(1);
    const Msat capacity{1'000'000};
    const uint64_t start = 50'000;
    scorer.RecordFailure(scid, 0, Msat{200'001}, start);
    scorer.RecordSuccess(scid, 0, Msat{100'000}, start);
    auto bounds = scorer.LearnedBounds(scid, 0, capacity, start);
    CHECK(bounds.min == Msat{100'000});
    CHECK(bounds.max == Msat{200'000});

    // One half-life: the lower bound halves, the upper one goes halfway back to the capacity.
    bounds = scorer.LearnedBounds(scid, 0, capacity, start + 3600);
    CHECK(bounds.min == Msat{50'000});
    CHECK(bounds.max == Msat{600'000});
    const double after_hour = scorer.SuccessProbability(scid, 0, Msat{300'000}, capacity, start + 3600);
    CHECK(after_hour == doctest::Approx(300'001.0 / 550'001));

    // Time never runs backwards for the scorer; far ahead everything is the prior again.
    CHECK(scorer.SuccessProbability(scid, 0, Msat{300'000}, capacity, start - 10) == 0.0);
    const double prior = 700'001.0 / 1'000'001;
    CHECK(scorer.SuccessProbability(scid, 0, Msat{300'000}, capacity, start + 3600 * 30) == doctest::Approx(prior));

    // A failure at a looser amount keeps the tighter recent bound...
    scorer.RecordFailure(scid, 0, Msat{500'000}, start + 60);
    CHECK(scorer.LearnedBounds(scid, 0, capacity, start + 60).max < Msat{250'000});
    // ...but replaces it once that has faded.
    scorer.RecordFailure(scid, 0, Msat{500'000}, start + 7200);
    CHECK(scorer.LearnedBounds(scid, 0, capacity, start + 7200).max == Msat{499'999});

    // Unknown capacity: a failure fades back to the prior.
    const ShortChannelId other = Net::Scid(2);
    scorer.RecordFailure(other, 0, Msat{1000}, start);
    CHECK(scorer.SuccessProbability(other, 0, Msat{2000}, Msat{0}, start + 3600) == doctest::Approx(0.3));

    CHECK(scorer.Size() == 2);
    scorer.Prune(start + 3600);
    CHECK(scorer.Size() == 2);
    scorer.Prune(start + 7200 + 3600 * 21);
    CHECK(scorer.Empty());
}

TEST_CASE("scorer: the search avoids a channel that just failed, and comes back to it")
{
    Net net(4);
    net.Link(0, 1, Policy(0, 0, 40), Sat{10'000});
    net.Link(0, 2, Policy(0, 0, 40), Sat{10'000});
    const ShortChannelId s13 = net.Link(1, 3, Policy(1000, 0, 40), Sat{10'000});
    net.Link(2, 3, Policy(1100, 0, 40), Sat{10'000});
    const PathRequest request = net.Request(0, 3, 3'000'000);
    PaymentScorer scorer;
    CHECK(net.Hops(MustFind(net.graph, request, &scorer, 0).path) == std::vector<size_t>{1, 3});

    scorer.RecordFailure(s13, net.Direction(1, 3), Msat{3'000'000}, 0);
    CHECK(net.Hops(MustFind(net.graph, request, &scorer, 0).path) == std::vector<size_t>{2, 3});
    CHECK(net.Hops(MustFind(net.graph, request, &scorer, 60).path) == std::vector<size_t>{2, 3});
    CHECK(net.Hops(MustFind(net.graph, request, &scorer, 3600 * 10).path) == std::vector<size_t>{1, 3});
    // Without a scorer the penalty is gone: pure fee and delay risk.
    CHECK(MustFind(net.graph, request).cost == 1000 + 3'000'000ull * 40 * 1900 / 1'000'000'000);
}

// ---------------------------------------------------------------------------------------------
// Multi-part.

namespace {

//! Each part is a valid route; together they deliver the amount within the fee budget, and no
//! channel is asked to carry more than its capacity or spendable amount.
void CheckParts(const Net& net, const PathRequest& request, const std::vector<RoutePart>& parts, Msat min_part)
{
    Msat total{0};
    Msat fees{0};
    std::map<uint64_t, uint64_t> carried;
    for (const RoutePart& part : parts) {
        CHECK(part.amount >= min_part);
        const auto route = BuildRoute(part.path, part.amount, request.final_cltv_delta);
        REQUIRE(route);
        CHECK(route->fee_msat() == part.fee);
        total += part.amount;
        fees += part.fee;
        for (const RouteHop& hop : route->hops) carried[hop.short_channel_id.ToU64()] += hop.amount_msat.value();
    }
    CHECK(total == request.amount);
    CHECK(fees <= request.max_fee);
    for (const auto& [scid, amount] : carried) {
        const RoutingGraph::Channel* channel = net.graph.FindChannel(ShortChannelId::FromU64(scid));
        if (channel != nullptr && channel->capacity > Sat{0}) CHECK(amount <= channel->capacity.value() * 1000);
        for (const LocalChannel& local : request.first_hops) {
            if (local.short_channel_id.ToU64() == scid) CHECK(amount <= local.spendable_msat.value());
        }
    }
}

} // namespace

TEST_CASE("multi-part: one part when one path carries it all")
{
    Diamond diamond;
    const auto parts = FindRoutes(diamond.net.graph, diamond.request, nullptr, 0, Msat{10'000});
    REQUIRE(parts);
    REQUIRE(parts->size() == 1);
    CHECK(diamond.net.Hops(parts->front().path) == std::vector<size_t>{2, 3, 4});
    CheckParts(diamond.net, diamond.request, *parts, Msat{10'000});
}

TEST_CASE("multi-part: split over paths that each hold part of the amount")
{
    // Three ways from 0 to 4 with capacities of 400, 350 and 300 sat; 900 sat to send.
    Net net(5);
    for (const auto& [middle, capacity] : {std::pair{1, 400}, std::pair{2, 350}, std::pair{3, 300}}) {
        net.Link(0, static_cast<size_t>(middle), Policy(0, 0, 40), Sat{uint64_t(capacity)});
        net.Link(static_cast<size_t>(middle), 4, Policy(1000, 100, 40), Sat{uint64_t(capacity)});
    }
    PathRequest request = net.Request(0, 4, 900'000);
    CHECK(FindError(net.graph, request) == PathfindError::NO_PATH);
    const Msat min_part{50'000};
    auto parts = FindRoutes(net.graph, request, nullptr, 0, min_part);
    REQUIRE(parts);
    CHECK(parts->size() == 3);
    CheckParts(net, request, *parts, min_part);

    // With a scorer the parts respect its learned upper bounds as well.
    PaymentScorer scorer;
    scorer.RecordFailure(Net::Scid(2), net.Direction(1, 4), Msat{300'001}, 0); // channel 1-4
    parts = FindRoutes(net.graph, request, &scorer, 0, min_part);
    REQUIRE(parts);
    CheckParts(net, request, *parts, min_part);
    for (const RoutePart& part : *parts) {
        if (part.path.back().short_channel_id == Net::Scid(2)) CHECK(part.amount <= Msat{300'000});
    }

    // Not enough room in total, too few parts allowed, or a fee budget too small for three.
    request.amount = Msat{1'100'000};
    CHECK(FindRoutes(net.graph, request, nullptr, 0, min_part).error() == PathfindError::NO_PATH);
    request.amount = Msat{900'000};
    CHECK(FindRoutes(net.graph, request, nullptr, 0, min_part, 2).error() == PathfindError::TOO_MANY_PARTS);
    request.max_fee = Msat{3000};
    CHECK_FALSE(FindRoutes(net.graph, request, nullptr, 0, min_part));
    // No part may go below min_part.
    request.max_fee = Msat{kMaxU64};
    CHECK_FALSE(FindRoutes(net.graph, request, nullptr, 0, Msat{400'000}));
}

TEST_CASE("multi-part: after a failure a channel's part is sized at the middle of what is known, when the rest fits elsewhere")
{
    // Two ways from 0 to 3, through 1 (400 sat) and through 2 (350 sat).
    Net net(4);
    for (const auto& [middle, capacity] : {std::pair{1, 400}, std::pair{2, 350}}) {
        net.Link(0, static_cast<size_t>(middle), Policy(0, 0, 40), Sat{uint64_t(capacity)});
        net.Link(static_cast<size_t>(middle), 3, Policy(1000, 100, 40), Sat{uint64_t(capacity)});
    }
    const Msat min_part{20'000};
    PaymentScorer scorer;
    // Channel 1-3 failed at 300,001 msat: its liquidity is somewhere in 0..300,000.
    scorer.RecordFailure(Net::Scid(2), net.Direction(1, 3), Msat{300'001}, 0);
    const auto through_one = [](const std::vector<RoutePart>& parts) {
        Msat total{0};
        for (const RoutePart& part : parts) {
            if (part.path.back().short_channel_id == Net::Scid(2)) total += part.amount;
        }
        return total;
    };
    PathRequest request = net.Request(0, 3, 450'000);
    auto parts = FindRoutes(net.graph, request, &scorer, 0, min_part);
    REQUIRE(parts);
    CheckParts(net, request, *parts, min_part);
    CHECK(through_one(*parts) > Msat{0});
    CHECK(through_one(*parts) <= Msat{150'000});

    // When the middle leaves too little room, the top of the known range is tried.
    request.amount = Msat{600'000};
    parts = FindRoutes(net.graph, request, &scorer, 0, min_part);
    REQUIRE(parts);
    CheckParts(net, request, *parts, min_part);
    CHECK(through_one(*parts) > Msat{150'000});
    CHECK(through_one(*parts) <= Msat{300'000});
}

TEST_CASE("multi-part: our first hops' spendable amounts bound the parts")
{
    Net net(3);
    net.Link(1, 2, Policy(0, 0, 40));
    PathRequest request = net.Request(0, 2, 1'000'000);
    request.first_hops = {
        LocalChannel{net.keys[1], Net::Scid(80), Msat{600'000}, ForwardPolicy{}},
        LocalChannel{net.keys[1], Net::Scid(81), Msat{300'000}, ForwardPolicy{}},
        LocalChannel{net.keys[2], Net::Scid(82), Msat{250'000}, ForwardPolicy{}},
    };
    const auto parts = FindRoutes(net.graph, request, nullptr, 0, Msat{100'000});
    REQUIRE(parts);
    CheckParts(net, request, *parts, Msat{100'000});
    CHECK(parts->size() == 3);
    // The direct channel costs nothing: it is used in full.
    for (const RoutePart& part : *parts) {
        if (part.path.size() == 1) CHECK(part.amount == Msat{250'000});
    }
}

TEST_CASE("multi-part: an htlc_maximum_msat below the amount splits it over one path")
{
    Net net(3);
    net.Link(0, 1, Policy(0, 0, 40), Sat{10'000});
    ForwardPolicy narrow = Policy(100, 0, 40);
    narrow.htlc_maximum_msat = Msat{400'000};
    net.Link(1, 2, narrow, Sat{10'000});
    const PathRequest request = net.Request(0, 2, 1'000'000);
    const auto parts = FindRoutes(net.graph, request, nullptr, 0, Msat{100'000});
    REQUIRE(parts);
    CheckParts(net, request, *parts, Msat{100'000});
    REQUIRE(parts->size() == 3);
    for (const RoutePart& part : *parts) {
        CHECK(part.amount <= Msat{400'000});
        CHECK(net.Hops(part.path) == std::vector<size_t>{1, 2});
    }
}
