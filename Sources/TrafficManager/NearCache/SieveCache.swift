/// A map of at most `capacity` entries that evicts by SIEVE (Zhang et al., "SIEVE is Simpler
/// than LRU", NSDI 2024) — the eviction of the coming in-process near cache, chosen by the
/// measurement in `EvictionStudyTests` (Docs/Performance.md): on a Zipf trace it keeps more hits
/// than LRU at every size measured, and a hit only sets a bit, where LRU moves the entry.
///
/// Entries sit in one queue, newest at the head. A hit marks its entry visited. To make room, a
/// hand walks from where it stopped last (the tail at first) towards the head, clearing visited
/// marks, and evicts the first entry it finds unmarked; new entries go in at the head.
///
/// Not thread-safe by itself: ``ShardedSieveCache`` puts each shard under its own lock.
struct SieveCache<Key: Hashable, Value> {
    private struct Node {
        var key: Key
        var value: Value
        var visited: Bool
        /// Towards the head (newer), -1 for none.
        var newer: Int32
        /// Towards the tail (older), -1 for none.
        var older: Int32
    }

    let capacity: Int
    private var nodes: [Node] = []
    private var free: [Int32] = []
    private var slots: [Key: Int32] = [:]
    private var head: Int32 = -1
    private var tail: Int32 = -1
    private var hand: Int32 = -1
    /// Entries evicted to make room, since creation.
    private(set) var evictions = 0

    init(capacity: Int) {
        precondition(capacity > 0, "a SIEVE cache holds at least one entry")
        self.capacity = capacity
        nodes.reserveCapacity(capacity)
        slots.reserveCapacity(capacity)
    }

    var count: Int { slots.count }

    /// The value for `key`, marking it visited.
    mutating func get(_ key: Key) -> Value? {
        guard let slot = slots[key] else { return nil }
        nodes[Int(slot)].visited = true
        return nodes[Int(slot)].value
    }

    /// The value for `key` without marking it (for inspection).
    func peek(_ key: Key) -> Value? {
        slots[key].map { nodes[Int($0)].value }
    }

    /// Stores `value` under `key`: in place when present (its mark kept), else at the head,
    /// evicting one entry first when full. Returns the evicted key, if any.
    @discardableResult
    mutating func set(_ key: Key, _ value: Value) -> Key? {
        if let slot = slots[key] {
            nodes[Int(slot)].value = value
            return nil
        }
        var evicted: Key?
        if slots.count >= capacity { evicted = evict() }
        let node = Node(key: key, value: value, visited: false, newer: -1, older: head)
        let slot: Int32
        if let reused = free.popLast() {
            slot = reused
            nodes[Int(slot)] = node
        } else {
            slot = Int32(nodes.count)
            nodes.append(node)
        }
        if head >= 0 { nodes[Int(head)].newer = slot }
        head = slot
        if tail < 0 { tail = slot }
        slots[key] = slot
        return evicted
    }

    /// Removes `key`; returns its value.
    @discardableResult
    mutating func remove(_ key: Key) -> Value? {
        guard let slot = slots.removeValue(forKey: key) else { return nil }
        let value = nodes[Int(slot)].value
        unlink(slot)
        return value
    }

    /// Removes every entry.
    mutating func removeAll() {
        nodes.removeAll(keepingCapacity: true)
        free.removeAll()
        slots.removeAll(keepingCapacity: true)
        (head, tail, hand) = (-1, -1, -1)
    }

    private mutating func evict() -> Key {
        var slot = hand >= 0 ? hand : tail
        while nodes[Int(slot)].visited {
            nodes[Int(slot)].visited = false
            let newer = nodes[Int(slot)].newer
            slot = newer >= 0 ? newer : tail
        }
        let key = nodes[Int(slot)].key
        hand = nodes[Int(slot)].newer
        slots[key] = nil
        unlink(slot)
        evictions += 1
        return key
    }

    private mutating func unlink(_ slot: Int32) {
        let (newer, older) = (nodes[Int(slot)].newer, nodes[Int(slot)].older)
        if newer >= 0 { nodes[Int(newer)].older = older } else { head = older }
        if older >= 0 { nodes[Int(older)].newer = newer } else { tail = newer }
        if hand == slot { hand = newer }
        free.append(slot)
    }
}
