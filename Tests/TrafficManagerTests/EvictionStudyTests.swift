import Foundation
import Testing
@testable import TrafficManager

/// How many hits each eviction policy keeps on a Zipf trace: the measurement behind the near
/// cache's SIEVE. Hit ratios are properties of the policies and the seeded trace, not of the
/// machine, so they are checked here and printed for Docs/Performance.md
/// (`swift test --filter EvictionStudyTests` shows the table).
@Suite struct EvictionStudyTests {
    static let keys = 100_000
    static let requests = 400_000

    /// Zipf-distributed key indices (rank 1 most popular), exponent `s`, from a seeded generator.
    static func zipfTrace(s: Double, seed: UInt64) -> [Int] {
        var cumulative = [Double](repeating: 0, count: keys)
        var total = 0.0
        for rank in 0..<keys {
            total += 1 / pow(Double(rank + 1), s)
            cumulative[rank] = total
        }
        var random = SplitMix64(seed: seed)
        return (0..<requests).map { _ in
            let target = Double(random.next() >> 11) / Double(1 << 53) * total
            var (low, high) = (0, keys - 1)
            while low < high {
                let middle = (low + high) / 2
                if cumulative[middle] < target { low = middle + 1 } else { high = middle }
            }
            // Scatter ranks over the key space so that popularity is not key order.
            return (low &* 7_919) % keys
        }
    }

    /// The share of `trace` answered from a cache of `size` that fills on every miss.
    static func hitRatio(_ trace: [Int], size: Int, policy: String) -> Double {
        var hits = 0
        switch policy {
        case "SIEVE":
            var cache = SieveCache<Int, Bool>(capacity: size)
            for key in trace { if cache.get(key) != nil { hits += 1 } else { cache.set(key, true) } }
        case "LRU":
            var cache = LRUModel(capacity: size)
            for key in trace { if cache.access(key) { hits += 1 } }
        default:
            var cache = S3FIFOModel(capacity: size)
            for key in trace { if cache.access(key) { hits += 1 } }
        }
        return Double(hits) / Double(trace.count)
    }

    @Test(arguments: [0.8, 1.0])
    func sieveKeepsMoreHitsThanLRUAtEverySize(_ exponent: Double) {
        let trace = Self.zipfTrace(s: exponent, seed: 42)
        var lines = ["Zipf s=\(exponent), \(Self.keys) keys, \(Self.requests) requests: hit ratio by cache size"]
        for size in [1_000, 5_000, 10_000] {
            let sieve = Self.hitRatio(trace, size: size, policy: "SIEVE")
            let lru = Self.hitRatio(trace, size: size, policy: "LRU")
            let s3fifo = Self.hitRatio(trace, size: size, policy: "S3-FIFO")
            lines.append(String(format: "  %6d entries (%4.1f%%): LRU %.4f  SIEVE %.4f  S3-FIFO %.4f", size, Double(size) * 100 / Double(Self.keys), lru, sieve, s3fifo))
            #expect(sieve > lru, "size \(size): SIEVE \(sieve), LRU \(lru)")
        }
        print(lines.joined(separator: "\n"))
    }
}

/// Least recently used, for comparison: a hit moves the entry to the front.
struct LRUModel {
    let capacity: Int
    private var newer: [Int: Int] = [:]
    private var older: [Int: Int] = [:]
    private var present = Set<Int>()
    private var head: Int?
    private var tail: Int?

    init(capacity: Int) { self.capacity = capacity }

    /// Whether `key` was cached; it is (most recent) afterwards.
    mutating func access(_ key: Int) -> Bool {
        let hit = present.contains(key)
        if hit {
            unlink(key)
        } else if present.count >= capacity, let last = tail {
            unlink(last)
            present.remove(last)
        }
        present.insert(key)
        older[key] = head
        newer[key] = nil
        if let head { newer[head] = key }
        head = key
        if tail == nil { tail = key }
        return hit
    }

    private mutating func unlink(_ key: Int) {
        let (n, o) = (newer[key], older[key])
        if let n { older[n] = o } else { head = o }
        if let o { newer[o] = n } else { tail = n }
        newer[key] = nil
        older[key] = nil
    }
}

/// S3-FIFO (Yang et al., SOSP 2023), for comparison: a small FIFO (10 %) filters one-hit
/// entries, a main FIFO reinserts entries used while in it, a ghost FIFO of evicted keys sends
/// a returning key straight to main.
struct S3FIFOModel {
    let capacity: Int
    private let smallCapacity: Int
    private var small: [Int] = []
    private var smallStart = 0
    private var main: [Int] = []
    private var mainStart = 0
    private var ghost: [Int] = []
    private var ghostStart = 0
    /// Each ghost key with its position in `ghost` (a key may come back and leave again).
    private var ghostIndex: [Int: Int] = [:]
    private var frequency: [Int: Int] = [:]
    private var inSmall = Set<Int>()
    private var inMain = Set<Int>()

    init(capacity: Int) {
        self.capacity = capacity
        smallCapacity = max(1, capacity / 10)
    }

    mutating func access(_ key: Int) -> Bool {
        if inSmall.contains(key) || inMain.contains(key) {
            frequency[key] = min(3, (frequency[key] ?? 0) + 1)
            return true
        }
        while inSmall.count + inMain.count >= capacity { evict() }
        frequency[key] = 0
        if ghostIndex[key] != nil {
            ghostIndex[key] = nil
            main.append(key)
            inMain.insert(key)
        } else {
            small.append(key)
            inSmall.insert(key)
        }
        return false
    }

    private mutating func evict() {
        if inSmall.count >= smallCapacity || inMain.isEmpty { evictSmall() } else { evictMain() }
    }

    private mutating func evictSmall() {
        while smallStart < small.count {
            let key = small[smallStart]
            smallStart += 1
            inSmall.remove(key)
            if (frequency[key] ?? 0) > 1 {
                main.append(key)
                inMain.insert(key)
                if inMain.count > capacity - smallCapacity { evictMain() }
                continue
            }
            frequency[key] = nil
            ghostIndex[key] = ghost.count
            ghost.append(key)
            while ghostIndex.count > capacity - smallCapacity, ghostStart < ghost.count {
                let old = ghost[ghostStart]
                if ghostIndex[old] == ghostStart { ghostIndex[old] = nil }
                ghostStart += 1
            }
            return
        }
        evictMain()
    }

    private mutating func evictMain() {
        while mainStart < main.count {
            let key = main[mainStart]
            mainStart += 1
            let count = frequency[key] ?? 0
            if count > 0 {
                frequency[key] = count - 1
                main.append(key)
            } else {
                inMain.remove(key)
                frequency[key] = nil
                return
            }
        }
    }
}
