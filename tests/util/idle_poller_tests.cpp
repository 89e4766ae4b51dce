#include "util/idle_poller.h"

#include <doctest/doctest.h>

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace sidebolt;
using namespace std::chrono_literals;

namespace {
size_t AllowedCpuCount()
{
    cpu_set_t set;
    CPU_ZERO(&set);
    REQUIRE(sched_getaffinity(0, sizeof(set), &set) == 0);
    return static_cast<size_t>(CPU_COUNT(&set));
}

//! Threads of this process whose scheduling policy is SCHED_IDLE.
size_t IdleThreads()
{
    size_t count = 0;
    for (const auto& entry : std::filesystem::directory_iterator("/proc/self/task")) {
        const pid_t tid = static_cast<pid_t>(std::stol(entry.path().filename().string()));
        if (sched_getscheduler(tid) == SCHED_IDLE) ++count;
    }
    return count;
}

template <typename Predicate>
bool WaitFor(Predicate done, std::chrono::milliseconds limit = 10s)
{
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(1ms);
    }
    return true;
}
} // namespace

TEST_CASE("idle poller: a zero window starts no thread")
{
    IdlePoller poller{0us, 8};
    poller.Touch();
    std::this_thread::sleep_for(20ms);
    CHECK(poller.Threads() == 0);
    CHECK(poller.Spun() == 0us);
}

TEST_CASE("idle poller: one thread per allowed CPU, up to the limit, each at SCHED_IDLE")
{
    const size_t expected = std::min<size_t>(AllowedCpuCount(), 2);
    const size_t idle_before = IdleThreads();
    {
        IdlePoller poller{1ms, 2};
        CHECK(WaitFor([&] { return poller.Threads() == expected; }));
        CHECK(IdleThreads() == idle_before + expected);
    }
    CHECK(IdleThreads() == idle_before);
}

TEST_CASE("idle poller: spins only after a touch, until the window closes")
{
    const auto window = 50ms;
    IdlePoller poller{window, 2, IdlePoller::Priority::NORMAL};
    REQUIRE(WaitFor([&] { return poller.Threads() > 0; }));
    std::this_thread::sleep_for(2 * window);
    CHECK(poller.Spun() == 0us);

    // Spun() grows when a spin ends: that it grows at all shows the spinning stopped by itself.
    poller.Touch();
    REQUIRE(WaitFor([&] { return poller.Spun() > 0us; }));
    const auto first = poller.Spun();
    CHECK(first >= window / 2);
    std::this_thread::sleep_for(3 * window);
    const auto settled = poller.Spun();
    CHECK(settled <= first + window * 2 * poller.Threads());
    std::this_thread::sleep_for(3 * window);
    CHECK(poller.Spun() == settled);
}

TEST_CASE("idle poller: each touch keeps the CPUs awake for another window")
{
    const auto window = 30ms;
    IdlePoller poller{window, 1, IdlePoller::Priority::NORMAL};
    REQUIRE(WaitFor([&] { return poller.Threads() == 1; }));
    const auto start = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() - start < 300ms) {
        poller.Touch();
        std::this_thread::sleep_for(5ms);
    }
    // One spin from (about) the first touch to a window after the last one, not one per touch.
    REQUIRE(WaitFor([&] { return poller.Spun() > 0us; }));
    CHECK(poller.Spun() >= 250ms);
}

TEST_CASE("idle poller: stops at once while spinning")
{
    const auto before = std::chrono::steady_clock::now();
    {
        IdlePoller poller{std::chrono::duration_cast<std::chrono::microseconds>(60s), 2, IdlePoller::Priority::NORMAL};
        REQUIRE(WaitFor([&] { return poller.Threads() > 0; }));
        poller.Touch();
        std::this_thread::sleep_for(10ms);
    }
    CHECK(std::chrono::steady_clock::now() - before < 10s);
}

TEST_CASE("idle poller: touches from many threads at once")
{
    IdlePoller poller{200us, 2, IdlePoller::Priority::NORMAL};
    REQUIRE(WaitFor([&] { return poller.Threads() > 0; }));
    std::vector<std::thread> touchers;
    for (int t = 0; t < 4; ++t) {
        touchers.emplace_back([&] {
            for (int i = 0; i < 2000; ++i) {
                poller.Touch();
                if (i % 100 == 0) std::this_thread::sleep_for(1ms);
            }
        });
    }
    for (auto& thread : touchers) thread.join();
    // Every burst of touches ends in a spin that ends: nothing is left spinning or stuck.
    REQUIRE(WaitFor([&] { return poller.Spun() > 0us; }));
    std::this_thread::sleep_for(50ms);
    const auto settled = poller.Spun();
    std::this_thread::sleep_for(20ms);
    CHECK(poller.Spun() == settled);
}

