import NIOCore
import Synchronization

/// The PUBACK of a QoS 1 PUBLISH routed to stored sessions, the deliveries it waits for, and the reply that sends it.
///
/// The PUBACK is owed once the commit has made the stored deliveries durable, or once every one of them was
/// acknowledged by its subscriber, whichever comes first: a message its subscribers all have leaves nothing for the
/// disk to keep, and a crash after that PUBACK loses nothing (RabbitMQ confirms a persistent message consumed on
/// every queue it went to the same way). Whichever comes second answers nothing.
///
/// With a hold time (`Broker.Configuration.storeHoldTime`), and when every session it went to has a connection
/// (`holds`), the broker keeps the deliveries from the store that long from the message's routing: most are
/// acknowledged by then, and the store never hears of them, neither their enqueue nor its removal. What is still
/// unacknowledged goes to the store together with that of the other messages whose hold has ended
/// (`Broker.commitHeldDeliveries(dueBy:)`), and that commit answers.
///
/// Only a message that changes nothing else in the store gets one: not retained, no QoS 2 packet id, no mission
/// module in between (`Broker.publish`). It answers its publisher itself, from where the answer comes (the
/// subscriber's event loop, the store's thread): one object per message instead of a chain of closures, each
/// allocated and counted on one loop and freed on the other. Everything but the answer is read and written under
/// the broker's lock only (hence `@unchecked Sendable`); the answer has a lock of its own, since the store's thread
/// settles it.
final class PendingPuback: @unchecked Sendable {
    /// A stored delivery kept from the store.
    private struct Held {
        var session: Session
        var enqueue: StoreOperation
        var sequence: UInt64
        var sent: (packetID: UInt16, stage: InflightStage)?
    }

    private struct Owed {
        /// Stored deliveries not acknowledged yet.
        var outstanding = 0
        /// Where the message went: set once it is routed, taken by whichever answers first.
        var routing: Broker.Routing?
    }

    private let packetID: UInt16
    private let reply: Broker.Reply
    /// How long the broker may hold the deliveries back (zero: not at all).
    let holdTime: TimeAmount
    /// Emptied when the deliveries go to the store (`takeHeld`): from then on they are the store's.
    private var held: [Held] = []
    /// False once a delivery went to a session without a connection, which acknowledges nothing before it is back.
    private var allConnected = true
    private let owed = Mutex(Owed())

    init(packetID: UInt16, holdTime: TimeAmount, reply: @escaping Broker.Reply) {
        self.packetID = packetID
        self.holdTime = holdTime
        self.reply = reply
    }

    // MARK: Under the broker's lock

    /// Keeps a stored delivery from the store until `takeHeld`; false when it may not (the caller stores it).
    func hold(_ enqueue: StoreOperation, sequence: UInt64, for session: Session) -> Bool {
        guard holdTime > .zero else { return false }
        allConnected = allConnected && session.connection != nil
        held.append(Held(session: session, enqueue: enqueue, sequence: sequence))
        return true
    }

    /// After routing: whether the deliveries stay held. They do not when one went to a session without a
    /// connection: waiting would only delay the PUBACK, and the caller then stores them all at once (`takeHeld`).
    var holds: Bool { holdTime > .zero && allConnected }

    /// After routing, before any delivery can be acknowledged: `deliveries` of the message were stored, and it
    /// went as `routing` says.
    func expect(_ deliveries: Int, routing: Broker.Routing) {
        owed.withLock { owed in
            owed.outstanding = deliveries
            owed.routing = routing
        }
    }

    /// Records that a held delivery was sent with `packetID`; false when the store has it (the caller stores the
    /// change).
    func sent(_ sequence: UInt64, packetID: UInt16, stage: InflightStage) -> Bool {
        guard let index = held.firstIndex(where: { $0.sequence == sequence }) else { return false }
        held[index].sent = (packetID, stage)
        return true
    }

    /// A delivery ended (acknowledged, expired, or too large for its client): true when it was held, and is now
    /// forgotten, so the store never gets it; false when the store has it (the caller removes it there).
    func forget(_ sequence: UInt64) -> Bool {
        guard let index = held.firstIndex(where: { $0.sequence == sequence }) else { return false }
        held.remove(at: index)
        return true
    }

    /// A subscriber acknowledged a delivery. Returns whether the store has it (the caller removes it there), and
    /// when it was the last and the PUBACK is still owed, where the message went: the caller answers with it
    /// (`answer(_:)`) once the lock is released.
    func acknowledged(_ sequence: UInt64) -> (stored: Bool, owed: Broker.Routing?) {
        let stored = !forget(sequence)
        let routing = owed.withLock { owed -> Broker.Routing? in
            owed.outstanding -= 1
            guard owed.outstanding == 0 else { return nil }
            defer { owed.routing = nil }
            return owed.routing
        }
        return (stored, routing)
    }

    /// Hands the held deliveries still unacknowledged to the store, as operations for sessions that are still
    /// `current` (not ended or replaced meanwhile): the enqueue, and the send when there was one.
    func takeHeld(current: (Session) -> Bool) -> [StoreOperation] {
        var operations: [StoreOperation] = []
        for delivery in held where current(delivery.session) {
            operations.append(delivery.enqueue)
            if let sent = delivery.sent {
                operations.append(
                    .markInflight(
                        clientID: delivery.session.clientID, sequence: delivery.sequence, packetID: sent.packetID,
                        stage: sent.stage))
            }
        }
        held = []
        return operations
    }

    // MARK: Any thread

    /// The commit of the stored deliveries completed: answers the publisher, when that is still owed.
    func settle(_ result: Result<Void, any Error>) {
        let routing = owed.withLock { owed -> Broker.Routing? in
            defer { owed.routing = nil }
            return owed.routing
        }
        guard let routing else { return }
        answer(result.map { routing })
    }

    /// Sends the publisher the PUBACK for a message routed as `result` says (the code `Broker.acknowledgementCode`
    /// gives), or fails its connection when the store failed.
    func answer(_ result: Result<Broker.Routing, any Error>) {
        reply(
            result.map { routing in
                let (code, reason) = Broker.acknowledgementCode(of: routing, retain: false)
                return Broker.acknowledgement(packetID: packetID, qos: .atLeastOnce, code, reason)
            })
    }
}
