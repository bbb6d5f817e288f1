import NIOCore

/// The MQTT protocol level a connection speaks, from its CONNECT.
public enum MQTTVersion: UInt8, Sendable, Hashable {
    /// MQTT 3.1.1 (protocol level 4).
    case v3_1_1 = 4
    /// MQTT 5.0 (protocol level 5).
    case v5 = 5
}

/// Quality of service.
public enum QoS: UInt8, Sendable, Hashable, Comparable, Codable {
    case atMostOnce = 0
    case atLeastOnce = 1
    case exactlyOnce = 2

    public static func < (lhs: QoS, rhs: QoS) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// The control packet types (the high nibble of the fixed header).
public enum PacketType: UInt8, Sendable, CustomStringConvertible {
    case connect = 1, connack, publish, puback, pubrec, pubrel, pubcomp, subscribe, suback, unsubscribe, unsuback
    case pingreq, pingresp, disconnect, auth

    /// The specification's name (`PUBLISH`), for errors.
    public var name: String { Self.names[Int(rawValue) - 1] }

    public var description: String { name }

    /// CONNACK, SUBACK, UNSUBACK, PINGRESP: a client that sends one violates the protocol.
    var isSentByServersOnly: Bool {
        switch self {
        case .connack, .suback, .unsuback, .pingresp: true
        default: false
        }
    }

    /// CONNECT, SUBSCRIBE, UNSUBSCRIBE, PINGREQ: a server that sends one violates the protocol.
    var isSentByClientsOnly: Bool {
        switch self {
        case .connect, .subscribe, .unsubscribe, .pingreq: true
        default: false
        }
    }

    private static let names = [
        "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP", "SUBSCRIBE", "SUBACK", "UNSUBSCRIBE",
        "UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT", "AUTH",
    ]
}

/// An MQTT control packet, as the hub reads it from clients or writes it to them.
///
/// One model for both versions: fields 3.1.1 lacks (reason codes, properties) are simply left at their defaults
/// when a 3.1.1 packet is read, and left out when one is written.
public enum MQTTPacket: Sendable, Equatable {
    case connect(Connect)
    case connack(ConnAck)
    case publish(Publish)
    case puback(Acknowledgement)
    case pubrec(Acknowledgement)
    case pubrel(Acknowledgement)
    case pubcomp(Acknowledgement)
    case subscribe(Subscribe)
    case suback(SubAck)
    case unsubscribe(Unsubscribe)
    case unsuback(UnsubAck)
    case pingreq
    case pingresp
    case disconnect(Disconnect)
    /// MQTT 5 enhanced authentication; the hub's only authentication is the TLS certificate.
    case auth(Disconnect)

    /// A QoS 0 PUBLISH, which has no answer: asked for every packet, so it looks at the QoS in place.
    var isQoS0Publish: Bool {
        switch self {
        case .publish(let publish): publish.qos == .atMostOnce
        default: false
        }
    }

