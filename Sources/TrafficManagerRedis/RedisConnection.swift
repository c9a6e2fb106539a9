import CHiredis
import Dispatch
import Foundation
import Logging
import TrafficManager

/// One hiredis connection and the thread that owns it.
///
/// Callers enqueue commands and suspend; the thread wakes, takes **every** queued command,
/// writes them all, then reads all the replies in order (auto-pipelining), and resumes each
/// caller with its own reply. No hiredis call ever runs on a Swift concurrency thread.
///
/// While the server is unreachable, commands fail at once with `cacheUnavailable`; the thread
/// tries to connect again at most once per back-off interval, which doubles up to a limit.
final class RedisConnection: Sendable {
    struct Request {
        var arguments: [String]
        var continuation: CheckedContinuation<RedisReply, any Error>
    }

    private struct Queue {
        var pending: [Request] = []
        var threadIsWaiting = false
        var closed = false
        var finished: CheckedContinuation<Void, Never>?
        var didFinish = false
    }

    private let queue = Locked(Queue())
    private let wakeUp = DispatchSemaphore(value: 0)
    private let configuration: RedisRouteCache.Configuration
    private let logger: Logger
    private let name: String

    init(configuration: RedisRouteCache.Configuration, name: String, logger: Logger) {
        self.configuration = configuration
        self.name = name
        self.logger = logger
        let thread = Thread { [self] in
            var owner = ContextOwner(configuration: configuration, logger: logger)
            runLoop(&owner)
        }
        thread.name = name
        thread.start()
    }

    /// Sends one command and returns its reply.
    func send(_ arguments: [String]) async throws -> RedisReply {
        try await withCheckedThrowingContinuation { continuation in
            let wake = queue.withLock { queue -> Bool? in
                guard !queue.closed else { return nil }
                queue.pending.append(Request(arguments: arguments, continuation: continuation))
                if queue.threadIsWaiting {
                    queue.threadIsWaiting = false
                    return true
                }
                return false
            }
            switch wake {
            case nil: continuation.resume(throwing: TrafficManagerError.cacheUnavailable("the Redis cache was shut down"))
            case true?: wakeUp.signal()
            case false?: break
            }
        }
    }

    /// Stops the thread after the commands already queued, closes the connection, and returns
    /// once the thread has finished.
    func close() async {
        await withCheckedContinuation { (finished: CheckedContinuation<Void, Never>) in
            let (alreadyDone, wake) = queue.withLock { queue -> (Bool, Bool) in
                queue.closed = true
                if queue.didFinish { return (true, false) }
                queue.finished = finished
                defer { queue.threadIsWaiting = false }
                return (false, queue.threadIsWaiting)
            }
            if alreadyDone { finished.resume() }
            if wake { wakeUp.signal() }
        }
    }

    private func runLoop(_ owner: inout ContextOwner) {
        while true {
            let (batch, closed) = queue.withLock { queue -> ([Request], Bool) in
                if queue.pending.isEmpty {
                    if !queue.closed { queue.threadIsWaiting = true }
                    return ([], queue.closed)
                }
                defer { queue.pending.removeAll(keepingCapacity: true) }
                return (queue.pending, false)
            }
            if batch.isEmpty {
                if closed { break }
                wakeUp.wait()
                continue
            }
            owner.execute(batch)
        }
        owner.disconnect()
        let finished = queue.withLock { queue -> CheckedContinuation<Void, Never>? in
            queue.didFinish = true
            defer { queue.finished = nil }
            return queue.finished
        }
        finished?.resume()
    }
}

/// The hiredis context, touched only by its connection's thread.
private struct ContextOwner {
    let configuration: RedisRouteCache.Configuration
    let logger: Logger
    var context: UnsafeMutablePointer<redisContext>?
    var nextAttempt = ContinuousClock.now
    var backOff: Duration
    var lastError = "not connected yet"

    init(configuration: RedisRouteCache.Configuration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        self.backOff = configuration.reconnectBackOff.initial
    }

