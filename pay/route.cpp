#include "pay/route.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace sidebolt {

namespace {

constexpr uint64_t kMillion = 1'000'000;

//! floor(value * millionths / 1000000) without a 128-bit type: with value = q * 1e6 + r it is
//! q * millionths + floor(r * millionths / 1e6), where only the first product can overflow.
//! millionths must stay below 2^64 / 1e6 so the second product fits.
std::optional<uint64_t> MulMillionthsFloor(uint64_t value, uint64_t millionths)
{
    const uint64_t q = value / kMillion;
    const uint64_t r = value % kMillion;
    if (millionths != 0 && q > std::numeric_limits<uint64_t>::max() / millionths) return std::nullopt;
    const uint64_t whole = q * millionths;
    const uint64_t part = r * millionths / kMillion;
    if (whole > std::numeric_limits<uint64_t>::max() - part) return std::nullopt;
    return whole + part;
}

Expected<Route, RouteFailure> Fail(RouteError error, size_t hop_index) { return RouteFailure{error, hop_index}; }

std::optional<RouteError> CheckHtlcLimits(const ForwardPolicy& policy, Msat amount)
{
    if (amount < policy.htlc_minimum_msat) return RouteError::BELOW_HTLC_MINIMUM;
    if (amount > policy.htlc_maximum_msat) return RouteError::ABOVE_HTLC_MAXIMUM;
    return std::nullopt;
}

} // namespace

std::optional<Msat> CheckedForwardingFee(const ForwardPolicy& policy, Msat amount_to_forward)
{
    const auto proportional = MulMillionthsFloor(amount_to_forward.value(), policy.fee_proportional_millionths);
    if (!proportional) return std::nullopt;
    return Msat::CheckedAdd(policy.fee_base_msat, Msat{*proportional});
}

Msat ForwardingFee(const ForwardPolicy& policy, Msat amount_to_forward)
{
    const auto fee = CheckedForwardingFee(policy, amount_to_forward);
    if (!fee) throw AmountError("forwarding fee overflow (msat)");
    return *fee;
}

Msat Route::total_amount_msat() const { return hops.at(0).amount_msat; }
Msat Route::final_amount_msat() const { return hops.at(hops.size() - 1).amount_msat; }
Msat Route::fee_msat() const { return total_amount_msat() - final_amount_msat(); }
uint32_t Route::first_cltv() const { return hops.at(0).cltv_expiry; }

HopOnionValues Route::OnionValues(size_t i) const
{
    const RouteHop& hop = hops.at(i);
    if (i + 1 == hops.size()) return {hop.amount_msat, hop.cltv_expiry, std::nullopt};
    const RouteHop& next = hops[i + 1];
    return {next.amount_msat, next.cltv_expiry, next.short_channel_id};
}

Expected<Route, RouteFailure> BuildRoute(std::span<const PathEdge> path, Msat final_amount, uint32_t final_cltv_expiry)
{
    if (path.empty()) return Fail(RouteError::EMPTY_PATH, 0);
    const size_t last = path.size() - 1;
    if (final_amount == Msat{0}) return Fail(RouteError::ZERO_AMOUNT, last);
    if (final_cltv_expiry > kMaxCltvExpiry) return Fail(RouteError::CLTV_OUT_OF_RANGE, last);
    if (const auto error = CheckHtlcLimits(path[last].policy, final_amount)) return Fail(*error, last);

    Route route;
    route.hops.reserve(path.size());
    route.hops.push_back({path[last].node_id, path[last].short_channel_id, final_amount, final_cltv_expiry});
    // Walk backwards: the node at the near end of path[i + 1] charges path[i + 1].policy for
    // forwarding, so the HTLC reaching it over path[i] must carry that fee and delta on top.
    for (size_t i = last; i-- > 0;) {
        const RouteHop& next = route.hops.back();
        const ForwardPolicy& forwarder = path[i + 1].policy;
        const auto fee = CheckedForwardingFee(forwarder, next.amount_msat);
        const auto amount = fee ? Msat::CheckedAdd(next.amount_msat, *fee) : std::nullopt;
        if (!amount) return Fail(RouteError::AMOUNT_OVERFLOW, i);
        const uint64_t cltv = uint64_t{next.cltv_expiry} + forwarder.cltv_expiry_delta;
        if (cltv > kMaxCltvExpiry) return Fail(RouteError::CLTV_OUT_OF_RANGE, i);
        if (const auto error = CheckHtlcLimits(path[i].policy, *amount)) return Fail(*error, i);
        route.hops.push_back({path[i].node_id, path[i].short_channel_id, *amount, static_cast<uint32_t>(cltv)});
    }
    std::reverse(route.hops.begin(), route.hops.end());
    return route;
}

