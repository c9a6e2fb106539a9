import Synchronization
import Testing
import TrafficManager
import TrafficManagerTestKit

/// The contracts are only worth something if they fail for a wrong implementation.
@Suite struct ContractsCatchBrokenBackendsTests {
    /// Plain cache-aside: no revision checks, no tombstones.
    final class PlainCache: RouteCache {
        let entries = Locked<[RouteID: CachedRoute]>([:])
        func get(_ route: RouteID) async throws -> CachedRoute? { entries.withLock { $0[route] } }
        func fill(_ route: RouteID, with value: CachedRoute, ttl: Duration) async throws -> Bool {
            entries.withLock { $0[route] = value }
            return true
        }
        func invalidate(_ route: RouteID, revision: UInt64, ttl: Duration) async throws {
            entries.withLock { $0[route] = nil }
        }
    }

    /// A store that forgets idempotency keys and bumps revisions on every write.
    final class ForgetfulStore: RouteStore {
        let inner = InMemoryRouteStore()
        func lookup(_ route: RouteID) async throws -> RouteLookup { try await inner.lookup(route) }
        func endpoint(_ route: RouteID) async throws -> RouteEndpoint? { try await inner.endpoint(route) }
        func apply(_ command: RouteCommand, idempotencyKey: IdempotencyKey?) async throws -> RouteWriteResult {
            try await inner.apply(command, idempotencyKey: nil)
        }
    }

    /// A bus that drops events whose handler throws.
    final class LossyBus: EventPublisher, RouteEventSource {
        let inner = InMemoryEventBus(redeliveryDelay: .milliseconds(1))
        func publish(_ event: RouteEvent) async throws { try await inner.publish(event) }
        func consume(group: String, handler: @escaping @Sendable (RouteEvent) async throws -> Void) async throws {
            try await inner.consume(group: group) { event in try? await handler(event) }
        }
    }

    /// A lease that never expires and ignores who holds it: the last taker wins.
    final class LastTakerLease: LeaseStore {
        func acquireLease(_ name: String, holder: String, duration: Duration) async throws -> String { holder }
        func releaseLease(_ name: String, holder: String) async throws {}
    }

    @Test func aLeaseThatGrantsEveryTakerFailsTheLeaseContract() async throws {
        do {
            try await LeaseStoreContract { LastTakerLease() }.run()
            Issue.record("the contract passed a lease store that grants every taker")
        } catch let violations as ContractViolations {
            let failed = Set(violations.failures.map(\.check))
            #expect(failed.contains("a free lease is taken; while it lasts another holder is refused and told who has it"))
            #expect(failed.contains("of concurrent takers of a free lease exactly one gets it"))
            #expect(failed.contains("an empty name, an empty holder or a zero duration is invalid input"))
        }
    }

    @Test func aCacheWithoutRevisionsFailsTheCacheContract() async throws {
        let error = await #expect(throws: ContractViolations.self) {
            try await RouteCacheContract(makeCache: { PlainCache() }, letTimePass: { _ in }).run()
        }
        let failed = Set(error?.failures.map(\.check) ?? [])
        #expect(failed.contains("invalidation leaves a tombstone that refuses older fills"))
        #expect(failed.contains("a fill older than the cached revision is refused; same or newer is stored"))
        #expect(failed.contains("entries and tombstones expire after their TTL"))
    }

    @Test func aStoreWithoutIdempotencyKeysFailsTheStoreContract() async throws {
        let error = await #expect(throws: ContractViolations.self) {
            try await RouteStoreContract { ForgetfulStore() }.run()
        }
        let failed = Set(error?.failures.map(\.check) ?? [])
        #expect(failed.contains("an idempotency key replays the first result without writing again"))
        #expect(failed.contains("an idempotency key reused for a different request throws a conflict and writes nothing"))
    }

    @Test func aBusThatDropsFailedEventsFailsTheEventContract() async throws {
        let error = await #expect(throws: ContractViolations.self) {
            try await EventBusContract(timeout: .milliseconds(300)) {
                let bus = LossyBus()
                return (bus, bus)
            }.run()
        }
        #expect(
            error?.failures.map(\.check) == [
                "an event whose handler throws is delivered again",
                "an event not yet handled when its consumer stops goes to the group's next consumer",
            ])
    }
}
