import Foundation
import Testing
import TrafficManagerTestKit
import TrafficManagerTestSupport

/// `Examples/FullStack` runs against the local servers, and the README shows its wiring as it is.
@Suite struct FullStackExampleTests {
    @Test func theReadmeShowsTheExamplesWiringVerbatim() throws {
        let main = try String(contentsOf: repositoryRoot.appendingPathComponent("Examples/FullStack/main.swift"), encoding: .utf8)
        let readme = try String(contentsOf: repositoryRoot.appendingPathComponent("README.md"), encoding: .utf8)
        let begin = try #require(main.range(of: "// wiring: begin\n"))
        let end = try #require(main.range(of: "// wiring: end"))
        let wiring = String(main[begin.upperBound..<end.lowerBound])
        #expect(wiring.count > 500)
        #expect(readme.contains(wiring), "README.md's production snippet differs from Examples/FullStack/main.swift")
    }

    @Test(.enabled(if: TestServices.postgres.shouldRun && TestServices.redis.shouldRun, "needs PostgreSQL and Redis"))
    func theExampleWritesResolvesAndShutsDownGracefully() async throws {
        // The example is built beside this test binary.
        let directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let executable = directory.appendingPathComponent("FullStack")
        try #require(FileManager.default.isExecutableFile(atPath: executable.path), "no FullStack at \(executable.path)")
        let process = Process()
        process.executableURL = executable
        process.arguments = ["--once"]
        var environment = ProcessInfo.processInfo.environment
        environment["TM_PG_DATABASE"] = environment["TM_PG_DATABASE"] ?? "trafficmanager_test"
        environment["TM_PG_PASSWORD"] = environment["TM_PG_PASSWORD"] ?? "tm"
        environment["TM_PG_PORT"] = "\(TestServices.postgres.port)"
        environment["TM_REDIS_PORT"] = "\(TestServices.redis.port)"
        environment["TM_INSTANCE"] = "test-\(UUID().uuidString.prefix(8))"
        environment["TM_KAFKA_BOOTSTRAP"] = nil
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        // Waits for the exit without holding a Swift concurrency thread.
        let watchdog = Task {
            try await Task.sleep(for: .seconds(90))
            process.terminate()
        }
        try await withCheckedThrowingContinuation { (exited: CheckedContinuation<Void, any Error>) in
            process.terminationHandler = { _ in exited.resume() }
            do { try process.run() } catch { exited.resume(throwing: error) }
        }
        watchdog.cancel()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus == 0, "exit \(process.terminationStatus): \(text)")
        #expect(text.contains("chat-app/chat/prod@v1 at revision") && text.contains("resolves to http://chat-service.prod:4002"), "\(text)")
        #expect(text.hasSuffix("stopped\n"), "\(text)")
    }
}
