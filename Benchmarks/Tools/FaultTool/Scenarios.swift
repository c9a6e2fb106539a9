import Foundation
import Synchronization
import Logging
import TrafficManager
import TrafficManagerKafka
import TrafficManagerPostgres
import TrafficManagerRedis
import TrafficManagerTestKit

/// The faults of the reliability report, each against real servers started for it.
struct Scenarios {
    let callers: Int
    let kafkaDown: Duration
    let env = ProcessInfo.processInfo.environment

    var pgHost: String { env["TM_PG_HOST"] ?? "127.0.0.1" }
    var pgPort: Int { Int(env["TM_PG_PORT"] ?? "") ?? 55432 }
    var redisPort: Int { Int(env["TM_REDIS_PORT"] ?? "") ?? 56379 }

    func pgConfiguration(port: Int? = nil, schema: String, callTimeout: Duration? = nil) -> PostgresRouteStore.Configuration {
        PostgresRouteStore.Configuration(
            endpoint: .tcp(host: pgHost, port: port ?? pgPort), user: env["TM_PG_USER"] ?? "tm",
            password: env["TM_PG_PASSWORD"] ?? "tm", database: env["TM_PG_DATABASE"] ?? "trafficmanager_test",
            schema: schema, sslMode: .disable, poolSize: 4, statementTimeout: .seconds(1), callTimeout: callTimeout,
            tcpUserTimeout: .seconds(2))
    }

    func redisConfiguration(port: Int) -> RedisRouteCache.Configuration {
        .init(
            endpoint: .tcp(host: "127.0.0.1", port: port), connectionCount: 2, commandTimeout: .milliseconds(250),
            keyPrefix: "tm:faults:\(UInt32.random(in: 0...UInt32.max)):",
            reconnectBackOff: .init(initial: .milliseconds(20), maximum: .milliseconds(200)))
    }

    func routes(_ count: Int) throws -> [RouteID] {
        let tenant = UniqueNames.tenant("faults")
        return try (0..<count).map { try RouteID(tenant: tenant, service: "svc\($0)", environment: "prod", version: "v1") }
    }

    static func url(_ index: Int, _ generation: Int = 1) -> String { "http://svc\(index).internal:\(8000 + generation)" }

