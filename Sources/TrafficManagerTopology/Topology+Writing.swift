import Foundation
import TrafficManager

extension Topology {
    /// The text formats of a topology file.
    public enum Format: String, CaseIterable, Hashable, Sendable {
        /// YAML, one field per line.
        case yaml
        /// JSON, pretty-printed with sorted keys.
        case json
    }

    /// `routes` as a topology file, grouped by tenant in the order given (pass them in listing
    /// order), inactive ones with `active: false`. Reading the text back gives the same routes;
    /// the same routes always give the same text.
    public static func render(_ routes: [RouteEndpoint], format: Format) -> String {
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
