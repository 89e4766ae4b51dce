#ifndef SIDEBOLT_UTIL_PARALLEL_H
#define SIDEBOLT_UTIL_PARALLEL_H

#include "util/sync.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

namespace sidebolt {

//! Calls body(i) once for every i in [0, count), possibly several at a time, and returns when
//! all are done. Pure code takes one of these so that the node decides how many cores its
//! signature work may use while the pure code itself never starts a thread.
using ParallelFor = std::function<void(size_t count, const std::function<void(size_t)>& body)>;

//! The ParallelFor of one thread: body(0), body(1), ... in order.
void RunInOrder(size_t count, const std::function<void(size_t)>& body);

//! Helper threads for ParallelFor; the calling thread works along with them. One For runs at a
//! time (a second caller waits for the first). The first exception thrown by body stops
//! handing out indices and is rethrown to the caller once every started call has returned.
class ParallelPool
{
public:
    explicit ParallelPool(size_t helpers);
    ~ParallelPool();
    ParallelPool(const ParallelPool&) = delete;
    ParallelPool& operator=(const ParallelPool&) = delete;

    void For(size_t count, const std::function<void(size_t)>& body) EXCLUDES(m_for_mutex, m_mutex);
    size_t Helpers() const { return m_threads.size(); }

private:
    void HelperLoop() EXCLUDES(m_mutex);
    //! Runs indices of the current For until none is left to claim.
    void Drain() EXCLUDES(m_mutex);

    Mutex m_for_mutex;
    Mutex m_mutex;
    std::condition_variable m_work_cv;
    std::condition_variable m_done_cv;
    const std::function<void(size_t)>* m_body GUARDED_BY(m_mutex){nullptr};
    size_t m_count GUARDED_BY(m_mutex){0};
    size_t m_next GUARDED_BY(m_mutex){0};
    size_t m_running GUARDED_BY(m_mutex){0};
    std::exception_ptr m_error GUARDED_BY(m_mutex);
    bool m_stopping GUARDED_BY(m_mutex){false};
    std::vector<std::thread> m_threads;
};

//! Hands a job to threads that only run when a CPU would otherwise idle (IdlePoller::Post);
//! false when refused.
using IdleRunner = std::function<bool(std::function<void()>)>;

namespace detail {
//! Spins until `done` is set or `patience` has passed; whether it was set.
bool AwaitFlag(const std::atomic<uint8_t>& done, std::chrono::nanoseconds patience) noexcept;
} // namespace detail

/**
 * Runs independent tasks on the calling thread, helped by up to `helpers` idle CPUs, and returns
 * their results in order. The caller never waits long for a helper, which idle priority may keep
 * off its CPU at any moment: a task a helper took and has not finished about one task's time
 * after the caller ran out of others, the caller runs again itself. So a task must own what it
 * reads (a helper may still run it after this returns) and be safe to run twice at once; what it
 * throws reaches the caller only when the caller runs it.
 */
template <typename Result>
std::vector<Result> RunWithIdleHelp(std::vector<std::function<Result()>> tasks, const IdleRunner& idle, size_t helpers)
{
    struct Shared {
        std::vector<std::function<Result()>> tasks;
        std::vector<std::optional<Result>> results;
        std::unique_ptr<std::atomic<uint8_t>[]> done;
        std::atomic<size_t> next{0};
    };
    const size_t count = tasks.size();
    auto shared = std::make_shared<Shared>();
    shared->tasks = std::move(tasks);
    shared->results.resize(count);
    shared->done = std::make_unique<std::atomic<uint8_t>[]>(count);
    if (idle && count > 1) {
        for (size_t h = 0; h < std::min(helpers, count - 1); ++h) {
            const bool posted = idle([shared, count] {
                for (size_t i; (i = shared->next.fetch_add(1)) < count;) {
                    try {
                        shared->results[i] = shared->tasks[i]();
                    } catch (...) {
                        continue; // the caller runs it again and sees the exception itself
                    }
                    shared->done[i].store(1, std::memory_order_release);
                }
            });
            if (!posted) break;
        }
    }
    const auto start = std::chrono::steady_clock::now();
    std::vector<std::optional<Result>> mine(count);
    size_t ran = 0;
    for (size_t i; (i = shared->next.fetch_add(1)) < count; ++ran) mine[i] = shared->tasks[i]();
    // About one task's time (ours, measured) is what a helper running unhindered still needs.
    const auto patience = ran ? (std::chrono::steady_clock::now() - start) / ran : std::chrono::microseconds(100);
    std::vector<Result> out;
    out.reserve(count);
    for (size_t i = 0; i < count; ++i) {
        if (!mine[i]) {
            if (detail::AwaitFlag(shared->done[i], patience)) {
                mine[i] = shared->results[i];
            } else {
                mine[i] = shared->tasks[i]();
            }
        }
        out.push_back(std::move(*mine[i]));
    }
    return out;
}

} // namespace sidebolt

#endif
