import Foundation
import Testing
import TrafficManager
import TrafficManagerTestKit

/// The seed systems' topologies under `Examples/Topologies/` are valid routes that resolve.
///
/// The files are YAML of one fixed shape (`tenant:`, then `routes:` of `service`, `environment`,
/// `version`, `url`); this test reads that shape line by line until `tmctl import` reads them.
@Suite struct TopologyFilesTests {
    struct Row: Hashable {
        var service = "", environment = "", version = "", url = ""
        var line = 0
    }

    static func read(_ file: URL) throws -> (tenant: String, rows: [Row]) {
        var tenant = ""
        var rows: [Row] = []
        for (number, raw) in try String(contentsOf: file, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line == "routes:" { continue }
            var field = line
            if field.hasPrefix("- ") {
                rows.append(Row(line: number + 1))
                field.removeFirst(2)
            }
            guard let colon = field.firstIndex(of: ":") else { throw Failure("\(file.lastPathComponent):\(number + 1): no field in \(line)") }
            let (name, value) = (String(field[..<colon]), field[field.index(after: colon)...].trimmingCharacters(in: .whitespaces))
            switch name {
            case "tenant": tenant = value
            case "service": rows[rows.count - 1].service = value
            case "environment": rows[rows.count - 1].environment = value
            case "version": rows[rows.count - 1].version = value
            case "url": rows[rows.count - 1].url = value
            default: throw Failure("\(file.lastPathComponent):\(number + 1): unknown field \(name)")
            }
        }
        return (tenant, rows)
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    static let files = ["chat-application", "graphmemory-ide", "file-platform", "organisation-chatbot"]

    @Test(arguments: files)
    func everyRouteIsValidAndResolves(_ name: String) async throws {
        let file = repositoryRoot.appendingPathComponent("Examples/Topologies/\(name).yaml")
        let (tenant, rows) = try Self.read(file)
        #expect(!tenant.isEmpty && rows.count >= 4)
        let manager = TrafficManager(store: InMemoryRouteStore(), cache: InMemoryRouteCache(), publisher: InMemoryEventBus())
        var seen = Set<RouteID>()
        for row in rows {
            let route: RouteID
            do {
                route = try RouteID(tenant: tenant, service: row.service, environment: row.environment, version: row.version)
                _ = try RouteCommand(route: route, operation: .upsert(url: row.url))
            } catch {
                Issue.record("\(name).yaml:\(row.line): \(error)")
                continue
            }
            #expect(seen.insert(route).inserted, "\(name).yaml:\(row.line): \(route) appears twice")
            try await manager.createRoute(route, url: row.url)
        }
        for row in rows {
            let url = try await manager.resolve(tenant: tenant, service: row.service, environment: row.environment, version: row.version)
            #expect(url == row.url, "\(name).yaml:\(row.line)")
        }
    }

    @Test func theChatApplicationHasItsFourServicesInThreeEnvironments() throws {
        let (tenant, rows) = try Self.read(repositoryRoot.appendingPathComponent("Examples/Topologies/chat-application.yaml"))
        #expect(tenant == "chat-app")
        for (service, port) in [("gateway", 4000), ("user", 4001), ("chat", 4002), ("auth", 4003)] {
            let environments = rows.filter { $0.service == service && $0.url.hasSuffix(":\(port)") }.map(\.environment)
            #expect(Set(environments) == ["dev", "staging", "prod"], "\(service): \(environments)")
        }
    }
}
