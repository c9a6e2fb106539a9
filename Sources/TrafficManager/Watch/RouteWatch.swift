extension TrafficManager {
    /// Every route change this process receives from its change feed, from now on; see
    /// ``RouteChanges``.
    ///
    /// - Parameter bufferSize: how many changes may wait for the consumer before it is given
    ///   a ``RouteChangeNotification/resync`` marker instead of more.
    public func changes(bufferSize: Int = 1_000) -> RouteChanges {
        RouteChanges(fanOut: changeFeedService == nil ? nil : fanOut, capacity: bufferSize)
    }

    /// `route`'s resolution now, then again each time it changes: the shape of
    /// swift-service-discovery's `subscribe`.
    ///
    /// The first element is the current answer; each later one follows a change of the route
    /// delivered by the change feed (or a resync, when the answer differs). `nil`: the route
    /// does not resolve (absent or inactive). A failure to resolve is an element too, and the
    /// watch goes on. Without a change feed, only the first element comes. The sequence ends
    /// when the task iterating it is cancelled.
    public func watch(_ route: RouteID) -> AsyncStream<Result<RouteResolution?, TrafficManagerError>> {
        // Subscribed before the first resolve, so no change falls between the two.
        let changes = changes(bufferSize: 64)
        return AsyncStream { continuation in
            let task = Task {
                var last: (revision: UInt64, found: Bool)?
                func current() async {
                    do {
                        let answer = try await resolution(route)
                        guard last?.revision != answer.revision || last?.found != true else { return }
                        last = (answer.revision, true)
                        continuation.yield(.success(answer))
                    } catch let error as TrafficManagerError where error.code == .routeNotFound {
                        guard last?.found != false else { return }
                        last = (last?.revision ?? 0, false)
                        continuation.yield(.success(nil))
                    } catch let error as TrafficManagerError {
                        continuation.yield(.failure(error))
                    } catch {
                        return
                    }
                }
                await current()
                for await notification in changes {
                    switch notification {
                    case .changed(let event) where event.route == route && event.revision > (last?.revision ?? 0):
                        await current()
                    case .resync:
                        await current()
                    case .changed:
                        continue
                    }
                }
                continuation.finish()
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }
}
