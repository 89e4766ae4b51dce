#include "util/latency_histogram.h"

#include <doctest/doctest.h>

#include <chrono>
#include <thread>
#include <vector>

namespace sidebolt {

using std::chrono::microseconds;

TEST_CASE("a duration falls in the bucket whose bounds hold it, within a quarter doubling")
{
    for (const int64_t micros : {2, 3, 5, 100, 256, 257, 300, 320, 321, 1'000, 65'536, 1'000'000}) {
        CAPTURE(micros);
        const size_t bucket = LatencyHistogram::BucketOf(microseconds(micros));
        CHECK(LatencyHistogram::UpperBoundMicros(bucket) >= static_cast<uint64_t>(micros));
        CHECK(LatencyHistogram::UpperBoundMicros(bucket - 1) < static_cast<uint64_t>(micros));
        CHECK(LatencyHistogram::UpperBoundMicros(bucket) <= static_cast<uint64_t>(micros) * 5 / 4 + 1);
    }
    // 256 µs is a doubling's end, 257 the next bucket's start.
    CHECK(LatencyHistogram::UpperBoundMicros(LatencyHistogram::BucketOf(microseconds(256))) == 256);
    CHECK(LatencyHistogram::UpperBoundMicros(LatencyHistogram::BucketOf(microseconds(257))) == 320);
    CHECK(LatencyHistogram::BucketOf(std::chrono::nanoseconds(300)) == 0);
    CHECK(LatencyHistogram::BucketOf(std::chrono::hours(1)) == LatencyHistogram::BUCKETS - 1);
}

TEST_CASE("the bounds never decrease, so quantiles read in bucket order")
{
    for (size_t i = 1; i < LatencyHistogram::BUCKETS; ++i) {
        CHECK(LatencyHistogram::UpperBoundMicros(i) >= LatencyHistogram::UpperBoundMicros(i - 1));
    }
}

TEST_CASE("quantiles of recorded durations")
{
    LatencyHistogram histogram;
    CHECK_FALSE(LatencyHistogram::QuantileMicros(histogram.Counts(), 0.5));
    // 98 writes of 300 µs, one of 2 ms, one of 9 ms.
    for (int i = 0; i < 98; ++i) histogram.Record(microseconds(300));
    histogram.Record(microseconds(2'000));
    histogram.Record(microseconds(9'000));
    const auto counts = histogram.Counts();
    CHECK(LatencyHistogram::QuantileMicros(counts, 0.5) == 320);
    CHECK(LatencyHistogram::QuantileMicros(counts, 0.98) == 320);
    CHECK(LatencyHistogram::QuantileMicros(counts, 0.99) == 2'048);
    CHECK(LatencyHistogram::QuantileMicros(counts, 1.0) == 10'240);
}

TEST_CASE("recording from several threads loses no count")
{
    LatencyHistogram histogram;
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&histogram, t] {
            for (int i = 0; i < 10'000; ++i) histogram.Record(microseconds(100 * (t + 1)));
        });
    }
    for (auto& thread : threads) thread.join();
    CHECK(LatencyHistogram::Total(histogram.Counts()) == 40'000);
}

} // namespace sidebolt
