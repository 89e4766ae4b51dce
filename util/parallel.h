#ifndef SIDEBOLT_UTIL_PARALLEL_H
#define SIDEBOLT_UTIL_PARALLEL_H

#include "util/sync.h"

#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
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

} // namespace sidebolt

#endif
