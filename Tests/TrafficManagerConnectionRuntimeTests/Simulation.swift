@testable import TrafficManagerConnectionRuntime

/// A model of the owning thread, its callers and its timer around one state machine, which
/// records every broken promise: a sleep with work queued, work queued for a sleeping thread
/// without waking it, a request completed twice or never, a request left past its deadline.
struct Simulation {
    typealias Machine = ConnectionStateMachineTests.Machine

    private var machine: Machine
    private var now = ContinuousClock.now
    private var nextID: UInt64 = 0
    private var enqueued: Set<UInt64> = []
    private var completed: Set<UInt64> = []
    private var threadWaiting = false
    private var executing = false
    private var started = false
    private var stopped = false
    private var closed = false
    private var jobsQueued = 0
    private var batch: [Machine.Request] = []
    private var jobs: [Int] = []
    private(set) var violations: [String] = []

    init() {
        machine = Machine(configuration: ConnectionStateMachineTests.configuration, now: now)
    }

    /// Applies event `code` (0–99): enqueue, job, thread step, batch end, socket wait, time,
    /// timer, cancel, close, start.
    mutating func apply(_ code: Int) {
        switch code {
        case 0..<25: enqueue(timeout: .milliseconds(code % 5 * 20 + 1))
        case 25..<35: job()
        case 35..<65: step(connects: code % 4 != 0)
        case 65..<71: finishBatch(lost: code % 3 == 0)
        case 71..<75: socketWait()
        case 75..<85: now += .milliseconds((code - 74) * 5)
        case 85..<90: timer()
        case 90..<95: cancel(UInt64(code) % (nextID + 1))
        case 95..<97: close()
        default: start()
        }
    }

    /// Starts and closes the machine, then runs the thread until it stops; every request
    /// must have completed.
    mutating func drain() {
        start()
        close()
        var rounds = 0
        while !stopped && rounds < 10_000 {
            rounds += 1
            if executing {
                finishBatch(lost: false)
            } else if threadWaiting {
                violations.append("a closed machine's thread sleeps")
                return
            } else {
                step(connects: rounds % 3 != 0)
            }
            now += .milliseconds(10)
        }
        if !stopped { violations.append("the thread did not stop after close") }
        if enqueued != completed { violations.append("requests never completed: \(enqueued.subtracting(completed).sorted())") }
        if jobsQueued != 0 { violations.append("\(jobsQueued) jobs never ran") }
    }

    private mutating func complete(_ id: UInt64, _ how: String) {
        if !completed.insert(id).inserted { violations.append("request \(id) completed twice (\(how))") }
    }

    private mutating func enqueue(timeout: Duration) {
        nextID += 1
        enqueued.insert(nextID)
        switch machine.enqueue(Int(nextID), id: nextID, deadline: now + timeout, now: now) {
        case .none:
            if threadWaiting { violations.append("request \(nextID) queued for a sleeping thread without waking it") }
        case .wake:
            if !threadWaiting { violations.append("woke a thread that was not asleep") }
            threadWaiting = false
        case .fail:
            complete(nextID, "refused")
        }
    }

    private mutating func job() {
        let (accepted, wake) = machine.enqueueJob(0)
        if accepted { jobsQueued += 1 } else if started && !stopped { violations.append("a running machine refused a job") }
        if threadWaiting && accepted && !wake { violations.append("a job queued for a sleeping thread without waking it") }
        if wake && !threadWaiting { violations.append("a job woke a thread that was not asleep") }
        if wake { threadWaiting = false }
    }

    /// With a batch out, the thread waits for its socket and runs the jobs queued meanwhile
    /// (waking it from that wait is `ConnectionIO`'s, tested with the thread).
    private mutating func socketWait() {
        guard executing else { return }
        var taken: [Int] = []
        let queued = machine.jobCount
        if machine.takeJobs(into: &taken) {
            if taken.count != queued { violations.append("took \(taken.count) of \(queued) queued jobs") }
            jobsQueued -= taken.count
        } else if queued != 0 {
            violations.append("took none of \(queued) queued jobs")
        }
    }

    private mutating func step(connects: Bool) {
        guard started, !stopped, !threadWaiting, !executing else { return }
        switch machine.next(now: now, batch: &batch, jobs: &jobs) {
        case .runJobs:
            jobsQueued -= jobs.count
            jobs.removeAll()
        case .fail(let requests, _):
            for request in requests { complete(request.id, "failed by the thread") }
        case .connect:
            if connects { machine.connectSucceeded(now: now) } else { machine.connectFailed("refused", now: now) }
        case .execute:
            if batch.isEmpty { violations.append("an empty batch") }
            if batch.contains(where: { $0.deadline <= now }) { violations.append("sent a request past its deadline") }
            executing = true
        case .discardConnection:
            break
        case .wait:
            if machine.queueDepth != 0 || machine.jobCount != 0 {
                violations.append("sleeps with \(machine.queueDepth) requests and \(machine.jobCount) jobs queued")
            }
            threadWaiting = true
        case .stop:
            if machine.queueDepth != 0 { violations.append("stopped with requests queued") }
            stopped = true
        }
    }

    private mutating func finishBatch(lost: Bool) {
        guard executing else { return }
        executing = false
        let completion = machine.completeBatch(connectionLost: lost ? "reset" : nil, now: now)
        for (index, request) in batch.enumerated() {
            if case .only(let owned) = completion, !owned[index] { continue }
            complete(request.id, "replied")
        }
        batch.removeAll()
    }

    private mutating func timer() {
        let result = machine.expire(now: now)
        for (request, _) in result.expired { complete(request.id, "timed out") }
        if let earliest = machine.earliestDeadline, earliest <= now { violations.append("a request outlived its deadline after the timer") }
    }

    private mutating func cancel(_ id: UInt64) {
        if let request = machine.cancel(id) { complete(request.id, "cancelled") }
    }

    private mutating func close() {
        guard !closed else { return }
        closed = true
        if !started {
            for request in machine.closeWithoutThread() { complete(request.id, "closed before start") }
            stopped = true
            return
        }
        let wake = machine.close()
        if threadWaiting && !wake { violations.append("close did not wake a sleeping thread") }
        if wake { threadWaiting = false }
    }

    private mutating func start() {
        guard !started, !stopped else { return }
        started = true
        machine.start()
    }
}
