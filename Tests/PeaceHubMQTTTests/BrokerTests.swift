import NIOCore
import NIOEmbedded
import PeaceHubCore
import PeaceHubMQTT
import Synchronization
import Testing

/// Allows everything except what a test names.
struct TestAuthorizer: MQTTAuthorizer {
    var deniedPublish: Set<String> = []
    var deniedSubscribe: Set<String> = []
    func mayPublish(_ principal: Principal, topic: String) -> Bool { !deniedPublish.contains(topic) }
    func maySubscribe(_ principal: Principal, filter: String) -> Bool { !deniedSubscribe.contains(filter) }
}

/// Refuses the topics a test names, counts what it is asked, and has a decision version a test can move on
/// (nil: decisions must not be kept).
final class VersionedAuthorizer: MQTTAuthorizer {
    private struct State {
        var denied: Set<String> = []
        var deniedFilters: Set<String> = []
        var version: Int? = 1
        var asked = 0
        var subscribeAsked = 0
        var versionsRead = 0
    }
    private let state = Mutex(State())

    var asked: Int { state.withLock { $0.asked } }
    var versionsRead: Int { state.withLock { $0.versionsRead } }
    var subscribeAsked: Int { state.withLock { $0.subscribeAsked } }
    func deny(_ topic: String) { state.withLock { _ = $0.denied.insert(topic) } }
    func setVersion(_ version: Int?) { state.withLock { $0.version = version } }
    func denySubscribe(_ filter: String) { state.withLock { _ = $0.deniedFilters.insert(filter) } }

    func mayPublish(_ principal: Principal, topic: String) -> Bool {
        state.withLock { state in
            state.asked += 1
            return !state.denied.contains(topic)
        }
    }
    /// Like the hub's topic policy, it knows no `$share/` filters: the broker asks for the filter within.
    func maySubscribe(_ principal: Principal, filter: String) -> Bool {
        state.withLock { state in
            state.subscribeAsked += 1
            return !filter.hasPrefix("$share/") && !state.deniedFilters.contains(filter)
        }
    }
    func decisionVersion() -> Int? {
        state.withLock { state in
            state.versionsRead += 1
            return state.version
        }
    }
}

/// A connection that counts the broker's wake-ups and never takes what they announce.
final class CountingConnection: BrokerConnection {
    let wakeUps = Atomic(0)
    func wakeUp() { wakeUps.add(1, ordering: .relaxed) }
    func close(_ code: ReasonCode, reason: String) {}
}

/// A client connected to the broker through the real connection handler on an embedded channel.
/// Counts the reads that reach the front of the pipeline (the socket).
final class ReadCounter: ChannelOutboundHandler, @unchecked Sendable {
    typealias OutboundIn = ByteBuffer
    private(set) var count = 0

    func read(context: ChannelHandlerContext) {
        count += 1
        context.read()
    }
}

final class TestClient {
    let channel: EmbeddedChannel
    let loop: EmbeddedEventLoop

    init(broker: Broker, principal: Principal?, loop: EmbeddedEventLoop = EmbeddedEventLoop()) throws {
        self.loop = loop
        channel = EmbeddedChannel(loop: loop)
        try channel.pipeline.syncOperations.addHandler(
            MQTTConnectionHandler(broker: broker, eventLoop: loop, maximumPacketSize: 1 << 28))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1883)).wait()
        if let principal { channel.pipeline.fireUserInboundEventTriggered(principal) }
    }

    /// Sends `packet` as the client's bytes, in the version of the client's CONNECT.
    func send(_ packet: MQTTPacket) throws {
        if case .connect(let connect) = packet { sendingVersion = connect.version }
        var bytes = ByteBuffer()
        packet.write(to: &bytes, version: sendingVersion)
        try sendBytes(bytes)
    }

    func sendBytes(_ bytes: ByteBuffer) throws {
        try channel.writeInbound(bytes)
        loop.run()
    }

    private var sendingVersion = MQTTVersion.v3_1_1

    /// Everything written to the client so far, read back as a client would (in the version of its CONNECT).
    func received() throws -> [MQTTPacket] {
        loop.run()
        var packets: [MQTTPacket] = []
        while var bytes = try channel.readOutbound(as: ByteBuffer.self) {
            while let packet = try decoder.decode(buffer: &bytes) { packets.append(packet) }
        }
        return packets
    }

    private var decoder = MQTTDecoder(maximumPacketSize: 1 << 28, role: .client, version: .v3_1_1)

    /// Reads what the hub writes as MQTT 5 from now on (after sending a 5.0 CONNECT).
    func speakMQTT5() {
        decoder = MQTTDecoder(maximumPacketSize: 1 << 28, role: .client, version: .v5)
    }

    func connect(_ clientID: String, clean: Bool = true, will: MQTTPacket.Will? = nil, keepAlive: UInt16 = 0) throws
        -> [MQTTPacket]
    {
        try send(.connect(.init(clientID: clientID, cleanStart: clean, keepAlive: keepAlive, will: will)))
        return try received()
    }

    var isOpen: Bool { channel.isActive }

    /// Client "ind" (IND) subscribed to `filter`, and client "kaz" (KAZ), both connected.
    static func subscriberAndPublisher(broker: Broker, filter: String, qos: QoS) throws -> (TestClient, TestClient) {
        let subscriber = try TestClient(broker: broker, principal: .contingent("IND"))
        _ = try subscriber.connect("ind")
        try subscriber.send(.subscribe(.init(packetID: 1, subscriptions: [(filter, qos)])))
        _ = try subscriber.received()
        let publisher = try TestClient(broker: broker, principal: .contingent("KAZ"))
        _ = try publisher.connect("kaz")
        return (subscriber, publisher)
    }
}

func payload(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }

func publish(_ topic: String, _ text: String, qos: QoS = .atMostOnce, id: UInt16? = nil, retain: Bool = false) -> MQTTPacket {
    .publish(.init(topic: topic, payload: payload(text), qos: qos, retain: retain, packetID: id))
}

let accepted = MQTTPacket.connack(.init(sessionPresent: false, reasonCode: .success))

@Suite struct BrokerTests {
    let kaz = Principal.contingent("KAZ")
    let ind = Principal.contingent("IND")

    /// QoS 0 messages already encoded for a 3.1.1 connection that has not written them yet go too when the
    /// registry withdraws their topic: only the queued deliveries were checked, and a subscriber that had stopped
    /// reading got them all after its deployment ended.
    @Test func encodedMessagesNotYetWrittenAreWithdrawnWithTheirTopic() throws {
        let authorizer = VersionedAuthorizer()
        let broker = try Broker(authorizer: authorizer)
        let (subscriber, publisher) = try TestClient.subscriberAndPublisher(
            broker: broker, filter: "#", qos: .atMostOnce)
        for (index, topic) in ["missions/UNIFIL/chat", "contingents/IND/inbox", "missions/UNIFIL/chat"].enumerated() {
            try publisher.send(publish(topic, "m\(index)"))
        }
        authorizer.denySubscribe("#")
        authorizer.denySubscribe("missions/UNIFIL/chat")
        authorizer.setVersion(2)
        broker.housekeeping()
        let left = TestClient.publishes(try subscriber.received()).map(\.topic)
        #expect(left == ["contingents/IND/inbox"], "\(left)")
    }

    /// A connection closed because its certificate was revoked publishes no will: it would be a message from a
    /// principal that has been cut off, at once or after the will's delay.
    @Test func aRevokedConnectionPublishesNoWill() throws {
        let broker = try Broker(authorizer: TestAuthorizer())
        let (listener, _) = try TestClient.subscriberAndPublisher(broker: broker, filter: "wills/#", qos: .atMostOnce)
        let revoked = try TestClient(broker: broker, principal: kaz)
        let will = MQTTPacket.Will(topic: "wills/kaz", payload: Array("gone".utf8), qos: .atMostOnce, retain: false)
        _ = try revoked.connect("kaz-desk", will: will)
        revoked.channel.pipeline.fireUserInboundEventTriggered(CredentialRevoked(reason: "certificate revoked"))
        revoked.loop.run()
        #expect(!revoked.isOpen)
        #expect(TestClient.publishes(try listener.received()).isEmpty)
    }

    /// The same when the certificate is revoked while the CONNECT is being stored: the session, stored after
    /// the connection closed, ended as a lost connection's, and its will went out; a PUBLISH sent behind the
    /// CONNECT was routed after the revocation.
    @Test func aConnectionRevokedWhileItsSessionIsStoredPublishesNoWill() throws {
        let store = ManualStore()
        let broker = try Broker(authorizer: TestAuthorizer(), store: store)
        let listener = try TestClient(broker: broker, principal: .contingent("IND"))
        _ = try listener.connect("ind")
        try listener.send(.subscribe(.init(packetID: 1, subscriptions: [("wills/#", .atMostOnce)])))
        store.completeAll()
        _ = try listener.received()
        let revoked = try TestClient(broker: broker, principal: kaz)
        let will = MQTTPacket.Will(topic: "wills/kaz", payload: Array("gone".utf8), qos: .atMostOnce, retain: false)
        try revoked.send(.connect(.init(clientID: "kaz-desk", cleanStart: false, will: will)))
        // What it sent behind its CONNECT, before the revocation came, is not acted on: it was routed.
        try revoked.send(.publish(.init(topic: "wills/kaz", payload: payload("sent behind the CONNECT"))))
        revoked.channel.pipeline.fireUserInboundEventTriggered(CredentialRevoked(reason: "certificate revoked"))
        revoked.loop.run()
        store.completeAll()
        revoked.loop.run()
        listener.loop.run()
        #expect(!revoked.isOpen)
        #expect(TestClient.publishes(try listener.received()).isEmpty)
    }

