#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A value guarded by a `pthread_mutex_t`.
///
/// This stands where `Synchronization.Mutex` would: on Linux, `Mutex` locks with raw futex
/// calls that ThreadSanitizer cannot see, so every access under it is reported as a race, and
/// `swift test --sanitize=thread` could no longer tell real races from these. A pthread mutex
/// is intercepted by the sanitizer and costs the same uncontended.
// Unchecked sendability is safe: `value` is only read or written inside `withLock`, between
// `pthread_mutex_lock` and `pthread_mutex_unlock` on `mutex`, which this object owns.
@usableFromInline
package final class Locked<Value>: @unchecked Sendable {
    @usableFromInline var value: Value
    @usableFromInline let mutex: UnsafeMutablePointer<pthread_mutex_t>

    /// Creates a lock guarding `value`.
    @usableFromInline
    package init(_ value: Value) {
        self.value = value
        mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deinitialize(count: 1)
        mutex.deallocate()
    }

    /// Runs `body` with exclusive access to the value.
    @inlinable @inline(__always)
    package func withLock<Result, Failure: Error>(_ body: (inout Value) throws(Failure) -> Result) throws(Failure) -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
