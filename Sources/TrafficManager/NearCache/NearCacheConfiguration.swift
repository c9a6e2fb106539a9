/// How the in-process near cache in front of the shared cache behaves
/// (``TrafficManagerConfiguration/nearCache``).
///
/// The near cache answers a resolve from memory, without a round trip, while it can prove it is
/// not behind: its ``RouteChangeFeed`` reports, by watermark probes or heartbeats, that every
/// change published up to some instant has reached it. An entry is served only
///
/// - while that proof is at most ``maxLag`` old, or
/// - while the entry itself is younger than ``unprovenTTL``,
///
/// and never past its own TTL. So a near-cache answer misses at most the changes published in
/// the last ``maxLag`` (plus the time the change took to reach the event stream), or, with the
/// stream cut, answers what the shared cache held at most ``unprovenTTL`` ago.
public struct NearCacheConfiguration: Sendable, Hashable {
    /// The most routes held; SIEVE evicts beyond it. Default 100,000.
    public var capacity: Int
    /// How old the feed's latest proof of being caught up may be while entries are served.
    /// Default 1 s.
    public var maxLag: Duration
    /// How long after it was stored an entry may be served without a recent proof. Default
    /// 250 ms.
    public var unprovenTTL: Duration
    /// How many locks the entries are split over (a power of two). Default 16.
    public var shards: Int
    /// XFetch's β (probabilistic early expiration, Vattani et al., VLDB 2015): a hit on an
    /// entry close to its expiry refreshes it in the background with a probability that grows
    /// as expiry nears, sooner for entries that cost more to fetch (δ) and for larger β — so a
    /// hot route is refreshed before it expires instead of missing, one refresh per route at a
    /// time. Default 1; 0 turns early refresh off.
    public var earlyRefresh: Double

    /// Creates a configuration.
    public init(
        capacity: Int = 100_000, maxLag: Duration = .seconds(1), unprovenTTL: Duration = .milliseconds(250),
        shards: Int = 16, earlyRefresh: Double = 1
    ) {
        self.earlyRefresh = max(0, earlyRefresh)
        self.capacity = capacity
        self.maxLag = maxLag
        self.unprovenTTL = unprovenTTL
        self.shards = shards
    }
}
