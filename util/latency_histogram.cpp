#include "util/latency_histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <numeric>

namespace sidebolt {

uint64_t LatencyHistogram::UpperBoundMicros(size_t bucket)
{
    // Bucket 4k + j holds (2^k * (1 + j/4), 2^k * (1 + (j+1)/4)] µs; bucket 0 also everything
    // shorter than a microsecond.
    const size_t octave = bucket / SUBBUCKETS;
    const size_t sub = bucket % SUBBUCKETS;
    const uint64_t base = uint64_t{1} << octave;
    return base + base * (sub + 1) / SUBBUCKETS;
}

size_t LatencyHistogram::BucketOf(std::chrono::nanoseconds duration)
{
    const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(duration).count();
    if (micros <= 1) return 0;
    const auto value = static_cast<uint64_t>(micros);
    // The doubling (base, 2 * base] holding the value: an exact power of two ends the one below.
    const size_t octave = static_cast<size_t>(std::bit_width(value - 1) - 1);
    if (octave >= OCTAVES) return BUCKETS - 1;
    const uint64_t base = uint64_t{1} << octave;
    // The sub-bucket whose upper bound is the first at or above the value.
    for (size_t sub = 0; sub < SUBBUCKETS; ++sub) {
        if (value <= base + base * (sub + 1) / SUBBUCKETS) return octave * SUBBUCKETS + sub;
    }
    return BUCKETS - 1;
}

void LatencyHistogram::Record(std::chrono::nanoseconds duration) noexcept
{
    m_counts[BucketOf(duration)].fetch_add(1, std::memory_order_relaxed);
}

std::vector<uint64_t> LatencyHistogram::Counts() const
{
    std::vector<uint64_t> counts(BUCKETS);
    for (size_t i = 0; i < BUCKETS; ++i) counts[i] = m_counts[i].load(std::memory_order_relaxed);
    return counts;
}

uint64_t LatencyHistogram::Total(std::span<const uint64_t> counts)
{
    return std::accumulate(counts.begin(), counts.end(), uint64_t{0});
}

std::optional<uint64_t> LatencyHistogram::QuantileMicros(std::span<const uint64_t> counts, double q)
{
    const uint64_t total = Total(counts);
    if (total == 0) return std::nullopt;
    // The rank of the quantile, 1-based: q = 0.5 of 4 values is the 2nd.
    const auto rank = static_cast<uint64_t>(std::max(1.0, std::ceil(q * static_cast<double>(total))));
    uint64_t seen = 0;
    for (size_t i = 0; i < counts.size(); ++i) {
        seen += counts[i];
        if (seen >= rank) return UpperBoundMicros(i);
    }
    return UpperBoundMicros(counts.size() - 1);
}

} // namespace sidebolt
