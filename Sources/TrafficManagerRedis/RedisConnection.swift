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
/// The thread is also a `TaskExecutor`: tasks that prefer it run on it between I/O rounds, so
/// their round trips to Redis resume them without waking any other thread.
///
/// While the server is unreachable, commands fail at once with `cacheUnavailable`; the thread
/// tries to connect again at most once per back-off interval, which doubles up to a limit.
final class RedisConnection: TaskExecutor {
    struct Request {
        var command: RedisCommand
        var continuation: CheckedContinuation<RedisReply, any Error>
    }

    private struct Queue {
        var pending: [Request] = []
        var jobs: [UnownedJob] = []
        var threadIsWaiting = false
        var closed = false
        var finished: CheckedContinuation<Void, Never>?
        var didFinish = false
    }

    private let queue = Locked(Queue())
    private let wakeUp = DispatchSemaphore(value: 0)
    private let configuration: RedisRouteCache.Configuration
    private let logger: Logger

    init(configuration: RedisRouteCache.Configuration, name: String, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        let thread = Thread { [self] in
            var owner = ContextOwner(configuration: configuration, logger: logger)
            runLoop(&owner)
        }
        thread.name = name
        thread.start()
    }

    /// Sends one command and returns its reply.
    func send(_ command: RedisCommand) async throws -> RedisReply {
        // Resumed exactly once: by the thread with the reply or an error, or here when closed.
        try await withCheckedThrowingContinuation { continuation in
            let wake = queue.withLock { queue -> Bool? in
                guard !queue.closed else { return nil }
                queue.pending.append(Request(command: command, continuation: continuation))
                return Self.takeWaitingThread(&queue)
            }
            switch wake {
            case nil: continuation.resume(throwing: TrafficManagerError.notRunning("the Redis route cache"))
            case true?: wakeUp.signal()
            case false?: break
            }
        }
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let wake = queue.withLock { queue -> Bool? in
            guard !queue.didFinish else { return nil }
            queue.jobs.append(job)
            return Self.takeWaitingThread(&queue)
        }
        switch wake {
        case nil: globalConcurrentExecutor.enqueue(ExecutorJob(job))
        case true?: wakeUp.signal()
        case false?: break
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
                return (false, Self.takeWaitingThread(&queue))
            }
            if alreadyDone { finished.resume() }
            if wake { wakeUp.signal() }
        }
    }

    private static func takeWaitingThread(_ queue: inout Queue) -> Bool {
        guard queue.threadIsWaiting else { return false }
        queue.threadIsWaiting = false
        return true
    }

    /// The connection whose thread is the current thread, if any.
    static var current: RedisConnection? {
        guard let pointer = pthread_getspecific(currentKey) else { return nil }
        return Unmanaged<RedisConnection>.fromOpaque(pointer).takeUnretainedValue()
    }

    private func runLoop(_ owner: inout ContextOwner) {
        // The thread holds the connection (its closure captures it), so an unretained pointer
        // in the thread-local slot stays valid for the thread's life.
        pthread_setspecific(Self.currentKey, Unmanaged.passUnretained(self).toOpaque())
        let executor = asUnownedTaskExecutor()
        var jobs: [UnownedJob] = []
        var batch: [Request] = []
        while true {
            // Run the tasks that were resumed on this thread; they may queue more commands.
            queue.withLock { swap(&jobs, &$0.jobs) }
            for job in jobs { job.runSynchronously(on: executor) }
            let ranJobs = !jobs.isEmpty
            jobs.removeAll(keepingCapacity: true)

            let closed = queue.withLock { queue -> Bool in
                swap(&batch, &queue.pending)
                if batch.isEmpty && !ranJobs && queue.jobs.isEmpty && !queue.closed { queue.threadIsWaiting = true }
                return queue.closed
            }
            if !batch.isEmpty {
                owner.execute(batch)
                batch.removeAll(keepingCapacity: true)
            } else if !ranJobs {
                if closed && queue.withLock({ $0.jobs.isEmpty }) { break }
                if !closed { wakeUp.wait() }
            }
        }
        owner.disconnect()
        let (finished, leftovers) = queue.withLock { queue -> (CheckedContinuation<Void, Never>?, [UnownedJob]) in
            queue.didFinish = true
            defer { queue.finished = nil; queue.jobs = [] }
            return (queue.finished, queue.jobs)
        }
        for job in leftovers { globalConcurrentExecutor.enqueue(job) }
        finished?.resume()
    }
}

/// The thread-local slot naming the connection a thread belongs to.
private let currentConnectionKey: pthread_key_t = {
    var key = pthread_key_t()
    pthread_key_create(&key, nil)
    return key
}()

extension RedisConnection {
    fileprivate static var currentKey: pthread_key_t { currentConnectionKey }
}

/// The hiredis context, touched only by its connection's thread.
private struct ContextOwner {
    let configuration: RedisRouteCache.Configuration
    let logger: Logger
    var context: UnsafeMutablePointer<redisContext>?
    var schedule: ReconnectSchedule
    var lastError = "not connected yet"
    var encoder = RESPEncoder()

    init(configuration: RedisRouteCache.Configuration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        self.schedule = ReconnectSchedule(configuration.reconnectBackOff)
    }

    mutating func execute(_ batch: [RedisConnection.Request]) {
        guard let context = connectIfDue() else {
            let error = TrafficManagerError.cacheUnavailable("Redis at \(configuration.endpointDescription): \(lastError)")
            for request in batch { request.continuation.resume(throwing: error) }
            return
        }
        encoder.removeAll()
        for request in batch {
            encoder.append(request.command)
        }
        encoder.bytes.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { characters in
                // hiredis copies the bytes into its output buffer before returning.
                _ = redisAppendFormattedCommand(context, characters.baseAddress, characters.count)
            }
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
            let decodesEntry: Bool
            if case .getEntry = request.command { decodesEntry = true } else { decodesEntry = false }
            let reply = RedisReply(raw.assumingMemoryBound(to: redisReply.self), decodesEntry: decodesEntry)
            freeReplyObject(raw)
            request.continuation.resume(returning: reply)
        }
    }

    /// The live context, connecting first when the back-off allows; `nil` when unreachable.
    mutating func connectIfDue() -> UnsafeMutablePointer<redisContext>? {
        if let context { return context }
        guard schedule.isDue else { return nil }
        if let context = connect() {
            self.context = context
            schedule.succeeded()
            logger.info("connected to Redis", metadata: ["endpoint": "\(configuration.endpointDescription)"])
            return context
        }
        schedule.failed()
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
            encoder.removeAll()
            encoder.append(command)
            encoder.bytes.withUnsafeBufferPointer { buffer in
                buffer.withMemoryRebound(to: CChar.self) { _ = redisAppendFormattedCommand(context, $0.baseAddress, $0.count) }
            }
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
        schedule.connectionLost()
    }

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
