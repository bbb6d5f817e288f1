import NIOCore

/// Splits the byte stream from a client into packets and parses them (MQTT 3.1.1).
///
/// It refuses every malformed packet and every packet a client may not send; any error ends
/// the connection, as the specification asks. Order rules (CONNECT first and only once) belong
/// to the connection's state machine.
public struct MQTTDecoder: NIOSingleStepByteToMessageDecoder {
    public typealias InboundOut = MQTTPacket

    /// Which side reads: the hub reads what clients send; `peacehub pub`/`sub` read what servers send.
    public enum Role: Sendable {
        case server, client
    }

    /// The largest packet accepted, fixed header included.
    public let maximumPacketSize: Int
    public let role: Role
    /// The connection's protocol version, from its first CONNECT.
    public private(set) var version: MQTTVersion?

    public init(maximumPacketSize: Int, role: Role = .server) {
        self.maximumPacketSize = maximumPacketSize
        self.role = role
    }

    public mutating func decode(buffer: inout ByteBuffer) throws -> MQTTPacket? {
        guard let (headerLength, remainingLength) = try Self.peekFrame(buffer) else { return nil }
        guard headerLength + remainingLength <= maximumPacketSize else {
            throw MQTTError(
                .packetTooLarge, "a packet of \(headerLength + remainingLength) bytes exceeds the limit of \(maximumPacketSize)")
        }
        guard buffer.readableBytes >= headerLength + remainingLength else { return nil }
        let first = buffer.readInteger(as: UInt8.self)!
        buffer.moveReaderIndex(forwardBy: headerLength - 1)
        let body = buffer.readSlice(length: remainingLength)!
        let packet = try Self.parse(first: first, body: body, version: version, role: role)
        if case .connect(let connect) = packet, version == nil { version = connect.version }
        return packet
    }

    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> MQTTPacket? {
        // A frame cut short by the peer closing is dropped with the connection.
        try decode(buffer: &buffer)
    }

    /// The fixed header's length and the remaining length, or `nil` when more bytes are needed.
    static func peekFrame(_ buffer: ByteBuffer) throws(MQTTError) -> (Int, Int)? {
        var remaining = 0
        var multiplier = 1
        var index = buffer.readerIndex + 1
        for position in 0..<4 {
            guard let byte = buffer.getInteger(at: index, as: UInt8.self) else { return nil }
            remaining += Int(byte & 0x7f) * multiplier
            index += 1
            if byte & 0x80 == 0 { return (position + 2, remaining) }
            multiplier *= 128
        }
        throw MQTTError(.malformedPacket, "the remaining length takes more than four bytes [MQTT-2.2.3]")
    }

    static let sentByServers: Set<PacketType> = [.connack, .suback, .unsuback, .pingresp]
    static let sentByClients: Set<PacketType> = [.connect, .subscribe, .unsubscribe, .pingreq, .disconnect]

    /// Parses one packet whose fixed header's first byte is `first` and whose body is `body`.
    static func parse(first: UInt8, body: ByteBuffer, version: MQTTVersion?, role: Role = .server) throws(MQTTError)
        -> MQTTPacket
    {
        let flags = first & 0x0f
        guard let type = PacketType(rawValue: first >> 4) else {
            throw MQTTError(.malformedPacket, "reserved packet type \(first >> 4) [MQTT-2.2.1]")
        }
        let required: UInt8 =
            switch type {
            case .publish: flags  // checked below
            case .pubrel, .subscribe, .unsubscribe: 0b0010
            default: 0
            }
        guard flags == required else {
            throw MQTTError(.malformedPacket, "\(type) with reserved flags \(flags) [MQTT-2.2.2-2]")
        }
        // Packets travel one way only: a peer that sends the other side's packets violates the protocol.
        switch role {
        case .server where sentByServers.contains(type):
            throw MQTTError(.protocolViolation, "a client sent \(type), which only a server sends")
        case .client where sentByClients.contains(type):
            throw MQTTError(.protocolViolation, "a server sent \(type), which only a client sends")
        default:
            break
        }
        var reader = PacketReader(body, packet: "\(type)".uppercased())
        switch type {
        case .connect:
            return .connect(try parseConnect(&reader))
        case .publish:
            return .publish(try parsePublish(&reader, flags: flags))
        case .puback, .pubrec, .pubrel, .pubcomp:
            let id = try reader.packetID()
            try reader.expectEnd()
            switch type {
            case .puback: return .puback(packetID: id)
            case .pubrec: return .pubrec(packetID: id)
            case .pubrel: return .pubrel(packetID: id)
            default: return .pubcomp(packetID: id)
            }
        case .subscribe:
            let id = try reader.packetID()
            var subscriptions: [(filter: String, qos: QoS)] = []
            while !reader.isAtEnd {
                let filter = try reader.string("topic filter")
                let options = try reader.byte("requested QoS")
                guard options & 0xfc == 0, let qos = QoS(rawValue: options) else {
                    throw reader.malformed("requested QoS byte \(options) [MQTT-3.8.3-4]")
                }
                subscriptions.append((filter, qos))
            }
            guard !subscriptions.isEmpty else {
                throw MQTTError(.protocolViolation, "SUBSCRIBE without a topic filter [MQTT-3.8.3-3]")
            }
            return .subscribe(MQTTPacket.Subscribe(packetID: id, subscriptions: subscriptions))
        case .unsubscribe:
            let id = try reader.packetID()
            var filters: [String] = []
            while !reader.isAtEnd { filters.append(try reader.string("topic filter")) }
            guard !filters.isEmpty else {
                throw MQTTError(.protocolViolation, "UNSUBSCRIBE without a topic filter [MQTT-3.10.3-2]")
            }
            return .unsubscribe(MQTTPacket.Unsubscribe(packetID: id, filters: filters))
        case .pingreq:
            try reader.expectEnd()
            return .pingreq
        case .disconnect:
            try reader.expectEnd()
            return .disconnect
        case .connack:
            let flags = try reader.byte("acknowledge flags")
            let code = try reader.byte("return code")
            try reader.expectEnd()
            guard flags & 0xfe == 0, let returnCode = MQTTPacket.ConnectReturnCode(rawValue: code) else {
                throw reader.malformed("flags \(flags), return code \(code)")
            }
            return .connack(MQTTPacket.ConnAck(sessionPresent: flags == 1, returnCode: returnCode))
        case .suback:
            let id = try reader.packetID()
            var codes: [MQTTPacket.SubscribeReturnCode] = []
            while !reader.isAtEnd {
                let code = try reader.byte("return code")
                if code == 0x80 {
                    codes.append(.failure)
                } else if let qos = QoS(rawValue: code) {
                    codes.append(.granted(qos))
                } else {
                    throw reader.malformed("return code \(code)")
                }
            }
            return .suback(MQTTPacket.SubAck(packetID: id, returnCodes: codes))
        case .unsuback:
            let id = try reader.packetID()
            try reader.expectEnd()
            return .unsuback(packetID: id)
        case .pingresp:
            try reader.expectEnd()
            return .pingresp
        }
    }