std::vector<PathEdge> PathThroughHint(const LocalChannel& our_channel, std::span<const HintHop> hint, const PubKey& payee)
{
    std::vector<PathEdge> path;
    path.reserve(hint.size() + 1);
    const PubKey& first_node = hint.empty() ? payee : hint.front().node_id;
    path.push_back({first_node, our_channel.short_channel_id, our_channel.limits});
    for (size_t j = 0; j < hint.size(); ++j) {
        const HintHop& hop = hint[j];
        const PubKey& far_end = j + 1 < hint.size() ? hint[j + 1].node_id : payee;
        ForwardPolicy policy;
        policy.fee_base_msat = hop.fee_base_msat;
        policy.fee_proportional_millionths = hop.fee_proportional_millionths;
        policy.cltv_expiry_delta = hop.cltv_expiry_delta;
        // BOLT 11 hints carry no HTLC limits: assume none rather than our defaults.
        policy.htlc_minimum_msat = Msat{0};
        path.push_back({far_end, hop.short_channel_id, policy});
    }
    return path;
}

std::vector<std::vector<PathEdge>> CandidatePaths(std::span<const LocalChannel> channels, const PubKey& payee,
                                                  std::span<const std::vector<HintHop>> hints)
{
    std::vector<std::vector<PathEdge>> paths;
    for (const LocalChannel& channel : channels) {
        if (channel.peer_id == payee && channel.spendable_msat > Msat{0}) paths.push_back(PathThroughHint(channel, {}, payee));
    }
    for (const auto& hint : hints) {
        if (hint.empty()) continue;
        for (const LocalChannel& channel : channels) {
            if (channel.peer_id == hint.front().node_id && channel.spendable_msat > Msat{0}) {
                paths.push_back(PathThroughHint(channel, hint, payee));
            }
        }
    }
    return paths;
}

std::optional<std::vector<Msat>> SplitAcross(std::span<const Msat> spendable, Msat total, Msat min_part)
{
    if (total == Msat{0}) return std::nullopt;
    const Msat minimum = std::max(Msat{1}, std::min(min_part, total));
    std::vector<size_t> order(spendable.size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return spendable[a] > spendable[b]; });

    // The fewest candidates, largest first, whose capacity covers total: no other choice of as
    // many has more capacity, and more parts only raise the sum of the minimums.
    size_t count = 0;
    uint64_t capacity = 0; // saturating: only compared with total
    while (capacity < total.value() && count < order.size() && spendable[order[count]] >= minimum) {
        capacity += std::min(spendable[order[count]].value(), std::numeric_limits<uint64_t>::max() - capacity);
        ++count;
    }
    const auto minimums = Msat::CheckedMul(minimum, count);
    if (capacity < total.value() || !minimums || *minimums > total) return std::nullopt;

    // Every chosen candidate carries the minimum; the rest fills them largest first.
    std::vector<Msat> parts(spendable.size());
    Msat rest = total - *minimums;
    for (size_t i = 0; i < count; ++i) {
        const size_t index = order[i];
        const Msat extra = std::min(rest, spendable[index] - minimum);
        parts[index] = minimum + extra;
        rest -= extra;
    }
    return parts;
}

Msat MaxFeeFor(Msat amount, double max_fee_percent)
{
    if (!std::isfinite(max_fee_percent) || max_fee_percent <= 0) return Msat{0};
    // Percent to millionths of the amount; capped where MulMillionthsFloor stays exact (a fee of
    // a million times the amount is no limit anyway).
    constexpr double kMaxMillionths = 1e12;
    const double millionths = std::min(std::round(max_fee_percent * 10'000), kMaxMillionths);
    const auto fee = MulMillionthsFloor(amount.value(), static_cast<uint64_t>(millionths));
    return Msat{fee.value_or(std::numeric_limits<uint64_t>::max())};
}

bool WithinFeeBudget(const Route& route, Msat max_fee) { return route.fee_msat() <= max_fee; }

bool WithinFeeBudget(const Route& route, Msat amount, double max_fee_percent)
{
    return WithinFeeBudget(route, MaxFeeFor(amount, max_fee_percent));
}

bool WithinDelay(const Route& route, uint32_t current_height, uint32_t max_delay)
{
    return uint64_t{route.first_cltv()} <= uint64_t{current_height} + max_delay;
}

} // namespace sidebolt
