import PropertyBased
import Testing
@testable import TrafficManagerConnectionRuntime

/// The connection runtime's decisions, driven by random interleavings of every event.
@Suite struct ConnectionStateMachineTests {
    typealias Machine = ConnectionStateMachine<Int, Int, ContinuousClock.Instant>

    static let configuration = Machine.Configuration(
        maximumQueueDepth: 8, maximumBatchSize: 3, initialBackOff: .milliseconds(10), maximumBackOff: .milliseconds(80))

    @Test func noInterleavingPutsTheThreadToSleepWithWorkQueuedOrLosesARequest() async {
        await propertyCheck(count: 3000, input: Gen.int(in: 0...99).array(of: 1...250)) { events in
            var simulation = Simulation()
            for event in events { simulation.apply(event) }
            simulation.drain()
            #expect(simulation.violations == [], "\(events)")
        }
    }

    @Test func aWaitingThreadIsWokenByARequestAJobAndClose() {
        let start = ContinuousClock.now
        var machine = Machine(configuration: Self.configuration, now: start)
        machine.start()
        var batch: [Machine.Request] = [], jobs: [Int] = []
        guard case .wait = machine.next(now: start, batch: &batch, jobs: &jobs) else { Issue.record("expected wait"); return }
        guard case .wake = machine.enqueue(1, id: 1, deadline: start + .seconds(1), now: start) else { Issue.record("not woken"); return }
        guard case .none = machine.enqueue(2, id: 2, deadline: start + .seconds(1), now: start) else { Issue.record("woken twice"); return }
        guard case .connect = machine.next(now: start, batch: &batch, jobs: &jobs) else { Issue.record("expected connect"); return }
        machine.connectSucceeded(now: start)
        guard case .execute = machine.next(now: start, batch: &batch, jobs: &jobs) else { Issue.record("expected execute"); return }
        #expect(batch.map(\.payload) == [1, 2])
        let completion = machine.completeBatch(now: start)
        #expect(completion == .all)
        batch.removeAll()
        guard case .wait = machine.next(now: start, batch: &batch, jobs: &jobs) else { Issue.record("expected wait"); return }
        let queued = machine.enqueueJob(7)
        #expect(queued == (true, true))
        guard case .runJobs = machine.next(now: start, batch: &batch, jobs: &jobs) else { Issue.record("expected jobs"); return }
        #expect(jobs == [7])
        jobs.removeAll()
        guard case .wait = machine.next(now: start, batch: &batch, jobs: &jobs) else { Issue.record("expected wait"); return }
        let wake = machine.close()
        #expect(wake)
        guard case .stop = machine.next(now: start, batch: &batch, jobs: &jobs) else { Issue.record("expected stop"); return }
        let refused = machine.enqueueJob(8)
        #expect(refused == (false, false))
    }

    @Test func aRequestThatTimesOutInFlightIsFailedOnceAndTheConnectionDiscarded() {
        let start = ContinuousClock.now
        var machine = Machine(configuration: Self.configuration, now: start)
        machine.start()
        var batch: [Machine.Request] = [], jobs: [Int] = []
        _ = machine.enqueue(1, id: 1, deadline: start + .milliseconds(100), now: start)
        _ = machine.enqueue(2, id: 2, deadline: start + .milliseconds(500), now: start)
        guard case .connect = machine.next(now: start, batch: &batch, jobs: &jobs) else { Issue.record("expected connect"); return }
        machine.connectSucceeded(now: start)
        guard case .execute = machine.next(now: start, batch: &batch, jobs: &jobs) else { Issue.record("expected execute"); return }
        // The thread is stuck in the C call; the timer fires.
        let expired = machine.expire(now: start + .milliseconds(150))
        #expect(expired.expired.map(\.0.id) == [1])
        #expect(expired.expired.map(\.1) == [.timedOutInFlight])
        #expect(expired.next == start + .milliseconds(500))
        let completion = machine.completeBatch(now: start + .milliseconds(200))
        #expect(completion == .only([false, true]))
        batch.removeAll()
        guard case .discardConnection = machine.next(now: start + .milliseconds(200), batch: &batch, jobs: &jobs) else {
            Issue.record("expected the connection to be discarded")
            return
        }
    }

    @Test func aCancelledQueuedRequestIsNeverSent() {
        let start = ContinuousClock.now
        var machine = Machine(configuration: Self.configuration, now: start)
        machine.start()
        _ = machine.enqueue(1, id: 1, deadline: start + .seconds(1), now: start)
        let first = machine.cancel(1), second = machine.cancel(1)
        #expect(first?.payload == 1)
        #expect(second == nil)
        var batch: [Machine.Request] = [], jobs: [Int] = []
        guard case .wait = machine.next(now: start, batch: &batch, jobs: &jobs) else { Issue.record("expected wait"); return }
    }

