// BOLT 7 fee formula, route assembly backwards from the payee, route hints, multi-part split and
// the maxfeepercent/maxdelay checks.
#include "pay/forward.h"
#include "pay/receive.h"
#include "pay/route.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <bitset>
#include <cmath>
#include <limits>
#include <random>

using namespace sidebolt;

namespace {

__extension__ using U128 = unsigned __int128;

constexpr uint64_t kMaxU64 = std::numeric_limits<uint64_t>::max();

PubKey RouteNode(uint8_t n) { return PrivKey::FromBytes(Bytes(32, n))->GetPubKey(); }
ShortChannelId RouteScid(uint32_t n) { return ShortChannelId{700'000 + n, n, static_cast<uint16_t>(n)}; }

ForwardPolicy Policy(uint64_t base, uint32_t ppm, uint16_t delta)
{
    ForwardPolicy policy;
    policy.fee_base_msat = Msat{base};
    policy.fee_proportional_millionths = ppm;
    policy.cltv_expiry_delta = delta;
    return policy;
}

//! The BOLT 7 formula in 128 bits, the reference the 64-bit implementation must match.
std::optional<uint64_t> ReferenceFee(uint64_t base, uint32_t ppm, uint64_t amount)
{
    const U128 fee = U128{base} + U128{amount} * ppm / 1'000'000;
    if (fee > kMaxU64) return std::nullopt;
    return static_cast<uint64_t>(fee);
}

// The five-channel path of the hand-computed example: edge 0 is ours (its policy is ignored).
std::vector<PathEdge> FiveEdges()
{
    return {
        {RouteNode(1), RouteScid(1), Policy(999'999, 999'999, 999)},
        {RouteNode(2), RouteScid(2), Policy(1000, 1, 34)},
        {RouteNode(3), RouteScid(3), Policy(0, 1000, 40)},
        {RouteNode(4), RouteScid(4), Policy(500, 250, 144)},
        {RouteNode(5), RouteScid(5), Policy(1, 1'000'000, 6)},
    };
}

//! Independent check of a built route: every forwarding node, run through CheckForward with the
//! policy it announced, accepts exactly these values and rejects one msat or one block less;
//! the payee's CheckFinalHtlc accepts its HTLC.
void CheckRouteAgainstForwardRules(const Route& route, std::span<const PathEdge> path, uint32_t height)
{
    REQUIRE(route.hops.size() == path.size());
    for (size_t i = 0; i + 1 < route.hops.size(); ++i) {
        const RouteHop& in = route.hops[i];
        const RouteHop& out = route.hops[i + 1];
        const ForwardPolicy& policy = path[i + 1].policy;
        const auto fee = ReferenceFee(policy.fee_base_msat.value(), policy.fee_proportional_millionths, out.amount_msat.value());
        REQUIRE(fee);
        CHECK(in.amount_msat.value() == out.amount_msat.value() + *fee);
        CHECK(in.cltv_expiry == out.cltv_expiry + policy.cltv_expiry_delta);
        CHECK(route.OnionValues(i).amt_to_forward == out.amount_msat);
        CHECK(route.OnionValues(i).outgoing_cltv_value == out.cltv_expiry);
        CHECK(route.OnionValues(i).short_channel_id == out.short_channel_id);

        const OutgoingChannelView channel{true, true, policy, Msat{kMaxU64}};
        const ForwardRequest request{out.amount_msat, out.cltv_expiry};
        const ForwardLimits limits{0, 100'000};
        CHECK_FALSE(CheckForward({in.amount_msat, in.cltv_expiry}, request, channel, height, limits));
        const auto short_fee = CheckForward({in.amount_msat - Msat{1}, in.cltv_expiry}, request, channel, height, limits);
        REQUIRE(short_fee);
        CHECK(short_fee->code == FailureCode::FEE_INSUFFICIENT);
        const auto short_cltv = CheckForward({in.amount_msat, in.cltv_expiry - 1}, request, channel, height, limits);
        REQUIRE(short_cltv);
        CHECK(short_cltv->code == FailureCode::INCORRECT_CLTV_EXPIRY);
    }
    const RouteHop& last = route.hops.back();
    const HopOnionValues final_values = route.OnionValues(route.hops.size() - 1);
    CHECK_FALSE(final_values.short_channel_id);
    const FinalHtlcCheck htlc{last.amount_msat, last.cltv_expiry, final_values.amt_to_forward, final_values.outgoing_cltv_value, {}, {}};
    ExpectedPayment expected;
    expected.amount_msat = route.final_amount_msat();
    CHECK_FALSE(CheckFinalHtlc(htlc, expected, height));
}

} // namespace

TEST_CASE("route: BOLT 7 fee formula rounds down")
{
    // BOLT 7 "Routing Example": 200 + ( 4999999 * 2000 / 1000000 ) = 10199.
    CHECK(ForwardingFee(Policy(200, 2000, 0), Msat{4'999'999}) == Msat{10'199});
    CHECK(ForwardingFee(Policy(400, 4000, 0), Msat{4'999'999}) == Msat{20'399});
    CHECK(ForwardingFee(Policy(0, 1, 0), Msat{999'999}) == Msat{0});
    CHECK(ForwardingFee(Policy(0, 1, 0), Msat{1'000'000}) == Msat{1});
    CHECK(ForwardingFee(Policy(0, 1, 0), Msat{1'999'999}) == Msat{1});
    CHECK(ForwardingFee(Policy(7, 0, 0), Msat{kMaxU64}) == Msat{7});
    CHECK(ForwardingFee(Policy(0, 1'000'000, 0), Msat{123'456'789}) == Msat{123'456'789});
    // A product above 64 bits whose quotient still fits: floor((2^64 - 1) / 10^6).
    CHECK(ForwardingFee(Policy(0, 1, 0), Msat{kMaxU64}) == Msat{18'446'744'073'709});
    CHECK(ForwardingFee(Policy(0, 999'999, 0), Msat{kMaxU64}) == Msat{*ReferenceFee(0, 999'999, kMaxU64)});
}

TEST_CASE("route: fee overflow is reported, never wrapped")
{
    CHECK_FALSE(CheckedForwardingFee(Policy(kMaxU64, 1, 0), Msat{1'000'000}));
    CHECK(CheckedForwardingFee(Policy(kMaxU64, 1, 0), Msat{999'999}) == Msat{kMaxU64});
    CHECK_FALSE(CheckedForwardingFee(Policy(0, std::numeric_limits<uint32_t>::max(), 0), Msat{kMaxU64}));
    CHECK_THROWS_AS(ForwardingFee(Policy(kMaxU64, 1, 0), Msat{1'000'000}), AmountError);
    // The last amount whose proportional fee fits, and the first that does not.
    const uint32_t ppm = 2'000'000'000;
    const uint64_t fits = static_cast<uint64_t>((U128{kMaxU64} * 1'000'000 + 999'999) / ppm);
    CHECK(CheckedForwardingFee(Policy(0, ppm, 0), Msat{fits}) == Msat{*ReferenceFee(0, ppm, fits)});
    CHECK_FALSE(CheckedForwardingFee(Policy(0, ppm, 0), Msat{fits + 1}));
}

TEST_CASE("route: fee formula matches a 128-bit reference")
{
    std::mt19937_64 rng(4);
    for (int i = 0; i < 20'000; ++i) {
        const uint64_t base = i % 3 == 0 ? rng() : rng() % 100'000;
        const auto ppm = static_cast<uint32_t>(i % 2 == 0 ? rng() : rng() % 10'000);
        const uint64_t amount = i % 5 == 0 ? rng() : rng() % 10'000'000'000'000ULL;
        const auto expected = ReferenceFee(base, ppm, amount);
        const auto actual = CheckedForwardingFee(Policy(base, ppm, 0), Msat{amount});
        REQUIRE(actual.has_value() == expected.has_value());
        if (expected) REQUIRE(actual->value() == *expected);
    }
}

TEST_CASE("route: BOLT 7 routing example")
{
    const uint32_t height = 600'000;
    const uint32_t final_cltv = height + 18 + 42; // min_final_cltv_expiry_delta 18, shadow route 42
    const PubKey b = RouteNode(0xb), c = RouteNode(0xc), d = RouteNode(0xd);

    SUBCASE("B->C direct")
    {
        const std::vector<PathEdge> path{{c, RouteScid(1), {}}};
        const auto route = BuildRoute(path, Msat{4'999'999}, final_cltv);
        REQUIRE(route);
        REQUIRE(route->hops.size() == 1);
        CHECK(route->total_amount_msat() == Msat{4'999'999});
        CHECK(route->fee_msat() == Msat{0});
        CHECK(route->first_cltv() == final_cltv);
        CheckRouteAgainstForwardRules(*route, path, height);
    }
    SUBCASE("A->B->C")
    {
        const std::vector<PathEdge> path{{b, RouteScid(1), Policy(100, 1000, 10)}, {c, RouteScid(2), Policy(200, 2000, 20)}};
        const auto route = BuildRoute(path, Msat{4'999'999}, final_cltv);
        REQUIRE(route);
        CHECK(route->hops[0].amount_msat == Msat{5'010'198});
        CHECK(route->hops[0].cltv_expiry == height + 20 + 18 + 42);
        CHECK(route->hops[0].node_id == b);
        CHECK(route->hops[1].amount_msat == Msat{4'999'999});
        CHECK(route->hops[1].cltv_expiry == height + 18 + 42);
        CHECK(route->hops[1].node_id == c);
        CHECK(route->fee_msat() == Msat{10'199});
        CheckRouteAgainstForwardRules(*route, path, height);
    }
    SUBCASE("A->D->C")
    {
        const std::vector<PathEdge> path{{d, RouteScid(3), Policy(100, 1000, 10)}, {c, RouteScid(4), Policy(400, 4000, 40)}};
        const auto route = BuildRoute(path, Msat{4'999'999}, final_cltv);
        REQUIRE(route);
        CHECK(route->total_amount_msat() == Msat{5'020'398});
        CHECK(route->first_cltv() == height + 40 + 18 + 42);
        CHECK(route->OnionValues(0).amt_to_forward == Msat{4'999'999});
        CHECK(route->OnionValues(0).outgoing_cltv_value == height + 18 + 42);
        CHECK(route->OnionValues(0).short_channel_id == RouteScid(4));
        CheckRouteAgainstForwardRules(*route, path, height);
    }
}

TEST_CASE("route: five hops computed by hand")
{
    const auto path = FiveEdges();
    const auto route = BuildRoute(path, Msat{100'000}, 700'018);
    REQUIRE(route);
    REQUIRE(route->hops.size() == 5);
    // Over edge 4: the payee's amount. Edge 3 adds edge 4's fee 1 + 100000 * 100% = 100001;
    // edge 2 adds 500 + floor(200001 * 250 / 1e6) = 550; edge 1 adds floor(200551 * 1000 / 1e6)
    // = 200; edge 0 adds 1000 + floor(200751 / 1e6) = 1000.
    const uint64_t amounts[] = {201'751, 200'751, 200'551, 200'001, 100'000};
    const uint32_t cltvs[] = {700'242, 700'208, 700'168, 700'024, 700'018};
    for (size_t i = 0; i < 5; ++i) {
        CAPTURE(i);
        CHECK(route->hops[i].amount_msat == Msat{amounts[i]});
        CHECK(route->hops[i].cltv_expiry == cltvs[i]);
        CHECK(route->hops[i].node_id == path[i].node_id);
        CHECK(route->hops[i].short_channel_id == path[i].short_channel_id);
    }
    CHECK(route->fee_msat() == Msat{101'751});
    CHECK(route->final_amount_msat() == Msat{100'000});
    CHECK(route->OnionValues(4).amt_to_forward == Msat{100'000});
    CHECK(route->OnionValues(4).outgoing_cltv_value == 700'018);
    CheckRouteAgainstForwardRules(*route, path, 700'000);
}

TEST_CASE("route: one to five hops agree with the forwarding rules")
{
    std::mt19937 rng(7);
    for (size_t hops = 1; hops <= 5; ++hops) {
        for (int trial = 0; trial < 50; ++trial) {
            CAPTURE(hops);
            CAPTURE(trial);
            std::vector<PathEdge> path;
            for (size_t i = 0; i < hops; ++i) {
                const auto n = static_cast<uint8_t>(i + 1);
                path.push_back({RouteNode(n), RouteScid(n), Policy(rng() % 5000, rng() % 20'000, static_cast<uint16_t>(rng() % 200))});
            }
            const Msat amount{1 + rng() % 10'000'000'000ULL};
            const uint32_t height = 800'000;
            const auto route = BuildRoute(path, amount, height + 18 + rng() % 100);
            REQUIRE(route);
            CHECK(route->final_amount_msat() == amount);
            CheckRouteAgainstForwardRules(*route, path, height);
        }
    }
}

TEST_CASE("route: BuildRoute errors")
{
    auto path = FiveEdges();
    const auto error_of = [](const auto& result) { return std::pair{result.error().error, result.error().hop_index}; };

    CHECK(error_of(BuildRoute({}, Msat{1}, 100)) == std::pair{RouteError::EMPTY_PATH, size_t{0}});
    CHECK(error_of(BuildRoute(path, Msat{0}, 100)) == std::pair{RouteError::ZERO_AMOUNT, size_t{4}});

    SUBCASE("cltv limits")
    {
        // Deltas sum to 34 + 40 + 144 + 6 = 224.
        CHECK(BuildRoute(path, Msat{1000}, kMaxCltvExpiry - 224));
        CHECK(error_of(BuildRoute(path, Msat{1000}, kMaxCltvExpiry - 223)) == std::pair{RouteError::CLTV_OUT_OF_RANGE, size_t{0}});
        CHECK(error_of(BuildRoute(path, Msat{1000}, kMaxCltvExpiry + 1)) == std::pair{RouteError::CLTV_OUT_OF_RANGE, size_t{4}});
        CHECK(error_of(BuildRoute(path, Msat{1000}, std::numeric_limits<uint32_t>::max())) ==
              std::pair{RouteError::CLTV_OUT_OF_RANGE, size_t{4}});
    }
    SUBCASE("amount overflow")
    {
        path[3].policy.fee_base_msat = Msat{kMaxU64 - 2000};
        CHECK(error_of(BuildRoute(path, Msat{1}, 100)) == std::pair{RouteError::AMOUNT_OVERFLOW, size_t{1}});
        path[3].policy.fee_base_msat = Msat{kMaxU64};
        CHECK(error_of(BuildRoute(path, Msat{1}, 100)) == std::pair{RouteError::AMOUNT_OVERFLOW, size_t{2}});
    }
    SUBCASE("htlc_minimum_msat, exactly at the limit and one below")
    {
        // The HTLC over edge 2 carries 200551 msat for a 100000 msat payment.
        path[2].policy.htlc_minimum_msat = Msat{200'551};
        CHECK(BuildRoute(path, Msat{100'000}, 700'018));
        path[2].policy.htlc_minimum_msat = Msat{200'552};
        CHECK(error_of(BuildRoute(path, Msat{100'000}, 700'018)) == std::pair{RouteError::BELOW_HTLC_MINIMUM, size_t{2}});
        path[2].policy.htlc_minimum_msat = Msat{1};
        path[4].policy.htlc_minimum_msat = Msat{100'001};
        CHECK(error_of(BuildRoute(path, Msat{100'000}, 700'018)) == std::pair{RouteError::BELOW_HTLC_MINIMUM, size_t{4}});
    }
    SUBCASE("htlc_maximum_msat, exactly at the limit and one above, our own channel included")
    {
        path[0].policy.htlc_maximum_msat = Msat{201'751};
        CHECK(BuildRoute(path, Msat{100'000}, 700'018));
        path[0].policy.htlc_maximum_msat = Msat{201'750};
        CHECK(error_of(BuildRoute(path, Msat{100'000}, 700'018)) == std::pair{RouteError::ABOVE_HTLC_MAXIMUM, size_t{0}});
    }
}

TEST_CASE("route: accessors of an empty route throw")
{
    const Route empty;
    CHECK_THROWS_AS(empty.total_amount_msat(), std::out_of_range);
    CHECK_THROWS_AS(empty.first_cltv(), std::out_of_range);
    CHECK_THROWS_AS(empty.OnionValues(0), std::out_of_range);
}

TEST_CASE("route: a route hint becomes path edges")
{
    const PubKey payee = RouteNode(9), n0 = RouteNode(10), n1 = RouteNode(11);
    ForwardPolicy our_limits;
    our_limits.htlc_minimum_msat = Msat{5};
    const LocalChannel ours{n0, RouteScid(1), Msat{10'000'000}, our_limits};
    const std::vector<HintHop> hint{{n0, RouteScid(2), Msat{10}, 100, 20}, {n1, RouteScid(3), Msat{20}, 200, 30}};

    const auto path = PathThroughHint(ours, hint, payee);
    REQUIRE(path.size() == 3);
    CHECK(path[0].node_id == n0);
    CHECK(path[0].short_channel_id == RouteScid(1));
    CHECK(path[0].policy.htlc_minimum_msat == Msat{5});
    // Each hint hop's terms are the policy of the channel leaving its node.
    CHECK(path[1].node_id == n1);
    CHECK(path[1].short_channel_id == RouteScid(2));
    CHECK(path[1].policy.fee_base_msat == Msat{10});
    CHECK(path[1].policy.fee_proportional_millionths == 100);
    CHECK(path[1].policy.cltv_expiry_delta == 20);
    CHECK(path[2].node_id == payee);
    CHECK(path[2].short_channel_id == RouteScid(3));
    CHECK(path[2].policy.fee_base_msat == Msat{20});
    CHECK(path[2].policy.fee_proportional_millionths == 200);
    CHECK(path[2].policy.cltv_expiry_delta == 30);

    // 1000000 + 20 + 200 = 1000220 reaches n1; + 10 + floor(1000220 * 100 / 1e6) = 1000330 leaves us.
    const auto route = BuildRoute(path, Msat{1'000'000}, 1000);
    REQUIRE(route);
    CHECK(route->hops[1].amount_msat == Msat{1'000'220});
    CHECK(route->total_amount_msat() == Msat{1'000'330});
    CHECK(route->first_cltv() == 1050);
    CHECK(route->OnionValues(0).short_channel_id == RouteScid(2));
    CHECK(route->OnionValues(1).short_channel_id == RouteScid(3));

    const auto direct = PathThroughHint(ours, {}, payee);
    REQUIRE(direct.size() == 1);
    CHECK(direct[0].node_id == payee);
}

TEST_CASE("route: candidate paths, direct channels first, then hints through our peers")
{
    const PubKey payee = RouteNode(9), n0 = RouteNode(10), other = RouteNode(12), unknown = RouteNode(13);
    const std::vector<LocalChannel> channels{
        {n0, RouteScid(1), Msat{10}, {}},
        {payee, RouteScid(2), Msat{5}, {}},
        {other, RouteScid(3), Msat{50}, {}},
        {n0, RouteScid(4), Msat{0}, {}},    // nothing to send: skipped
        {payee, RouteScid(5), Msat{0}, {}}, // likewise
    };
    const std::vector<std::vector<HintHop>> hints{
        {{n0, RouteScid(7), Msat{1}, 1, 9}},
        {},
        {{unknown, RouteScid(8), Msat{1}, 1, 9}},
    };
    const auto paths = CandidatePaths(channels, payee, hints);
    REQUIRE(paths.size() == 2);
    REQUIRE(paths[0].size() == 1);
    CHECK(paths[0][0].short_channel_id == RouteScid(2));
    CHECK(paths[0][0].node_id == payee);
    REQUIRE(paths[1].size() == 2);
    CHECK(paths[1][0].short_channel_id == RouteScid(1));
    CHECK(paths[1][0].node_id == n0);
    CHECK(paths[1][1].short_channel_id == RouteScid(7));
    CHECK(paths[1][1].node_id == payee);
    CHECK(CandidatePaths({}, payee, hints).empty());
}

TEST_CASE("route: SplitAcross")
{
    const auto split = [](std::vector<uint64_t> spendable, uint64_t total, uint64_t min_part) -> std::optional<std::vector<uint64_t>> {
        std::vector<Msat> capacities;
        for (const uint64_t s : spendable) capacities.emplace_back(s);
        const auto parts = SplitAcross(capacities, Msat{total}, Msat{min_part});
        if (!parts) return std::nullopt;
        std::vector<uint64_t> out;
        for (const Msat part : *parts) out.push_back(part.value());
        return out;
    };
    using V = std::vector<uint64_t>;
    CHECK(split({100}, 60, 10) == V{60});
    CHECK(split({30, 100, 50}, 60, 10) == V{0, 60, 0});
    CHECK(split({30, 100, 50}, 120, 10) == V{0, 100, 20});
    CHECK(split({30, 100, 50}, 180, 10) == V{30, 100, 50});
    CHECK(split({30, 100, 50}, 181, 10) == std::nullopt);
    // Every part starts at the minimum, the rest fills the largest first.
    CHECK(split({90, 50}, 100, 30) == V{70, 30});
    CHECK(split({50, 20, 20}, 75, 15) == V{45, 15, 15});
    CHECK(split({100, 10}, 103, 10) == V{93, 10});
    // Candidates too small for a part do not count towards the capacity.
    CHECK(split({100, 9}, 103, 10) == std::nullopt);
    CHECK(split({100, 9, 9}, 100, 10) == V{100, 0, 0});
    // Two parts of at least 30 do not fit in 50, and no single candidate carries it.
    CHECK(split({40, 40}, 50, 30) == std::nullopt);
    CHECK(split({40, 40}, 60, 30) == V{30, 30});
    // A total below the minimum goes as one part.
    CHECK(split({100}, 5, 10) == V{5});
    CHECK(split({4, 4}, 5, 10) == std::nullopt);
    // Ties keep the given order; a zero minimum still means no empty parts.
    CHECK(split({50, 50}, 60, 0) == V{50, 10});
    CHECK(split({50}, 0, 1) == std::nullopt);
    CHECK(split({}, 1, 1) == std::nullopt);
    CHECK(split({kMaxU64, kMaxU64}, kMaxU64, 1) == V{kMaxU64, 0});
}

TEST_CASE("route: SplitAcross finds a split exactly when one exists")
{
    std::mt19937_64 rng(11);
    for (int trial = 0; trial < 3000; ++trial) {
        CAPTURE(trial);
        std::vector<Msat> spendable(rng() % 6);
        for (auto& s : spendable) s = Msat{rng() % 100};
        const Msat total{rng() % 250};
        const Msat min_part{rng() % 40};
        const uint64_t minimum = std::max<uint64_t>(1, std::min(min_part, total).value());
        // Brute force: the sums reachable with each candidate carrying 0 or minimum..spendable.
        std::bitset<512> reachable;
        reachable.set(0);
        for (const Msat s : spendable) {
            std::bitset<512> next = reachable;
            for (uint64_t a = minimum; a <= s.value(); ++a) next |= reachable << a;
            reachable = next;
        }
        const bool feasible = total != Msat{0} && reachable.test(total.value());

        const auto parts = SplitAcross(spendable, total, min_part);
        REQUIRE(parts.has_value() == feasible);
        if (!parts) continue;
        REQUIRE(parts->size() == spendable.size());
        uint64_t sum = 0;
        for (size_t i = 0; i < parts->size(); ++i) {
            const Msat part = (*parts)[i];
            CHECK(part <= spendable[i]);
            if (part != Msat{0}) CHECK(part.value() >= minimum);
            sum += part.value();
        }
        CHECK(sum == total.value());
    }
}

TEST_CASE("route: maxfeepercent and maxdelay")
{
    const Route route{{{RouteNode(1), RouteScid(1), Msat{1'005'000}, 800'100}, {RouteNode(2), RouteScid(2), Msat{1'000'000}, 800'060}}};
    REQUIRE(route.fee_msat() == Msat{5000});

    CHECK(MaxFeeFor(Msat{1'000'000}, 0.5) == Msat{5000});
    CHECK(MaxFeeFor(Msat{999}, 0.5) == Msat{4});
    CHECK(MaxFeeFor(Msat{1'000'000}, 0.0001) == Msat{1});
    CHECK(MaxFeeFor(Msat{1'000'000}, 100) == Msat{1'000'000});
    CHECK(MaxFeeFor(Msat{1'000'000}, 0) == Msat{0});
    CHECK(MaxFeeFor(Msat{1'000'000}, -1) == Msat{0});
    CHECK(MaxFeeFor(Msat{1'000'000}, std::nan("")) == Msat{0});
    CHECK(MaxFeeFor(Msat{1'000'000}, std::numeric_limits<double>::infinity()) == Msat{0});
    CHECK(MaxFeeFor(Msat{1'000'000}, 1e300) == Msat{1'000'000ULL * 1'000'000});
    CHECK(MaxFeeFor(Msat{kMaxU64}, 1e300) == Msat{kMaxU64});

    CHECK(WithinFeeBudget(route, Msat{1'000'000}, 0.5));
    CHECK_FALSE(WithinFeeBudget(route, Msat{999'999}, 0.5));
    CHECK(WithinFeeBudget(route, Msat{5000}));
    CHECK_FALSE(WithinFeeBudget(route, Msat{4999}));

    CHECK(WithinDelay(route, 800'000, 100));
    CHECK_FALSE(WithinDelay(route, 800'000, 99));
    CHECK(WithinDelay(route, std::numeric_limits<uint32_t>::max(), std::numeric_limits<uint32_t>::max()));
}