    /// A malformed packet behind a valid CONNECT still being stored: the CONNACK goes first, then the connection
    /// closes [MQTT-3.2.0-1]. The CONNACK, encoded, was dropped unsent, for a session the hub kept.
    @Test func aPacketThatFailsWhileTheConnectIsStoredClosesAfterTheConnack() throws {
        let store = ManualStore()
        let broker = try Broker(authorizer: TestAuthorizer(), store: store)
        let client = try TestClient(broker: broker, principal: kaz)
        var bytes = ByteBuffer()
        MQTTPacket.connect(.init(clientID: "kaz-desk", cleanStart: false)).write(to: &bytes, version: .v3_1_1)
        bytes.writeBytes([0x36, 0x03, 0x00, 0x01, 0x74])  // PUBLISH with QoS 3 [MQTT-3.3.1-4]
        try client.sendBytes(bytes)
        store.completeAll()
        #expect(try client.received() == [accepted])
        #expect(!client.isOpen)
    }

    @Test func connectWithoutAVerifiedPrincipalIsRefused() throws {
        let client = try TestClient(broker: try Broker(authorizer: TestAuthorizer()), principal: nil)
        #expect(try client.connect("x") == [.connack(.init(sessionPresent: false, reasonCode: .notAuthorized))])
        #expect(!client.isOpen)
    }

    @Test func packetsBeforeConnectAndASecondConnectCloseTheConnection() throws {
        let broker = try Broker(authorizer: TestAuthorizer())
        let early = try TestClient(broker: broker, principal: kaz)
        try early.send(.pingreq)
        #expect(try early.received().isEmpty)
        #expect(!early.isOpen)
        let twice = try TestClient(broker: broker, principal: kaz)
        #expect(try twice.connect("twice") == [accepted])
        try twice.send(.connect(.init(clientID: "twice")))
        #expect(!twice.isOpen)
    }

    @Test func qos0And1FlowBetweenTwoClients() throws {
        let broker = try Broker(authorizer: TestAuthorizer())
        let subscriber = try TestClient(broker: broker, principal: ind)
        let publisher = try TestClient(broker: broker, principal: kaz)
        _ = try subscriber.connect("ind-1")
        _ = try publisher.connect("kaz-1")
        try subscriber.send(.subscribe(.init(packetID: 1, subscriptions: [("contingents/IND/#", .atLeastOnce)])))
        #expect(try subscriber.received() == [.suback(.init(packetID: 1, reasonCodes: [.granted(.atLeastOnce)]))])

        try publisher.send(publish("contingents/IND/inbox", "zero"))
        try publisher.send(publish("contingents/IND/inbox", "one", qos: .atLeastOnce, id: 7))
        #expect(try publisher.received() == [.puback(packetID: 7)])
        let delivered = try subscriber.received()
        #expect(delivered.count == 2)
        #expect(delivered.first == publish("contingents/IND/inbox", "zero"))
        guard case .publish(let one) = delivered.last, let id = one.packetID else {
            Issue.record("no QoS 1 delivery")
            return
        }
        #expect(one.qos == .atLeastOnce)
        try subscriber.send(.puback(packetID: id))
        #expect(try subscriber.received().isEmpty)
    }

    /// QoS 0 messages of one read are routed together at its end: still in order with everything else the
    /// client sent, and those before a malformed packet are still delivered.
    @Test func qos0MessagesOfOneReadKeepTheirOrder() throws {
        let broker = try Broker(authorizer: TestAuthorizer())
        let subscriber = try TestClient(broker: broker, principal: ind)
        let publisher = try TestClient(broker: broker, principal: kaz)
        _ = try subscriber.connect("ind-1")
        _ = try publisher.connect("kaz-1")
        try subscriber.send(.subscribe(.init(packetID: 1, subscriptions: [("t", .atLeastOnce)])))
        _ = try subscriber.received()

        var burst = ByteBuffer()
        for packet in [
            publish("t", "a"), publish("t", "b"), publish("t", "c", qos: .atLeastOnce, id: 5), publish("t", "d"),
        ] {
            packet.write(to: &burst, version: .v3_1_1)
        }
        burst.writeBytes([0x30, 3, 0, 1, 0x2b])  // a PUBLISH to "+": a protocol violation
        try publisher.sendBytes(burst)
        #expect(!publisher.isOpen)
        let texts = try subscriber.received().compactMap { packet -> String? in
            guard case .publish(let delivered) = packet else { return nil }
            return String(buffer: delivered.payload)
        }
        #expect(texts == ["a", "b", "c", "d"])
    }

    @Test func qos2InboundIsDeliveredOnceAndOutboundCompletes() throws {
        let broker = try Broker(authorizer: TestAuthorizer())
        let subscriber = try TestClient(broker: broker, principal: ind)
        let publisher = try TestClient(broker: broker, principal: kaz)
        _ = try subscriber.connect("ind-1")
        _ = try publisher.connect("kaz-1")
        try subscriber.send(.subscribe(.init(packetID: 1, subscriptions: [("t", .exactlyOnce)])))
        _ = try subscriber.received()

        try publisher.send(publish("t", "once", qos: .exactlyOnce, id: 3))
        #expect(try publisher.received() == [.pubrec(packetID: 3)])
        // The client did not see PUBREC and sends again with DUP: no second delivery.
        try publisher.send(.publish(.init(topic: "t", payload: payload("once"), qos: .exactlyOnce, duplicate: true, packetID: 3)))
        #expect(try publisher.received() == [.pubrec(packetID: 3)])
        try publisher.send(.pubrel(packetID: 3))
        #expect(try publisher.received() == [.pubcomp(packetID: 3)])

        let delivered = try subscriber.received()
        #expect(delivered.count == 1)
        guard case .publish(let message) = delivered.first, let id = message.packetID else {
            Issue.record("no QoS 2 delivery")
            return
        }
        #expect(message.qos == .exactlyOnce)
        try subscriber.send(.pubrec(packetID: id))
        #expect(try subscriber.received() == [.pubrel(packetID: id)])
        try subscriber.send(.pubcomp(packetID: id))
        #expect(try subscriber.received().isEmpty)
    }

    @Test func deliveryUsesTheLowerOfMessageAndSubscriptionQoS() throws {
        let broker = try Broker(authorizer: TestAuthorizer())
        let subscriber = try TestClient(broker: broker, principal: ind)
        let publisher = try TestClient(broker: broker, principal: kaz)
        _ = try subscriber.connect("s")
        _ = try publisher.connect("p")
        try subscriber.send(.subscribe(.init(packetID: 1, subscriptions: [("a/+", .atMostOnce), ("a/b", .atLeastOnce)])))
        _ = try subscriber.received()
        try publisher.send(publish("a/b", "x", qos: .exactlyOnce, id: 1))
        let delivered = try subscriber.received()
        #expect(delivered.count == 1)  // one copy for overlapping subscriptions
        guard case .publish(let message) = delivered.first else { return }
        #expect(message.qos == .atLeastOnce)
    }

