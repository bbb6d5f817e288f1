import NIOCore
import Synchronization

/// The connections of one event loop that were woken since its last wake-up task. One task takes all their turns
/// under one broker lock (`Broker.outgoing(_:)`). A fan-out woke every subscriber's connection for each message,
/// and each took the broker's lock and a task of its own.
final class WakeUps: Sendable {
    private let eventLoop: any EventLoop
    /// The broker keeps this object; the connections waiting here keep the broker.
    private unowned let broker: Broker
    private let woken = Mutex<[MQTTConnectionHandler]>([])

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
        var connections: [MQTTConnectionHandler] = []
        woken.withLock { swap(&$0, &connections) }
        let turns = connections.compactMap { $0.wokenTurn() }
        if !turns.isEmpty { broker.outgoing(turns) }
    }
}
