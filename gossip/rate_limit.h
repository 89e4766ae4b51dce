#ifndef SIDEBOLT_GOSSIP_RATE_LIMIT_H
#define SIDEBOLT_GOSSIP_RATE_LIMIT_H

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>

namespace sidebolt {

/**
 * A token bucket: holds up to `capacity` tokens, gains `refill_per_second` per second of the
 * caller's clock and starts full. Take spends one token when there is one. Gossip uses one per
 * peer and one per channel direction, so a spamming origin or relay is throttled alone.
 */
class TokenBucket
{
public:
    TokenBucket(double capacity, double refill_per_second);

    //! Spends `cost` tokens at time `now` (unix seconds) if the bucket holds them. A clock that
    //! goes backwards refills nothing.
    bool Take(uint32_t now, double cost = 1.0);
    //! The tokens held at `now`, refill included (does not change the bucket).
    double Available(uint32_t now) const;
    //! True when the bucket is full at `now`, i.e. indistinguishable from a new one.
    bool Full(uint32_t now) const { return Available(now) >= m_capacity; }

private:
    double m_capacity;
    double m_refill_per_second;
    double m_tokens;
    //! Time of the last refill, meaningful once m_started (the first Take).
    uint32_t m_last{0};
    bool m_started{false};
};

//! One TokenBucket per key (peer, channel direction), created on first use.
template <typename Key, typename Compare = std::less<Key>>
class KeyedTokenBuckets
{
public:
    KeyedTokenBuckets(double capacity, double refill_per_second)
        : m_capacity(capacity), m_refill_per_second(refill_per_second) {}

    bool Take(const Key& key, uint32_t now, double cost = 1.0)
    {
        auto it = m_buckets.try_emplace(key, m_capacity, m_refill_per_second).first;
        return it->second.Take(now, cost);
    }
    //! Forgets the buckets that have refilled completely: memory stays bounded by the keys
    //! seen within one refill period.
    void Prune(uint32_t now)
    {
        std::erase_if(m_buckets, [&](const auto& entry) { return entry.second.Full(now); });
    }
    size_t size() const { return m_buckets.size(); }

private:
    double m_capacity;
    double m_refill_per_second;
    std::map<Key, TokenBucket, Compare> m_buckets;
};

} // namespace sidebolt

#endif
