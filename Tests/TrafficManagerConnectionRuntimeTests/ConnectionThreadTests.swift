import Dispatch
import Glibc
import MetricsTestKit
import Synchronization
import Testing
import TrafficManager
import TrafficManagerTestKit
@testable import TrafficManagerConnectionRuntime

/// An echo server in memory: replies with the command, or hangs when told to.
struct MockConnection: RuntimeConnection {
    /// Shared with the test, to hang or refuse calls.
    final class Control: Sendable {
        let hang = Atomic(false)
        let refuse = Atomic(false)
        let released = DispatchSemaphore(value: 0)
        let connects = Atomic(0)
        let batches = Atomic(0)
        /// When set, a batch waits through the runtime's `ConnectionIO` until a byte arrives
        /// on ``peer`` — a reply from a server, as a socket sees it.
        let awaitPeer = Atomic(false)
        let socket: Int32
        let peer: Int32

        init() {
            var pair: [Int32] = [0, 0]
            precondition(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &pair) == 0)
            (socket, peer) = (pair[0], pair[1])
        }

        deinit {
            close(socket)
            close(peer)
        }

        /// Sends the reply the waiting batch reads.
        func reply() {
            var byte: UInt8 = 1
            _ = write(peer, &byte, 1)
        }
    }

    let control: Control

    mutating func connect(deadline: ContinuousClock.Instant, io: ConnectionIO) -> String? {
        control.connects.add(1, ordering: .relaxed)
        return control.refuse.load(ordering: .relaxed) ? "connection refused" : nil
    }

    mutating func execute(
        _ count: Int, command: (Int) -> Int, replies: inout [Int], deadline: ContinuousClock.Instant, io: ConnectionIO
    ) -> String? {
        control.batches.add(1, ordering: .relaxed)
        if control.hang.load(ordering: .relaxed) { control.released.wait() }
        if control.awaitPeer.load(ordering: .relaxed) {
            guard io.wait(control.socket, for: Int16(POLLIN), deadline: deadline) else { return "no reply by the deadline" }
            var byte: UInt8 = 0
            _ = read(control.socket, &byte, 1)
        }
        for index in 0..<count { replies.append(command(index)) }
        return nil
    }

    mutating func disconnect() {}
}

struct RuntimeFailure: Error, Equatable {
    let failure: ConnectionThread<MockConnection>.Machine.Failure
}

@Suite struct ConnectionThreadTests {
    static func runtime(queueDepth: Int = 10_000) -> (ConnectionThread<MockConnection>, MockConnection.Control) {
        let control = MockConnection.Control()
        let runtime = ConnectionThread<MockConnection>(
            configuration: .init(maximumQueueDepth: queueDepth, maximumBatchSize: 128, initialBackOff: .milliseconds(10), maximumBackOff: .milliseconds(100)),
            connectTimeout: .seconds(1), makeError: { failure, _ in RuntimeFailure(failure: failure) })
        runtime.start(name: "tm-test-runtime") { MockConnection(control: control) }
        return (runtime, control)
    }

    @Test func concurrentCallersEachGetTheirOwnReply() async throws {
        let (runtime, _) = Self.runtime()
        let sums = try await withThrowingTaskGroup(of: Bool.self) { group in
            for value in 0..<2_000 { group.addTask { try await runtime.send(value, timeout: .seconds(10)) == value } }
            return try await group.reduce(into: 0) { $0 += $1 ? 1 : 0 }
        }
        #expect(sums == 2_000)
        await runtime.close()
    }

