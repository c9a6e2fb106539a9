import CHiredis
import Foundation
import Logging
import TrafficManager
import TrafficManagerConnectionRuntime

/// One hiredis connection in non-blocking mode, as the connection runtime drives it: every
/// method runs on the connection's own thread (``ConnectionThread``), which decides when to
/// connect, which commands to send together, and when a call has waited too long.
///
/// A batch is written as one RESP buffer and its replies read in order (auto-pipelining).
/// Every wait for the server — connecting, writing, reading — is a `poll()` through the
/// runtime's ``ConnectionIO``, bounded by the batch's deadline: a path that freezes with the
/// socket open costs the batch its deadline, never the thread, and the thread's executor jobs
/// run while it waits.
struct RedisConnection: RuntimeConnection {
    let configuration: RedisRouteCache.Configuration
    let logger: Logger
    private var context: UnsafeMutablePointer<redisContext>?
    private var encoder = RESPEncoder()

    init(configuration: RedisRouteCache.Configuration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    mutating func execute(
        _ count: Int, command: (Int) -> RedisCommand, replies: inout [RedisReply], deadline: ContinuousClock.Instant,
        io: ConnectionIO
    ) -> String? {
        guard let context else { return "not connected" }
        encoder.removeAll()
        var expected = 0
        for index in 0..<count {
            let each = command(index)
            encoder.append(each)
            expected += each.replyCount
        }
        appendEncoded(to: context)
        // The command the next reply belongs to, and the replies gathered so far for one that
        // has several (`getEntries`).
        var current = 0
        var gathered: [RedisReply] = []
        var askingAnswered = false
        let failure = exchange(context, replies: expected, deadline: deadline, io: io) { reply, _ in
            switch command(current) {
            case .getEntry:
                replies.append(RedisReply(reply, decodesEntry: true))
                current += 1
            case .getEntries(let routes, _):
                if gathered.isEmpty { gathered.reserveCapacity(routes.count) }
                gathered.append(RedisReply(reply, decodesEntry: true))
                if gathered.count == routes.count {
                    replies.append(.array(gathered))
                    gathered = []
                    current += 1
                }
            case .arguments:
                replies.append(RedisReply(reply))
                current += 1
            case .pipeline(let commands):
                gathered.append(RedisReply(reply))
                if gathered.count == commands.count {
                    replies.append(.array(gathered))
                    gathered = []
                    current += 1
                }
            case .asking(let inner):
                // The first reply is ASKING's own `OK`; the command's follows.
                if !askingAnswered {
                    askingAnswered = true
                    return
                }
                askingAnswered = false
                if case .getEntry = inner {
                    replies.append(RedisReply(reply, decodesEntry: true))
                } else {
                    replies.append(RedisReply(reply))
                }
                current += 1
            }
        }
        if let failure {
            logger.warning("Redis connection lost", metadata: ["error": "\(failure)"])
            disconnect()
        }
        return failure
    }

    mutating func connect(deadline: ContinuousClock.Instant, io: ConnectionIO) -> String? {
        disconnect()
        let deadline = min(deadline, .now + configuration.connectTimeout)
        switch makeContext(deadline: deadline, io: io) {
        case .success(let context):
            self.context = context
            logger.info("connected to Redis", metadata: ["endpoint": "\(configuration.endpointDescription)"])
            return nil
        case .failure(let reason):
            return "Redis at \(configuration.endpointDescription): \(reason.text)"
        }
    }

    private struct Reason: Error { var text: String }

    private mutating func makeContext(
        deadline: ContinuousClock.Instant, io: ConnectionIO
    ) -> Result<UnsafeMutablePointer<redisContext>, Reason> {
        let made: UnsafeMutablePointer<redisContext>?
        switch configuration.endpoint {
        case .tcp(let host, let port): made = redisConnectNonBlock(host, Int32(port))
        case .unixSocket(let path): made = redisConnectUnixNonBlock(path)
        case .cluster: return .failure(Reason(text: "a cluster is reached through its nodes, not as one server"))
        }
        guard let context = made else { return .failure(Reason(text: "could not allocate a connection")) }
        guard context.pointee.err == 0 else {
            defer { redisFree(context) }
            return .failure(Reason(text: Self.errorText(context)))
        }
        // The connect is under way: writable means done, and SO_ERROR says how it ended.
        guard io.wait(context.pointee.fd, for: Int16(POLLOUT), deadline: deadline) else {
            redisFree(context)
            return .failure(Reason(text: "connecting took longer than the deadline"))
        }
        var socketError: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        if getsockopt(context.pointee.fd, SOL_SOCKET, SO_ERROR, &socketError, &length) != 0 { socketError = errno }
        guard socketError == 0 else {
            redisFree(context)
            return .failure(Reason(text: String(cString: strerror(socketError))))
        }
        if case .tcp = configuration.endpoint {
            // Keepalive probes, and tcp_user_timeout: the kernel closes a connection whose peer
            // stopped acknowledging, even while nothing is being read.
            redisEnableKeepAlive(context)
            var milliseconds = UInt32(clamping: configuration.tcpUserTimeout.wholeMilliseconds)
            setsockopt(context.pointee.fd, Int32(IPPROTO_TCP), TCP_USER_TIMEOUT, &milliseconds, socklen_t(MemoryLayout<UInt32>.size))
        }
        var setup: [[String]] = []
        if let password = configuration.password { setup.append(["AUTH", password]) }
        if configuration.database != 0 { setup.append(["SELECT", String(configuration.database)]) }
        guard !setup.isEmpty else { return .success(context) }
        encoder.removeAll()
        for command in setup { encoder.append(command) }
        appendEncoded(to: context)
        var refusal: String?
        let failure = exchange(context, replies: setup.count, deadline: deadline, io: io) { reply, index in
            // The message names the command's problem (e.g. WRONGPASS), never the password.
            if refusal == nil, case .error(let message) = RedisReply(reply) { refusal = "\(setup[index][0]) failed: \(message)" }
        }
        if let reason = failure ?? refusal {
            redisFree(context)
            return .failure(Reason(text: reason))
        }
        return .success(context)
    }

    /// Copies the encoder's bytes into hiredis's output buffer.
    private func appendEncoded(to context: UnsafeMutablePointer<redisContext>) {
        encoder.bytes.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { characters in
                _ = redisAppendFormattedCommand(context, characters.baseAddress, characters.count)
            }
        }
    }

