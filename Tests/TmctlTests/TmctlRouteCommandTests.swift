import Foundation
import Testing
import TrafficManager
import TrafficManagerTestKit
import TrafficManagerTestSupport

let servicesSkip: Comment = "needs PostgreSQL and Redis (scripts/start-postgres.sh, scripts/start-redis.sh)"
let servicesRun = TestServices.postgres.shouldRun && TestServices.redis.shouldRun

/// `tmctl migrate`, `routes …` and `resolve`, run as the built binary: exit codes and output.
@Suite(.enabled(if: servicesRun, servicesSkip))
struct TmctlRouteCommandTests {
    @Test func migrateCreatesTheSchemaAndIsSafeToRunAgain() async throws {
        let tool = Tmctl()
        let first = try await tool.run(["migrate"])
        #expect(first.status == 0, "\(first)")
        #expect(first.output == "schema at version 7 (migrations 1, 2, 3, 4, 5, 6, 7)\n", "\(first)")
        let again = try await tool.run(["migrate"])
        #expect(again.status == 0 && again.output == first.output, "\(again)")
    }

    @Test func anUnreachableStoreExitsWith69AndNamesTheServer() async throws {
        let outcome = try await Tmctl().run(["migrate", "--pg-port", "1"])
        #expect(outcome.status == 69, "\(outcome)")
        #expect(outcome.errors.contains("tmctl: route store unavailable") && outcome.errors.contains("127.0.0.1:1"), "\(outcome)")
        #expect(outcome.output.isEmpty)
    }

    @Test func thePasswordComesFromAFileOrStandardInputNeverAFlag() async throws {
        let tool = Tmctl()
        let password = tool.environment["TM_PG_PASSWORD"] ?? "tm"
        let withoutVariable: [String: String?] = ["TM_PG_PASSWORD": nil]
        let file = try temporaryFile(password + "\n", suffix: ".pw")
        let fromFile = try await tool.run(["migrate", "--pg-password-file", file], environment: withoutVariable)
        #expect(fromFile.status == 0, "\(fromFile)")
        let fromInput = try await tool.run(["routes", "list", "--pg-password-stdin"], input: password + "\n", environment: withoutVariable)
        #expect(fromInput.status == 0, "\(fromInput)")
        let wrong = try await tool.run(["routes", "list", "--pg-password-stdin"], input: "not-the-password\n", environment: withoutVariable)
        #expect(wrong.status == 69 && wrong.errors.contains("password authentication failed"), "\(wrong)")
        #expect(!wrong.errors.contains("not-the-password") && !wrong.output.contains("not-the-password"))
        let flag = try await tool.run(["routes", "list", "--pg-password", password])
        #expect(flag.status == 64 && flag.errors.contains("Unknown option '--pg-password'"), "\(flag)")
        let missing = try await tool.run(["routes", "list", "--pg-password-file", "/nonexistent/pw"], environment: withoutVariable)
        #expect(missing.status == 66 && missing.errors.contains("cannot read the password file /nonexistent/pw"), "\(missing)")
    }

