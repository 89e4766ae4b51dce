#include "gossip/rate_limit.h"

#include <algorithm>
#include <stdexcept>

namespace sidebolt {

TokenBucket::TokenBucket(double capacity, double refill_per_second)
    : m_capacity(capacity), m_refill_per_second(refill_per_second), m_tokens(capacity)
{
    if (!(capacity >= 0) || !(refill_per_second >= 0)) throw std::invalid_argument("TokenBucket: negative rate");
}

double TokenBucket::Available(uint32_t now) const
{
    if (!m_started || now <= m_last) return m_tokens;
    const double refilled = m_tokens + static_cast<double>(now - m_last) * m_refill_per_second;
    return std::min(m_capacity, refilled);
}

bool TokenBucket::Take(uint32_t now, double cost)
{
    m_tokens = Available(now);
    if (!m_started || now > m_last) m_last = now;
    m_started = true;
    if (m_tokens < cost) return false;
    m_tokens -= cost;
    return true;
}

} // namespace sidebolt
