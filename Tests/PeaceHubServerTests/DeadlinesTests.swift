import Dispatch
import Foundation
import PeaceHubPlugins
import PeaceHubTesting
import Synchronization
import Testing

@testable import PeaceHubServer

@Suite struct DeadlinesTests {
    let deadlines = Deadlines(queue: DispatchQueue(label: "test.deadlines"))

    /// What a deadline's action holds (a report, in the router).
    final class Held: Sendable {}

    /// Waits up to `seconds` for `condition`.
    func eventually(within seconds: Double = 5, _ condition: () -> Bool) -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while !condition() {
            guard Date() < end else { return false }
            usleep(5_000)
        }
        return true
    }

    @Test func aDeadlineRunsItsActionOnceWhenDue() {
        let runs = Atomic(0)
        let added = Date()
        _ = deadlines.add(after: .milliseconds(100)) { runs.add(1, ordering: .relaxed) }
        #expect(runs.load(ordering: .relaxed) == 0)
        #expect(eventually { runs.load(ordering: .relaxed) == 1 })
        #expect(Date().timeIntervalSince(added) >= 0.1)
        usleep(200_000)
        #expect(runs.load(ordering: .relaxed) == 1)
        #expect(deadlines.pendingCount == 0)
    }

    /// A settled report is let go of at once, not when its budget ends: a timer per report kept every report of
    /// the last budget (two seconds of them) in memory.
    @Test func aCancelledDeadlineNeverRunsAndLetsGoOfItsActionAtOnce() {
        let runs = Atomic(0)
        weak var weakHeld: Held?
        let id: UInt64
        do {
            let held = Held()
            weakHeld = held
            id = deadlines.add(after: .milliseconds(100)) {
                _ = held
                runs.add(1, ordering: .relaxed)
            }
        }
        #expect(weakHeld != nil)
        deadlines.cancel(id)
        #expect(weakHeld == nil)
        #expect(deadlines.pendingCount == 0)
        usleep(300_000)
        #expect(runs.load(ordering: .relaxed) == 0)
    }

    /// Cancelled out of order: the others still run when due, and nothing is left.
    @Test func deadlinesCancelledOutOfOrderLeaveTheOthersToRun() {
        let ran = Mutex<[Int]>([])
        let ids = (0..<5).map { index in
            deadlines.add(after: .milliseconds(100)) { ran.withLock { $0.append(index) } }
        }
        deadlines.cancel(ids[3])
        deadlines.cancel(ids[1])
        #expect(eventually { ran.withLock { $0.count } == 3 })
        usleep(200_000)
        #expect(ran.withLock { $0.sorted() } == [0, 2, 4])
        #expect(deadlines.pendingCount == 0)
    }

    /// After a reload that shortens the budget, a later deadline is due first; it does not wait for the earlier one.
    @Test func aShorterDeadlineAddedLaterRunsFirst() {
        let ran = Mutex<[String]>([])
        let long = deadlines.add(after: .seconds(30)) { ran.withLock { $0.append("long") } }
        let added = Date()
        _ = deadlines.add(after: .milliseconds(100)) { ran.withLock { $0.append("short") } }
        #expect(eventually { ran.withLock { $0 } == ["short"] })
        #expect(Date().timeIntervalSince(added) < 5)
        #expect(deadlines.pendingCount == 1)
        deadlines.cancel(long)
        #expect(deadlines.pendingCount == 0)
    }

    /// A timer that has fired with deadlines still ahead is set again for the earliest of them.
    @Test func deadlinesAddedOneAfterAnotherAllRun() {
        let runs = Atomic(0)
        for step in 0..<5 {
            _ = deadlines.add(after: .milliseconds(50 + 60 * step)) { runs.add(1, ordering: .relaxed) }
        }
        #expect(eventually { runs.load(ordering: .relaxed) == 5 })
        #expect(deadlines.pendingCount == 0)
    }

    /// Many deadlines cancelled in the order they came, as judged reports are: nothing stays pending.
    @Test func deadlinesCancelledInOrderLeaveNothingPending() {
        let ids = (0..<10_000).map { _ in deadlines.add(after: .seconds(30)) {} }
        #expect(deadlines.pendingCount == 10_000)
        for id in ids { deadlines.cancel(id) }
        #expect(deadlines.pendingCount == 0)
    }

    /// The router cancels a report's deadline once its module has answered.
    @Test func aJudgedReportLeavesNoDeadlineBehind() throws {
        let host = PluginHost()
        host.loadDirectory(TestEnvironment.pluginsDirectory)
        let router = MissionRouter(plugins: host, archive: MemoryArchive(), budget: .seconds(30))
        for _ in 0..<3 {
            guard case .deliver = try decide(router, report("missions/UNIFIL/reports/UXO", MissionRouterTests.validUXO))
            else {
                Issue.record("the report was not delivered")
                return
            }
        }
        #expect(eventually { router.deadlines.pendingCount == 0 })
    }
}
