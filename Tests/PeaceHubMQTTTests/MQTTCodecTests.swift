import NIOCore
import NIOEmbedded
import NIOTestUtils
import PeaceHubMQTT
import Testing

/// The MQTT 3.1.1 codec: every packet round-trips, input may arrive in any split, and every
/// malformed input is refused with the right kind of error.
@Suite struct MQTTCodecTests {
    static let connect = MQTTPacket.connect(
        .init(
            clientID: "kaz-ops-1", cleanStart: false, keepAlive: 30,
            will: .init(topic: "contingents/KAZ/status", payload: Array("offline".utf8), qos: .atLeastOnce, retain: true),
            username: "ignored", password: [1, 2, 3]))

    static let packets: [MQTTPacket] = [
        .publish(.init(topic: "missions/UNIFIL/chat/general", payload: ByteBuffer(string: "salem"))),
        .publish(.init(topic: "missions/UNIFIL/chat/сәлем/नमस्ते", payload: ByteBuffer(string: "non-ASCII topic"))),
        .publish(
            .init(
                topic: "contingents/IND/inbox", payload: ByteBuffer(bytes: Array(repeating: 7, count: 300)),
                qos: .exactlyOnce, retain: true, duplicate: true, packetID: 65535)),
        .puback(packetID: 1), .pubrec(packetID: 2), .pubrel(packetID: 3), .pubcomp(packetID: 4),
        .subscribe(.init(packetID: 9, subscriptions: [("missions/+/reports/#", .atLeastOnce), ("hub/broadcast/#", .atMostOnce)])),
        .unsubscribe(.init(packetID: 10, filters: ["hub/broadcast/#"])),
        .pingreq, .disconnect(.init()),
    ]

    static func bytes(_ packets: [MQTTPacket]) -> ByteBuffer {
        var buffer = ByteBuffer()
        for packet in packets { packet.write(to: &buffer, version: .v3_1_1) }
        return buffer
    }

    @Test func everyClientPacketRoundTripsInAnySplit() throws {
        // The verifier feeds the bytes whole, one at a time, and in other splits.
        try ByteToMessageDecoderVerifier.verifyDecoder(
            inputOutputPairs: [(Self.bytes([Self.connect] + Self.packets), [Self.connect] + Self.packets)],
            decoderFactory: { MQTTDecoder(maximumPacketSize: 1 << 20) })
    }

