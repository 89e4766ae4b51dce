#ifndef SIDEBOLT_UTIL_SYNC_H
#define SIDEBOLT_UTIL_SYNC_H

#include "util/thread_annotations.h"

#include <mutex>
#include <utility>

#if defined(__SANITIZE_THREAD__)
#define SIDEBOLT_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SIDEBOLT_TSAN 1
#endif
#endif
#ifdef SIDEBOLT_TSAN
#include <sanitizer/tsan_interface.h>
#endif

namespace sidebolt {

//! Tells the CPU this is a spin-wait: it yields the core's shared resources to a sibling
//! hyperthread and saves power.
inline void CpuRelax() noexcept
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
}

//! std::mutex as a capability clang's thread-safety analysis understands: members declared
//! GUARDED_BY(m_mutex) can then only be touched with it held. Lock it through MutexLock or
//! UniqueLock rather than lock()/unlock() by hand.
class CAPABILITY("mutex") Mutex
{
public:
    Mutex() = default;
    //! Tells ThreadSanitizer the mutex is gone. libstdc++'s std::mutex has a trivial destructor,
    //! so TSan never sees one end and takes the next mutex at its address (a stack slot the next
    //! object reuses) for the same one: lock-order reports between mutexes that never coexisted.
    ~Mutex()
    {
#ifdef SIDEBOLT_TSAN
        __tsan_mutex_destroy(&m_mutex, 0);
#endif
    }
    Mutex(const Mutex&) = delete;
    Mutex& operator=(const Mutex&) = delete;

    void lock() ACQUIRE() { m_mutex.lock(); }
    void unlock() RELEASE() { m_mutex.unlock(); }
    bool try_lock() TRY_ACQUIRE(true) { return m_mutex.try_lock(); }

private:
    friend class UniqueLock;
    std::mutex m_mutex;
};

//! Holds a Mutex for its scope (std::lock_guard).
class SCOPED_CAPABILITY MutexLock
{
public:
    explicit MutexLock(Mutex& mutex) ACQUIRE(mutex) : m_mutex(mutex) { m_mutex.lock(); }
    ~MutexLock() RELEASE() { m_mutex.unlock(); }
    MutexLock(const MutexLock&) = delete;
    MutexLock& operator=(const MutexLock&) = delete;

private:
    Mutex& m_mutex;
};

//! Holds a Mutex for its scope and can wait on a condition variable with it
//! (std::condition_variable or std::condition_variable_any). The waits release the mutex and
//! hold it again when they return, so for the analysis it stays held throughout. A predicate
//! that reads guarded state says so: `[&]() REQUIRES(m_mutex) { return !m_queue.empty(); }`.
class SCOPED_CAPABILITY UniqueLock
{
public:
    explicit UniqueLock(Mutex& mutex) ACQUIRE(mutex) : m_lock(mutex.m_mutex) {}
    ~UniqueLock() RELEASE() {}
    UniqueLock(const UniqueLock&) = delete;
    UniqueLock& operator=(const UniqueLock&) = delete;

    template <typename Cv, typename... Args>
    decltype(auto) Wait(Cv& cv, Args&&... args)
    {
        return cv.wait(m_lock, std::forward<Args>(args)...);
    }
    template <typename Cv, typename... Args>
    decltype(auto) WaitFor(Cv& cv, Args&&... args)
    {
        return cv.wait_for(m_lock, std::forward<Args>(args)...);
    }
    template <typename Cv, typename... Args>
    decltype(auto) WaitUntil(Cv& cv, Args&&... args)
    {
        return cv.wait_until(m_lock, std::forward<Args>(args)...);
    }

private:
    std::unique_lock<std::mutex> m_lock;
};

} // namespace sidebolt

#endif
