import Foundation
import Testing
import TrafficManager

/// What each fuzzed input must satisfy, shared by the property tests and their regressions.
///
/// The checks go through `#expect`, never `throw`: a property body that throws is not reported.
enum FuzzOracle {
    /// An accepted URL satisfies every rule, checked here independently of the validator (and
    /// against Foundation's parser); a rejected one gets a `url` error that never echoes user
    /// info.
    static func checkURL(_ url: String) {
        do {
            try EndpointURL.validate(url)
        } catch {
            #expect(error.field == .url)
            #expect(!error.description.contains(HostileInput.secret), "the error echoed user info: \(error)")
            expectPrintable(error)
            return
        }
        #expect(url.utf8.count <= EndpointURL.maximumLength)
        let forbidden = Set("\"<>\\^`{|} ".unicodeScalars)
        #expect(url.unicodeScalars.allSatisfy { $0.value > 0x20 && $0.value < 0x7F && !forbidden.contains($0) }, "accepted \(url.debugDescription)")
        #expect(!url.contains(HostileInput.secret), "accepted user info in \(url.debugDescription)")
        guard let components = URLComponents(string: url) else {
            Issue.record("accepted \(url.debugDescription), which Foundation cannot parse")
            return
        }
        #expect(["http", "https"].contains(components.scheme?.lowercased() ?? ""), "scheme of \(url.debugDescription)")
        #expect(components.user == nil && components.password == nil, "user info in \(url.debugDescription)")
        #expect(!(components.host ?? "").isEmpty, "no host in \(url.debugDescription)")
        if let port = components.port { #expect((1...65535).contains(port), "port of \(url.debugDescription)") }
        // Every % starts an escape of a printable character.
        let bytes = Array(url.utf8)
        for (index, byte) in bytes.enumerated() where byte == UInt8(ascii: "%") {
            #expect(index + 2 < bytes.count, "\(url.debugDescription)")
            guard index + 2 < bytes.count, let value = UInt8(String(decoding: bytes[index + 1...index + 2], as: UTF8.self), radix: 16)
            else {
                Issue.record("accepted a bad escape in \(url.debugDescription)")
                return
            }
            #expect(value >= 0x20 && value != 0x7F, "\(url.debugDescription)")
        }
    }

    /// A message holds printable ASCII only: no control character, invisible mark or bidi
    /// override from the input reaches a log or a screen through it.
    static func expectPrintable(_ error: ValidationError) {
        #expect(error.description.unicodeScalars.allSatisfy { $0.value >= 0x20 && $0.value < 0x7F }, "\(error.description.debugDescription)")
    }

    /// The route is accepted exactly when every part obeys its alphabet, length and edges;
    /// otherwise the error names the first part that does not.
    static func checkRoute(_ tenant: String, _ service: String, _ environment: String, _ version: String) {
        let parts: [(ValidationError.Field, String)] = [(.tenant, tenant), (.service, service), (.environment, environment), (.version, version)]
        let firstBad = parts.first { field, value in !isValid(value, version: field == .version) }?.0
        do {
            let route = try RouteID(tenant: tenant, service: service, environment: environment, version: version)
            #expect(firstBad == nil, "accepted \(route)")
            #expect(route.description == "\(tenant)/\(service)/\(environment)@\(version)")
        } catch {
            #expect(error.field == firstBad, "\(error) for \(parts)")
            expectPrintable(error)
        }
    }

    private static func isValid(_ value: String, version: Bool) -> Bool {
        let alphabet = Set((version ? "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_+" : "abcdefghijklmnopqrstuvwxyz0123456789-._").utf8)
        let edges = Set((version ? "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789" : "abcdefghijklmnopqrstuvwxyz0123456789").utf8)
        let bytes = Array(value.utf8)
        guard let first = bytes.first, let last = bytes.last, bytes.count <= (version ? 64 : 63) else { return false }
        return bytes.allSatisfy(alphabet.contains) && edges.contains(first) && edges.contains(last)
    }

    /// A key is accepted exactly when it is 1–255 printable ASCII characters.
    static func checkKey(_ key: String) {
        let expected = (1...255).contains(key.utf8.count) && key.utf8.allSatisfy { $0 >= 0x21 && $0 <= 0x7E }
        do {
            let parsed = try IdempotencyKey(key)
            #expect(expected, "accepted \(key.debugDescription)")
            #expect(parsed.value == key)
        } catch {
            #expect(!expected, "rejected \(key.debugDescription): \(error)")
            #expect(error.field == .idempotencyKey)
            expectPrintable(error)
        }
    }

    /// Decoding either throws a `RouteEventDecodingError` or gives a valid event that survives
    /// a round trip (re-encoded in this version's layout).
    static func checkEvent(_ data: Data) {
        // The fast reader answers only what the Foundation reader answers, and the same.
        if let fast = data.withUnsafeBytes({ RouteEventJSON.decode($0) }) {
            #expect((try? RouteEvent.decodeByFoundation(data)) == fast, "the fast reader took \(String(decoding: data, as: UTF8.self).debugDescription)")
        }
        let event: RouteEvent
        do {
            event = try RouteEvent.decode(data)
        } catch {
            #expect(!error.kind.isEmpty && error.description.allSatisfy { !$0.isNewline }, "\(error)")
            return
        }
        #expect(throws: Never.self) {
            _ = try RouteID(tenant: event.route.tenant, service: event.route.service, environment: event.route.environment, version: event.route.version)
        }
        do {
            var current = event
            current.writtenSchemaVersion = RouteEvent.schemaVersion
            #expect(try RouteEvent.decode(try event.encoded()) == current)
            #expect(try event.encoded() == event.encodedByFoundation())
        } catch {
            Issue.record("a decoded event did not survive a round trip: \(error)")
        }
    }

    /// A write either succeeds, or is rejected with `invalidInput` and leaves the store, the
    /// published events and the cache as they were.
    static func checkWrite(_ h: Harness, route parts: (String, String, String, String), url: String, key: String) async {
        let before = (h.store.rowCounts, h.bus.publishedEvents.count)
        do {
            try await h.manager.createRoute(
                tenant: parts.0, service: parts.1, environment: parts.2, version: parts.3, url: url, idempotencyKey: key)
        } catch let error as TrafficManagerError {
            #expect(error.code == .invalidInput || error.code == .idempotencyConflict, "\(error)")
            #expect(h.store.rowCounts == before.0, "a rejected write wrote: \(error)")
            #expect(h.bus.publishedEvents.count == before.1, "a rejected write published: \(error)")
            #expect(!error.description.contains(HostileInput.secret))
        } catch {
            Issue.record("a write threw \(type(of: error)): \(error)")
        }
    }
}
