import Foundation
import Testing
import TrafficManager

@Suite struct ValidationTests {
    private func routeError(_ tenant: String = "acme", _ service: String = "chat", _ environment: String = "prod", _ version: String = "v1") -> ValidationError? {
        do {
            _ = try RouteID(tenant: tenant, service: service, environment: environment, version: version)
            return nil
        } catch {
            return error
        }
    }

    @Test func validRouteIdentitiesAreAccepted() throws {
        let route = try RouteID(tenant: "chat-app", service: "user_service.v2", environment: "prod-eu-1", version: "2.0.0-rc.1+build.7")
        #expect(route.description == "chat-app/user_service.v2/prod-eu-1@2.0.0-rc.1+build.7")
        #expect(throws: Never.self) { try RouteID(tenant: "a", service: "b", environment: "c", version: "V1") }
    }

    @Test func emptyPartsAreRejectedNamingTheField() {
        #expect(routeError("") == ValidationError(field: .tenant, rule: .empty))
        #expect(routeError("acme", "") == ValidationError(field: .service, rule: .empty))
        #expect(routeError("acme", "chat", "") == ValidationError(field: .environment, rule: .empty))
        #expect(routeError("acme", "chat", "prod", "") == ValidationError(field: .version, rule: .empty))
        #expect(ValidationError(field: .tenant, rule: .empty).description == "tenant must not be empty")
    }

    @Test func overlongPartsAreRejected() {
        #expect(routeError(String(repeating: "a", count: 64)) == ValidationError(field: .tenant, rule: .tooLong(maximum: 63)))
        #expect(routeError(String(repeating: "a", count: 63)) == nil)
        #expect(routeError("acme", "chat", "prod", String(repeating: "1", count: 65)) == ValidationError(field: .version, rule: .tooLong(maximum: 64)))
    }

    @Test func badCharactersAreRejectedAndNamed() {
        #expect(routeError("Acme") == ValidationError(field: .tenant, rule: .invalidCharacter("A")))
        #expect(routeError("acme", "chat service") == ValidationError(field: .service, rule: .invalidCharacter(" ")))
        #expect(routeError("acme", "chat", "prod|x") == ValidationError(field: .environment, rule: .invalidCharacter("|")))
        #expect(routeError("acme", "chat", "prod", "v1{") == ValidationError(field: .version, rule: .invalidCharacter("{")))
        #expect(routeError("acme'; drop table tenants;--") == ValidationError(field: .tenant, rule: .invalidCharacter("'")))
        #expect(routeError("café") == ValidationError(field: .tenant, rule: .invalidCharacter("é")))
        #expect(routeError("acme", "chat", "prod", "v1\u{0}") == ValidationError(field: .version, rule: .invalidCharacter("\u{0}")))
    }

    @Test func partsMustStartAndEndWithALetterOrDigit() {
        #expect(routeError("-acme") == ValidationError(field: .tenant, rule: .mustStartAndEndWithLetterOrDigit))
        #expect(routeError("acme", "chat.") == ValidationError(field: .service, rule: .mustStartAndEndWithLetterOrDigit))
        #expect(routeError("acme", "chat", "prod", "+1") == ValidationError(field: .version, rule: .mustStartAndEndWithLetterOrDigit))
    }

    @Test func idempotencyKeysArePrintableASCII() {
        #expect(throws: ValidationError(field: .idempotencyKey, rule: .empty)) { try IdempotencyKey("") }
        #expect(throws: ValidationError(field: .idempotencyKey, rule: .invalidCharacter(" "))) { try IdempotencyKey("a b") }
        #expect(throws: ValidationError(field: .idempotencyKey, rule: .tooLong(maximum: 255))) {
            try IdempotencyKey(String(repeating: "k", count: 256))
        }
        #expect(throws: Never.self) { try IdempotencyKey("order-42/create:v1") }
    }

    @Test func routeEventsRoundTripThroughVersionedJSON() throws {
        let event = RouteEvent(
            eventID: UUID(), action: .updated, route: chatProd, url: "http://chat-service.prod:4002",
            revision: 7, occurredAt: Date(unixMilliseconds: 1_767_225_600_123))
        let data = try event.encoded()
        let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(json["schema_version"] as? Int == 1)
        #expect(json["env"] as? String == "prod")
        #expect(json["action"] as? String == "updated")
        #expect(json["occurred_at"] as? Int == 1_767_225_600_123)
        #expect(try RouteEvent.decode(data) == event)
    }

    @Test func eventsOfANewerSchemaVersionAreReadAsFarAsTheyCanBe() throws {
        let id = UUID()
        let json: [String: Any] = [
            "schema_version": 2, "event_id": id.uuidString, "tenant": "chat-app", "service": "chat", "env": "prod",
            "version": "v1", "revision": 9, "action": "weights_changed", "weights": ["v1": 90, "v2": 10],
            "occurred_at": 1_767_225_600_000,
        ]
        let event = try RouteEvent.decode(JSONSerialization.data(withJSONObject: json))
        #expect(event.route == chatProd && event.revision == 9 && event.eventID == id)
        #expect(event.writtenSchemaVersion == 2 && event.action == .updated && event.url == "")
    }

    @Test func unknownFieldsInTheCurrentVersionAreIgnored() throws {
        var json = try #require(try JSONSerialization.jsonObject(with: RouteEvent(
            eventID: UUID(), action: .created, route: chatProd, url: "http://a:1", revision: 1,
            occurredAt: Date(unixMilliseconds: 0)).encoded()) as? [String: Any])
        json["trace_id"] = "abc"
        let event = try RouteEvent.decode(JSONSerialization.data(withJSONObject: json))
        #expect(event.url == "http://a:1" && event.writtenSchemaVersion == 1)
    }

    @Test func eventsThatCannotBeReadNameWhatIsWrong() throws {
        let valid = try #require(try JSONSerialization.jsonObject(with: RouteEvent(
            eventID: UUID(), action: .created, route: chatProd, url: "http://a:1", revision: 1,
            occurredAt: Date(unixMilliseconds: 0)).encoded()) as? [String: Any])
        func kind(_ change: (inout [String: Any]) -> Void) throws -> String? {
            var json = valid
            change(&json)
            do {
                _ = try RouteEvent.decode(JSONSerialization.data(withJSONObject: json))
                return nil
            } catch let error as RouteEventDecodingError {
                return error.kind
            }
        }
        #expect(try kind { $0["schema_version"] = 0 } == "unsupported schema version 0")
        #expect(try kind { $0["tenant"] = "Bad Tenant" } == "invalid route name")
        #expect(try kind { $0["revision"] = nil } == "missing revision")
        #expect(try kind { $0["schema_version"] = 2; $0["revision"] = "nine" } == "invalid revision")
        #expect(try kind { $0["action"] = "exploded" } == "invalid action")
        #expect(throws: RouteEventDecodingError(kind: "not a JSON object", detail: "5 bytes that are not a JSON object")) {
            try RouteEvent.decode(Data("hello".utf8))
        }
    }
}
