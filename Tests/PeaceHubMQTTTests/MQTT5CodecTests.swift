import NIOCore
import NIOTestUtils
import PeaceHubMQTT
import Testing

/// The MQTT 5.0 side of the codec: properties on every packet, reason codes, and the malformed-packet rules of
/// section 2.2.2 (which error, hence which reason code, each violation gets).
@Suite struct MQTT5CodecTests {
    static let connect = MQTTPacket.connect(
        .init(
            version: .v5, clientID: "kaz-ops-5", cleanStart: false, keepAlive: 30,
            will: .init(
                topic: "contingents/KAZ/status", payload: Array("offline".utf8), qos: .atLeastOnce, retain: true,
                properties: [.willDelayInterval(5), .payloadFormatIndicator(1), .userProperty("a", "b")]),
            password: [1, 2],
            properties: [
                .sessionExpiryInterval(300), .receiveMaximum(10), .maximumPacketSize(65_536), .topicAliasMaximum(4),
                .requestProblemInformation(0), .userProperty("client", "peacehub"),
            ]))

    static let packets: [MQTTPacket] = [
        .publish(
            .init(
                topic: "missions/UNIFIL/chat/general", payload: ByteBuffer(string: "salem"), qos: .atLeastOnce,
                packetID: 7,
                properties: [
                    .payloadFormatIndicator(1), .messageExpiryInterval(60), .contentType("text/plain"),
                    .responseTopic("contingents/KAZ/inbox"), .correlationData([9, 9]), .topicAlias(2),
                    .userProperty("precedence", "FLASH"), .userProperty("precedence", "again"),
                ])),
        .publish(.init(topic: "", payload: ByteBuffer(string: "aliased"), properties: [.topicAlias(2)])),
        .puback(packetID: 1), .puback(.init(packetID: 2, reasonCode: .noMatchingSubscribers)),
        .pubrec(.init(packetID: 3, reasonCode: .notAuthorized, properties: [.reasonString("no")])),
        .pubrel(packetID: 4, .packetIdentifierNotFound), .pubcomp(packetID: 5),
        .subscribe(
            .init(
                packetID: 9,
                subscriptions: [
                    ("missions/+/reports/#", .init(qos: .atLeastOnce, noLocal: true, retainAsPublished: true)),
                    ("$share/ops/hub/broadcast/#", .init(qos: .exactlyOnce, retainHandling: .doNotSend)),
                ], properties: [.subscriptionIdentifier(268_435_455), .userProperty("k", "v")])),
        .unsubscribe(.init(packetID: 10, filters: ["hub/broadcast/#"], properties: [.userProperty("k", "v")])),
        .pingreq, .disconnect(.init()),
        .disconnect(.init(reasonCode: .disconnectWithWillMessage, properties: [.sessionExpiryInterval(0)])),
    ]

    static func bytes(_ packets: [MQTTPacket]) -> ByteBuffer {
        var buffer = ByteBuffer()
        for packet in packets { packet.write(to: &buffer, version: .v5) }
        return buffer
    }

    static func encoded(_ packet: MQTTPacket, _ version: MQTTVersion = .v5) -> [UInt8] {
        var buffer = ByteBuffer()
        packet.write(to: &buffer, version: version)
        return Array(buffer.readableBytesView)
    }

    @Test func everyClientPacketRoundTripsInAnySplit() throws {
        try ByteToMessageDecoderVerifier.verifyDecoder(
            inputOutputPairs: [(Self.bytes([Self.connect] + Self.packets), [Self.connect] + Self.packets)],
            decoderFactory: { MQTTDecoder(maximumPacketSize: 1 << 20) })
    }

    @Test func serverPacketsRoundTripOnTheClientSide() throws {
        let packets: [MQTTPacket] = [
            .connack(
                .init(
                    sessionPresent: true, reasonCode: .success,
                    properties: [.receiveMaximum(64), .assignedClientIdentifier("peacehub-1"), .serverKeepAlive(30)])),
            .suback(.init(packetID: 1, reasonCodes: [.grantedQoS1, .notAuthorized, .topicFilterInvalid])),
            .unsuback(.init(packetID: 2, reasonCodes: [.success, .noSubscriptionExisted])),
            .publish(
                .init(
                    topic: "t", payload: ByteBuffer(string: "x"), qos: .exactlyOnce, packetID: 3,
                    properties: [.subscriptionIdentifier(1), .subscriptionIdentifier(2)])),
            .disconnect(.init(reasonCode: .sessionTakenOver, properties: [.reasonString("taken over")])),
            .pingresp,
        ]
        try ByteToMessageDecoderVerifier.verifyDecoder(
            inputOutputPairs: [(Self.bytes(packets), packets)],
            decoderFactory: { MQTTDecoder(maximumPacketSize: 1 << 20, role: .client, version: .v5) })
    }

