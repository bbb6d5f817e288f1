import NIOCore
import PeaceHubCore

/// One client's session: subscriptions, messages waiting, messages in flight. Owned by the
/// broker and touched only under its lock.
final class Session {
    /// A message on its way to the client: `sequence` orders and names it in the store.
    struct Delivery {
        var sequence: UInt64
        var messageID: UInt64
        var message: BrokerMessage
    }

    /// An outbound QoS 1 or 2 message the client has not finished acknowledging.
    struct Inflight {
        var delivery: Delivery
        var stage: InflightStage
    }

    let clientID: String
    /// The principal the client id is bound to; no one else may resume or take over the session.
    let owner: Principal
    /// False for a clean session, which ends with its connection.
    var persistent: Bool
    var subscriptions: [String: QoS] = [:]
    var will: MQTTPacket.Will?
    var connection: (any BrokerConnection)?

    /// Messages waiting to be sent, one queue per precedence (FLASH first), each in arrival order.
    private var pending: [CircularBuffer<Delivery>] = Array(repeating: CircularBuffer(), count: 4)
    var pendingCount: Int { pending.reduce(0) { $0 + $1.count } }

    /// Outbound messages by packet id, and the order they were sent in (for resending).
    var inflight: [UInt16: Inflight] = [:]
    var inflightOrder: [UInt16] = []
    /// Inbound QoS 2 packet ids received and answered with PUBREC, waiting for PUBREL.
    var inboundQoS2: Set<UInt16> = []
    /// Set on (re)connect: what is in flight goes out again before anything new.
    var resendInflight = false
    private var lastPacketID: UInt16 = 0

    init(clientID: String, owner: Principal, persistent: Bool) {
        self.clientID = clientID
        self.owner = owner
        self.persistent = persistent
    }

    func enqueue(_ delivery: Delivery) {
        pending[Int(Precedence.flash.rawValue - delivery.message.precedence.rawValue)].append(delivery)
    }

    func dequeue() -> Delivery? {
        for index in pending.indices where !pending[index].isEmpty {
            return pending[index].removeFirst()
        }
        return nil
    }

    /// The next queued delivery, if the in-flight window has room for it.
    func dequeueIfRoom(window: Int) -> Delivery? {
        inflight.count < window ? dequeue() : nil
    }

    /// The next free packet id, skipping ids still in flight.
    func nextPacketID() -> UInt16 {
        repeat {
            lastPacketID = lastPacketID == UInt16.max ? 1 : lastPacketID + 1
        } while inflight[lastPacketID] != nil
        return lastPacketID
    }

    func removeInflight(_ id: UInt16) {
        inflight[id] = nil
        inflightOrder.removeAll { $0 == id }
    }
}
