/// A ``SieveCache`` split into shards, each under a lock of its own, so that concurrent hits on
/// different routes rarely meet: no lock is global. The bound is per shard (`capacity / shards`,
/// rounded up), so the whole holds at most `capacity` rounded up to a multiple of the shard count.
final class ShardedSieveCache<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private let shards: [Locked<SieveCache<Key, Value>>]
    private let mask: Int

    /// - Parameters:
    ///   - capacity: the most entries held in all.
    ///   - shards: how many locks; rounded up to a power of two.
    init(capacity: Int, shards: Int = 16) {
        var count = 1
        while count < max(1, min(shards, capacity)) { count <<= 1 }
        let each = (capacity + count - 1) / count
        self.shards = (0..<count).map { _ in Locked(SieveCache<Key, Value>(capacity: each)) }
        mask = count - 1
    }

    private func shard(_ key: Key) -> Locked<SieveCache<Key, Value>> {
        shards[key.hashValue & mask]
    }

    func get(_ key: Key) -> Value? { shard(key).withLock { $0.get(key) } }

    func set(_ key: Key, _ value: Value) { shard(key).withLock { _ = $0.set(key, value) } }

    /// Stores the result of `update` on the current value (`nil` when absent), all under the
    /// shard's lock; `nil` from `update` removes the entry.
    func update(_ key: Key, _ update: (Value?) -> Value?) {
        shard(key).withLock { cache in
            if let value = update(cache.peek(key)) { cache.set(key, value) } else { cache.remove(key) }
        }
    }

    func remove(_ key: Key) { shard(key).withLock { _ = $0.remove(key) } }

    func removeAll() { for shard in shards { shard.withLock { $0.removeAll() } } }

    var count: Int { shards.reduce(0) { total, shard in total + shard.withLock { $0.count } } }

    var evictions: Int { shards.reduce(0) { total, shard in total + shard.withLock { $0.evictions } } }
}
