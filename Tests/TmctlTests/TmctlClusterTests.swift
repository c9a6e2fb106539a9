import Foundation
import Testing
import TrafficManager
import TrafficManagerRedis
import TrafficManagerTestKit
import TrafficManagerTestSupport

/// `tmctl` against the local Redis Cluster (`--redis-cluster`): a write invalidates there, a
/// resolve fills there, and bad seeds are usage errors.
@Suite(.enabled(if: servicesRun && TestServices.redisCluster.shouldRun, "needs PostgreSQL, Redis and the local Redis Cluster"))
struct TmctlClusterTests {
    private var seeds: String { TestServices.redisClusterSeeds.map { "\($0.host):\($0.port)" }.joined(separator: ",") }

    @Test func aWriteInvalidatesInTheClusterAndAResolveFillsThere() async throws {
        let tool = Tmctl()
        try await tool.migrate()
        let tenant = UniqueNames.tenant()
        let name = "\(tenant)/chat/prod@v1"
        let route = try RouteID(tenant: tenant, service: "chat", environment: "prod", version: "v1")
        let created = try await tool.run(["routes", "create", name, "http://chat:1", "--redis-cluster", seeds])
        #expect(created.status == 0 && created.output.contains("created: revision 1"), "\(created)")
        let cluster = running(
            RedisRouteCache(
                configuration: .init(
                    endpoint: .cluster(seeds: TestServices.redisClusterSeeds.map { .tcp(host: $0.host, port: $0.port) }),
                    commandTimeout: .seconds(5))))
        #expect(try await cluster.get(route) == .tombstone(revision: 1))
        let first = try await tool.run(["resolve", name, "--explain", "--redis-cluster", seeds])
        #expect(first.status == 0 && first.output == "http://chat:1\nrevision 1, from the store\n", "\(first)")
        #expect(try await cluster.get(route) == .endpoint(url: "http://chat:1", revision: 1))
        let second = try await tool.run(["resolve", name, "--explain"], environment: ["TM_REDIS_CLUSTER": seeds])
        #expect(second.status == 0 && second.output.contains("from the shared cache"), "\(second)")
        await cluster.shutdown()
    }

    @Test func aBadSeedListOrADatabaseNumberIsAUsageError() async throws {
        let tool = Tmctl()
        let name = "\(UniqueNames.tenant())/chat/prod@v1"
        for (seeds, message) in [("127.0.0.1", "is not host:port"), ("127.0.0.1:47001,", "\"\" is not host:port"), ("127.0.0.1:0", "ports are 1 to 65535")] {
            let outcome = try await tool.run(["resolve", name, "--redis-cluster", seeds])
            #expect(outcome.status == 64 && outcome.errors.contains(message), "\(seeds): \(outcome)")
        }
        let database = try await tool.run(["resolve", name, "--redis-cluster", self.seeds, "--redis-database", "2"])
        #expect(database.status == 64 && database.errors.contains("only database 0"), "\(database)")
    }
}
