/// Something that acts on each route event a consumer receives.
///
/// Delivery is at least once, so handling the same event twice must have the effect of
/// handling it once. Throwing makes the event be delivered again.
public protocol RouteEventHandler: Sendable {
    /// Acts on `event`.
    func handle(_ event: RouteEvent) async throws
}
