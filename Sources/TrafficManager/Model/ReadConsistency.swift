/// How fresh a resolve's answer must be: ``default`` lets the near cache answer within its
/// bound, ``strong`` does not.
///
/// A struct rather than an enum, so that a release can add a level without breaking an
/// exhaustive `switch`.
public struct ReadConsistency: Hashable, Sendable {
    private let bypassesNearCache: Bool

    /// The near cache may answer, within ``NearCacheConfiguration/maxLag`` of the change feed
    /// (see ``NearCacheConfiguration``); otherwise the shared cache or the store.
    public static var `default`: ReadConsistency { ReadConsistency(bypassesNearCache: false) }

    /// The near cache is bypassed: the shared cache (coherent with every finished write) or
    /// the store answers. The answer still refreshes the near cache.
    public static var strong: ReadConsistency { ReadConsistency(bypassesNearCache: true) }

    @usableFromInline var usesNearCache: Bool { !bypassesNearCache }
}
