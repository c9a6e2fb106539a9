import ServiceLifecycle

/// Starts `service.run()` in a task of its own and returns `service`: for tests and tools that
/// end the service with its own `shutdown()` rather than in a `ServiceGroup`.
///
/// `run()` starts a moment later: calls made at once wait for it within their deadline, so a
/// test whose calls have short deadlines (a busy machine, a sanitizer) gives them room.
///
/// ```swift
/// let store = running(PostgresRouteStore(configuration: configuration))
/// defer { Task { await store.shutdown() } }
/// ```
@discardableResult
public func running<S: Service>(_ service: S) -> S {
    Task { try await service.run() }
    return service
}
