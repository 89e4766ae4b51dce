#include "util/parallel.h"

#include "util/sync.h"

#include <utility>

namespace sidebolt {

namespace detail {
bool AwaitFlag(const std::atomic<uint8_t>& done, std::chrono::nanoseconds patience) noexcept
{
    const auto until = std::chrono::steady_clock::now() + patience;
    while (done.load(std::memory_order_acquire) == 0) {
        if (std::chrono::steady_clock::now() >= until) return false;
        CpuRelax();
    }
    return true;
}
} // namespace detail

void RunInOrder(size_t count, const std::function<void(size_t)>& body)
{
    for (size_t i = 0; i < count; ++i) body(i);
}

ParallelPool::ParallelPool(size_t helpers)
{
    m_threads.reserve(helpers);
    for (size_t i = 0; i < helpers; ++i) m_threads.emplace_back([this] { HelperLoop(); });
}

ParallelPool::~ParallelPool()
{
    {
        const MutexLock lock(m_mutex);
        m_stopping = true;
    }
    m_work_cv.notify_all();
    for (auto& thread : m_threads) thread.join();
}

void ParallelPool::For(size_t count, const std::function<void(size_t)>& body)
{
    if (m_threads.empty() || count < 2) return RunInOrder(count, body);
    const MutexLock serial(m_for_mutex);
    {
        const MutexLock lock(m_mutex);
        m_body = &body;
        m_count = count;
        m_next = 0;
    }
    m_work_cv.notify_all();
    Drain();
    std::exception_ptr error;
    {
        UniqueLock lock(m_mutex);
        lock.Wait(m_done_cv, [&]() REQUIRES(m_mutex) { return m_next >= m_count && m_running == 0; });
        m_body = nullptr;
        error = std::exchange(m_error, nullptr);
    }
    if (error) std::rethrow_exception(error);
}

void ParallelPool::HelperLoop()
{
    for (;;) {
        {
            UniqueLock lock(m_mutex);
            lock.Wait(m_work_cv, [&]() REQUIRES(m_mutex) { return m_stopping || (m_body && m_next < m_count); });
            if (m_stopping) return;
        }
        Drain();
    }
}

void ParallelPool::Drain()
{
    for (;;) {
        const std::function<void(size_t)>* body;
        size_t index;
        {
            const MutexLock lock(m_mutex);
            if (!m_body || m_next >= m_count) return;
            body = m_body;
            index = m_next++;
            ++m_running;
        }
        std::exception_ptr error;
        try {
            (*body)(index);
        } catch (...) {
            error = std::current_exception();
        }
        const MutexLock lock(m_mutex);
        --m_running;
        if (error) {
            if (!m_error) m_error = error;
            m_next = m_count;
        }
        if (m_next >= m_count && m_running == 0) m_done_cv.notify_all();
    }
}

} // namespace sidebolt
