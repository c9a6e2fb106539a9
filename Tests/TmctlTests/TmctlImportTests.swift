import Foundation
import Testing
import TrafficManager
import TrafficManagerTestKit

/// `tmctl import` and `export`, run as the built binary.
@Suite(.enabled(if: servicesRun, servicesSkip))
struct TmctlImportTests {
    /// Each seed topology: how many routes, and one route with the URL it must resolve to.
    static let seeds: [(file: String, routes: Int, route: String, url: String, redisDatabase: Int)] = [
        ("chat-application.yaml", 15, "chat-app/chat/prod@v1", "http://chat-service.prod.svc.cluster.local:4002", 1),
        ("graphmemory-ide.yaml", 24, "graphmemory-ide/streamlit/dev@v1", "http://streamlit.dev.graphmemory-ide.internal:8501", 2),
        ("file-platform.yaml", 21, "file-platform/api-gateway/dev@v1", "https://api-gateway.dev.file-platform.internal:443", 3),
        ("organisation-chatbot.yaml", 12, "org-chatbot/chat/dev@v1", "https://chat.dev.org-chatbot.internal:443", 4),
    ]

    @Test(arguments: seeds.indices)
    func everySeedTopologyImportsOnceAndResolves(_ index: Int) async throws {
        let seed = Self.seeds[index]
        try await flushRedis(database: seed.redisDatabase)
        let tool = Tmctl(redisDatabase: seed.redisDatabase)
        try await tool.migrate()
        let file = topologyFile(seed.file)
        let imported = try await tool.run(["import", file])
        #expect(imported.status == 0, "\(imported)")
        #expect(imported.output == "imported \(file): created \(seed.routes), updated 0, activated 0, deactivated 0, unchanged 0\n", "\(imported)")
        let again = try await tool.run(["import", file])
        #expect(again.output == "imported \(file): created 0, updated 0, activated 0, deactivated 0, unchanged \(seed.routes)\n", "\(again)")

        // Every route of the file resolves to its URL.
        let exported = try await tool.run(["export", "--format", "json"])
        let document = try #require(try JSONSerialization.jsonObject(with: Data(exported.output.utf8)) as? [String: Any], "\(exported)")
        let tenants = try #require(document["tenants"] as? [[String: Any]])
        let routes = try #require(tenants.first?["routes"] as? [[String: Any]])
        #expect(routes.count == seed.routes)
        let tenant = try #require(tenants.first?["tenant"] as? String)
        for route in routes.prefix(4) {
            let name = "\(tenant)/\(route["service"]!)/\(route["environment"]!)@\(route["version"]!)"
            let resolved = try await tool.run(["resolve", name])
            #expect(resolved.status == 0 && resolved.output == "\(route["url"]!)\n", "\(name): \(resolved)")
        }
        let resolved = try await tool.run(["resolve", seed.route])
        #expect(resolved.output == seed.url + "\n", "\(resolved)")
    }

    @Test func aDryRunShowsTheDiffAndWritesNothingAndPruneDeactivatesOnlyWhenAsked() async throws {
        try await flushRedis(database: 5)
        let tool = Tmctl(redisDatabase: 5)
        try await tool.migrate()
        let tenant = UniqueNames.tenant()
        let first = try temporaryFile(
            """
            tenant: \(tenant)
            routes:
              - {service: chat, environment: prod, version: v1, url: "http://chat:1"}
              - {service: auth, environment: prod, version: v1, url: "http://auth:1"}
              - {service: user, environment: prod, version: v1, url: "http://user:1"}
            """)
        #expect(try await tool.run(["import", first]).status == 0)
        let second = try temporaryFile(
            """
            tenant: \(tenant)
            routes:
              - {service: chat, environment: prod, version: v1, url: "http://chat:2"}
              - {service: auth, environment: prod, version: v1, url: "http://auth:1", active: false}
              - {service: mail, environment: prod, version: v1, url: "http://mail:1"}
            """)
        let dryRun = try await tool.run(["import", second, "--dry-run", "--prune"])
        #expect(dryRun.status == 0, "\(dryRun)")
        #expect(
            dryRun.lines == [
                "update      \(tenant)/chat/prod@v1  http://chat:1 -> http://chat:2",
                "deactivate  \(tenant)/auth/prod@v1  http://auth:1",
                "create      \(tenant)/mail/prod@v1  http://mail:1",
                "deactivate  \(tenant)/user/prod@v1  http://user:1 (not in the file; --prune)",
                "plan: 1 to create, 1 to update, 0 to activate, 2 to deactivate, 0 unchanged (dry run: nothing written)",
            ], "\(dryRun)")
        let untouched = try await tool.run(["resolve", "\(tenant)/chat/prod@v1"])
        #expect(untouched.output == "http://chat:1\n", "a dry run wrote: \(untouched)")

