import Testing
import TrafficManager

/// The URL rules of ``EndpointURL``, with a named regression test for every URL that once
/// slipped through.
@Suite struct EndpointURLTests {
    private func rule(_ url: String, schemes: Set<String> = EndpointURL.defaultSchemes) -> ValidationError.Rule? {
        do {
            try EndpointURL.validate(url, allowedSchemes: schemes)
            return nil
        } catch {
            #expect(error.field == .url)
            return error.rule
        }
    }

    @Test(arguments: [
        "http://chat-service:4002",
        "HTTPS://chat.example.com/api/v1?x=1&y=%20#frag",
        "http://[::1]:8080/",
        "http://[2001:db8::7]/",
        "http://[::ffff:192.0.2.1]:443/",
        "http://10.0.0.12:65535/health",
        "http://chat_service.internal.:1/",
        "https://user-service.prod.svc.cluster.local/v1/users/~me;x=1",
    ])
    func wellFormedURLsAreAccepted(url: String) {
        #expect(rule(url) == nil)
    }

    // Each URL below was accepted before these rules.

    @Test func aPortAboveTheRangeIsRejected() {
        #expect(rule("http://host:99999999") == .invalidPort("99999999"))
        #expect(rule("http://host:65536/") == .invalidPort("65536"))
    }

    @Test func portZeroIsRejected() {
        #expect(rule("http://host:0") == .invalidPort("0"))
        #expect(rule("http://host:/") == .invalidPort(""))
        #expect(rule("http://host:8o/") == .invalidPort("8o"))
    }

    @Test func angleBracketsInThePathAreRejected() {
        #expect(rule("http://host/<script>") == .invalidCharacter("<"))
    }

    @Test func quotesInThePathAreRejected() {
        #expect(rule("http://host/\"x\"") == .invalidCharacter("\""))
    }

    @Test func aLonePercentSignIsRejected() {
        #expect(rule("http://host/%") == .invalidPercentEncoding("%"))
        #expect(rule("http://host/%4") == .invalidPercentEncoding("%4"))
        #expect(rule("http://host/%zz") == .invalidPercentEncoding("%zz"))
    }

    @Test func aPercentEscapeOfAControlCharacterIsRejected() {
        #expect(rule("http://host/a%00b") == .invalidPercentEncoding("%00"))
        #expect(rule("http://host/a%0Ab") == .invalidPercentEncoding("%0A"))
        #expect(rule("http://host/a%7f") == .invalidPercentEncoding("%7f"))
    }

    @Test func aZeroWidthSpaceIsRejected() {
        #expect(rule("http://host/\u{200B}") == .invalidCharacter("\u{200B}"))
    }

    @Test func bidiAndOtherInvisibleMarksAreRejected() {
        #expect(rule("http://host/\u{202E}gnp.exe") == .invalidCharacter("\u{202E}"))
        #expect(rule("http://ho\u{00AD}st/") == .invalidCharacter("\u{00AD}"))
        #expect(rule("http://h\u{0430}st/") == .invalidCharacter("\u{0430}"))  // Cyrillic a
    }

    @Test func aHostThatIsOnlyAHyphenIsRejected() {
        #expect(rule("http://-/") == .invalidHost("-"))
        #expect(rule("http://-chat/") == .invalidHost("-chat"))
        #expect(rule("http://chat-.example/") == .invalidHost("chat-.example"))
        #expect(rule("http://a..b/") == .invalidHost("a..b"))
    }

    @Test func userInfoIsRejectedWithoutEchoingIt() {
        #expect(rule("http://user:pw@host/") == .userInfoNotAllowed)
        #expect(rule("http://user@host/") == .userInfoNotAllowed)
        let message = ValidationError(field: .url, rule: .userInfoNotAllowed).description
        #expect(!message.contains("pw"))
    }

    @Test func numericHostsMustBeIPv4Addresses() {
        #expect(rule("http://256.1.1.1/") == .invalidHost("256.1.1.1"))
        #expect(rule("http://1.2.3/") == .invalidHost("1.2.3"))
        #expect(rule("http://01.2.3.4/") == .invalidHost("01.2.3.4"))
        #expect(rule("http://host.123/") == .invalidHost("host.123"))
    }

    @Test func ipv6LiteralsMustBeWellFormed() {
        #expect(rule("http://[::1/") == .invalidHost("[::1"))
        #expect(rule("http://[1:::2]/") == .invalidHost("[1:::2]"))
        #expect(rule("http://[1:2:3:4:5:6:7:8:9]/") == .invalidHost("[1:2:3:4:5:6:7:8:9]"))
        #expect(rule("http://[fe80::1%25eth0]/") == .invalidPercentEncoding("%25") || rule("http://[fe80::1%25eth0]/") == .invalidHost("[fe80::1%25eth0]"))
        #expect(rule("http://[::1]x/") == .invalidHost("[::1]x"))
        #expect(rule("http://host/[x]") == .invalidCharacter("["))
    }