    @Test func packetsAreWrittenAsTheSpecificationSays() {
        // A Success acknowledgement without properties is two bytes; a code without properties three [3.4.2.1].
        #expect(Self.encoded(.puback(packetID: 1)) == [0x40, 2, 0, 1])
        #expect(Self.encoded(.puback(packetID: 1, .noMatchingSubscribers)) == [0x40, 3, 0, 1, 0x10])
        #expect(Self.encoded(.connack(.init(sessionPresent: false, reasonCode: .quotaExceeded))) == [0x20, 3, 0, 0x97, 0])
        #expect(Self.encoded(.disconnect(.init(reasonCode: .keepAliveTimeout))) == [0xe0, 1, 0x8d])
        #expect(Self.encoded(.disconnect(.init())) == [0xe0, 0])
        #expect(Self.encoded(.unsuback(.init(packetID: 7, reasonCodes: [.noSubscriptionExisted]))) == [0xb0, 4, 0, 7, 0, 0x11])
        // 3.1.1 keeps its own forms: the nearest CONNACK return code, 0x80 for any SUBACK failure, no codes.
        #expect(Self.encoded(.connack(.init(sessionPresent: false, reasonCode: .quotaExceeded)), .v3_1_1) == [0x20, 2, 0, 3])
        #expect(Self.encoded(.connack(.init(sessionPresent: false, reasonCode: .notAuthorized)), .v3_1_1) == [0x20, 2, 0, 5])
        #expect(
            Self.encoded(.suback(.init(packetID: 1, reasonCodes: [.grantedQoS2, .notAuthorized])), .v3_1_1)
                == [0x90, 4, 0, 1, 2, 0x80])
        #expect(Self.encoded(.puback(packetID: 1, .notAuthorized), .v3_1_1) == [0x40, 2, 0, 1])
    }

    @Test func sizesMatchTheBytesWritten() {
        for packet in Self.packets {
            guard case .publish(let publish) = packet else { continue }
            #expect(publish.encodedSize(version: .v5) == Self.encoded(packet).count)
            #expect(publish.encodedSize(version: .v3_1_1) == Self.encoded(packet, .v3_1_1).count)
        }
    }

    /// A valid 5.0 CONNECT, to put the decoder in 5.0 before the packet under test.
    static let connectBytes: [UInt8] = [0x10, 14, 0, 4, 0x4d, 0x51, 0x54, 0x54, 5, 0x02, 0, 60, 0, 0, 1, 0x61]

    static let malformed: [(String, [UInt8], MQTTError.Code)] = [
        ("unknown property identifier", [0x30, 6, 0, 1, 0x74, 2, 0x7f, 0], .malformedPacket),
        (
            "a property twice", [0x30, 14, 0, 1, 0x74, 10, 0x02, 0, 0, 0, 1, 0x02, 0, 0, 0, 2],
            .protocolViolation
        ),
        ("property length beyond the packet", [0x30, 5, 0, 1, 0x74, 9, 0x01], .malformedPacket),
        ("a property the packet may not carry", [0x30, 9, 0, 1, 0x74, 5, 0x11, 0, 0, 0, 1], .malformedPacket),
        ("payload format indicator 2", [0x30, 6, 0, 1, 0x74, 2, 0x01, 2], .protocolViolation),
        ("a subscription identifier from a client", [0x30, 6, 0, 1, 0x74, 2, 0x0b, 1], .protocolViolation),
        ("subscription identifier 0", [0x82, 9, 0, 1, 2, 0x0b, 0, 0, 1, 0x74, 0], .protocolViolation),
        ("reserved subscription option bits", [0x82, 7, 0, 1, 0, 0, 1, 0x74, 0xc0], .malformedPacket),
        ("retain handling 3", [0x82, 7, 0, 1, 0, 0, 1, 0x74, 0x30], .protocolViolation),
        (
            "no local on a shared subscription", [0x82, 15, 0, 1, 0] + [0, 9] + Array("$share/g/".utf8) + [0x04],
            .protocolViolation
        ),
        ("a variable byte integer of five bytes", [0x30, 9, 0, 1, 0x74, 0xff, 0xff, 0xff, 0xff, 0x01, 0], .malformedPacket),
        ("an empty topic without an alias", [0x30, 3, 0, 0, 0], .protocolViolation),
        // A variable byte integer in more bytes than its value needs [MQTT-1.5.5-1].
        ("a remaining length of 0 in two bytes", [0xc0, 0x80, 0x00], .malformedPacket),
        ("a property length of 0 in two bytes", [0x30, 6, 0, 1, 0x74, 0x80, 0x00, 0], .malformedPacket),
        ("a maximum QoS of 3", [0x82, 7, 0, 1, 0, 0, 1, 0x74, 0x03], .protocolViolation),
        ("a bad reason string", [0xe0, 6, 0x00, 4, 0x1f, 0, 1, 0xff], .malformedPacket),
    ]

    @Test(arguments: Self.malformed.indices)
    func malformedInputIsRefusedWithTheRightError(index: Int) throws {
        let (name, bytes, code) = Self.malformed[index]
        var decoder = MQTTDecoder(maximumPacketSize: 1 << 20)
        var buffer = ByteBuffer(bytes: Self.connectBytes + bytes)
        #expect(try decoder.decode(buffer: &buffer) != nil, "\(name): the CONNECT")
        let error = try #require(throws: MQTTError.self, "\(name)") { try decoder.decode(buffer: &buffer) }
        #expect(error.code == code, "\(name): \(error)")
        #expect(error.version == .v5, "\(name): a 5.0 client is told why")
    }

    @Test func connectErrorsCarryTheVersion() throws {
        // Receive Maximum 0 inside a 5.0 CONNECT: the answer is a 5.0 CONNACK with 0x82.
        var bytes = Self.connectBytes
        bytes[1] = 17
        bytes[12] = 3
        bytes.insert(contentsOf: [0x21, 0, 0], at: 13)
        var decoder = MQTTDecoder(maximumPacketSize: 1 << 20)
        var buffer = ByteBuffer(bytes: bytes)
        let error = try #require(throws: MQTTError.self) { try decoder.decode(buffer: &buffer) }
        #expect(error.code == .protocolViolation)
        #expect(error.version == .v5)
        #expect(error.code.reasonCode == .protocolError)
    }

    /// Authentication Data only means something under an Authentication Method (MQTT 5 3.1.2.11.10).
    @Test func authenticationDataWithoutAMethodIsAProtocolError() throws {
        var bytes = Self.connectBytes
        bytes[1] = 18
        bytes[12] = 4
        bytes.insert(contentsOf: [0x16, 0, 1, 0x41], at: 13)
        var decoder = MQTTDecoder(maximumPacketSize: 1 << 20)
        var buffer = ByteBuffer(bytes: bytes)
        let error = try #require(throws: MQTTError.self) { try decoder.decode(buffer: &buffer) }
        #expect(error.code.reasonCode == .protocolError)
        #expect(error.version == .v5)
        #expect("\(error)".contains("Authentication Data without an Authentication Method"))
    }

    @Test func authIsAReservedTypeIn311() throws {
        var decoder = MQTTDecoder(maximumPacketSize: 1 << 20)
        var buffer = ByteBuffer(bytes: [0x10, 13, 0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 0x02, 0, 60, 0, 1, 0x61, 0xf0, 0])
        _ = try decoder.decode(buffer: &buffer)
        let error = try #require(throws: MQTTError.self) { try decoder.decode(buffer: &buffer) }
        #expect(error.code == .malformedPacket)
        #expect(error.version == .v3_1_1)
    }

    @Test func sharedSubscriptionNames() {
        #expect(SharedSubscription("$share/ops/missions/UNIFIL/chat/#") == SharedSubscription("$share/ops/missions/UNIFIL/chat/#"))
        #expect(SharedSubscription("$share/ops/missions/UNIFIL/chat/#")?.group == "ops")
        #expect(SharedSubscription("$share/ops/missions/UNIFIL/chat/#")?.filter == "missions/UNIFIL/chat/#")
        for bad in ["$share/ops", "$share//t", "$share/o+/t", "$share/o#/t", "$share/ops/a/#/b", "hub/x"] {
            #expect(SharedSubscription(bad) == nil, "\(bad)")
        }
    }
}
