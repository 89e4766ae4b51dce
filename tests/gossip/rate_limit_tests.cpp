// The token bucket that throttles gossip per peer and per channel direction.
#include "gossip/rate_limit.h"

#include <doctest/doctest.h>

using namespace sidebolt;

TEST_CASE("token bucket spends its burst, then refills at its rate")
{
    TokenBucket bucket(3, 1);
    CHECK(bucket.Take(1000));
    CHECK(bucket.Take(1000));
    CHECK(bucket.Take(1000));
    CHECK_FALSE(bucket.Take(1000));
    CHECK(bucket.Take(1001));
    CHECK_FALSE(bucket.Take(1001));
    // A long pause refills to the capacity, no further.
    CHECK(bucket.Available(5000) == doctest::Approx(3));
    CHECK(bucket.Take(5000));
    CHECK(bucket.Take(5000));
    CHECK(bucket.Take(5000));
    CHECK_FALSE(bucket.Take(5000));
}

TEST_CASE("token bucket: fractional rates, costs, a clock going backwards")
{
    TokenBucket slow(1, 0.5);
    CHECK(slow.Take(100));
    CHECK_FALSE(slow.Take(101));
    CHECK(slow.Take(102));
    // Backwards: nothing refills, and the later time is kept.
    CHECK_FALSE(slow.Take(50));
    CHECK_FALSE(slow.Take(103));
    CHECK(slow.Take(104));

    TokenBucket costly(10, 1);
    CHECK(costly.Take(0, 7));
    CHECK_FALSE(costly.Take(0, 4));
    CHECK(costly.Take(1, 4));
    CHECK(costly.Full(100));
}

TEST_CASE("keyed token buckets are independent and pruned when full")
{
    KeyedTokenBuckets<int> buckets(2, 1);
    CHECK(buckets.Take(1, 10));
    CHECK(buckets.Take(1, 10));
    CHECK_FALSE(buckets.Take(1, 10));
    CHECK(buckets.Take(2, 10));
    CHECK(buckets.size() == 2);
    buckets.Prune(10);
    CHECK(buckets.size() == 2);
    buckets.Prune(11);
    CHECK(buckets.size() == 1);
    buckets.Prune(12);
    CHECK(buckets.size() == 0);
    CHECK(buckets.Take(1, 12));
}