    @Test func retainedMessagesAreSetReplacedAndCleared() throws {
        let broker = try Broker(authorizer: TestAuthorizer())
        let publisher = try TestClient(broker: broker, principal: kaz)
        _ = try publisher.connect("p")
        try publisher.send(publish("hub/broadcast/status", "first", retain: true))
        try publisher.send(publish("hub/broadcast/status", "second", retain: true))
        let late = try TestClient(broker: broker, principal: ind)
        _ = try late.connect("late")
        try late.send(.subscribe(.init(packetID: 1, subscriptions: [("hub/broadcast/#", .atMostOnce)])))
        #expect(try late.received() == [
            .suback(.init(packetID: 1, reasonCodes: [.granted(.atMostOnce)])),
            publish("hub/broadcast/status", "second", retain: true),
        ])
        // A live subscriber gets retain = 0 [MQTT-3.3.1-9].
        try publisher.send(publish("hub/broadcast/status", "third", retain: true))
        #expect(try late.received() == [publish("hub/broadcast/status", "third")])
        try publisher.send(publish("hub/broadcast/status", "", retain: true))
        _ = try late.received()
        let later = try TestClient(broker: broker, principal: ind)
        _ = try later.connect("later")
        try later.send(.subscribe(.init(packetID: 1, subscriptions: [("hub/broadcast/#", .atMostOnce)])))
        #expect(try later.received() == [.suback(.init(packetID: 1, reasonCodes: [.granted(.atMostOnce)]))])
    }

    @Test func willIsPublishedOnUncleanCloseOnly() throws {
        let broker = try Broker(authorizer: TestAuthorizer())
        let watcher = try TestClient(broker: broker, principal: ind)
        _ = try watcher.connect("w")
        try watcher.send(.subscribe(.init(packetID: 1, subscriptions: [("status/#", .atLeastOnce)])))
        _ = try watcher.received()
        let will = MQTTPacket.Will(topic: "status/kaz", payload: Array("gone".utf8), qos: .atMostOnce, retain: false)

        let clean = try TestClient(broker: broker, principal: kaz)
        _ = try clean.connect("clean", will: will)
        try clean.send(.disconnect(.init()))
        #expect(!clean.isOpen)
        #expect(try watcher.received().isEmpty)

        let unclean = try TestClient(broker: broker, principal: kaz)
        _ = try unclean.connect("unclean", will: will)
        try unclean.channel.close().wait()
        #expect(try watcher.received() == [publish("status/kaz", "gone")])
    }

    /// Client ids, topics and filters are told apart by their bytes [MQTT-4.7.3-4, MQTT-3.1.3-2]: to Swift,
    /// `"é"` (U+00E9) and `"e\u{301}"` are equal strings.
    @Test func stringsThatLookAlikeAreDifferentIdsTopicsAndFilters() throws {
        let (composed, decomposed) = ("t/caf\u{E9}", "t/cafe\u{301}")
        let broker = try Broker(authorizer: TestAuthorizer())
        let first = try TestClient(broker: broker, principal: kaz)
        let second = try TestClient(broker: broker, principal: kaz, loop: first.loop)
        #expect(try first.connect("caf\u{E9}") == [accepted])
        #expect(try second.connect("cafe\u{301}") == [accepted])
        #expect(first.isOpen, "not taken over by the other id")
        // Two subscriptions, one per filter, each at its own QoS.
        try first.send(
            .subscribe(.init(packetID: 1, subscriptions: [(composed, .atLeastOnce), (decomposed, .atMostOnce)])))
        _ = try first.received()
        try second.send(.subscribe(.init(packetID: 1, subscriptions: [(composed, .atLeastOnce)])))
        _ = try second.received()
        let publisher = try TestClient(broker: broker, principal: ind, loop: first.loop)
        _ = try publisher.connect("ind")
        // The first PUBLISH fills the route cache for its topic; the second must not take that route.
        try publisher.send(publish(composed, "nfc", qos: .atLeastOnce, id: 1, retain: true))
        try publisher.send(publish(decomposed, "nfd", qos: .atLeastOnce, id: 2, retain: true))
        let got = TestClient.publishes(try first.received())
        #expect(got.map { String(buffer: $0.payload) } == ["nfc", "nfd"])
        #expect(got.map(\.qos) == [.atLeastOnce, .atMostOnce])
        #expect(got.map { Array($0.topic.utf8) } == [Array(composed.utf8), Array(decomposed.utf8)])
        #expect(TestClient.publishes(try second.received()).map { String(buffer: $0.payload) } == ["nfc"])
        // Each topic keeps its own retained message; unsubscribing one form leaves the other.
        let late = try TestClient(broker: broker, principal: ind, loop: first.loop)
        _ = try late.connect("late")
        try late.send(.subscribe(.init(packetID: 1, subscriptions: [(composed, .atMostOnce)])))
        #expect(TestClient.publishes(try late.received()).map { String(buffer: $0.payload) } == ["nfc"])
        // QoS 0 PUBLISHes of one read share their route and their authorization while the topic repeats: only
        // while its bytes do.
        var burst = ByteBuffer()
        for (topic, text) in [(composed, "burst-nfc"), (decomposed, "burst-nfd")] {
            publish(topic, text).write(to: &burst, version: .v3_1_1)
        }
        try publisher.sendBytes(burst)
        #expect(TestClient.publishes(try second.received()).map { String(buffer: $0.payload) } == ["burst-nfc"])
        _ = try first.received()
        try first.send(.unsubscribe(.init(packetID: 2, filters: [decomposed])))
        _ = try first.received()
        try publisher.send(publish(composed, "again"))
        #expect(TestClient.publishes(try first.received()).map { String(buffer: $0.payload) } == ["again"])
    }

    @Test func persistentSessionGetsWhatWasPublishedWhileOfflineInPrecedenceOrder() throws {
        let broker = try Broker(authorizer: TestAuthorizer())
        let first = try TestClient(broker: broker, principal: ind)
        #expect(try first.connect("ind-desk", clean: false) == [accepted])
        try first.send(.subscribe(.init(packetID: 1, subscriptions: [("contingents/IND/inbox", .atLeastOnce)])))
        _ = try first.received()
        try first.send(.disconnect(.init()))

        let publisher = try TestClient(broker: broker, principal: kaz)
        _ = try publisher.connect("kaz")
        let bodies = [("ROUTINE", "r1"), ("FLASH", "f1"), ("PRIORITY", "p1"), ("FLASH", "f2"), ("IMMEDIATE", "i1")]
        for (index, (precedence, text)) in bodies.enumerated() {
            try publisher.send(
                publish(
                    "contingents/IND/inbox", #"{"precedence":"\#(precedence)","body":"\#(text)"}"#, qos: .atLeastOnce,
                    id: UInt16(index + 1)))
        }
        try publisher.send(publish("contingents/IND/inbox", "qos 0 is not kept for offline sessions"))

        let second = try TestClient(broker: broker, principal: ind)
        let packets = try second.connect("ind-desk", clean: false)
        #expect(packets.first == .connack(.init(sessionPresent: true, reasonCode: .success)))
        let order = packets.dropFirst().compactMap { packet -> String? in
            guard case .publish(let message) = packet else { return nil }
            return String(buffer: message.payload).components(separatedBy: "\"body\":\"").last?.dropLast(2).description
        }
        #expect(order == ["f1", "f2", "i1", "p1", "r1"])
    }

    /// Outside `precedenceTopics` a topic is an MQTT Ordered Topic: a FLASH queued after a ROUTINE message on it
    /// leaves after it [MQTT-4.6.0-5]; on a precedence topic it goes first. An empty list orders every topic.
    @Test func precedenceReordersOnlyThePrecedenceTopics() throws {
        for (topics, topic, expected) in [
            (Broker.Configuration.defaultPrecedenceTopics, "chat/ops", ["r1", "f1", "r2", "i1"]),
            (Broker.Configuration.defaultPrecedenceTopics, "contingents/IND/inbox", ["f1", "i1", "r1", "r2"]),
            ([], "contingents/IND/inbox", ["r1", "f1", "r2", "i1"]),
            (["chat/#"], "chat/ops", ["f1", "i1", "r1", "r2"]),
        ] {
            let broker = try Broker(
                configuration: Broker.Configuration(precedenceTopics: topics), authorizer: TestAuthorizer())
            let first = try TestClient(broker: broker, principal: ind)
            _ = try first.connect("ind-desk", clean: false)
            try first.send(.subscribe(.init(packetID: 1, subscriptions: [(topic, .atLeastOnce)])))
            _ = try first.received()
            try first.send(.disconnect(.init()))
            let publisher = try TestClient(broker: broker, principal: kaz)
            _ = try publisher.connect("kaz")
            let sent = [("ROUTINE", "r1"), ("FLASH", "f1"), ("ROUTINE", "r2"), ("IMMEDIATE", "i1")]
            for (index, (precedence, text)) in sent.enumerated() {
                try publisher.send(
                    publish(
                        topic, #"{"precedence":"\#(precedence)","body":"\#(text)"}"#, qos: .atLeastOnce,
                        id: UInt16(index + 1)))
            }
            let second = try TestClient(broker: broker, principal: ind)
            let order = try second.connect("ind-desk", clean: false).compactMap { packet -> String? in
                guard case .publish(let message) = packet else { return nil }
                let body = String(buffer: message.payload).components(separatedBy: "\"body\":\"").last
                return body?.dropLast(2).description
            }
            #expect(order == expected, "\(topics) \(topic)")
        }
    }

    @Test func unacknowledgedMessagesAreResentWithDupOnReconnect() throws {
        let broker = try Broker(authorizer: TestAuthorizer())
        let subscriber = try TestClient(broker: broker, principal: ind)
        _ = try subscriber.connect("s", clean: false)
        try subscriber.send(.subscribe(.init(packetID: 1, subscriptions: [("t", .exactlyOnce)])))
        _ = try subscriber.received()
        let publisher = try TestClient(broker: broker, principal: kaz)
        _ = try publisher.connect("p")
        try publisher.send(publish("t", "a", qos: .atLeastOnce, id: 1))
        try publisher.send(publish("t", "b", qos: .exactlyOnce, id: 2))
        try publisher.send(.pubrel(packetID: 2))
        let first = try subscriber.received()
        #expect(first.count == 2)
        guard case .publish(let b) = first.last, let bID = b.packetID else { return }
        try subscriber.send(.pubrec(packetID: bID))  // b is now awaiting PUBCOMP
        _ = try subscriber.received()
        try subscriber.channel.close().wait()

        let again = try TestClient(broker: broker, principal: ind)
        let packets = try again.connect("s", clean: false)
        #expect(packets.count == 3)
        // The PUBREL first: no window holds it back.
        #expect(packets[1] == .pubrel(packetID: bID))
        guard case .publish(let resent) = packets[2] else {
            Issue.record("no resend")
            return
        }
        #expect(resent.duplicate)
        #expect(String(buffer: resent.payload) == "a")
    }

    /// PUBRELs go again in the order their PUBRECs came [MQTT-4.6.0-4, MQTT-4.6.0-6]: they went in the order the
    /// PUBLISHes were first sent.
    @Test func pubrelsAreResentInTheOrderOfTheirPubrecs() throws {
        let broker = try Broker(authorizer: TestAuthorizer())
        let subscriber = try TestClient(broker: broker, principal: ind)
        _ = try subscriber.connect("s", clean: false)
        try subscriber.send(.subscribe(.init(packetID: 1, subscriptions: [("t", .exactlyOnce)])))
        _ = try subscriber.received()
        let publisher = try TestClient(broker: broker, principal: kaz)
        _ = try publisher.connect("p")
        for (index, text) in ["a", "b", "c"].enumerated() {
            let id = UInt16(index + 1)
            try publisher.send(publish("t", text, qos: .exactlyOnce, id: id))
            try publisher.send(.pubrel(packetID: id))
        }
        let ids = TestClient.publishes(try subscriber.received()).compactMap(\.packetID)
        #expect(ids.count == 3)
        for id in [ids[2], ids[0]] {
            try subscriber.send(.pubrec(packetID: id))
            #expect(try subscriber.received() == [.pubrel(packetID: id)])
        }
        try subscriber.channel.close().wait()

        let again = try TestClient(broker: broker, principal: ind)
        let packets = try again.connect("s", clean: false)
        #expect(packets.filter { if case .pubrel = $0 { true } else { false } } == [.pubrel(packetID: ids[2]), .pubrel(packetID: ids[0])])
        #expect(TestClient.publishes(packets).map { $0.packetID } == [ids[1]])
    }

    @Test func sessionTakeoverAndBinding() throws {
        let broker = try Broker(authorizer: TestAuthorizer())
        let first = try TestClient(broker: broker, principal: kaz)
        _ = try first.connect("kaz-ops")
        let second = try TestClient(broker: broker, principal: kaz, loop: first.loop)
        #expect(try second.connect("kaz-ops") == [accepted])
        first.loop.run()
        #expect(!first.isOpen)
        #expect(second.isOpen)
        // Another contingent cannot take over the session bound to KAZ.
        let intruder = try TestClient(broker: broker, principal: ind)
        #expect(try intruder.connect("kaz-ops") == [.connack(.init(sessionPresent: false, reasonCode: .notAuthorized))])
        #expect(second.isOpen)
    }

    /// Packets a connection sent before another took its session over reach the broker until that connection is
    /// closed, on its own event loop: they change nothing of the session the newer connection holds
    /// [MQTT-3.1.4-3]. A Clean Start session took the old connection's subscriptions over, and its QoS 2 packet
    /// ids, so that its own QoS 2 message with such an id was acknowledged and never delivered.
    @Test func packetsOfAConnectionTakenOverDoNotChangeTheNewSession() throws {
        let broker = try Broker(authorizer: TestAuthorizer())
        let subscriber = try TestClient(broker: broker, principal: ind)
        _ = try subscriber.connect("ind")
        try subscriber.send(.subscribe(.init(packetID: 1, subscriptions: [("contingents/IND/inbox", .exactlyOnce)])))
        _ = try subscriber.received()
        let (old, new) = (CountingConnection(), CountingConnection())
        broker.connect(.init(clientID: "kaz-ops"), principal: kaz, connection: old) { _ in }
        broker.connect(.init(clientID: "kaz-ops", cleanStart: true), principal: kaz, connection: new) { _ in }
        let answers = Mutex<[String]>([])
        let answered: Broker.Reply = { result in
            answers.withLock {
                switch result {
                case .success(let packet): $0.append("\(String(describing: packet))")
                case .failure(let error): $0.append("\(error)")
                }
            }
        }
        let stale = MQTTPacket.Subscribe(packetID: 2, subscriptions: [("hub/broadcast/#", .atLeastOnce)])
        broker.subscribe(stale, clientID: "kaz-ops", connection: old, principal: kaz, reply: answered)
        var publisher = Broker.Publisher()
        guard case .publish(let stalePublish) = publish("contingents/IND/inbox", "stale", qos: .exactlyOnce, id: 7),
            case .publish(let newPublish) = publish("contingents/IND/inbox", "new", qos: .exactlyOnce, id: 7)
        else { return }
        broker.publish(
            stalePublish, clientID: "kaz-ops", connection: old, principal: kaz, publisher: &publisher, reply: answered)
        broker.release(packetID: 7, clientID: "kaz-ops", connection: old, reply: answered)
        broker.unsubscribe(.init(packetID: 3, filters: ["x"]), clientID: "kaz-ops", connection: old, reply: answered)
        let takenOver = "session taken over by a new connection with client id kaz-ops"
        #expect(answers.withLock { $0 } == Array(repeating: takenOver, count: 4))
        let session = broker.sessionSummaries().first { $0.clientID == "kaz-ops" }
        #expect(session?.subscriptions.isEmpty == true)
        broker.publish(
            newPublish, clientID: "kaz-ops", connection: new, principal: kaz, publisher: &publisher, reply: answered)
        let delivered = TestClient.publishes(try subscriber.received()).map { String(buffer: $0.payload) }
        #expect(delivered == ["new"])
    }

    /// A clean session lasts as long as its connection, and nothing of it is used again [MQTT-3.1.2-6]: a
    /// CleanSession 0 CONNECT that takes it over starts a new session (it resumed it, with its subscription and
    /// its unacknowledged message, and stored it). The same for a 5.0 session with no Session Expiry.
    @Test func aCleanSessionTakenOverIsNotResumed() throws {
        for version in [MQTTVersion.v3_1_1, .v5] {
            let broker = try Broker(authorizer: TestAuthorizer())
            let first = try TestClient(broker: broker, principal: kaz)
            let publisher = try TestClient(broker: broker, principal: ind, loop: first.loop)
            _ = try publisher.connect("ind")
            if version == .v5 {
                _ = try first.connect5("kaz-ops")
                _ = try first.subscribe("contingents/KAZ/inbox", .init(qos: .atLeastOnce))
            } else {
                _ = try first.connect("kaz-ops")
                try first.send(.subscribe(.init(packetID: 1, subscriptions: [("contingents/KAZ/inbox", .atLeastOnce)])))
                _ = try first.received()
            }
            try publisher.send(publish("contingents/KAZ/inbox", "unacknowledged", qos: .atLeastOnce, id: 1))
            #expect(TestClient.publishes(try first.received()).count == 1)
            let second = try TestClient(broker: broker, principal: kaz, loop: first.loop)
            let packets =
                version == .v5
                ? try second.connect5("kaz-ops", cleanStart: false) : try second.connect("kaz-ops", clean: false)
            guard case .connack(let connack) = packets.first else {
                Issue.record("no CONNACK: \(packets)")
                continue
            }
            #expect(!connack.sessionPresent, "\(version)")
            #expect(TestClient.publishes(packets).isEmpty, "\(version)")
            try publisher.send(publish("contingents/KAZ/inbox", "after", qos: .atLeastOnce, id: 2))
            #expect(TestClient.publishes(try second.received()).isEmpty, "\(version): no subscription carried over")
        }
    }

    /// In 3.1.1 a filter that breaks the wildcard or length rules is a protocol violation: the connection closes
    /// [MQTT-4.7.1-2, MQTT-4.7.3-1, MQTT-4.8.0-1] (5.0 answers 0x8F for that filter).
    @Test func anInvalidFilterClosesA311Connection() throws {
        let broker = try Broker(authorizer: TestAuthorizer())
        for filter in ["bad/#/filter", "", "a/b#", "a/+b"] {
            for unsubscribe in [false, true] {
                let client = try TestClient(broker: broker, principal: kaz)
                _ = try client.connect("kaz")
                try client.send(
                    unsubscribe
                        ? .unsubscribe(.init(packetID: 1, filters: ["ok", filter]))
                        : .subscribe(.init(packetID: 1, subscriptions: [("ok", .atMostOnce), (filter, .atMostOnce)])))
                #expect(try client.received().isEmpty, "'\(filter)'")
                #expect(!client.isOpen, "'\(filter)'")
            }
        }
    }

    @Test func emptyClientIDNeedsACleanSession() throws {
        let broker = try Broker(authorizer: TestAuthorizer())
        #expect(try TestClient(broker: broker, principal: kaz).connect("", clean: true) == [accepted])
        #expect(
            try TestClient(broker: broker, principal: kaz).connect("", clean: false)
                == [.connack(.init(sessionPresent: false, reasonCode: .clientIdentifierNotValid))])
    }

    @Test func refusedPublishIsAcknowledgedAndNoticedAndRefusedSubscribeFails() throws {
        let broker = try Broker(
            authorizer: TestAuthorizer(deniedPublish: ["hub/broadcast/x"], deniedSubscribe: ["$SYS/#"]))
        let client = try TestClient(broker: broker, principal: kaz)
        _ = try client.connect("kaz")
        try client.send(.subscribe(.init(packetID: 1, subscriptions: [
            ("contingents/KAZ/notices", .atLeastOnce), ("$SYS/#", .atMostOnce),
        ])))
        #expect(
            try client.received()
                == [.suback(.init(packetID: 1, reasonCodes: [.granted(.atLeastOnce), .unspecifiedError]))])
        try client.send(publish("hub/broadcast/x", "no", qos: .atLeastOnce, id: 5))
        let packets = try client.received()
        #expect(packets.first == .puback(packetID: 5))
        guard case .publish(let notice) = packets.last else {
            Issue.record("no notice")
            return
        }
        #expect(notice.topic == "contingents/KAZ/notices")
        #expect(String(buffer: notice.payload).contains("publish-refused"))
    }

    /// A will on a topic its principal may not publish on is refused as a PUBLISH would be: counted and noticed
    /// (it was dropped without a word, while its client, gone, hears nothing).
    @Test func aRefusedWillIsCountedAndNoticed() throws {
        let broker = try Broker(authorizer: TestAuthorizer(deniedPublish: ["hub/broadcast/x"]))
        let listener = try TestClient(broker: broker, principal: kaz)
        _ = try listener.connect("kaz")
        try listener.send(.subscribe(.init(packetID: 1, subscriptions: [("contingents/KAZ/notices", .atLeastOnce)])))
        _ = try listener.received()
        let will = MQTTPacket.Will(topic: "hub/broadcast/x", payload: Array("gone".utf8), qos: .atMostOnce, retain: false)
        let lost = try TestClient(broker: broker, principal: kaz, loop: listener.loop)
        _ = try lost.connect("kaz-desk", will: will)
        try lost.channel.close().wait()
        guard case .publish(let notice) = try listener.received().last else {
            Issue.record("no notice")
            return
        }
        #expect(String(buffer: notice.payload).contains("not authorized to publish the will of client kaz-desk"))
        #expect(broker.counters.publishesRefused == 1)
    }

    /// A connection reuses its last PUBLISH decision for the same topic while the authorizer's version stays;
    /// another topic, a new version or no version at all asks the authorizer again.
    @Test func theLastPublishDecisionIsKeptWhileTheAuthorizersVersionStays() throws {
        let authorizer = VersionedAuthorizer()
        let broker = try Broker(authorizer: authorizer)
        let (subscriber, publisher) = try TestClient.subscriberAndPublisher(broker: broker, filter: "t/#", qos: .atMostOnce)
        func deliveredTopics(_ topics: [String]) throws -> [String] {
            for topic in topics { try publisher.send(publish(topic, "m")) }
            return try subscriber.received().compactMap { packet in
                if case .publish(let message) = packet { message.topic } else { nil }
            }
        }

        #expect(try deliveredTopics(["t/a", "t/a", "t/b", "t/b"]) == ["t/a", "t/a", "t/b", "t/b"])
        #expect(authorizer.asked == 2)
        authorizer.deny("t/b")
        #expect(try deliveredTopics(["t/b"]) == ["t/b"], "the version did not move: the decision is kept")
        #expect(authorizer.asked == 2)
        authorizer.setVersion(2)
        #expect(try deliveredTopics(["t/b", "t/b", "t/a"]) == ["t/a"])
        #expect(authorizer.asked == 4)
        authorizer.setVersion(nil)
        #expect(try deliveredTopics(["t/a", "t/a"]) == ["t/a", "t/a"])
        #expect(authorizer.asked == 6)
    }

    /// A re-check asks the authorizer once for each principal and filter, however many sessions share them (20,000
    /// sessions were 40,000 questions, and held the other clients up for a second in the debug build).
    @Test func aRecheckAsksOnceForEachPrincipalAndFilter() throws {
        let authorizer = VersionedAuthorizer()
        let broker = try Broker(authorizer: authorizer)
        let loop = EmbeddedEventLoop()
        for index in 0..<20 {
            let client = try TestClient(broker: broker, principal: index.isMultiple(of: 2) ? ind : kaz, loop: loop)
            _ = try client.connect("desk-\(index)", clean: false)
            try client.send(.subscribe(.init(packetID: 1, subscriptions: [("a/#", .atMostOnce), ("b", .atMostOnce)])))
        }
        broker.housekeeping()
        let before = authorizer.subscribeAsked
        authorizer.setVersion(2)
        broker.housekeeping()
        #expect(authorizer.subscribeAsked - before == 4)
    }

    /// A subscription the authorizer no longer allows (a deployment ended) is withdrawn at the housekeeping after
    /// its version moves; the others stay, and nothing is asked again while the version stays.
    @Test func aSubscriptionNoLongerAllowedIsWithdrawn() throws {
        let authorizer = VersionedAuthorizer()
        let broker = try Broker(authorizer: authorizer)
        let subscriber = try TestClient(broker: broker, principal: ind)
        _ = try subscriber.connect("ind-desk", clean: false)
        try subscriber.send(.subscribe(.init(packetID: 1, subscriptions: [("missions/UNIFIL/#", .atMostOnce)])))
        try subscriber.send(.subscribe(.init(packetID: 2, subscriptions: [("contingents/IND/inbox", .atMostOnce)])))
        // Shared subscriptions are judged by the filter within, here and when they are checked again.
        try subscriber.send(
            .subscribe(.init(packetID: 3, subscriptions: [("$share/g/missions/UNIFIL/+", .atMostOnce)])))
        try subscriber.send(.subscribe(.init(packetID: 4, subscriptions: [("$share/g/hub/broadcast", .atMostOnce)])))
        _ = try subscriber.received()
        let publisher = try TestClient(broker: broker, principal: kaz)
        _ = try publisher.connect("kaz")
        func delivered() throws -> [String] {
            try publisher.send(publish("missions/UNIFIL/chat", "m"))
            try publisher.send(publish("contingents/IND/inbox", "m"))
            try publisher.send(publish("hub/broadcast", "m"))
            return try subscriber.received().compactMap { packet in
                if case .publish(let message) = packet { message.topic } else { nil }
            }
        }
        broker.housekeeping()
        authorizer.denySubscribe("missions/UNIFIL/#")
        broker.housekeeping()
        #expect(
            try delivered() == ["missions/UNIFIL/chat", "contingents/IND/inbox", "hub/broadcast"],
            "the version did not move")
        authorizer.denySubscribe("missions/UNIFIL/+")
        authorizer.setVersion(2)
        broker.housekeeping()
        #expect(try delivered() == ["contingents/IND/inbox", "hub/broadcast"])
        // The session still knows only the subscription that stays: a reconnect brings nothing back.
        try subscriber.send(.disconnect(.init()))
        let again = try TestClient(broker: broker, principal: ind)
        _ = try again.connect("ind-desk", clean: false)
        try publisher.send(publish("missions/UNIFIL/chat", "m"))
        #expect(try again.received().isEmpty)
    }

    @Test func theAuthorizersVersionIsReadOncePerBurstOfQoS0Publishes() throws {
        let authorizer = VersionedAuthorizer()
        let broker = try Broker(authorizer: authorizer)
        let (subscriber, publisher) = try TestClient.subscriberAndPublisher(broker: broker, filter: "t/#", qos: .atLeastOnce)
        func read(_ packets: [MQTTPacket]) throws -> Int {
            let before = authorizer.versionsRead
            var bytes = ByteBuffer()
            for packet in packets { packet.write(to: &bytes, version: .v3_1_1) }
            try publisher.sendBytes(bytes)
            return authorizer.versionsRead - before
        }

        #expect(try read((0..<20).map { publish("t/\($0 % 3)", "m") }) == 1, "one read, one burst")
        #expect(try read([publish("t/a", "m")]) == 1, "the next read reads it again")
        let mixed = [publish("t/a", "m"), publish("t/a", "m", qos: .atLeastOnce, id: 1), publish("t/a", "m")]
        #expect(try read(mixed) == 2, "a QoS 1 PUBLISH ends the burst before it and starts the next")
        authorizer.deny("t/b")
        authorizer.setVersion(2)
        #expect(try read([publish("t/b", "m")]) == 1)
        #expect(try subscriber.received().count == 20 + 1 + 3, "t/b was refused at the new version")
    }

    @Test func aBurstForOneSessionWakesItsConnectionOnce() throws {
        let broker = try Broker(authorizer: TestAuthorizer())
        let subscribers = [CountingConnection(), CountingConnection()]
        for (index, connection) in subscribers.enumerated() {
            broker.connect(.init(clientID: "s\(index)"), principal: ind, connection: connection) { _ in }
            broker.subscribe(
                .init(packetID: 1, subscriptions: [("t/#", .atMostOnce)]), clientID: "s\(index)",
                connection: connection, principal: ind
            ) { _ in }
        }
        let before = subscribers.map { $0.wakeUps.load(ordering: .relaxed) }
        var publisher = Broker.Publisher()
        guard case .publish(let message) = publish("t/a", "m") else { return }
        let publishing = CountingConnection()
        for _ in 0..<10 {
            broker.publish(message, clientID: "p", connection: publishing, principal: kaz, publisher: &publisher) { _ in }
        }
        broker.route(&publisher)
        #expect(zip(subscribers, before).map { $0.wakeUps.load(ordering: .relaxed) - $1 } == [1, 1])
    }

    /// QoS 0 messages for a 3.1.1 connection wait encoded (`Session.enqueueEncoded`): they count against the
    /// queue's limit like any delivery, and a connection that ends before taking them takes them along.
    @Test func qos0MessagesEncodedForAConnectionCountAndEndWithIt() throws {
        let broker = try Broker(configuration: .init(maximumQueued: 3), authorizer: TestAuthorizer())
        let subscriber = try TestClient(broker: broker, principal: ind)
        _ = try subscriber.connect("ind-1", clean: false)
        try subscriber.send(.subscribe(.init(packetID: 1, subscriptions: [("t", .atLeastOnce)])))
        _ = try subscriber.received()
        let publisher = try TestClient(broker: broker, principal: kaz)
        _ = try publisher.connect("kaz-1")
        // The subscriber's event loop does not run meanwhile: what is routed to it waits.
        for text in ["a", "b", "c", "d"] { try publisher.send(publish("t", text)) }
        #expect(broker.sessionSummaries().first { $0.clientID == "ind-1" }?.queued == 3, "the fourth did not fit")

        try subscriber.channel.close().wait()
        #expect(broker.sessionSummaries().first { $0.clientID == "ind-1" }?.queued == 0)
        let again = try TestClient(broker: broker, principal: ind)
        #expect(try again.connect("ind-1", clean: false) == [.connack(.init(sessionPresent: true, reasonCode: .success))])
        try publisher.send(publish("t", "e"))
        #expect(try again.received() == [publish("t", "e")], "QoS 0 messages are not kept past their connection")
    }

    /// A subscriber that stops reading fills its socket; from then on its messages wait in its session's queue,
    /// where `maximumQueued` bounds them, instead of piling up in the channel's pending writes without limit (a
    /// flood of 64 KiB QoS 0 messages took the hub past 2 GB).
    @Test func aSubscriberThatDoesNotReadHoldsAtMostItsQueue() throws {
        let broker = try Broker(configuration: .init(maximumQueued: 3), authorizer: TestAuthorizer())
        let (subscriber, publisher) = try TestClient.subscriberAndPublisher(
            broker: broker, filter: "t", qos: .atMostOnce)
        subscriber.channel.isWritable = false
        subscriber.channel.pipeline.fireChannelWritabilityChanged()
        for text in ["a", "b", "c", "d", "e"] {
            try publisher.send(publish("t", text))
            #expect(try subscriber.received() == [], "nothing is written while the channel is full")
        }
        #expect(broker.sessionSummaries().first { $0.clientID == "ind" }?.queued == 3)
        subscriber.channel.isWritable = true
        subscriber.channel.pipeline.fireChannelWritabilityChanged()
        #expect(try subscriber.received() == ["a", "b", "c"].map { publish("t", $0) }, "the queue, in order")
        try publisher.send(publish("t", "f"))
        #expect(try subscriber.received() == [publish("t", "f")])
    }

    /// Nothing more is read from a client that leaves the answers unread: one that wrote PINGREQs and never read
    /// had its PINGRESPs pile up without bound (63 MB in 12 s) while the hub read all it sent.
    @Test func nothingIsReadFromAClientThatLeavesTheAnswersUnread() throws {
        let broker = try Broker(authorizer: TestAuthorizer())
        let client = try TestClient(broker: broker, principal: kaz)
        let reads = ReadCounter()
        try client.channel.pipeline.syncOperations.addHandler(reads, position: .first)
        _ = try client.connect("kaz")
        client.channel.read()
        #expect(reads.count == 1)
        client.channel.isWritable = false
        client.channel.pipeline.fireChannelWritabilityChanged()
        client.channel.read()
        #expect(reads.count == 1, "read while the answers wait")
        client.channel.isWritable = true
        client.channel.pipeline.fireChannelWritabilityChanged()
        #expect(reads.count == 2, "the read held back is passed on")
    }

    @Test func dollarTopicsAreNotMatchedByHash() throws {
        let broker = try Broker(authorizer: TestAuthorizer())
        let client = try TestClient(broker: broker, principal: kaz)
        _ = try client.connect("c")
        try client.send(.subscribe(.init(packetID: 1, subscriptions: [("#", .atMostOnce)])))
        _ = try client.received()
        broker.publishAsHub(BrokerMessage(topic: "$SYS/uptime", payload: payload("1"), qos: .atMostOnce))
        broker.publishAsHub(BrokerMessage(topic: "hub/x", payload: payload("2"), qos: .atMostOnce))
        #expect(try client.received() == [publish("hub/x", "2")])
    }

    @Test func keepAliveExpiryClosesAndPublishesTheWill() throws {
        let broker = try Broker(authorizer: TestAuthorizer())
        let watcher = try TestClient(broker: broker, principal: ind)
        _ = try watcher.connect("w")
        try watcher.send(.subscribe(.init(packetID: 1, subscriptions: [("status/#", .atMostOnce)])))
        _ = try watcher.received()
        let sleeper = try TestClient(broker: broker, principal: kaz, loop: watcher.loop)
        let will = MQTTPacket.Will(topic: "status/kaz", payload: Array("lost".utf8), qos: .atMostOnce, retain: false)
        _ = try sleeper.connect("sleeper", will: will, keepAlive: 2)
        watcher.loop.advanceTime(by: .seconds(2))
        try sleeper.send(.pingreq)  // still alive at 2 s
        #expect(try sleeper.received() == [.pingresp])
        watcher.loop.advanceTime(by: .milliseconds(2500))
        #expect(sleeper.isOpen)  // 2.5 s since the last packet: within 1.5 × 2 s
        watcher.loop.advanceTime(by: .seconds(1))
        #expect(!sleeper.isOpen)
        #expect(try watcher.received() == [publish("status/kaz", "lost")])
    }

    /// A client on a slow link reading a large message for longer than its keep-alive: the hub holds its bytes back
    /// (the answers wait unread), so its PINGREQs wait too, and it was closed as if it had gone quiet. A keep-alive
    /// check passes a held read on once; the PINGREQs count. One that sends nothing is closed a second later, and
    /// one whose socket stays full for four keep-alives is not reading at all.
    @Test func aHeldReadIsPassedOnOnceBeforeTheKeepAliveEnds() throws {
        let client = try TestClient(broker: try Broker(authorizer: TestAuthorizer()), principal: kaz)
        let reads = ReadCounter()
        try client.channel.pipeline.syncOperations.addHandler(reads, position: .first)
        _ = try client.connect("slow-link", keepAlive: 2)
        client.channel.isWritable = false
        client.channel.pipeline.fireChannelWritabilityChanged()
        client.channel.read()
        #expect(reads.count == 0)
        client.loop.advanceTime(by: .seconds(3))
        #expect(client.isOpen && reads.count == 1, "the keep-alive check passed the held read on")
        try client.send(.pingreq)  // what that read brings
        client.channel.read()  // held again: the channel is still full
        client.loop.advanceTime(by: .seconds(3))
        #expect(client.isOpen && reads.count == 2)
        client.channel.read()
        client.loop.advanceTime(by: .seconds(1))
        #expect(!client.isOpen, "nothing came with the read passed on")

        let stuck = try TestClient(broker: try Broker(authorizer: TestAuthorizer()), principal: kaz)
        _ = try stuck.connect("not-reading", keepAlive: 2)
        stuck.channel.isWritable = false
        stuck.channel.pipeline.fireChannelWritabilityChanged()
        for _ in 0..<4 {
            stuck.channel.read()
            stuck.loop.advanceTime(by: .seconds(3))
            try stuck.send(.pingreq)
        }
        stuck.channel.read()
        stuck.loop.advanceTime(by: .seconds(3))
        #expect(!stuck.isOpen, "full for four keep-alives")
    }

    /// The keep-alive counts packets, not bytes [MQTT-3.1.2-24]: a packet dribbled in a byte a second and never
    /// finished kept the connection, and its buffer, for as long as the client liked.
    @Test func bytesOfAnUnfinishedPacketDoNotKeepAConnectionAlive() throws {
        let client = try TestClient(broker: try Broker(authorizer: TestAuthorizer()), principal: kaz)
        _ = try client.connect("slow", keepAlive: 2)
        var bytes = ByteBuffer()
        publish("t", "never finished").write(to: &bytes, version: .v3_1_1)
        for _ in 0..<5 where client.isOpen {
            client.loop.advanceTime(by: .seconds(1))
            if client.isOpen { try client.sendBytes(bytes.readSlice(length: 1)!) }
        }
        #expect(!client.isOpen)
    }

    /// Reads end anywhere: inside a fixed header, inside a remaining length of two or three bytes, inside a body,
    /// with whole packets after the cut. The packet a read ended in takes from the next read only the bytes it
    /// lacks, and the packets after it are decoded in place; every message still arrives whole and in order.
    @Test func packetsCutAnywhereBetweenReadsArriveWholeAndInOrder() throws {
        let (subscriber, publisher) = try TestClient.subscriberAndPublisher(
            broker: try Broker(authorizer: TestAuthorizer()), filter: "t/#", qos: .atMostOnce)
        let texts = ["a", String(repeating: "b", count: 200), String(repeating: "c", count: 20_000), "d", "e"]
        var stream = ByteBuffer()
        var large = 0  // where the 20,000-byte PUBLISH starts: its remaining length takes three bytes
        for (index, text) in texts.enumerated() {
            if index == 2 { large = stream.writerIndex }
            publish("t/\(index)", text).write(to: &stream, version: .v3_1_1)
            if index == 3 { MQTTPacket.pingreq.write(to: &stream, version: .v3_1_1) }
        }
        let cuts = Array(1..<(large + 8)) + Array((stream.readableBytes - 40)..<stream.readableBytes)
        var runs = cuts.map { [$0, stream.readableBytes - $0] }
        for piece in [1, 3, 7, 1_000, 4_096] {
            runs.append(Array(repeating: piece, count: stream.readableBytes / piece) + [stream.readableBytes % piece])
        }
        for run in runs {
            var bytes = stream
            for length in run where length > 0 { try publisher.sendBytes(bytes.readSlice(length: length)!) }
            // Each text is one letter repeated: its letter and length say whether it arrived whole.
            let got = TestClient.publishes(try subscriber.received()).map { String(buffer: $0.payload) }
            try #require(
                got.map { "\($0.prefix(1))x\($0.count)" } == texts.map { "\($0.prefix(1))x\($0.count)" },
                "reads of \(run.prefix(3))...")
            #expect(got == texts)
            #expect(try publisher.received() == [.pingresp])
        }
        #expect(publisher.isOpen)
    }

    /// A second CONNECT is a Protocol Error whatever it says [MQTT-3.1.0-2]; one naming another protocol level
    /// got 0x84, which is a CONNACK code, not a DISCONNECT one [MQTT-3.14.2-1].
    @Test func aSecondConnectOfAnotherLevelIsAProtocolError() throws {
        let client = try TestClient(broker: try Broker(authorizer: TestAuthorizer()), principal: kaz)
        _ = try client.connect5("twice")
        var bytes = ByteBuffer(bytes: [0x10, 13, 0, 4, 0x4d, 0x51, 0x54, 0x54, 3, 0x02, 0, 60, 0, 1, 0x61])
        try client.sendBytes(bytes.readSlice(length: bytes.readableBytes)!)
        guard case .disconnect(let disconnect) = try client.received().first else {
            Issue.record("no DISCONNECT")
            return
        }
        #expect(disconnect.reasonCode == .protocolError)
        #expect(!client.isOpen)
    }

    /// A connection that sends no CONNECT within `connectTimeout` of its TLS handshake is closed; a connected one
    /// keeps no such deadline.
    @Test func aConnectionWithoutConnectIsClosedAfterTheConnectTimeout() throws {
        let broker = try Broker(configuration: .init(connectTimeout: .seconds(10)), authorizer: TestAuthorizer())
        let silent = try TestClient(broker: broker, principal: kaz)
        let prompt = try TestClient(broker: broker, principal: ind, loop: silent.loop)
        silent.loop.advanceTime(by: .seconds(5))
        #expect(try prompt.connect("prompt") == [accepted])
        silent.loop.advanceTime(by: .milliseconds(4999))
        #expect(silent.isOpen)
        silent.loop.advanceTime(by: .milliseconds(1))
        #expect(!silent.isOpen)
        silent.loop.advanceTime(by: .seconds(60))
        #expect(prompt.isOpen)  // keep-alive 0: nothing ends it
    }
}

