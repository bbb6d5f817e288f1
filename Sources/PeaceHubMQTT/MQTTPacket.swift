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
public enum PacketType: UInt8, Sendable {
    case connect = 1, connack, publish, puback, pubrec, pubrel, pubcomp, subscribe, suback, unsubscribe, unsuback
    case pingreq, pingresp, disconnect
}

/// An MQTT control packet, as the hub reads it from clients or writes it to them.
public enum MQTTPacket: Sendable, Equatable {
    case connect(Connect)
    case connack(ConnAck)
    case publish(Publish)
    case puback(packetID: UInt16)
    case pubrec(packetID: UInt16)
    case pubrel(packetID: UInt16)
    case pubcomp(packetID: UInt16)
    case subscribe(Subscribe)
    case suback(SubAck)
    case unsubscribe(Unsubscribe)
    case unsuback(packetID: UInt16)
    case pingreq
    case pingresp
    case disconnect
}

extension MQTTPacket {
    /// The CONNECT packet.
    public struct Connect: Sendable, Equatable {
        public var version: MQTTVersion
        public var clientID: String
        public var cleanSession: Bool
        /// Seconds; 0 turns keep-alive off.
        public var keepAlive: UInt16
        public var will: Will?
        /// Read to honour the wire format; the hub ignores both (the certificate is the credential).
        public var username: String?
        public var password: [UInt8]?

        public init(
            version: MQTTVersion = .v3_1_1, clientID: String, cleanSession: Bool = true, keepAlive: UInt16 = 60,
            will: Will? = nil, username: String? = nil, password: [UInt8]? = nil
        ) {
            self.version = version
            self.clientID = clientID
            self.cleanSession = cleanSession
            self.keepAlive = keepAlive
            self.will = will
            self.username = username
            self.password = password
        }
    }

    /// A will message, published by the hub when the client goes away without DISCONNECT.
    public struct Will: Sendable, Equatable {
        public var topic: String
        public var payload: [UInt8]
        public var qos: QoS
        public var retain: Bool

        public init(topic: String, payload: [UInt8], qos: QoS, retain: Bool) {
            self.topic = topic
            self.payload = payload
            self.qos = qos
            self.retain = retain
        }
    }

    /// CONNACK return codes of MQTT 3.1.1 (section 3.2.2.3).
    public enum ConnectReturnCode: UInt8, Sendable {
        case accepted = 0
        case unacceptableProtocolVersion = 1
        case identifierRejected = 2
        case serverUnavailable = 3
        case badUsernameOrPassword = 4
        case notAuthorized = 5
    }

    public struct ConnAck: Sendable, Equatable {
        public var sessionPresent: Bool
        public var returnCode: ConnectReturnCode

        public init(sessionPresent: Bool, returnCode: ConnectReturnCode) {
            self.sessionPresent = sessionPresent
            self.returnCode = returnCode
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

        public init(
            topic: String, payload: ByteBuffer, qos: QoS = .atMostOnce, retain: Bool = false, duplicate: Bool = false,
            packetID: UInt16? = nil
        ) {
            self.topic = topic
            self.payload = payload
            self.qos = qos
            self.retain = retain
            self.duplicate = duplicate
            self.packetID = packetID
        }
    }

    public struct Subscribe: Sendable, Equatable {
        public var packetID: UInt16
        public var subscriptions: [(filter: String, qos: QoS)]

        public init(packetID: UInt16, subscriptions: [(filter: String, qos: QoS)]) {
            self.packetID = packetID
            self.subscriptions = subscriptions
        }

        public static func == (lhs: Subscribe, rhs: Subscribe) -> Bool {
            lhs.packetID == rhs.packetID && lhs.subscriptions.elementsEqual(rhs.subscriptions) { $0 == $1 }
        }
    }

    /// One SUBACK return code: the granted QoS, or failure (0x80).
    public enum SubscribeReturnCode: Sendable, Equatable {
        case granted(QoS)
        case failure
    }

    public struct SubAck: Sendable, Equatable {
        public var packetID: UInt16
        public var returnCodes: [SubscribeReturnCode]

        public init(packetID: UInt16, returnCodes: [SubscribeReturnCode]) {
            self.packetID = packetID
            self.returnCodes = returnCodes
        }
    }

    public struct Unsubscribe: Sendable, Equatable {
        public var packetID: UInt16
        public var filters: [String]

        public init(packetID: UInt16, filters: [String]) {
            self.packetID = packetID
            self.filters = filters
        }
    }
}
