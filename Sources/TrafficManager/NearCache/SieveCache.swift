/// A map of at most `capacity` entries that evicts by SIEVE (Zhang et al., "SIEVE is Simpler
/// than LRU", NSDI 2024) — the near cache's eviction, chosen by the measurement in
/// `EvictionStudyTests` (Docs/Performance.md): on a Zipf trace it keeps more hits than LRU at
/// every size measured, and a hit only sets a bit, where LRU moves the entry.
///
/// Entries sit in one queue, newest at the head. A hit marks its entry visited. To make room, a
/// hand walks from where it stopped last (the tail at first) towards the head, clearing visited
/// marks, and evicts the first entry it finds unmarked; new entries go in at the head.
///
/// Storage: the entries live in one array of nodes, each with 31 bits of its key's hash and
/// the visited mark in one word; the index is an open-addressing table of node numbers (linear
/// probing, at most half full, deletion by backward shift). Each key is stored once — in its
/// node — so an entry costs its node and two 4-byte index slots, and a lookup allocates
/// nothing.
///
/// Lookups come in two forms: by a `Key`, or by a hash and a predicate, so that a caller can
/// store a compact key and look it up by another type that hashes the same way (the near cache
/// stores a shared scope and a version, and looks up by ``RouteID``).
///
/// Not thread-safe by itself: ``NearCache`` puts each shard under its own lock.
struct SieveCache<Key: Hashable, Value> {
    private struct Node {
        var key: Key
        var value: Value
        /// Bit 31: visited. Bits 0–30: the low bits of the key's hash, enough to find its home
        /// slot and to skip most unequal keys without comparing them.
        var tag: UInt32
        /// Towards the head (newer), -1 for none.
        var newer: Int32
        /// Towards the tail (older), -1 for none.
        var older: Int32

        static var visitedBit: UInt32 { 1 << 31 }
        var hash: UInt32 { tag & ~Self.visitedBit }
        var visited: Bool {
            get { tag & Self.visitedBit != 0 }
            set { tag = newValue ? tag | Self.visitedBit : tag & ~Self.visitedBit }
        }
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

    /// The 31 bits of a full hash that a node keeps.
    @inline(__always)
    private static func short(_ hash: Int) -> UInt32 { UInt32(truncatingIfNeeded: hash) & ~Node.visitedBit }

    /// The index slot holding the node whose key `matches`, or the empty slot where it would go.
    @inline(__always)
    private func slot(hash: UInt32, _ matches: (Key) -> Bool) -> (slot: Int, node: Int32) {
        var slot = Int(hash) & mask
        while true {
            let node = index[slot]
            if node < 0 { return (slot, -1) }
            if nodes[Int(node)].hash == hash && matches(nodes[Int(node)].key) { return (slot, node) }
            slot = (slot + 1) & mask
        }
    }

    /// The value for `key`, marking it visited.
    mutating func get(_ key: Key) -> Value? { get(hash: key.hashValue) { $0 == key } }

    /// The value of the key that `matches`, whose `hashValue` is `hash`, marking it visited.
    @inline(__always)
    mutating func get(hash: Int, _ matches: (Key) -> Bool) -> Value? {
        let found = slot(hash: Self.short(hash), matches).node
        guard found >= 0 else { return nil }
        nodes[Int(found)].visited = true
        return nodes[Int(found)].value
    }

    /// The value for `key` without marking it (for inspection and conditional updates).
    func peek(_ key: Key) -> Value? { peek(hash: key.hashValue) { $0 == key } }

    /// As ``get(hash:_:)``, without marking it.
    @inline(__always)
    func peek(hash: Int, _ matches: (Key) -> Bool) -> Value? {
        let found = slot(hash: Self.short(hash), matches).node
        return found >= 0 ? nodes[Int(found)].value : nil
    }

    /// Stores `value` under `key`: in place when present (its mark kept), else at the head,
    /// evicting one entry first when full. Returns the evicted key, if any.
    @discardableResult
    mutating func set(_ key: Key, _ value: Value) -> Key? { set(key, value, hash: key.hashValue) { $0 == key } }

    /// As ``set(_:_:)``, for a key whose `hashValue` is `hash` and that the stored keys
    /// `matching` it equal.
    @discardableResult
    mutating func set(_ key: Key, _ value: Value, hash fullHash: Int, _ matches: (Key) -> Bool) -> Key? {
        let hash = Self.short(fullHash)
        var (place, found) = slot(hash: hash, matches)
        if found >= 0 {
            nodes[Int(found)].value = value
            return nil
        }
        var evicted: Key?
        if count >= capacity {
            evicted = evict()
            // The eviction may have shifted slots: look again.
            place = slot(hash: hash, matches).slot
        }
        let node = Node(key: key, value: value, tag: hash, newer: -1, older: head)
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
    mutating func remove(_ key: Key) -> Value? { remove(hash: key.hashValue) { $0 == key } }

    /// Removes the key that `matches`, whose `hashValue` is `hash`; returns its value.
    @discardableResult
    mutating func remove(hash: Int, _ matches: (Key) -> Bool) -> Value? {
        let (place, found) = slot(hash: Self.short(hash), matches)
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
        unindex(slotOfNode(node))
        unlink(node)
        evictions += 1
        return key
    }

    /// The index slot that points at `node`.
    private func slotOfNode(_ node: Int32) -> Int {
        var slot = Int(nodes[Int(node)].hash) & mask
        while index[slot] != node { slot = (slot + 1) & mask }
        return slot
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
