#ifndef SIDEBOLT_PAY_SCORER_H
#define SIDEBOLT_PAY_SCORER_H

#include "pay/graph.h"
#include "util/amount.h"
#include "wire/wire.h"

#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <unordered_map>

namespace sidebolt {

/**
 * How likely a channel direction is to carry an amount, learned from past payment attempts.
 *
 * With nothing learned, the liquidity of a direction is taken as uniform over 0..capacity, so
 * P(amount) = (capacity + 1 - amount) / (capacity + 1). A success of amount A shows liquidity >= A,
 * a failure at A shows liquidity < A; the learned bounds narrow the uniform range and then decay
 * back toward 0..capacity with a half-life, since balances move. Pure: time comes in as `now`
 * (seconds, any epoch, the same for every call). Excluding failed nodes or channels outright is
 * the caller's business.
 */
class PaymentScorer
{
public:
    struct Params {
        uint64_t half_life_seconds{3600};
        //! P(success) for a channel of unknown capacity when nothing better is known.
        double unknown_capacity_prior{0.6};
    };

    //! The learned bounds as of some time: liquidity is at least min and, when has_max, at most max.
    struct Bounds {
        Msat min;
        bool has_max{false};
        Msat max;
    };

    PaymentScorer() = default;
    explicit PaymentScorer(Params params) : m_params(params) {}

    //! An HTLC of amount went through scid in direction at time now.
    void RecordSuccess(ShortChannelId scid, ChannelDirection direction, Msat amount, uint64_t now);
    //! An HTLC of amount failed for lack of liquidity at scid in direction (temporary_channel_failure).
    void RecordFailure(ShortChannelId scid, ChannelDirection direction, Msat amount, uint64_t now);

    /**
     * P(liquidity >= amount) at now, in [0, 1] and never increasing with amount. capacity is the
     * channel's in msat, zero when unknown.
     */
    double SuccessProbability(ShortChannelId scid, ChannelDirection direction, Msat amount, Msat capacity, uint64_t now) const
    {
        return SuccessProbability(scid.ToU64(), direction, amount.value(), capacity.value(), now);
    }
    //! The search's form: packed scid and raw msat.
    double SuccessProbability(uint64_t scid, ChannelDirection direction, uint64_t amount_msat, uint64_t capacity_msat,
                              uint64_t now) const;

    //! The decayed bounds at now, clamped to capacity when known (capacity zero: unknown).
    Bounds LearnedBounds(ShortChannelId scid, ChannelDirection direction, Msat capacity, uint64_t now) const;

    //! Forgets what has decayed to nothing (twenty half-lives old), to bound memory.
    void Prune(uint64_t now);
    size_t Size() const { return m_channels.size(); }
    bool Empty() const { return m_channels.empty(); }

private:
    static constexpr uint64_t kNoMax = std::numeric_limits<uint64_t>::max();

    //! What one direction taught us: liquidity >= min_msat at min_time, <= max_msat at max_time.
    struct Learned {
        uint64_t min_msat{0};
        uint64_t min_time{0};
        uint64_t max_msat{kNoMax};
        uint64_t max_time{0};
    };
    using ChannelRecord = std::array<Learned, 2>;

    //! 2^-(elapsed / half_life): how much of what was learned then still holds now.
    double Retained(uint64_t then, uint64_t now) const;
    double DecayedMin(const Learned& learned, uint64_t now) const;
    double DecayedMax(const Learned& learned, double capacity, uint64_t now) const;

    Params m_params;
    std::unordered_map<uint64_t, ChannelRecord> m_channels;
};

} // namespace sidebolt

#endif