        let withoutPrune = try await tool.run(["import", second])
        #expect(withoutPrune.output.hasSuffix("created 1, updated 1, activated 0, deactivated 1, unchanged 0\n"), "\(withoutPrune)")
        #expect(try await tool.run(["resolve", "\(tenant)/user/prod@v1"]).output == "http://user:1\n", "a route absent from the file was touched")
        #expect(try await tool.run(["resolve", "\(tenant)/chat/prod@v1"]).output == "http://chat:2\n", "the import did not invalidate")
        #expect(try await tool.run(["resolve", "\(tenant)/auth/prod@v1"]).status == 2)

        let pruned = try await tool.run(["import", second, "--prune"])
        #expect(pruned.output.hasSuffix("created 0, updated 0, activated 0, deactivated 1, unchanged 3\n"), "\(pruned)")
        #expect(try await tool.run(["resolve", "\(tenant)/user/prod@v1"]).status == 2)
        let rerun = try await tool.run(["import", second, "--prune"])
        #expect(rerun.output.hasSuffix("created 0, updated 0, activated 0, deactivated 0, unchanged 3\n"), "\(rerun)")
    }

    @Test func everyProblemOfABadFileIsReportedWithItsLineAndNothingIsWritten() async throws {
        let tool = Tmctl()
        try await tool.migrate()
        let tenant = UniqueNames.tenant()
        let file = try temporaryFile(
            """
            tenant: \(tenant)
            routes:
              - service: chat
                environment: prod
                version: v1
                url: http://chat:1
              - service: Chat
                environment: prod
                version: v1
                url: http://chat:1
              - service: auth
                environment: prod
                version: v1
                url: ftp://auth
              - service: chat
                environment: prod
                version: v1
                url: http://chat:2
              - service: user
                environment: prod
                url: http://user:1
                colour: blue
            """)
        let outcome = try await tool.run(["import", file])
        #expect(outcome.status == 65, "\(outcome)")
        let errors = outcome.errors.split(separator: "\n").map(String.init)
        #expect(errors.contains { $0.hasPrefix("\(file):7: routes[1] of tenant \(tenant): ") && $0.contains("service") }, "\(outcome)")
        #expect(errors.contains { $0.hasPrefix("\(file):14: \(tenant)/auth/prod@v1: ") && $0.contains("schemes") }, "\(outcome)")
        #expect(errors.contains("\(file):15: \(tenant)/chat/prod@v1 appears twice (first on line 3)"), "\(outcome)")
        #expect(errors.contains { $0.hasPrefix("\(file):22: routes[4] of tenant \(tenant): unknown field \"colour\"") }, "\(outcome)")
        #expect(errors.contains("\(file):19: routes[4] of tenant \(tenant): missing `version`"), "\(outcome)")
        #expect(errors.last == "tmctl: \(file) has 5 problems; nothing was written", "\(outcome)")
        let listed = try await tool.run(["routes", "list", "--tenant", tenant])
        #expect(listed.lines.count == 1, "\(listed)")

        let notYAML = try await tool.run(["import", try temporaryFile("tenant: [unclosed\n")])
        #expect(notYAML.status == 65 && notYAML.errors.contains("not YAML or JSON"), "\(notYAML)")
        let missing = try await tool.run(["import", "/nonexistent/topology.yaml"])
        #expect(missing.status == 66 && missing.errors.contains("cannot read /nonexistent/topology.yaml"), "\(missing)")
        let json = try await tool.run(["import", try temporaryFile(#"{"tenant": "\#(tenant)", "routes": [{"service": "chat"}]}"#, suffix: ".json")])
        #expect(json.status == 65 && json.errors.contains(":1: routes[0] of tenant \(tenant): missing `environment`"), "\(json)")
    }

    @Test func exportRoundTripsThroughImportInYAMLAndJSON() async throws {
        try await flushRedis(database: 6)
        let source = Tmctl(redisDatabase: 6)
        try await source.migrate()
        #expect(try await source.run(["import", topologyFile("chat-application.yaml")]).status == 0)
        #expect(try await source.run(["import", topologyFile("organisation-chatbot.yaml")]).status == 0)
        #expect(try await source.run(["routes", "deactivate", "chat-app/chat/dev@v1"]).status == 0)
        for format in ["yaml", "json"] {
            let exported = try await source.run(["export", "--format", format])
            #expect(exported.status == 0, "\(exported)")
            let file = try temporaryFile(exported.output, suffix: "." + format)
            let target = Tmctl(redisDatabase: 7)
            try await target.migrate()
            let imported = try await target.run(["import", file])
            #expect(imported.output.hasSuffix("created 27, updated 0, activated 0, deactivated 0, unchanged 0\n"), "\(format): \(imported)")
            let back = try await target.run(["export", "--format", format])
            #expect(back.output == exported.output, "\(format) export differs after a round trip")
            let inactive = try await target.run(["routes", "list", "--tenant", "chat-app", "--service", "chat", "--environment", "dev", "--json"])
            #expect(inactive.output.contains("\"active\":false"), "\(inactive)")
            let written = try await target.run(["export", "--tenant", "chat-app", "-o", file])
            #expect(written.status == 0 && written.errors.contains("exported 15 routes to \(file)"), "\(written)")
        }
    }

    @Test func anImportKilledHalfWayIsFinishedByRunningItAgain() async throws {
        let tool = Tmctl()
        try await tool.migrate()
        let tenant = UniqueNames.tenant()
        var lines = ["tenant: \(tenant)", "routes:"]
        for index in 0..<2_000 { lines.append("  - {service: s\(index), environment: prod, version: v1, url: \"http://s\(index):80\"}") }
        let file = try temporaryFile(lines.joined(separator: "\n"))
        let running = try tool.start(["import", file, "--batch-size", "10", "--progress", "lines", "--no-cache"])
        #expect(try await running.waitFor("progress: 100/2000 changes"))
        running.signal(SIGKILL)
        let killed = try await running.finish(within: .seconds(30))
        #expect(killed.status != 0)
        let partial = try await tool.run(["routes", "list", "--tenant", tenant, "--all", "--limit", "1000", "--json"])
        let written = (try JSONSerialization.jsonObject(with: Data(partial.output.utf8)) as? [String: Any])?["routes"] as? [Any]
        let count = try #require(written?.count)
        #expect(count >= 100 && count < 2_000 && count % 10 == 0, "\(count) routes after the kill: batches are whole")

        let resumed = try await tool.run(["import", file, "--no-cache"])
        #expect(resumed.output.hasSuffix("created \(2_000 - count), updated 0, activated 0, deactivated 0, unchanged \(count)\n"), "\(resumed)")
        let done = try await tool.run(["import", file, "--no-cache"])
        #expect(done.output.hasSuffix("created 0, updated 0, activated 0, deactivated 0, unchanged 2000\n"), "\(done)")
    }
}
