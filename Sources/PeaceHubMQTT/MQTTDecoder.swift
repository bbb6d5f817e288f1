import NIOCore

/// Splits the byte stream from a peer into packets and parses them (MQTT 3.1.1 and 5.0).
///
/// It refuses every malformed packet and every packet the peer may not send; any error ends the connection, as
/// the specifications ask. The error carries the connection's version, so the connection handler knows whether
/// to say why in a 5.0 DISCONNECT (or CONNACK). Order rules (CONNECT first and only once) and per-connection
/// limits (topic aliases, receive maximum) belong to the connection handler.
public struct MQTTDecoder: NIOSingleStepByteToMessageDecoder {
    public typealias InboundOut = MQTTPacket

    /// Which side reads: the hub reads what clients send; `peacehub pub`/`sub` read what servers send.
    public enum Role: Sendable {
        case server, client
    }

    /// The largest packet accepted, fixed header included.
    public let maximumPacketSize: Int
    public let role: Role
    /// The connection's protocol version: from its CONNECT on the server, given at creation on the client.
    public private(set) var version: MQTTVersion?
    /// The topic name of the last PUBLISH, already checked. A client mostly repeats its topic: bytes equal to it
    /// are taken as this string, without a new one to allocate and check.
    private var lastTopic = ""

    public init(maximumPacketSize: Int, role: Role = .server, version: MQTTVersion? = nil) {
        self.maximumPacketSize = maximumPacketSize
        self.role = role
        self.version = version
    }

    public mutating func decode(buffer: inout ByteBuffer) throws -> MQTTPacket? {
        do {
            return try decodeFrame(&buffer)
        } catch {
            throw error.with(version: version)
        }
    }

