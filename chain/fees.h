#ifndef SIDEBOLT_CHAIN_FEES_H
#define SIDEBOLT_CHAIN_FEES_H

// Feerates for our transactions, from the node's estimatesmartfee, in BOLT units.

#include "chain/chain_source.h"
#include "chain/follower.h"
#include "util/sync.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>

namespace sidebolt {

//! BOLT 3: "the feerate floor ... 253 satoshi per kiloweight" (1000 sat/kvB after rounding
//! the weight up to virtual bytes).
inline constexpr uint32_t FEERATE_FLOOR = 253;

//! sat per 1000 virtual bytes -> sat per 1000 weight units (a vbyte is 4 weight units),
//! rounded down.
constexpr uint32_t SatPerKvbToSatPerKw(int64_t sat_per_kvb)
{
    return sat_per_kvb <= 0 ? 0 : static_cast<uint32_t>(std::min<int64_t>(sat_per_kvb / 4, UINT32_MAX));
}

//! A floor in sat/kvB as sat/kw that a transaction paying it clears: rounded up, plus 1% for a
//! virtual size rounded up from the weight (up to 3 weight units) and fees rounded down.
constexpr uint32_t FloorPerKw(int64_t sat_per_kvb)
{
    return sat_per_kvb <= 0 ? 0 : static_cast<uint32_t>(std::min<int64_t>((sat_per_kvb + 3) / 4 + sat_per_kvb / 400, UINT32_MAX));
}

struct FeeConfig {
    //! Never return less than this (sat/kw).
    uint32_t floor_per_kw{FEERATE_FLOOR};
    //! When the node has no estimate (regtest, fresh node); unset means the floor.
    std::optional<uint32_t> fallback_per_kw;
};

struct Feerate {
    uint32_t per_kw{FEERATE_FLOOR};
    //! false when the node had no estimate (or could not be asked) and a fallback was used.
    bool estimated{false};
};

//! Caches answers until the next block. Thread-safe.
class FeeEstimator : public ChainListener
{
public:
    FeeEstimator(ChainSource& source, FeeConfig config = {});

    //! The feerate to confirm within conf_target blocks; asks the node at most once per block
    //! and target. When the node cannot be asked, the last answer or the fallback is used.
    //! Never below the mempool's floor (MempoolFloor): a transaction under it would not relay.
    Feerate Estimate(int conf_target) EXCLUDES(m_mutex);
    /**
     * The lowest feerate (sat/kw) the node's mempool takes now, with headroom for the rounding of
     * weight to virtual bytes; the configured floor when the node says less or cannot be asked
     * (then its last answer). Asked at most once per block.
     */
    uint32_t MempoolFloor() EXCLUDES(m_mutex);

    void OnTipChanged(const BlockRef& tip) override EXCLUDES(m_mutex);

private:
    Feerate Fallback() const;

    ChainSource& m_source;
    const FeeConfig m_config;
    Mutex m_mutex;
    std::map<int, Feerate> m_cache GUARDED_BY(m_mutex);
    std::map<int, Feerate> m_last_known GUARDED_BY(m_mutex);
    std::optional<uint32_t> m_mempool_floor GUARDED_BY(m_mutex);
    std::optional<uint32_t> m_last_mempool_floor GUARDED_BY(m_mutex);
    //! Counts tip changes, so that an answer to a question asked before one is not cached.
    uint64_t m_tip_generation GUARDED_BY(m_mutex){0};
};

} // namespace sidebolt

#endif
