// Pathfinding on a graph the size of today's public network: 15,000 nodes and 50,000 channels
// grown by preferential attachment (a few hubs, a long tail), with realistic random policies.
// Reports graph build time, memory per 10,000 channels, and the median and 90th percentile time
// of FindPath between random pairs, with and without a scorer.
#include "pay/graph.h"
#include "pay/pathfind.h"
#include "pay/scorer.h"
#include "primitives/hash.h"
#include "primitives/key.h"

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

using namespace sidebolt;

namespace {

constexpr size_t kNodes = 15'000;
constexpr size_t kChannels = 50'000;
constexpr uint64_t kSeed = 20'240'601;

struct ChannelSpec {
    ShortChannelId scid;
    uint32_t node_1;
    uint32_t node_2;
    Sat capacity;
    std::array<ForwardPolicy, 2> policies;
    std::array<bool, 2> announced;
    std::array<bool, 2> disabled;
};

struct Network {
    std::vector<PubKey> keys;
    std::vector<ChannelSpec> channels;
};

PubKey BenchNode(size_t i)
{
    const Bytes seed{static_cast<uint8_t>(i), static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i >> 16), 'n'};
    return PrivKey::FromBytes(Sha256(seed))->GetPubKey();
}

//! Log-uniform between low and high.
uint64_t LogUniform(std::mt19937_64& rng, double low, double high)
{
    std::uniform_real_distribution<double> exponent(std::log(low), std::log(high));
    return static_cast<uint64_t>(std::exp(exponent(rng)));
}

//! Terms roughly as seen on mainnet: base fee mostly 1 sat or zero, a few hundred ppm, deltas
//! from the common implementation defaults.
ForwardPolicy RandomPolicy(std::mt19937_64& rng, Sat capacity)
{
    static constexpr uint16_t kDeltas[] = {18, 34, 40, 40, 40, 72, 80, 144, 144};
    ForwardPolicy policy;
    const uint64_t base_kind = rng() % 10;
    policy.fee_base_msat = Msat{base_kind < 6 ? 1000 : base_kind < 8 ? 0 : rng() % 5000};
    policy.fee_proportional_millionths = static_cast<uint32_t>(LogUniform(rng, 1, 5000));
    policy.cltv_expiry_delta = kDeltas[rng() % std::size(kDeltas)];
    policy.htlc_minimum_msat = Msat{rng() % 4 == 0 ? 1u : 1000u};
    // BOLT 7: "MUST set htlc_maximum_msat to less than or equal to channel capacity".
    policy.htlc_maximum_msat = Msat{capacity.value() * (rng() % 2 == 0 ? 990 : 500)};
    return policy;
}

