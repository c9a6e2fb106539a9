import Testing
import TrafficManager
import TrafficManagerTestKit

/// A cancelled caller gets `CancellationError` from the read path and the write path alike.
@Suite struct CancellationTests {
    /// Runs `body` in a task that is cancelled before `body` starts.
    private func runCancelled<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async -> (any Error)? {
        let gate = Gate()
        let task = Task {
            await gate.wait()
            return try await body()
        }
        task.cancel()
        gate.open()
        do {
            _ = try await task.value
            return nil
        } catch {
            return error
        }
    }

    @Test func aResolveCancelledBeforeTheCallThrowsCancellationError() async throws {
        let h = Harness()
        try await h.manager.createRoute(chatProd, url: "http://chat:4002")
        let error = await runCancelled { try await h.manager.resolve(chatProd) }
        #expect(error is CancellationError)
        #expect(h.store.lookupCount == 0)
    }

    @Test func aResolveCancelledWhileWaitingForTheStoreThrowsCancellationError() async throws {
        let h = Harness()
        let reached = Gate(), release = Gate()
        h.store.faults.setHook { operation in
            guard operation == "lookup" else { return }
            reached.open()
            await release.wait()
        }
        let reader = Task { try await h.manager.resolve(chatProd) }
        await reached.wait()
        reader.cancel()
        await #expect(throws: CancellationError.self) { try await reader.value }
        release.open()
    }

    @Test func aResolveCancelledWhileWaitingForTheCacheIsNotACacheFailure() async throws {
        let h = Harness()
        try await h.manager.createRoute(chatProd, url: "http://chat:4002")
        h.cache.faults.addLatency(.seconds(30))
        let reader = Task { try await h.manager.resolve(chatProd) }
        try await Task.sleep(for: .milliseconds(50))
        reader.cancel()
        await #expect(throws: CancellationError.self) { try await reader.value }
        // A caller that left says nothing about the cache: no error counted, the breaker stays shut.
        #expect(h.counter("cache_errors_total") == 0)
    }

    @Test func aWriteCancelledBeforeTheCallThrowsCancellationErrorAndWritesNothing() async throws {
        let h = Harness()
        let error = await runCancelled { try await h.manager.createRoute(chatProd, url: "http://chat:4002", idempotencyKey: "k1") }
        #expect(error is CancellationError)
        #expect(h.store.rowCounts == .init(tenants: 0, services: 0, environments: 0, endpoints: 0, events: 0, idempotencyKeys: 0))
        #expect(h.bus.publishedEvents.isEmpty)
        #expect(h.writeCounters == [1, 0, 1])
    }

    @Test func aWriteWhoseCallerIsCancelledMidWayStillCommitsInvalidatesAndPublishes() async throws {
        let h = Harness()
        try await h.manager.createRoute(chatProd, url: "http://chat:4002")
        #expect(try await h.manager.resolve(chatProd) == "http://chat:4002")
        let reached = Gate(), release = Gate()
        h.store.faults.setHook { operation in
            guard operation == "apply" else { return }
            reached.open()
            await release.wait()
        }
        let writer = Task { try await h.manager.createRoute(chatProd, url: "http://chat:4003") }
        await reached.wait()
        writer.cancel()
        // The caller leaves at once, while the write is still held in the store.
        await #expect(throws: CancellationError.self) { try await writer.value }
        h.store.faults.setHook(nil)
        release.open()
        // The write runs on: it commits, invalidates the cached URL and publishes its event.
        #expect(try await eventually(timeout: .seconds(5)) { h.bus.publishedEvents.count == 2 })
        #expect(try await h.manager.resolve(chatProd) == "http://chat:4003")
        #expect(h.writeCounters == [2, 2, 0])
    }

    @Test func aStoreThatReportsCancellationIsNotTurnedIntoAnotherError() async throws {
        let h = Harness()
        h.store.faults.failNext(1, with: CancellationError())
        await #expect(throws: CancellationError.self) { try await h.manager.deactivateRoute(chatProd) }
        // The read path runs its store read in a task of its own: a cancellation there is not
        // the caller's, so the caller sees the store as unavailable.
        h.store.faults.failNext(1, with: CancellationError())
        let error = await managerError { try await h.manager.resolve(chatProd) }
        #expect(error?.code == .storeUnavailable)
    }

    @Test func everyOtherFailureIsATrafficManagerErrorWithACode() async throws {
        let h = Harness()
        struct DiskOnFire: Error {}
        h.store.faults.failNext(1, with: DiskOnFire())
        let read = await managerError { try await h.manager.resolve(chatProd) }
        #expect(read?.code == .storeUnavailable)
        #expect(read?.underlying is DiskOnFire)
        h.store.faults.failNext(1, with: DiskOnFire())
        let write = await managerError { try await h.manager.createRoute(chatProd, url: "http://chat:4002") }
        #expect(write?.code == .writeFailed)
        #expect(write?.underlying is DiskOnFire)
    }
}
