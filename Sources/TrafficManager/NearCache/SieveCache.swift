/// A map of at most `capacity` entries that evicts by SIEVE (Zhang et al., "SIEVE is Simpler
/// than LRU", NSDI 2024) — the near cache's eviction, chosen by the measurement in
/// `EvictionStudyTests` (Docs/Performance.md): on a Zipf trace it keeps more hits than LRU at
/// every size measured, and a hit only sets a bit, where LRU moves the entry.
///
/// Entries sit in one queue, newest at the head. A hit marks its entry visited. To make room, a
/// hand walks from where it stopped last (the tail at first) towards the head, clearing visited
/// marks, and evicts the first entry it finds unmarked; new entries go in at the head.
///
/// Storage: the entries live in one array of nodes, each with its key's hash; the index is an
/// open-addressing table of node numbers (linear probing, at most half full, deletion by
/// backward shift). Each key is stored once — in its node — so an entry costs its node and two
/// 4-byte index slots, and a lookup allocates nothing.
///
/// Not thread-safe by itself: ``ShardedSieveCache`` and ``NearCache`` put each shard under its
/// own lock.
struct SieveCache<Key: Hashable, Value> {
    private struct Node {
        var key: Key
        var value: Value
        /// The low 32 bits of the key's hash: enough to find its home slot and to skip most
        /// unequal keys without comparing them.
        var hash: UInt32
        var visited: Bool
        /// Towards the head (newer), -1 for none.
        var newer: Int32
        /// Towards the tail (older), -1 for none.
        var older: Int32
    }

    let capacity: Int
    private var nodes: [Node] = []
    private var free: [Int32] = []
    /// Node numbers by hash, -1 for an empty slot; its size a power of two ≥ 2 × capacity.
    private var index: [Int32]
    private let mask: Int
    private(set) var count = 0
    private var head: Int32 = -1
    private var tail: Int32 = -1
    private var hand: Int32 = -1
    /// Entries evicted to make room, since creation.
    private(set) var evictions = 0

    init(capacity: Int) {
        precondition(capacity > 0, "a SIEVE cache holds at least one entry")
        self.capacity = capacity
        var size = 4
        while size < capacity * 2 { size <<= 1 }
        index = [Int32](repeating: -1, count: size)
        mask = size - 1
        // Virtual memory only until used: pages are touched as entries arrive.
        nodes.reserveCapacity(capacity)
    }

    /// The index slot holding `key`'s node, or the empty slot where it would go.
    @inline(__always)
    private func slot(of key: Key, hash: UInt32) -> (slot: Int, node: Int32) {
        var slot = Int(hash) & mask
        while true {
            let node = index[slot]
            if node < 0 { return (slot, -1) }
            if nodes[Int(node)].hash == hash && nodes[Int(node)].key == key { return (slot, node) }
            slot = (slot + 1) & mask
        }
    }

    /// The value for `key`, marking it visited.
    mutating func get(_ key: Key) -> Value? { get(key, hash: key.hashValue) }

    /// As ``get(_:)``, with the key's `hashValue` computed already.
    @inline(__always)
    mutating func get(_ key: Key, hash: Int) -> Value? {
        let found = slot(of: key, hash: UInt32(truncatingIfNeeded: hash)).node
        guard found >= 0 else { return nil }
        nodes[Int(found)].visited = true
        return nodes[Int(found)].value
    }

    /// The value for `key` without marking it (for inspection and conditional updates).
    func peek(_ key: Key) -> Value? { peek(key, hash: key.hashValue) }

    /// As ``peek(_:)``, with the key's `hashValue` computed already.
    func peek(_ key: Key, hash: Int) -> Value? {
        let found = slot(of: key, hash: UInt32(truncatingIfNeeded: hash)).node
        return found >= 0 ? nodes[Int(found)].value : nil
    }

