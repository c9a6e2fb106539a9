/// A contract check that did not hold.
public struct ContractFailure: Error, CustomStringConvertible, Sendable {
    /// The check's name.
    public var check: String
    /// What went wrong.
    public var message: String

    public var description: String { "\(check): \(message)" }
}

/// The failures of a contract run, all of them.
public struct ContractViolations: Error, CustomStringConvertible, Sendable {
    /// The contract's name.
    public var contract: String
    /// Every check that failed.
    public var failures: [ContractFailure]

    public var description: String {
        "\(contract) violated by \(failures.count) check(s):\n" + failures.map { "  - \($0)" }.joined(separator: "\n")
    }
}

/// A named check of a contract.
public struct ContractCheck: Sendable {
    /// The check's name, a sentence about the behaviour.
    public let name: String
    let body: @Sendable () async throws -> Void
}

/// Runs `checks`, collecting every failure; throws ``ContractViolations`` when any failed.
func runChecks(_ checks: [ContractCheck], contract: String) async throws {
    var failures: [ContractFailure] = []
    for check in checks {
        do {
            try await check.body()
        } catch let failure as ContractFailure {
            failures.append(ContractFailure(check: check.name, message: failure.message))
        } catch {
            failures.append(ContractFailure(check: check.name, message: "threw \(error)"))
        }
    }
    if !failures.isEmpty { throw ContractViolations(contract: contract, failures: failures) }
}

/// Fails the current check with `message` unless `condition` holds.
func expect(
    _ condition: @autoclosure () throws -> Bool, _ message: @autoclosure () -> String, check: String
) throws {
    guard try condition() else { throw ContractFailure(check: check, message: message()) }
}

/// Returns the error `body` throws, failing the check when it throws none.
func expectError<T>(check: String, _ body: () async throws -> T) async throws -> any Error {
    do {
        let value = try await body()
        throw ContractFailure(check: check, message: "expected an error, got \(value)")
    } catch let failure as ContractFailure {
        throw failure
    } catch {
        return error
    }
}