    mutating func execute(_ batch: [RedisConnection.Request]) {
        guard let context = connectIfDue() else {
            let error = TrafficManagerError.cacheUnavailable("Redis at \(configuration.endpointDescription): \(lastError)")
            for request in batch { request.continuation.resume(throwing: error) }
            return
        }
        for request in batch {
            Self.append(request.arguments, to: context)
        }
        for (index, request) in batch.enumerated() {
            var raw: UnsafeMutableRawPointer?
            guard redisGetReply(context, &raw) == REDIS_OK, let raw else {
                let reason = Self.errorText(context)
                let error = TrafficManagerError.cacheUnavailable(
                    "Redis at \(configuration.endpointDescription): \(reason)")
                for failed in batch[index...] { failed.continuation.resume(throwing: error) }
                logger.warning("Redis connection lost", metadata: ["error": "\(reason)"])
                drop(reason: reason)
                return
            }
            let reply = RedisReply(raw.assumingMemoryBound(to: redisReply.self))
            freeReplyObject(raw)
            request.continuation.resume(returning: reply)
        }
    }

    /// The live context, connecting first when the back-off allows; `nil` when unreachable.
    mutating func connectIfDue() -> UnsafeMutablePointer<redisContext>? {
        if let context { return context }
        let now = ContinuousClock.now
        guard now >= nextAttempt else { return nil }
        if let context = connect() {
            self.context = context
            backOff = configuration.reconnectBackOff.initial
            logger.info("connected to Redis", metadata: ["endpoint": "\(configuration.endpointDescription)"])
            return context
        }
        nextAttempt = now + backOff
        backOff = min(backOff * 2, configuration.reconnectBackOff.maximum)
        return nil
    }

    private mutating func connect() -> UnsafeMutablePointer<redisContext>? {
        let timeout = Self.timeval(configuration.connectTimeout)
        let made: UnsafeMutablePointer<redisContext>?
        switch configuration.endpoint {
        case .tcp(let host, let port): made = redisConnectWithTimeout(host, Int32(port), timeout)
        case .unixSocket(let path): made = redisConnectUnixWithTimeout(path, timeout)
        }
        guard let context = made else {
            lastError = "could not allocate a connection"
            return nil
        }
        guard context.pointee.err == 0 else {
            lastError = Self.errorText(context)
            redisFree(context)
            return nil
        }
        redisSetTimeout(context, Self.timeval(configuration.commandTimeout))
        if case .tcp = configuration.endpoint { redisEnableKeepAlive(context) }
        var setup: [[String]] = []
        if let password = configuration.password { setup.append(["AUTH", password]) }
        if configuration.database != 0 { setup.append(["SELECT", String(configuration.database)]) }
        for command in setup {
            Self.append(command, to: context)
            var raw: UnsafeMutableRawPointer?
            guard redisGetReply(context, &raw) == REDIS_OK, let raw else {
                lastError = Self.errorText(context)
                redisFree(context)
                return nil
            }
            let reply = RedisReply(raw.assumingMemoryBound(to: redisReply.self))
            freeReplyObject(raw)
            if case .error(let message) = reply {
                // The message names the command's problem (e.g. WRONGPASS), never the password.
                lastError = "\(command[0]) failed: \(message)"
                redisFree(context)
                return nil
            }
        }
        return context
    }

    mutating func drop(reason: String) {
        disconnect()
        lastError = reason
        nextAttempt = ContinuousClock.now
    }

    mutating func disconnect() {
        if let context { redisFree(context) }
        context = nil
    }

    private static func append(_ arguments: [String], to context: UnsafeMutablePointer<redisContext>) {
        // All arguments in one buffer; hiredis copies them into its output buffer before it returns.
        var blob: [UInt8] = []
        var offsets: [Int] = []
        var lengths: [Int] = []
        for argument in arguments {
            offsets.append(blob.count)
            blob.append(contentsOf: argument.utf8)
            lengths.append(blob.count - offsets[offsets.count - 1])
        }
        blob.append(0)
        blob.withUnsafeBufferPointer { bytes in
            guard let base = bytes.baseAddress else { return }
            let start = UnsafeRawPointer(base).assumingMemoryBound(to: CChar.self)
            var pointers: [UnsafePointer<CChar>?] = offsets.map { start + $0 }
            _ = redisAppendCommandArgv(context, Int32(arguments.count), &pointers, lengths)
        }
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
