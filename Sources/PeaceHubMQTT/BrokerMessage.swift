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

    public init(
        topic: String, payload: ByteBuffer, qos: QoS, retain: Bool = false, precedence: Precedence = .routine,
        publisher: Principal? = nil
    ) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.precedence = precedence
        self.publisher = publisher
    }
}
