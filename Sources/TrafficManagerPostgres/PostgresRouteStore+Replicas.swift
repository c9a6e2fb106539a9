import Foundation
import TrafficManager

/// The read path's lookups, which may go to a read replica (``PostgresReplicaSet``).
extension PostgresRouteStore {
    /// The route's lookup from a replica within the lag bound, when there is one and its
    /// answer is at `revision` or newer; else from the primary. Without replicas, ``lookup(_:)-(RouteID)``.
    /// The replica gets ``Configuration-swift.struct/replicaReadTimeout``; the primary what
    /// remains of ``Configuration-swift.struct/callTimeout``.
    public func lookup(_ route: RouteID, atLeast revision: UInt64) async throws -> RouteLookup {
        guard let replicas else { return try await lookup(route) }
        let deadline = ContinuousClock.now + configuration.callTimeout
        if let index = replicas.pick() {
            do {
                let rows = try await replicas.replicas[index].pool.run(
                    .prepared(.lookup, Self.parameters(route)), deadline: min(deadline, .now + configuration.replicaReadTimeout))
                let answer = try Self.lookup(from: rows)
                if answer.revision >= revision {
                    replicas.count(.replica)
                    return answer
                }
                replicas.count(.older)
            } catch let error where !(error is CancellationError) {
                replicas.count(.failed)
                logger.debug("a replica lookup failed; asking the primary", metadata: ["route": "\(route)", "error": "\(error)"])
            }
        } else {
            replicas.count(.lagging)
        }
        return try Self.lookup(from: try await run(.prepared(.lookup, Self.parameters(route)), "looking up route \(route)", deadline: deadline))
    }

    /// ``lookup(_:atLeast:)-(RouteID,_)`` for many routes: one replica query, then one primary
    /// query for the routes whose replica answer was older than their revision (or for all,
    /// when no replica could answer).
    public func lookup(_ routes: [RouteID], atLeast revisions: [UInt64]) async throws -> [RouteLookup] {
        guard let replicas, !routes.isEmpty else { return try await lookup(routes) }
        let deadline = ContinuousClock.now + configuration.callTimeout
        var answers: [RouteLookup?] = Array(repeating: nil, count: routes.count)
        if let index = replicas.pick() {
            do {
                let rows = try await replicas.replicas[index].pool.run(
                    .prepared(.lookupMany, Self.parameters(routes)), deadline: min(deadline, .now + configuration.replicaReadTimeout))
                for (position, answer) in try Self.lookups(from: rows, count: routes.count).enumerated()
                where answer.revision >= (revisions.indices.contains(position) ? revisions[position] : 0) {
                    answers[position] = answer
                }
                replicas.count(answers.contains(nil) ? .older : .replica)
            } catch let error where !(error is CancellationError) {
                replicas.count(.failed)
                logger.debug("a replica batch lookup failed; asking the primary", metadata: ["routes": "\(routes.count)", "error": "\(error)"])
            }
        } else {
            replicas.count(.lagging)
        }
        let missing = answers.indices.filter { answers[$0] == nil }
        if !missing.isEmpty {
            let again = missing.map { routes[$0] }
            let result = try await run(.prepared(.lookupMany, Self.parameters(again)), "looking up \(again.count) routes", deadline: deadline)
            for (position, answer) in try Self.lookups(from: result, count: again.count).enumerated() { answers[missing[position]] = answer }
        }
        return answers.map { $0 ?? .neverExisted }
    }

    /// With replicas, ``Configuration-swift.struct/replicaMaxLag``; else zero.
    public var maximumReadLag: Duration { replicas == nil ? .zero : configuration.replicaMaxLag }
}
