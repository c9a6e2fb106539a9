import Foundation

/// A change to a route, published after the change commits.
///
/// Consumers see each event at least once; ``revision`` lets them ignore an event older than
/// what they already know.
///
/// The JSON layout is versioned (`schema_version`). Readers are tolerant, so producers can be
/// upgraded one at a time: unknown fields are ignored, and an event of a newer version that
/// carries an event id, the route and its revision is read — its action and URL as far as this
/// version understands them (an unknown action reads as `updated`, a missing URL as empty) —
/// so it still invalidates. ``schemaVersion`` tells which version wrote it.
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
    /// The layout version the event was written in; ``schemaVersion`` for events made here.
    public var writtenSchemaVersion: Int

    /// Creates an event.
    public init(eventID: UUID, action: RouteAction, route: RouteID, url: String, revision: UInt64, occurredAt: Date) {
        self.eventID = eventID
        self.action = action
        self.route = route
        self.url = url
        self.revision = revision
        self.occurredAt = occurredAt
        self.writtenSchemaVersion = Self.schemaVersion
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
        let schema = try Self.field("schema_version") { try container.decode(Int.self, forKey: .schemaVersion) }
        guard schema >= 1 else {
            throw RouteEventDecodingError(kind: "unsupported schema version \(schema)", detail: "schema_version must be 1 or more")
        }
        let newer = schema > Self.schemaVersion
        writtenSchemaVersion = schema
        eventID = try Self.field("event_id") { try container.decode(UUID.self, forKey: .eventID) }
        do {
            route = try Self.field("route") {
                try RouteID(
                    tenant: container.decode(String.self, forKey: .tenant),
                    service: container.decode(String.self, forKey: .service),
                    environment: container.decode(String.self, forKey: .env),
                    version: container.decode(String.self, forKey: .version))
            }
        } catch let error as ValidationError {
            throw RouteEventDecodingError(kind: "invalid route name", detail: error.description)
        }
        revision = try Self.field("revision") { try container.decode(UInt64.self, forKey: .revision) }
        if newer {
            // What a newer layout may have changed is read as far as it can be.
            let name: String? = try? container.decodeIfPresent(String.self, forKey: .action)
            action = name.flatMap(RouteAction.init(rawValue:)) ?? .updated
            let text: String? = try? container.decodeIfPresent(String.self, forKey: .url)
            url = text ?? ""
            let milliseconds: Int64? = try? container.decodeIfPresent(Int64.self, forKey: .occurredAt)
            occurredAt = Date(unixMilliseconds: milliseconds ?? 0)
        } else {
            action = try Self.field("action") { try container.decode(RouteAction.self, forKey: .action) }
            url = try Self.field("url") { try container.decode(String.self, forKey: .url) }
            occurredAt = Date(unixMilliseconds: try Self.field("occurred_at") { try container.decode(Int64.self, forKey: .occurredAt) })
        }
    }

    /// Runs `body`, turning a decoding error into one that names `field`.
    private static func field<T>(_ field: String, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as DecodingError {
            switch error {
            case .keyNotFound: throw RouteEventDecodingError(kind: "missing \(field)", detail: "the event has no \(field)")
            case .valueNotFound: throw RouteEventDecodingError(kind: "missing \(field)", detail: "\(field) is null")
            case .typeMismatch, .dataCorrupted: throw RouteEventDecodingError(kind: "invalid \(field)", detail: "\(field) has the wrong type or value")
            @unknown default: throw RouteEventDecodingError(kind: "invalid \(field)", detail: "\(error)")
            }
        }
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
        Data(RouteEventJSON.encode(self))
    }

    /// The same bytes as ``encoded()``, through `JSONEncoder`: the reference the fast writer is
    /// tested against.
    package func encodedByFoundation() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try encoder.encode(self)
    }

    /// Decodes an event written by ``encoded()`` in this or a newer layout version.
    ///
    /// - Throws: ``RouteEventDecodingError`` naming what is wrong: not JSON, an unsupported
    ///   schema version, a missing or invalid field.
    public static func decode(_ data: Data) throws(RouteEventDecodingError) -> RouteEvent {
        if let event = data.withUnsafeBytes({ RouteEventJSON.decode($0) }) { return event }
        return try decodeByFoundation(data)
    }

    /// What ``decode(_:)`` answers, through `JSONDecoder` alone: the reference the fast reader
    /// is tested against, and the path for everything the fast reader leaves.
    package static func decodeByFoundation(_ data: Data) throws(RouteEventDecodingError) -> RouteEvent {
        do {
            return try JSONDecoder().decode(RouteEvent.self, from: data)
        } catch let error as RouteEventDecodingError {
            throw error
        } catch {
            throw RouteEventDecodingError(kind: "not a JSON object", detail: "\(data.count) bytes that are not a JSON object")
        }
    }
}
