// How long a thread woken on another CPU waits before it runs: the hand-over a payment makes a
// dozen times. The CPU it is woken on idles in between (a node between payment steps), either
// halted or kept awake by the idle poller (-busypollus). Each wake-up's wait is a sample; the
// figures are their quantiles (counters p50_us ... max_us), not the benchmark's own time.
#include "util/idle_poller.h"

#include <benchmark/benchmark.h>

#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

namespace {

int64_t NowNs()
{
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

bool PinTo(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return pthread_setaffinity_np(pthread_self(), sizeof(set), &set) == 0;
}

double Quantile(const std::vector<int64_t>& sorted, double fraction)
{
    return static_cast<double>(sorted[static_cast<size_t>(fraction * static_cast<double>(sorted.size() - 1))]) / 1000.0;
}

void WakeToRun(benchmark::State& state)
{
    if (std::thread::hardware_concurrency() < 2) {
        state.SkipWithError("needs two CPUs");
        return;
    }
    const bool awake = state.range(0) != 0;
    // The poller keeps the CPUs this thread may run on awake: all of them, before it pins itself.
    cpu_set_t all_cpus;
    CPU_ZERO(&all_cpus);
    (void)pthread_getaffinity_np(pthread_self(), sizeof(all_cpus), &all_cpus);
    sidebolt::IdlePoller poller(std::chrono::microseconds(awake ? 2000 : 0), 8);
    const int wake_fd = eventfd(0, EFD_CLOEXEC);
    std::atomic<int64_t> woken_at{0};
    std::atomic<int64_t> ran_at{0};
    std::atomic<bool> stop{false};
    std::thread sleeper([&] {
        (void)PinTo(1);
        uint64_t count = 0;
        while (read(wake_fd, &count, sizeof(count)) == sizeof(count) && !stop.load()) ran_at.store(NowNs());
    });
    (void)PinTo(0);
    std::vector<int64_t> waits;
    for (auto _ : state) {
        // The other CPU idles as it would between two steps of a payment.
        std::this_thread::sleep_for(std::chrono::microseconds(700));
        poller.Touch();
        ran_at.store(0);
        woken_at.store(NowNs());
        const uint64_t one = 1;
        if (write(wake_fd, &one, sizeof(one)) != sizeof(one)) {
            state.SkipWithError("eventfd write failed");
            break;
        }
        while (ran_at.load() == 0) {
        }
        waits.push_back(ran_at.load() - woken_at.load());
    }
    stop.store(true);
    const uint64_t one = 1;
    (void)write(wake_fd, &one, sizeof(one));
    sleeper.join();
    close(wake_fd);
    (void)pthread_setaffinity_np(pthread_self(), sizeof(all_cpus), &all_cpus);
    if (waits.empty()) return;
    std::sort(waits.begin(), waits.end());
    state.counters["p50_us"] = Quantile(waits, 0.50);
    state.counters["p90_us"] = Quantile(waits, 0.90);
    state.counters["p99_us"] = Quantile(waits, 0.99);
    state.counters["p999_us"] = Quantile(waits, 0.999);
    state.counters["max_us"] = Quantile(waits, 1.0);
    state.counters["pollers"] = static_cast<double>(poller.Threads());
}

} // namespace

// Arg 0: the CPU halts between wake-ups; 1: the idle poller keeps it awake.
BENCHMARK(WakeToRun)->Arg(0)->Arg(1)->Iterations(3000)->UseRealTime()->Unit(benchmark::kMicrosecond);
