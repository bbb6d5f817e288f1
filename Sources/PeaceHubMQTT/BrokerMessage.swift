import NIOCore
import PeaceHubCore

/// An application message as the broker routes and queues it.
///
/// What every subscriber shares (topic, payload, publisher, properties) is held once, in one object: a delivery
/// copies a reference, not the fields with a reference count each. Only the QoS and the retain flag, which
/// differ per subscription, are kept inline. Setting a shared field copies the object first if it is shared.
public struct BrokerMessage: Sendable, Equatable {
    /// Copy-on-write: changed only while uniquely referenced (`mutate`), hence `@unchecked Sendable`.
    private final class Storage: @unchecked Sendable {
        var topic: String {
            didSet { mission = BrokerMetrics.mission(of: topic) }
        }
        var payload: ByteBuffer
        var precedence: Precedence
        var publisher: Principal?
        var publisherClientID: String?
        var properties: MQTTProperties
        var expiresAt: Int64?
        /// The traffic counters' mission label, found once rather than for every delivery.
        private(set) var mission: String

        init(
            topic: String, payload: ByteBuffer, precedence: Precedence, publisher: Principal?,
            publisherClientID: String?, properties: MQTTProperties, expiresAt: Int64?
        ) {
            self.topic = topic
            self.payload = payload
            self.precedence = precedence
            self.publisher = publisher
            self.publisherClientID = publisherClientID
            self.properties = properties
            self.expiresAt = expiresAt
            self.mission = BrokerMetrics.mission(of: topic)
        }

        func copy() -> Storage {
            Storage(
                topic: topic, payload: payload, precedence: precedence, publisher: publisher,
                publisherClientID: publisherClientID, properties: properties, expiresAt: expiresAt)
        }
    }

    /// The shared fields are read in place (`_read`): a getter would return each one counted up, to be counted down
    /// again by the caller, and a message is read many times on its way.
    private var storage: Storage
    /// The QoS it was published with; each delivery uses the lower of this and the subscription's.
    public var qos: QoS
    public var retain: Bool

    private mutating func mutate(_ change: (Storage) -> Void) {
        if !isKnownUniquelyReferenced(&storage) { storage = storage.copy() }
        change(storage)
    }

    public var topic: String {
        _read { yield storage.topic }
        set { mutate { $0.topic = newValue } }
    }

    public var payload: ByteBuffer {
        _read { yield storage.payload }
        set { mutate { $0.payload = newValue } }
    }

    /// How urgently it must be delivered; queued messages leave in precedence order.
    public var precedence: Precedence {
        get { storage.precedence }
        set { mutate { $0.precedence = newValue } }
    }

    /// Who published it (`nil` for the hub itself).
    public var publisher: Principal? {
        _read { yield storage.publisher }
        set { mutate { $0.publisher = newValue } }
    }

    /// The client id it came from, for No Local subscriptions (not stored: a restored message has none).
    public var publisherClientID: String? {
        _read { yield storage.publisherClientID }
        set { mutate { $0.publisherClientID = newValue } }
    }

    /// The MQTT 5 properties passed on to subscribers (`MQTTProperties.forwardable`).
    public var properties: MQTTProperties {
        _read { yield storage.properties }
        set { mutate { $0.properties = newValue } }
    }

    /// When it expires (milliseconds since 1970), from its Message Expiry Interval; nil: never.
    public var expiresAt: Int64? {
        get { storage.expiresAt }
        set { mutate { $0.expiresAt = newValue } }
    }

    /// The mission of its topic for the traffic counters (`BrokerMetrics.mission(of:)`).
    var mission: String { storage.mission }

    public init(
        topic: String, payload: ByteBuffer, qos: QoS, retain: Bool = false, precedence: Precedence = .routine,
        publisher: Principal? = nil, publisherClientID: String? = nil, properties: MQTTProperties = [],
        expiresAt: Int64? = nil
    ) {
        self.storage = Storage(
            topic: topic, payload: payload, precedence: precedence, publisher: publisher,
            publisherClientID: publisherClientID, properties: properties, expiresAt: expiresAt)
        self.qos = qos
        self.retain = retain
    }

    public static func == (lhs: BrokerMessage, rhs: BrokerMessage) -> Bool {
        guard lhs.qos == rhs.qos, lhs.retain == rhs.retain else { return false }
        let left = lhs.storage, right = rhs.storage
        return left === right
            || (left.topic == right.topic && left.payload == right.payload && left.precedence == right.precedence
                && left.publisher == right.publisher && left.publisherClientID == right.publisherClientID
                && left.properties == right.properties && left.expiresAt == right.expiresAt)
    }

    /// True once `now` (milliseconds since 1970) has reached its expiry.
    func isExpired(at now: Int64) -> Bool {
        storage.expiresAt.map { $0 <= now } ?? false
    }
}