TEST_CASE("idle poller: without a poller a job is refused, not run")
{
    IdlePoller poller{0us, 8};
    bool ran = false;
    CHECK_FALSE(poller.Post([&] { ran = true; }));
    std::this_thread::sleep_for(20ms);
    CHECK_FALSE(ran);
    CHECK(poller.JobsQueued() == 0);
}

TEST_CASE("idle poller: posted jobs run once each, on the pollers, at idle priority")
{
    IdlePoller poller{1ms, 2};
    if (!WaitFor([&] { return poller.Threads() > 0; }, 2s)) {
        MESSAGE("SCHED_IDLE refused here: no poller to run jobs");
        return;
    }
    // As many as the queue holds: at idle priority on a busy machine none may have run yet.
    constexpr int kJobs = static_cast<int>(IdlePoller::MAX_QUEUED_JOBS);
    std::atomic<int> ran{0};
    std::atomic<int> not_idle{0};
    std::atomic<int> on_caller{0};
    const auto caller = std::this_thread::get_id();
    for (int i = 0; i < kJobs; ++i) {
        REQUIRE(poller.Post([&] {
            if (sched_getscheduler(0) != SCHED_IDLE) ++not_idle;
            if (std::this_thread::get_id() == caller) ++on_caller;
            ++ran;
        }));
    }
    // The 1 ms window closes long before: queued jobs keep the pollers going.
    CHECK(WaitFor([&] { return ran.load() == kJobs; }));
    std::this_thread::sleep_for(20ms);
    CHECK(ran.load() == kJobs);
    CHECK(not_idle.load() == 0);
    CHECK(on_caller.load() == 0);
    CHECK(poller.JobsQueued() == 0);
}

TEST_CASE("idle poller: a job that throws does not stop the next")
{
    IdlePoller poller{1ms, 1, IdlePoller::Priority::NORMAL};
    REQUIRE(WaitFor([&] { return poller.Threads() == 1; }));
    std::atomic<bool> ran{false};
    REQUIRE(poller.Post([] { throw std::runtime_error("a cache that could not be filled"); }));
    REQUIRE(poller.Post([&] { ran = true; }));
    CHECK(WaitFor([&] { return ran.load(); }));
    CHECK(poller.Threads() == 1);
}

TEST_CASE("idle poller: jobs still queued at stop are dropped, none runs after")
{
    std::atomic<int> ran{0};
    {
        IdlePoller poller{1ms, 1, IdlePoller::Priority::NORMAL};
        REQUIRE(WaitFor([&] { return poller.Threads() == 1; }));
        std::atomic<bool> started{false};
        REQUIRE(poller.Post([&] {
            started = true;
            std::this_thread::sleep_for(50ms);
        }));
        REQUIRE(WaitFor([&] { return started.load(); }));
        for (size_t i = 0; i < IdlePoller::MAX_QUEUED_JOBS; ++i) REQUIRE(poller.Post([&] { ++ran; }));
    }
    const int at_stop = ran.load();
    CHECK(at_stop < static_cast<int>(IdlePoller::MAX_QUEUED_JOBS));
    std::this_thread::sleep_for(20ms);
    CHECK(ran.load() == at_stop);
}

TEST_CASE("idle poller: a job beyond the queue's bound is refused; the queued ones still run")
{
    IdlePoller poller{1ms, 1, IdlePoller::Priority::NORMAL};
    REQUIRE(WaitFor([&] { return poller.Threads() == 1; }));
    std::atomic<bool> started{false};
    std::atomic<bool> release{false};
    REQUIRE(poller.Post([&] {
        started = true;
        while (!release.load()) std::this_thread::sleep_for(1ms);
    }));
    REQUIRE(WaitFor([&] { return started.load(); }));
    std::atomic<size_t> ran{0};
    for (size_t i = 0; i < IdlePoller::MAX_QUEUED_JOBS; ++i) REQUIRE(poller.Post([&] { ++ran; }));
    CHECK(poller.JobsQueued() == IdlePoller::MAX_QUEUED_JOBS);
    CHECK_FALSE(poller.Post([&] { ++ran; }));
    release = true;
    CHECK(WaitFor([&] { return ran.load() == IdlePoller::MAX_QUEUED_JOBS; }));
    CHECK(poller.Post([&] { ++ran; }));
    CHECK(WaitFor([&] { return ran.load() == IdlePoller::MAX_QUEUED_JOBS + 1; }));
}
