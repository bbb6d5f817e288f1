import Logging
import NIOCore
import NIOEmbedded
import PeaceHubCore
import PeaceHubMQTT
import Testing

/// Clients that send well-formed packets in any order and with any contents (colliding client ids, unknown
/// packet ids, topic aliases, invalid filters, session takeovers, dropped connections, commits completing at any
/// point, time passing) never take the broker down, and the broker keeps the rules a client relies on:
/// everything it writes is a valid packet of the client's version within the client's Maximum Packet Size, and
/// it never has more QoS 1 and 2 deliveries unacknowledged than the client's Receive Maximum [MQTT-3.3.4-9]; the
/// messages it counts as queued and in flight in all (its metrics, `$SYS`) are those its sessions hold.
/// Afterwards the broker still serves new clients, and a restart from its store gives every session back what it
/// kept. A seeded generator makes a failure replay exactly (with `SWIFT_DETERMINISTIC_HASHING=1`).
@Suite struct BrokerFuzzTests {
    /// A client on an embedded channel through the real connection handler, which checks what the hub writes.
    final class FuzzClient {
        let channel: EmbeddedChannel
        let loop: EmbeddedEventLoop
        let version: MQTTVersion
        private var decoder: MQTTDecoder
        private let receiveMaximum: Int
        /// Packet ids of the QoS 1 and 2 deliveries this connection has not finished, with their QoS.
        private var unfinished: [UInt16: QoS] = [:]
        /// QoS 2 deliveries this client has answered with PUBREC: a PUBCOMP finishes them (the hub takes one
        /// even before its PUBREL arrives).
        private var answered: Set<UInt16> = []
        /// What went each way, for the message of a failure.
        private var log: [String] = []

