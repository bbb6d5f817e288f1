import PeaceHubCore

/// How far an outbound QoS 1 or 2 message has got with its client.
public enum InflightStage: UInt8, Sendable, Hashable {
    /// QoS 1, sent, waiting for PUBACK.
    case awaitingPuback = 1
    /// QoS 2, sent, waiting for PUBREC.
    case awaitingPubrec = 2
    /// QoS 2, PUBREC received and PUBREL sent, waiting for PUBCOMP.
    case awaitingPubcomp = 3
}

/// One change to the broker's durable state. Only sessions that outlive their connection (a Session Expiry
/// Interval above 0; 3.1.1 clean session 0) and retained messages are stored; the others live and die in memory.
public enum StoreOperation: Sendable, Equatable {
    /// Creates or replaces a stored session (and drops whatever it had before).
    case createSession(clientID: String, owner: Principal, expiryInterval: UInt32 = .max)
    /// Sets how long a session outlives its connection and, once disconnected, when it ends (milliseconds since
    /// 1970; nil while connected or when it never ends).
    case setSessionExpiry(clientID: String, expiryInterval: UInt32, expiresAt: Int64?)
    /// Deletes a session with its subscriptions, deliveries and inbound QoS 2 ids.
    case deleteSession(clientID: String)
    case subscribe(clientID: String, filter: String, subscription: Subscription)
    case unsubscribe(clientID: String, filter: String)
    /// A message waiting for a client. `sequence` orders a session's deliveries (it grows);
    /// `messageID` names the message, so a store may keep one copy for many deliveries; `shared` is the
    /// shared subscription it came through alone, which takes it back if the session ends first.
    case enqueue(
        clientID: String, sequence: UInt64, messageID: UInt64, message: BrokerMessage,
        subscriptionIdentifiers: [Int] = [], shared: SharedOrigin? = nil)
    /// A delivery was sent with `packetID` and reached `stage`.
    case markInflight(clientID: String, sequence: UInt64, packetID: UInt16, stage: InflightStage)
    /// A delivery is finished (acknowledged) and forgotten.
    case removeDelivery(clientID: String, sequence: UInt64)
    /// An inbound QoS 2 packet id was answered with PUBREC: a resend must not be delivered again.
    case addInboundQoS2(clientID: String, packetID: UInt16)
    /// PUBREL arrived: the packet id is free again.
    case removeInboundQoS2(clientID: String, packetID: UInt16)
    /// Sets (or, with an empty payload, clears) the retained message of the message's topic.
    case setRetained(messageID: UInt64, message: BrokerMessage)
    /// The hub was running at `at` (milliseconds since 1970), written every few seconds: after a crash, the
    /// sessions that were connected count their expiry from it, not from the restart.
    case recordAlive(at: Int64)
    /// Stores the will a disconnected session holds back for its Will Delay Interval; nil deletes it (published,
    /// discarded, or its client is back).
    case setWill(clientID: String, will: StoredWill?)
}

extension StoreOperation {
    /// A plain (3.1.1) subscription: a QoS and no other option.
    public static func subscribe(clientID: String, filter: String, qos: QoS) -> StoreOperation {
        .subscribe(clientID: clientID, filter: filter, subscription: Subscription(options: .init(qos: qos)))
    }
}

/// A session as it was stored.
public struct StoredSession: Sendable, Equatable {
    public var clientID: String
    public var owner: Principal
    public var expiryInterval: UInt32
    /// When the disconnected session ends (milliseconds since 1970); nil if it was connected when stored.
    public var expiresAt: Int64?
    public var subscriptions: ExactDictionary<Subscription>
    /// Deliveries in `sequence` order.
    public var deliveries: [StoredDelivery]
    public var inboundQoS2: Set<UInt16>
    /// The will held back for its delay, when the session was disconnected with one.
    public var will: StoredWill?

