// The routing graph: channels keyed by short_channel_id between ordered nodes, a policy and a
// disable bit per direction, removal with slot reuse, and a random add/remove run against a model.
#include "pay/graph.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>

using namespace sidebolt;

namespace {

PubKey GraphNode(uint8_t n) { return PrivKey::FromBytes(Bytes(32, n))->GetPubKey(); }
ShortChannelId GraphScid(uint32_t n) { return ShortChannelId{600'000 + n, n, static_cast<uint16_t>(n % 4)}; }

//! The two keys in BOLT 7 order (node_1 the lesser).
std::pair<PubKey, PubKey> Ordered(const PubKey& a, const PubKey& b) { return a < b ? std::pair{a, b} : std::pair{b, a}; }

ForwardPolicy Policy(uint64_t base, uint32_t ppm, uint16_t delta)
{
    ForwardPolicy policy;
    policy.fee_base_msat = Msat{base};
    policy.fee_proportional_millionths = ppm;
    policy.cltv_expiry_delta = delta;
    policy.htlc_minimum_msat = Msat{base + 7};
    policy.htlc_maximum_msat = Msat{base * 1000 + 9};
    return policy;
}

bool SamePolicy(const ForwardPolicy& a, const ForwardPolicy& b)
{
    return a.fee_base_msat == b.fee_base_msat && a.fee_proportional_millionths == b.fee_proportional_millionths &&
           a.cltv_expiry_delta == b.cltv_expiry_delta && a.htlc_minimum_msat == b.htlc_minimum_msat &&
           a.htlc_maximum_msat == b.htlc_maximum_msat;
}

} // namespace

TEST_CASE("graph: channels are added once, between node_1 < node_2")
{
    RoutingGraph graph;
    const auto [low, high] = Ordered(GraphNode(1), GraphNode(2));
    CHECK_FALSE(graph.AddChannel(GraphScid(1), high, low, Sat{1000})); // BOLT 7 order
    CHECK_FALSE(graph.AddChannel(GraphScid(1), low, low, Sat{1000}));
    CHECK(graph.NodeCount() == 0);

    REQUIRE(graph.AddChannel(GraphScid(1), low, high, Sat{1000}));
    CHECK_FALSE(graph.AddChannel(GraphScid(1), low, high, Sat{2000}));
    // An scid beyond the 3-byte block height of the wire encoding would alias another.
    CHECK_FALSE(graph.AddChannel(ShortChannelId{(1u << 24) + 600'001, 1, 1}, low, high, Sat{1}));
    CHECK(graph.ChannelCount() == 1);
    CHECK(graph.NodeCount() == 2);
    CHECK(graph.HasChannel(GraphScid(1)));
    CHECK_FALSE(graph.HasChannel(GraphScid(2)));
    CHECK(graph.HasNode(low));
    CHECK_FALSE(graph.HasNode(GraphNode(3)));

    const RoutingGraph::Channel* channel = graph.FindChannel(GraphScid(1));
    REQUIRE(channel != nullptr);
    CHECK(channel->Scid() == GraphScid(1));
    CHECK(channel->capacity == Sat{1000});
    CHECK(*graph.NodeKey(channel->nodes[0]) == low);
    CHECK(*graph.NodeKey(channel->nodes[1]) == high);
    CHECK(channel->nodes[0] == *graph.FindNode(low));
    // Direction 0 forwards node_1 -> node_2 and is kept with node_1; direction 1 the other way.
    const RoutingGraph::HalfChannel& forward = graph.Half(*channel, 0);
    CHECK(forward.to == channel->nodes[1]);
    CHECK(forward.direction == 0);
    CHECK(forward.capacity == Sat{1000});
    CHECK(forward.channel == *graph.FindChannelIndex(GraphScid(1)));
    CHECK(graph.Half(*channel, 1).to == channel->nodes[0]);
    CHECK(&graph.HalvesOutOf(channel->nodes[0])[0] == &forward);
    CHECK_FALSE(forward.has_policy);
    CHECK_FALSE(forward.Usable());
}

TEST_CASE("graph: a policy per direction, with the disable bit")
{
    RoutingGraph graph;
    const auto [low, high] = Ordered(GraphNode(1), GraphNode(2));
    REQUIRE(graph.AddChannel(GraphScid(1), low, high, Sat{0}));
    CHECK_FALSE(graph.SetPolicy(GraphScid(2), 0, Policy(1, 2, 3), false));
    CHECK_FALSE(graph.SetPolicy(GraphScid(1), 2, Policy(1, 2, 3), false));
    // channel_update's fee_base_msat is a u32.
    ForwardPolicy huge = Policy(1, 2, 3);
    huge.fee_base_msat = Msat{uint64_t{1} << 32};
    CHECK_FALSE(graph.SetPolicy(GraphScid(1), 0, huge, false));
    huge.fee_base_msat = Msat{(uint64_t{1} << 32) - 1};
    CHECK(graph.SetPolicy(GraphScid(1), 0, huge, false));

    CHECK_FALSE(graph.PolicyFrom(GraphScid(1), high));
    REQUIRE(graph.SetPolicy(GraphScid(1), 0, Policy(1000, 100, 40), false));
    // Only the direction low forwards over has a policy yet.
    CHECK(SamePolicy(graph.PolicyFrom(GraphScid(1), low).value(), Policy(1000, 100, 40)));
    CHECK_FALSE(graph.PolicyFrom(GraphScid(1), high));
    CHECK_FALSE(graph.PolicyFrom(GraphScid(2), low));
    CHECK_FALSE(graph.PolicyFrom(GraphScid(1), GraphNode(3)));
    REQUIRE(graph.SetPolicy(GraphScid(1), 1, Policy(5, 6, 7), true));
    // A disabled direction's policy still says what it charges.
    CHECK(SamePolicy(graph.PolicyFrom(GraphScid(1), high).value(), Policy(5, 6, 7)));
    const RoutingGraph::Channel& channel = *graph.FindChannel(GraphScid(1));
    CHECK(SamePolicy(graph.Half(channel, 0).Policy(), Policy(1000, 100, 40)));
    CHECK(SamePolicy(graph.Half(channel, 1).Policy(), Policy(5, 6, 7)));
    CHECK(graph.Half(channel, 0).Usable());
    CHECK_FALSE(graph.Half(channel, 1).Usable());
    CHECK(graph.Half(channel, 1).has_policy);

    // A later update re-enables it.
    REQUIRE(graph.SetPolicy(GraphScid(1), 1, Policy(5, 6, 8), false));
    CHECK(graph.Half(channel, 1).Usable());
    CHECK(graph.Half(channel, 1).cltv_expiry_delta == 8);
}

TEST_CASE("graph: removal forgets lonely nodes and reuses slots")
{
    RoutingGraph graph;
    const PubKey a = GraphNode(1), b = GraphNode(2), c = GraphNode(3);
    const auto [ab1, ab2] = Ordered(a, b);
    const auto [bc1, bc2] = Ordered(b, c);
    REQUIRE(graph.AddChannel(GraphScid(1), ab1, ab2, Sat{10}));
    REQUIRE(graph.AddChannel(GraphScid(2), bc1, bc2, Sat{20}));
    REQUIRE(graph.SetPolicy(GraphScid(1), 0, Policy(1, 1, 1), false));
    CHECK(graph.NodeCount() == 3);
    CHECK(graph.HalvesOutOf(*graph.FindNode(b)).size() == 2);

    CHECK_FALSE(graph.RemoveChannel(GraphScid(3)));
    REQUIRE(graph.RemoveChannel(GraphScid(1)));
    CHECK_FALSE(graph.RemoveChannel(GraphScid(1)));
    CHECK(graph.ChannelCount() == 1);
    CHECK(graph.NodeCount() == 2);
    CHECK_FALSE(graph.HasNode(a));
    CHECK(graph.HalvesOutOf(*graph.FindNode(b)).size() == 1);
    CHECK(graph.Half(*graph.FindChannel(GraphScid(2)), 0).Usable() == false);
    CHECK(graph.FindChannel(GraphScid(1)) == nullptr);

    // The freed channel and node slots come back.
    const size_t channel_slots = graph.ChannelSlots();
    const size_t node_slots = graph.NodeSlots();
    const PubKey d = GraphNode(4);
    const auto [cd1, cd2] = Ordered(c, d);
    REQUIRE(graph.AddChannel(GraphScid(3), cd1, cd2, Sat{30}));
    CHECK(graph.ChannelSlots() == channel_slots);
    CHECK(graph.NodeSlots() == node_slots);
    CHECK_FALSE(graph.Half(*graph.FindChannel(GraphScid(3)), 0).has_policy);
}

TEST_CASE("graph: the largest htlc_minimum_msat up to a limit follows updates and removals")
{
    RoutingGraph graph;
    const auto [low, high] = Ordered(GraphNode(1), GraphNode(2));
    REQUIRE(graph.AddChannel(GraphScid(1), low, high, Sat{0}));
    REQUIRE(graph.AddChannel(GraphScid(2), low, high, Sat{0}));
    CHECK(graph.LargestHtlcMinimumUpTo(1'000'000) == 0);
    ForwardPolicy policy;
    policy.htlc_minimum_msat = Msat{5000};
    REQUIRE(graph.SetPolicy(GraphScid(1), 0, policy, false));
    policy.htlc_minimum_msat = Msat{100};
    REQUIRE(graph.SetPolicy(GraphScid(2), 1, policy, true));
    CHECK(graph.LargestHtlcMinimumUpTo(1'000'000) == 5000);
    CHECK(graph.LargestHtlcMinimumUpTo(4999) == 100);
    CHECK(graph.LargestHtlcMinimumUpTo(99) == 0);
    REQUIRE(graph.SetPolicy(GraphScid(1), 0, policy, false)); // 5000 -> 100
    CHECK(graph.LargestHtlcMinimumUpTo(1'000'000) == 100);
    REQUIRE(graph.RemoveChannel(GraphScid(1)));
    REQUIRE(graph.RemoveChannel(GraphScid(2)));
    CHECK(graph.LargestHtlcMinimumUpTo(1'000'000) == 0);
}

TEST_CASE("graph: random adds and removals agree with a simple model")
{
    std::mt19937_64 rng(7);
    std::vector<PubKey> keys;
    for (uint8_t n = 1; n <= 12; ++n) keys.push_back(GraphNode(n));
    RoutingGraph graph;
    std::map<uint32_t, std::pair<PubKey, PubKey>> model; // scid number -> ordered ends

    for (int step = 0; step < 2000; ++step) {
        const auto number = static_cast<uint32_t>(rng() % 40);
        if (rng() % 3 == 0) {
            CHECK(graph.RemoveChannel(GraphScid(number)) == (model.erase(number) == 1));
        } else {
            const PubKey& a = keys[rng() % keys.size()];
            const PubKey& b = keys[rng() % keys.size()];
            if (a == b) continue;
            const auto [low, high] = Ordered(a, b);
            const bool added = graph.AddChannel(GraphScid(number), low, high, Sat{number});
            CHECK(added == !model.contains(number));
            if (!added) continue;
            model.emplace(number, std::pair{low, high});
            ForwardPolicy policy;
            policy.cltv_expiry_delta = static_cast<uint16_t>(number);
            REQUIRE(graph.SetPolicy(GraphScid(number), 0, policy, false));
            REQUIRE(graph.SetPolicy(GraphScid(number), 1, policy, true));
        }
    }

    CHECK(graph.ChannelCount() == model.size());
    std::set<std::vector<uint8_t>> nodes;
    std::map<RoutingGraph::NodeIndex, size_t> degree;
    for (const auto& [number, ends] : model) {
        const RoutingGraph::Channel* channel = graph.FindChannel(GraphScid(number));
        REQUIRE(channel != nullptr);
        CHECK(*graph.NodeKey(channel->nodes[0]) == ends.first);
        CHECK(*graph.NodeKey(channel->nodes[1]) == ends.second);
        CHECK(channel->capacity == Sat{number});
        const auto index = *graph.FindChannelIndex(GraphScid(number));
        for (ChannelDirection direction = 0; direction < 2; ++direction) {
            const RoutingGraph::HalfChannel& half = graph.Half(*channel, direction);
            CHECK(half.channel == index);
            CHECK(half.direction == direction);
            CHECK(half.to == channel->nodes[1 - direction]);
            CHECK(half.capacity == Sat{number});
            CHECK(half.cltv_expiry_delta == number); // the policy stayed with its half
            const auto halves = graph.HalvesOutOf(channel->nodes[direction]);
            CHECK(std::count_if(halves.begin(), halves.end(), [&](const auto& h) { return h.channel == index; }) == 1);
            ++degree[channel->nodes[direction]];
        }
        nodes.insert({ends.first.Bytes33().begin(), ends.first.Bytes33().end()});
        nodes.insert({ends.second.Bytes33().begin(), ends.second.Bytes33().end()});
    }
    CHECK(graph.NodeCount() == nodes.size());
    for (const auto& [node, count] : degree) CHECK(graph.HalvesOutOf(node).size() == count);
    CHECK(graph.MemoryUsage() > 0);
}
