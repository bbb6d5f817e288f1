import Dispatch
import Synchronization

/// A module's calls from the hub's services (the router's verdicts, readiness, commands), one at a time on a
/// serial queue of its own, and when the call under way began: a module that hangs holds its own queue, never a
/// shared thread, and is known by a call that outlived its budget.
public final class ModuleLane: Sendable {
    public let queue: DispatchQueue
    /// When the call under way began (`DispatchTime` nanoseconds), 0 when none is.
    private let callStarted = Atomic<UInt64>(0)
    /// A caller stopped waiting for the call under way (`answer(within:_:)`): the next callers are told at once,
    /// even when that call began a little less than their budget ago (it began after its caller started waiting).
    private let abandoned = Atomic(false)

    init(mission: String) {
        queue = DispatchQueue(label: "peacehub.module.\(mission)")
    }

    /// True while a call begun more than `budget` ago has not returned.
    public func hasOutlived(_ budget: DispatchTimeInterval) -> Bool {
        let started = callStarted.load(ordering: .acquiring)
        guard started != 0 else { return false }
        if abandoned.load(ordering: .acquiring) { return true }
        return DispatchTime(uptimeNanoseconds: started) + budget < DispatchTime.now()
    }

    /// Why a call is not even made: the module is still in one it began more than a budget ago (whole seconds).
    public var stuckReason: String {
        let started = callStarted.load(ordering: .acquiring)
        let seconds = started == 0 ? 0 : (DispatchTime.now().uptimeNanoseconds &- started) / 1_000_000_000
        return "it is still in a call it began \(seconds) s ago, and is not asked again until that call returns"
    }

    /// Runs `body` as the call under way; on the lane's queue. Returns its result and how long it took.
    public func call<T>(_ body: () -> T) -> (T, nanoseconds: UInt64) {
        let started = DispatchTime.now().uptimeNanoseconds
        abandoned.store(false, ordering: .releasing)
        callStarted.store(started, ordering: .releasing)
        let result = body()
        abandoned.store(false, ordering: .releasing)
        callStarted.store(0, ordering: .releasing)
        return (result, DispatchTime.now().uptimeNanoseconds - started)
    }

    /// Runs `body` on the lane and waits for it `budget` at most: nil when it did not answer in time (it still
    /// runs, and the calls after it wait for it), or when a call begun more than `budget` ago has not returned.
    func answer<T: Sendable>(within duration: Duration, _ body: @escaping @Sendable () -> T) -> T? {
        let budget = DispatchTimeInterval.nanoseconds(Int(duration / .nanoseconds(1)))
        guard !hasOutlived(budget) else { return nil }
        let answer = Mutex<T?>(nil)
        let done = DispatchSemaphore(value: 0)
        queue.async {
            let (result, _) = self.call(body)
            answer.withLock { $0 = result }
            done.signal()
        }
        guard done.wait(timeout: .now() + budget) == .success else {
            abandoned.store(true, ordering: .releasing)
            return nil
        }
        return answer.withLock { $0 }
    }
}
