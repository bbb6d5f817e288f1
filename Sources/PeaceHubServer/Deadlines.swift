import Dispatch
import DequeModule
import Synchronization

/// Deadlines on one timer: each runs its action on `queue` once it is due, unless it is cancelled first.
///
/// The mission router gives every report a deadline of the module call budget, and nearly every report is settled
/// long before it. A dispatch timer per report (`asyncAfter`) cost about a sixth of the hub's CPU per report (the
/// timer heap, its manager thread, and a late wake-up for every report) and kept each report until its budget
/// ended. Here a cancelled deadline lets go of its action at once, and one timer waits for the earliest deadline
/// still pending.
///
/// Deadlines are kept in the order they were added, which is their order when the budget does not change; after a
/// reload that shortens it, a later deadline can be due first, so every look scans what is pending. That stays short:
/// cancelled deadlines leave from the front as they go, and reports are settled about in the order they came.
final class Deadlines: Sendable {
    /// One pending deadline, known to its owner by `id` (ids rise in the order of `pending`).
    private struct Entry {
        let id: UInt64
        let due: UInt64
        var action: (@Sendable () -> Void)?
    }

    private struct State {
        var pending = Deque<Entry>()
        var nextID: UInt64 = 0
        /// When the timer set last will fire, while it has not fired; nil when none is set.
        var timerDue: UInt64?
    }

    private let queue: DispatchQueue
    private let state = Mutex(State())

    init(queue: DispatchQueue) {
        self.queue = queue
    }

    /// Deadlines added and neither due nor cancelled yet (cancelled ones still waiting behind an earlier one count).
    var pendingCount: Int { state.withLock { $0.pending.count } }

    /// Runs `action` on the queue `interval` from now, unless `cancel` is called first with the id returned.
    func add(after interval: DispatchTimeInterval, _ action: @escaping @Sendable () -> Void) -> UInt64 {
        let due = (DispatchTime.now() + interval).uptimeNanoseconds
        return state.withLock { state in
            let id = state.nextID
            state.nextID += 1
            state.pending.append(Entry(id: id, due: due, action: action))
            if state.timerDue.map({ due < $0 }) ?? true { setTimer(at: due, in: &state) }
            return id
        }
    }

    /// Forgets the deadline `id` and lets go of its action; nothing happens if it already ran.
    func cancel(_ id: UInt64) {
        state.withLock { state in
            guard let index = Self.index(of: id, in: state.pending) else { return }
            state.pending[index].action = nil
            while state.pending.first.map({ $0.action == nil }) ?? false { state.pending.removeFirst() }
        }
    }

    private static func index(of id: UInt64, in pending: Deque<Entry>) -> Int? {
        var low = 0
        var high = pending.count
        while low < high {
            let middle = (low + high) / 2
            if pending[middle].id < id { low = middle + 1 } else { high = middle }
        }
        return low < pending.count && pending[low].id == id ? low : nil
    }

    private func setTimer(at due: UInt64, in state: inout State) {
        state.timerDue = due
        queue.asyncAfter(deadline: DispatchTime(uptimeNanoseconds: due)) { [self] in fire(timer: due) }
    }

    /// Runs what is due, then sets the timer for the earliest deadline left (unless an earlier timer is set).
    private func fire(timer: UInt64) {
        let now = DispatchTime.now().uptimeNanoseconds
        let due: [@Sendable () -> Void] = state.withLock { state in
            if state.timerDue == timer { state.timerDue = nil }
            var due: [@Sendable () -> Void] = []
            var left = Deque<Entry>()
            for entry in state.pending {
                guard let action = entry.action else { continue }
                if entry.due <= now { due.append(action) } else { left.append(entry) }
            }
            state.pending = left
            if let earliest = left.lazy.map(\.due).min(), state.timerDue.map({ earliest < $0 }) ?? true {
                setTimer(at: earliest, in: &state)
            }
            return due
        }
        for action in due { action() }
    }
}
