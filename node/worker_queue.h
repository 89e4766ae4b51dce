#ifndef SIDEBOLT_NODE_WORKER_QUEUE_H
#define SIDEBOLT_NODE_WORKER_QUEUE_H

#include "util/sync.h"

#include <condition_variable>
#include <deque>
#include <functional>
#include <thread>

namespace sidebolt {

/**
 * One thread running jobs in order: slow calls (bitcoind's wallet) leave the channel worker
 * free to serve every other channel meanwhile. Jobs still queued at Stop are dropped.
 */
class WorkerQueue
{
public:
    WorkerQueue() : m_thread([this] { Run(); }) {}
    ~WorkerQueue() { Stop(); }
    WorkerQueue(const WorkerQueue&) = delete;
    WorkerQueue& operator=(const WorkerQueue&) = delete;

    void Push(std::function<void()> job) EXCLUDES(m_mutex)
    {
        {
            const MutexLock lock(m_mutex);
            if (m_stopping) return;
            m_jobs.push_back(std::move(job));
        }
        m_cv.notify_one();
    }

    void Stop() EXCLUDES(m_mutex)
    {
        {
            const MutexLock lock(m_mutex);
            m_stopping = true;
        }
        m_cv.notify_all();
        if (m_thread.joinable()) m_thread.join();
    }

private:
    void Run() EXCLUDES(m_mutex)
    {
        for (;;) {
            std::function<void()> job;
            {
                UniqueLock lock(m_mutex);
                lock.Wait(m_cv, [&]() REQUIRES(m_mutex) { return m_stopping || !m_jobs.empty(); });
                if (m_stopping) return;
                job = std::move(m_jobs.front());
                m_jobs.pop_front();
            }
            job();
        }
    }

    Mutex m_mutex;
    std::condition_variable m_cv;
    std::deque<std::function<void()>> m_jobs GUARDED_BY(m_mutex);
    bool m_stopping GUARDED_BY(m_mutex){false};
    std::thread m_thread;
};

} // namespace sidebolt

#endif
