#include "pay/scorer.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace sidebolt {

namespace {

//! Twenty half-lives leave less than a millionth of what was learned.
constexpr double kForgotten = 1.0 / (1 << 20);

//! Rounds down, saturating: a double this close to 2^64 no longer converts.
uint64_t FloorMsat(double msat) { return msat >= 1.8e19 ? std::numeric_limits<uint64_t>::max() : static_cast<uint64_t>(msat); }

} // namespace

double PaymentScorer::Retained(uint64_t then, uint64_t now) const
{
    if (now <= then) return 1.0;
    if (m_params.half_life_seconds == 0) return 0.0;
    return std::exp2(-static_cast<double>(now - then) / static_cast<double>(m_params.half_life_seconds));
}

double PaymentScorer::DecayedMin(const Learned& learned, uint64_t now) const
{
    return static_cast<double>(learned.min_msat) * Retained(learned.min_time, now);
}

double PaymentScorer::DecayedMax(const Learned& learned, double capacity, uint64_t now) const
{
    if (learned.max_msat == kNoMax) return capacity;
    // The upper bound decays toward the capacity: max(t) = cap - (cap - max) * 2^(-t/half_life).
    const double learned_max = std::min(static_cast<double>(learned.max_msat), capacity);
    return capacity - (capacity - learned_max) * Retained(learned.max_time, now);
}

void PaymentScorer::RecordSuccess(ShortChannelId scid, ChannelDirection direction, Msat amount, uint64_t now)
{
    if (direction > 1) return;
    Learned& learned = m_channels[scid.ToU64()][direction];
    // The lower bound decays toward zero whatever the capacity, so it merges exactly.
    const uint64_t decayed = FloorMsat(DecayedMin(learned, now));
    learned.min_msat = std::max(decayed, amount.value());
    learned.min_time = now;
    // Liquidity grew past an older upper bound: that bound no longer says anything.
    if (learned.max_msat != kNoMax && amount.value() > learned.max_msat) learned.max_msat = kNoMax;
}

void PaymentScorer::RecordFailure(ShortChannelId scid, ChannelDirection direction, Msat amount, uint64_t now)
{
    if (direction > 1 || amount == Msat{0}) return;
    Learned& learned = m_channels[scid.ToU64()][direction];
    const uint64_t bound = amount.value() - 1;
    // A looser bound than the one we hold replaces it only once the old one has faded by half:
    // how fast an upper bound decays depends on the capacity, which only queries know.
    const bool keep_old = learned.max_msat != kNoMax && learned.max_msat < bound && Retained(learned.max_time, now) > 0.5;
    if (!keep_old) {
        learned.max_msat = bound;
        learned.max_time = now;
    }
    // Liquidity shrank below an older lower bound: that bound is obsolete.
    if (DecayedMin(learned, now) > static_cast<double>(learned.max_msat)) learned.min_msat = 0;
}

PaymentScorer::Bounds PaymentScorer::LearnedBounds(ShortChannelId scid, ChannelDirection direction, Msat capacity,
                                                   uint64_t now) const
{
    Bounds bounds;
    const auto found = m_channels.find(scid.ToU64());
    if (found == m_channels.end() || direction > 1) {
        if (capacity > Msat{0}) bounds = {Msat{0}, true, capacity};
        return bounds;
    }
    const Learned& learned = found->second[direction];
    const double cap = static_cast<double>(capacity.value());
    double min = DecayedMin(learned, now);
    if (capacity > Msat{0}) {
        const double max = DecayedMax(learned, cap, now);
        min = std::min(min, max);
        return {Msat{FloorMsat(min)}, true, Msat{FloorMsat(max)}};
    }
    bounds.min = Msat{FloorMsat(min)};
    if (learned.max_msat != kNoMax && Retained(learned.max_time, now) > kForgotten) {
        bounds.has_max = true;
        bounds.max = Msat{learned.max_msat};
    }
    return bounds;
}

double PaymentScorer::SuccessProbability(uint64_t scid, ChannelDirection direction, uint64_t amount_msat,
                                         uint64_t capacity_msat, uint64_t now) const
{
    const auto amount = static_cast<double>(amount_msat);
    const auto found = m_channels.find(scid);
    const Learned none;
    const Learned& learned = found == m_channels.end() || direction > 1 ? none : found->second[direction];

    if (capacity_msat == 0) {
        // Unknown capacity: a fixed prior, certain below what went through, and a fresh failure
        // at a smaller amount fading back to the prior.
        if (amount <= DecayedMin(learned, now)) return 1.0;
        if (learned.max_msat != kNoMax && amount_msat > learned.max_msat) {
            return m_params.unknown_capacity_prior * (1.0 - Retained(learned.max_time, now));
        }
        return m_params.unknown_capacity_prior;
    }

    const auto cap = static_cast<double>(capacity_msat);
    const double max = DecayedMax(learned, cap, now);
    const double min = std::min(DecayedMin(learned, now), max);
    if (amount <= min) return 1.0;
    if (amount > max) return 0.0;
    // Liquidity uniform over the integers min..max: P(liquidity >= amount).
    return (max + 1.0 - amount) / (max + 1.0 - min);
}

void PaymentScorer::Prune(uint64_t now)
{
    std::erase_if(m_channels, [&](const auto& entry) {
        return std::all_of(entry.second.begin(), entry.second.end(), [&](const Learned& learned) {
            const bool min_gone = learned.min_msat == 0 || Retained(learned.min_time, now) < kForgotten;
            const bool max_gone = learned.max_msat == kNoMax || Retained(learned.max_time, now) < kForgotten;
            return min_gone && max_gone;
        });
    });
}

} // namespace sidebolt
