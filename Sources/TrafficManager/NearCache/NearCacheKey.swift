import Foundation

/// How the near cache stores a route's identity: 64 bytes in the node, and no allocation of
/// its own for a version of up to 31 bytes.
///
/// - Tenant, service and environment are references to names interned once per cache
///   (``NearCacheKey/Name``), 8 bytes each: the routes that share a name share its storage.
/// - The version's bytes sit inline when there are at most 31 of them. A longer one (up to
///   the 64 a version may have) is kept in a ``Name`` of its own.
///
/// A `RouteID` holds four strings (64 bytes) and, for a version over 15 bytes, a 64-byte heap
/// string besides: with versions all different, this layout saves that allocation, which was a
/// fifth of an entry's memory.
///
/// Lookups do not build a key: ``matches(_:)`` compares one with a `RouteID` directly, and the
/// cache hashes the `RouteID` (``SieveCache`` stores the hash), so a hit allocates nothing.
struct NearCacheKey: Hashable, Sendable {
    /// A name kept once per cache and shared by every key that holds it.
    final class Name: Sendable {
        let text: String
        init(_ text: String) { self.text = text }
    }

    let tenant: Name
    let service: Name
    let environment: Name
    /// A version of at most ``inlineCapacity`` bytes, its length in the last byte; all zero
    /// when the version is in `longVersion`.
    private let inline: (UInt64, UInt64, UInt64, UInt64)
    private let longVersion: Name?

    /// The longest version stored inline.
    static let inlineCapacity = 31

    /// The key for `route`, with names already interned.
    init(_ route: RouteID, tenant: Name, service: Name, environment: Name) {
        self.tenant = tenant
        self.service = service
        self.environment = environment
        var bytes: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        var version = route.version
        let count = version.utf8.count
        if count <= Self.inlineCapacity {
            version.withUTF8 { source in
                withUnsafeMutableBytes(of: &bytes) { target in
                    target.copyMemory(from: UnsafeRawBufferPointer(source))
                    target[31] = UInt8(count)
                }
            }
            longVersion = nil
        } else {
            longVersion = Name(route.version)
        }
        inline = bytes
    }

    /// Whether this is `route`'s key.
    @inline(__always)
    func matches(_ route: RouteID) -> Bool {
        guard tenant.text == route.tenant, service.text == route.service, environment.text == route.environment else { return false }
        if let longVersion { return longVersion.text == route.version }
        return withUnsafeBytes(of: inline) { stored in
            let count = Int(stored[31])
            return route.version.utf8.withContiguousStorageIfAvailable { given in
                given.count == count && (count == 0 || memcmp(given.baseAddress!, stored.baseAddress!, count) == 0)
            } ?? (Array(route.version.utf8) == Array(stored.prefix(count)))
        }
    }

    /// The version, as a string.
    var version: String {
        if let longVersion { return longVersion.text }
        return withUnsafeBytes(of: inline) { stored in
            String(decoding: stored.prefix(Int(stored[31])), as: UTF8.self)
        }
    }

    /// The route this is the key of.
    var route: RouteID {
        RouteID(validTenant: tenant.text, service: service.text, environment: environment.text, version: version)
    }

    static func == (left: Self, right: Self) -> Bool { left.route == right.route }

    /// Hashes as the route does, so a key and its route find the same slot.
    func hash(into hasher: inout Hasher) { route.hash(into: &hasher) }
}

/// One ``NearCacheKey/Name`` per tenant, service and environment name in a cache.
struct NearCacheNames {
    private var kept: [String: NearCacheKey.Name] = [:]
    /// Past this many names, the table starts over (keys already made keep their names).
    let bound: Int

    init(bound: Int) { self.bound = bound }

    /// The key for `route`, its names interned.
    mutating func key(for route: RouteID) -> NearCacheKey {
        if kept.count > bound { kept.removeAll(keepingCapacity: true) }
        return NearCacheKey(
            route, tenant: intern(route.tenant), service: intern(route.service), environment: intern(route.environment))
    }

    private mutating func intern(_ name: String) -> NearCacheKey.Name {
        if let kept = kept[name] { return kept }
        let made = NearCacheKey.Name(name)
        kept[name] = made
        return made
    }
}
