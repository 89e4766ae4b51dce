#ifndef SIDEBOLT_UTIL_IDLE_POLLER_H
#define SIDEBOLT_UTIL_IDLE_POLLER_H

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
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

    //! Threads polling (0 when disabled or where SCHED_IDLE is refused).
    size_t Threads() const noexcept { return m_running.load(std::memory_order_relaxed); }
    //! Time spent spinning, all threads together: what the awake CPUs cost.
    std::chrono::microseconds Spun() const noexcept;

private:
    void Loop(int cpu, Priority priority) noexcept;
    //! Spins until the window closes or the poller stops; returns the nanoseconds spun.
    int64_t SpinWhileActive() noexcept;

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
    std::vector<std::thread> m_threads;
};

} // namespace sidebolt

#endif