    @Test func requestsBeforeTheThreadStartsWaitAndFailAsNotRunningAtTheirDeadline() {
        let start = ContinuousClock.now
        var machine = Machine(configuration: Self.configuration, now: start)
        _ = machine.enqueue(1, id: 1, deadline: start + .milliseconds(100), now: start)
        let expired = machine.expire(now: start + .milliseconds(100))
        #expect(expired.expired.map(\.0.id) == [1])
        #expect(expired.expired.map(\.1) == [.notRunning])
    }

    @Test func queuedRequestsMoveToAnotherMachineWithTheirIdsAndDeadlines() {
        let start = ContinuousClock.now
        var from = Machine(configuration: Self.configuration, now: start)
        var to = Machine(configuration: Self.configuration, now: start)
        _ = from.enqueue(1, id: 1, deadline: start + .milliseconds(50), now: start)
        _ = from.enqueue(2, id: 2, deadline: start + .seconds(1), now: start)
        let taken = from.takeQueued()
        #expect(from.queueDepth == 0)
        let adopted = to.adopt(taken, now: start + .milliseconds(100))
        // The first one's deadline passed on the way; the second is queued on the new machine.
        #expect(adopted.refused.map(\.0.id) == [1])
        #expect(to.queueDepth == 1)
        #expect(to.cancel(2)?.deadline == start + .seconds(1))
    }

    @Test func aFullQueueFailsFastAndAClosedOneRefuses() {
        let start = ContinuousClock.now
        var machine = Machine(configuration: Self.configuration, now: start)
        for id in 1...8 {
            guard case .none = machine.enqueue(id, id: UInt64(id), deadline: start + .seconds(1), now: start) else {
                Issue.record("request \(id) refused")
                return
            }
        }
        guard case .fail(.overloaded) = machine.enqueue(9, id: 9, deadline: start + .seconds(1), now: start) else {
            Issue.record("a ninth request was queued past the bound")
            return
        }
        let abandoned = machine.closeWithoutThread()
        #expect(abandoned.count == 8)
        guard case .fail(.notRunning) = machine.enqueue(10, id: 10, deadline: start + .seconds(1), now: start) else {
            Issue.record("a closed machine queued a request")
            return
        }
    }

    @Test func theBackOffIsJitteredWithinHalfToAllOfItsStep() {
        let start = ContinuousClock.now
        var machine = Machine(configuration: Self.configuration, now: start)
        machine.start()
        var batch: [Machine.Request] = [], jobs: [Int] = []
        _ = machine.enqueue(1, id: 1, deadline: start + .seconds(1), now: start)
        guard case .connect = machine.next(now: start, batch: &batch, jobs: &jobs) else { Issue.record("expected connect"); return }
        machine.connectFailed("refused", now: start, jitter: 0.5)
        _ = machine.next(now: start, batch: &batch, jobs: &jobs)
        // The first wait is 10 ms; jittered to half, an attempt is due after 5 ms, not before.
        _ = machine.enqueue(2, id: 2, deadline: start + .seconds(1), now: start + .milliseconds(4))
        guard case .fail = machine.next(now: start + .milliseconds(4), batch: &batch, jobs: &jobs) else {
            Issue.record("an attempt came before the jittered wait")
            return
        }
        _ = machine.enqueue(3, id: 3, deadline: start + .seconds(1), now: start + .milliseconds(5))
        guard case .connect = machine.next(now: start + .milliseconds(5), batch: &batch, jobs: &jobs) else {
            Issue.record("no attempt after the jittered wait")
            return
        }
    }

    @Test func connectionAttemptsBackOffAndFailFastBetweenThem() {
        let start = ContinuousClock.now
        var machine = Machine(configuration: Self.configuration, now: start)
        machine.start()
        var batch: [Machine.Request] = [], jobs: [Int] = []
        var now = start
        var waits: [Duration] = []
        var lastAttempt = start
        for id in 1...40 {
            _ = machine.enqueue(id, id: UInt64(id), deadline: now + .seconds(1), now: now)
            switch machine.next(now: now, batch: &batch, jobs: &jobs) {
            case .connect:
                if id > 1 { waits.append(lastAttempt.duration(to: now)) }
                lastAttempt = now
                machine.connectFailed("refused", now: now)
                guard case .fail(let failed, .unavailable("refused")) = machine.next(now: now, batch: &batch, jobs: &jobs) else {
                    Issue.record("a failed attempt did not fail the queue")
                    return
                }
                #expect(failed.count == 1)
            case .fail(_, .unavailable("refused")):
                break
            case let other:
                Issue.record("unexpected \(other)")
            }
            now += .milliseconds(5)
        }
        #expect(waits.first.map { $0 >= .milliseconds(10) } == true)
        #expect(waits.allSatisfy { $0 <= .milliseconds(85) }, "\(waits)")
        #expect(waits.count >= 4)
    }
}
