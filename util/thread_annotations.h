#ifndef SIDEBOLT_UTIL_THREAD_ANNOTATIONS_H
#define SIDEBOLT_UTIL_THREAD_ANNOTATIONS_H

// Clang's thread-safety analysis (-Wthread-safety) checks at compile time that state marked
// GUARDED_BY(m) is only touched with m held, and that functions marked REQUIRES(m) or
// EXCLUDES(m) are called accordingly. Other compilers see empty macros.
// https://clang.llvm.org/docs/ThreadSafetyAnalysis.html

#if defined(__clang__)
#define SIDEBOLT_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define SIDEBOLT_THREAD_ANNOTATION(x)
#endif

//! A type whose objects are capabilities (mutexes): the thing GUARDED_BY names.
#define CAPABILITY(x) SIDEBOLT_THREAD_ANNOTATION(capability(x))
#define LOCKABLE SIDEBOLT_THREAD_ANNOTATION(lockable)
//! An RAII type that holds a capability from construction to destruction.
#define SCOPED_CAPABILITY SIDEBOLT_THREAD_ANNOTATION(scoped_lockable)

//! The member may only be read or written with the capability held.
#define GUARDED_BY(x) SIDEBOLT_THREAD_ANNOTATION(guarded_by(x))
//! What the pointer member points to may only be touched with the capability held.
#define PT_GUARDED_BY(x) SIDEBOLT_THREAD_ANNOTATION(pt_guarded_by(x))
#define ACQUIRED_BEFORE(...) SIDEBOLT_THREAD_ANNOTATION(acquired_before(__VA_ARGS__))
#define ACQUIRED_AFTER(...) SIDEBOLT_THREAD_ANNOTATION(acquired_after(__VA_ARGS__))

//! Callers must hold the capability (exclusively, or at least shared).
#define REQUIRES(...) SIDEBOLT_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define REQUIRES_SHARED(...) SIDEBOLT_THREAD_ANNOTATION(requires_shared_capability(__VA_ARGS__))
//! Callers must not hold the capability (the function takes it itself).
#define EXCLUDES(...) SIDEBOLT_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define LOCKS_EXCLUDED(...) EXCLUDES(__VA_ARGS__)

//! The function acquires or releases the capability (this object's when none is named).
#define ACQUIRE(...) SIDEBOLT_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define ACQUIRE_SHARED(...) SIDEBOLT_THREAD_ANNOTATION(acquire_shared_capability(__VA_ARGS__))
#define RELEASE(...) SIDEBOLT_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define RELEASE_SHARED(...) SIDEBOLT_THREAD_ANNOTATION(release_shared_capability(__VA_ARGS__))
#define TRY_ACQUIRE(...) SIDEBOLT_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
#define EXCLUSIVE_LOCK_FUNCTION(...) ACQUIRE(__VA_ARGS__)
#define UNLOCK_FUNCTION(...) RELEASE(__VA_ARGS__)

//! Tells the analysis the capability is held here (checked at run time by the callee, if at all).
#define ASSERT_CAPABILITY(x) SIDEBOLT_THREAD_ANNOTATION(assert_capability(x))
#define RETURN_CAPABILITY(x) SIDEBOLT_THREAD_ANNOTATION(lock_returned(x))
//! Opts a function out of the analysis; say in a comment why it is safe.
#define NO_THREAD_SAFETY_ANALYSIS SIDEBOLT_THREAD_ANNOTATION(no_thread_safety_analysis)

#endif