//! Preferential attachment: each new node opens 3 or 4 channels, to a peer picked in proportion
//! to its channel count 90% of the time and uniformly otherwise.
Network GenerateNetwork()
{
    std::mt19937_64 rng(kSeed);
    Network network;
    network.keys.reserve(kNodes);
    for (size_t i = 0; i < kNodes; ++i) network.keys.push_back(BenchNode(i));

    std::vector<uint32_t> endpoints; // every channel end once: a uniform pick is degree-weighted
    endpoints.reserve(2 * kChannels);
    const auto add = [&](uint32_t a, uint32_t b) {
        const bool ordered = network.keys[a] < network.keys[b];
        ChannelSpec spec;
        spec.scid = ShortChannelId{500'000 + static_cast<uint32_t>(network.channels.size() / 1000),
                                   static_cast<uint32_t>(network.channels.size() % 1000), 0};
        spec.node_1 = ordered ? a : b;
        spec.node_2 = ordered ? b : a;
        spec.capacity = Sat{LogUniform(rng, 50'000, 20'000'000)};
        for (int direction = 0; direction < 2; ++direction) {
            spec.policies[direction] = RandomPolicy(rng, spec.capacity);
            spec.announced[direction] = rng() % 100 >= 3;
            spec.disabled[direction] = rng() % 100 < 5;
        }
        network.channels.push_back(spec);
        endpoints.push_back(a);
        endpoints.push_back(b);
    };
    constexpr uint32_t kSeedNodes = 5;
    for (uint32_t a = 0; a < kSeedNodes; ++a) {
        for (uint32_t b = a + 1; b < kSeedNodes; ++b) add(a, b);
    }
    for (uint32_t node = kSeedNodes; node < kNodes && network.channels.size() < kChannels; ++node) {
        const size_t remaining_nodes = kNodes - node;
        const size_t remaining_channels = kChannels - network.channels.size();
        // 3 or 4 channels so that the total comes out at kChannels.
        const size_t opens = remaining_channels >= 4 * remaining_nodes ? 4 : rng() % remaining_nodes < remaining_channels % remaining_nodes ? 4 : 3;
        for (size_t k = 0; k < opens && network.channels.size() < kChannels; ++k) {
            const uint32_t peer = rng() % 10 == 0 ? static_cast<uint32_t>(rng() % node) : endpoints[rng() % endpoints.size()];
            if (peer != node) add(node, peer);
        }
    }
    return network;
}

const Network& BenchNetwork()
{
    static const Network network = GenerateNetwork();
    return network;
}

void Fill(RoutingGraph& graph, const Network& network)
{
    for (const ChannelSpec& spec : network.channels) {
        graph.AddChannel(spec.scid, network.keys[spec.node_1], network.keys[spec.node_2], spec.capacity);
        for (ChannelDirection direction = 0; direction < 2; ++direction) {
            if (spec.announced[direction]) graph.SetPolicy(spec.scid, direction, spec.policies[direction], spec.disabled[direction]);
        }
    }
}

const RoutingGraph& BenchGraph()
{
    static const RoutingGraph graph = [] {
        RoutingGraph built;
        Fill(built, BenchNetwork());
        return built;
    }();
    return graph;
}

//! A scorer that has seen a few thousand payment attempts over the last hours.
const PaymentScorer& BenchScorer()
{
    static const PaymentScorer scorer = [] {
        PaymentScorer learned;
        std::mt19937_64 rng(kSeed + 1);
        const Network& network = BenchNetwork();
        for (int i = 0; i < 5000; ++i) {
            const ChannelSpec& spec = network.channels[rng() % network.channels.size()];
            const auto direction = static_cast<ChannelDirection>(rng() % 2);
            const Msat amount{rng() % (spec.capacity.value() * 1000)};
            const uint64_t when = 100'000 - rng() % 20'000;
            if (rng() % 2 == 0) {
                learned.RecordSuccess(spec.scid, direction, amount, when);
            } else {
                learned.RecordFailure(spec.scid, direction, amount, when);
            }
        }
        return learned;
    }();
    return scorer;
}

//! The time of each FindPath between random pairs for a random amount, as the counters report.
void RunFindPath(benchmark::State& state, const PaymentScorer* scorer)
{
    const RoutingGraph& graph = BenchGraph();
    const Network& network = BenchNetwork();
    std::mt19937_64 rng(kSeed + 2);
    std::vector<double> milliseconds;
    size_t found = 0;
    size_t hops = 0;
    for (auto _ : state) {
        const size_t source = rng() % kNodes;
        size_t target = rng() % kNodes;
        if (target == source) target = (target + 1) % kNodes;
        PathRequest request{.source = network.keys[source], .target = network.keys[target],
                            .amount = Msat{LogUniform(rng, 10'000, 10'000'000) * 1000}};
        request.max_fee = Msat{request.amount.value() / 100 + 5000}; // 1% plus 5 sat
        const auto start = std::chrono::steady_clock::now();
        const auto path = FindPath(graph, request, scorer, 100'000);
        const auto stop = std::chrono::steady_clock::now();
        milliseconds.push_back(std::chrono::duration<double, std::milli>(stop - start).count());
        if (path) {
            ++found;
            hops += path->size();
        }
        benchmark::DoNotOptimize(path);
    }
    std::sort(milliseconds.begin(), milliseconds.end());
    state.counters["median_ms"] = milliseconds[milliseconds.size() / 2];
    state.counters["p90_ms"] = milliseconds[milliseconds.size() * 9 / 10];
    state.counters["max_ms"] = milliseconds.back();
    state.counters["found_pct"] = 100.0 * static_cast<double>(found) / static_cast<double>(milliseconds.size());
    state.counters["avg_hops"] = found == 0 ? 0.0 : static_cast<double>(hops) / static_cast<double>(found);
}

//! Multi-part payments too large for most single paths (2 to 20 million sat).
void PathFindRoutes(benchmark::State& state)
{
    const RoutingGraph& graph = BenchGraph();
    const Network& network = BenchNetwork();
    std::mt19937_64 rng(kSeed + 3);
    size_t found = 0;
    size_t parts = 0;
    size_t attempts = 0;
    for (auto _ : state) {
        const size_t source = rng() % kNodes;
        size_t target = rng() % kNodes;
        if (target == source) target = (target + 1) % kNodes;
        PathRequest request{.source = network.keys[source], .target = network.keys[target],
                            .amount = Msat{LogUniform(rng, 2'000'000, 20'000'000) * 1000}};
        request.max_fee = Msat{request.amount.value() / 100};
        const auto routes = FindRoutes(graph, request, &BenchScorer(), 100'000, Msat{request.amount.value() / 32});
        ++attempts;
        if (routes) {
            ++found;
            parts += routes->size();
        }
        benchmark::DoNotOptimize(routes);
    }
    state.counters["found_pct"] = 100.0 * static_cast<double>(found) / static_cast<double>(attempts);
    state.counters["avg_parts"] = found == 0 ? 0.0 : static_cast<double>(parts) / static_cast<double>(found);
}

void PathFind(benchmark::State& state) { RunFindPath(state, nullptr); }
void PathFindScored(benchmark::State& state) { RunFindPath(state, &BenchScorer()); }

//! Building the graph from gossip-like updates: one AddChannel and two SetPolicy per channel.
void PathGraphBuild(benchmark::State& state)
{
    const Network& network = BenchNetwork();
    size_t bytes = 0;
    size_t nodes = 0;
    for (auto _ : state) {
        RoutingGraph graph;
        Fill(graph, network);
        bytes = graph.MemoryUsage();
        nodes = graph.NodeCount();
        benchmark::DoNotOptimize(graph);
    }
    state.counters["channels"] = static_cast<double>(network.channels.size());
    state.counters["nodes"] = static_cast<double>(nodes);
    state.counters["MB"] = static_cast<double>(bytes) / 1e6;
    state.counters["bytes_per_10k_channels"] = static_cast<double>(bytes) * 10'000 / static_cast<double>(network.channels.size());
}

} // namespace

BENCHMARK(PathGraphBuild)->Unit(benchmark::kMillisecond)->Iterations(5);
BENCHMARK(PathFind)->Unit(benchmark::kMillisecond)->Iterations(400);
BENCHMARK(PathFindScored)->Unit(benchmark::kMillisecond)->Iterations(400);
BENCHMARK(PathFindRoutes)->Unit(benchmark::kMillisecond)->Iterations(50);
