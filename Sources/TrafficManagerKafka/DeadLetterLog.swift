import Logging
import TrafficManager

/// The default dead-letter handler of the Kafka readers: logs the first message of each kind of
/// failure (`RouteEventDecodingError.kind`) at warning, and nothing for the rest (they are
/// counted in `event_undecodable_total`).
enum DeadLetterLog {
    static func oncePerKind(_ logger: Logger) -> @Sendable (UndecodableEvent) -> Void {
        let loggedKinds = Locked<Set<String>>([])
        return { letter in
            guard loggedKinds.withLock({ $0.insert(letter.error.kind).inserted }) else { return }
            logger.warning(
                "skipping a message that is not a route event this version can read; later ones of this kind are only counted",
                metadata: ["kind": "\(letter.error.kind)", "detail": "\(letter.error.detail)", "origin": "\(letter.origin)"])
        }
    }
}