/// Judges `missions/...` topics like a mission module: bodies with "ok" pass with an
/// annotation, "fail" is held, anything else is rejected.
final class TestInterceptor: PublishInterceptor {
    func claims(topic: String) -> Bool { topic.hasPrefix("missions/") }
    func intercept(_ message: BrokerMessage, principal: Principal, completion: @escaping @Sendable (InterceptDecision) -> Void) {
        let body = String(buffer: message.payload)
        if body == "ok" {
            var annotated = message
            annotated.payload = ByteBuffer(string: "ok+annotated")
            completion(.deliver(annotated))
        } else if body == "fail" {
            completion(.hold(reason: "the module failed"))
        } else if body == "unkept" {
            var annotated = message
            annotated.payload = ByteBuffer(string: "unkept+annotated")
            completion(.failed(reason: "the archive is full", decided: .deliver(annotated)))
        } else if body == "control" {
            completion(.reject(code: "INVALID_VALUE", reason: "field 'x'\u{0} is bad\u{1}"))
        } else {
            completion(.reject(code: "MISSING_FIELD", reason: "field 'location' is required"))
        }
    }
}

/// Keeps each decision until the test gives it: a module still judging.
final class DeferredInterceptor: PublishInterceptor {
    private let waiting = Mutex<[(message: BrokerMessage, completion: @Sendable (InterceptDecision) -> Void)]>([])
    func claims(topic: String) -> Bool { topic.hasPrefix("missions/") }
    func intercept(_ message: BrokerMessage, principal: Principal, completion: @escaping @Sendable (InterceptDecision) -> Void) {
        waiting.withLock { $0.append((message, completion)) }
    }
    func decide(_ decision: InterceptDecision) {
        for waiting in waiting.withLock({ waiting in defer { waiting = [] }; return waiting }) { waiting.completion(decision) }
    }
    func deliverAll() {
        for waiting in waiting.withLock({ waiting in defer { waiting = [] }; return waiting }) {
            waiting.completion(.deliver(waiting.message))
        }
    }
}

