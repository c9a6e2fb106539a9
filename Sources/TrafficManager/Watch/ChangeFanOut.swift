/// Hands every change the feed delivers to any number of watchers, each with a bounded buffer of
/// its own: the feed's thread never waits for a watcher, and a watcher that falls behind gets a
/// ``RouteChangeNotification/resync`` marker instead of a silent drop.
final class ChangeFanOut: Sendable {
    private struct Watcher {
        let continuation: AsyncStream<RouteChangeNotification>.Continuation
        let capacity: Int
        /// Delivered to the stream and not yet taken by the watcher.
        var pending = 0
        /// Changes were dropped: deliver nothing more until the watcher has taken what it has,
        /// then a resync marker.
        var gap = false
    }

    private let watchers = Locked<[UInt64: Watcher]>([:])
    private let ids = Locked<UInt64>(0)

    /// Registers a watcher; changes delivered from now on reach it.
    func subscribe(capacity: Int) -> (id: UInt64, stream: AsyncStream<RouteChangeNotification>) {
        let id = ids.withLock { id -> UInt64 in
            id &+= 1
            return id
        }
        let (stream, continuation) = AsyncStream<RouteChangeNotification>.makeStream(bufferingPolicy: .unbounded)
        continuation.onTermination = { [weak self] _ in self?.unsubscribe(id) }
        watchers.withLock { $0[id] = Watcher(continuation: continuation, capacity: max(1, capacity)) }
        return (id, stream)
    }

    func unsubscribe(_ id: UInt64) { _ = watchers.withLock { $0.removeValue(forKey: id) } }

    /// Delivers `event` to every watcher with room; one without room, or already behind, is
    /// marked for a resync.
    func publish(_ event: RouteEvent) {
        watchers.withLock { watchers in
            for (id, watcher) in watchers {
                if watcher.gap || watcher.pending >= watcher.capacity {
                    watchers[id]?.gap = true
                } else {
                    watchers[id]?.pending += 1
                    watcher.continuation.yield(.changed(event))
                }
            }
        }
    }

    /// Marks every watcher for a resync: the feed started over, and what it missed is unknown.
    func resyncAll() {
        watchers.withLock { watchers in
            for (id, watcher) in watchers {
                if watcher.pending == 0 {
                    watchers[id]?.pending = 1
                    watcher.continuation.yield(.resync)
                } else {
                    watchers[id]?.gap = true
                }
            }
        }
    }

    /// The watcher took one notification. `true` when it has now taken everything delivered
    /// and changes were dropped meanwhile: its next notification is a resync marker.
    func taken(_ id: UInt64) -> Bool {
        watchers.withLock { watchers in
            guard var watcher = watchers[id] else { return false }
            watcher.pending -= 1
            let resync = watcher.pending == 0 && watcher.gap
            if resync { watcher.gap = false }
            watchers[id] = watcher
            return resync
        }
    }

    /// Ends every watcher's sequence.
    func finishAll() {
        let all = watchers.withLock { watchers -> [Watcher] in
            defer { watchers.removeAll() }
            return Array(watchers.values)
        }
        for watcher in all { watcher.continuation.finish() }
    }

    var watcherCount: Int { watchers.withLock { $0.count } }
}
