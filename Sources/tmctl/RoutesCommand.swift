import ArgumentParser
import Foundation
import TrafficManager

/// `tmctl routes …`.
struct RoutesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "routes", abstract: "List and write routes.",
        subcommands: [ListRoutes.self, CreateRoute.self, ActivateRoute.self, DeactivateRoute.self])
}

/// `tmctl routes list`.
struct ListRoutes: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List routes in a fixed order (tenant, service, environment, version), a page at a time.")

    @Option(help: "Only this tenant's routes.") var tenant: String?
    @Option(help: "Only routes of this service.") var service: String?
    @Option(help: "Only routes in this environment.") var environment: String?
    @Flag(name: .customLong("active-only"), help: "Leave out deactivated routes.") var activeOnly = false
    @Option(help: "Routes per page, 1 to \(RoutePage.maximumLimit).") var limit = 100
    @Option(help: "Start after this route (tenant/service/environment@version), the cursor the previous page ended with.")
    var after: String?
    @Flag(help: "Follow every page to the end.") var all = false
    @Flag(help: "Print JSON (schema in Docs/tmctl.md) instead of a table.") var json = false
    @OptionGroup var store: StoreOptions
    @OptionGroup var log: LogOptions

    func validate() throws {
        guard (1...RoutePage.maximumLimit).contains(limit) else {
            throw ArgumentParser.ValidationError("--limit must be 1 to \(RoutePage.maximumLimit), not \(limit)")
        }
    }

    func run() async throws {
        try await reportingFailures {
            let cursor = try after.map(RouteArgument.parse)
            let filter = RouteFilter(tenant: tenant, service: service, environment: environment, includeInactive: !activeOnly)
            let (all, limit) = (all, limit)
            let backends = try Backends(store: store, logger: try log.logger())
            let page = try await backends.run { backends in
                var page = try await backends.store.routes(matching: filter, after: cursor, limit: limit)
                while all, let next = page.nextCursor {
                    let more = try await backends.store.routes(matching: filter, after: next, limit: limit)
                    page = RoutePage(routes: page.routes + more.routes, nextCursor: more.nextCursor)
                }
                return page
            }
            if json {
                Console.out(RouteJSON.encode(RouteJSON.Page(routes: page.routes.map(RouteJSON.Record.init), nextCursor: page.nextCursor?.description)))
                return
            }
            let rows = page.routes.map { route in
                [route.route.description, route.isActive ? "active" : "inactive", String(route.revision), route.url]
            }
            Console.out(Table.render(header: ["ROUTE", "STATE", "REVISION", "URL"], rows: rows))
            if let next = page.nextCursor { Console.error("more routes follow: --after \(next)") }
        }
    }
}

/// The options every single-route write has.
struct WriteOptions: ParsableArguments {
    @Option(name: .customLong("idempotency-key"), help: "A key that makes a retry of this write apply once (kept 24 h per tenant).")
    var idempotencyKey: String?
    @Option(name: .customLong("expect-revision"), help: "Write only if the route is at this revision (0: it must not exist yet).")
    var expectRevision: UInt64?
    @Flag(help: "Print the result as JSON.") var json = false
    @OptionGroup var store: StoreOptions
    @OptionGroup var cache: CacheOptions
    @OptionGroup var kafka: KafkaOptions
    @OptionGroup var log: LogOptions

    /// Applies the command `make` builds and prints its result.
    func write(_ make: @escaping @Sendable () throws(InputRuleError) -> RouteCommand) async throws {
        try await reportingFailures {
            let invalidations = InvalidationRecord()
            let backends = try Backends(store: store, cache: cache, kafka: kafka, logger: try log.logger())
            let key = idempotencyKey
            let (result, ttl) = try await backends.run { backends in
                let manager = backends.manager(invalidations: invalidations)
                return (try await manager.writer.write(idempotencyKey: key, make), manager.configuration.positiveTTL)
            }
            let change = result.event?.action.rawValue ?? "unchanged"
            if json {
                Console.out(RouteJSON.encode(RouteJSON.Write(route: .init(result.endpoint), change: change, replayed: result.replayed)))
            } else {
                let state = result.endpoint.isActive ? "active" : "inactive"
                Console.out(
                    "\(result.endpoint.route) \(change)\(result.replayed ? " (replayed)" : ""): revision \(result.endpoint.revision), \(state), \(result.endpoint.url)")
            }
            try invalidations.check(positiveTTL: ttl)
        }
    }

    /// Parses `route`, then applies `operation` to it.
    func write(_ route: String, _ operation: RouteCommand.Operation) async throws {
        let options = self
        try await reportingFailures {
            let id = try RouteArgument.parse(route)
            try await options.write { () throws(InputRuleError) in try options.command(id, operation) }
        }
    }

    func command(_ route: RouteID, _ operation: RouteCommand.Operation) throws(InputRuleError) -> RouteCommand {
        try RouteCommand(route: route, operation: operation, expectedRevision: expectRevision)
    }
}

/// `tmctl routes create`.
struct CreateRoute: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create", abstract: "Create a route, or point an existing one at a new URL; it ends up active.")

    @Argument(help: "tenant/service/environment@version") var route: String
    @Argument(help: "The URL it resolves to (http or https).") var url: String
    @OptionGroup var options: WriteOptions

    func run() async throws { try await options.write(route, .upsert(url: url)) }
}

/// `tmctl routes activate`.
struct ActivateRoute: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "activate", abstract: "Make an existing route resolve again.")

    @Argument(help: "tenant/service/environment@version") var route: String
    @OptionGroup var options: WriteOptions

    func run() async throws { try await options.write(route, .activate) }
}

/// `tmctl routes deactivate`.
struct DeactivateRoute: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deactivate", abstract: "Stop a route from resolving; its record and revision stay.")

    @Argument(help: "tenant/service/environment@version") var route: String
    @OptionGroup var options: WriteOptions

    func run() async throws { try await options.write(route, .deactivate) }
}

/// A plain-text table with columns padded to their widest cell.
enum Table {
    static func render(header: [String], rows: [[String]]) -> String {
        let all = [header] + rows
        var widths = header.map(\.count)
        for row in all { for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) } }
        return all.map { row in
            row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }
}