    @Test func serverPacketsAreWrittenAsTheSpecificationSays() {
        func encoded(_ packet: MQTTPacket) -> [UInt8] {
            var buffer = ByteBuffer()
            packet.write(to: &buffer, version: .v3_1_1)
            return Array(buffer.readableBytesView)
        }
        #expect(encoded(.connack(.init(sessionPresent: true, reasonCode: .success))) == [0x20, 2, 1, 0])
        #expect(encoded(.connack(.init(sessionPresent: false, reasonCode: .clientIdentifierNotValid))) == [0x20, 2, 0, 2])
        #expect(encoded(.suback(.init(packetID: 0x0102, reasonCodes: [.granted(.atMostOnce), .granted(.exactlyOnce), .unspecifiedError])))
            == [0x90, 5, 1, 2, 0, 2, 0x80])
        #expect(encoded(.unsuback(packetID: 7)) == [0xb0, 2, 0, 7])
        #expect(encoded(.pingresp) == [0xd0, 0])
        #expect(encoded(.pubrel(packetID: 5)) == [0x62, 2, 0, 5])
        // PUBLISH: flags, a remaining length of one and of two bytes, the topic, the packet id, the payload.
        #expect(encoded(.publish(.init(topic: "a/b", payload: ByteBuffer())))
            == [0x30, 5, 0, 3, 0x61, 0x2f, 0x62])
        let payload = Array(repeating: UInt8(0x41), count: 200)
        let publish = MQTTPacket.publish(
            .init(topic: "t", payload: ByteBuffer(bytes: payload), qos: .atLeastOnce, retain: true, duplicate: true,
                  packetID: 0x1234))
        #expect(encoded(publish) == [0x3b, 0xcd, 0x01, 0, 1, 0x74, 0x12, 0x34] + payload)
    }

    @Test func remainingLengthUsesUpToFourBytes() throws {
        let payload = ByteBuffer(bytes: Array(repeating: 0x41, count: 2_097_152))  // needs a 4-byte length
        let publish = MQTTPacket.publish(.init(topic: "t", payload: payload))
        var buffer = Self.bytes([Self.connect, publish])
        var decoder = MQTTDecoder(maximumPacketSize: 3 << 20)
        #expect(try decoder.decode(buffer: &buffer) == Self.connect)
        #expect(try decoder.decode(buffer: &buffer) == publish)
    }

    /// A client stream that starts with a valid CONNECT and continues with `bytes`.
    static func afterConnect(_ bytes: [UInt8]) -> ByteBuffer {
        var buffer = Self.bytes([.connect(.init(clientID: "c"))])
        buffer.writeBytes(bytes)
        return buffer
    }

    static func connectBytes(name: String = "MQTT", level: UInt8 = 4, flags: UInt8 = 0x02, payload: [UInt8]) -> [UInt8] {
        let body = [0, UInt8(name.utf8.count)] + Array(name.utf8) + [level, flags, 0, 60] + payload
        return [0x10, UInt8(body.count)] + body
    }

    static let malformed: [(String, ByteBuffer, MQTTError.Code)] = [
        ("remaining length of five bytes", afterConnect([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]), .malformedPacket),
        ("QoS 3", afterConnect([0x36, 5, 0, 1, 0x74, 0, 1]), .malformedPacket),
        ("DUP on QoS 0", afterConnect([0x38, 3, 0, 1, 0x74]), .malformedPacket),
        ("invalid UTF-8 topic", afterConnect([0x30, 4, 0, 2, 0xc3, 0x28]), .malformedPacket),
        ("U+0000 in a topic", afterConnect([0x30, 4, 0, 2, 0x61, 0x00]), .malformedPacket),
        ("U+0000 in a non-ASCII topic", afterConnect([0x30, 5, 0, 3, 0xc3, 0xa9, 0x00]), .malformedPacket),
        ("encoded surrogate in a topic", afterConnect([0x30, 5, 0, 3, 0xed, 0xa0, 0x80]), .malformedPacket),
        ("topic length beyond the packet", afterConnect([0x30, 4, 0, 9, 0x61, 0x62]), .malformedPacket),
        ("wildcard in a PUBLISH topic", afterConnect([0x30, 5, 0, 3, 0x61, 0x2f, 0x23]), .protocolViolation),
        ("plus in a PUBLISH topic", afterConnect([0x30, 3, 0, 1, 0x2b]), .protocolViolation),
        ("empty PUBLISH topic", afterConnect([0x30, 2, 0, 0]), .protocolViolation),
        ("packet identifier 0", afterConnect([0x32, 5, 0, 1, 0x74, 0, 0]), .protocolViolation),
        ("SUBSCRIBE with reserved flags 0", afterConnect([0x80, 6, 0, 1, 0, 1, 0x74, 0]), .malformedPacket),
        ("SUBSCRIBE with reserved QoS bits", afterConnect([0x82, 6, 0, 1, 0, 1, 0x74, 0x04]), .malformedPacket),
        ("SUBSCRIBE with QoS 3", afterConnect([0x82, 6, 0, 1, 0, 1, 0x74, 0x03]), .malformedPacket),
        ("SUBSCRIBE without a filter", afterConnect([0x82, 2, 0, 1]), .protocolViolation),
        ("UNSUBSCRIBE without a filter", afterConnect([0xa2, 2, 0, 1]), .protocolViolation),
        ("PUBREL with flags 0", afterConnect([0x60, 2, 0, 1]), .malformedPacket),
        ("PINGREQ with a body", afterConnect([0xc0, 1, 0]), .malformedPacket),
        ("PUBACK with extra bytes", afterConnect([0x40, 3, 0, 1, 0]), .malformedPacket),
        ("reserved packet type 15", afterConnect([0xf0, 0]), .malformedPacket),
        ("reserved packet type 0", afterConnect([0x00, 0]), .malformedPacket),
        ("CONNACK from a client", afterConnect([0x20, 2, 0, 0]), .protocolViolation),
        ("protocol name MQIsdx", ByteBuffer(bytes: connectBytes(name: "MQIsdx", payload: [0, 1, 0x63])), .unsupportedProtocol),
        ("protocol level 3", ByteBuffer(bytes: connectBytes(name: "MQTT", level: 3, payload: [0, 1, 0x63])), .unsupportedProtocolLevel),
        ("reserved CONNECT flag", ByteBuffer(bytes: connectBytes(flags: 0x03, payload: [0, 1, 0x63])), .malformedPacket),
        ("will QoS without a will", ByteBuffer(bytes: connectBytes(flags: 0x0a, payload: [0, 1, 0x63])), .malformedPacket),
        ("will QoS 3", ByteBuffer(bytes: connectBytes(flags: 0x1e, payload: [0, 1, 0x63, 0, 1, 0x74, 0, 0])), .malformedPacket),
        ("password without a user name", ByteBuffer(bytes: connectBytes(flags: 0x42, payload: [0, 1, 0x63, 0, 0])), .malformedPacket),
        ("U+0000 in the client id", ByteBuffer(bytes: connectBytes(payload: [0, 2, 0x63, 0x00])), .malformedPacket),
        ("wildcard in the will topic", ByteBuffer(bytes: connectBytes(flags: 0x06, payload: [0, 1, 0x63, 0, 1, 0x23, 0, 0])), .protocolViolation),
        ("CONNECT truncated inside its payload", ByteBuffer(bytes: connectBytes(payload: [0, 5, 0x63])), .malformedPacket),
    ]

    @Test(arguments: malformed.indices)
    func malformedInputIsRefused(index: Int) throws {
        let (name, input, code) = Self.malformed[index]
        var decoder = MQTTDecoder(maximumPacketSize: 1 << 16)
        var buffer = input
        let error = #expect(throws: MQTTError.self, "\(name)") {
            while try decoder.decode(buffer: &buffer) != nil {}
        }
        #expect(error?.code == code, "\(name): \(String(describing: error))")
    }

    @Test func malformedInputIsRefusedWhenDripFed() throws {
        for (name, input, code) in Self.malformed {
            var decoder = MQTTDecoder(maximumPacketSize: 1 << 16)
            var buffer = ByteBuffer()
            var caught: MQTTError?
            for byte in input.readableBytesView where caught == nil {
                buffer.writeInteger(byte)
                do { while try decoder.decode(buffer: &buffer) != nil {} } catch let error as MQTTError { caught = error }
            }
            #expect(caught?.code == code, "\(name) drip-fed")
        }
    }

    @Test func oversizePacketsAreRefusedFromTheirHeader() throws {
        var decoder = MQTTDecoder(maximumPacketSize: 1024)
        // Only the fixed header has arrived: the size alone decides.
        var buffer = Self.afterConnect([0x30, 0x80, 0x80, 0x01])
        let error = #expect(throws: MQTTError.self) { while try decoder.decode(buffer: &buffer) != nil {} }
        #expect(error?.code == .packetTooLarge)
    }

    @Test func aRepeatedTopicIsTheSameStringAndAChangedOneIsReadAnew() throws {
        let topics = [
            "contingents/KAZ/inbox", "contingents/KAZ/inbox", "contingents/IND/inbox", "contingents/IND/inbox/x",
            "contingents/IND/inbox", "a",
        ]
        var decoder = MQTTDecoder(maximumPacketSize: 1 << 16)
        var buffer = Self.bytes([Self.connect] + topics.map { .publish(.init(topic: $0, payload: ByteBuffer())) })
        _ = try decoder.decode(buffer: &buffer)
        var decoded: [String] = []
        while case .publish(let publish)? = try decoder.decode(buffer: &buffer) { decoded.append(publish.topic) }
        #expect(decoded == topics)
        // The second PUBLISH on a topic shares the first one's bytes: no string was made for it.
        func storage(_ text: String) -> UnsafeRawPointer? {
            text.utf8.withContiguousStorageIfAvailable { UnsafeRawPointer($0.baseAddress) } ?? nil
        }
        #expect(storage(decoded[1]) == storage(decoded[0]))
        #expect(storage(decoded[2]) != storage(decoded[1]))

        // A topic of the same length with other bytes is still checked.
        var refusing = MQTTDecoder(maximumPacketSize: 1 << 16)
        var wildcard = Self.bytes([Self.connect, .publish(.init(topic: "t/a", payload: ByteBuffer()))])
        wildcard.writeBytes([0x30, 5, 0, 3, UInt8(ascii: "t"), UInt8(ascii: "/"), UInt8(ascii: "#")])
        _ = try refusing.decode(buffer: &wildcard)
        _ = try refusing.decode(buffer: &wildcard)
        let error = #expect(throws: MQTTError.self) { try refusing.decode(buffer: &wildcard) }
        #expect(error?.code == .protocolViolation)
    }

    @Test func theHandlerClosesOnAViolationAndDecodesInOrder() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(MQTTDecoder(maximumPacketSize: 1024)))
        try channel.writeInbound(Self.bytes([Self.connect, .pingreq]))
        #expect(try channel.readInbound(as: MQTTPacket.self) == Self.connect)
        #expect(try channel.readInbound(as: MQTTPacket.self) == .pingreq)
        #expect(throws: MQTTError.self) { try channel.writeInbound(ByteBuffer(bytes: [0x36, 5, 0, 1, 0x74, 0, 1])) }
        _ = try? channel.finish()
    }
}

