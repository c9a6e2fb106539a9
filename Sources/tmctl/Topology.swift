import Foundation
import TrafficManager
import Yams

/// A topology file: routes grouped by tenant, in YAML or JSON (JSON is read as YAML, so both
/// give line numbers). Docs/tmctl.md describes the format:
///
/// ```yaml
/// tenant: chat-app            # or  tenants: [{tenant: chat-app, routes: [...]}, ...]
/// routes:
///   - service: gateway
///     environment: prod
///     version: v1
///     url: http://gateway-service.prod.svc.cluster.local:4000
///     active: true            # optional, default true
/// ```
struct Topology {
    /// One route of the file.
    struct Row {
        var route: RouteID
        var url: String
        var active: Bool
        var line: Int
    }

    /// The routes, in file order.
    var rows: [Row]
    /// Every tenant the file names, even one with no routes (`--prune` deactivates all of its).
    var tenants: [String]
}

/// What is wrong with a topology file: every problem found, each with its line.
struct TopologyErrors: Error {
    var path: String
    var problems: [(line: Int?, message: String)]

    var lines: [String] {
        problems.map { problem in problem.line.map { "\(path):\($0): \(problem.message)" } ?? "\(path): \(problem.message)" }
    }
}

enum TopologyReader {
    static let routeFields: Set<String> = ["service", "environment", "version", "url", "active"]

    /// Reads and checks the file at `path`.
    ///
    /// - Throws: ``CommandFailure`` (`noInput`) when the file cannot be read, ``TopologyErrors``
    ///   listing every problem when it is not a valid topology.
    static func read(path: String, allowedSchemes: Set<String> = EndpointURL.defaultSchemes) throws -> Topology {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CommandFailure(.noInput, "cannot read \(path): no such file, or no permission")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw TopologyErrors(path: path, problems: [(nil, "the file is not UTF-8 text")])
        }
        return try parse(text, path: path, allowedSchemes: allowedSchemes)
    }

    static func parse(_ text: String, path: String, allowedSchemes: Set<String>) throws -> Topology {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw TopologyErrors(path: path, problems: [(nil, "not YAML or JSON: \(error)")])
        }
        var problems: [(line: Int?, message: String)] = []
        var rows: [Topology.Row] = []
        var tenants: [String] = []
        var seen: [RouteID: Int] = [:]

        func problem(_ node: Node?, _ message: String) { problems.append((node?.mark?.line, message)) }

        func readRoutes(_ routes: Node?, tenant: String, at owner: Node) {
            guard let routes else { return problem(owner, "tenant \(tenant) has no `routes` list") }
            guard let list = routes.sequence else { return problem(routes, "`routes` must be a list") }
            for (index, item) in list.enumerated() {
                let place = "routes[\(index)] of tenant \(tenant)"
                guard let mapping = item.mapping else {
                    problem(item, "\(place) must be a mapping with service, environment, version and url")
                    continue
                }
                var fields: [String: Node] = [:]
                var bad = false
                for (key, value) in mapping {
                    guard let name = key.string, routeFields.contains(name) else {
                        problem(key, "\(place): unknown field \(String(reflecting: key.string ?? "?")) (expected service, environment, version, url, active)")
                        bad = true
                        continue
                    }
                    fields[name] = value
                }
                var parts: [String: String] = [:]
                for field in ["service", "environment", "version", "url"] {
                    guard let value = fields[field] else {
                        problem(item, "\(place): missing `\(field)`")
                        bad = true
                        continue
                    }
                    guard let scalar = value.scalar else {
                        problem(value, "\(place): `\(field)` must be text")
                        bad = true
                        continue
                    }
                    parts[field] = scalar.string
                }
                var active = true
                if let value = fields["active"] {
                    guard let flag = value.scalar.flatMap({ Bool.construct(from: $0) }) else {
                        problem(value, "\(place): `active` must be true or false")
                        continue
                    }
                    active = flag
                }
                guard !bad, let service = parts["service"], let environment = parts["environment"], let version = parts["version"],
                    let url = parts["url"]
                else { continue }
                let route: RouteID
                do {
                    route = try RouteID(tenant: tenant, service: service, environment: environment, version: version)
                } catch {
                    problem(item, "\(place): \(error)")
                    continue
                }
                do {
                    try EndpointURL.validate(url, allowedSchemes: allowedSchemes)
                } catch {
                    problem(fields["url"], "\(route): \(error)")
                    continue
                }
                let line = item.mark?.line ?? 0
                if let first = seen[route] {
                    problem(item, "\(route) appears twice (first on line \(first))")
                    continue
                }
                seen[route] = line
                rows.append(Topology.Row(route: route, url: url, active: active, line: line))
            }
        }

        func readTenant(_ node: Node, allowed: Set<String>) {
            guard let mapping = node.mapping else { return problem(node, "a tenant entry must be a mapping with `tenant` and `routes`") }
            for key in mapping.keys where !(key.string.map(allowed.contains) ?? false) {
                problem(key, "unknown field \(String(reflecting: key.string ?? "?")) (expected \(allowed.sorted().joined(separator: ", ")))")
            }
            guard let tenantNode = mapping["tenant"], let tenant = tenantNode.scalar?.string else {
                return problem(node, "missing `tenant`")
            }
            do {
                _ = try RouteID(tenant: tenant, service: "s", environment: "e", version: "v")
            } catch {
                return problem(tenantNode, "\(error)")
            }
            if tenants.contains(tenant) { return problem(tenantNode, "tenant \(tenant) appears twice") }
            tenants.append(tenant)
            readRoutes(mapping["routes"], tenant: tenant, at: node)
        }

        guard let root, let top = root.mapping else {
            throw TopologyErrors(path: path, problems: [(root?.mark?.line, "expected a mapping with `tenant` and `routes`, or `tenants`")])
        }
        if let list = top["tenants"] {
            for key in top.keys where key.string != "tenants" {
                problem(key, "unknown field \(String(reflecting: key.string ?? "?")) beside `tenants`")
            }
            if let entries = list.sequence {
                for entry in entries { readTenant(entry, allowed: ["tenant", "routes"]) }
            } else {
                problem(list, "`tenants` must be a list")
            }
        } else {
            readTenant(root, allowed: ["tenant", "routes"])
        }
        if !problems.isEmpty { throw TopologyErrors(path: path, problems: problems) }
        return Topology(rows: rows, tenants: tenants)
    }
}

