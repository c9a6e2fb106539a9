import Foundation
import Testing
import TrafficManager
import TrafficManagerTopology

/// Reading and writing topology text, including hostile input.
@Suite struct TopologyParsingTests {
    private func problems(_ text: String) -> [String] {
        do {
            _ = try Topology(parsing: text, source: "t.yaml")
            return []
        } catch {
            #expect(error.kind == .invalid)
            return error.lines
        }
    }

    @Test func bothFormsAndJSONReadTheSameRoutes() throws {
        let single = try Topology(
            parsing: """
                tenant: a
                routes:
                  - {service: s, environment: prod, version: "1.0", url: "http://s:1"}
                  - {service: t, environment: prod, version: v1, url: "https://t", active: false}
                """)
        let many = try Topology(
            parsing: """
                tenants:
                  - tenant: a
                    routes:
                      - {service: s, environment: prod, version: "1.0", url: "http://s:1"}
                      - {service: t, environment: prod, version: v1, url: "https://t", active: false}
                  - tenant: empty
                    routes: []
                """)
        let json = try Topology(
            parsing: #"{"tenant": "a", "routes": [{"service": "s", "environment": "prod", "version": "1.0", "url": "http://s:1"},"#
                + #"{"service": "t", "environment": "prod", "version": "v1", "url": "https://t", "active": false}]}"#)
        let strip = { (topology: Topology) in topology.routes.map { "\($0.route) \($0.url) \($0.isActive)" } }
        #expect(strip(single) == ["a/s/prod@1.0 http://s:1 true", "a/t/prod@v1 https://t false"])
        #expect(strip(many) == strip(single) && strip(json) == strip(single))
        #expect(many.tenants == ["a", "empty"])
        #expect(single.routes.map(\.line) == [3, 4])
        #expect(try single.commands().map(\.operation) == [.upsert(url: "http://s:1"), .upsert(url: "https://t"), .deactivate])
    }

    @Test func versionsThatLookLikeNumbersOrBooleansStayText() throws {
        let topology = try Topology(
            parsing: """
                tenant: a
                routes:
                  - {service: s, environment: prod, version: 1.10, url: "http://s:1"}
                  - {service: s, environment: prod, version: 2.0, url: "http://s:1"}
                  - {service: s, environment: "on", version: v1, url: "http://s:1"}
                """)
        #expect(topology.routes.map(\.route.version) == ["1.10", "2.0", "v1"])
        #expect(topology.routes[2].route.environment == "on")
    }

    @Test func everyProblemIsReportedWithItsLine() {
        let found = problems(
            """
            tenant: a
            routes:
              - {service: s, environment: prod, version: v1, url: "http://s:1"}
              - {service: S, environment: prod, version: v1, url: "http://s:1"}
              - {service: s, environment: prod, version: v1, url: "http://s:2"}
              - {service: u, environment: prod, version: v1, url: "http://user:pw@u:1"}
              - {service: v, environment: prod, version: v1, url: [1, 2]}
              - {service: w, environment: prod, version: v1, url: "http://w:1", active: maybe}
              - just text
            extra: 1
            """)
        #expect(found.count == 7, "\(found)")
        #expect(found.contains { $0.hasPrefix("t.yaml:4: routes[1] of tenant a: ") })
        #expect(found.contains("t.yaml:5: a/s/prod@v1 appears twice (first on line 3)"))
        #expect(found.contains { $0.hasPrefix("t.yaml:6: a/u/prod@v1: ") && $0.contains("user info") }, "\(found)")
        #expect(found.contains("t.yaml:7: routes[4] of tenant a: `url` must be text"))
        #expect(found.contains("t.yaml:8: routes[5] of tenant a: `active` must be true or false"))
        #expect(found.contains { $0.hasPrefix("t.yaml:9: routes[6] of tenant a must be a mapping") })
        #expect(found.contains { $0.hasPrefix("t.yaml:10: unknown field \"extra\"") })
    }

    @Test func hostileDocumentsFailFastWithAProblemInsteadOfExpanding() {
        // Nested aliases ("billion laughs") would expand to 10^9 routes if followed blindly.
        var bomb = ["a0: &a0 {service: s, environment: prod, version: v1, url: \"http://s:1\"}"]
        for level in 1...9 { bomb.append("a\(level): &a\(level) [" + Array(repeating: "*a\(level - 1)", count: 10).joined(separator: ", ") + "]") }
        bomb.append("tenant: a")
        bomb.append("routes: *a9")
        let started = ContinuousClock.now
        let found = problems(bomb.joined(separator: "\n"))
        #expect(!found.isEmpty)
        #expect(started.duration(to: .now) < .seconds(5))

        #expect(problems("") == ["t.yaml: expected a mapping with `tenant` and `routes`, or `tenants`"])
        #expect(problems("- a\n- b") == ["t.yaml:1: expected a mapping with `tenant` and `routes`, or `tenants`"])
        #expect(problems("tenant: [unclosed").first?.hasPrefix("t.yaml: not YAML or JSON") == true)
        #expect(problems("tenant: a\nroutes: 7") == ["t.yaml:2: `routes` must be a list"])
        #expect(problems("tenant: A\nroutes: []").first?.hasPrefix("t.yaml:1: ") == true)
        #expect(problems("tenants: [{tenant: a, routes: []}, {tenant: a, routes: []}]") == ["t.yaml:1: tenant a appears twice"])
    }

    @Test func aMissingFileIsUnreadable() {
        #expect(throws: TopologyError.self) { try Topology(contentsOfFile: "/nonexistent/t.yaml") }
        do {
            _ = try Topology(contentsOfFile: "/nonexistent/t.yaml")
        } catch {
            #expect(error.kind == .unreadable && error.lines == ["/nonexistent/t.yaml: cannot read /nonexistent/t.yaml: no such file, or no permission"])
        }
    }

    @Test func renderedTextReadsBackToTheSameRoutesInBothFormats() throws {
        let now = Date(unixMilliseconds: 1_780_000_000_000)
        let routes = try [
            RouteEndpoint(route: RouteID(tenant: "a", service: "s", environment: "prod", version: "1.0"), url: "http://s:1/p?q=a%22b&r=1#f", isActive: true, createdAt: now, updatedAt: now, revision: 1),
            RouteEndpoint(route: RouteID(tenant: "a", service: "t", environment: "prod", version: "v1"), url: "https://t", isActive: false, createdAt: now, updatedAt: now, revision: 4),
            RouteEndpoint(route: RouteID(tenant: "b", service: "true", environment: "null", version: "v1"), url: "http://b:1", isActive: true, createdAt: now, updatedAt: now, revision: 1),
        ]
        for format in Topology.Format.allCases {
            let text = Topology.render(routes, format: format)
            let back = try Topology(parsing: text, source: format.rawValue, allowedURLSchemes: ["http", "https"])
            #expect(back.routes.map(\.route) == routes.map(\.route), "\(format): \(text)")
            #expect(back.routes.map(\.url) == routes.map(\.url) && back.routes.map(\.isActive) == [true, false, true], "\(format): \(text)")
            #expect(back.tenants == ["a", "b"])
            #expect(Topology.render(routes, format: format) == text)
        }
        #expect(Topology.render([], format: .yaml).hasSuffix("tenants: []\n"))
    }
}