    public static func puback(packetID: UInt16, _ reasonCode: ReasonCode = .success) -> MQTTPacket {
        .puback(Acknowledgement(packetID: packetID, reasonCode: reasonCode))
    }
    public static func pubrec(packetID: UInt16, _ reasonCode: ReasonCode = .success) -> MQTTPacket {
        .pubrec(Acknowledgement(packetID: packetID, reasonCode: reasonCode))
    }
    public static func pubrel(packetID: UInt16, _ reasonCode: ReasonCode = .success) -> MQTTPacket {
        .pubrel(Acknowledgement(packetID: packetID, reasonCode: reasonCode))
    }
    public static func pubcomp(packetID: UInt16, _ reasonCode: ReasonCode = .success) -> MQTTPacket {
        .pubcomp(Acknowledgement(packetID: packetID, reasonCode: reasonCode))
    }
    public static func unsuback(packetID: UInt16) -> MQTTPacket {
        .unsuback(UnsubAck(packetID: packetID, reasonCodes: []))
    }
}

extension MQTTPacket {
    /// The packet without Reason String and User Properties, which a receiver may do without (section 3.1.2.11.7).
    public var withoutDiagnostics: MQTTPacket {
        func trimmed(_ properties: MQTTProperties) -> MQTTProperties {
            MQTTProperties(properties.items.filter {
                switch $0 {
                case .reasonString, .userProperty: false
                default: true
                }
            })
        }
        switch self {
        case .connack(var ack):
            ack.properties = trimmed(ack.properties)
            return .connack(ack)
        case .puback(var ack):
            ack.properties = trimmed(ack.properties)
            return .puback(ack)
        case .pubrec(var ack):
            ack.properties = trimmed(ack.properties)
            return .pubrec(ack)
        case .pubrel(var ack):
            ack.properties = trimmed(ack.properties)
            return .pubrel(ack)
        case .pubcomp(var ack):
            ack.properties = trimmed(ack.properties)
            return .pubcomp(ack)
        case .suback(var ack):
            ack.properties = trimmed(ack.properties)
            return .suback(ack)
        case .unsuback(var ack):
            ack.properties = trimmed(ack.properties)
            return .unsuback(ack)
        case .disconnect(var disconnect):
            disconnect.properties = trimmed(disconnect.properties)
            return .disconnect(disconnect)
        default:
            return self
        }
    }
}

extension MQTTPacket {
    /// The CONNECT packet.
    public struct Connect: Sendable, Equatable {
        public var version: MQTTVersion
        public var clientID: String
        /// Clean Start (5.0) or Clean Session (3.1.1): discard any existing session. In 3.1.1 it also means the
        /// session ends with the connection; 5.0 says that with a Session Expiry Interval of 0 instead.
        public var cleanStart: Bool
        /// Seconds; 0 turns keep-alive off.
        public var keepAlive: UInt16
        public var will: Will?
        /// Read to honour the wire format; the hub ignores both (the certificate is the credential).
        public var username: String?
        public var password: [UInt8]?
        public var properties: MQTTProperties

        public init(
            version: MQTTVersion = .v3_1_1, clientID: String, cleanStart: Bool = true, keepAlive: UInt16 = 60,
            will: Will? = nil, username: String? = nil, password: [UInt8]? = nil, properties: MQTTProperties = []
        ) {
            self.version = version
            self.clientID = clientID
            self.cleanStart = cleanStart
            self.keepAlive = keepAlive
            self.will = will
            self.username = username
            self.password = password
            self.properties = properties
        }

        /// How long the session outlives its connection, in seconds (`UInt32.max`: forever). A 3.1.1 clean
        /// session ends with its connection; a 3.1.1 persistent one never expires.
        public var sessionExpiryInterval: UInt32 {
            switch version {
            case .v3_1_1: cleanStart ? 0 : .max
            case .v5: properties.sessionExpiryInterval ?? 0
            }
        }
    }

    /// A will message, published by the hub when the client goes away without a normal DISCONNECT.
    public struct Will: Sendable, Equatable {
        public var topic: String
        public var payload: [UInt8]
        public var qos: QoS
        public var retain: Bool
        /// Will Delay Interval, and the message properties passed on with the will.
        public var properties: MQTTProperties

        public init(topic: String, payload: [UInt8], qos: QoS, retain: Bool, properties: MQTTProperties = []) {
            self.topic = topic
            self.payload = payload
            self.qos = qos
            self.retain = retain
            self.properties = properties
        }
    }

    /// CONNACK: `reasonCode` in 5.0 terms; a 3.1.1 encoder writes the matching return code (section 3.2.2.3).
    public struct ConnAck: Sendable, Equatable {
        public var sessionPresent: Bool
        public var reasonCode: ReasonCode
        public var properties: MQTTProperties

        public init(sessionPresent: Bool, reasonCode: ReasonCode, properties: MQTTProperties = []) {
            self.sessionPresent = sessionPresent
            self.reasonCode = reasonCode
            self.properties = properties
        }
    }

    public struct Publish: Sendable, Equatable {
        public var topic: String
        public var payload: ByteBuffer
        public var qos: QoS
        public var retain: Bool
        public var duplicate: Bool
        /// Present exactly when `qos > 0`.
        public var packetID: UInt16?
        public var properties: MQTTProperties

        public init(
            topic: String, payload: ByteBuffer, qos: QoS = .atMostOnce, retain: Bool = false, duplicate: Bool = false,
            packetID: UInt16? = nil, properties: MQTTProperties = []
        ) {
            self.topic = topic
            self.payload = payload
            self.qos = qos
            self.retain = retain
            self.duplicate = duplicate
            self.packetID = packetID
            self.properties = properties
        }
    }

    /// PUBACK, PUBREC, PUBREL or PUBCOMP.
    public struct Acknowledgement: Sendable, Equatable {
        public var packetID: UInt16
        public var reasonCode: ReasonCode
        /// Reason String and User Properties (5.0).
        public var properties: MQTTProperties

