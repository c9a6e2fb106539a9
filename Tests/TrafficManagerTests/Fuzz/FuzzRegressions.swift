import Foundation
import PropertyBased
import Testing
import TrafficManager

/// Inputs fuzzing once found to fail, replayed on every run.
///
/// `seeds` hold the seeds a failing property printed (`.fixedSeed("…")`): replaying one runs
/// the same generator from the same state, so it gives the same input while the generators
/// stay as they are. `inputs` hold the shrunk inputs themselves, which stay meaningful when the
/// generators change.
@Suite struct FuzzRegressions {
    static let urlSeeds: [String] = [
        // Found port 0 accepted when the port rule was loosened: https://[1:2:3:4:5:6:7:8]:0
        "Oe/gDzVnPMb/d61/48cKU5hNTRzCTpr9I3NM7CJxp5c=",
        // An error quoted a UTF-8 fragment after a %: "t?o0%１o\t", shrunk to "%１".
        "94fpq809CLbc2SlmrRb6GoTxT+0oOVt/QrW6nQdZYQM=",
    ]
    static let eventSeeds: [String] = []

    @Test func failingURLSeedsStayFixed() {
        for seed in Self.urlSeeds { FuzzOracle.checkURL(Self.replay(HostileInput.url, seed: seed)) }
    }

    @Test func failingEventSeedsStayFixed() {
        for seed in Self.eventSeeds { FuzzOracle.checkEvent(Self.replay(HostileInput.eventData, seed: seed)) }
    }

    @Test func portZeroAfterAnIPv6HostIsRejected() {
        FuzzOracle.checkURL("https://[1:2:3:4:5:6:7:8]:0")
        #expect(throws: ValidationError(field: .url, rule: .invalidPort("0"))) { try EndpointURL.validate("https://[1:2:3:4:5:6:7:8]:0") }
    }

    @Test func aPercentBeforeANonASCIICharacterIsReportedAsThatCharacter() {
        FuzzOracle.checkURL("%１")
        FuzzOracle.checkURL("http://host/%１")
        #expect(throws: ValidationError(field: .url, rule: .invalidCharacter("１"))) { try EndpointURL.validate("http://host/%１") }
    }

    @Test func anEventAtTheEdgeOfTimeDecodesAndRoundTripsWithoutTrapping() throws {
        for milliseconds in [Int64.max, Int64.min, 0] {
            let json = """
                {"action":"created","env":"prod","event_id":"6F2A0E10-9D41-4C1B-8F0B-2B8A1A2C3D4E","occurred_at":\(milliseconds),\
                "revision":1,"schema_version":1,"service":"chat","tenant":"acme","url":"http://a:1","version":"v1"}
                """
            FuzzOracle.checkEvent(Data(json.utf8))
            #expect(throws: Never.self) { try RouteEvent.decode(Data(json.utf8)) }
        }
    }

    @Test func aSeedReplaysTheSameInput() {
        let seed = "AQAAAAAAAAACAAAAAAAAAAMAAAAAAAAABAAAAAAAAAA="
        #expect(Self.replay(HostileInput.url, seed: seed) == Self.replay(HostileInput.url, seed: seed))
        #expect(Self.replay(HostileInput.eventData, seed: seed) == Self.replay(HostileInput.eventData, seed: seed))
    }

    static func replay<Value, Shrinks>(_ generator: Generator<Value, Shrinks>, seed: String) -> Value {
        guard var rng = Xoshiro(seed: seed) else { fatalError("not a seed: \(seed)") }
        return generator.run(using: &rng)
    }
}
