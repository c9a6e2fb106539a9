import Testing
import TrafficManager
@testable import TrafficManagerRedis

@Suite struct RedisEncodingTests {
    @Test func entriesRoundTripAndURLsMayHoldAnyCharacter() {
        for entry in [
            CachedRoute.endpoint(url: "http://a:1/x|y?z={w}", revision: 12), .notFound(revision: 0), .tombstone(revision: UInt64.max),
        ] {
            #expect(RedisCacheEncoding.decode(RedisCacheEncoding.encode(entry)) == entry)
        }
    }

    @Test func valuesNotWrittenByTheCacheAreRejected() {
        for value in ["", "E|1", "E||http://a", "X|1|", "N|1|extra", "T|x|", "E|18446744073709551616|http://a", "hello world"] {
            #expect(RedisCacheEncoding.decode(value) == nil, "\(value)")
        }
    }

    @Test func aGetOfARouteIsEncodedLikeTheGenericCommand() throws {
        let route = try RouteID(tenant: "chat-app", service: "chat", environment: "prod", version: "1.2.0-rc.1")
        var direct = RESPEncoder()
        direct.append(.getEntry(route, prefix: "tm:route:"))
        var generic = RESPEncoder()
        generic.append(["GET", RedisCacheEncoding.key(route, prefix: "tm:route:")])
        #expect(direct.bytes == generic.bytes)
        #expect(String(decoding: generic.bytes, as: UTF8.self) == "*2\r\n$3\r\nGET\r\n$40\r\ntm:route:{chat-app|chat|prod|1.2.0-rc.1}\r\n")
    }
}
