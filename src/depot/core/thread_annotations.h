// Clang's thread-safety annotations (-Wthread-safety), as macros that vanish on other compilers.
// depot's classes write their lock discipline into their types with them: a field is
// DEPOT_GUARDED_BY(mu_), a helper that expects the lock held is DEPOT_REQUIRES(mu_), and clang
// checks every access at compile time (the `fuzz` preset builds the library with clang and
// -Werror=thread-safety). Use them with depot::Mutex and depot::MutexLock (core/mutex.h), which
// carry the capability annotations Mutex lacks in libstdc++.
#pragma once

#if defined(__clang__)
#define DEPOT_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define DEPOT_THREAD_ANNOTATION(x)
#endif

#define DEPOT_CAPABILITY(name) DEPOT_THREAD_ANNOTATION(capability(name))
#define DEPOT_SCOPED_CAPABILITY DEPOT_THREAD_ANNOTATION(scoped_lockable)
#define DEPOT_GUARDED_BY(mu) DEPOT_THREAD_ANNOTATION(guarded_by(mu))
#define DEPOT_PT_GUARDED_BY(mu) DEPOT_THREAD_ANNOTATION(pt_guarded_by(mu))
#define DEPOT_REQUIRES(...) DEPOT_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define DEPOT_EXCLUDES(...) DEPOT_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define DEPOT_ACQUIRE(...) DEPOT_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define DEPOT_RELEASE(...) DEPOT_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define DEPOT_TRY_ACQUIRE(...) DEPOT_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
#define DEPOT_ASSERT_CAPABILITY(x) DEPOT_THREAD_ANNOTATION(assert_capability(x))
#define DEPOT_RETURN_CAPABILITY(x) DEPOT_THREAD_ANNOTATION(lock_returned(x))
#define DEPOT_NO_THREAD_SAFETY_ANALYSIS DEPOT_THREAD_ANNOTATION(no_thread_safety_analysis)
