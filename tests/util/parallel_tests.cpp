#include "util/parallel.h"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
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

namespace {
//! An IdleRunner whose "idle CPU" is a thread of its own per job, joined by Join.
struct ThreadRunner {
    std::vector<std::thread> threads;
    std::atomic<int> posted{0};
    bool refuse{false};

    IdleRunner Runner()
    {
        return [this](std::function<void()> job) {
            if (refuse) return false;
            ++posted;
            threads.emplace_back(std::move(job));
            return true;
        };
    }
    void Join()
    {
        for (auto& thread : threads) thread.join();
        threads.clear();
    }
};

//! Waits up to 10 s for `condition`.
template <typename F>
bool WaitUntil(F condition)
{
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!condition()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::yield();
    }
    return true;
}
} // namespace

TEST_CASE("parallel: RunWithIdleHelp without help runs every task on the caller, results in order")
{
    const auto caller = std::this_thread::get_id();
    std::vector<std::function<int()>> tasks;
    for (int i = 0; i < 5; ++i) {
        tasks.emplace_back([i, caller] {
            CHECK(std::this_thread::get_id() == caller);
            return i * i;
        });
    }
    CHECK(RunWithIdleHelp<int>(tasks, nullptr, 1) == std::vector<int>{0, 1, 4, 9, 16});
    ThreadRunner refusing;
    refusing.refuse = true;
    CHECK(RunWithIdleHelp<int>(tasks, refusing.Runner(), 1) == std::vector<int>{0, 1, 4, 9, 16});
    CHECK(RunWithIdleHelp<int>({}, refusing.Runner(), 1).empty());
    // One task is never worth a helper.
    ThreadRunner runner;
    CHECK(RunWithIdleHelp<int>({[] { return 7; }}, runner.Runner(), 1) == std::vector<int>{7});
    CHECK(runner.posted == 0);
}

TEST_CASE("parallel: RunWithIdleHelp hands tasks to an idle helper, and keeps their order")
{
    ThreadRunner runner;
    const auto caller = std::this_thread::get_id();
    std::atomic<int> started{0};
    // A task may run twice at once (the caller redoing a helper's): only thread-safe records.
    std::atomic<bool> on_caller{false};
    std::atomic<bool> on_helper{false};
    std::vector<std::function<int()>> tasks;
    for (int i = 0; i < 4; ++i) {
        tasks.emplace_back([&, i] {
            (std::this_thread::get_id() == caller ? on_caller : on_helper) = true;
            ++started;
            // Whoever takes the first task holds it until the other has taken one too.
            if (i == 0) WaitUntil([&] { return started.load() >= 2; });
            return 10 + i;
        });
    }
    CHECK(RunWithIdleHelp<int>(tasks, runner.Runner(), 1) == std::vector<int>{10, 11, 12, 13});
    CHECK(runner.posted == 1);
    runner.Join();
    CHECK(on_caller);
    CHECK(on_helper);
    // No more helpers than tasks besides the caller's first; whoever runs them, the order holds.
    std::vector<std::function<int()>> quick{[] { return 1; }, [] { return 2; }, [] { return 3; }};
    runner.posted = 0;
    CHECK(RunWithIdleHelp<int>(quick, runner.Runner(), 8) == std::vector<int>{1, 2, 3});
    CHECK(runner.posted == 2);
    runner.Join();
}

TEST_CASE("parallel: RunWithIdleHelp does itself what a stalled helper took, and does not wait for it")
{
    ThreadRunner runner;
    const auto caller = std::this_thread::get_id();
    std::atomic<bool> helper_took{false};
    std::atomic<bool> release{false};
    std::vector<std::function<int()>> tasks;
    for (int i = 0; i < 3; ++i) {
        tasks.emplace_back([&, i] {
            if (std::this_thread::get_id() != caller) {
                // A helper kept off its CPU: it finishes only after the caller has returned.
                helper_took = true;
                WaitUntil([&] { return release.load(); });
                return -1;
            }
            if (i == 0) WaitUntil([&] { return helper_took.load(); });
            return i;
        });
    }
    CHECK(RunWithIdleHelp<int>(tasks, runner.Runner(), 1) == std::vector<int>{0, 1, 2});
    release = true;
    runner.Join();
}

TEST_CASE("parallel: RunWithIdleHelp reports an exception only where the caller meets it")
{
    ThreadRunner runner;
    const auto caller = std::this_thread::get_id();
    std::atomic<bool> helper_took{false};
    // Thrown on the helper only: the caller runs that task again and gets its value.
    std::vector<std::function<int()>> tasks;
    for (int i = 0; i < 3; ++i) {
        tasks.emplace_back([&, i]() -> int {
            if (std::this_thread::get_id() != caller) {
                helper_took = true;
                throw std::runtime_error("helper failed");
            }
            if (i == 0) WaitUntil([&] { return helper_took.load(); });
            return i;
        });
    }
    CHECK(RunWithIdleHelp<int>(tasks, runner.Runner(), 1) == std::vector<int>{0, 1, 2});
    runner.Join();
    // Thrown wherever it runs: the caller sees it.
    std::vector<std::function<int()>> failing{[] { return 1; }, []() -> int { throw std::runtime_error("bad task"); }};
    CHECK_THROWS_WITH_AS(RunWithIdleHelp<int>(failing, runner.Runner(), 1), "bad task", std::runtime_error);
    runner.Join();
}
