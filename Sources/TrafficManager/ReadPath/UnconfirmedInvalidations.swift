import Synchronization

/// Writes this process made whose invalidation did not reach the cache, so the read path
/// knows a revision the cache may not: a cached entry or a store answer older than it is not
/// served.
///
/// Empty while the cache answers, and then the read path pays one relaxed atomic load. An
/// entry lasts until a fill at its revision or newer reaches the cache, or until any entry
/// cached before the write must have expired (the longer of the two TTLs + the fill window).
final class UnconfirmedInvalidations: Sendable {
    private struct Entry {
        var revision: UInt64
        var expiresAt: Duration
    }

    /// The most routes remembered; past it the oldest entries are dropped first.
    let capacity: Int
    private let time: any TimeSource
    private let count = Atomic<Int>(0)
    private let entries = Locked<[RouteID: Entry]>([:])

    init(capacity: Int = 100_000, time: any TimeSource) {
        self.capacity = capacity
        self.time = time
    }

    /// Remembers that `route` is at `revision` or newer for `lifetime`.
    func record(_ route: RouteID, revision: UInt64, lifetime: Duration) {
        let now = time.monotonicNow()
        entries.withLock { entries in
            if let current = entries[route], current.revision > revision { return }
            entries[route] = Entry(revision: revision, expiresAt: now + lifetime)
            if entries.count > capacity {
                // Rare (the cache has been failing for a long while): drop the expired and,
                // if that is not enough, the oldest tenth at once, so this runs seldom.
                entries = entries.filter { $0.value.expiresAt > now }
                if entries.count > capacity {
                    let keep = capacity - capacity / 10
                    let newest = entries.sorted { $0.value.expiresAt > $1.value.expiresAt }.prefix(keep)
                    entries = Dictionary(uniqueKeysWithValues: newest.map { ($0.key, $0.value) })
                }
            }
            count.store(entries.count, ordering: .relaxed)
        }
    }

    /// The newest revision this process wrote for `route` that the cache has not confirmed.
    func floor(_ route: RouteID) -> UInt64? {
        guard count.load(ordering: .relaxed) > 0 else { return nil }
        let now = time.monotonicNow()
        return entries.withLock { entries in
            guard let entry = entries[route] else { return nil }
            guard entry.expiresAt > now else {
                entries[route] = nil
                count.store(entries.count, ordering: .relaxed)
                return nil
            }
            return entry.revision
        }
    }

    /// The cache now holds `route` at `revision`: forgets an entry that is not newer.
    func confirm(_ route: RouteID, revision: UInt64) {
        guard count.load(ordering: .relaxed) > 0 else { return }
        entries.withLock { entries in
            guard let entry = entries[route], entry.revision <= revision else { return }
            entries[route] = nil
            count.store(entries.count, ordering: .relaxed)
        }
    }

    /// Routes remembered now.
    var routeCount: Int { count.load(ordering: .relaxed) }
}