    @Test func schemesComeFromTheAllowList() {
        #expect(rule("ftp://files.example.com") == .unsupportedScheme("ftp", allowed: ["http", "https"]))
        #expect(rule("wss://chat.example.com/socket") == .unsupportedScheme("wss", allowed: ["http", "https"]))
        #expect(rule("wss://chat.example.com/socket", schemes: ["wss"]) == nil)
        #expect(rule("postgres://db.internal:5432/routes", schemes: ["http", "postgres"]) == nil)
        #expect(rule("javascript:alert(1)") == .unsupportedScheme("javascript", allowed: ["http", "https"]))
        #expect(rule("chat-service:4002") == .unsupportedScheme("chat-service", allowed: ["http", "https"]))
    }

    @Test func theRestOfTheShapeIsChecked() {
        #expect(rule("") == .empty)
        #expect(rule("http://") == .missingHost)
        #expect(rule("http:///path") == .missingHost)
        #expect(rule("http:host") == .missingHost)
        #expect(rule("/relative/path") == .malformedURL)
        #expect(rule("1http://host/") == .malformedURL)
        #expect(rule("no scheme at all") == .invalidCharacter(" "))
        #expect(rule("http://a\n.example.com") == .invalidCharacter("\n"))
        #expect(rule("http://host/#a#b") == .invalidCharacter("#"))
        #expect(rule("http://host/a\\b") == .invalidCharacter("\\"))
    }

    @Test func lengthIsBounded() {
        let base = "http://a.example.com/"
        #expect(rule(base + String(repeating: "x", count: EndpointURL.maximumLength - base.utf8.count)) == nil)
        #expect(rule(base + String(repeating: "x", count: EndpointURL.maximumLength)) == .tooLong(maximum: EndpointURL.maximumLength))
        #expect(rule("http://" + String(repeating: "a", count: 64) + "/") == .invalidHost(String(repeating: "a", count: 64)))
    }

    @Test func messagesNameTheFieldAndTheRule() {
        #expect(
            ValidationError(field: .url, rule: .unsupportedScheme("ftp", allowed: ["http", "https"])).description
                == "url must use one of the schemes http, https, not \"ftp\"")
        #expect(ValidationError(field: .url, rule: .invalidPort("0")).description == "url port \"0\" is not a number from 1 to 65535")
        #expect(ValidationError(field: .url, rule: .invalidHost("-")).description.hasPrefix("url host \"-\""))
    }

    @Test func messagesNameInvisibleCharactersByCodePointNotVerbatim() {
        let bidi = ValidationError(field: .url, rule: .invalidCharacter("\u{202E}")).description
        #expect(bidi == "url contains the character U+202E RIGHT-TO-LEFT OVERRIDE, which is not allowed")
        #expect(!bidi.unicodeScalars.contains { $0.value > 0x7E || $0.value < 0x20 })
        #expect(ValidationError(field: .tenant, rule: .invalidCharacter("\u{0}")).description.contains("U+0000"))
        #expect(ValidationError(field: .tenant, rule: .invalidCharacter("<")).description.contains("\"<\""))
    }

    @Test func theManagersAllowListDecidesWrites() async throws {
        let h = Harness(configuration: .init(allowedURLSchemes: ["HTTP", "WSS"]))
        #expect(h.configuration.allowedURLSchemes == ["http", "wss"])
        try await h.manager.createRoute(chatProd, url: "wss://chat.example.com/socket")
        #expect(try await h.manager.resolve(chatProd) == "wss://chat.example.com/socket")
        let error = await managerError { try await h.manager.createRoute(authStaging, url: "https://auth:4003") }
        #expect(error?.code == .invalidInput)
        #expect(error?.validationError?.rule == .unsupportedScheme("https", allowed: ["http", "wss"]))
        #expect(h.store.rowCounts.endpoints == 1)
    }

    @Test func aURLStoredBeforeTheRulesStillResolves() async throws {
        /// A store holding a row from before these rules.
        struct LegacyStore: RouteStore {
            func lookup(_ route: RouteID) async throws -> RouteLookup { RouteLookup(url: "http://user:pw@legacy:0/<x>", revision: 1) }
            func endpoint(_ route: RouteID) async throws -> RouteEndpoint? { nil }
            func apply(_ command: RouteCommand, idempotencyKey: IdempotencyKey?) async throws -> RouteWriteResult {
                throw TrafficManagerError.writeFailed("read-only")
            }
        }
        let manager = TrafficManager(store: LegacyStore(), cache: InMemoryRouteCache(), publisher: InMemoryEventBus())
        #expect(try await manager.resolve(chatProd) == "http://user:pw@legacy:0/<x>")
    }
}
