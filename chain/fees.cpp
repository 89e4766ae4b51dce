#include "chain/fees.h"

#include "util/logging.h"

#include <algorithm>

namespace sidebolt {

FeeEstimator::FeeEstimator(ChainSource& source, FeeConfig config) : m_source{source}, m_config{config} {}

Feerate FeeEstimator::Estimate(int conf_target)
{
    uint64_t tip_generation;
    {
        const MutexLock lock{m_mutex};
        if (const auto it = m_cache.find(conf_target); it != m_cache.end()) return it->second;
        tip_generation = m_tip_generation;
    }
    std::optional<int64_t> sat_per_kvb;
    try {
        sat_per_kvb = m_source.EstimateSmartFee(conf_target);
    } catch (const ChainSourceUnavailable& e) {
        Log("chain")->warn("cannot estimate fees, bitcoind unreachable: {}", e.what());
        const MutexLock lock{m_mutex};
        const auto it = m_last_known.find(conf_target);
        return it != m_last_known.end() ? it->second : Fallback();
    }
    Feerate feerate = sat_per_kvb ? Feerate{std::max(SatPerKvbToSatPerKw(*sat_per_kvb), m_config.floor_per_kw), true} : Fallback();
    feerate.per_kw = std::max(feerate.per_kw, MempoolFloor());
    const MutexLock lock{m_mutex};
    // An answer asked for before a new tip may predate it: use it, but do not cache it.
    if (tip_generation == m_tip_generation) m_cache[conf_target] = feerate;
    if (feerate.estimated) m_last_known[conf_target] = feerate;
    return feerate;
}

uint32_t FeeEstimator::MempoolFloor()
{
    uint64_t tip_generation;
    {
        const MutexLock lock{m_mutex};
        if (m_mempool_floor) return *m_mempool_floor;
        tip_generation = m_tip_generation;
    }
    std::optional<int64_t> sat_per_kvb;
    try {
        sat_per_kvb = m_source.MempoolMinFee();
    } catch (const ChainSourceUnavailable& e) {
        Log("chain")->warn("cannot ask the mempool's minimum feerate, bitcoind unreachable: {}", e.what());
        const MutexLock lock{m_mutex};
        return m_last_mempool_floor.value_or(m_config.floor_per_kw);
    }
    const uint32_t floor = std::max(FloorPerKw(sat_per_kvb.value_or(0)), m_config.floor_per_kw);
    const MutexLock lock{m_mutex};
    if (tip_generation == m_tip_generation) m_mempool_floor = floor;
    m_last_mempool_floor = floor;
    return floor;
}

void FeeEstimator::OnTipChanged(const BlockRef&)
{
    const MutexLock lock{m_mutex};
    m_cache.clear();
    m_mempool_floor.reset();
    ++m_tip_generation;
}

Feerate FeeEstimator::Fallback() const
{
    return Feerate{std::max(m_config.fallback_per_kw.value_or(m_config.floor_per_kw), m_config.floor_per_kw), false};
}

} // namespace sidebolt
