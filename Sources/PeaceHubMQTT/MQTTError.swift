/// Why the hub closes an MQTT connection, or refuses a packet.
///
/// Every case is a protocol violation or a limit the specification says ends the connection;
/// `Equatable` compares only `code`, so tests can match on the kind of violation.
public struct MQTTError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        fileprivate enum Backing: String, Sendable {
            case malformedPacket = "malformed packet"
            case protocolViolation = "protocol violation"
            case packetTooLarge = "packet too large"
            case unsupportedProtocol = "unsupported protocol"
            case unsupportedProtocolLevel = "unsupported protocol level"
            case payloadFormatInvalid = "payload format invalid"
        }

        fileprivate let backing: Backing

        /// The bytes do not form a valid packet: bad remaining length, truncated fields,
        /// reserved flags set, invalid UTF-8, QoS 3.
        public static let malformedPacket = Code(backing: .malformedPacket)
        /// A valid packet where the specification forbids it: a second CONNECT, a PUBLISH
        /// before CONNECT, wildcards in a topic name, a packet only servers send.
        public static let protocolViolation = Code(backing: .protocolViolation)
        /// The packet is larger than the hub's maximum packet size.
        public static let packetTooLarge = Code(backing: .packetTooLarge)
        /// The CONNECT names another protocol than MQTT: close without CONNACK [MQTT-3.1.2-1].
        public static let unsupportedProtocol = Code(backing: .unsupportedProtocol)
        /// The CONNECT names a protocol level the hub does not speak: CONNACK 0x01, then close
        /// [MQTT-3.1.2-2].
        public static let unsupportedProtocolLevel = Code(backing: .unsupportedProtocolLevel)

        /// A payload that says it is UTF-8 (Payload Format Indicator 1) and is not.
        public static let payloadFormatInvalid = Code(backing: .payloadFormatInvalid)

        public var description: String { backing.rawValue }

        /// The MQTT 5.0 reason code a DISCONNECT (or CONNACK) gives for this error.
        public var reasonCode: ReasonCode {
            switch backing {
            case .malformedPacket: .malformedPacket
            case .protocolViolation: .protocolError
            case .packetTooLarge: .packetTooLarge
            case .unsupportedProtocol, .unsupportedProtocolLevel: .unsupportedProtocolVersion
            case .payloadFormatInvalid: .payloadFormatInvalid
            }
        }
    }

    public let code: Code
    /// What exactly was wrong, with the specification's statement number where one applies.
    public let reason: String
    /// The protocol version of the connection it happened on, when known: a 5.0 peer is told why.
    public private(set) var version: MQTTVersion?

    public init(_ code: Code, _ reason: String) {
        self.code = code
        self.reason = reason
    }

    /// What a CONNECT that failed said of its Maximum Packet Size, which the failing CONNACK must fit
    /// [MQTT-3.2.2-19]; nil for an error in another packet.
    public enum ConnectLimit: Sendable {
        /// Its properties could not be read: it may have given any limit.
        case unknown
        case notGiven
        case bytes(Int)
    }

    public private(set) var connectLimit: ConnectLimit?

    func with(version: MQTTVersion?) -> MQTTError {
        var copy = self
        copy.version = copy.version ?? version
        return copy
    }

    func with(connectLimit: ConnectLimit) -> MQTTError {
        var copy = self
        copy.connectLimit = copy.connectLimit ?? connectLimit
        return copy
    }

    public var description: String { "\(code): \(reason)" }

    public static func == (lhs: MQTTError, rhs: MQTTError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
}
