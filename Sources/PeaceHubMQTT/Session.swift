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
        /// The publisher's PUBACK, when the client's acknowledgement of this stored delivery may send it before
        /// the commit.
        var puback: PendingPuback?
        /// The shared subscription it came through, when it came through that alone: if the session ends before
        /// the client has it, another member of the group gets it (`Broker.drop`).
        var shared: SharedOrigin?
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
    var subscriptions = ExactDictionary<Subscription>()
    var will: MQTTPacket.Will?
    /// When a delayed will is due (milliseconds since 1970), after its connection ended.
    var willAt: Int64?
    /// The certificates the will's client connected with (`PeerCredentials`): a CRL that revokes one discards it.
    var willCredentials: [String] = []
    /// When housekeeping next has something to do for the session: its delayed will or its end, whichever is first.
    var timerDue: Int64? {
        switch (willAt, expiresAt) {
        case (let will?, let end?): min(will, end)
        case (let will, let end): will ?? end
        }
    }
    /// The live connection. What was encoded for the previous one (`enqueueEncoded`) is dropped with it: those
    /// are QoS 0 messages, which an offline session does not keep, and the next connection may speak another
    /// version.
    var connection: (any BrokerConnection)? {
        didSet { if connection !== oldValue { dropEncoded() } }
    }
    /// The protocol version of the current (or last) connection.
    var version: MQTTVersion = .v3_1_1
    /// QoS 1 and 2 messages the client may have unacknowledged: the hub's limit and its Receive Maximum.
    var window: Int = 32
    /// The client's Maximum Packet Size (5.0); the hub never sends it a larger packet.
    var maximumPacketSize: Int?
    /// Whether the client takes topic aliases from the hub (5.0, a Topic Alias Maximum above 0): its connection
    /// fits each PUBLISH with them, so none is encoded ahead for it.
    var takesTopicAliases = false

    /// Messages waiting to be sent, one queue per precedence (FLASH first), each in arrival order. A `Deque` moves a
    /// delivery out where a `CircularBuffer` copies it and clears the slot (a retain and a release per field).
    /// They start empty and live in the session itself: most sessions hold few messages at a time, and an idle one
    /// should cost little memory.
    private var pending = InlineArray<4, Deque<Delivery>>(repeating: Deque())
    /// QoS 0 PUBLISHes of routine precedence, encoded for the connection as they were routed, and how many.
    /// They wait for no window and are never stored, so the publisher's event loop writes their bytes here and
    /// the connection's loop takes them whole: no delivery is made for them, and the connection touches none of
    /// the message's references, which the publisher's loop is retaining for the next messages.
    private var encoded: ByteBuffer?
    private var encodedCount = 0
    /// How many bytes the connection last took encoded: the next buffer starts that large, so that a steady flow
    /// is written without growing it (each doubling copied what it held).
    private var lastEncodedBytes = 0
    /// Queued deliveries and encoded messages.
    private(set) var pendingCount = 0 {
        didSet { tally?.queued += pendingCount - oldValue }
    }
    /// QoS 2 deliveries routed to the session that wait for their message's commit before they are queued: they
    /// count against the queue's limit as if queued.
    var arriving = 0
    /// Batches of QoS 2 PUBLISHes given packet ids whose commit has not completed: a QoS 1 PUBLISH waits behind
    /// them (`Broker.outgoing`).
    var committing = 0
    /// QoS 2 PUBLISHes whose packet ids are stored, to be written (before anything new) by the connection.
    var released: [(delivery: Delivery, packetID: UInt16)] = []
    /// Set when a connection binds to the session, cleared at its first turn to send (after its CONNACK): a
    /// connection that has been sent nothing cannot be falling behind.
    var awaitingFirstTurn = false
    /// When the connection last took a delivery from the queue, or had its first turn (milliseconds since 1970): a
    /// client draining a full queue, e.g. the backlog it came back to, is not one that does not keep up.
    var lastTookAt: Int64 = 0
    /// Counts the connections the session has had: a commit that completes after a reconnect releases nothing,
    /// since the reconnect sends everything in flight again.
    var connectionNumber = 0

    /// Outbound messages by packet id, and the order they were sent in, PUBREC'd ones moved to the end as their
    /// PUBRECs come (for resending).
    var inflight: [UInt16: Inflight] = [:] {
        // Without `oldValue`, so that a change is made in place rather than to a copy of the dictionary.
        didSet {
            tally?.inflight += inflight.count - inflightCount
            inflightCount = inflight.count
        }
    }
    /// `inflight.count` as `tally` last counted it.
    private var inflightCount = 0
    /// The broker's count of every session's messages while the session is one of the broker's (`count(in:)`).
    private var tally: SessionTally?
    var inflightOrder: [UInt16] = []
    /// Inbound QoS 2 packet ids received and answered with PUBREC, waiting for PUBREL.
    var inboundQoS2: Set<UInt16> = []
    /// Inbound QoS 2 packet ids whose first PUBLISH is still being judged or stored, with the replies its resends
    /// (after a reconnect) wait for: they get its answer, which may refuse it or fail.
    var undecidedQoS2: [UInt16: [Broker.Reply]] = [:]
    /// Packet ids in flight not yet sent again on the current connection: set on (re)connect, when everything in
    /// flight goes out again before anything new: the PUBRELs in the order their PUBRECs came, then the PUBLISHes in
    /// the order first sent, within the window.
    var resend: [UInt16] = []
    private var lastPacketID: UInt16 = 0
    /// The last routing pass that added the connection to its wake-up list.
    private var wokenInPass: UInt64 = 0

    init(clientID: String, owner: Principal, expiryInterval: UInt32) {
        self.clientID = clientID
        self.owner = owner
        self.expiryInterval = expiryInterval
    }

    /// Moves the session's queued and in-flight messages out of the count it was in and into `tally` (nil: none).
    func count(in tally: SessionTally?) {
        self.tally?.queued -= pendingCount
        self.tally?.inflight -= inflightCount
        self.tally = tally
        tally?.queued += pendingCount
        tally?.inflight += inflightCount
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

    /// Whether a QoS 0 delivery of `message` without the retain flag, with the Subscription Identifiers
    /// `identifiers`, goes encoded (`enqueueEncoded`): to a live connection, at routine precedence, and only while
    /// no delivery is queued or waiting to be sent again. Encoded messages leave before those, so every message
    /// still leaves in the order it came, and queued ones by precedence among themselves. A 5.0 PUBLISH goes so
    /// when it is the same for every subscriber and at any time: no identifiers, no expiry to count down, no topic
    /// alias, and within the client's Maximum Packet Size (a larger one is queued, and dropped there as if
    /// delivered [MQTT-3.1.2-25]).
    func takesEncoded(_ message: BrokerMessage, identifiers: [Int]) -> Bool {
        guard pendingCount == encodedCount, resend.isEmpty, connection != nil, message.precedence == .routine else {
            return false
        }
        guard version == .v5 else { return true }
        guard identifiers.isEmpty, message.expiresAt == nil, !takesTopicAliases else { return false }
        guard let maximumPacketSize else { return true }
        let remaining = MQTTPacket.Publish.remainingLength(
            topic: message.topic, payload: message.payload, packetID: nil, properties: message.properties)
        return 1 + VariableByteInteger.size(of: remaining) + remaining <= maximumPacketSize
    }

    /// Encodes `message` as a QoS 0 PUBLISH without the retain flag for the connection, with the message's
    /// properties for a 5.0 one.
    func enqueueEncoded(_ message: BrokerMessage) {
        if encoded == nil { encoded = Self.allocator.buffer(capacity: max(lastEncodedBytes, 1024)) }
        encoded!.writePublish(
            topic: message.topic, payload: message.payload, qos: .atMostOnce, retain: false, duplicate: false,
            packetID: nil, properties: version == .v5 ? message.properties : nil)
        encodedCount += 1
        pendingCount += 1
    }

    /// The encoded messages, to write before the queued deliveries.
    func takeEncoded() -> ByteBuffer? {
        defer { dropEncoded() }
        if let encoded { lastEncodedBytes = encoded.readableBytes }
        return encoded
    }

    /// The encoded messages one by one: each is a QoS 0 PUBLISH, its topic right after the fixed header.
    private func forEachEncoded(_ body: (_ topic: String, _ packet: ByteBuffer) -> Void) {
        guard let encoded else { return }
        var reader = PacketReader(encoded, packet: "PUBLISH")
        while !reader.isAtEnd {
            let start = reader.buffer.readerIndex
            guard (try? reader.byte("fixed header")) != nil,
                let remaining = try? reader.variableByteInteger("remaining length"),
                let packet = encoded.getSlice(at: start, length: reader.buffer.readerIndex - start + remaining),
                let topic = try? reader.string("topic")
            else { return }
            body(topic, packet)
            reader.buffer.moveReaderIndex(to: start + packet.readableBytes)
        }
    }

    /// The topics of the encoded messages.
    var encodedTopics: Set<ExactString> {
        var topics: Set<ExactString> = []
        forEachEncoded { topic, _ in topics.insert(ExactString(topic)) }
        return topics
    }

    /// Takes out the encoded messages whose topic `leaving` picks; the others keep their order. Returns how many
    /// left.
    func removeEncoded(where leaving: (String) -> Bool) -> Int {
        guard let bytes = encoded else { return 0 }
        var kept = Self.allocator.buffer(capacity: bytes.readableBytes)
        var removed = 0
        forEachEncoded { topic, packet in
            if leaving(topic) {
                removed += 1
            } else {
                kept.writeImmutableBuffer(packet)
            }
        }
        encoded = kept
        encodedCount -= removed
        pendingCount -= removed
        return removed
    }

    private func dropEncoded() {
        encoded = nil
        pendingCount -= encodedCount
        encodedCount = 0
    }

    private static let allocator = ByteBufferAllocator()

    /// The next queued delivery, if nothing is left to resend and the in-flight window has room for it, unless
    /// `held` says it must wait (it stays first in the queue).
    func dequeueIfRoom(unless held: (Delivery) -> Bool) -> Delivery? {
        guard resend.isEmpty, inflight.count < window else { return nil }
        for index in pending.indices where !pending[index].isEmpty {
            return held(pending[index][pending[index].startIndex]) ? nil : dequeue()
        }
        return nil
    }

    /// Whether the queue is full, counting the deliveries still arriving.
    func isFull(limit: Int) -> Bool { pendingCount + arriving >= limit }

    /// Whether the window has room for one more PUBLISH to resend: what this connection was sent and has not
    /// finished is below it [MQTT-3.3.4-9], whatever the previous connection's window was.
    var hasRoomToResend: Bool { inflight.count - resend.count < window }

    /// Takes out the queued deliveries `leaving` picks; the others keep their order.
    func removeQueued(where leaving: (Delivery) -> Bool) -> [Delivery] {
        var removed: [Delivery] = []
        for index in pending.indices {
            removed += pending[index].filter(leaving)
            pending[index].removeAll(where: leaving)
        }
        pendingCount -= removed.count
        return removed
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
        resend.removeAll { $0 == id }
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

/// Messages queued for sessions and QoS 1 and 2 messages in flight to them, in all the broker's sessions, kept by
/// each session as they change: `housekeeping` reads two numbers under the lock every message takes, not every
/// session. Touched only under the broker's lock, as the sessions are.
final class SessionTally: @unchecked Sendable {
    var queued = 0
    var inflight = 0
}
