import Synchronization

/// The in-process cache in front of the shared cache: a bounded map of routes to their last
/// known answer, kept coherent by the same revision rules as the shared cache and fed by every
/// change the ``RouteChangeFeed`` delivers.
///
/// - Entries carry revisions. A change, the process's own write or a failed write's
///   reconciliation only ever moves an entry to a newer revision; a fill is refused when the
///   entry already speaks for a newer one.
/// - An entry is served only while the feed's latest proof of being caught up is at most
///   ``NearCacheConfiguration/maxLag`` old, or while the entry is younger than
///   ``NearCacheConfiguration/unprovenTTL`` — never past its own TTL.
/// - Entries are split over shards, each under its own lock; a hit takes one shard's lock for
///   a hash lookup and the setting of a bit (SIEVE), and allocates nothing.
final class NearCache: Sendable {
    /// What is held for one route.
    struct Entry: Sendable {
        enum Kind: UInt8, Sendable { case endpoint, notFound, tombstone }
        // Fields in this order, the byte last, so that a node packs into 128 bytes.
        /// The URL; empty unless `kind` is `.endpoint`.
        var url: String
        var revision: UInt64
        /// Past this it is not served (monotonic nanoseconds).
        var expiresAt: Int64
        /// When the answer was read from the store, or written, or the change published
        /// (monotonic nanoseconds, this process's clock): its age, and what
        /// ``NearCacheConfiguration/unprovenTTL`` is measured from.
        var readAt: Int64
        var kind: Kind
        /// What the answer cost to fetch, in microseconds (at most 65,535): XFetch's δ, how
        /// long before expiry a hit may refresh it.
        var cost: UInt16 = 0
    }

    /// A lookup's outcome.
    enum Lookup {
        /// Servable now.
        case fresh(Entry)
        /// Held but not servable now (expired, or stored too long ago without a proof); its
        /// revision is still a lower bound of the route's.
        case held(Entry)
        /// Nothing held.
        case absent
    }

    private struct Shard {
        var entries: SieveCache<NearCacheKey, Entry>
    }

    /// One copy of each tenant, service and environment name, so that the routes sharing one
    /// share its storage. Starts over when it outgrows three names per entry.
    private let names: Locked<NearCacheNames>

    let configuration: NearCacheConfiguration
    private let shards: [Locked<Shard>]
    private let mask: Int
    private let maxLag: Int64
    private let unprovenTTL: Int64
    /// The instant (monotonic nanoseconds) up to which the feed proved it delivered every change.
    private let provenAt = Atomic<Int64>(NearCache.never)
    /// "No proof yet": far enough in the past that `now - never` cannot overflow.
    private static let never: Int64 = -(1 << 62)
    /// Bumped whenever the feed starts over; a fill begun under an older epoch is refused.
    private let epochs = Atomic<UInt64>(0)

    init(configuration: NearCacheConfiguration) {
        self.configuration = configuration
        var count = 1
        let capacity = max(1, configuration.capacity)
        while count < max(1, min(configuration.shards, capacity)) { count <<= 1 }
        let each = (capacity + count - 1) / count
        shards = (0..<count).map { _ in Locked(Shard(entries: SieveCache(capacity: each))) }
        names = Locked(NearCacheNames(bound: capacity * 3 + 64))
        mask = count - 1
        maxLag = configuration.maxLag.wholeNanoseconds
        unprovenTTL = configuration.unprovenTTL.wholeNanoseconds
    }

    /// The shard for a key's hash: from its high bits, since the shard's own index uses the low.
    @inline(__always)
    private func shard(_ hash: Int) -> Locked<Shard> { shards[(hash >> 48) & mask] }

    /// The entry for `route` and whether it may be served at `now`.
    @inline(__always)
    func lookup(_ route: RouteID, now: Int64) -> Lookup {
        let hash = route.hashValue
        guard let entry = shard(hash).withLock({ $0.entries.get(hash: hash) { $0.matches(route) } }) else { return .absent }
        guard entry.kind != .tombstone, now < entry.expiresAt,
            now &- provenAt.load(ordering: .relaxed) <= maxLag || now &- entry.readAt <= unprovenTTL
        else { return .held(entry) }
        return .fresh(entry)
    }

    /// Whether the feed's latest proof is recent enough at `now` for entries to be served.
    func isProven(at now: Int64) -> Bool { now &- provenAt.load(ordering: .relaxed) <= maxLag }

    /// How old the feed's latest proof is at `now`; `nil` before the first.
    func proofAge(at now: Int64) -> Int64? {
        let proven = provenAt.load(ordering: .relaxed)
        return proven == Self.never ? nil : now &- proven
    }

    /// The epoch a fill must carry to be accepted.
    var epoch: UInt64 { epochs.load(ordering: .acquiring) }

    /// Stores `entry` unless the route holds a newer revision, or the feed started over since
    /// `epoch` was read. `true` when stored.
    @discardableResult
    func fill(_ route: RouteID, with entry: Entry, epoch: UInt64) -> Bool {
        let key = names.withLock { $0.key(for: route) }
        let hash = route.hashValue
        return shard(hash).withLock { shard in
            // Under the shard's lock, so a restart's clearing cannot pass between check and set.
            guard epoch == epochs.load(ordering: .acquiring) else { return false }
            if let current = shard.entries.peek(hash: hash, { $0.matches(route) }), current.revision > entry.revision { return false }
            shard.entries.set(key, entry, hash: hash) { $0.matches(route) }
            return true
        }
    }

    /// Moves `route` to `entry`'s revision unless it holds that revision or a newer one: a
    /// change delivered by the feed, or this process's own write.
    func advance(_ route: RouteID, to entry: Entry) {
        let key = names.withLock { $0.key(for: route) }
        let hash = route.hashValue
        shard(hash).withLock { shard in
            if let current = shard.entries.peek(hash: hash, { $0.matches(route) }), current.revision >= entry.revision { return }
            shard.entries.set(key, entry, hash: hash) { $0.matches(route) }
        }
    }

    /// Forgets `route` (a write whose outcome is unknown: nothing held may be served until it
    /// is read again).
    func remove(_ route: RouteID) {
        let hash = route.hashValue
        shard(hash).withLock { _ = $0.entries.remove(hash: hash) { $0.matches(route) } }
    }

    /// Records that every change published up to `instant` has been applied.
    func proven(upTo instant: Int64) {
        var current = provenAt.load(ordering: .relaxed)
        while current < instant {
            let (exchanged, original) = provenAt.compareExchange(expected: current, desired: instant, ordering: .relaxed)
            if exchanged { return }
            current = original
        }
    }

    /// Drops every entry and every proof: the feed starts over, and what it missed meanwhile
    /// is unknown. Fills begun before are refused.
    func reset() {
        epochs.add(1, ordering: .releasing)
        provenAt.store(Self.never, ordering: .relaxed)
        for shard in shards { shard.withLock { $0.entries.removeAll() } }
    }

    /// How many routes are held.
    var count: Int { shards.reduce(0) { total, shard in total + shard.withLock { $0.entries.count } } }

    /// How many entries were evicted to make room, since creation.
    var evictions: Int { shards.reduce(0) { total, shard in total + shard.withLock { $0.entries.evictions } } }
}
