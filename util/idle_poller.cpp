#include "util/idle_poller.h"

#include "util/logging.h"
#include "util/sync.h"

#include <pthread.h>
#include <sched.h>

#include <cstring>
#include <exception>

namespace sidebolt {

namespace {
int64_t NowNs() noexcept
{
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::vector<int> AllowedCpus(size_t max_cpus)
{
    std::vector<int> cpus;
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) != 0) return cpus;
    for (int cpu = 0; cpu < CPU_SETSIZE && cpus.size() < max_cpus; ++cpu) {
        if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
    }
    return cpus;
}
} // namespace

IdlePoller::IdlePoller(std::chrono::microseconds window, size_t max_threads, Priority priority)
    : m_window_ns(std::chrono::duration_cast<std::chrono::nanoseconds>(window).count())
{
    if (m_window_ns <= 0) return;
    for (const int cpu : AllowedCpus(max_threads)) {
        m_threads.emplace_back([this, cpu, priority] { Loop(cpu, priority); });
    }
}

IdlePoller::~IdlePoller()
{
    m_stopping.store(true);
    m_wake.fetch_add(1);
    m_wake.notify_all();
    for (auto& thread : m_threads) thread.join();
}

void IdlePoller::Touch() noexcept
{
    if (m_threads.empty()) return;
    const int64_t until = NowNs() + m_window_ns;
    int64_t current = m_until_ns.load();
    while (current < until && !m_until_ns.compare_exchange_weak(current, until)) {
    }
    // Sequentially consistent with the poller's "announce sleep, then re-read the deadline":
    // either it sees the new deadline or this sees it sleeping.
    if (m_sleeping.load() > 0) {
        m_wake.fetch_add(1);
        m_wake.notify_all();
    }
}

bool IdlePoller::Post(std::function<void()> job)
{
    if (m_running.load(std::memory_order_relaxed) == 0) return false;
    {
        const MutexLock lock(m_jobs_mutex);
        if (m_jobs.size() >= MAX_QUEUED_JOBS) return false;
        m_jobs.push_back(std::move(job));
        m_jobs_queued.store(m_jobs.size());
    }
    Touch();
    return true;
}

bool IdlePoller::RunQueuedJob() noexcept
{
    if (m_jobs_queued.load(std::memory_order_relaxed) == 0) return false;
    std::function<void()> job;
    {
        const MutexLock lock(m_jobs_mutex);
        if (m_jobs.empty()) return false;
        job = std::move(m_jobs.front());
        m_jobs.pop_front();
        m_jobs_queued.store(m_jobs.size());
    }
    try {
        job();
    } catch (const std::exception& e) {
        Log("node")->debug("idle job failed: {}", e.what());
    } catch (...) {
        Log("node")->debug("idle job failed");
    }
    return true;
}

std::chrono::microseconds IdlePoller::Spun() const noexcept
{
    return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::nanoseconds(m_spun_ns.load(std::memory_order_relaxed)));
}

void IdlePoller::Loop(int cpu, Priority priority) noexcept
{
    // Only at idle priority may this spin: it must never take a CPU from a thread with work.
    const sched_param param{};
    const int rc = priority == Priority::IDLE ? pthread_setschedparam(pthread_self(), SCHED_IDLE, &param) : 0;
    if (rc != 0) {
        Log("node")->warn("idle poller for CPU {} not started: SCHED_IDLE refused ({})", cpu, std::strerror(rc));
        return;
    }
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    // Unbound it still keeps some CPU awake, just not always a distinct one.
    (void)pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
    m_running.fetch_add(1, std::memory_order_relaxed);
    while (!m_stopping.load()) {
        const uint32_t generation = m_wake.load();
        m_spun_ns.fetch_add(SpinWhileActive(), std::memory_order_relaxed);
        m_sleeping.fetch_add(1);
        if (!m_stopping.load() && NowNs() >= m_until_ns.load() && JobsQueued() == 0) m_wake.wait(generation);
        m_sleeping.fetch_sub(1);
    }
    m_running.fetch_sub(1, std::memory_order_relaxed);
}

int64_t IdlePoller::SpinWhileActive() noexcept
{
    const int64_t start = NowNs();
    int64_t now = start;
    while ((now < m_until_ns.load(std::memory_order_relaxed) || JobsQueued() > 0) &&
           !m_stopping.load(std::memory_order_relaxed)) {
        if (!RunQueuedJob()) {
            // A clock read costs tens of nanoseconds; a few pauses between reads keep that small.
            for (int i = 0; i < 16; ++i) CpuRelax();
            // The pollers of two daemons on one CPU share it equally, and one may be running a
            // job: give it the CPU. Measured to halve the p99 of a payment one at a time too.
            sched_yield();
        }
        now = NowNs();
    }
    return now - start;
}

} // namespace sidebolt
