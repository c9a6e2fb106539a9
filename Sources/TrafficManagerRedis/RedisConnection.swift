import CHiredis
import Foundation
import Logging
import TrafficManager
import TrafficManagerConnectionRuntime

/// One hiredis connection, as the connection runtime drives it: every method runs on the
/// connection's own thread (``ConnectionThread``), which decides when to connect, which
/// commands to send together, and when a call has waited too long.
///
/// A batch is written as one RESP buffer and its replies read in order (auto-pipelining).
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
        _ count: Int, command: (Int) -> RedisCommand, replies: inout [RedisReply], deadline: ContinuousClock.Instant
    ) -> String? {
        guard let context else { return "not connected" }
        encoder.removeAll()
        for index in 0..<count {
            encoder.append(command(index))
        }
        encoder.bytes.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { characters in
                // hiredis copies the bytes into its output buffer before returning.
                _ = redisAppendFormattedCommand(context, characters.baseAddress, characters.count)
            }
        }
        for index in 0..<count {
            var raw: UnsafeMutableRawPointer?
            guard redisGetReply(context, &raw) == REDIS_OK, let raw else {
                let reason = "Redis at \(configuration.endpointDescription): \(Self.errorText(context))"
                logger.warning("Redis connection lost", metadata: ["error": "\(reason)"])
                return reason
            }
            let decodesEntry: Bool
            if case .getEntry = command(index) { decodesEntry = true } else { decodesEntry = false }
            replies.append(RedisReply(raw.assumingMemoryBound(to: redisReply.self), decodesEntry: decodesEntry))
            freeReplyObject(raw)
        }
        return nil
    }

    mutating func connect(deadline: ContinuousClock.Instant) -> String? {
        disconnect()
        switch makeContext(timeout: min(configuration.connectTimeout, max(.milliseconds(1), ContinuousClock.now.duration(to: deadline)))) {
        case .success(let context):
            self.context = context
            logger.info("connected to Redis", metadata: ["endpoint": "\(configuration.endpointDescription)"])
            return nil
        case .failure(let reason):
            return "Redis at \(configuration.endpointDescription): \(reason.text)"
        }
    }

    private struct Reason: Error { var text: String }

    private mutating func makeContext(timeout connectTimeout: Duration) -> Result<UnsafeMutablePointer<redisContext>, Reason> {
        let timeout = Self.timeval(connectTimeout)
        let made: UnsafeMutablePointer<redisContext>?
        switch configuration.endpoint {
        case .tcp(let host, let port): made = redisConnectWithTimeout(host, Int32(port), timeout)
        case .unixSocket(let path): made = redisConnectUnixWithTimeout(path, timeout)
        }
        guard let context = made else { return .failure(Reason(text: "could not allocate a connection")) }
        guard context.pointee.err == 0 else {
            defer { redisFree(context) }
            return .failure(Reason(text: Self.errorText(context)))
        }
        redisSetTimeout(context, Self.timeval(configuration.commandTimeout))
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
        for command in setup {
            encoder.removeAll()
            encoder.append(command)
            encoder.bytes.withUnsafeBufferPointer { buffer in
                buffer.withMemoryRebound(to: CChar.self) { _ = redisAppendFormattedCommand(context, $0.baseAddress, $0.count) }
            }
            var raw: UnsafeMutableRawPointer?
            guard redisGetReply(context, &raw) == REDIS_OK, let raw else {
                defer { redisFree(context) }
                return .failure(Reason(text: Self.errorText(context)))
            }
            let reply = RedisReply(raw.assumingMemoryBound(to: redisReply.self))
            freeReplyObject(raw)
            if case .error(let message) = reply {
                // The message names the command's problem (e.g. WRONGPASS), never the password.
                redisFree(context)
                return .failure(Reason(text: "\(command[0]) failed: \(message)"))
            }
        }
        return .success(context)
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

    private static func timeval(_ duration: Duration) -> Glibc.timeval {
        let (seconds, attoseconds) = duration.components
        return Glibc.timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
    }
}
