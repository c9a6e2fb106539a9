import ArgumentParser
import Foundation
import TrafficManager
import TrafficManagerTopology

/// `tmctl import FILE`: makes the stored routes match a topology file.
struct ImportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Make the stored routes match a topology file (YAML or JSON).",
        discussion: """
            Only what differs is written, in batches of one transaction each, so running it again \
            changes nothing and an interrupted import is finished by running it again. Each write \
            checks the revision read when planning: a route changed by someone else meanwhile stops \
            the import (exit 3) instead of being overwritten. Routes of the file's tenants that the \
            file does not name are left alone unless --prune deactivates them.
            """)

    @Argument(help: "The topology file.") var file: String
    @Flag(name: .customLong("dry-run"), help: "Print what would change, write nothing.") var dryRun = false
    @Flag(help: "Deactivate the routes of the file's tenants that the file does not name.") var prune = false
    @Option(name: .customLong("batch-size"), help: "Routes changed per transaction, 1 to 500.") var batchSize = 100
    @Option(help: "auto (a bar on a terminal), bar, lines or none.") var progress = ProgressStyle.auto
    @OptionGroup var store: StoreOptions
    @OptionGroup var cache: CacheOptions
    @OptionGroup var kafka: KafkaOptions
    @OptionGroup var log: LogOptions

    func validate() throws {
        guard (1...500).contains(batchSize) else { throw ArgumentParser.ValidationError("--batch-size must be 1 to 500, not \(batchSize)") }
    }

    func run() async throws {
        try await reportingFailures {
            let topology: Topology
            do {
                topology = try Topology(contentsOfFile: file)
            } catch let errors as TopologyError {
                if errors.kind == .unreadable {
                    throw CommandFailure(.noInput, errors.problems.first?.message ?? "cannot read \(file)")
                }
                for line in errors.lines { Console.error(line) }
                throw CommandFailure(.invalidInput, "\(file) has \(errors.problems.count) problem\(errors.problems.count == 1 ? "" : "s"); nothing was written")
            }
            let (dryRun, prune, batchSize, progressStyle) = (dryRun, prune, batchSize, progress)
            let invalidations = InvalidationRecord()
            let backends = try Backends(store: store, cache: dryRun ? nil : cache, kafka: dryRun ? nil : kafka, logger: try log.logger())
            let ttl = try await backends.run { backends -> Duration in
                var stored: [RouteEndpoint] = []
                for tenant in topology.tenants { stored += try await allRoutes(matching: RouteFilter(tenant: tenant), in: backends.store) }
                let plan = ImportPlan(topology: topology, stored: stored, prune: prune)
                if dryRun {
                    for change in plan.changes { Console.out(change.line) }
                    Console.out("plan: \(plan.summary) (dry run: nothing written)")
                    return .zero
                }
                let manager = backends.manager(invalidations: invalidations)
                var progress = Progress(total: plan.changes.count, noun: "changes", style: progressStyle)
                var done = 0
                for start in stride(from: 0, to: plan.changes.count, by: batchSize) {
                    let batch = plan.changes[start..<min(start + batchSize, plan.changes.count)]
                    do {
                        _ = try await manager.applyBatch(try batch.flatMap { try $0.commands() })
                    } catch let error as TrafficManagerError where error.code == .revisionConflict {
                        progress.finish()
                        throw CommandFailure(
                            .conflict,
                            "a route changed while importing (\(error.message)); \(done) of \(plan.changes.count) changes were written, this batch was not. Run the import again")
                    } catch {
                        progress.finish()
                        if done > 0 { Console.error("tmctl: \(done) of \(plan.changes.count) changes were written before this failure; running the import again finishes it") }
                        throw error
                    }
                    done += batch.count
                    progress.update(done)
                }
                progress.finish()
                Console.out("imported \(file): \(plan.doneSummary)")
                return manager.configuration.positiveTTL
            }
            try invalidations.check(positiveTTL: ttl)
        }
    }
}