    @Test func createActivateDeactivateWithKeysAndExpectedRevisions() async throws {
        let tool = Tmctl()
        try await tool.migrate()
        let route = "\(UniqueNames.tenant())/chat/prod@v1"

        let created = try await tool.run(["routes", "create", route, "http://chat:4002", "--expect-revision", "0", "--idempotency-key", "k1"])
        #expect(created.status == 0 && created.output == "\(route) created: revision 1, active, http://chat:4002\n", "\(created)")
        let replayed = try await tool.run(["routes", "create", route, "http://chat:4002", "--expect-revision", "0", "--idempotency-key", "k1"])
        #expect(replayed.status == 0 && replayed.output == "\(route) created (replayed): revision 1, active, http://chat:4002\n", "\(replayed)")
        let reused = try await tool.run(["routes", "create", route, "http://other:1", "--idempotency-key", "k1"])
        #expect(reused.status == 3 && reused.errors.contains("k1"), "\(reused)")

        let stale = try await tool.run(["routes", "create", route, "http://chat:4003", "--expect-revision", "0"])
        #expect(stale.status == 3 && stale.errors.contains("revision 1"), "\(stale)")
        let updated = try await tool.run(["routes", "create", route, "http://chat:4003", "--expect-revision", "1", "--json"])
        #expect(updated.status == 0, "\(updated)")
        let write = try JSONSerialization.jsonObject(with: Data(updated.output.utf8)) as? [String: Any]
        #expect(write?["change"] as? String == "updated" && write?["replayed"] as? Bool == false, "\(updated)")
        #expect((write?["route"] as? [String: Any])?["revision"] as? Int == 2, "\(updated)")

        let off = try await tool.run(["routes", "deactivate", route])
        #expect(off.status == 0 && off.output.contains("deactivated: revision 3, inactive"), "\(off)")
        let gone = try await tool.run(["resolve", route])
        #expect(gone.status == 2 && gone.errors.contains("not found"), "\(gone)")
        let on = try await tool.run(["routes", "activate", route, "--expect-revision", "3"])
        #expect(on.status == 0 && on.output.contains("activated: revision 4, active"), "\(on)")
        let resolved = try await tool.run(["resolve", route, "--explain"])
        #expect(resolved.status == 0 && resolved.output == "http://chat:4003\nrevision 4, from the store\n", "\(resolved)")
        let cached = try await tool.run(["resolve", route, "--explain", "--json"])
        #expect(cached.output.contains(#""revision":4"#) && cached.output.contains(#""source":"shared""#), "\(cached)")
        #expect(cached.output.contains(#""age_ms":"#), "\(cached)")
        let aged = try await tool.run(["resolve", route, "--explain"])
        #expect(aged.output.hasPrefix("http://chat:4003\nrevision 4, from the shared cache, read from the store "), "\(aged)")
        let again = try await tool.run(["routes", "activate", route])
        #expect(again.status == 0 && again.output.contains("unchanged: revision 4"), "\(again)")
    }

    @Test func badInputIsRefusedWithItsOwnExitCodeAndNothingIsWritten() async throws {
        let tool = Tmctl()
        try await tool.migrate()
        let tenant = UniqueNames.tenant()
        let cases: [([String], Int32, String)] = [
            (["routes", "create", "\(tenant)/chat/prod", "http://a:1"], 65, "is not a route: write tenant/service/environment@version"),
            (["routes", "create", "\(tenant)/Chat/prod@v1", "http://a:1"], 65, "service"),
            (["routes", "create", "\(tenant)/chat/prod@v1", "ftp://a"], 65, "must use one of the schemes http, https"),
            (["routes", "create", "\(tenant)/chat/prod@v1", "http://a:1", "--expect-revision", "-1"], 64, "--expect-revision"),
            (["routes", "activate", "\(tenant)/chat/prod@v1"], 2, "not found"),
            (["routes", "list", "--limit", "0"], 64, "--limit must be 1 to 1000"),
            (["routes", "list", "--after", "nonsense"], 65, "is not a route"),
            (["resolve", "\(tenant)/chat/prod@v1", "--timeout", "soon"], 64, "--timeout"),
            (["routes", "list", "--log-level", "loud"], 64, "the log level \"loud\""),
            (["routes", "list", "--pg-sslmode", "always"], 64, "the SSL mode \"always\""),
            (["frobnicate"], 64, "Unexpected argument 'frobnicate'"),
        ]
        for (arguments, status, message) in cases {
            let outcome = try await tool.run(arguments)
            #expect(outcome.status == status && outcome.errors.contains(message), "tmctl \(arguments.joined(separator: " ")): \(outcome)")
        }
        let listed = try await tool.run(["routes", "list", "--tenant", tenant, "--json"])
        #expect(listed.status == 0 && listed.output.contains("\"routes\":[]"), "\(listed)")
    }