    private mutating func decodeFrame(_ buffer: inout ByteBuffer) throws(MQTTError) -> MQTTPacket? {
        guard let (headerLength, remainingLength) = try Self.peekFrame(buffer) else { return nil }
        let first = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self)!
        if version == nil, first >> 4 == PacketType.connect.rawValue {
            // The protocol level decides how everything after it, errors included, is answered.
            version = Self.peekConnectVersion(buffer, headerLength: headerLength)
        }
        guard headerLength + remainingLength <= maximumPacketSize else {
            throw MQTTError(
                .packetTooLarge, "a packet of \(headerLength + remainingLength) bytes exceeds the limit of \(maximumPacketSize)")
        }
        guard buffer.readableBytes >= headerLength + remainingLength else { return nil }
        buffer.moveReaderIndex(forwardBy: headerLength)
        let body = buffer.readSlice(length: remainingLength)!
        return try parse(first: first, body: body)
    }

    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> MQTTPacket? {
        // A frame cut short by the peer closing is dropped with the connection.
        try decode(buffer: &buffer)
    }

    /// How many bytes the packet `buffer` starts with still lacks: 1 while its fixed header is incomplete, 0 once
    /// it is whole or its header is malformed (`decode` then says why).
    static func bytesMissing(in buffer: ByteBuffer) -> Int {
        do {
            guard let (headerLength, remainingLength) = try peekFrame(buffer) else { return 1 }
            return max(0, headerLength + remainingLength - buffer.readableBytes)
        } catch {
            return 0
        }
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
            if byte & 0x80 == 0 {
                // A last byte of 0 after the first: a shorter encoding exists.
                guard byte != 0 || position == 0 else {
                    throw MQTTError(.malformedPacket, "the remaining length is not minimally encoded [MQTT-1.5.5-1]")
                }
                return (position + 2, remaining)
            }
            multiplier *= 128
        }
        throw MQTTError(.malformedPacket, "the remaining length takes more than four bytes [MQTT-2.2.3]")
    }

    /// The level of a CONNECT whose protocol name is "MQTT", once its first bytes are in.
    private static func peekConnectVersion(_ buffer: ByteBuffer, headerLength: Int) -> MQTTVersion? {
        let start = buffer.readerIndex + headerLength
        guard buffer.getInteger(at: start, as: UInt16.self) == 4, buffer.getString(at: start + 2, length: 4) == "MQTT",
            let level = buffer.getInteger(at: start + 6, as: UInt8.self)
        else { return nil }
        return MQTTVersion(rawValue: level)
    }

    /// Parses one packet whose fixed header's first byte is `first` and whose body is `body`.
    private mutating func parse(first: UInt8, body: ByteBuffer) throws(MQTTError) -> MQTTPacket {
        let flags = first & 0x0f
        guard let type = PacketType(rawValue: first >> 4), type != .auth || version == .v5 else {
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
        case .server where type.isSentByServersOnly:
            throw MQTTError(.protocolViolation, "a client sent \(type), which only a server sends")
        case .client where type.isSentByClientsOnly || (type == .disconnect && version != .v5):
            throw MQTTError(.protocolViolation, "a server sent \(type), which only a client sends")
        default:
            break
        }
        let v5 = version == .v5
        var reader = PacketReader(body, packet: type.name)
        switch type {
        case .connect:
            do {
                return .connect(try Self.parseConnect(&reader))
            } catch {
                // Failed before its properties were read: it may have given any Maximum Packet Size.
                throw error.with(connectLimit: .unknown)
            }
        case .publish:
            return .publish(try parsePublish(&reader, flags: flags, v5: v5))
        case .puback, .pubrec, .pubrel, .pubcomp:
            let ack = try Self.parseAcknowledgement(&reader, v5: v5)
            switch type {
            case .puback: return .puback(ack)
            case .pubrec: return .pubrec(ack)
            case .pubrel: return .pubrel(ack)
            default: return .pubcomp(ack)
            }
        case .subscribe:
            return .subscribe(try Self.parseSubscribe(&reader, v5: v5))
        case .unsubscribe:
            let id = try reader.packetID()
            let properties = v5 ? try reader.properties(.unsubscribe) : []
            var filters: [String] = []
            while !reader.isAtEnd {
                let filter = try reader.string("topic filter")
                try Self.validate311(filter, v5: v5, in: "UNSUBSCRIBE")
                filters.append(filter)
            }
            guard !filters.isEmpty else {
                throw MQTTError(.protocolViolation, "UNSUBSCRIBE without a topic filter [MQTT-3.10.3-2]")
            }
            return .unsubscribe(MQTTPacket.Unsubscribe(packetID: id, filters: filters, properties: properties))
        case .pingreq:
            try reader.expectEnd()
            return .pingreq
        case .disconnect:
            return .disconnect(try Self.parseReasonAndProperties(&reader, v5: v5, context: .disconnect))
        case .auth:
            return .auth(try Self.parseReasonAndProperties(&reader, v5: v5, context: .auth))
        case .connack:
            let flags = try reader.byte("acknowledge flags")
            let code = try reader.byte("return code")
            guard flags & 0xfe == 0 else { throw reader.malformed("acknowledge flags \(flags)") }
            let properties = v5 ? try reader.properties(.connack) : []
            try reader.expectEnd()
            let reasonCode = v5 ? ReasonCode(rawValue: code) : ReasonCode(connectReturnCode: code)
            guard let reasonCode else { throw reader.malformed("return code \(code)") }
            return .connack(MQTTPacket.ConnAck(sessionPresent: flags == 1, reasonCode: reasonCode, properties: properties))
        case .suback:
            let id = try reader.packetID()
            let properties = v5 ? try reader.properties(.suback) : []
            var codes: [ReasonCode] = []
            while !reader.isAtEnd {
                let code = try reader.byte("return code")
                guard v5 || code <= 2 || code == 0x80 else { throw reader.malformed("return code \(code)") }
                codes.append(ReasonCode(rawValue: code))
            }
            return .suback(MQTTPacket.SubAck(packetID: id, reasonCodes: codes, properties: properties))
        case .unsuback:
            let id = try reader.packetID()
            let properties = v5 ? try reader.properties(.unsuback) : []
            var codes: [ReasonCode] = []
            while v5, !reader.isAtEnd { codes.append(ReasonCode(rawValue: try reader.byte("reason code"))) }
            try reader.expectEnd()
            return .unsuback(MQTTPacket.UnsubAck(packetID: id, reasonCodes: codes, properties: properties))
        case .pingresp:
            try reader.expectEnd()
            return .pingresp
        }
    }

    private static func parseConnect(_ reader: inout PacketReader) throws(MQTTError) -> MQTTPacket.Connect {
        let name = try reader.string("protocol name")
        let level = try reader.byte("protocol level")
        // MQTT 3.1 named itself MQIsdp, level 3: its clients understand the 3.1.1 refusal of their level
        // (mosquitto_pub -V mqttv31 says "unacceptable protocol version" instead of "connection lost").
        if name == "MQIsdp", level == 3 {
            throw MQTTError(.unsupportedProtocolLevel, "MQTT 3.1 (MQIsdp, level 3) is not supported [MQTT-3.1.2-2]")
        }
        guard name == "MQTT" else {
            throw MQTTError(.unsupportedProtocol, "protocol name '\(name)' is not MQTT [MQTT-3.1.2-1]")
        }
        guard let version = MQTTVersion(rawValue: level) else {
            throw MQTTError(.unsupportedProtocolLevel, "protocol level \(level) is not supported [MQTT-3.1.2-2]")
        }
        let v5 = version == .v5
        let flags = try reader.byte("connect flags")
        guard flags & 0x01 == 0 else { throw reader.malformed("the reserved connect flag is set [MQTT-3.1.2-3]") }
        let hasUsername = flags & 0x80 != 0
        let hasPassword = flags & 0x40 != 0
        let willRetain = flags & 0x20 != 0
        let willQoSBits = (flags >> 3) & 0x03
        let hasWill = flags & 0x04 != 0
        let cleanStart = flags & 0x02 != 0
        if !hasWill, willRetain || willQoSBits != 0 {
            throw reader.malformed("will QoS or retain set without a will [MQTT-3.1.2-11, MQTT-3.1.2-13, MQTT-3.1.2-15]")
        }
        guard let willQoS = QoS(rawValue: willQoSBits) else { throw reader.malformed("will QoS 3 [MQTT-3.1.2-14]") }
        // 5.0 allows a password without a user name.
        guard v5 || hasUsername || !hasPassword else {
            throw reader.malformed("a password without a user name [MQTT-3.1.2-22]")
        }
        let keepAlive = try reader.uint16("keep alive")
        let properties = v5 ? try reader.properties(.connect) : []
        do throws(MQTTError) {
            if properties.authenticationMethod == nil,
                properties.contains(where: { if case .authenticationData = $0 { true } else { false } })
            {
                throw MQTTError(
                    .protocolViolation, "CONNECT: Authentication Data without an Authentication Method [3.1.2.11.10]")
            }
            let clientID = try reader.string("client identifier")
            var will: MQTTPacket.Will?
            if hasWill {
                let willProperties = v5 ? try reader.properties(.will) : []
                let topic = try reader.string("will topic")
                try TopicName.validate(topic, field: "will topic")
                let payload = try reader.binary("will message")
                if willProperties.payloadFormatIndicator == 1, String(validating: payload, as: UTF8.self) == nil {
                    throw MQTTError(.payloadFormatInvalid, "CONNECT: the will message is not UTF-8 [MQTT-3.1.3-11]")
                }
                will = MQTTPacket.Will(
                    topic: topic, payload: payload, qos: willQoS, retain: willRetain, properties: willProperties)
            }
            let username = hasUsername ? try reader.string("user name") : nil
            let password = hasPassword ? try reader.binary("password") : nil
            try reader.expectEnd()
            return MQTTPacket.Connect(
                version: version, clientID: clientID, cleanStart: cleanStart, keepAlive: keepAlive, will: will,
                username: username, password: password, properties: properties)
        } catch {
            throw error.with(connectLimit: properties.maximumPacketSize.map { .bytes(Int($0)) } ?? .notGiven)
        }
    }

    private mutating func parsePublish(
        _ reader: inout PacketReader, flags: UInt8, v5: Bool
    ) throws(MQTTError) -> MQTTPacket.Publish {
        guard let qos = QoS(rawValue: (flags >> 1) & 0x03) else {
            throw reader.malformed("QoS 3 [MQTT-3.3.1-4]")
        }
        if qos == .atMostOnce, flags & 0x08 != 0 { throw reader.malformed("DUP set on a QoS 0 message [MQTT-3.3.1-2]") }
        let repeated = reader.skipString(equalTo: lastTopic)
        let topic = repeated ? lastTopic : try reader.string("topic name")
        let packetID = qos == .atMostOnce ? nil : try reader.packetID()
        let properties = v5 ? try reader.properties(.publish) : []
        // In 5.0 an empty topic name stands for the one its Topic Alias was set to.
        if !repeated, !(topic.isEmpty && properties.topicAlias != nil) {
            try TopicName.validate(topic, field: "topic name")
        }
        if role == .server, !properties.subscriptionIdentifiers.isEmpty {
            throw MQTTError(.protocolViolation, "PUBLISH from a client with a Subscription Identifier [MQTT-3.3.4-6]")
        }
        if !topic.isEmpty { lastTopic = topic }
        return MQTTPacket.Publish(
            topic: topic, payload: reader.rest(), qos: qos, retain: flags & 0x01 != 0, duplicate: flags & 0x08 != 0,
            packetID: packetID, properties: properties)
    }

    /// PUBACK, PUBREC, PUBREL, PUBCOMP: in 5.0 the reason code and the properties may be left out when the code
    /// is Success and there are no properties (section 3.4.2.1).
    private static func parseAcknowledgement(
        _ reader: inout PacketReader, v5: Bool
    ) throws(MQTTError) -> MQTTPacket.Acknowledgement {
        let id = try reader.packetID()
        var ack = MQTTPacket.Acknowledgement(packetID: id)
        if v5, !reader.isAtEnd {
            ack.reasonCode = ReasonCode(rawValue: try reader.byte("reason code"))
            if !reader.isAtEnd { ack.properties = try reader.properties(.acknowledgement) }
        }
        try reader.expectEnd()
        return ack
    }

    private static func parseSubscribe(_ reader: inout PacketReader, v5: Bool) throws(MQTTError) -> MQTTPacket.Subscribe {
        let id = try reader.packetID()
        let properties = v5 ? try reader.properties(.subscribe) : []
        var subscriptions: [(filter: String, options: MQTTPacket.SubscriptionOptions)] = []
        while !reader.isAtEnd {
            let filter = try reader.string("topic filter")
            try validate311(filter, v5: v5, in: "SUBSCRIBE")
            let byte = try reader.byte("subscription options")
            guard byte & (v5 ? 0xc0 : 0xfc) == 0 else {
                throw reader.malformed("subscription options byte \(byte) [MQTT-3.8.3-4, MQTT-3.8.3-5]")
            }
            // 3.1.1 counts a Maximum QoS of 3 among the malformed options; 5.0 calls it a Protocol Error (3.8.3.1).
            guard let qos = QoS(rawValue: byte & 0x03) else {
                guard v5 else { throw reader.malformed("subscription options byte \(byte) [MQTT-3.8.3-4]") }
                throw MQTTError(.protocolViolation, "SUBSCRIBE: Maximum QoS 3")
            }
            guard let retainHandling = MQTTPacket.RetainHandling(rawValue: (byte >> 4) & 0x03) else {
                throw MQTTError(.protocolViolation, "SUBSCRIBE: Retain Handling 3")
            }
            let options = MQTTPacket.SubscriptionOptions(
                qos: qos, noLocal: byte & 0x04 != 0, retainAsPublished: byte & 0x08 != 0, retainHandling: retainHandling)
            if options.noLocal, filter.utf8.starts(with: SharedSubscription.prefix.utf8) {
                throw MQTTError(.protocolViolation, "SUBSCRIBE: No Local on the shared subscription '\(filter)' [MQTT-3.8.3-4]")
            }
            subscriptions.append((filter, options))
        }
        guard !subscriptions.isEmpty else {
            throw MQTTError(.protocolViolation, "SUBSCRIBE without a topic filter [MQTT-3.8.3-3]")
        }
        return MQTTPacket.Subscribe(packetID: id, subscriptions: subscriptions, properties: properties)
    }

    /// A 3.1.1 filter that breaks the wildcard or length rules is a protocol violation, which closes the connection
    /// [MQTT-4.7.1-2, MQTT-4.7.1-3, MQTT-4.7.3-1, MQTT-4.8.0-1]; 5.0 answers it per filter (0x8F) instead.
    private static func validate311(_ filter: String, v5: Bool, in packet: String) throws(MQTTError) {
        guard v5 || TopicFilter.isValid(filter) else {
            throw MQTTError(.protocolViolation, "\(packet): the topic filter '\(filter)' is not valid [MQTT-4.7.1-2]")
        }
    }

    /// DISCONNECT and AUTH: empty in 3.1.1; in 5.0 a reason code (Success when left out) and properties.
    private static func parseReasonAndProperties(
        _ reader: inout PacketReader, v5: Bool, context: PropertyContext
    ) throws(MQTTError) -> MQTTPacket.Disconnect {
        var packet = MQTTPacket.Disconnect()
        if v5, !reader.isAtEnd {
            packet.reasonCode = ReasonCode(rawValue: try reader.byte("reason code"))
            if !reader.isAtEnd { packet.properties = try reader.properties(context) }
        }
        try reader.expectEnd()
        return packet
    }
}

extension ReasonCode {
    /// The 5.0 code of a 3.1.1 CONNACK return code (section 3.2.2.3), nil for a reserved one.
    init?(connectReturnCode code: UInt8) {
        let codes: [ReasonCode] = [
            .success, .unsupportedProtocolVersion, .clientIdentifierNotValid, .serverUnavailable,
            .badUserNameOrPassword, .notAuthorized,
        ]
        guard Int(code) < codes.count else { return nil }
        self = codes[Int(code)]
    }

    /// The 3.1.1 CONNACK return code closest to this 5.0 code.
    var connectReturnCode: UInt8 {
        switch self {
        case .success: 0
        case .unsupportedProtocolVersion: 1
        case .clientIdentifierNotValid: 2
        case .badUserNameOrPassword, .badAuthenticationMethod: 4
        case .notAuthorized, .banned: 5
        default: 3  // server unavailable: busy, quota exceeded, shutting down, any other failure
        }
    }
}
