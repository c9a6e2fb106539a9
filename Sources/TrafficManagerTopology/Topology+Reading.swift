import Foundation
import TrafficManager
import Yams

/// Reading topology files: YAML or JSON (JSON is read as YAML, so both give line numbers).
extension Topology {
    static let routeFields: Set<String> = ["service", "environment", "version", "url", "active"]

    /// Reads and checks the topology file at `path`.
    ///
    /// - Parameters:
    ///   - path: the file, YAML or JSON.
    ///   - allowedURLSchemes: the schemes a route's URL may use, lowercase.
    /// - Throws: ``TopologyError`` — `unreadable` when the file cannot be read, `invalid` with
    ///   every problem found, each with its line.
    public init(contentsOfFile path: String, allowedURLSchemes: Set<String> = EndpointURL.defaultSchemes) throws(TopologyError) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TopologyError(kind: .unreadable, source: path, problems: [.init(line: nil, message: "cannot read \(path): no such file, or no permission")])
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw TopologyError(kind: .invalid, source: path, problems: [.init(line: nil, message: "the file is not UTF-8 text")])
        }
        try self.init(parsing: text, source: path, allowedURLSchemes: allowedURLSchemes)
    }

    /// Reads and checks a topology in YAML or JSON text; `source` names it in problems.
    ///
    /// - Throws: ``TopologyError`` (`invalid`) with every problem found, each with its line.
    public init(parsing text: String, source: String = "topology", allowedURLSchemes: Set<String> = EndpointURL.defaultSchemes)
        throws(TopologyError)
    {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch {
            throw TopologyError(kind: .invalid, source: source, problems: [.init(line: nil, message: "not YAML or JSON: \(error)")])
        }
        let allowedSchemes = allowedURLSchemes
        var problems: [TopologyError.Problem] = []
        var rows: [Topology.Route] = []
        var tenants: [String] = []
        var seen: [RouteID: Int] = [:]

        func problem(_ node: Node?, _ message: String) { problems.append(.init(line: node?.mark?.line, message: message)) }

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
                    guard let name = key.string, Topology.routeFields.contains(name) else {
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
                rows.append(Topology.Route(route: route, url: url, isActive: active, line: line))
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
            throw TopologyError(
                kind: .invalid, source: source,
                problems: [.init(line: root?.mark?.line, message: "expected a mapping with `tenant` and `routes`, or `tenants`")])
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
        if !problems.isEmpty { throw TopologyError(kind: .invalid, source: source, problems: problems) }
        self.init(routes: rows, tenants: tenants)
    }
}