        public init(packetID: UInt16, reasonCode: ReasonCode = .success, properties: MQTTProperties = []) {
            self.packetID = packetID
            self.reasonCode = reasonCode
            self.properties = properties
        }
    }

    /// What RETAIN HANDLING asks for retained messages when subscribing (5.0, section 3.8.3.1).
    public enum RetainHandling: UInt8, Sendable, Hashable {
        /// Send them at the time of the subscribe.
        case sendOnSubscribe = 0
        /// Send them only if the subscription did not exist.
        case sendIfNew = 1
        /// Do not send them.
        case doNotSend = 2
    }

    /// The subscription options byte (3.1.1 has only the QoS).
    public struct SubscriptionOptions: Sendable, Hashable {
        public var qos: QoS
        /// Do not forward to this client the messages it published itself.
        public var noLocal: Bool
        /// Keep the RETAIN flag of forwarded messages as it was published.
        public var retainAsPublished: Bool
        public var retainHandling: RetainHandling

        public init(
            qos: QoS, noLocal: Bool = false, retainAsPublished: Bool = false,
            retainHandling: RetainHandling = .sendOnSubscribe
        ) {
            self.qos = qos
            self.noLocal = noLocal
            self.retainAsPublished = retainAsPublished
            self.retainHandling = retainHandling
        }

        /// The options as the wire's byte.
        public var byte: UInt8 {
            qos.rawValue | (noLocal ? 0x04 : 0) | (retainAsPublished ? 0x08 : 0) | retainHandling.rawValue << 4
        }
    }

    public struct Subscribe: Sendable, Equatable {
        public var packetID: UInt16
        public var subscriptions: [(filter: String, options: SubscriptionOptions)]
        /// A Subscription Identifier and User Properties (5.0).
        public var properties: MQTTProperties

        public init(
            packetID: UInt16, subscriptions: [(filter: String, options: SubscriptionOptions)],
            properties: MQTTProperties = []
        ) {
            self.packetID = packetID
            self.subscriptions = subscriptions
            self.properties = properties
        }

        /// A 3.1.1-style SUBSCRIBE: filters with a QoS each.
        public init(packetID: UInt16, subscriptions: [(filter: String, qos: QoS)]) {
            self.init(packetID: packetID, subscriptions: subscriptions.map { ($0.filter, SubscriptionOptions(qos: $0.qos)) })
        }

        public static func == (lhs: Subscribe, rhs: Subscribe) -> Bool {
            lhs.packetID == rhs.packetID && lhs.properties == rhs.properties
                && lhs.subscriptions.elementsEqual(rhs.subscriptions) { $0 == $1 }
        }
    }

    /// SUBACK: one reason code per filter, in order (granted QoS, or a failure; 3.1.1 writes any failure as 0x80).
    public struct SubAck: Sendable, Equatable {
        public var packetID: UInt16
        public var reasonCodes: [ReasonCode]
        public var properties: MQTTProperties

        public init(packetID: UInt16, reasonCodes: [ReasonCode], properties: MQTTProperties = []) {
            self.packetID = packetID
            self.reasonCodes = reasonCodes
            self.properties = properties
        }
    }

    public struct Unsubscribe: Sendable, Equatable {
        public var packetID: UInt16
        public var filters: [String]
        public var properties: MQTTProperties

        public init(packetID: UInt16, filters: [String], properties: MQTTProperties = []) {
            self.packetID = packetID
            self.filters = filters
            self.properties = properties
        }
    }

    /// UNSUBACK: 5.0 has one reason code per filter; 3.1.1 has none.
    public struct UnsubAck: Sendable, Equatable {
        public var packetID: UInt16
        public var reasonCodes: [ReasonCode]
        public var properties: MQTTProperties

        public init(packetID: UInt16, reasonCodes: [ReasonCode], properties: MQTTProperties = []) {
            self.packetID = packetID
            self.reasonCodes = reasonCodes
            self.properties = properties
        }
    }

    /// DISCONNECT (either direction in 5.0) and AUTH: a reason code and properties.
    public struct Disconnect: Sendable, Equatable {
        public var reasonCode: ReasonCode
        public var properties: MQTTProperties

        public init(reasonCode: ReasonCode = .success, properties: MQTTProperties = []) {
            self.reasonCode = reasonCode
            self.properties = properties
        }
    }
}