@Suite struct InterceptorTests {
    /// A QoS 2 PUBLISH sent again after a reconnect while its first copy is still being judged gets the first
    /// copy's answer once it is decided: it got PUBREC 0x00 at once, and its client took a report the module then
    /// rejected for delivered.
    @Test func aResentQoS2PublishIsAnsweredAsItsFirstCopyIsDecided() throws {
        let interceptor = DeferredInterceptor()
        let broker = try Broker(authorizer: TestAuthorizer(), interceptor: interceptor)
        let kaz = Principal.contingent("KAZ")
        let (first, second) = (CountingConnection(), CountingConnection())
        let connect = MQTTPacket.Connect(
            version: .v5, clientID: "kaz", cleanStart: false, properties: [.sessionExpiryInterval(600)])
        broker.connect(connect, principal: kaz, connection: first) { _ in }
        let answers = Mutex<[String]>([])
        func recorded(_ name: String) -> Broker.Reply {
            { result in
                let answer: String =
                    switch result {
                    case .success(.pubrec(let ack)?): "PUBREC \(ack.reasonCode.rawValue)"
                    case .success(let other): "\(String(describing: other))"
                    case .failure(let error): "\(error)"
                    }
                answers.withLock { $0.append("\(name): \(answer)") }
            }
        }
        guard case .publish(var report) = publish("missions/UNIFIL/reports/UXO", "no location", qos: .exactlyOnce, id: 9)
        else { return }
        var publisher = Broker.Publisher()
        broker.publish(report, clientID: "kaz", connection: first, principal: kaz, publisher: &publisher, reply: recorded("first"))
        broker.connect(connect, principal: kaz, connection: second) { _ in }
        report.duplicate = true
        broker.publish(
            report, clientID: "kaz", connection: second, principal: kaz, publisher: &publisher, reply: recorded("resent"))
        #expect(answers.withLock { $0 }.isEmpty, "the resend waits for the first copy's decision")
        interceptor.decide(.reject(code: "MISSING_FIELD", reason: "field 'location' is required"))
        #expect(answers.withLock { $0 } == ["first: PUBREC 153", "resent: PUBREC 153"])
        // Decided: a later resend is answered at once, as a new message (a refused QoS 2 PUBLISH frees its id).
        broker.publish(
            report, clientID: "kaz", connection: second, principal: kaz, publisher: &publisher, reply: recorded("again"))
        #expect(answers.withLock { $0 }.count == 2, "judged again: the module has it")
        interceptor.decide(.reject(code: "MISSING_FIELD", reason: "field 'location' is required"))
        #expect(answers.withLock { $0 }.last == "again: PUBREC 153")
    }