@Suite struct TopicTests {
    @Test(arguments: [
        ("sport/tennis/player1/#", true), ("sport/#", true), ("#", true), ("+", true), ("+/tennis/#", true),
        ("sport/+/player1", true), ("/+", true), ("sport/tennis#", false), ("sport/tennis/#/ranking", false),
        ("sport+", false), ("", false), ("a/#/b", false), ("##", false),
    ])
    func filterValidity(filter: String, valid: Bool) {
        #expect(TopicFilter.isValid(filter) == valid, "\(filter)")
    }

    @Test(arguments: [
        ("sport/tennis/player1/#", "sport/tennis/player1", true),
        ("sport/tennis/player1/#", "sport/tennis/player1/ranking", true),
        ("sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true),
        ("sport/#", "sport", true),
        ("sport/+", "sport/", true),
        ("sport/+", "sport", false),
        ("sport/tennis/+", "sport/tennis/player1", true),
        ("sport/tennis/+", "sport/tennis/player1/ranking", false),
        ("+/+", "/finance", true),
        ("/+", "/finance", true),
        ("+", "/finance", false),
        ("#", "$SYS/broker/uptime", false),
        ("+/monitor/Clients", "$SYS/monitor/Clients", false),
        ("$SYS/#", "$SYS/broker/uptime", true),
        ("$SYS/monitor/+", "$SYS/monitor/Clients", true),
        ("missions/+/reports/#", "missions/UNIFIL/reports/UXO", true),
        ("missions/UNIFIL/chat/#", "missions/UNFICYP/chat/general", false),
        ("a/b", "a/b", true),
        ("a/b", "A/b", false),
    ])
    func matching(filter: String, topic: String, matches: Bool) {
        #expect(TopicFilter.matches(filter, topic: topic) == matches, "\(filter) ~ \(topic)")
    }
}

@Suite struct TopicCoverTests {
    @Test(arguments: [
        ("missions/UNIFIL/chat/#", "missions/UNIFIL/chat/#", true),
        ("missions/UNIFIL/chat/#", "missions/UNIFIL/chat/+", true),
        ("missions/UNIFIL/chat/#", "missions/UNIFIL/chat/general/x", true),
        ("missions/UNIFIL/chat/#", "missions/UNIFIL/chat", true),
        ("missions/UNIFIL/chat/+", "missions/UNIFIL/chat/#", false),
        ("missions/UNIFIL/reports/+", "missions/UNIFIL/reports/UXO", true),
        ("missions/UNIFIL/reports/+", "missions/UNIFIL/reports/+", true),
        ("missions/UNIFIL/reports/+", "missions/+/reports/UXO", false),
        ("missions/UNIFIL/reports/+", "missions/UNIFIL/reports", false),
        ("missions/UNIFIL/reports/+", "missions/UNIFIL/reports/UXO/x", false),
        ("contingents/KAZ/inbox", "contingents/KAZ/inbox", true),
        ("contingents/KAZ/inbox", "contingents/+/inbox", false),
        ("contingents/KAZ/inbox", "contingents/KAZ/#", false),
        ("#", "$SYS/broker", false),
        ("+/broker", "$SYS/broker", false),
        ("$SYS/#", "$SYS/broker/uptime", true),
        ("$SYS/#", "#", false),
        ("hub/broadcast/#", "hub/#", false),
        ("hub/broadcast/#", "hub/broadcast/#", true),
    ])
    func covers(pattern: String, filter: String, expected: Bool) {
        #expect(TopicFilter.covers(pattern, filter) == expected, "\(pattern) ⊇ \(filter)")
    }
}

@Suite struct ClientRoleDecoderTests {
    @Test func theClientSideReadsServerPacketsAndRefusesClientOnes() throws {
        let server: [MQTTPacket] = [
            .connack(.init(sessionPresent: true, reasonCode: .success)),
            .suback(.init(packetID: 4, reasonCodes: [.granted(.exactlyOnce), .unspecifiedError])), .unsuback(packetID: 5), .pingresp,
            .publish(.init(topic: "t", payload: ByteBuffer(string: "x"), qos: .atLeastOnce, packetID: 9)), .pubrel(packetID: 9),
        ]
        try ByteToMessageDecoderVerifier.verifyDecoder(
            inputOutputPairs: [(MQTTCodecTests.bytes(server), server)],
            decoderFactory: { MQTTDecoder(maximumPacketSize: 1 << 20, role: .client) })
        var decoder = MQTTDecoder(maximumPacketSize: 1024, role: .client)
        var buffer = ByteBuffer(bytes: [0xc0, 0])  // PINGREQ from a "server"
        #expect(#expect(throws: MQTTError.self) { try decoder.decode(buffer: &buffer) }?.code == .protocolViolation)
    }
}
