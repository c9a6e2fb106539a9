/// The consumer side of ``EventPublisher``: delivers route events to a handler, at least once.
///
/// An event counts as handled only when the handler returns without throwing; until then it
/// is delivered again (after a throw, or to the next consumer of the same group after a crash).
/// Handlers must therefore be idempotent.
public protocol RouteEventSource: Sendable {
    /// Delivers events, in order per route, to `handler` until the calling task is cancelled.
    ///
    /// - Parameters:
    ///   - group: consumers with the same group share the work and its progress; each group
    ///     sees every event.
    ///   - handler: called once per delivery; throwing makes the event be delivered again.
    func consume(group: String, handler: @escaping @Sendable (RouteEvent) async throws -> Void) async throws
}