    /// A report the interceptor could not keep (its archive failed) is neither delivered nor acknowledged, and the
    /// connection closes: the sender sends it again. It was acknowledged, and a held one lost wholly.
    @Test(arguments: [QoS.atLeastOnce, .exactlyOnce])
    func aMessageTheInterceptorCouldNotKeepIsNotAcknowledged(qos: QoS) throws {
        let broker = try Broker(authorizer: TestAuthorizer(), interceptor: TestInterceptor())
        let observer = try TestClient(broker: broker, principal: .contingent("IND"))
        _ = try observer.connect("ind")
        try observer.send(.subscribe(.init(packetID: 1, subscriptions: [("missions/UNIFIL/reports/#", .atLeastOnce)])))
        _ = try observer.received()
        let reporter = try TestClient(broker: broker, principal: .contingent("KAZ"))
        _ = try reporter.connect("kaz")
        try reporter.send(publish("missions/UNIFIL/reports/UXO", "unkept", qos: qos, id: 1))
        #expect(try reporter.received().isEmpty)
        #expect(!reporter.isOpen)
        #expect(try observer.received().isEmpty)
        // A will cannot be sent again: it goes as the interceptor decided (it was lost).
        let will = MQTTPacket.Will(
            topic: "missions/UNIFIL/reports/UXO", payload: Array("unkept".utf8), qos: .atMostOnce, retain: false)
        let leaving = try TestClient(broker: broker, principal: .contingent("KAZ"))
        _ = try leaving.connect("kaz-will", will: will)
        try leaving.channel.close().wait()
        let delivered = TestClient.publishes(try observer.received()).map { String(buffer: $0.payload) }
        #expect(delivered == ["unkept+annotated"])
    }

