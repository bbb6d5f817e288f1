import Testing

@testable import PeaceHubMQTT

/// Housekeeping's schedule of disconnected sessions: it hands over only the sessions due, earliest first, and keeps
/// only each session's latest time.
@Suite struct SessionTimersTests {
    @Test func theSessionsDueComeEarliestFirstAndOnce() {
        var timers = SessionTimers()
        for (clientID, due) in [("a", 300), ("b", 100), ("c", 200), ("d", 1_000), ("e", 100)] {
            timers.schedule(clientID, at: Int64(due))
        }
        #expect(timers.takeDue(at: 99).isEmpty)
        #expect(timers.takeDue(at: 250) == ["b", "e", "c"])
        #expect(timers.takeDue(at: 250).isEmpty)
        #expect(timers.count == 2)
        #expect(timers.takeDue(at: 5_000) == ["a", "d"])
        #expect(timers.count == 0)
    }

    @Test func aSessionKeepsOnlyItsLatestTime() {
        var timers = SessionTimers()
        timers.schedule("later", at: 100)
        timers.schedule("later", at: 500)
        timers.schedule("sooner", at: 500)
        timers.schedule("sooner", at: 100)
        timers.schedule("back", at: 100)
        timers.cancel("back")
        // Cancelled, then scheduled again at the same time: one entry is current, and it comes once.
        timers.schedule("again", at: 100)
        timers.cancel("again")
        timers.schedule("again", at: 100)
        #expect(timers.takeDue(at: 200) == ["sooner", "again"])
        #expect(timers.takeDue(at: 500) == ["later"])
        #expect(timers.count == 0)
    }

    /// A client that comes and goes a hundred thousand times within its session's interval leaves a stale entry each
    /// time: the heap is rebuilt before they pile up.
    @Test func entriesLeftByClientsThatCameBackDoNotPileUp() {
        var timers = SessionTimers()
        timers.schedule("waiting", at: 1_000_000)
        for round in 0..<100_000 {
            timers.schedule("restless", at: 500_000 + Int64(round))
            timers.cancel("restless")
        }
        #expect(timers.count == 1)
        #expect(timers.heap.count <= 2 * timers.count + 64)
        #expect(timers.takeDue(at: 2_000_000) == ["waiting"])
    }
}
