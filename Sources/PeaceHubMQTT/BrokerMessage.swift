import NIOCore
import PeaceHubCore

/// An application message as the broker routes and queues it.
public struct BrokerMessage: Sendable, Equatable {
    public var topic: String
    public var payload: ByteBuffer
    /// The QoS it was published with; each delivery uses the lower of this and the subscription's.
    public var qos: QoS
    public var retain: Bool
    /// How urgently it must be delivered; queued messages leave in precedence order.
    public var precedence: Precedence
    /// Who published it (`nil` for the hub itself).
    public var publisher: Principal?
    /// The client id it came from, for No Local subscriptions (not stored: a restored message has none).
    public var publisherClientID: String?
    /// The MQTT 5 properties passed on to subscribers (`MQTTProperties.forwardable`).
    public var properties: MQTTProperties
    /// When it expires (milliseconds since 1970), from its Message Expiry Interval; nil: never.
    public var expiresAt: Int64?

    public init(
        topic: String, payload: ByteBuffer, qos: QoS, retain: Bool = false, precedence: Precedence = .routine,
        publisher: Principal? = nil, publisherClientID: String? = nil, properties: MQTTProperties = [],
        expiresAt: Int64? = nil
    ) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.precedence = precedence
        self.publisher = publisher
        self.publisherClientID = publisherClientID
        self.properties = properties
        self.expiresAt = expiresAt
    }

    /// True once `now` (milliseconds since 1970) has reached its expiry.
    func isExpired(at now: Int64) -> Bool {
        expiresAt.map { $0 <= now } ?? false
    }
}
