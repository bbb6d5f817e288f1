import NIOCore
import PeaceHubCore
import PeaceHubMQTT
import PeaceHubTesting
import Testing

/// Whatever bytes a peer sends, the decoder returns packets or throws an `MQTTError`: it never traps (a trap
/// would take the hub down with every connection). Valid packets of both versions are mutated by a seeded
/// generator (bytes flipped, cut, inserted, remaining lengths rewritten), so a failure replays exactly.
@Suite struct MQTTDecoderFuzzTests {
    static func encoded(_ packets: [MQTTPacket], _ version: MQTTVersion) -> [[UInt8]] {
        packets.map { packet in
            var buffer = ByteBuffer()
            packet.write(to: &buffer, version: version)
            return Array(buffer.readableBytesView)
        }
    }

    /// What servers send, for the decoder of `peacehub pub`/`sub`.
    static let serverPackets: [MQTTPacket] = [
        .connack(
            .init(
                sessionPresent: true, reasonCode: .success,
                properties: [
                    .receiveMaximum(20), .topicAliasMaximum(5), .assignedClientIdentifier("auto-1"),
                    .reasonString("welcome"), .userProperty("a", "b"), .serverKeepAlive(30),
                ])),
        .suback(.init(packetID: 3, reasonCodes: [.grantedQoS1, .notAuthorized], properties: [.reasonString("x")])),
        .unsuback(.init(packetID: 4, reasonCodes: [.success, .noSubscriptionExisted])),
        .publish(
            .init(
                topic: "contingents/KAZ/inbox", payload: ByteBuffer(string: "hello"), qos: .exactlyOnce,
                packetID: 9, properties: [.subscriptionIdentifier(7), .topicAlias(1)])),
        .pingresp, .puback(packetID: 1), .disconnect(.init(reasonCode: .serverShuttingDown)),
    ]

    /// Changes anywhere, and a remaining length that disagrees with the body: shorter, longer, or a continuation
    /// byte.
    static let mutation = Mutation(lengthField: { bytes, random in
        guard bytes.count > 1 else { return }
        bytes[1] = [0x00, 0x01, 0x7f, 0x80, 0xff, bytes[1] &+ 1][Int.random(in: 0..<6, using: &random)]
    })

    /// Feeds `stream` to a fresh decoder until it needs more bytes or refuses them; every decoded packet must
    /// also encode again.
    static func decodeAll(_ stream: [UInt8], role: MQTTDecoder.Role, version: MQTTVersion?) {
        var decoder = MQTTDecoder(maximumPacketSize: 4096, role: role, version: version)
        var buffer = ByteBuffer(bytes: stream)
        do {
            while let packet = try decoder.decode(buffer: &buffer) {
                var out = ByteBuffer()
                packet.write(to: &out, version: decoder.version ?? .v3_1_1)
            }
        } catch let error as MQTTError {
            _ = error.description
        } catch {
            Issue.record("not an MQTTError: \(error) for \(stream)")
        }
    }

    /// Each seed's stream is its CONNECT (server role) and its packets; mutations land anywhere in it.
    static let cases:
        [(name: String, role: MQTTDecoder.Role, version: MQTTVersion?, seed: [UInt8], packets: [[UInt8]])] = [
            (
                "3.1.1 from a client", .server, nil, encoded([MQTTCodecTests.connect], .v3_1_1)[0],
                encoded(MQTTCodecTests.packets, .v3_1_1)
            ),
            (
                "5.0 from a client", .server, nil, encoded([MQTT5CodecTests.connect], .v5)[0],
                encoded(MQTT5CodecTests.packets, .v5)
            ),
            ("5.0 from a server", .client, .v5, [], encoded(serverPackets, .v5)),
            (
                "3.1.1 from a server", .client, .v3_1_1, [],
                encoded(
                    serverPackets.filter {
                        if case .disconnect = $0 { return false } else { return true }
                    }, .v3_1_1)
            ),
        ]

    @Test(arguments: 0..<cases.count)
    func mutatedPacketsAreRefusedNeverTrap(_ index: Int) {
        let (_, role, version, connect, packets) = Self.cases[index]
        var random = SplitMix64(seed: 0x5EED_0000 + UInt64(index))
        for _ in 0..<20_000 {
            let packet = packets[Int.random(in: 0..<packets.count, using: &random)]
            let mutated = Self.mutation.apply(to: packet, using: &random)
            // The CONNECT itself mutated one time in four; otherwise a valid one first, so the decoder knows
            // the version and reads what follows as that version's packets.
            if !connect.isEmpty, Int.random(in: 0..<4, using: &random) == 0 {
                Self.decodeAll(Self.mutation.apply(to: connect, using: &random) + packet, role: role, version: version)
            } else {
                Self.decodeAll(connect + mutated, role: role, version: version)
            }
        }
    }

    @Test func randomBytesAreRefusedNeverTrap() {
        var random = SplitMix64(seed: 0xB17E5)
        for _ in 0..<20_000 {
            let count = Int.random(in: 1...64, using: &random)
            let bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &random) }
            for role in [MQTTDecoder.Role.server, .client] {
                Self.decodeAll(bytes, role: role, version: role == .client ? .v5 : nil)
                Self.decodeAll(bytes, role: role, version: .v3_1_1)
            }
        }
    }
}
