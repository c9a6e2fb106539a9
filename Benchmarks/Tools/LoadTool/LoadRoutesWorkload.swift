import Foundation
import TrafficManager

/// `--workload load-routes`: writes `count` routes through the store's batch path
/// (`RouteStore.applyBatch`, one transaction per batch) with a progress bar, and prints routes
/// per second. Routes already there with the same URL are left unchanged, so a second run
/// writes nothing new.
enum LoadRoutesWorkload {
    static func run(store: any RouteStore, routes: [RouteID], batchSize: Int, url: (Int) -> String = LoadCommand.url, quiet: Bool) async throws {
        let started = ContinuousClock.now
        var written = 0
        var changed = 0
        var lastDrawn = ContinuousClock.now - .seconds(1)
        for start in stride(from: 0, to: routes.count, by: batchSize) {
            let end = min(start + batchSize, routes.count)
            let commands = try (start..<end).map { index in
                try RouteCommand(route: routes[index], operation: .upsert(url: url(index)))
            }
            let results = try await store.applyBatch(commands)
            changed += results.filter { $0.event != nil }.count
            written = end
            if !quiet, lastDrawn.duration(to: .now) > .milliseconds(200) || written == routes.count {
                lastDrawn = .now
                draw(written, of: routes.count, since: started)
            }
        }
        let seconds = started.duration(to: .now).timeInterval
        if !quiet { FileHandle.standardError.write(Data("\n".utf8)) }
        print(String(format: "%.0f routes/s (%d routes, %d changed, %.1f s, batches of %d)", Double(written) / seconds, written, changed, seconds, batchSize))
    }

    private static func draw(_ done: Int, of total: Int, since started: ContinuousClock.Instant) {
        let width = 40
        let filled = total == 0 ? width : done * width / total
        let rate = Double(done) / max(0.001, started.duration(to: .now).timeInterval)
        let left = rate > 0 ? Double(total - done) / rate : 0
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        FileHandle.standardError.write(
            Data(String(format: "\r  [%@] %3d%% %d/%d routes, %.0f/s, %.0f s left ", bar, done * 100 / max(1, total), done, total, rate, left).utf8))
    }
}

extension Duration {
    /// Seconds as a `Double`.
    var timeInterval: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