    /// Lines at info or above in a child's output (swift-log's stream format: the level after
    /// the timestamp).
    static func loudLines(inFile path: String) -> Int {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return 0 }
        let loud = [" info ", " notice ", " warning ", " error ", " critical "]
        return text.split(separator: "\n").filter { line in loud.contains { line.contains($0) } }.count
    }

    func loudLines(_ logs: LogRecorder) -> Int {
        let loud = logs.entries.filter { $0.level >= .info }
        if env["TM_FAULTS_VERBOSE"] != nil {
            for entry in loud { FileHandle.standardError.write(Data("  [\(entry.level)] \(entry.message) \(entry.metadata)\n".utf8)) }
        }
        return loud.count
    }

    // MARK: Redis killed

    func redisKilled() async throws -> FaultRow {
        let port = Int.random(in: 23000..<24000)
        let environment = ["TM_REDIS_PORT": "\(port)", "TM_REDIS_DIR": "/tmp/tm-faults-redis-\(port)"]
        guard try runScript("scripts/start-redis.sh", environment: environment) == 0 else { throw Failure("Redis did not start") }
        defer {
            _ = try? runScript("scripts/stop-redis.sh", environment: environment)
            try? FileManager.default.removeItem(atPath: "/tmp/tm-faults-redis-\(port)")
        }
        let logs = LogRecorder()
        let cache = running(RedisRouteCache(configuration: redisConfiguration(port: port), logger: logs.logger(level: .info)))
        let store = InMemoryRouteStore()
        let manager = TrafficManager(
            store: store, cache: cache, publisher: InMemoryEventBus(),
            configuration: .init(cacheBreaker: .init(failureThreshold: 3, coolDown: .milliseconds(100))),
            logger: logs.logger(level: .info))
        let routes = try routes(100)
        for (index, route) in routes.enumerated() { try await manager.createRoute(route, url: Self.url(index)) }

        let tally = CallerTally()
        let stop = StopFlag()
        let load = runCallers(callers, tally: tally, stop: stop) { n in
            let index = n % routes.count
            return try await manager.resolve(routes[index]) == Self.url(index)
        }
        try await Task.sleep(for: .seconds(2))
        _ = try runScript("scripts/stop-redis.sh", environment: environment)
        try await Task.sleep(for: .seconds(2))
        _ = try runScript("scripts/start-redis.sh", environment: environment)
        let restarted = ContinuousClock.now
        var recovered: Duration?
        while recovered == nil && restarted.duration(to: .now) < .seconds(10) {
            if (try? await cache.get(routes[0])) != nil, case .closed = manager.resolver.cacheBreakerState {
                recovered = restarted.duration(to: .now)
            } else {
                try await Task.sleep(for: .milliseconds(10))
            }
        }
        try await Task.sleep(for: .seconds(2))
        stop.set()
        await load.value
        await cache.shutdown()
        return FaultRow(
            fault: "Redis killed for 2 s under resolves",
            load: "\(callers) callers, \(tally.succeeded) resolves (\(tally.succeeded / 6)/s)",
            errors: tally.errorSummary, longest: tally.longest, logLines: loudLines(logs),
            lost: tally.wrong == 0 ? "nothing (0 wrong answers)" : "\(tally.wrong) wrong answers",
            notes: "cache used again \(recovered.map { "\($0.milliseconds) ms" } ?? "not within 10 s") after restart")
    }

    // MARK: PostgreSQL stopped

    func postgresStopped() async throws -> FaultRow {
        let port = Int.random(in: 24000..<25000)
        let environment = ["TM_PG_PORT": "\(port)", "TM_PG_DIR": "/tmp/tm-faults-pg-\(port)"]
        guard try runScript("scripts/start-postgres.sh", environment: environment) == 0 else { throw Failure("PostgreSQL did not start") }
        defer { _ = try? runScript("scripts/stop-postgres.sh", environment: environment, arguments: ["--purge"]) }
        let logs = LogRecorder()
        let store = running(PostgresRouteStore(
            configuration: pgConfiguration(port: port, schema: "tm_faults"), logger: logs.logger(level: .info)))
        try await store.migrate()
        let cache = running(RedisRouteCache(configuration: redisConfiguration(port: redisPort), logger: logs.logger(level: .info)))
        let manager = TrafficManager(store: store, cache: cache, publisher: InMemoryEventBus(), logger: logs.logger(level: .info))
        let hot = try routes(50)
        let changed = try routes(50)
        for (index, route) in (hot + changed).enumerated() { try await manager.createRoute(route, url: Self.url(index)) }
        for route in hot { _ = try await manager.resolve(route) }
        // Routes changed just before the outage: their entries are tombstones, so resolving
        // them needs the store.
        for (index, route) in changed.enumerated() { try await manager.createRoute(route, url: Self.url(hot.count + index, 2)) }
        let before = loudLines(logs)

        let tally = CallerTally()
        let stop = StopFlag()
        // The changed routes are asked for only once the server is down: their tombstones
        // are still there, as for routes whose change event has just arrived.
        let down = StopFlag()
        let load = runCallers(callers, tally: tally, stop: stop) { n in
            let index = n % (down.isSet ? hot.count + changed.count : hot.count)
            let route = index < hot.count ? hot[index] : changed[index - hot.count]
            let expected = index < hot.count ? Self.url(index) : Self.url(index, 2)
            return try await manager.resolve(route) == expected
        }
        try await Task.sleep(for: .seconds(1))
        _ = try runScript("scripts/stop-postgres.sh", environment: environment)
        down.set()
        let stopped = ContinuousClock.now
        try await Task.sleep(for: .seconds(5))
        let outage = stopped.duration(to: .now)
        _ = try runScript("scripts/start-postgres.sh", environment: environment)
        let restarted = ContinuousClock.now
        var recovered: Duration?
        while recovered == nil && restarted.duration(to: .now) < .seconds(10) {
            if (try? await store.lookup(changed[0])) != nil { recovered = restarted.duration(to: .now) } else {
                try await Task.sleep(for: .milliseconds(10))
            }
        }
        try await Task.sleep(for: .seconds(2))
        stop.set()
        await load.value
        await cache.shutdown()
        await store.shutdown()
        return FaultRow(
            fault: "PostgreSQL stopped for \(outage.milliseconds) ms, then started",
            load: "\(callers) callers, \(tally.succeeded) resolves answered; half the routes' entries invalidated",
            errors: tally.errorSummary, longest: tally.longest, logLines: loudLines(logs) - before,
            lost: tally.wrong == 0 ? "nothing (0 wrong answers)" : "\(tally.wrong) wrong answers",
            notes: "store answered \(recovered.map { "\($0.milliseconds) ms" } ?? "not within 10 s") after the start script returned")
    }

    // MARK: Frozen paths

    func redisFrozen() async throws -> FaultRow {
        let proxy = try FaultProxy(upstreamPort: redisPort)
        defer { proxy.close() }
        let logs = LogRecorder()
        let cache = running(RedisRouteCache(configuration: redisConfiguration(port: proxy.port), logger: logs.logger(level: .info)))
        let manager = TrafficManager(
            store: InMemoryRouteStore(), cache: cache, publisher: InMemoryEventBus(), logger: logs.logger(level: .info))
        let routes = try routes(100)
        for (index, route) in routes.enumerated() { try await manager.createRoute(route, url: Self.url(index)) }
        let before = loudLines(logs)
        let tally = CallerTally()
        let stop = StopFlag()
        let load = runCallers(callers, tally: tally, stop: stop) { n in
            let index = n % routes.count
            return try await manager.resolve(routes[index]) == Self.url(index)
        }
        try await Task.sleep(for: .seconds(1))
        proxy.mode = .freeze
        try await Task.sleep(for: .seconds(3))
        proxy.mode = .pass
        try await Task.sleep(for: .seconds(2))
        stop.set()
        await load.value
        await cache.shutdown()
        return FaultRow(
            fault: "Redis path frozen for 3 s (packets held, sockets open)",
            load: "\(callers) callers, \(tally.succeeded) resolves", errors: tally.errorSummary, longest: tally.longest,
            logLines: loudLines(logs) - before, lost: tally.wrong == 0 ? "nothing" : "\(tally.wrong) wrong answers",
            notes: "command timeout 250 ms, then the breaker sends resolves to the store")
    }

    func postgresFrozen() async throws -> FaultRow {
        let proxy = try FaultProxy(upstreamPort: pgPort)
        defer { proxy.close() }
        let logs = LogRecorder()
        let store = running(PostgresRouteStore(
            configuration: pgConfiguration(port: proxy.port, schema: "tm_faults", callTimeout: .seconds(1)),
            logger: logs.logger(level: .info)))
        try await store.migrate()
        let cache = InMemoryRouteCache()
        let manager = TrafficManager(store: store, cache: cache, publisher: InMemoryEventBus(), logger: logs.logger(level: .info))
        let routes = try routes(50)
        for (index, route) in routes.enumerated() { try await manager.createRoute(route, url: Self.url(index)) }
        let before = loudLines(logs)
        let tally = CallerTally()
        let stop = StopFlag()
        // Every resolve misses (the writes left tombstones, emptied again each round) and reads the store.
        let load = runCallers(callers, tally: tally, stop: stop) { n in
            let index = n % routes.count
            cache.removeAll()
            return try await manager.resolve(routes[index]) == Self.url(index)
        }
        try await Task.sleep(for: .seconds(1))
        proxy.mode = .freeze
        try await Task.sleep(for: .seconds(3))
        proxy.mode = .pass
        try await Task.sleep(for: .seconds(3))
        stop.set()
        await load.value
        await store.shutdown()
        return FaultRow(
            fault: "PostgreSQL path frozen for 3 s",
            load: "\(callers) callers, \(tally.succeeded) store reads answered", errors: tally.errorSummary,
            longest: tally.longest, logLines: loudLines(logs) - before,
            lost: tally.wrong == 0 ? "nothing" : "\(tally.wrong) wrong answers",
            notes: "call timeout 1 s; frozen connections are dropped and made again")
    }

    // MARK: Kafka down during writes

    /// How the Kafka fault is made: brokers down, or every response held (a frozen path).
    enum KafkaFault { case down, frozen }

    func kafkaDownDuringWrites() async throws -> FaultRow { try await kafkaFault(.down) }

    func kafkaFrozenDuringWrites() async throws -> FaultRow { try await kafkaFault(.frozen) }

    func kafkaFault(_ fault: KafkaFault) async throws -> FaultRow {
        let cluster = try KafkaMockCluster()
        let topic = "route-events-faults"
        try cluster.createTopic(topic, partitions: 4)
        let kafka = KafkaConfiguration(
            bootstrapServers: cluster.bootstrapServers, topic: topic, deliveryTimeout: .seconds(2),
            properties: ["reconnect.backoff.ms": "20", "reconnect.backoff.max.ms": "200", "session.timeout.ms": "6000",
                         "heartbeat.interval.ms": "500", "topic.metadata.refresh.interval.ms": "1000"])
        let logs = LogRecorder()
        let store = running(PostgresRouteStore(configuration: pgConfiguration(schema: "tm_faults_kafka"), logger: logs.logger(level: .info)))
        try await store.migrate()
        _ = try psql("DELETE FROM tm_faults_kafka.route_events")
        let publisher = try KafkaEventPublisher(configuration: kafka, logger: logs.logger(level: .info))
        let manager = TrafficManager(
            store: store, cache: InMemoryRouteCache(), publisher: OutboxPublisher(publisher: publisher, outbox: store),
            logger: logs.logger(level: .info))
        let routes = try routes(20)

        let tally = CallerTally()
        let stop = StopFlag()
        let load = runCallers(4, tally: tally, stop: stop) { n in
            let index = n % routes.count
            return try await manager.createRoute(routes[index], url: Self.url(index, n)).endpoint.url == Self.url(index, n)
        }
        try await Task.sleep(for: .seconds(1))
        switch fault {
        case .down:
            cluster.setBrokersAvailable(false)
            try await Task.sleep(for: kafkaDown)
            cluster.setBrokersAvailable(true)
        case .frozen:
            // Longer than the delivery timeout: every publish meanwhile times out.
            cluster.setResponseDelay(.seconds(5))
            try await Task.sleep(for: .seconds(5))
            cluster.setResponseDelay(.zero)
        }
        try await Task.sleep(for: .seconds(1))
        stop.set()
        await load.value

        // The relay publishes what the outage left in the outbox.
        let relay = OutboxRelay(
            outbox: store, publisher: OutboxPublisher(publisher: publisher, outbox: store), configuration: .init(gracePeriod: .zero, batchSize: 500))
        var backlog = try await store.unpublishedEvents(olderThan: .zero, limit: 100_000).count
        let leftByOutage = backlog
        let relayStart = ContinuousClock.now
        while backlog > 0 && relayStart.duration(to: .now) < .seconds(120) {
            _ = await relay.relayOnce()
            backlog = try await store.unpublishedEvents(olderThan: .zero, limit: 100_000).count
        }
        let written = try psql("SELECT event_id FROM tm_faults_kafka.route_events").compactMap(\.first)
        let expected = Set(written.compactMap { UUID(uuidString: $0) })

        // Every event id written must reach a consumer.
        let seen = SeenIDs()
        let source = KafkaEventSource(configuration: kafka, redeliveryDelay: .milliseconds(50), logger: logs.logger(level: .info))
        let consumer = Task { try await source.consume(group: "faults") { event in seen.insert(event.eventID) } }
        let consumeStart = ContinuousClock.now
        while !seen.all.isSuperset(of: expected) && consumeStart.duration(to: .now) < .seconds(90) {
            try await Task.sleep(for: .milliseconds(200))
        }
        consumer.cancel()
        _ = await consumer.result
        await publisher.shutdown()
        await store.shutdown()
        cluster.shutdown()
        let missing = expected.subtracting(seen.all).count
        return FaultRow(
            fault: fault == .down
                ? "Kafka down for \(kafkaDown.milliseconds) ms during writes"
                : "Kafka path frozen for 5 s during writes (every response held)",
            load: "4 writers, \(tally.succeeded) writes committed", errors: tally.errorSummary, longest: tally.longest,
            logLines: loudLines(logs), lost: "\(missing) of \(expected.count) events",
            notes: "\(leftByOutage) events waited in the outbox; the relay published them, a consumer saw every id")
    }

    // MARK: Writer killed between commit and publish

    func writerKilled(executable: String) async throws -> FaultRow {
        let schema = "tm_faults_kill"
        let store = running(PostgresRouteStore(configuration: pgConfiguration(schema: schema)))
        try await store.migrate()
        _ = try psql("DELETE FROM \(schema).route_events")
        let route = try routes(1)[0]
        // The child commits a write, then hangs in its publish; it is killed there with SIGKILL.
        var pid = pid_t()
        let arguments = [executable, "child-write", "--schema", schema, "--tenant", route.tenant]
        var argv = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        // The child's output goes to a file, so its log lines are counted too.
        let output = "/tmp/tm-faults-writer-\(getpid()).log"
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        defer { try? FileManager.default.removeItem(atPath: output) }
        let logs = LogRecorder()
        guard posix_spawn(&pid, executable, &actions, nil, &argv, environ) == 0 else { throw Failure("could not start the writer") }
        let started = ContinuousClock.now
        while (try await store.lookup(route)).revision == 0 && started.duration(to: .now) < .seconds(30) {
            try await Task.sleep(for: .milliseconds(5))
        }
        kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        let unpublished = try await store.unpublishedEvents(olderThan: .zero, limit: 10)

        let bus = InMemoryEventBus()
        let relay = OutboxRelay(
            outbox: store, publisher: OutboxPublisher(publisher: bus, outbox: store), configuration: .init(gracePeriod: .zero),
            logger: logs.logger(level: .info))
        let relayed = await relay.relayOnce()
        let left = try await store.unpublishedEvents(olderThan: .zero, limit: 10).count
        await store.shutdown()
        let killedBySignal = (status & 0x7f) == SIGKILL
        return FaultRow(
            fault: "Writer killed with SIGKILL between commit and publish",
            load: "1 write", errors: "none (the caller died)", longest: .zero,
            logLines: loudLines(logs) + Self.loudLines(inFile: output),
            lost: unpublished.count == 1 && relayed == 1 && left == 0 && bus.publishedEvents.map(\.eventID) == unpublished.map(\.eventID)
                ? "nothing" : "\(unpublished.count - relayed) events",
            notes: "killed by signal: \(killedBySignal); the relay published the committed event from the outbox")
    }

    // MARK: Concurrency on one route and one key

    func concurrentCreates() async throws -> FaultRow {
        let schema = "tm_faults"
        let logs = LogRecorder()
        let store = running(PostgresRouteStore(configuration: pgConfiguration(schema: schema), logger: logs.logger(level: .info)))
        try await store.migrate()
        let before = loudLines(logs)
        let manager = TrafficManager(
            store: store, cache: InMemoryRouteCache(), publisher: InMemoryEventBus(), logger: logs.logger(level: .info))
        let route = try routes(1)[0]
        let tally = CallerTally()
        let results = await withTaskGroup(of: RouteWriteResult?.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    let started = ContinuousClock.now
                    do {
                        let result = try await manager.createRoute(route, url: Self.url(0))
                        tally.record(started, .success(true))
                        return result
                    } catch {
                        tally.record(started, .failure(error))
                        return nil
                    }
                }
            }
            return await group.reduce(into: [RouteWriteResult?]()) { $0.append($1) }
        }
        let rows = try psql(
            """
            SELECT (SELECT count(*) FROM \(schema).endpoints e JOIN \(schema).environments en ON en.id = e.environment_id
                    JOIN \(schema).services s ON s.id = en.service_id JOIN \(schema).tenants t ON t.id = s.tenant_id
                    WHERE t.name = '\(route.tenant)'),
                   (SELECT count(*) FROM \(schema).route_events WHERE tenant = '\(route.tenant)')
            """)
        await store.shutdown()
        let created = results.compactMap { $0 }.filter { $0.event?.action == .created }.count
        let counts = rows.first ?? []
        return FaultRow(
            fault: "8 concurrent identical creates", load: "8 writers at once", errors: tally.errorSummary,
            longest: tally.longest, logLines: loudLines(logs) - before,
            lost: counts == ["1", "1"] && created == 1 ? "nothing; 1 row, 1 event" : "rows/events \(counts), created \(created)",
            notes: "7 writers got the same record with no event")
    }

    func oneKeyTwoRequests() async throws -> FaultRow {
        let schema = "tm_faults"
        let logs = LogRecorder()
        let store = running(PostgresRouteStore(configuration: pgConfiguration(schema: schema), logger: logs.logger(level: .info)))
        try await store.migrate()
        let before = loudLines(logs)
        let manager = TrafficManager(
            store: store, cache: InMemoryRouteCache(), publisher: InMemoryEventBus(), logger: logs.logger(level: .info))
        var applied = 0
        var conflicts = 0
        var other = 0
        let tally = CallerTally()
        for round in 0..<50 {
            let route = try routes(1)[0]
            let outcomes = await withTaskGroup(of: String.self) { group in
                for variant in 1...2 {
                    group.addTask {
                        let started = ContinuousClock.now
                        do {
                            _ = try await manager.createRoute(route, url: Self.url(variant), idempotencyKey: "key-\(round)")
                            tally.record(started, .success(true))
                            return "applied"
                        } catch let error as TrafficManagerError
                            where error.code == .idempotencyConflict || error.code == .idempotencyKeyInUse {
                            // Refused: the key was taken by the other request, applied or still
                            // being applied.
                            tally.record(started, .failure(error))
                            return "conflict"
                        } catch {
                            tally.record(started, .failure(error))
                            return "other"
                        }
                    }
                }
                return await group.reduce(into: [String]()) { $0.append($1) }
            }
            applied += outcomes.filter { $0 == "applied" }.count
            conflicts += outcomes.filter { $0 == "conflict" }.count
            other += outcomes.filter { $0 == "other" }.count
        }
        await store.shutdown()
        return FaultRow(
            fault: "One idempotency key, two different requests at once (50 rounds)", load: "2 writers per round",
            errors: tally.errorSummary, longest: tally.longest, logLines: loudLines(logs) - before,
            lost: applied == 50 && conflicts == 50 && other == 0
                ? "nothing; each round 1 applied, 1 refused" : "applied \(applied), refused \(conflicts), other \(other)",
            notes: "the loser is refused at once: idempotencyKeyInUse while the first is being applied, idempotencyConflict after it committed; it writes nothing")
    }

    // MARK: Fuzzed inputs

    func fuzzedInputs() async throws -> FaultRow {
        let schema = "tm_faults"
        let logs = LogRecorder()
        let store = running(PostgresRouteStore(configuration: pgConfiguration(schema: schema), logger: logs.logger(level: .info)))
        try await store.migrate()
        let cache = running(RedisRouteCache(configuration: redisConfiguration(port: redisPort), logger: logs.logger(level: .info)))
        let manager = TrafficManager(store: store, cache: cache, publisher: InMemoryEventBus(), logger: logs.logger(level: .info))
        let tenant = UniqueNames.tenant("fuzz")
        let pieces = ["", "a", "chat", "-x", "x-", "a b", "a|b", "{x}", "é", "\u{202E}", "\u{0}", "../", "%00", "a.b_c-1",
                      String(repeating: "z", count: 300), "'; DROP TABLE endpoints; --", "\r\n", "v1"]
        let urls = ["http://a:1", "ftp://x", "http://u:p@h", "http://h:99999", "http://%zz", "javascript:alert(1)", "",
                    "http://exa mple.com", "https://[::1]:8080/p?q=1", "http://h/\u{7}", "http://h/<x>"]
        var generator = SystemRandomNumberGenerator()
        let tally = CallerTally()
        var accepted = 0
        var rejected = 0
        var unexpected = 0
        for _ in 0..<2_000 {
            let service = pieces.randomElement(using: &generator)!
            let environment = pieces.randomElement(using: &generator)!
            let version = pieces.randomElement(using: &generator)!
            let url = urls.randomElement(using: &generator)!
            let started = ContinuousClock.now
            do {
                _ = try await manager.createRoute(tenant: tenant, service: service, environment: environment, version: version, url: url)
                _ = try await manager.resolve(tenant: tenant, service: service, environment: environment, version: version)
                tally.record(started, .success(true))
                accepted += 1
            } catch let error as TrafficManagerError where error.code == .invalidInput {
                tally.record(started, .failure(error))
                rejected += 1
            } catch {
                tally.record(started, .failure(error))
                unexpected += 1
            }
        }
        // Every stored row is one a valid input made.
        let rows = try psql(
            """
            SELECT count(*) FROM \(schema).endpoints e JOIN \(schema).environments en ON en.id = e.environment_id
            JOIN \(schema).services s ON s.id = en.service_id JOIN \(schema).tenants t ON t.id = s.tenant_id
            WHERE t.name = '\(tenant)'
            """)
        await cache.shutdown()
        await store.shutdown()
        return FaultRow(
            fault: "2,000 fuzzed writes and resolves (names, URLs)", load: "1 caller",
            errors: tally.errorSummary, longest: tally.longest, logLines: loudLines(logs),
            lost: unexpected == 0 ? "nothing; every rejection was invalidInput" : "\(unexpected) unexpected errors",
            notes: "\(accepted) accepted, \(rejected) rejected; \(rows.first?.first ?? "?") distinct valid routes stored")
    }
}

struct Failure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Event ids a consumer has seen.
final class SeenIDs: Sendable {
    private let ids = Mutex(Set<UUID>())
    func insert(_ id: UUID) { _ = ids.withLock { $0.insert(id) } }
    var all: Set<UUID> { ids.withLock { $0 } }
}
