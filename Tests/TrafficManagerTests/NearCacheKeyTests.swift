import Testing
@testable import TrafficManager

@Suite struct NearCacheKeyTests {
    private func route(_ version: String, tenant: String = "tenant-100000-corp") throws -> RouteID {
        try RouteID(tenant: tenant, service: "chat-service-backend", environment: "production-eu-west", version: version)
    }

    @Test func aKeyMatchesItsRouteAndNoOther() throws {
        var names = NearCacheNames(bound: 100)
        // Inline up to 31 bytes; longer ones kept apart.
        for version in ["v1", "2026.11.0-build.123456", String(repeating: "a", count: 31), String(repeating: "b", count: 32), String(repeating: "c", count: 63)] {
            let original = try route(version)
            let key = names.key(for: original)
            #expect(key.matches(original) && key.route == original && key.version == version)
            let copy = try route(String(version))
            #expect(key.matches(copy))
            // One byte more, one byte less, one byte different, another tenant.
            #expect(!key.matches(try route(version + "x")))
            if version.count > 1 { #expect(!key.matches(try route(String(version.dropLast())))) }
            #expect(!key.matches(try route(String(version.dropLast()) + "z")))
            #expect(!key.matches(try route(version, tenant: "tenant-100001-corp")))
        }
        let longest = try route(String(repeating: "d", count: RouteID.maximumVersionLength))
        let short = try route("d")
        #expect(names.key(for: longest).matches(longest) && !names.key(for: longest).matches(short))
    }

    @Test func namesAreSharedByTheKeysThatHoldThem() throws {
        var names = NearCacheNames(bound: 100)
        let a = names.key(for: try route("v1"))
        let b = names.key(for: try route("v2"))
        #expect(a.tenant === b.tenant && a.service === b.service && a.environment === b.environment)
        let a2 = names.key(for: try route("v1"))
        #expect(a != b && a == a2)
    }

    @Test func keysHashAsTheirRoutes() throws {
        var names = NearCacheNames(bound: 100)
        let original = try route("2026.11.0-build.123456")
        #expect(names.key(for: original).hashValue == original.hashValue)
    }

    @Test func aFullNameTableStartsOverAndOlderKeysKeepTheirNames() throws {
        var names = NearCacheNames(bound: 2)
        let first = names.key(for: try route("v1", tenant: "t1"))
        _ = names.key(for: try route("v1", tenant: "t2"))
        let again = names.key(for: try route("v1", tenant: "t1"))
        #expect(first.tenant !== again.tenant)
        let t1 = try route("v1", tenant: "t1")
        #expect(first == again && first.matches(t1))
    }
}
