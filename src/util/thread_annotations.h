// Clang's thread-safety annotations, and a mutex they can see.
//
// Shared state names the lock that guards it (GUARDED_BY(mu_)), functions
// name the locks they need or take (REQUIRES, EXCLUDES, ACQUIRE, RELEASE),
// and clang's -Wthread-safety checks every access at compile time (ci/tidy
// runs it). Under other compilers (the normal build is GCC) the macros
// expand to nothing. As LevelDB's port/thread_annotations.h and Abseil's
// base/thread_annotations.h; the attributes are documented at
// https://clang.llvm.org/docs/ThreadSafetyAnalysis.html.
//
// libstdc++'s std::mutex carries no annotations, so the analysis cannot see
// it taken: guard state with Mutex, hold it with MutexLock, and wait with
// CondVar.
//
// Thread safety: Mutex and CondVar are safe from many threads (that is their
// point); a MutexLock belongs to the thread that made it.
#pragma once

#include <condition_variable>
#include <mutex>

#if defined(__clang__)
#define MESHCACHE_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define MESHCACHE_THREAD_ANNOTATION(x)  // no-op
#endif

// On a class: its objects are locks (Mutex).
#define CAPABILITY(x) MESHCACHE_THREAD_ANNOTATION(capability(x))
// On a class: RAII, holds a lock for its lifetime (MutexLock).
#define SCOPED_CAPABILITY MESHCACHE_THREAD_ANNOTATION(scoped_lockable)
// On a member: read or written only with the lock held.
#define GUARDED_BY(x) MESHCACHE_THREAD_ANNOTATION(guarded_by(x))
// On a pointer member: what it points to is read or written only with the
// lock held (the pointer itself is not guarded).
#define PT_GUARDED_BY(x) MESHCACHE_THREAD_ANNOTATION(pt_guarded_by(x))
// On a lock member: the order in which locks are taken.
#define ACQUIRED_BEFORE(...) MESHCACHE_THREAD_ANNOTATION(acquired_before(__VA_ARGS__))
#define ACQUIRED_AFTER(...) MESHCACHE_THREAD_ANNOTATION(acquired_after(__VA_ARGS__))
// On a function: the caller holds the locks (exclusively, or shared).
#define REQUIRES(...) MESHCACHE_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define REQUIRES_SHARED(...) MESHCACHE_THREAD_ANNOTATION(requires_shared_capability(__VA_ARGS__))
// On a function: it takes (and returns holding) or releases the locks; with
// no argument, the object's own.
#define ACQUIRE(...) MESHCACHE_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define ACQUIRE_SHARED(...) MESHCACHE_THREAD_ANNOTATION(acquire_shared_capability(__VA_ARGS__))
#define RELEASE(...) MESHCACHE_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define RELEASE_SHARED(...) MESHCACHE_THREAD_ANNOTATION(release_shared_capability(__VA_ARGS__))
// On a function: it takes the lock when it returns the given value.
#define TRY_ACQUIRE(...) MESHCACHE_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
// On a function: the caller must not hold the locks (it takes them).
#define EXCLUDES(...) MESHCACHE_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
// On a function: from here on the analysis assumes the lock is held.
#define ASSERT_CAPABILITY(x) MESHCACHE_THREAD_ANNOTATION(assert_capability(x))
// On a function: it returns (a reference to) the given lock.
#define RETURN_CAPABILITY(x) MESHCACHE_THREAD_ANNOTATION(lock_returned(x))
// On a function: the analysis skips it. Say why beside it.
#define NO_THREAD_SAFETY_ANALYSIS MESHCACHE_THREAD_ANNOTATION(no_thread_safety_analysis)

namespace meshcache {

// A std::mutex the analysis can see. Not recursive. Prefer MutexLock to
// Lock/Unlock pairs.
class CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() ACQUIRE() { mu_.lock(); }
  void Unlock() RELEASE() { mu_.unlock(); }

 private:
  friend class CondVar;
  std::mutex mu_;
};

// Holds *mu from construction to destruction. REQUIRES: mu outlives it.
class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ACQUIRE(mu) : mu_(mu) { mu_->Lock(); }
  ~MutexLock() RELEASE() { mu_->Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* const mu_;
};

// A std::condition_variable for a Mutex (as Abseil's CondVar). Waits may
// wake spuriously, so callers loop on their condition, which the analysis
// then checks like any other read under the lock:
//   MutexLock lock(&mu_);
//   while (queue_.empty()) cv_.Wait(&mu_);
// Every wait on one CondVar must pass the same Mutex.
class CondVar {
 public:
  CondVar() = default;
  CondVar(const CondVar&) = delete;
  CondVar& operator=(const CondVar&) = delete;

  // Releases *mu, blocks until woken, and takes *mu again before returning.
  void Wait(Mutex* mu) REQUIRES(mu) {
    std::unique_lock<std::mutex> lock(mu->mu_, std::adopt_lock);
    cv_.wait(lock);
    lock.release();  // still held: the caller's MutexLock unlocks it
  }
  // As Wait, but returns false once `deadline` (a std::chrono::time_point)
  // has passed without a wake-up.
  template <class Deadline>
  bool WaitUntil(Mutex* mu, const Deadline& deadline) REQUIRES(mu) {
    std::unique_lock<std::mutex> lock(mu->mu_, std::adopt_lock);
    const bool woken = cv_.wait_until(lock, deadline) == std::cv_status::no_timeout;
    lock.release();
    return woken;
  }
  void Signal() { cv_.notify_one(); }
  void SignalAll() { cv_.notify_all(); }

 private:
  std::condition_variable cv_;
};

}  // namespace meshcache