    /// Writes hiredis's output buffer and reads `count` replies, handing each to `onReply`
    /// (which must not keep it) with its index; replies read while writing are taken too, so a
    /// large batch never stalls on a server waiting for us to read. `nil` when every reply
    /// came, else why not.
    private func exchange(
        _ context: UnsafeMutablePointer<redisContext>, replies count: Int, deadline: ContinuousClock.Instant, io: ConnectionIO,
        onReply: (UnsafeMutablePointer<redisReply>, Int) -> Void
    ) -> String? {
        var written: Int32 = 0
        var received = 0
        while true {
            if written == 0, redisBufferWrite(context, &written) != REDIS_OK { return lost(context) }
            while received < count {
                var raw: UnsafeMutableRawPointer?
                guard redisGetReplyFromReader(context, &raw) == REDIS_OK else { return lost(context) }
                guard let raw else { break }
                onReply(raw.assumingMemoryBound(to: redisReply.self), received)
                freeReplyObject(raw)
                received += 1
            }
            if received == count && written != 0 { return nil }
            let events = written == 0 ? Int16(POLLIN) | Int16(POLLOUT) : Int16(POLLIN)
            guard io.wait(context.pointee.fd, for: events, deadline: deadline) else {
                return "Redis at \(configuration.endpointDescription) did not answer by the deadline"
            }
            // Non-blocking: with nothing to read this reads nothing and succeeds.
            if redisBufferRead(context) != REDIS_OK { return lost(context) }
        }
    }

    private func lost(_ context: UnsafeMutablePointer<redisContext>) -> String {
        "Redis at \(configuration.endpointDescription): \(Self.errorText(context))"
    }

    /// The connection's socket, or -1; for tests.
    var socketDescriptor: Int32 { context?.pointee.fd ?? -1 }

    mutating func disconnect() {
        if let context { redisFree(context) }
        context = nil
    }

    private static func errorText(_ context: UnsafeMutablePointer<redisContext>) -> String {
        let text = withUnsafeBytes(of: context.pointee.errstr) { bytes in
            String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
        }
        return text.isEmpty ? "connection error \(context.pointee.err)" : text
    }
}
