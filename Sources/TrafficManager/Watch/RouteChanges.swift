/// The route changes this process receives, as an `AsyncSequence`:
/// ``TrafficManager/changes(bufferSize:)``.
///
/// Fanned out from the one change feed to any number of such sequences. Each has a buffer of its
/// own. A sequence whose consumer falls behind by more than its buffer is not given the changes
/// it has no room for; once the consumer has taken what it had, it gets
/// ``RouteChangeNotification/resync`` instead, and the changes that follow. A slow consumer
/// never slows the others or the feed.
///
/// The sequence ends when the task iterating it is cancelled; it is empty without a change feed.
public struct RouteChanges: AsyncSequence, Sendable {
    public typealias Element = RouteChangeNotification

    private let fanOut: ChangeFanOut?
    private let id: UInt64
    private let stream: AsyncStream<RouteChangeNotification>

    init(fanOut: ChangeFanOut?, capacity: Int) {
        self.fanOut = fanOut
        if let fanOut {
            (id, stream) = fanOut.subscribe(capacity: capacity)
        } else {
            id = 0
            stream = AsyncStream { $0.finish() }
        }
    }

    public func makeAsyncIterator() -> Iterator { Iterator(fanOut: fanOut, id: id, inner: stream.makeAsyncIterator()) }

    /// Iterates the changes.
    public struct Iterator: AsyncIteratorProtocol {
        let fanOut: ChangeFanOut?
        let id: UInt64
        var inner: AsyncStream<RouteChangeNotification>.Iterator
        var resyncNext = false

        public mutating func next() async -> RouteChangeNotification? {
            if resyncNext {
                resyncNext = false
                return .resync
            }
            guard let notification = await inner.next() else { return nil }
            if fanOut?.taken(id) == true { resyncNext = true }
            return notification
        }
    }
}
