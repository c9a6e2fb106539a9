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

    private func decoded(_ value: String) -> RedisCacheEncoding.Decoded? {
        var value = value
        return value.withUTF8 { RedisCacheEncoding.decodeEntry(UnsafeRawBufferPointer($0)) }
    }

    @Test func formatTwoCarriesTheReadTimeAndFormatOneIsStillRead() {
        let readAt: Int64 = 1_796_212_345_678
        let endpoint = RedisCacheEncoding.encode(.endpoint(url: "http://a:1/x|y", revision: 7), readAt: readAt)
        #expect(endpoint == "e|7|\(RedisCacheEncoding.time(readAt))http://a:1/x|y")
        #expect(RedisCacheEncoding.time(readAt).count == 7)
        // Seven bytes more than format 1, whatever the time until 2109.
        #expect(endpoint.utf8.count == RedisCacheEncoding.encode(.endpoint(url: "http://a:1/x|y", revision: 7)).utf8.count + 7)
        #expect(RedisCacheEncoding.time((1 << 42) - 1) == "_______" && RedisCacheEncoding.time(0) == "0000000")
        #expect(decoded(endpoint) == .entry(.endpoint(url: "http://a:1/x|y", revision: 7), readAt: readAt))
        let notFound = RedisCacheEncoding.encode(.notFound(revision: 3), readAt: readAt)
        #expect(decoded(notFound) == .entry(.notFound(revision: 3), readAt: readAt))
        // Tombstones carry no time; format 1 values read with none.
        #expect(RedisCacheEncoding.encode(.tombstone(revision: 9), readAt: readAt) == "T|9|")
        #expect(decoded("E|4|http://b:2") == .entry(.endpoint(url: "http://b:2", revision: 4), readAt: nil))
        #expect(decoded("N|4|") == .entry(.notFound(revision: 4), readAt: nil))
        // Every format starts <kind>|<revision>|: what the conditional-set script compares.
        for value in [endpoint, notFound, "T|9|", "E|4|http://b:2"] {
            let fields = value.split(separator: "|", maxSplits: 2, omittingEmptySubsequences: false)
            #expect(fields[0].count == 1 && UInt64(fields[1]) != nil, "\(value)")
        }
    }

    @Test func aValueOfAFormatThisVersionDoesNotKnowIsAMissNotAnError() {
        #expect(decoded("x|12|whatever comes in format 3") == .newerFormat)
        #expect(decoded("Q|1|") == .newerFormat)
        // Still not ours: no revision prefix, or a broken format 2 value.
        for value in ["hello world", "e|1|zz!|http://a", "n|1|abcdefgX", "n|1|abc", "|1|", "e|1|", "e|1|abc!efghttp://a"] {
            #expect(decoded(value) == nil, "\(value)")
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
