extension TrafficManager {
    /// Every route change this process receives from its change feed, from now on; see
    /// ``RouteChanges``.
    ///
    /// - Parameter bufferSize: how many changes may wait for the consumer before it is given
    ///   a ``RouteChangeNotification/resync`` marker instead of more.
    public func changes(bufferSize: Int = 1_000) -> RouteChanges {
        RouteChanges(fanOut: changeFeedService == nil ? nil : fanOut, capacity: bufferSize)
    }

    /// Every change after `position` (`nil`: from the oldest the store keeps), read from the
    /// store's history in position order as ``RouteChangeNotification/stored(_:)`` — first what
    /// happened meanwhile, then each new change — so a watcher that keeps the last position it
    /// handled resumes from it after a restart without missing one.
    ///
    /// The history is read again on every change the feed delivers, and at least once a second,
    /// `pageSize` changes at a time. A position older than the store's retention window gives
    /// ``RouteChangeNotification/resync`` (read again what you track), then the changes after the
    /// newest position. A failing store is retried on the next wake-up. The sequence ends when
    /// the task iterating it is cancelled.
    public func changes(after position: ChangePosition?, pageSize: Int = 500) -> AsyncStream<RouteChangeNotification> {
        let (store, pageSize) = (store, max(1, pageSize))
        // Subscribed before the first read, so a change that lands meanwhile still wakes it.
        let live = changes(bufferSize: 16)
        return AsyncStream { continuation in
            let (wakes, wake) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
            let listener = Task { for await _ in live { wake.yield() } }
            let ticker = Task {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(1))
                    wake.yield()
                }
            }
            let reader = Task {
                var after = position
                wake.yield()
                for await _ in wakes {
                    var more = true
                    while more && !Task.isCancelled {
                        guard let page = try? await store.changes(after: after, limit: pageSize) else { break }
                        if page.resync {
                            continuation.yield(.resync)
                            after = page.head
                            continue
                        }
                        for change in page.changes {
                            continuation.yield(.stored(change))
                            after = change.position
                        }
                        more = page.changes.count == pageSize
                    }
                }
                continuation.finish()
            }
            continuation.onTermination = { _ in
                listener.cancel()
                ticker.cancel()
                reader.cancel()
                wake.finish()
            }
        }
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
                    case .changed, .stored:
                        continue
                    }
                }
                continuation.finish()
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }
}
