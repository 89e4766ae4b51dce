#ifndef SIDEBOLT_UTIL_IDLE_POLLER_H
#define SIDEBOLT_UTIL_IDLE_POLLER_H

#include "util/sync.h"
#include "util/thread_annotations.h"

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

namespace sidebolt {

/**
 * Keeps the process's CPUs awake for a while after each sign of activity.
 *
 * A payment hands over between threads and processes about a dozen times, and waits for a
 * disk write three times. A halted CPU (a virtual machine's vCPU, or a core in a deep C-state)
 * takes tens to hundreds of microseconds to run a thread woken on it. While active, one thread
 * per CPU spins at SCHED_IDLE priority: any other thread woken on that CPU takes it at once,
 * and no thread of ours or anyone else's waits for it. The spinning stops `window` after the
 * last Touch and the threads sleep until the next one.
 *
 * The same threads run work done ahead that nothing waits for yet (Post): at idle priority it
 * never delays a thread with work, unlike the same work on the thread that posts it.
 */
class IdlePoller
{
public:
    enum class Priority {
        IDLE,
        //! Tests only: their timing cannot depend on a busy machine leaving idle time.
        NORMAL,
    };

    //! A zero window starts no thread. At most max_threads CPUs (of those the process may run
    //! on) are kept awake, each by a thread bound to it.
    IdlePoller(std::chrono::microseconds window, size_t max_threads, Priority priority = Priority::IDLE);
    ~IdlePoller();
    IdlePoller(const IdlePoller&) = delete;
    IdlePoller& operator=(const IdlePoller&) = delete;

    //! Activity now: keep the CPUs awake until window from now. Cheap enough for every message;
    //! it makes a system call only when the pollers are asleep.
    void Touch() noexcept;

    /**
     * Runs `job` on one of the pollers, at their priority, soon: work done ahead of need, such
     * as a cache warmed, that any thread with work should preempt. False when no poller runs
     * (the caller does it itself or not at all), or when MAX_QUEUED_JOBS wait already: on CPUs
     * kept busy the pollers hardly run, and what waits would only go stale. Jobs still queued
     * when the poller stops are dropped, so a job must own what it uses; one that throws is only
     * logged.
     */
    bool Post(std::function<void()> job) EXCLUDES(m_jobs_mutex);
    static constexpr size_t MAX_QUEUED_JOBS = 64;
    //! Jobs posted and not yet started.
    size_t JobsQueued() const noexcept { return m_jobs_queued.load(std::memory_order_relaxed); }

    //! Threads polling (0 when disabled or where SCHED_IDLE is refused).
    size_t Threads() const noexcept { return m_running.load(std::memory_order_relaxed); }
    //! Time spent spinning, all threads together: what the awake CPUs cost.
    std::chrono::microseconds Spun() const noexcept;

private:
    void Loop(int cpu, Priority priority) noexcept;
    //! Spins (running posted jobs) until the window closes with no job queued, or the poller
    //! stops; returns the nanoseconds spun.
    int64_t SpinWhileActive() noexcept;
    //! Runs the oldest queued job; false when there was none.
    bool RunQueuedJob() noexcept EXCLUDES(m_jobs_mutex);

    const int64_t m_window_ns;
    //! Steady-clock nanoseconds until which the CPUs stay awake.
    std::atomic<int64_t> m_until_ns{0};
    //! Pollers asleep or about to be: Touch wakes them only then.
    std::atomic<uint32_t> m_sleeping{0};
    //! Bumped to wake the sleeping pollers (std::atomic::wait on it).
    std::atomic<uint32_t> m_wake{0};
    std::atomic<bool> m_stopping{false};
    std::atomic<size_t> m_running{0};
    std::atomic<int64_t> m_spun_ns{0};
    Mutex m_jobs_mutex;
    std::deque<std::function<void()>> m_jobs GUARDED_BY(m_jobs_mutex);
    //! m_jobs.size(), read by the spinning threads without taking the mutex.
    std::atomic<size_t> m_jobs_queued{0};
    std::vector<std::thread> m_threads;
};

} // namespace sidebolt

#endif
