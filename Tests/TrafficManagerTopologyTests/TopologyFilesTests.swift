import Foundation
import Testing
import TrafficManager
import TrafficManagerTestKit
import TrafficManagerTestSupport
import TrafficManagerTopology

/// The seed systems' topologies under `Examples/Topologies/` read, load in one batch and resolve.
@Suite struct TopologyFilesTests {
    static let files = ["chat-application", "graphmemory-ide", "file-platform", "organisation-chatbot"]

    static func read(_ name: String) throws -> Topology {
        try Topology(contentsOfFile: repositoryRoot.appendingPathComponent("Examples/Topologies/\(name).yaml").path)
    }

    @Test(arguments: files)
    func everyRouteIsValidAndResolves(_ name: String) async throws {
        let topology = try Self.read(name)
        #expect(topology.tenants.count == 1 && topology.routes.count >= 12)
        let manager = TrafficManager(store: InMemoryRouteStore(), cache: InMemoryRouteCache(), publisher: InMemoryEventBus())
        let results = try await manager.applyBatch(topology.commands())
        #expect(results.count == topology.routes.count)
        for route in topology.routes {
            let url = try await manager.resolve(route.route)
            #expect(url == route.url, "\(name).yaml:\(route.line)")
        }
    }

    @Test func theChatApplicationHasItsFourServicesInThreeEnvironments() throws {
        let topology = try Self.read("chat-application")
        #expect(topology.tenants == ["chat-app"])
        for (service, port) in [("gateway", 4000), ("user", 4001), ("chat", 4002), ("auth", 4003)] {
            let environments = topology.routes.filter { $0.route.service == service && $0.url.hasSuffix(":\(port)") }.map(\.route.environment)
            #expect(Set(environments) == ["dev", "staging", "prod"], "\(service): \(environments)")
        }
    }
}

/// `swift run QuickStart` loads the chat application from its topology file.
@Suite struct QuickStartTests {
    @Test func theQuickStartLoadsTheChatTopologyFromItsFile() async throws {
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("QuickStart")
        try #require(FileManager.default.isExecutableFile(atPath: executable.path), "no QuickStart at \(executable.path)")
        let process = Process()
        process.executableURL = executable
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        // The output is a few lines, well within a pipe's buffer; the exit is awaited without
        // holding a Swift concurrency thread.
        try await withCheckedThrowingContinuation { (exited: CheckedContinuation<Void, any Error>) in
            process.terminationHandler = { _ in exited.resume() }
            do { try process.run() } catch { exited.resume(throwing: error) }
        }
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus == 0, "\(text)")
        #expect(text.hasPrefix("Loaded 15 routes from chat-application.yaml; 15 route events published."), "\(text)")
        #expect(text.contains("chat-app/chat/prod@v1 -> http://chat-service.prod.svc.cluster.local:4002"), "\(text)")
    }
}
