import Dispatch
import Glibc
import Synchronization

/// How a connection's thread waits: for its socket, or for work from other threads.
///
/// An idle thread sleeps on a semaphore (the cheapest wake: one futex call each side). A thread
/// waiting for its socket waits in a `poll()` that includes a wake-up descriptor (a pipe), so
/// that it still runs the executor jobs that arrive meanwhile: a task that prefers this thread
/// never waits a whole round trip, or a whole frozen deadline, for it.
///
/// A connection's ``RuntimeConnection/connect(deadline:io:)`` and
/// ``RuntimeConnection/execute(_:command:replies:deadline:io:)`` wait only through
/// ``wait(_:for:deadline:)``, on the thread that owns them.
// Unchecked sendability is safe: other threads only call `wake()` (a semaphore signal) and
// `jobQueued()` (atomics, and a write to the pipe); `runQueuedJobs` is set by the owning
// thread before its first wait and called by it alone.
public final class ConnectionIO: @unchecked Sendable {
    /// The pipe that wakes the thread: a byte written to `wakeInput` makes `wakeDescriptor`
    /// readable.
    @usableFromInline let wakeDescriptor: Int32
    @usableFromInline let wakeInput: Int32
    /// What an idle thread sleeps on.
    @usableFromInline let idle = DispatchSemaphore(value: 0)
    /// Runs the executor jobs queued for the thread; set by the owning thread.
    @usableFromInline var runQueuedJobs: () -> Void = {}
    /// Set while the thread is in a socket wait: a job queued then writes the pipe.
    @usableFromInline let socketWaiting = Atomic(false)
    /// Executor jobs queued and not yet taken by the thread (may lag by one for an instant).
    @usableFromInline let queuedJobs = Atomic(0)

    /// A wake-up descriptor of its own; fails only when the process is out of descriptors.
    public init() {
        var descriptors: [Int32] = [-1, -1]
        precondition(pipe(&descriptors) == 0, "pipe failed: errno \(errno)")
        for descriptor in descriptors {
            _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK)
            _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC)
        }
        (wakeDescriptor, wakeInput) = (descriptors[0], descriptors[1])
    }

    deinit {
        close(wakeDescriptor)
        close(wakeInput)
    }

    /// Wakes the thread from ``sleep()``.
    @inlinable public func wake() {
        idle.signal()
    }

    /// An executor job was queued for the thread: wakes it if it is in a socket wait.
    ///
    /// Lock-free, and paired with ``wait(_:for:deadline:)``: this counts the job, then clears
    /// the waiting mark; the thread sets the mark, then reads the count. With both sequentially
    /// consistent, either the thread sees the job before it polls or this call sees the mark and
    /// writes the pipe.
    @inlinable public func jobQueued() {
        queuedJobs.add(1, ordering: .sequentiallyConsistent)
        if socketWaiting.exchange(false, ordering: .sequentiallyConsistent) { wakeSocketWait() }
    }

    /// The thread took `count` queued jobs to run.
    @inlinable public func jobsTaken(_ count: Int) {
        queuedJobs.subtract(count, ordering: .relaxed)
    }

    /// Writes the pipe: ends a socket wait.
    public func wakeSocketWait() {
        // A full pipe already wakes the thread: a failed write loses nothing.
        var one: UInt8 = 1
        _ = write(wakeInput, &one, 1)
    }

    /// Sleeps until ``wake()``.
    @inlinable public func sleep() {
        idle.wait()
    }

    /// Waits until `socket` is ready for `events` (or has an error or hang-up to report), or
    /// until `deadline` passes (`false`). Executor jobs queued meanwhile run on this thread.
    public func wait(_ socket: Int32, for events: Int16, deadline: ContinuousClock.Instant) -> Bool {
        guard socket >= 0 else { return false }
        var descriptors = (
            pollfd(fd: socket, events: events, revents: 0),
            pollfd(fd: wakeDescriptor, events: Int16(POLLIN), revents: 0)
        )
        while true {
            let remaining = ContinuousClock.now.duration(to: deadline)
            guard remaining > .zero else { return false }
            // Runs what is queued first; waits only with nothing to run (see jobQueued()).
            socketWaiting.store(true, ordering: .sequentiallyConsistent)
            if queuedJobs.load(ordering: .sequentiallyConsistent) > 0 {
                socketWaiting.store(false, ordering: .relaxed)
                runQueuedJobs()
                continue
            }
            descriptors.0.revents = 0
            descriptors.1.revents = 0
            // Rounded up, so a wait never ends just before its deadline and spins.
            let (seconds, attoseconds) = (remaining + .microseconds(999)).components
            let milliseconds = Int32(clamping: seconds * 1000 + attoseconds / 1_000_000_000_000_000)
            let ready = withUnsafeMutableBytes(of: &descriptors) { raw in
                poll(raw.baseAddress!.assumingMemoryBound(to: pollfd.self), 2, max(1, milliseconds))
            }
            socketWaiting.store(false, ordering: .relaxed)
            if ready < 0 {
                if errno == EINTR { continue }
                return false
            }
            if descriptors.1.revents != 0 { drainWakeUps() }
            if descriptors.0.revents != 0 { return true }
        }
    }

    func drainWakeUps() {
        var bytes = (UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        while withUnsafeMutableBytes(of: &bytes, { read(wakeDescriptor, $0.baseAddress, $0.count) }) == 64 {}
    }
}
