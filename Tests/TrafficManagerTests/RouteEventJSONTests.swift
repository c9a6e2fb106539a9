import Foundation
import Testing
import TrafficManager

/// The fast event writer and reader against Foundation's coders, which they stand in for.
@Suite struct RouteEventJSONTests {
    static let urls = [
        "http://chat:4002", "https://a.example/path?q=1&r=%2F#frag", "http://x/\"quoted\"\\back\\slash",
        "http://x/\u{0}\u{1}\u{8}\u{9}\u{A}\u{C}\u{D}\u{1F}\u{7F}", "http://é.example/你/🙂", "http://x/\u{2028}\u{2029}\u{FEFF}", "",
    ]

    static func events() throws -> [RouteEvent] {
        let routes = [
            try RouteID(tenant: "chat-app", service: "chat", environment: "prod", version: "v1"),
            try RouteID(tenant: "acme", service: "billing", environment: "staging", version: "2.0.0-rc.1+build.7"),
        ]
        var events: [RouteEvent] = []
        for (index, url) in urls.enumerated() {
            for (revision, milliseconds) in [(UInt64(0), Int64(0)), (1, 1_767_225_600_123), (UInt64.max, Int64.max), (42, -1), (7, Int64.min + 1)] {
                events.append(
                    RouteEvent(
                        eventID: UUID(), action: RouteAction.allCases[index % RouteAction.allCases.count], route: routes[index % 2], url: url,
                        revision: revision, occurredAt: Date(unixMilliseconds: milliseconds)))
            }
        }
        return events
    }

    @Test func theWriterWritesWhatJSONEncoderWrites() throws {
        for event in try Self.events() {
            let fast = try event.encoded()
            let reference = try event.encodedByFoundation()
            #expect(fast == reference, "\(String(decoding: fast, as: UTF8.self)) != \(String(decoding: reference, as: UTF8.self))")
        }
    }

    @Test func theReaderReadsWhatItWritesAndWhatFoundationWritesPretty() throws {
        let pretty = JSONEncoder()
        pretty.outputFormatting = [.prettyPrinted, .withoutEscapingSlashes]
        for event in try Self.events() {
            for data in [try event.encoded(), try pretty.encode(event)] {
                let fast = try #require(data.withUnsafeBytes { RouteEventJSON.decode($0) }, "not taken: \(String(decoding: data, as: UTF8.self))")
                #expect(fast == event)
                #expect(try RouteEvent.decodeByFoundation(data) == fast)
            }
        }
    }

    @Test func unknownScalarFieldsAreSkippedAndEscapesResolved() throws {
        let json = #"""
            { "zeta": true, "schema_version": 1, "event_id": "E621E1F8-C36C-495A-93FC-0C247A3E6E5F", "action": "updated",
              "tenant": "t", "service": "s", "env": "prod", "version": "v\u0031", "url": "http:\/\/a\u00e9\ud83d\ude42\n",
              "revision": 3, "occurred_at": -5, "extra": null, "n": -12, "f": false, "s": "\"" }
            """#
        let data = Data(json.utf8)
        let fast = try #require(data.withUnsafeBytes { RouteEventJSON.decode($0) })
        #expect(fast.route.version == "v1" && fast.url == "http://aé🙂\n" && fast.occurredAt == Date(unixMilliseconds: -5))
        #expect(try RouteEvent.decodeByFoundation(data) == fast)
    }

    /// What the fast reader leaves, the Foundation reader decides: the same event or error.
    @Test func whatTheReaderLeavesGoesToFoundation() throws {
        let base: [String: Any] = [
            "schema_version": 1, "event_id": "E621E1F8-C36C-495A-93FC-0C247A3E6E5F", "action": "updated", "tenant": "t",
            "service": "s", "env": "prod", "version": "v1", "url": "http://a", "revision": 3, "occurred_at": 5,
        ]
        func variant(_ change: (inout [String: Any]) -> Void) throws -> Data {
            var object = base
            change(&object)
            return try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        }
        let left: [(String, Data)] = [
            ("a newer schema", try variant { $0["schema_version"] = 2; $0["action"] = "renamed" }),
            ("schema 0", try variant { $0["schema_version"] = 0 }),
            ("a nested unknown field", try variant { $0["labels"] = ["a": 1] }),
            ("a fraction", try variant { $0["revision"] = 3.5 }),
            ("a negative revision", try variant { $0["revision"] = -3 }),
            ("a null url", try variant { $0["url"] = NSNull() }),
            ("a bad id", try variant { $0["event_id"] = "not-a-uuid" }),
            ("an unknown action", try variant { $0["action"] = "deleted" }),
            ("an invalid name", try variant { $0["tenant"] = "Bad Tenant" }),
            ("a missing field", try variant { $0["occurred_at"] = nil }),
            ("a duplicate field", Data(#"{"schema_version":1,"schema_version":1,"event_id":"E621E1F8-C36C-495A-93FC-0C247A3E6E5F","action":"updated","tenant":"t","service":"s","env":"prod","version":"v1","url":"http://a","revision":3,"occurred_at":5}"#.utf8)),
            ("trailing bytes", Data((String(decoding: try variant { _ in }, as: UTF8.self) + " x").utf8)),
            ("a leading zero", Data(String(decoding: try variant { _ in }, as: UTF8.self).replacingOccurrences(of: #""revision":3"#, with: #""revision":03"#).utf8)),
            ("a non-ASCII key", try variant { $0["é"] = 1 }),
            ("invalid UTF-8 in a key", Data([UInt8(ascii: "{"), UInt8(ascii: "\""), 0xFF, UInt8(ascii: "\""), UInt8(ascii: ":"), UInt8(ascii: "0"), UInt8(ascii: ",")] + Array(String(decoding: try variant { _ in }, as: UTF8.self).utf8.dropFirst()))),
            ("invalid UTF-8", Data(String(decoding: try variant { _ in }, as: UTF8.self).utf8).replacing(Data("http".utf8), with: Data([0x68, 0xFF, 0x74, 0x70]))),
        ]
        for (name, data) in left {
            #expect(data.withUnsafeBytes { RouteEventJSON.decode($0) } == nil, "the fast reader took \(name)")
            let decoded = Result { () throws(RouteEventDecodingError) in try RouteEvent.decode(data) }
            let reference = Result { () throws(RouteEventDecodingError) in try RouteEvent.decodeByFoundation(data) }
            switch (decoded, reference) {
            case (.success(let a), .success(let b)): #expect(a == b, "\(name)")
            case (.failure(let a), .failure(let b)): #expect(a.kind == b.kind, "\(name)")
            default: Issue.record("\(name): decode and the Foundation reader disagree")
            }
        }
    }
}
