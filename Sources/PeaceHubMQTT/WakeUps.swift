import NIOCore
import Synchronization

/// The connections of one event loop that were woken since its last wake-up task. One task takes all their turns
/// under one broker lock (`Broker.outgoing(_:)`). A fan-out woke every subscriber's connection for each message,
/// and each took the broker's lock and a task of its own.
///
/// The task swaps the list for one of the loop's own (`taken`), emptied with its room kept, so that neither list is
/// made anew for each task (hence `@unchecked Sendable`: `taken` is only touched by the task, on the loop).
final class WakeUps: @unchecked Sendable {
    private let eventLoop: any EventLoop
    /// The broker keeps this object; the connections waiting here keep the broker.
    private unowned let broker: Broker
    private let woken = Mutex<[MQTTConnectionHandler]>([])
    private var taken: [MQTTConnectionHandler] = []

    init(eventLoop: any EventLoop, broker: Broker) {
        self.eventLoop = eventLoop
        self.broker = broker
    }

    /// Called from any thread, once per wake-up of `connection` (`MQTTConnectionHandler.wakeUp`).
    func add(_ connection: MQTTConnectionHandler) {
        let first = woken.withLock { woken in
            woken.append(connection)
            return woken.count == 1
        }
        guard first else { return }
        eventLoop.execute { self.takeTurns() }
    }

    private func takeTurns() {
        woken.withLock { swap(&$0, &taken) }
        let turns = taken.compactMap { $0.wokenTurn() }
        taken.removeAll(keepingCapacity: true)
        if !turns.isEmpty { broker.outgoing(turns) }
    }
}