    @Test func judgedMessagesAreDeliveredAnnotatedRejectedOrHeld() throws {
        let broker = try Broker(authorizer: TestAuthorizer(), interceptor: TestInterceptor())
        let observer = try TestClient(broker: broker, principal: .contingent("IND"))
        _ = try observer.connect("ind")
        try observer.send(.subscribe(.init(packetID: 1, subscriptions: [("missions/UNIFIL/reports/#", .atMostOnce)])))
        _ = try observer.received()
        let reporter = try TestClient(broker: broker, principal: .contingent("KAZ"))
        _ = try reporter.connect("kaz")
        try reporter.send(.subscribe(.init(packetID: 1, subscriptions: [("contingents/KAZ/notices", .atMostOnce)])))
        _ = try reporter.received()

        try reporter.send(publish("missions/UNIFIL/reports/UXO", "ok", qos: .atLeastOnce, id: 1))
        #expect(try reporter.received() == [.puback(packetID: 1)])
        #expect(try observer.received() == [publish("missions/UNIFIL/reports/UXO", "ok+annotated")])

        try reporter.send(publish("missions/UNIFIL/reports/UXO", "bad", qos: .atLeastOnce, id: 2))
        let rejected = try reporter.received()
        #expect(rejected.first == .puback(packetID: 2))  // 3.1.1 acknowledges a refused PUBLISH
        guard case .publish(let notice) = rejected.last else { return }
        #expect(String(buffer: notice.payload).contains(#""code":"MISSING_FIELD""#))
        #expect(String(buffer: notice.payload).contains("report-rejected"))
        #expect(try observer.received().isEmpty)

        try reporter.send(publish("missions/UNIFIL/reports/UXO", "fail", qos: .atLeastOnce, id: 3))
        let held = try reporter.received()
        guard case .publish(let heldNotice) = held.last else { return }
        #expect(String(buffer: heldNotice.payload).contains("report-held"))
        #expect(try observer.received().isEmpty)
    }