    @Test func listFiltersAndPagesInAFixedOrder() async throws {
        let tool = Tmctl()
        try await tool.migrate()
        let tenant = UniqueNames.tenant()
        for (service, environment) in [("chat", "prod"), ("chat", "dev"), ("auth", "prod"), ("user", "prod")] {
            let outcome = try await tool.run(["routes", "create", "\(tenant)/\(service)/\(environment)@v1", "http://\(service).\(environment):80"])
            #expect(outcome.status == 0, "\(outcome)")
        }
        try await tool.run(["routes", "deactivate", "\(tenant)/user/prod@v1"])

        let first = try await tool.run(["routes", "list", "--tenant", tenant, "--limit", "2"])
        #expect(first.status == 0, "\(first)")
        #expect(first.lines.first?.hasPrefix("ROUTE") == true && first.lines.first?.hasSuffix("STATE   REVISION  URL") == true, "\(first)")
        #expect(first.lines.dropFirst().map { $0.split(separator: " ")[0] } == ["\(tenant)/auth/prod@v1", "\(tenant)/chat/dev@v1"], "\(first)")
        #expect(first.errors.contains("more routes follow: --after \(tenant)/chat/dev@v1"), "\(first)")
        let second = try await tool.run(["routes", "list", "--tenant", tenant, "--limit", "2", "--after", "\(tenant)/chat/dev@v1", "--json"])
        let page = try #require(try JSONSerialization.jsonObject(with: Data(second.output.utf8)) as? [String: Any], "\(second)")
        let routes = try #require(page["routes"] as? [[String: Any]])
        #expect(routes.map { "\($0["service"]!)/\($0["environment"]!)" } == ["chat/prod", "user/prod"])
        #expect(routes.map { $0["active"] as? Bool } == [true, false])
        #expect(page["next_cursor"] is NSNull && page["schema_version"] as? Int == 1, "\(second)")
        #expect(Set(routes[0].keys) == ["tenant", "service", "environment", "version", "url", "active", "revision", "created_at", "updated_at"])

        let active = try await tool.run(["routes", "list", "--tenant", tenant, "--active-only", "--all", "--limit", "1", "--json"])
        let all = try #require(try JSONSerialization.jsonObject(with: Data(active.output.utf8)) as? [String: Any])
        #expect((all["routes"] as? [Any])?.count == 3 && all["next_cursor"] is NSNull, "\(active)")
        let filtered = try await tool.run(["routes", "list", "--tenant", tenant, "--service", "chat", "--environment", "dev"])
        #expect(filtered.lines.count == 2 && filtered.lines[1].hasPrefix("\(tenant)/chat/dev@v1"), "\(filtered)")
    }

    @Test func aWriteWhoseInvalidationFailsSaysSoAndExitsWith69() async throws {
        let tool = Tmctl()
        try await tool.migrate()
        let route = "\(UniqueNames.tenant())/chat/prod@v1"
        let outcome = try await tool.run(["routes", "create", route, "http://chat:1", "--redis-port", "1"])
        #expect(outcome.status == 69, "\(outcome)")
        #expect(outcome.output.contains("\(route) created: revision 1"), "\(outcome)")
        #expect(outcome.errors.contains("written, but the Redis entry of \(route) could not be invalidated"), "\(outcome)")
        // The write stands; the same command again invalidates (Redis is back).
        let again = try await tool.run(["routes", "create", route, "http://chat:1"])
        #expect(again.status == 0 && again.output.contains("unchanged: revision 1"), "\(again)")
    }

    @Test func resolveAnswersWithinItsTimeoutWhenBothServersAreDown() async throws {
        let started = ContinuousClock.now
        let outcome = try await Tmctl().run(
            ["resolve", "a/b/c@v1", "--timeout", "2s", "--pg-port", "1", "--redis-port", "1"])
        #expect(outcome.status == 69, "\(outcome)")
        #expect(started.duration(to: .now) < .seconds(10))
    }
}
