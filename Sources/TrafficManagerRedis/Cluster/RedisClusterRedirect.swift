/// A Redis Cluster error reply that says to send the command elsewhere, or again.
enum RedisClusterRedirect: Hashable, Sendable {
    /// `MOVED <slot> <host>:<port>`: the slot lives there now; the map is out of date.
    case moved(slot: Int, to: RedisClusterMap.Node)
    /// `ASK <slot> <host>:<port>`: the slot is migrating and this key may be there already;
    /// send `ASKING` and the command there, once, without updating the map.
    case ask(slot: Int, to: RedisClusterMap.Node)
    /// `TRYAGAIN` (a multi-key operation during a migration) or `CLUSTERDOWN` (the cluster has
    /// no quorum, or a slot no master): try again shortly.
    case tryAgain(String)

    /// The redirect `reply` carries, or `nil` when it is not one.
    init?(_ reply: RedisReply) {
        guard case .error(let message) = reply else { return nil }
        if message.hasPrefix("TRYAGAIN") || message.hasPrefix("CLUSTERDOWN") {
            self = .tryAgain(message)
            return
        }
        let parts = message.split(separator: " ")
        guard parts.count == 3, parts[0] == "MOVED" || parts[0] == "ASK", let slot = Int(parts[1]), slot >= 0,
            slot < RedisClusterSlot.count, let colon = parts[2].lastIndex(of: ":"),
            let port = Int(parts[2][parts[2].index(after: colon)...]), port > 0, port < 65_536
        else { return nil }
        var host = String(parts[2][..<colon])
        // An IPv6 address comes bracketed or bare; either way it is the host part.
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return nil }
        let node = RedisClusterMap.Node(host: host, port: port)
        self = parts[0] == "MOVED" ? .moved(slot: slot, to: node) : .ask(slot: slot, to: node)
    }
}
