#ifndef SIDEBOLT_UTIL_LATENCY_HISTOGRAM_H
#define SIDEBOLT_UTIL_LATENCY_HISTOGRAM_H

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace sidebolt {

/**
 * Counts of durations in log-linear buckets: four per doubling (each about 19% wider than the
 * one before) from 1 µs to about 67 s, so a percentile read from it is within a bucket's width of
 * the true one. Recording is one relaxed atomic increment: cheap enough for every store commit,
 * and safe from any thread.
 */
class LatencyHistogram
{
public:
    static constexpr size_t SUBBUCKETS = 4;
    static constexpr size_t OCTAVES = 26;
    static constexpr size_t BUCKETS = SUBBUCKETS * OCTAVES;

    void Record(std::chrono::nanoseconds duration) noexcept;
    //! The counts now, bucket by bucket.
    std::vector<uint64_t> Counts() const;

    //! The largest duration bucket i holds, in microseconds (the last one holds anything longer).
    static uint64_t UpperBoundMicros(size_t bucket);
    static size_t BucketOf(std::chrono::nanoseconds duration);
    //! How many durations these counts hold.
    static uint64_t Total(std::span<const uint64_t> counts);
    //! The upper bound of the bucket holding quantile q (0 < q <= 1) of these counts; nullopt
    //! when they are all zero.
    static std::optional<uint64_t> QuantileMicros(std::span<const uint64_t> counts, double q);

private:
    std::array<std::atomic<uint64_t>, BUCKETS> m_counts{};
};

} // namespace sidebolt

#endif