    private static func parseConnect(_ reader: inout PacketReader) throws(MQTTError) -> MQTTPacket.Connect {
        let name = try reader.string("protocol name")
        let level = try reader.byte("protocol level")
        guard name == "MQTT" else {
            throw MQTTError(.unsupportedProtocol, "protocol name '\(name)' is not MQTT [MQTT-3.1.2-1]")
        }
        guard level == MQTTVersion.v3_1_1.rawValue else {
            throw MQTTError(.unsupportedProtocolLevel, "protocol level \(level) is not supported [MQTT-3.1.2-2]")
        }
        let flags = try reader.byte("connect flags")
        guard flags & 0x01 == 0 else { throw reader.malformed("the reserved connect flag is set [MQTT-3.1.2-3]") }
        let hasUsername = flags & 0x80 != 0
        let hasPassword = flags & 0x40 != 0
        let willRetain = flags & 0x20 != 0
        let willQoSBits = (flags >> 3) & 0x03
        let hasWill = flags & 0x04 != 0
        let cleanSession = flags & 0x02 != 0
        if !hasWill, willRetain || willQoSBits != 0 {
            throw reader.malformed("will QoS or retain set without a will [MQTT-3.1.2-11, MQTT-3.1.2-13, MQTT-3.1.2-15]")
        }
        guard let willQoS = QoS(rawValue: willQoSBits) else { throw reader.malformed("will QoS 3 [MQTT-3.1.2-14]") }
        guard hasUsername || !hasPassword else {
            throw reader.malformed("a password without a user name [MQTT-3.1.2-22]")
        }
        let keepAlive = try reader.uint16("keep alive")
        let clientID = try reader.string("client identifier")
        var will: MQTTPacket.Will?
        if hasWill {
            let topic = try reader.string("will topic")
            try TopicName.validate(topic, field: "will topic")
            will = MQTTPacket.Will(topic: topic, payload: try reader.binary("will message"), qos: willQoS, retain: willRetain)
        }
        let username = hasUsername ? try reader.string("user name") : nil
        let password = hasPassword ? try reader.binary("password") : nil
        try reader.expectEnd()
        return MQTTPacket.Connect(
            version: .v3_1_1, clientID: clientID, cleanSession: cleanSession, keepAlive: keepAlive, will: will,
            username: username, password: password)
    }

    private static func parsePublish(_ reader: inout PacketReader, flags: UInt8) throws(MQTTError) -> MQTTPacket.Publish {
        guard let qos = QoS(rawValue: (flags >> 1) & 0x03) else {
            throw reader.malformed("QoS 3 [MQTT-3.3.1-4]")
        }
        let topic = try reader.string("topic name")
        try TopicName.validate(topic, field: "topic name")
        if qos == .atMostOnce, flags & 0x08 != 0 { throw reader.malformed("DUP set on a QoS 0 message [MQTT-3.3.1-2]") }
        let packetID = qos == .atMostOnce ? nil : try reader.packetID()
        return MQTTPacket.Publish(
            topic: topic, payload: reader.rest(), qos: qos, retain: flags & 0x01 != 0, duplicate: flags & 0x08 != 0,
            packetID: packetID)
    }
}
