import ServiceLifecycle
import Synchronization
import TrafficManager

/// The connection threads of one adapter, hosted by the adapter's `Service.run()`: the one
/// run-and-shutdown shim both adapters share.
///
/// - Before ``run()``: no thread runs. Calls queue and go out once `run()` starts the threads;
///   a call whose deadline passes first fails with ``TrafficManagerError/Code/notRunning``. So
///   `try await store.migrate()` works when `run()` is started alongside it (in a
///   `ServiceGroup`, or `Task { try await store.run() }`), and fails rather than hangs when it
///   is never started.
/// - ``run()`` starts the threads and returns when the adapter shuts down: on the service
///   group's graceful shutdown, on cancellation of its task, or on ``shutdown()``. It returns
///   only after every thread has stopped and freed its connection.
/// - After shutdown, calls fail with ``TrafficManagerError/Code/notRunning``.
public final class ConnectionThreadGroup: Sendable {
    /// One thread of the group.
    public struct Member: Sendable {
        @usableFromInline let start: @Sendable () -> Void
        @usableFromInline let close: @Sendable () async -> Void
        @usableFromInline let isAlive: @Sendable () -> Bool

        @usableFromInline init(
            start: @escaping @Sendable () -> Void, close: @escaping @Sendable () async -> Void, isAlive: @escaping @Sendable () -> Bool
        ) {
            self.start = start
            self.close = close
            self.isAlive = isAlive
        }

        /// `thread`, started under `name` with the connection `makeConnection` makes.
        ///
        /// Inlinable, so that the thread loop is specialized for the adapter's connection type
        /// where the adapter calls this: unspecialized, every batch paid for generic metadata
        /// lookups (about 10 µs of CPU per call in the store's lookups).
        @inlinable public static func thread<Connection>(
            _ thread: ConnectionThread<Connection>, name: String, connection makeConnection: @escaping @Sendable () -> Connection
        ) -> Member {
            Member(
                start: { thread.start(name: name, connection: makeConnection) }, close: { await thread.close() },
                isAlive: { thread.isThreadAlive })
        }
    }

    private enum Phase {
        case idle, running, stopping, stopped
    }

    private struct State {
        var phase = Phase.idle
        var stopRequest: CheckedContinuation<Void, Never>?
    }

    private let members: [Member]
    private let name: String
    private let state = Locked(State())

    /// A group of `members`; `name` names the adapter in errors ("the Redis route cache").
    public init(name: String, members: [Member]) {
        self.name = name
        self.members = members
    }

    /// Starts the threads, waits for graceful shutdown, cancellation or ``shutdown()``, then
    /// stops the threads (each finishing what it has queued, within its deadline) and returns
    /// when all have stopped.
    ///
    /// - Throws: ``TrafficManagerError/Code/notRunning`` when the group was shut down already.
    /// - Precondition: `run()` is not running already.
    public func run() async throws {
        let phase = state.withLock { state -> Phase in
            defer { if state.phase == .idle { state.phase = .running } }
            return state.phase
        }
        switch phase {
        case .idle: break
        case .running: preconditionFailure("\(name): run() is running already; a service runs once")
        case .stopping, .stopped: throw TrafficManagerError.notRunning("\(name), which was shut down")
        }
        for member in members { member.start() }
        await withGracefulShutdownHandler {
            await withTaskCancellationHandler {
                await withCheckedContinuation { (request: CheckedContinuation<Void, Never>) in
                    let now = state.withLock { state -> Bool in
                        guard state.phase == .running else { return true }
                        state.stopRequest = request
                        return false
                    }
                    if now { request.resume() }
                }
            } onCancel: {
                self.requestStop()
            }
        } onGracefulShutdown: {
            self.requestStop()
        }
        await closeAll()
    }

    /// Stops the threads as ``run()`` does on shutdown, and returns when all have stopped;
    /// `run()` returns too. Calls queued for a group never run fail with `notRunning`.
    /// Calling it again is harmless.
    public func shutdown() async {
        requestStop()
        await closeAll()
    }

    /// Threads running now: the number of members while running, none after shutdown.
    public var runningThreadCount: Int { members.lazy.filter { $0.isAlive() }.count }

    private func requestStop() {
        let request = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if state.phase == .idle || state.phase == .running { state.phase = .stopping }
            defer { state.stopRequest = nil }
            return state.stopRequest
        }
        request?.resume()
    }

    private func closeAll() async {
        for member in members { await member.close() }
        state.withLock { $0.phase = .stopped }
    }
}
