/// Which master serves each hash slot, as `CLUSTER SHARDS` (Redis 7) describes the cluster.
struct RedisClusterMap: Sendable, Hashable {
    /// A node's address.
    struct Node: Sendable, Hashable, CustomStringConvertible {
        var host: String
        var port: Int
        var description: String { "\(host):\(port)" }
    }

    /// The masters that own slots, in the order the reply named them.
    let masters: [Node]
    /// Per slot, its master's index in `masters`, or -1 while no healthy master owns it.
    private let owners: [Int16]

    /// The master serving `slot`, or `nil` while none does (a failover under way, or slots
    /// not assigned).
    func owner(ofSlot slot: Int) -> Node? {
        guard slot >= 0, slot < owners.count else { return nil }
        let index = owners[slot]
        return index < 0 ? nil : masters[Int(index)]
    }

    /// How many slots have an owner.
    var coveredSlots: Int { owners.lazy.filter { $0 >= 0 }.count }

    private init(masters: [Node], owners: [Int16]) {
        self.masters = masters
        self.owners = owners
    }

    /// A map from the reply to `CLUSTER SHARDS`: for each shard its slot ranges and its nodes.
    /// A shard whose master is not `online` leaves its slots without an owner.
    ///
    /// - Throws: ``RedisClusterMapError`` when the reply is not shaped as Redis 7 sends it.
    init(shards reply: RedisReply) throws(RedisClusterMapError) {
        guard case .array(let shards) = reply else { throw .malformed("CLUSTER SHARDS did not answer an array: \(reply)") }
        var masters: [Node] = []
        var owners = [Int16](repeating: -1, count: RedisClusterSlot.count)
        for shard in shards {
            let fields = try Self.fields(shard, of: "a shard")
            guard case .array(let ranges)? = fields["slots"], case .array(let nodes)? = fields["nodes"] else {
                throw .malformed("a shard without slots or nodes: \(shard)")
            }
            guard ranges.count % 2 == 0 else { throw .malformed("a shard's slot ranges do not pair up: \(ranges)") }
            var master: Node?
            for node in nodes {
                let node = try Self.fields(node, of: "a node")
                guard case .string("master")? = node["role"], case .string("online")? = node["health"] else { continue }
                master = try Self.address(node)
            }
            guard let master, !ranges.isEmpty else { continue }
            let index: Int
            if let known = masters.firstIndex(of: master) {
                index = known
            } else {
                index = masters.count
                masters.append(master)
            }
            for pair in stride(from: 0, to: ranges.count, by: 2) {
                guard case .integer(let start) = ranges[pair], case .integer(let end) = ranges[pair + 1],
                    start >= 0, start <= end, end < Int64(RedisClusterSlot.count)
                else { throw .malformed("a slot range that is not one: \(ranges[pair]), \(ranges[pair + 1])") }
                for slot in Int(start)...Int(end) { owners[slot] = Int16(index) }
            }
        }
        self.masters = masters
        self.owners = owners
    }

    /// A flat array of alternating names and values, as a dictionary.
    private static func fields(_ reply: RedisReply, of what: String) throws(RedisClusterMapError) -> [String: RedisReply] {
        guard case .array(let items) = reply, items.count % 2 == 0 else { throw .malformed("\(what) is not a list of fields: \(reply)") }
        var fields: [String: RedisReply] = [:]
        for pair in stride(from: 0, to: items.count, by: 2) {
            guard case .string(let name) = items[pair] else { throw .malformed("\(what) has a field name that is not a string: \(items[pair])") }
            fields[name] = items[pair + 1]
        }
        return fields
    }

    /// A node's address: its `endpoint`, or its `ip` when the endpoint is unknown (`?`) or
    /// empty, and its `port`.
    private static func address(_ node: [String: RedisReply]) throws(RedisClusterMapError) -> Node {
        guard case .integer(let port)? = node["port"], port > 0, port < 65_536 else {
            throw .malformed("a node without a port: \(node)")
        }
        var host: String?
        if case .string(let endpoint)? = node["endpoint"], !endpoint.isEmpty, endpoint != "?" { host = endpoint }
        if host == nil, case .string(let ip)? = node["ip"], !ip.isEmpty { host = ip }
        guard let host else { throw .malformed("a node without an address: \(node)") }
        return Node(host: host, port: Int(port))
    }
}

/// A `CLUSTER SHARDS` reply this version cannot read.
enum RedisClusterMapError: Error, Hashable, Sendable {
    case malformed(String)
}

extension RedisClusterMap {
    /// This map with `slot` served by `node` (a `MOVED` seen before the next refresh).
    func moving(_ slot: Int, to node: Node) -> RedisClusterMap {
        var masters = masters
        var owners = owners
        let index: Int
        if let known = masters.firstIndex(of: node) {
            index = known
        } else {
            index = masters.count
            masters.append(node)
        }
        if slot >= 0, slot < owners.count { owners[slot] = Int16(index) }
        return RedisClusterMap(masters: masters, owners: owners)
    }
}
