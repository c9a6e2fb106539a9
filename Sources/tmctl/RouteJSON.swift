import Foundation
import TrafficManager

/// The JSON tmctl prints with `--json` (schema in Docs/tmctl.md). Field names are snake_case;
/// times are RFC 3339 in UTC with milliseconds; a later version only adds fields.
enum RouteJSON {
    /// One stored route.
    struct Record: Codable, Equatable {
        var tenant: String
        var service: String
        var environment: String
        var version: String
        var url: String
        var active: Bool
        var revision: UInt64
        var createdAt: String
        var updatedAt: String

        init(_ endpoint: RouteEndpoint) {
            tenant = endpoint.route.tenant
            service = endpoint.route.service
            environment = endpoint.route.environment
            version = endpoint.route.version
            url = endpoint.url
            active = endpoint.isActive
            revision = endpoint.revision
            createdAt = RouteJSON.timestamp(endpoint.createdAt)
            updatedAt = RouteJSON.timestamp(endpoint.updatedAt)
        }
    }

    /// `routes list --json`.
    struct Page: Encodable {
        var schemaVersion = 1
        var routes: [Record]
        /// Pass as `--after` for the next page; `null` on the last.
        var nextCursor: String?

        enum CodingKeys: String, CodingKey {
            case schemaVersion, routes, nextCursor
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(schemaVersion, forKey: .schemaVersion)
            try container.encode(routes, forKey: .routes)
            try container.encode(nextCursor, forKey: .nextCursor)  // null on the last page, not absent
        }
    }

    /// The result of `routes create | activate | deactivate --json`.
    struct Write: Codable {
        var schemaVersion = 1
        var route: Record
        /// `created`, `updated`, `activated`, `deactivated` or `unchanged`.
        var change: String
        var replayed: Bool
    }

    /// `resolve --json`.
    struct Resolution: Codable {
        var schemaVersion = 1
        var route: String
        var url: String
        /// With `--explain`.
        var revision: UInt64?
        /// With `--explain`: `shared` or `store`.
        var source: String?
        /// With `--explain`: how long ago the answer was read from the store, in milliseconds
        /// (0 for an answer read just now; an entry of the old cache format says nothing, and
        /// reads as 0 too).
        var ageMs: Int64?
    }

    /// One line of `events tail --json`.
    struct Event: Codable {
        var eventId: String
        var action: String
        var route: String
        var url: String
        var revision: UInt64
        var occurredAt: String
    }

    static func encode(_ value: some Encodable, pretty: Bool = false) -> String {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(value)) ?? Data("{}".utf8), as: UTF8.self)
    }

    /// `2026-05-28T20:26:40.001Z`: whole milliseconds, rounded (a `Date`'s double may sit just
    /// below the millisecond it was made from).
    static func timestamp(_ date: Date) -> String {
        let milliseconds = date.unixMilliseconds
        let (seconds, fraction) = milliseconds.quotientAndRemainder(dividingBy: 1000)
        let (wholeSeconds, remainder) = fraction < 0 ? (seconds - 1, fraction + 1000) : (seconds, fraction)
        let base = Date(timeIntervalSince1970: TimeInterval(wholeSeconds)).formatted(Date.ISO8601FormatStyle(timeZone: .gmt))
        let digits = String(remainder)
        return base.dropLast() + "." + String(repeating: "0", count: 3 - digits.count) + digits + "Z"
    }
}