    public init(
        clientID: String, owner: Principal, expiryInterval: UInt32 = .max, expiresAt: Int64? = nil,
        subscriptions: ExactDictionary<Subscription> = [:], deliveries: [StoredDelivery] = [],
        inboundQoS2: Set<UInt16> = [], will: StoredWill? = nil
    ) {
        self.clientID = clientID
        self.owner = owner
        self.expiryInterval = expiryInterval
        self.expiresAt = expiresAt
        self.subscriptions = subscriptions
        self.deliveries = deliveries
        self.inboundQoS2 = inboundQoS2
        self.will = will
    }
}

/// A will waiting out its Will Delay Interval after its connection ended: stored, so that a hub restart within the
/// delay publishes it when due instead of losing it.
public struct StoredWill: Sendable, Equatable {
    public var will: MQTTPacket.Will
    /// When it is due, milliseconds since 1970.
    public var publishAt: Int64
    /// The certificates its client connected with (`PeerCredentials`): a CRL loaded after the restart still
    /// discards it.
    public var credentials: [String]

    public init(will: MQTTPacket.Will, publishAt: Int64, credentials: [String]) {
        self.will = will
        self.publishAt = publishAt
        self.credentials = credentials
    }
}

/// The shared subscription a delivery came through alone, and the QoS its message was published with: when the
/// member's session ends first, the group's next member gets it at the QoS its own subscription grants, not at the
/// QoS the first member's granted [MQTT-3.8.4-8].
public struct SharedOrigin: Sendable, Equatable {
    /// `$share/<group>/<filter>`.
    public var filter: String
    public var publishedQoS: QoS

    public init(filter: String, publishedQoS: QoS) {
        self.filter = filter
        self.publishedQoS = publishedQoS
    }
}

public struct StoredDelivery: Sendable, Equatable {
    public var sequence: UInt64
    public var messageID: UInt64
    public var message: BrokerMessage
    public var subscriptionIdentifiers: [Int]
    /// The shared subscription it came through alone.
    public var shared: SharedOrigin?
    /// Set once the delivery was sent with a packet id.
    public var packetID: UInt16?
    public var stage: InflightStage?

    public init(
        sequence: UInt64, messageID: UInt64, message: BrokerMessage, subscriptionIdentifiers: [Int] = [],
        shared: SharedOrigin? = nil, packetID: UInt16? = nil, stage: InflightStage? = nil
    ) {
        self.sequence = sequence
        self.messageID = messageID
        self.message = message
        self.subscriptionIdentifiers = subscriptionIdentifiers
        self.shared = shared
        self.packetID = packetID
        self.stage = stage
    }
}

/// Everything the broker stored, read once at startup.
public struct StoredBrokerState: Sendable, Equatable {
    public var sessions: [StoredSession]
    /// Retained messages by topic.
    public var retained: ExactDictionary<BrokerMessage>
    /// The largest sequence and message id ever stored, so new ones keep growing after a restart.
    public var lastSequence: UInt64
    public var lastMessageID: UInt64
    /// When the hub that wrote the store was last known to run (`StoreOperation.recordAlive`); nil before any.
    public var lastAlive: Int64?

    public init(
        sessions: [StoredSession] = [], retained: ExactDictionary<BrokerMessage> = [:], lastSequence: UInt64 = 0,
        lastMessageID: UInt64 = 0, lastAlive: Int64? = nil
    ) {
        self.sessions = sessions
        self.retained = retained
        self.lastSequence = lastSequence
        self.lastMessageID = lastMessageID
        self.lastAlive = lastAlive
    }
}

/// Where the broker keeps what must survive a crash. QoS 1 and 2 PUBLISHes are acknowledged
/// only after the operations they cause have been committed.
public protocol BrokerStore: Sendable {
    /// Reads everything stored. Called once, before the listener starts.
    func load() throws -> StoredBrokerState

    /// Applies `operations`, in order, atomically and durably, batched with other calls into
    /// one transaction (group commit); then calls `completion` on the store's own thread. Never
    /// blocks the caller: event loops call it.
    func commit(_ operations: [StoreOperation], completion: @escaping @Sendable (Result<Void, any Error>) -> Void)

    /// Waits until everything submitted is committed (for a graceful shutdown).
    func flush()
}