    /// Stores `value` under `key`: in place when present (its mark kept), else at the head,
    /// evicting one entry first when full. Returns the evicted key, if any.
    @discardableResult
    mutating func set(_ key: Key, _ value: Value) -> Key? { set(key, value, hash: key.hashValue) }

    /// As ``set(_:_:)``, with the key's `hashValue` computed already.
    @discardableResult
    mutating func set(_ key: Key, _ value: Value, hash fullHash: Int) -> Key? {
        let hash = UInt32(truncatingIfNeeded: fullHash)
        var (place, found) = slot(of: key, hash: hash)
        if found >= 0 {
            nodes[Int(found)].value = value
            return nil
        }
        var evicted: Key?
        if count >= capacity {
            evicted = evict()
            // The eviction may have shifted slots: look again.
            place = slot(of: key, hash: hash).slot
        }
        let node = Node(key: key, value: value, hash: hash, visited: false, newer: -1, older: head)
        let number: Int32
        if let reused = free.popLast() {
            number = reused
            nodes[Int(number)] = node
        } else {
            number = Int32(nodes.count)
            nodes.append(node)
        }
        if head >= 0 { nodes[Int(head)].newer = number }
        head = number
        if tail < 0 { tail = number }
        index[place] = number
        count += 1
        return evicted
    }

    /// Removes `key`; returns its value.
    @discardableResult
    mutating func remove(_ key: Key) -> Value? { remove(key, hash: key.hashValue) }

    /// As ``remove(_:)``, with the key's `hashValue` computed already.
    @discardableResult
    mutating func remove(_ key: Key, hash: Int) -> Value? {
        let (place, found) = slot(of: key, hash: UInt32(truncatingIfNeeded: hash))
        guard found >= 0 else { return nil }
        let value = nodes[Int(found)].value
        unindex(place)
        unlink(found)
        return value
    }

    /// Removes every entry.
    mutating func removeAll() {
        nodes.removeAll(keepingCapacity: true)
        free.removeAll()
        for slot in index.indices { index[slot] = -1 }
        count = 0
        (head, tail, hand) = (-1, -1, -1)
    }

    /// Every entry, in no particular order.
    func forEach(_ body: (Key, Value) -> Void) {
        var node = head
        while node >= 0 {
            body(nodes[Int(node)].key, nodes[Int(node)].value)
            node = nodes[Int(node)].older
        }
    }

    private mutating func evict() -> Key {
        var node = hand >= 0 ? hand : tail
        while nodes[Int(node)].visited {
            nodes[Int(node)].visited = false
            let newer = nodes[Int(node)].newer
            node = newer >= 0 ? newer : tail
        }
        let key = nodes[Int(node)].key
        hand = nodes[Int(node)].newer
        unindex(slot(of: key, hash: nodes[Int(node)].hash).slot)
        unlink(node)
        evictions += 1
        return key
    }

    /// Empties `slot` and shifts back the entries of its probe run that would no longer be
    /// found (deletion without tombstones in linear probing).
    private mutating func unindex(_ slot: Int) {
        var hole = slot
        var next = (slot + 1) & mask
        while index[next] >= 0 {
            let home = Int(nodes[Int(index[next])].hash) & mask
            // Move `next` into the hole unless its home lies cyclically in (hole, next].
            let distanceToHome = (next - home) & mask
            let distanceToHole = (next - hole) & mask
            if distanceToHome >= distanceToHole {
                index[hole] = index[next]
                hole = next
            }
            next = (next + 1) & mask
        }
        index[hole] = -1
    }

    private mutating func unlink(_ node: Int32) {
        let (newer, older) = (nodes[Int(node)].newer, nodes[Int(node)].older)
        if newer >= 0 { nodes[Int(newer)].older = older } else { head = older }
        if older >= 0 { nodes[Int(older)].newer = newer } else { tail = newer }
        if hand == node { hand = newer }
        free.append(node)
        count -= 1
    }
}
