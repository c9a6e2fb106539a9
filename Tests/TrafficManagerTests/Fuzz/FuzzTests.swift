import Foundation
import PropertyBased
import Testing
import TrafficManager

/// Property-based tests of every validator and of the event decoder, over hostile input.
///
/// Each property runs ``FuzzBudget/cases`` cases (100,000 unless `TM_FUZZ_CASES` says
/// otherwise; the write property a fifth of that), within the suite's time limit: about 25 s
/// in a debug build on two cores. A failing case prints a seed (`.fixedSeed("…")`); add it to
/// ``FuzzRegressions`` so the case is replayed on every run, whatever the random seeds.
@Suite(.timeLimit(.minutes(3))) struct FuzzTests {
    @Test func theURLValidatorAcceptsOnlyWhatItsRulesAllow() async {
        await propertyCheck(count: FuzzBudget.cases, input: HostileInput.url) { url in
            FuzzOracle.checkURL(url)
        }
    }

    @Test func theNameValidatorsAcceptExactlyTheirAlphabets() async {
        await propertyCheck(count: FuzzBudget.cases, input: HostileInput.route) { parts in
            FuzzOracle.checkRoute(parts.0, parts.1, parts.2, parts.3)
        }
    }

    @Test func theIdempotencyKeyValidatorAcceptsExactlyPrintableASCII() async {
        await propertyCheck(count: FuzzBudget.cases, input: HostileInput.key) { key in
            FuzzOracle.checkKey(key)
        }
    }

    @Test func theEventDecoderDecodesOrThrowsADecodingError() async {
        await propertyCheck(count: FuzzBudget.cases, input: HostileInput.eventData) { data in
            FuzzOracle.checkEvent(data)
        }
    }

    @Test func aRejectedWriteWritesNothing() async {
        let h = Harness()
        await propertyCheck(count: FuzzBudget.cases / 5, input: zip(HostileInput.route, HostileInput.url, HostileInput.key)) { input in
            await FuzzOracle.checkWrite(h, route: input.0, url: input.1, key: input.2)
        }
    }
}

/// How many cases each property runs.
enum FuzzBudget {
    static let cases = ProcessInfo.processInfo.environment["TM_FUZZ_CASES"].flatMap(Int.init) ?? 100_000
}