    @Test func aMillionJobsOnTheExecutorNeverStallIt() async throws {
        let (runtime, _) = Self.runtime()
        let done = MockConnection.Control()
        // Tasks on the runtime's executor that each start another: the interleaving that once
        // put a connection thread to sleep with work queued.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for lane in 0..<8 {
                group.addTask(executorPreference: runtime) {
                    for step in 0..<125_000 {
                        if step % 5_000 == 0 { _ = try await runtime.send(lane, timeout: .seconds(30)) }
                        await Task.yield()
                        done.batches.add(1, ordering: .relaxed)
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(done.batches.load(ordering: .relaxed) == 1_000_000)
        // And a caller from outside still gets through.
        #expect(try await runtime.send(42, timeout: .seconds(5)) == 42)
        await runtime.close()
    }

    @Test func aBatchThatGivesUpAtItsDeadlineFailsAsATimeoutWhicheverNoticesFirst() async throws {
        // The connection's socket wait and the runtime's timer end at the same instant; either
        // may come first, and the caller must hear a timeout both ways, never an outage.
        let (runtime, control) = Self.runtime()
        control.awaitPeer.store(true, ordering: .relaxed)
        for round in 0..<20 {
            do {
                _ = try await runtime.send(round, timeout: .milliseconds(20))
                Issue.record("round \(round): a call without a reply succeeded")
            } catch let error as RuntimeFailure {
                // In flight, or still queued on a busy machine: a timeout either way.
                #expect([.timedOutInFlight, .deadlineExceeded].contains(error.failure), "round \(round): \(error.failure)")
            }
        }
        await runtime.close()
    }

    @Test func aThreadWaitingForAReplyStillRunsItsExecutorsTasks() async throws {
        let (runtime, control) = Self.runtime()
        control.awaitPeer.store(true, ordering: .relaxed)
        let call = Task { try await runtime.send(7, timeout: .seconds(30)) }
        #expect(try await eventually(timeout: .seconds(10)) { control.batches.load(ordering: .relaxed) == 1 })
        // The batch is out and its reply has not come: the thread sits in its socket wait.
        let ranOnTheThread = await Task(executorPreference: runtime) {
            ConnectionThread<MockConnection>.current === runtime
        }.value
        #expect(ranOnTheThread)
        #expect(control.batches.load(ordering: .relaxed) == 1)
        control.reply()
        #expect(try await call.value == 7)
        await runtime.close()
    }

    @Test func aJobQueuedJustBeforeASocketWaitRunsBeforeTheWait() async throws {
        // Many short tasks land on the thread while each batch waits: none may wait for a reply
        // that only comes after it (the replies here come only when every task has run).
        let (runtime, control) = Self.runtime()
        control.awaitPeer.store(true, ordering: .relaxed)
        let call = Task { try await runtime.send(1, timeout: .seconds(30)) }
        #expect(try await eventually(timeout: .seconds(10)) { control.batches.load(ordering: .relaxed) == 1 })
        let ran = ConcurrentCount()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<1_000 { group.addTask(executorPreference: runtime) { ran.bump() } }
        }
        #expect(ran.current == 1_000)
        control.reply()
        #expect(try await call.value == 1)
        await runtime.close()
    }

    @Test func anUnreachableServerFailsCallsFastBetweenAttempts() async throws {
        let (runtime, control) = Self.runtime()
        control.refuse.store(true, ordering: .relaxed)
        for _ in 0..<20 {
            let error = await #expect(throws: RuntimeFailure.self) { try await runtime.send(1, timeout: .seconds(5)) }
            #expect(error == RuntimeFailure(failure: .unavailable("connection refused")))
        }
        #expect(control.connects.load(ordering: .relaxed) < 20)
        control.refuse.store(false, ordering: .relaxed)
        try await Task.sleep(for: .milliseconds(150))
        #expect(try await runtime.send(5, timeout: .seconds(5)) == 5)
        await runtime.close()
    }

    @Test func metricsCountConnectsWaitsDepthAndDeadlineMisses() async throws {
        let recorded = TestMetrics()
        let control = MockConnection.Control()
        let runtime = ConnectionThread<MockConnection>(
            configuration: .init(maximumQueueDepth: 100, maximumBatchSize: 100, initialBackOff: .milliseconds(10), maximumBackOff: .milliseconds(10)),
            connectTimeout: .seconds(1), metrics: ConnectionMetrics(backend: "mock", index: 0, factory: recorded),
            makeError: { failure, _ in RuntimeFailure(failure: failure) })
        runtime.start(name: "tm-test-metrics") { MockConnection(control: control) }
        #expect(try await runtime.send(1, timeout: .seconds(5)) == 1)
        control.hang.store(true, ordering: .relaxed)
        let stuck = Task { try await runtime.send(2, timeout: .milliseconds(50)) }
        await #expect(throws: RuntimeFailure.self) { try await stuck.value }
        control.hang.store(false, ordering: .relaxed)
        control.released.signal()
        #expect(try await runtime.send(3, timeout: .seconds(5)) == 3)
        await runtime.close()

        let dimensions = [("backend", "mock"), ("connection", "0")]
        #expect(try recorded.expectCounter(ConnectionMetrics.Name.connects, dimensions).totalValue == 2)
        #expect(try recorded.expectCounter(ConnectionMetrics.Name.deadlineMisses, dimensions).totalValue == 1)
        #expect(try recorded.expectTimer(ConnectionMetrics.Name.wait, dimensions).values.count == 3)
        #expect(try recorded.expectGauge(ConnectionMetrics.Name.queueDepth, dimensions).lastValue == 1)
        #expect(try recorded.expectGauge(ConnectionMetrics.Name.up, dimensions).values.contains(0))
    }

    @Test func queuedCommandsHandedToAnotherConnectionAreAnsweredThere() async throws {
        let (stuck, stuckControl) = Self.runtime()
        let (other, otherControl) = Self.runtime()
        stuckControl.hang.store(true, ordering: .relaxed)
        let blocker = Task { try await stuck.send(0, timeout: .seconds(30)) }
        while stuckControl.batches.load(ordering: .relaxed) == 0 { try await Task.sleep(for: .milliseconds(1)) }
        let queued = (1...5).map { value in Task { try await stuck.send(value, timeout: .seconds(30)) } }
        while stuck.queueDepth < 5 { try await Task.sleep(for: .milliseconds(1)) }
        stuck.handOffQueued(to: other)
        #expect(stuck.queueDepth == 0)
        for (index, task) in queued.enumerated() { #expect(try await task.value == index + 1) }
        #expect(otherControl.batches.load(ordering: .relaxed) >= 1)
        stuckControl.hang.store(false, ordering: .relaxed)
        stuckControl.released.signal()
        #expect(try await blocker.value == 0)
        await stuck.close()
        await other.close()
    }

    @Test func aRuntimeNeverStartedFailsCallsAsNotRunningAtTheirDeadline() async throws {
        let runtime = ConnectionThread<MockConnection>(
            configuration: .init(maximumQueueDepth: 10, maximumBatchSize: 10, initialBackOff: .milliseconds(10), maximumBackOff: .milliseconds(10)),
            connectTimeout: .seconds(1), makeError: { failure, _ in RuntimeFailure(failure: failure) })
        let error = await #expect(throws: RuntimeFailure.self) { try await runtime.send(1, timeout: .milliseconds(100)) }
        #expect(error == RuntimeFailure(failure: .notRunning))
        await runtime.close()
        let after = await #expect(throws: RuntimeFailure.self) { try await runtime.send(1, timeout: .milliseconds(100)) }
        #expect(after == RuntimeFailure(failure: .notRunning))
    }

    @Test func closeFinishesQueuedWorkThenRefuses() async throws {
        let (runtime, _) = Self.runtime()
        async let reply = runtime.send(7, timeout: .seconds(5))
        #expect(try await reply == 7)
        await runtime.close()
        let error = await #expect(throws: RuntimeFailure.self) { try await runtime.send(1, timeout: .seconds(1)) }
        #expect(error == RuntimeFailure(failure: .notRunning))
    }

    @Test func aFullQueueFailsFast() async throws {
        let (runtime, control) = Self.runtime(queueDepth: 4)
        control.hang.store(true, ordering: .relaxed)
        let blocker = Task { try await runtime.send(0, timeout: .seconds(30)) }
        while control.batches.load(ordering: .relaxed) == 0 { try await Task.sleep(for: .milliseconds(1)) }
        let waiting = (1...4).map { value in Task { try await runtime.send(value, timeout: .seconds(30)) } }
        while runtime.queueDepth < 4 { try await Task.sleep(for: .milliseconds(1)) }
        let error = await #expect(throws: RuntimeFailure.self) { try await runtime.send(5, timeout: .seconds(30)) }
        #expect(error == RuntimeFailure(failure: .overloaded))
        control.hang.store(false, ordering: .relaxed)
        control.released.signal()
        #expect(try await blocker.value == 0)
        for (index, task) in waiting.enumerated() { #expect(try await task.value == index + 1) }
        await runtime.close()
    }
}

/// The runtime's time bounds: a stuck call and a cancelled one release their callers in time.
/// Their own `swift test` run in `scripts/test.sh`, as every `…FaultTests` suite, so that other
/// suites cannot starve them.
@Suite struct ConnectionThreadFaultTests {
    @Test func aCallStuckInTheConnectionFailsAtItsDeadlineAndTheNextCallsDoToo() async throws {
        let (runtime, control) = ConnectionThreadTests.runtime()
        #expect(try await runtime.send(1, timeout: .seconds(5)) == 1)
        control.hang.store(true, ordering: .relaxed)
        let started = ContinuousClock.now
        let stuck = await #expect(throws: RuntimeFailure.self) { try await runtime.send(2, timeout: .milliseconds(200)) }
        #expect(stuck == RuntimeFailure(failure: .timedOutInFlight))
        // A call queued behind the stuck one fails at its own deadline.
        let queued = await #expect(throws: RuntimeFailure.self) { try await runtime.send(3, timeout: .milliseconds(300)) }
        #expect(queued == RuntimeFailure(failure: .deadlineExceeded))
        #expect(started.duration(to: .now) < .milliseconds(200 + 300 + 500))
        // Once the C call returns, the connection is discarded and made again.
        control.hang.store(false, ordering: .relaxed)
        control.released.signal()
        #expect(try await runtime.send(4, timeout: .seconds(5)) == 4)
        #expect(control.connects.load(ordering: .relaxed) == 2)
        await runtime.close()
    }

    @Test func aCallerCancelledWhileQueuedLeavesAtOnceAndItsCommandIsNeverSent() async throws {
        let (runtime, control) = ConnectionThreadTests.runtime()
        control.hang.store(true, ordering: .relaxed)
        let blocker = Task { try await runtime.send(1, timeout: .seconds(30)) }
        while control.batches.load(ordering: .relaxed) == 0 { try await Task.sleep(for: .milliseconds(1)) }
        let batchesBefore = control.batches.load(ordering: .relaxed)
        let cancelled = Task { try await runtime.send(2, timeout: .seconds(30)) }
        while runtime.queueDepth == 0 { try await Task.sleep(for: .milliseconds(1)) }
        let started = ContinuousClock.now
        cancelled.cancel()
        await #expect(throws: CancellationError.self) { try await cancelled.value }
        #expect(started.duration(to: .now) < .seconds(1))
        #expect(runtime.queueDepth == 0)
        control.hang.store(false, ordering: .relaxed)
        control.released.signal()
        #expect(try await blocker.value == 1)
        #expect(try await runtime.send(3, timeout: .seconds(5)) == 3)
        // The cancelled command went out in no batch: only the blocker's and the last one's.
        #expect(control.batches.load(ordering: .relaxed) == batchesBefore + 1)
        await runtime.close()
    }
}