    /// A will on a report topic is a report: judged like a PUBLISH, never delivered (or retained) unjudged.
    @Test func aWillOnAJudgedTopicIsJudged() throws {
        let broker = try Broker(authorizer: TestAuthorizer(), interceptor: TestInterceptor())
        let observer = try TestClient(broker: broker, principal: .contingent("IND"))
        _ = try observer.connect("ind")
        try observer.send(.subscribe(.init(packetID: 1, subscriptions: [("missions/UNIFIL/reports/#", .atMostOnce)])))
        _ = try observer.received()
        let watcher = try TestClient(broker: broker, principal: .contingent("KAZ"), loop: observer.loop)
        _ = try watcher.connect("kaz-notices")
        try watcher.send(.subscribe(.init(packetID: 1, subscriptions: [("contingents/KAZ/notices", .atMostOnce)])))
        _ = try watcher.received()
        for (payload, delivered) in [("not json", nil), ("ok", "ok+annotated")] {
            let will = MQTTPacket.Will(
                topic: "missions/UNIFIL/reports/UXO", payload: Array(payload.utf8), qos: .atMostOnce, retain: true)
            let reporter = try TestClient(broker: broker, principal: .contingent("KAZ"), loop: observer.loop)
            _ = try reporter.connect("kaz", will: will)
            try reporter.channel.close().wait()
            let received = TestClient.publishes(try observer.received()).map { String(buffer: $0.payload) }
            #expect(received == (delivered.map { [$0] } ?? []), "\(payload)")
            if delivered == nil {
                let notices = TestClient.publishes(try watcher.received()).map { String(buffer: $0.payload) }
                #expect(notices.count == 1 && notices.first?.contains("report-rejected") == true)
            }
        }
    }
}

@Suite struct ConnectionLimitTests {
    @Test func totalAndPerPrincipalLimitsRefuseWithServerUnavailable() throws {
        let broker = try Broker(
            configuration: .init(maximumConnections: 3, maximumConnectionsPerPrincipal: 2), authorizer: TestAuthorizer())
        let unavailable = MQTTPacket.connack(.init(sessionPresent: false, reasonCode: .serverUnavailable))
        let kaz1 = try TestClient(broker: broker, principal: .contingent("KAZ"))
        let kaz2 = try TestClient(broker: broker, principal: .contingent("KAZ"), loop: kaz1.loop)
        #expect(try kaz1.connect("k1") == [accepted])
        #expect(try kaz2.connect("k2") == [accepted])
        #expect(try TestClient(broker: broker, principal: .contingent("KAZ")).connect("k3") == [unavailable])
        // A takeover is not a new connection.
        let again = try TestClient(broker: broker, principal: .contingent("KAZ"), loop: kaz1.loop)
        #expect(try again.connect("k2") == [accepted])
        let ind = try TestClient(broker: broker, principal: .contingent("IND"))
        #expect(try ind.connect("i1") == [accepted])
        #expect(try TestClient(broker: broker, principal: .contingent("TJK")).connect("t1") == [unavailable])
        // Closing frees a place.
        try ind.channel.close().wait()
        #expect(try TestClient(broker: broker, principal: .contingent("TJK")).connect("t1") == [accepted])
    }
}

@Suite struct QueueLimitTests {
    /// A full queue refuses the new QoS 1/2 message (never drops a queued one), tells the
    /// publisher and counts it.
    @Test func aFullQueueRefusesNotifiesAndCounts() throws {
        let broker = try Broker(configuration: .init(maximumQueued: 2), authorizer: TestAuthorizer())
        let away = try TestClient(broker: broker, principal: .contingent("IND"))
        _ = try away.connect("ind-away", clean: false)
        try away.send(.subscribe(.init(packetID: 1, subscriptions: [("contingents/IND/inbox", .atLeastOnce)])))
        _ = try away.received()
        try away.send(.disconnect(.init()))
        let publisher = try TestClient(broker: broker, principal: .contingent("KAZ"))
        _ = try publisher.connect("kaz")
        try publisher.send(.subscribe(.init(packetID: 1, subscriptions: [("contingents/KAZ/notices", .atLeastOnce)])))
        _ = try publisher.received()
        for n in 1...3 { try publisher.send(publish("contingents/IND/inbox", "m\(n)", qos: .atLeastOnce, id: UInt16(n))) }
        let packets = try publisher.received()
        let notices = packets.compactMap { packet -> String? in
            if case .publish(let notice) = packet { return String(buffer: notice.payload) }
            return nil
        }
        #expect(notices.count == 1)
        #expect(notices.first?.contains("queue-full") == true)
        // The subscriber's client id is IND's: KAZ is not told it.
        #expect(notices.first?.contains("a subscriber's queue is full") == true)
        #expect(notices.first?.contains("ind-away") == false)
        #expect(broker.counters.queueFull == 1)
        let back = try TestClient(broker: broker, principal: .contingent("IND"))
        let delivered = try back.connect("ind-away", clean: false).compactMap { packet -> String? in
            if case .publish(let message) = packet { return String(buffer: message.payload) }
            return nil
        }
        #expect(delivered == ["m1", "m2"])
    }

    /// An MQTT 5 publisher whose message reached no queue because they were full hears 0x97, not 0x10 (which
    /// says nobody subscribed); a publisher is told its own client's id.
    @Test func aMessageRefusedByFullQueuesIsQuotaExceeded() throws {
        let broker = try Broker(configuration: .init(maximumQueued: 1), authorizer: TestAuthorizer())
        let away = try TestClient(broker: broker, principal: .contingent("KAZ"))
        _ = try away.connect("kaz-away", clean: false)
        try away.send(.subscribe(.init(packetID: 1, subscriptions: [("contingents/KAZ/inbox", .atLeastOnce)])))
        _ = try away.received()
        try away.send(.disconnect(.init()))
        let publisher = try TestClient(broker: broker, principal: .contingent("KAZ"))
        _ = try publisher.connect5("kaz")
        _ = try publisher.subscribe("contingents/KAZ/notices", .init(qos: .atMostOnce))
        try publisher.send(publish5("contingents/KAZ/inbox", "m1", qos: .atLeastOnce, id: 1))
        try publisher.send(publish5("contingents/KAZ/inbox", "m2", qos: .atLeastOnce, id: 2))
        let packets = try publisher.received()
        let codes = packets.compactMap { if case .puback(let ack) = $0 { ack.reasonCode } else { nil } }
        #expect(codes == [.success, .quotaExceeded])
        let notice = TestClient.publishes(packets).first.map { String(buffer: $0.payload) }
        #expect(notice?.contains("the queue of client kaz-away is full") == true)
    }
}

/// A module's message goes out under the bound a contingent's does: one larger than `maximumPacketSize` is not
/// taken (20 MiB went out, 300 MiB were taken and never delivered).
@Test func aHubMessageLargerThanThePacketLimitIsNotTaken() throws {
    let broker = try Broker(configuration: .init(maximumPacketSize: 1024), authorizer: TestAuthorizer())
    // 1 + 2 (Remaining Length 1021) + 2 + 23 (the topic) + 2 (the packet id) + 994 = 1024 bytes: the limit.
    let topic = "missions/UNIFIL/notices"
    let fits = ByteBuffer(repeating: 0x41, count: 994)
    #expect(broker.publishFromModule(BrokerMessage(topic: topic, payload: fits, qos: .atLeastOnce)))
    let past = ByteBuffer(repeating: 0x41, count: 995)
    #expect(!broker.publishFromModule(BrokerMessage(topic: topic, payload: past, qos: .atLeastOnce)))
}