/// Writes routes as a topology file that ``TopologyReader`` reads back to the same routes.
enum TopologyWriter {
    enum Format: String, CaseIterable {
        case yaml, json
    }

    static func write(_ routes: [RouteEndpoint], format: Format) -> String {
        var tenants: [(String, [RouteEndpoint])] = []
        for route in routes {
            if tenants.last?.0 == route.route.tenant {
                tenants[tenants.count - 1].1.append(route)
            } else {
                tenants.append((route.route.tenant, [route]))
            }
        }
        switch format {
        case .json:
            struct Route: Encodable {
                var service, environment, version, url: String
                var active: Bool?
            }
            struct Tenant: Encodable {
                var tenant: String
                var routes: [Route]
            }
            struct File: Encodable { var tenants: [Tenant] }
            let file = File(
                tenants: tenants.map { tenant, routes in
                    Tenant(
                        tenant: tenant,
                        routes: routes.map {
                            Route(
                                service: $0.route.service, environment: $0.route.environment, version: $0.route.version, url: $0.url,
                                active: $0.isActive ? nil : false)
                        })
                })
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            return String(decoding: (try? encoder.encode(file)) ?? Data(), as: UTF8.self) + "\n"
        case .yaml:
            var lines = ["# Written by tmctl export; `tmctl import` reads it back.", "tenants:"]
            if tenants.isEmpty { lines[1] = "tenants: []" }
            for (tenant, routes) in tenants {
                lines.append("  - tenant: \(quoted(tenant))")
                lines.append("    routes:")
                for route in routes {
                    lines.append("      - service: \(quoted(route.route.service))")
                    lines.append("        environment: \(quoted(route.route.environment))")
                    lines.append("        version: \(quoted(route.route.version))")
                    lines.append("        url: \(quoted(route.url))")
                    if !route.isActive { lines.append("        active: false") }
                }
            }
            return lines.joined(separator: "\n") + "\n"
        }
    }

    /// A double-quoted YAML scalar (JSON's escapes are YAML's too).
    private static func quoted(_ text: String) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .withoutEscapingSlashes
        let data = (try? encoder.encode([text])) ?? Data("[\"\"]".utf8)
        let array = String(decoding: data, as: UTF8.self)
        return String(array.dropFirst().dropLast())
    }
}