        init(
            broker: Broker, loop: EmbeddedEventLoop, principal: Principal, connect: MQTTPacket.Connect, logger: Logger
        ) throws {
            self.loop = loop
            version = connect.version
            receiveMaximum = Int(connect.properties.receiveMaximum ?? 65_535)
            let limit = connect.properties.maximumPacketSize.map(Int.init) ?? (1 << 28)
            decoder = MQTTDecoder(maximumPacketSize: limit, role: .client, version: connect.version)
            channel = EmbeddedChannel(loop: loop)
            try channel.pipeline.syncOperations.addHandler(
                MQTTConnectionHandler(broker: broker, eventLoop: loop, maximumPacketSize: 1 << 20, logger: logger))
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1883)).wait()
            channel.pipeline.fireUserInboundEventTriggered(principal)
            send(.connect(connect))
        }

        var isOpen: Bool { channel.isActive }
        /// The packet ids a client may acknowledge: those it received and has not finished.
        var acknowledgeable: [UInt16] { unfinished.keys.sorted() }

        /// Sends `packet`; a connection the hub has closed takes nothing.
        func send(_ packet: MQTTPacket) {
            guard isOpen else { return }
            // What the hub wrote before this packet left counts first, as it would on a real connection.
            arrived += read()
            log.append("-> \(packet)")
            switch packet {
            case .puback(let ack) where unfinished[ack.packetID] == .atLeastOnce:
                unfinished[ack.packetID] = nil
            case .pubrec(let ack) where unfinished[ack.packetID] == .exactlyOnce:
                answered.insert(ack.packetID)
            case .pubcomp(let ack) where answered.contains(ack.packetID):
                unfinished[ack.packetID] = nil
                answered.remove(ack.packetID)
            default: break
            }
            var bytes = ByteBuffer()
            packet.write(to: &bytes, version: version)
            _ = try? channel.writeInbound(bytes)
            loop.run()
        }

        private var trace: String { log.suffix(30).joined(separator: "\n") }

        /// Packets read but not yet returned by `received()`.
        private var arrived: [MQTTPacket] = []

        /// What the hub wrote since the last call; records an issue for anything a client must refuse.
        func received() -> [MQTTPacket] {
            defer { arrived = [] }
            return arrived + read()
        }

        private func read() -> [MQTTPacket] {
            loop.run()
            var packets: [MQTTPacket] = []
            while let bytes = try? channel.readOutbound(as: ByteBuffer.self) {
                var bytes = bytes
                do {
                    while let packet = try decoder.decode(buffer: &bytes) { packets.append(packet) }
                } catch {
                    let start = bytes.readableBytesView.prefix(24).map { String($0, radix: 16) }.joined(separator: " ")
                    Issue.record(
                        "the hub wrote what a \(version) client must refuse: \(error) (\(start) ...)\n\(trace)")
                    return packets
                }
            }
            for packet in packets {
                log.append("<- \(packet)")
                switch packet {
                case .publish(let publish) where publish.qos != .atMostOnce:
                    guard let id = publish.packetID else { continue }
                    unfinished[id] = publish.qos
                    answered.remove(id)
                    if version == .v5, unfinished.count > receiveMaximum {
                        Issue.record(
                            "\(unfinished.count) deliveries unacknowledged, Receive Maximum \(receiveMaximum)\n\(trace)"
                        )
                    }
                default: break
                }
            }
            return packets
        }
    }

    static let topics = ["a", "a/b", "a/b/c", "b", "$SYS/x", "denied", "sport/tennis", "/"]
    static let filters = [
        "a", "a/+", "a/#", "#", "+/b", "+", "$share/g/a/#", "$share/g/#", "$SYS/#", "denied", "a/#/b", "$share/g",
        "sport/+", "/",
    ]
    static let clientIDs = ["c0", "c1", "c2", "c3", "c4"]

    /// One random packet a connected client could send, well formed for its version. Acknowledgements (PUBACK,
    /// PUBREC, PUBCOMP) are for a delivery the client received or for an id the hub never used, as a real client's
    /// are: one for an id still to be resent on this connection would acknowledge what the client has not seen.
    static func packet(for client: FuzzClient, _ random: inout SplitMix64) -> MQTTPacket {
        let version = client.version
        func pick<T>(_ values: [T]) -> T { values[Int.random(in: 0..<values.count, using: &random)] }
        let qos = pick([QoS.atMostOnce, .atLeastOnce, .exactlyOnce])
        let id = UInt16.random(in: 1...4, using: &random)
        let v5 = version == .v5
        switch Int.random(in: 0..<12, using: &random) {
        case 0...3:
            var properties: MQTTProperties = []
            var topic = pick(topics)
            if v5, Bool.random(using: &random) {
                properties.set(.topicAlias(UInt16.random(in: 1...3, using: &random)))
                if Bool.random(using: &random) { topic = "" }
            }
            if v5, Int.random(in: 0..<4, using: &random) == 0 { properties.set(.messageExpiryInterval(1)) }
            let size = pick([0, 3, 40, 300])
            return .publish(
                .init(
                    topic: topic, payload: ByteBuffer(repeating: 0x61, count: size), qos: qos,
                    retain: Int.random(in: 0..<4, using: &random) == 0, duplicate: Bool.random(using: &random),
                    packetID: qos == .atMostOnce ? nil : id, properties: properties))
        case 4: return .puback(packetID: pick(client.acknowledgeable + [65_000]))
        case 5: return .pubrec(packetID: pick(client.acknowledgeable + [65_000]))
        case 6: return .pubrel(packetID: id)
        case 7: return .pubcomp(packetID: pick(client.acknowledgeable + [65_000]))
        case 8:
            let options = MQTTPacket.SubscriptionOptions(
                qos: qos, noLocal: v5 && Bool.random(using: &random),
                retainAsPublished: v5 && Bool.random(using: &random),
                retainHandling: v5 ? pick([.sendOnSubscribe, .sendIfNew, .doNotSend]) : .sendOnSubscribe)
            let properties: MQTTProperties =
                v5 && Bool.random(using: &random)
                ? [.subscriptionIdentifier(Int.random(in: 1...3, using: &random))] : []
            let filter = pick(filters)
            let subscriptions =
                Bool.random(using: &random) ? [(filter, options)] : [(filter, options), (pick(filters), options)]
            return .subscribe(.init(packetID: id, subscriptions: subscriptions, properties: properties))
        case 9: return .unsubscribe(.init(packetID: id, filters: [pick(filters)]))
        case 10: return .pingreq
        default:
            return .disconnect(
                .init(reasonCode: v5 && Bool.random(using: &random) ? .disconnectWithWillMessage : .success))
        }
    }

    /// A CONNECT for one of a few client ids, in either version, with a will and a session one time in two.
    static func connect(_ random: inout SplitMix64) -> MQTTPacket.Connect {
        let version: MQTTVersion = Bool.random(using: &random) ? .v5 : .v3_1_1
        var properties: MQTTProperties = []
        if version == .v5 {
            if Bool.random(using: &random) {
                properties.set(.sessionExpiryInterval(UInt32.random(in: 0...2, using: &random) * 60))
            }
            if Bool.random(using: &random) { properties.set(.receiveMaximum(UInt16.random(in: 1...3, using: &random))) }
            if Bool.random(using: &random) {
                properties.set(.maximumPacketSize(UInt32.random(in: 64...512, using: &random)))
            }
            if Bool.random(using: &random) {
                properties.set(.topicAliasMaximum(UInt16.random(in: 0...2, using: &random)))
            }
        }
        let will: MQTTPacket.Will? =
            Bool.random(using: &random)
            ? .init(
                topic: topics[Int.random(in: 0..<4, using: &random)], payload: Array("gone".utf8),
                qos: Bool.random(using: &random) ? .atLeastOnce : .atMostOnce, retain: Bool.random(using: &random),
                properties: version == .v5 && Bool.random(using: &random) ? [.willDelayInterval(20)] : [])
            : nil
        return .init(
            version: version, clientID: clientIDs[Int.random(in: 0..<clientIDs.count, using: &random)],
            cleanStart: Bool.random(using: &random), keepAlive: [0, 0, 1, 60][Int.random(in: 0..<4, using: &random)],
            will: will, properties: properties)
    }

    @Test(arguments: 0..<8)
    func anyOrderOfPacketsKeepsTheBrokerWhole(_ seed: Int) throws {
        var random = SplitMix64(seed: 0xB40C_E400 + UInt64(seed))
        let store = ManualStore()
        let clock = TestClock()
        // Thousands of connections: their log lines would bury the test's output.
        var quiet = Logger(label: "test.broker-fuzz")
        quiet.logLevel = .critical
        let broker = try Broker(
            configuration: .init(
                maximumInflight: 3, maximumQueued: 20, storeHoldTime: seed.isMultiple(of: 2) ? .zero : .seconds(600)),
            authorizer: TestAuthorizer(deniedPublish: ["denied"], deniedSubscribe: ["denied"]), store: store,
            logger: quiet, clock: clock.read)
        let loop = EmbeddedEventLoop()
        var clients: [FuzzClient?] = Array(repeating: nil, count: 5)
        for _ in 0..<4_000 {
            let slot = Int.random(in: 0..<clients.count, using: &random)
            switch Int.random(in: 0..<20, using: &random) {
            case 0:
                _ = try? clients[slot]?.channel.close().wait()
            case 1:
                store.completeAll()
            case 2:
                broker.commitHeldDeliveries()
            case 3:
                // Time passes: messages and sessions expire, delayed wills fall due, keep-alives run out.
                let seconds = [0.5, 2, 30, 90][Int.random(in: 0..<4, using: &random)]
                clock.advance(seconds: seconds)
                loop.advanceTime(by: .milliseconds(Int64(seconds * 1000)))
                broker.housekeeping()
            default:
                guard let client = clients[slot], client.isOpen else {
                    clients[slot] = try FuzzClient(
                        broker: broker, loop: loop, principal: .contingent(["KAZ", "IND"][slot % 2]),
                        connect: Self.connect(&random), logger: quiet)
                    continue
                }
                // Mostly the expected answers to what arrived, so that flows complete; otherwise anything.
                for packet in client.received() {
                    guard Int.random(in: 0..<8, using: &random) != 0, case .publish(let publish) = packet,
                        let id = publish.packetID
                    else { continue }
                    client.send(publish.qos == .atLeastOnce ? .puback(packetID: id) : .pubrec(packetID: id))
                }
                for packet in client.received() {
                    if case .pubrel(let ack) = packet { client.send(.pubcomp(packetID: ack.packetID)) }
                }
                client.send(Self.packet(for: client, &random))
            }
            if Int.random(in: 0..<10, using: &random) == 0 { store.completeAll() }
            guard Self.countsWhatItsSessionsHold(broker) else { break }
        }
        store.completeAll()
        broker.commitHeldDeliveries()
        store.completeAll()
        for client in clients { _ = client?.received() }

        // The broker still serves: a new subscriber gets a new publisher's QoS 1 message.
        let subscriber = try TestClient(broker: broker, principal: .contingent("IND"))
        #expect(try subscriber.connect("after-sub") == [accepted])
        try subscriber.send(.subscribe(.init(packetID: 1, subscriptions: [("after/t", .atLeastOnce)])))
        #expect(try subscriber.received() == [.suback(.init(packetID: 1, reasonCodes: [.granted(.atLeastOnce)]))])
        let publisher = try TestClient(broker: broker, principal: .contingent("KAZ"))
        #expect(try publisher.connect("after-pub") == [accepted])
        try publisher.send(publish("after/t", "still here", qos: .atLeastOnce, id: 1))
        store.completeAll()
        broker.commitHeldDeliveries()
        store.completeAll()
        #expect(try publisher.received() == [.puback(packetID: 1)])
        #expect(TestClient.publishes(try subscriber.received()).map { String(buffer: $0.payload) } == ["still here"])

        // The store keeps a delayed will only while it waits: once every connection has ended and every delay (20 s
        // at most) has passed, each will was published, discarded or dropped with its session, in the store too.
        for client in clients { _ = try? client?.channel.close().wait() }
        store.completeAll()
        clock.advance(seconds: 30)
        broker.housekeeping()
        store.completeAll()
        let waiting = store.state.sessions.filter { $0.will != nil }.map(\.clientID)
        #expect(waiting.isEmpty, "wills still stored after their delays: \(waiting)")

        // A restart from what the store holds: each stored session takes its client back and hands over what it
        // kept, within the client's limits. Once all of it is acknowledged, the store holds nothing more for it: a
        // second restart sends nothing.
        let settled = try reconnectEverySession(after: store, logger: quiet) { client in
            var packets = client.received()
            while !packets.isEmpty {
                for packet in packets {
                    switch packet {
                    case .publish(let publish) where publish.qos == .atLeastOnce:
                        client.send(.puback(packetID: publish.packetID!))
                    case .publish(let publish) where publish.qos == .exactlyOnce:
                        client.send(.pubrec(packetID: publish.packetID!))
                    case .pubrel(let ack):
                        client.send(.pubcomp(packetID: ack.packetID))
                    default: break
                    }
                }
                store.completeAll()
                packets = client.received()
            }
        }
        #expect(settled > 0 || store.state.sessions.isEmpty)
        _ = try reconnectEverySession(after: store, logger: quiet) { client in
            let packets = client.received().filter { if case .connack = $0 { false } else { true } }
            #expect(packets.isEmpty, "\(packets)")
        }
    }

    /// Starts a broker on what `store` holds and connects each stored session's client as its owner (MQTT 5,
    /// Receive Maximum 2), hands it to `serve`, then disconnects it normally. Returns how many sessions it served.
    private func reconnectEverySession(
        after store: ManualStore, logger: Logger, serve: (FuzzClient) -> Void
    ) throws -> Int {
        let broker = try Broker(
            configuration: .init(maximumInflight: 3), authorizer: TestAuthorizer(), store: store, logger: logger)
        let loop = EmbeddedEventLoop()
        let sessions = store.state.sessions
        #expect(Self.countsWhatItsSessionsHold(broker))
        for session in sessions {
            let client = try FuzzClient(
                broker: broker, loop: loop, principal: session.owner,
                connect: .init(
                    version: .v5, clientID: session.clientID, cleanStart: false, keepAlive: 0,
                    properties: [.sessionExpiryInterval(60), .receiveMaximum(2)]),
                logger: logger)
            store.completeAll()
            serve(client)
            client.send(.disconnect(.init()))
            store.completeAll()
        }
        return sessions.count
    }

    /// Whether `Broker.messagesHeld`, kept as sessions change, is the sum over the sessions; records an issue if not.
    private static func countsWhatItsSessionsHold(_ broker: Broker) -> Bool {
        let sessions = broker.sessionSummaries()
        let summed = (queued: sessions.reduce(0) { $0 + $1.queued }, inflight: sessions.reduce(0) { $0 + $1.inflight })
        let counted = broker.messagesHeld
        guard counted != summed else { return true }
        Issue.record("the broker counts \(counted) queued and in flight, its sessions hold \(summed)")
        return false
    }
}
