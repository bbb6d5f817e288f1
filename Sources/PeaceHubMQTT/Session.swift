import DequeModule
import NIOCore
import PeaceHubCore

/// One client's session: subscriptions, messages waiting, messages in flight, the will. Owned by the broker and
/// touched only under its lock (hence `@unchecked Sendable`: a reference may cross threads, its state is only read
/// and written with the lock held).
final class Session: @unchecked Sendable {
    /// A message on its way to the client: `sequence` orders and names it in the store.
    struct Delivery {
        var sequence: UInt64
        var messageID: UInt64
        var message: BrokerMessage
        /// The Subscription Identifiers of the subscriptions that matched (5.0).
        var subscriptionIdentifiers: [Int] = []
    }

    /// An outbound QoS 1 or 2 message the client has not finished acknowledging.
    struct Inflight {
        var delivery: Delivery
        var stage: InflightStage
    }

    let clientID: String
    /// The principal the client id is bound to; no one else may resume or take over the session.
    let owner: Principal
    /// Seconds the session outlives its connection: 0 ends it with the connection, `UInt32.max` never.
    var expiryInterval: UInt32
    /// When a disconnected session ends (milliseconds since 1970); nil while connected or for a never-ending one.
    var expiresAt: Int64?
    /// Subscriptions by their full filter (`$share/<group>/<filter>` for a shared one).
    var subscriptions: [String: Subscription] = [:]
    var will: MQTTPacket.Will?
    /// When a delayed will is due (milliseconds since 1970), after its connection ended.
    var willAt: Int64?
    var connection: (any BrokerConnection)?
    /// The protocol version of the current (or last) connection.
    var version: MQTTVersion = .v3_1_1
    /// QoS 1 and 2 messages the client may have unacknowledged: the hub's limit and its Receive Maximum.
    var window: Int = 32
    /// The client's Maximum Packet Size (5.0); the hub never sends it a larger packet.
    var maximumPacketSize: Int?

    /// Messages waiting to be sent, one queue per precedence (FLASH first), each in arrival order. A `Deque` moves a
    /// delivery out where a `CircularBuffer` copies it and clears the slot (a retain and a release per field).
    /// They start empty and live in the session itself: most sessions hold few messages at a time, and an idle one
    /// should cost little memory.
    private var pending = InlineArray<4, Deque<Delivery>>(repeating: Deque())
    private(set) var pendingCount = 0

    /// Outbound messages by packet id, and the order they were sent in (for resending).
    var inflight: [UInt16: Inflight] = [:]
    var inflightOrder: [UInt16] = []
    /// Inbound QoS 2 packet ids received and answered with PUBREC, waiting for PUBREL.
    var inboundQoS2: Set<UInt16> = []
    /// Set on (re)connect: what is in flight goes out again before anything new.
    var resendInflight = false
    private var lastPacketID: UInt16 = 0
    /// The last routing pass that added the connection to its wake-up list.
    private var wokenInPass: UInt64 = 0

    init(clientID: String, owner: Principal, expiryInterval: UInt32) {
        self.clientID = clientID
        self.owner = owner
        self.expiryInterval = expiryInterval
    }

    /// True when the session outlives its connection, and is therefore kept in the store.
    var isStored: Bool { expiryInterval > 0 }

    func enqueue(_ delivery: Delivery) {
        pending[Int(Precedence.flash.rawValue - delivery.message.precedence.rawValue)].append(delivery)
        pendingCount += 1
    }

    func dequeue() -> Delivery? {
        for index in pending.indices where !pending[index].isEmpty {
            pendingCount -= 1
            return pending[index].removeFirst()
        }
        return nil
    }

    /// Adds the connection, if any, to `wake` once per routing `pass`: a burst of messages for the session needs
    /// one wake-up, and each more would be a reference and an atomic operation on an object another event loop is
    /// using.
    func addConnection(to wake: inout [any BrokerConnection], pass: UInt64) {
        guard let connection, wokenInPass != pass else { return }
        wokenInPass = pass
        wake.append(connection)
    }

    /// The next queued delivery, if the in-flight window has room for it.
    func dequeueIfRoom() -> Delivery? {
        inflight.count < window ? dequeue() : nil
    }

    /// Every queued delivery, in the order they would leave.
    var queued: [Delivery] {
        var all: [Delivery] = []
        for index in pending.indices { all += pending[index] }
        return all
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

/// A granted subscription: its options and its Subscription Identifier (5.0).
public struct Subscription: Sendable, Hashable {
    public var options: MQTTPacket.SubscriptionOptions
    public var identifier: Int?

    public init(options: MQTTPacket.SubscriptionOptions, identifier: Int? = nil) {
        self.options = options
        self.identifier = identifier
    }

    public var qos: QoS { options.qos }
}
