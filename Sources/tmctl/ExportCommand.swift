import ArgumentParser
import Foundation
import TrafficManager
import TrafficManagerTopology

/// `tmctl export`: writes the stored routes as a topology file `tmctl import` reads back.
struct ExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export", abstract: "Write the stored routes as a topology file (import reads it back to the same routes).")

    @Option(help: "Only this tenant's routes.") var tenant: String?
    @Option(help: "yaml or json.") var format = Topology.Format.yaml
    @Option(name: [.customShort("o"), .long], help: "Write to this file instead of standard output.") var output: String?
    @OptionGroup var store: StoreOptions
    @OptionGroup var log: LogOptions

    func run() async throws {
        try await reportingFailures {
            let (tenant, format) = (tenant, format)
            let backends = try Backends(store: store, logger: try log.logger())
            let routes = try await backends.run { try await allRoutes(matching: RouteFilter(tenant: tenant), in: $0.store) }
            let text = Topology.render(routes, format: format)
            if let output {
                do {
                    try text.write(toFile: output, atomically: true, encoding: .utf8)
                } catch {
                    throw CommandFailure(.failure, "cannot write \(output): \(error.localizedDescription)")
                }
                Console.error("exported \(routes.count) routes to \(output)")
            } else {
                FileHandle.standardOutput.write(Data(text.utf8))
            }
        }
    }
}

extension Topology.Format: ExpressibleByArgument {}
