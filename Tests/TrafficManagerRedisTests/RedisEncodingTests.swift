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

    @Test func formatThreeCarriesTheReadTimeInTenthsOfASecondRoundedDown() {
        let readAt: Int64 = 1_796_212_345_678
        let endpoint = RedisCacheEncoding.encode(.endpoint(url: "http://a:1/x|y", revision: 7), readAt: readAt)
        #expect(endpoint == "u|7|\(RedisCacheEncoding.time(readAt))http://a:1/x|y")
        #expect(RedisCacheEncoding.time(readAt).count == 6)
        // Six bytes more than format 1, whatever the time until 2187.
        #expect(endpoint.utf8.count == RedisCacheEncoding.encode(.endpoint(url: "http://a:1/x|y", revision: 7)).utf8.count + 6)
        #expect(RedisCacheEncoding.time(((1 << 36) - 1) * 100 + 99) == "______" && RedisCacheEncoding.time(99) == "000000")
        // Read back rounded down to the tenth: an age is never understated.
        #expect(decoded(endpoint) == .entry(.endpoint(url: "http://a:1/x|y", revision: 7), readAt: 1_796_212_345_600))
        let notFound = RedisCacheEncoding.encode(.notFound(revision: 3), readAt: readAt)
        #expect(notFound.hasPrefix("x|3|") && notFound.utf8.count == 10)
        #expect(decoded(notFound) == .entry(.notFound(revision: 3), readAt: 1_796_212_345_600))
        // Tombstones carry no time.
        #expect(RedisCacheEncoding.encode(.tombstone(revision: 9), readAt: readAt) == "T|9|")
        // A typical value with a 34-byte URL stays within Redis's 44-byte embedded strings.
        let typical = RedisCacheEncoding.encode(.endpoint(url: "http://svc72232.load.internal:8080", revision: 1), readAt: readAt)
        #expect(typical.utf8.count == 44)
    }

    @Test func formatsTwoAndOneAreStillRead() {
        // Format 2: Unix milliseconds in 7 base-64 digits.
        let milliseconds: Int64 = 1_796_212_345_678
        let seven = RedisCacheEncoding.base64(milliseconds, width: 7)
        #expect(decoded("e|7|\(seven)http://a:1/x|y") == .entry(.endpoint(url: "http://a:1/x|y", revision: 7), readAt: milliseconds))
        #expect(decoded("n|3|\(seven)") == .entry(.notFound(revision: 3), readAt: milliseconds))
        #expect(decoded("n|3|\(seven)x") == nil)
        // Format 1: no time.
        #expect(decoded("E|4|http://b:2") == .entry(.endpoint(url: "http://b:2", revision: 4), readAt: nil))
        #expect(decoded("N|4|") == .entry(.notFound(revision: 4), readAt: nil))
        // Every format starts <kind>|<revision>|: what the conditional-set script compares.
        let written = [
            RedisCacheEncoding.encode(.endpoint(url: "http://a", revision: 5), readAt: milliseconds),
            RedisCacheEncoding.encode(.notFound(revision: 5), readAt: milliseconds), "T|9|", "E|4|http://b:2", "e|7|\(seven)http://a",
        ]
        for value in written {
            let fields = value.split(separator: "|", maxSplits: 2, omittingEmptySubsequences: false)
            #expect(fields[0].count == 1 && UInt64(fields[1]) != nil, "\(value)")
        }
    }

    @Test func aValueOfAFormatThisVersionDoesNotKnowIsAMissNotAnError() {
        #expect(decoded("q|12|whatever comes in format 4") == .newerFormat)
        #expect(decoded("Q|1|") == .newerFormat)
        // Still not ours: no revision prefix, or a broken format 2 or 3 value.
        for value in [
            "hello world", "e|1|zz!|http://a", "n|1|abcdefgX", "n|1|abc", "|1|", "e|1|", "e|1|abc!efghttp://a",
            "u|1|abc!efhttp://a", "x|1|abcde", "x|1|abcdefg", "u|1|",
        ] {
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
