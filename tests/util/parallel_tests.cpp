#include "util/parallel.h"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

using namespace sidebolt;

TEST_CASE("parallel: RunInOrder calls every index once, in order")
{
    std::vector<size_t> seen;
    RunInOrder(5, [&](size_t i) { seen.push_back(i); });
    CHECK(seen == std::vector<size_t>{0, 1, 2, 3, 4});
    RunInOrder(0, [&](size_t) { FAIL("no index for an empty range"); });
}

TEST_CASE("parallel: the pool calls every index exactly once, and uses its helpers")
{
    ParallelPool pool{2};
    CHECK(pool.Helpers() == 2);
    for (size_t count : {0, 1, 2, 3, 64, 1000}) {
        std::vector<std::atomic<int>> calls(count);
        pool.For(count, [&](size_t i) { calls[i].fetch_add(1); });
        for (size_t i = 0; i < count; ++i) CHECK(calls[i].load() == 1);
    }
    // A body that waits for another thread proves more than one thread runs at once: alone,
    // the caller would wait for ever on the first index.
    std::atomic<int> arrived{0};
    pool.For(2, [&](size_t) {
        arrived.fetch_add(1);
        while (arrived.load() < 2) std::this_thread::yield();
    });
    CHECK(arrived.load() == 2);
}

TEST_CASE("parallel: a pool without helpers runs on the caller")
{
    ParallelPool pool{0};
    const auto caller = std::this_thread::get_id();
    std::set<std::thread::id> threads;
    pool.For(10, [&](size_t) { threads.insert(std::this_thread::get_id()); });
    CHECK(threads == std::set<std::thread::id>{caller});
}

TEST_CASE("parallel: an exception stops the work and reaches the caller; the pool stays usable")
{
    ParallelPool pool{2};
    std::atomic<int> calls{0};
    std::atomic<bool> thrown{false};
    CHECK_THROWS_WITH_AS(pool.For(1000, [&](size_t i) {
        calls.fetch_add(1);
        if (i == 3) {
            thrown = true;
            throw std::runtime_error("index 3 failed");
        }
        // Calls after the throw take a while: on a loaded machine the throwing thread may be
        // descheduled before it records the error, and quick calls could all run meanwhile.
        if (thrown) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }),
                         "index 3 failed", std::runtime_error);
    CHECK(calls.load() < 1000);
    std::atomic<int> after{0};
    pool.For(100, [&](size_t) { after.fetch_add(1); });
    CHECK(after.load() == 100);
}

TEST_CASE("parallel: callers from several threads take turns")
{
    ParallelPool pool{1};
    std::atomic<int> total{0};
    std::vector<std::thread> callers;
    for (int t = 0; t < 4; ++t) {
        callers.emplace_back([&] {
            for (int round = 0; round < 50; ++round) pool.For(10, [&](size_t) { total.fetch_add(1); });
        });
    }
    for (auto& caller : callers) caller.join();
    CHECK(total.load() == 4 * 50 * 10);
}
