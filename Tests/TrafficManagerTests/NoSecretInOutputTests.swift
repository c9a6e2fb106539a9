import Testing
import TrafficManager
import TrafficManagerTestKit

/// No rendering of a core error or configuration shows a secret a caller handed in.
@Suite struct NoSecretInOutputTests {
    @Test func aURLWithCredentialsIsRefusedWithoutShowingThem() async throws {
        let h = Harness()
        let error = try #require(await managerError {
            try await h.manager.createRoute(chatProd, url: "http://admin:hunter2@chat-service:4002/")
        })
        #expect(error.code == .invalidInput)
        #expect(error.validationError?.rule == .userInfoNotAllowed)
        let configurations: [Any] = [h.configuration, CircuitBreaker.Configuration(), OutboxRelay.Configuration()]
        #expect(SecretScan.leaks(of: ["hunter2", "admin:"], in: [error] + configurations) == [])
        #expect(h.logs.entries.allSatisfy { !"\($0.message) \($0.metadata)".contains("hunter2") })
    }

    @Test func errorsWrappingOtherErrorsShowOnlyTheirFields() {
        struct Wrapped: Error, CustomStringConvertible { var description: String { "disk on fire" } }
        let errors: [TrafficManagerError] = [
            .storeUnavailable("looking up a route failed", sqlState: "08006", route: chatProd, underlying: Wrapped()),
            .writeFailed("constraint", sqlState: "23505", underlying: Wrapped()),
            .outcomeUnknown("the connection dropped after the write was sent"),
            .deadlineExceeded("a lookup", deadline: .milliseconds(250)), .notRunning("the store"),
            .idempotencyConflict(key: "deploy-7"), .cacheUnavailable("down"), .eventsUnavailable("down"),
            .routeNotFound(chatProd), .invalidInput(ValidationError(field: .url, rule: .userInfoNotAllowed)),
        ]
        for error in errors {
            let renderings = SecretScan.renderings(of: error)
            #expect(renderings.count == 6)
            #expect(renderings.allSatisfy { $0.text.contains(error.code.description) || $0.way == "description" || $0.way == "String(describing:)" })
        }
        #expect(errors[0].description.hasSuffix("[SQLSTATE 08006]"))
        #expect(String(reflecting: errors[0]).contains("underlying: disk on fire"))
    }

    @Test func theScanFindsASecretThatDoesShow() {
        struct Leaky { var password = "hunter2" }
        let leaks = SecretScan.leaks(of: ["hunter2"], in: [Leaky()])
        // dump, String(reflecting:), the Mirror walk and both log renderings show it.
        #expect(leaks.count >= 4)
    }
}
