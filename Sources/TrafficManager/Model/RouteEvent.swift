import Foundation

/// A change to a route, published after the change commits.
///
/// Consumers see each event at least once; ``revision`` lets them ignore an event older than
/// what they already know.
public struct RouteEvent: Hashable, Sendable, Codable {
    /// Unique per change; a redelivered event carries the same id.
    public var eventID: UUID
    /// What happened.
    public var action: RouteAction
    /// The route that changed.
    public var route: RouteID
    /// The route's URL after the change.
    public var url: String
    /// The route's revision after the change.
    public var revision: UInt64
    /// When the change committed.
    public var occurredAt: Date

    /// Creates an event.
    public init(eventID: UUID, action: RouteAction, route: RouteID, url: String, revision: UInt64, occurredAt: Date) {
        self.eventID = eventID
        self.action = action
        self.route = route
        self.url = url
        self.revision = revision
        self.occurredAt = occurredAt
    }

    /// The version of the JSON layout written by ``encoded()``.
    public static let schemaVersion = 1

    private enum CodingKeys: String, CodingKey {
        case schemaVersion = "schema_version"
        case eventID = "event_id"
        case action, tenant, service, env, version, url, revision
        case occurredAt = "occurred_at"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let schema = try container.decode(Int.self, forKey: .schemaVersion)
        guard schema == Self.schemaVersion else {
            throw DecodingError.dataCorruptedError(
                forKey: .schemaVersion, in: container,
                debugDescription: "unsupported route event schema version \(schema)")
        }
        eventID = try container.decode(UUID.self, forKey: .eventID)
        action = try container.decode(RouteAction.self, forKey: .action)
        do {
            route = try RouteID(
                tenant: container.decode(String.self, forKey: .tenant),
                service: container.decode(String.self, forKey: .service),
                environment: container.decode(String.self, forKey: .env),
                version: container.decode(String.self, forKey: .version))
        } catch let error as ValidationError {
            throw DecodingError.dataCorruptedError(forKey: .tenant, in: container, debugDescription: error.description)
        }
        url = try container.decode(String.self, forKey: .url)
        revision = try container.decode(UInt64.self, forKey: .revision)
        occurredAt = Date(unixMilliseconds: try container.decode(Int64.self, forKey: .occurredAt))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(Self.schemaVersion, forKey: .schemaVersion)
        try container.encode(eventID, forKey: .eventID)
        try container.encode(action, forKey: .action)
        try container.encode(route.tenant, forKey: .tenant)
        try container.encode(route.service, forKey: .service)
        try container.encode(route.environment, forKey: .env)
        try container.encode(route.version, forKey: .version)
        try container.encode(url, forKey: .url)
        try container.encode(revision, forKey: .revision)
        try container.encode(occurredAt.unixMilliseconds, forKey: .occurredAt)
    }

    /// The event as versioned JSON (`schema_version` 1; `occurred_at` in Unix milliseconds).
    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try encoder.encode(self)
    }

    /// Decodes an event written by ``encoded()``.
    public static func decode(_ data: Data) throws -> RouteEvent {
        try JSONDecoder().decode(RouteEvent.self, from: data)
    }
}
