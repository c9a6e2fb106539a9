import TrafficManager

/// Route names unique to one test run, so that checks against a shared real server never see
/// each other's data.
public enum UniqueNames {
    /// A valid tenant name that no other call returns: `prefix` plus random hex.
    public static func tenant(_ prefix: String = "t") -> String {
        "\(prefix)-\(String(UInt64.random(in: 0...UInt64.max), radix: 16))"
    }

    /// A route under a fresh tenant.
    public static func route(
        service: String = "chat", environment: String = "prod", version: String = "v1"
    ) throws -> RouteID {
        try RouteID(tenant: tenant(), service: service, environment: environment, version: version)
    }
}
