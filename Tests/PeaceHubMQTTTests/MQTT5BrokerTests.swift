import NIOCore
import NIOEmbedded
import PeaceHubCore
import PeaceHubMQTT
import Synchronization
import Testing

/// A wall clock the test moves by hand (milliseconds since 1970).
final class TestClock: Sendable {
    private let now = Atomic<Int64>(1_800_000_000_000)

    var read: @Sendable () -> Int64 { { self.now.load(ordering: .relaxed) } }

    /// Negative to set it back, as an NTP step does.
    func advance(seconds: Double) {
        now.add(Int64(seconds * 1000), ordering: .relaxed)
    }
}

extension TestClient {
    /// Connects with MQTT 5.0 and reads the CONNACK (and whatever follows it).
    func connect5(
        _ clientID: String, cleanStart: Bool = true, properties: MQTTProperties = [], will: MQTTPacket.Will? = nil,
        keepAlive: UInt16 = 0
    ) throws -> [MQTTPacket] {
        speakMQTT5()
        try send(
            .connect(
                .init(
                    version: .v5, clientID: clientID, cleanStart: cleanStart, keepAlive: keepAlive, will: will,
                    properties: properties)))
        return try received()
    }

    func subscribe(_ filter: String, _ options: MQTTPacket.SubscriptionOptions, id: UInt16 = 1, identifier: Int? = nil)
        throws -> [MQTTPacket]
    {
        let properties: MQTTProperties = identifier.map { [.subscriptionIdentifier($0)] } ?? []
        try send(.subscribe(.init(packetID: id, subscriptions: [(filter, options)], properties: properties)))
        return try received()
    }

    /// Session present and the reason code of the CONNACK first in `packets`.
    static func connack(_ packets: [MQTTPacket]) -> (sessionPresent: Bool, code: ReasonCode)? {
        guard case .connack(let ack) = packets.first else { return nil }
        return (ack.sessionPresent, ack.reasonCode)
    }

    /// The PUBLISHes among `packets`.
    static func publishes(_ packets: [MQTTPacket]) -> [MQTTPacket.Publish] {
        packets.compactMap { if case .publish(let publish) = $0 { publish } else { nil } }
    }
}

func publish5(
    _ topic: String, _ text: String, qos: QoS = .atMostOnce, id: UInt16? = nil, retain: Bool = false,
    properties: MQTTProperties = []
) -> MQTTPacket {
    .publish(.init(topic: topic, payload: payload(text), qos: qos, retain: retain, packetID: id, properties: properties))
}

@Suite struct MQTT5BrokerTests {
    let kaz = Principal.contingent("KAZ")
    let ind = Principal.contingent("IND")

    @Test func connackTellsTheLimitsAndAssignsAClientID() throws {
        let broker = try Broker(
            configuration: .init(receiveMaximum: 20, topicAliasMaximum: 8, maximumKeepAlive: 30), authorizer: TestAuthorizer())
        let client = try TestClient(broker: broker, principal: kaz)
        let packets = try client.connect5("", keepAlive: 0)
        guard case .connack(let ack) = packets.first else { Issue.record("no CONNACK: \(packets)"); return }
        #expect(ack.reasonCode == .success)
        #expect(ack.properties.receiveMaximum == 20)
        #expect(ack.properties.topicAliasMaximum == 8)
        #expect(ack.properties.maximumPacketSize == 4 << 20)
        #expect(ack.properties.serverKeepAlive == 30)
        #expect(ack.properties.assignedClientIdentifier?.hasPrefix("peacehub-") == true)
    }

    /// A Reason String quoting a client's topic is cut to a kilobyte: a topic may take 65,535 bytes, and with the
    /// words around it did not fit an MQTT string, which stopped the hub (a trap in the encoder).
    @Test func aReasonQuotingALongTopicIsCut() throws {
        let long = String(repeating: "x", count: 65_500)
        let broker = try Broker(authorizer: TestAuthorizer(deniedPublish: ["denied/" + long]))
        let publisher = try TestClient(broker: broker, principal: kaz)
        _ = try publisher.connect5("kaz")
        try publisher.send(publish5("denied/" + long, "no", qos: .atLeastOnce, id: 1))
        guard case .puback(let ack) = try publisher.received().first, let reason = ack.properties.reasonString else {
            Issue.record("no PUBACK with a reason")
            return
        }
        #expect(ack.reasonCode == .notAuthorized)
        #expect(reason.utf8.count <= 1024 && reason.hasPrefix("not authorized to publish on denied/xxx"))
        #expect(reason.hasSuffix("x\u{2026}"))
        try publisher.send(publish5("a/+/" + long, "wildcard"))
        guard case .disconnect(let disconnect) = try publisher.received().first else {
            Issue.record("no DISCONNECT")
            return
        }
        #expect(disconnect.reasonCode == .topicNameInvalid || disconnect.reasonCode == .protocolError)
        #expect(disconnect.properties.reasonString.map { $0.utf8.count <= 1024 } == true)
        #expect(!publisher.isOpen)
        // A will topic with a wildcard is refused in the CONNACK, its reason cut too.
        let other = try TestClient(broker: broker, principal: ind)
        let refused = try other.connect5(
            "ind", will: .init(topic: "a/#" + long, payload: Array("bye".utf8), qos: .atMostOnce, retain: false))
        guard case .connack(let connack) = refused.first else {
            Issue.record("no CONNACK")
            return
        }
        #expect(connack.reasonCode.isFailure)
        #expect(connack.properties.reasonString.map { $0.utf8.count <= 1024 } == true)
    }

    /// A module's reason with a NUL and another control character reaches the MQTT 5 PUBACK escaped: U+0000 in a
    /// Reason String makes the packet malformed [MQTT-1.5.4-2] (Paho closed the connection).
    @Test func controlCharactersInAReasonStringAreEscaped() throws {
        let broker = try Broker(authorizer: TestAuthorizer(), interceptor: TestInterceptor())
        let reporter = try TestClient(broker: broker, principal: kaz)
        _ = try reporter.connect5("kaz")
        try reporter.send(publish5("missions/UNIFIL/reports/UXO", "control", qos: .atLeastOnce, id: 1))
        guard case .puback(let ack) = try reporter.received().first else {
            Issue.record("no PUBACK")
            return
        }
        #expect(ack.properties.reasonString == #"INVALID_VALUE: field 'x'\0 is bad\u{01}"#)
        #expect(reporter.isOpen)
    }

    /// A CONNECT refused after its properties were read has its CONNACK fit the Maximum Packet Size it gave: the
    /// Reason String is left out when it would not [MQTT-3.2.2-19].
    @Test func aRefusedConnectsConnackFitsItsMaximumPacketSize() throws {
        let broker = try Broker(authorizer: TestAuthorizer())
        let will = MQTTPacket.Will(topic: "a/#", payload: Array("bye".utf8), qos: .atMostOnce, retain: false)
        for limit in [nil, 20] as [UInt32?] {
            let client = try TestClient(broker: broker, principal: ind)
            let properties: MQTTProperties = limit.map { [.maximumPacketSize($0)] } ?? []
            guard case .connack(let connack) = try client.connect5("ind", properties: properties, will: will).first
            else {
                Issue.record("no CONNACK")
                return
            }
            #expect(connack.reasonCode == .protocolError || connack.reasonCode == .topicNameInvalid)
            #expect((connack.properties.reasonString != nil) == (limit == nil), "limit \(String(describing: limit))")
        }
        // Properties that cannot be read (Receive Maximum 0) hide whatever limit the CONNECT gave, before or after
        // the bad one: the CONNACK goes without its Reason String.
        for properties: MQTTProperties in [
            [.maximumPacketSize(20), .receiveMaximum(0)], [.receiveMaximum(0), .maximumPacketSize(20)],
        ] {
            let client = try TestClient(broker: broker, principal: ind)
            guard case .connack(let connack) = try client.connect5("ind", properties: properties).first else {
                Issue.record("no CONNACK")
                return
            }
            #expect(connack.reasonCode == .protocolError)
            #expect(connack.properties.reasonString == nil)
        }
        // A limit smaller than the smallest CONNACK (5 bytes): none is sent, the connection just closes.
        let tiny = try TestClient(broker: broker, principal: ind)
        #expect(try tiny.connect5("ind", properties: [.maximumPacketSize(3)], will: will).isEmpty)
        #expect(!tiny.isOpen)
    }

    /// A shared subscription's message that its member did not acknowledge goes to another member when that
    /// member's session ends, as MQTT 5 4.8.2 asks (SHOULD); it was lost with the session.
    @Test func aSharedMessageOutlivesTheSessionItWentTo() throws {
        let broker = try Broker(authorizer: TestAuthorizer())
        let first = try TestClient(broker: broker, principal: kaz)
        let second = try TestClient(broker: broker, principal: ind, loop: first.loop)
        for (client, id) in [(first, "kaz"), (second, "ind")] {
            _ = try client.connect5(id)
            _ = try client.subscribe("$share/g/t", .init(qos: .atLeastOnce))
        }
        let publisher = try TestClient(broker: broker, principal: kaz, loop: first.loop)
        _ = try publisher.connect5("pub")
        try publisher.send(publish5("t", "one", qos: .atLeastOnce, id: 1))
        try publisher.send(publish5("t", "two", qos: .atLeastOnce, id: 2))
        let firstGot = TestClient.publishes(try first.received()).map { String(buffer: $0.payload) }
        let secondGot = TestClient.publishes(try second.received()).map { String(buffer: $0.payload) }
        #expect(firstGot.count == 1 && secondGot.count == 1, "one each, in turn")
        // The first member's session ends (Session Expiry 0) with its message unacknowledged.
        try first.channel.close().wait()
        let passedOn = TestClient.publishes(try second.received())
        #expect(passedOn.map { String(buffer: $0.payload) } == firstGot)
        #expect(passedOn.first?.qos == .atLeastOnce)
    }

    /// A message passed on goes at the QoS the next member's subscription grants for the QoS it was published
    /// with [MQTT-3.8.4-8]: it went at the first member's (QoS 1), and the second member lost exactly-once.
    @Test func aSharedMessagePassedOnHasTheNextMembersQoS() throws {
        let broker = try Broker(authorizer: TestAuthorizer())
        let first = try TestClient(broker: broker, principal: kaz)
        let second = try TestClient(broker: broker, principal: ind, loop: first.loop)
        _ = try first.connect5("kaz")
        _ = try first.subscribe("$share/g/t", .init(qos: .atLeastOnce))
        let publisher = try TestClient(broker: broker, principal: kaz, loop: first.loop)
        _ = try publisher.connect5("pub")
        try publisher.send(publish5("t", "one", qos: .exactlyOnce, id: 1))
        try publisher.send(.pubrel(packetID: 1))
        #expect(TestClient.publishes(try first.received()).map(\.qos) == [.atLeastOnce])
        _ = try second.connect5("ind")
        _ = try second.subscribe("$share/g/t", .init(qos: .exactlyOnce))
        try first.channel.close().wait()
        let passedOn = TestClient.publishes(try second.received())
        #expect(passedOn.map { String(buffer: $0.payload) } == ["one"])
        #expect(passedOn.first?.qos == .exactlyOnce)
    }

    /// A QoS 2 message sent to a member whose session ends is not passed on, PUBREC or not: its client may have
    /// it, and then no other member may [MQTT-4.8.2-5]. One still queued for the member goes on.
    @Test func aSharedQoS2MessageSentToAMemberStaysWithIt() throws {
        let broker = try Broker(configuration: .init(maximumInflight: 1), authorizer: TestAuthorizer())
        let first = try TestClient(broker: broker, principal: kaz)
        let second = try TestClient(broker: broker, principal: ind, loop: first.loop)
        _ = try first.connect5("kaz")
        _ = try first.subscribe("$share/g/t", .init(qos: .exactlyOnce))
        let publisher = try TestClient(broker: broker, principal: kaz, loop: first.loop)
        _ = try publisher.connect5("pub")
        for (id, text) in [(1, "sent"), (2, "queued")] {
            try publisher.send(publish5("t", text, qos: .exactlyOnce, id: UInt16(id)))
            try publisher.send(.pubrel(packetID: UInt16(id)))
        }
        #expect(TestClient.publishes(try first.received()).map { String(buffer: $0.payload) } == ["sent"])
        _ = try second.connect5("ind")
        _ = try second.subscribe("$share/g/t", .init(qos: .exactlyOnce))
        // The first member's session ends (Session Expiry 0) without a PUBREC for what it was sent.
        try first.channel.close().wait()
        let passedOn = TestClient.publishes(try second.received())
        #expect(passedOn.map { String(buffer: $0.payload) } == ["queued"])
        #expect(passedOn.first?.qos == .exactlyOnce)
    }

    /// Each group passes its own message on: a member chosen by two groups got one copy naming one group, and
    /// when its session ended the other group's message was lost.
    @Test func aMemberOfTwoGroupsGetsACopyForEachThatEachGroupPassesOn() throws {
        let broker = try Broker(authorizer: TestAuthorizer())
        let both = try TestClient(broker: broker, principal: kaz)
        let second = try TestClient(broker: broker, principal: ind, loop: both.loop)
        let third = try TestClient(broker: broker, principal: ind, loop: both.loop)
        _ = try both.connect5("both")
        _ = try both.subscribe("$share/g1/t", .init(qos: .atLeastOnce), identifier: 1)
        _ = try both.subscribe("$share/g2/t", .init(qos: .atLeastOnce), id: 2, identifier: 2)
        for (client, id, group) in [(second, "second", "g1"), (third, "third", "g2")] {
            _ = try client.connect5(id)
            _ = try client.subscribe("$share/\(group)/t", .init(qos: .atLeastOnce))
        }
        let publisher = try TestClient(broker: broker, principal: kaz, loop: both.loop)
        _ = try publisher.connect5("pub")
        try publisher.send(publish5("t", "one", qos: .atLeastOnce, id: 1))
        let identifiers = TestClient.publishes(try both.received()).map { $0.properties.subscriptionIdentifiers }
        #expect(identifiers.sorted { $0.first ?? 0 < $1.first ?? 0 } == [[1], [2]])
        let others = try TestClient.publishes(second.received()) + TestClient.publishes(third.received())
        #expect(others.isEmpty)
        // Its session ends (Session Expiry 0) with both copies unacknowledged: each goes to its group's next member.
        try both.channel.close().wait()
        #expect(TestClient.publishes(try second.received()).map { String(buffer: $0.payload) } == ["one"])
        #expect(TestClient.publishes(try third.received()).map { String(buffer: $0.payload) } == ["one"])
    }

    @Test func refusalsCarryReasonCodes() throws {
        let broker = try Broker(authorizer: TestAuthorizer(deniedPublish: ["hub/broadcast/x"], deniedSubscribe: ["secret/#"]))
        let client = try TestClient(broker: broker, principal: kaz)
        _ = try client.connect5("kaz")
        try client.send(publish5("hub/broadcast/x", "no", qos: .atLeastOnce, id: 1))
        guard case .puback(let ack) = try client.received().first else { Issue.record("no PUBACK"); return }
        #expect(ack.reasonCode == .notAuthorized)
        #expect(ack.properties.reasonString == "not authorized to publish on hub/broadcast/x")
        // A refused QoS 2 PUBLISH is finished: the same id is new again, not a duplicate [MQTT-4.3.3-4].
        try client.send(publish5("hub/broadcast/x", "no", qos: .exactlyOnce, id: 2))
        #expect(try client.received().first == .pubrec(.init(
            packetID: 2, reasonCode: .notAuthorized, properties: [.reasonString("not authorized to publish on hub/broadcast/x")])))
        try client.send(publish5("t", "yes", qos: .exactlyOnce, id: 2))
        #expect(try client.received() == [.pubrec(packetID: 2, .noMatchingSubscribers)])
        let suback = try client.subscribe("secret/#", .init(qos: .atLeastOnce))
        #expect(suback == [.suback(.init(packetID: 1, reasonCodes: [.notAuthorized]))])
        try client.send(
            .subscribe(
                .init(
                    packetID: 2,
                    subscriptions: [
                        ("a/#/b", .init(qos: .atMostOnce)), ("$share/g", .init(qos: .atMostOnce)),
                        ("ok/+", .init(qos: .exactlyOnce)),
                    ])))
        #expect(try client.received() == [.suback(.init(packetID: 2, reasonCodes: [.topicFilterInvalid, .topicFilterInvalid, .grantedQoS2]))])
        try client.send(.unsubscribe(.init(packetID: 3, filters: ["ok/+", "never"])))
        #expect(try client.received() == [.unsuback(.init(packetID: 3, reasonCodes: [.success, .noSubscriptionExisted]))])
    }

    @Test func moduleVerdictsReachTheSender() throws {
        let broker = try Broker(authorizer: TestAuthorizer(), interceptor: TestInterceptor())
        let reporter = try TestClient(broker: broker, principal: kaz)
        _ = try reporter.connect5("kaz")
        try reporter.send(publish5("missions/UNIFIL/reports/UXO", "bad", qos: .atLeastOnce, id: 1))
        try reporter.send(publish5("missions/UNIFIL/reports/UXO", "fail", qos: .atLeastOnce, id: 2))
        let acks = try reporter.received().compactMap { if case .puback(let a) = $0 { a } else { nil } }
        #expect(acks.map(\.reasonCode) == [.payloadFormatInvalid, .implementationSpecificError])
        #expect(acks.first?.properties.reasonString == "MISSING_FIELD: field 'location' is required")
        #expect(acks.last?.properties.reasonString == "held for an operator: the module failed")
    }

    @Test func aPayloadThatIsNotUTF8AsDeclaredIsRefused() throws {
        let broker = try Broker(authorizer: TestAuthorizer())
        let client = try TestClient(broker: broker, principal: kaz)
        _ = try client.connect5("kaz")
        try client.send(
            .publish(
                .init(
                    topic: "t", payload: ByteBuffer(bytes: [0xff, 0xfe]), qos: .atLeastOnce, packetID: 1,
                    properties: [.payloadFormatIndicator(1)])))
        guard case .puback(let ack) = try client.received().first else { Issue.record("no PUBACK"); return }
        #expect(ack.reasonCode == .payloadFormatInvalid)
    }

    @Test func aSessionWaitsForItsClientUntilItExpires() throws {
        let clock = TestClock()
        let store = ManualStore()
        let broker = try Broker(authorizer: TestAuthorizer(), store: store, clock: clock.read)
        let client = try TestClient(broker: broker, principal: ind)
        _ = try client.connect5("ind", cleanStart: false, properties: [.sessionExpiryInterval(10)])
        store.completeAll()
        _ = try client.subscribe("contingents/IND/inbox", .init(qos: .atLeastOnce))
        store.completeAll()
        _ = try client.received()
        try client.send(.disconnect(.init()))
        store.completeAll()
        #expect(store.state.sessions.first?.expiresAt == clock.read() + 10_000)
        // Queued while away, kept within the interval.
        let publisher = try TestClient(broker: broker, principal: kaz)
        _ = try publisher.connect5("kaz")
        try publisher.send(publish5("contingents/IND/inbox", "while away", qos: .atLeastOnce, id: 1))
        store.completeAll()
        clock.advance(seconds: 9)
        broker.housekeeping()
        let back = try TestClient(broker: broker, principal: ind)
        var packets = try back.connect5("ind", cleanStart: false, properties: [.sessionExpiryInterval(10)])
        store.completeAll()
        packets += try back.received()
        #expect(TestClient.connack(packets)! == (true, .success))
        #expect(TestClient.publishes(packets).map { String(buffer: $0.payload) } == ["while away"])
        // Gone once the interval has passed: nothing present, nothing stored.
        try back.channel.close().wait()
        store.completeAll()
        clock.advance(seconds: 11)
        broker.housekeeping()
        store.completeAll()
        #expect(store.state.sessions.isEmpty)
        let late = try TestClient(broker: broker, principal: ind)
        #expect(TestClient.connack(try late.connect5("ind", cleanStart: false))! == (false, .success))
    }

    @Test func aSessionStoredBeforeARestartExpiresOnTime() throws {
        let clock = TestClock()
        let store = ManualStore()
        do {
            let broker = try Broker(authorizer: TestAuthorizer(), store: store, clock: clock.read)
            let client = try TestClient(broker: broker, principal: ind)
            _ = try client.connect5("ind", cleanStart: false, properties: [.sessionExpiryInterval(60)])
            store.completeAll()
            try client.send(.disconnect(.init()))
            store.completeAll()
        }
        clock.advance(seconds: 30)
        let restarted = try Broker(authorizer: TestAuthorizer(), store: store, clock: clock.read)
        clock.advance(seconds: 31)
        restarted.housekeeping()
        store.completeAll()
        #expect(store.state.sessions.isEmpty)
    }

    /// A broker on a test clock and an MQTT 5 client subscribed to `status/#`, where the wills go.
    private func willWatcher() throws -> (TestClock, Broker, TestClient) {
        let clock = TestClock()
        let broker = try Broker(authorizer: TestAuthorizer(), clock: clock.read)
        let watcher = try TestClient(broker: broker, principal: ind)
        _ = try watcher.connect5("watcher")
        _ = try watcher.subscribe("status/#", .init(qos: .atMostOnce))
        return (clock, broker, watcher)
    }

    /// Housekeeping runs twice a second. A client back after its session's interval, or after its will's delay, but
    /// before the next round: its session has ended (Session Present 0), or its will's delay has passed (Session
    /// Present 1, the will discarded before as if the client had come back in time), and the will that waited for
    /// either is published, once [MQTT-3.1.2-8].
    @Test(arguments: [(willDelay: UInt32(10), sessionExpiry: UInt32(1), present: false), (1, 60, true)])
    func aWillDueBeforeHousekeepingGoesWhenItsClientComesBack(
        _ timing: (willDelay: UInt32, sessionExpiry: UInt32, present: Bool)
    ) throws {
        let (clock, broker, watcher) = try willWatcher()
        let will = MQTTPacket.Will(
            topic: "status/kaz", payload: Array("gone".utf8), qos: .atMostOnce, retain: false,
            properties: [.willDelayInterval(timing.willDelay)])
        let client = try TestClient(broker: broker, principal: kaz)
        _ = try client.connect5(
            "kaz", cleanStart: false, properties: [.sessionExpiryInterval(timing.sessionExpiry)], will: will)
        try client.channel.close().wait()
        clock.advance(seconds: 1.2)
        let back = try TestClient(broker: broker, principal: kaz)
        #expect(TestClient.connack(try back.connect5("kaz", cleanStart: false))! == (timing.present, .success))
        #expect(TestClient.publishes(try watcher.received()).map { String(buffer: $0.payload) } == ["gone"])
        clock.advance(seconds: 5)
        broker.housekeeping()
        #expect(TestClient.publishes(try watcher.received()).isEmpty)
    }

    /// A delayed will of a client whose connection was lost before its certificate was revoked went out after its
    /// delay: the revocation closed live connections only. The CRL discards it; other clients' wills still go.
    @Test func aRevokedCertificateDiscardsTheDelayedWillsItsClientsLeft() throws {
        let (clock, broker, watcher) = try willWatcher()
        for (id, certificate) in [("kaz", "issuer:1A"), ("kaz-2", "issuer:2B")] {
            let will = MQTTPacket.Will(
                topic: "status/\(id)", payload: Array(id.utf8), qos: .atMostOnce, retain: false,
                properties: [.willDelayInterval(5)])
            let client = try TestClient(broker: broker, principal: kaz)
            let credentials = PeerCredentials(certificates: [certificate, "root:7"])
            client.channel.pipeline.fireUserInboundEventTriggered(credentials)
            _ = try client.connect5(id, cleanStart: false, properties: [.sessionExpiryInterval(60)], will: will)
            try client.channel.close().wait()
        }
        broker.discardWills(certifiedBy: ["issuer:1A"])
        clock.advance(seconds: 6)
        broker.housekeeping()
        #expect(TestClient.publishes(try watcher.received()).map { String(buffer: $0.payload) } == ["kaz-2"])
    }

    /// Housekeeping takes each disconnected session when its first time is due: the will after its delay, then the
    /// session at the end of its interval; a session whose client came back is left alone.
    @Test func aSessionEndsAfterTheWillItsDelayHeld() throws {
        let (clock, broker, watcher) = try willWatcher()
        for (id, delay) in [("kaz", UInt32(5)), ("kaz-2", UInt32(50)), ("kaz-3", UInt32(5))] {
            let will = MQTTPacket.Will(
                topic: "status/\(id)", payload: Array(id.utf8), qos: .atMostOnce, retain: false,
                properties: [.willDelayInterval(delay)])
            let client = try TestClient(broker: broker, principal: kaz)
            _ = try client.connect5(id, cleanStart: false, properties: [.sessionExpiryInterval(20)], will: will)
            try client.channel.close().wait()
        }
        let back = try TestClient(broker: broker, principal: kaz)
        _ = try back.connect5("kaz-3", cleanStart: false, properties: [.sessionExpiryInterval(20)])
        clock.advance(seconds: 6)
        broker.housekeeping()
        #expect(TestClient.publishes(try watcher.received()).map { String(buffer: $0.payload) } == ["kaz"])
        // The second will's delay is longer than its session: it goes when the session ends.
        clock.advance(seconds: 15)
        broker.housekeeping()
        #expect(TestClient.publishes(try watcher.received()).map { String(buffer: $0.payload) } == ["kaz-2"])
        #expect(broker.sessionSummaries().map(\.clientID) == ["kaz-3", "watcher"])
    }

    /// `mqtt.maximumSessionExpirySeconds` caps the interval a DISCONNECT sets as it caps the CONNECT's.
    @Test func aDisconnectCannotRaiseTheExpiryAboveTheLimit() throws {
        let clock = TestClock()
        let broker = try Broker(
            configuration: .init(maximumSessionExpiry: 5), authorizer: TestAuthorizer(), clock: clock.read)
        let client = try TestClient(broker: broker, principal: kaz)
        _ = try client.connect5("kaz", cleanStart: false, properties: [.sessionExpiryInterval(100)])
        try client.send(.disconnect(.init(properties: [.sessionExpiryInterval(100)])))
        clock.advance(seconds: 6)
        broker.housekeeping()
        let back = try TestClient(broker: broker, principal: kaz)
        #expect(TestClient.connack(try back.connect5("kaz", cleanStart: false))! == (false, .success))
    }

    @Test func disconnectMayChangeTheExpiryButNotFromZero() throws {
        let broker = try Broker(authorizer: TestAuthorizer())
        let client = try TestClient(broker: broker, principal: kaz)
        _ = try client.connect5("kaz")
        try client.send(.disconnect(.init(properties: [.sessionExpiryInterval(30)])))
        let packets = try client.received()
        guard case .disconnect(let disconnect) = packets.last else { Issue.record("\(packets)"); return }
        #expect(disconnect.reasonCode == .protocolError)
        #expect(!client.isOpen)
    }

    /// Also when the wall clock is set back meanwhile (an NTP step): the interval sent was what was left by the new
    /// time, 157 s of a 60 s interval after a step of 100 s back [MQTT-3.3.2-6], and "short" lived again.
    @Test func messagesExpireInTheQueueAndCarryTheirRemainingTime() throws {
        let clock = TestClock()
        let broker = try Broker(authorizer: TestAuthorizer(), clock: clock.read)
        let away = try TestClient(broker: broker, principal: ind)
        _ = try away.connect5("ind", cleanStart: false, properties: [.sessionExpiryInterval(600)])
        _ = try away.subscribe("contingents/IND/inbox", .init(qos: .atLeastOnce))
        try away.channel.close().wait()
        let publisher = try TestClient(broker: broker, principal: kaz)
        _ = try publisher.connect5("kaz")
        try publisher.send(publish5("contingents/IND/inbox", "short", qos: .atLeastOnce, id: 1, properties: [.messageExpiryInterval(2)]))
        try publisher.send(publish5("contingents/IND/inbox", "long", qos: .atLeastOnce, id: 2, properties: [.messageExpiryInterval(60)]))
        clock.advance(seconds: 3)
        broker.housekeeping()
        clock.advance(seconds: -100)
        let back = try TestClient(broker: broker, principal: ind)
        let delivered = TestClient.publishes(try back.connect5("ind", cleanStart: false))
        #expect(delivered.map { String(buffer: $0.payload) } == ["long"])
        #expect(delivered.first?.properties.messageExpiryInterval == 57)
    }

    /// Housekeeping clears a retained message once its Message Expiry Interval has passed, in memory and in the
    /// store, also one loaded after a restart, and leaves the others: one that expires no more since it was
    /// replaced, and those without an interval. The `$SYS` count follows.
    @Test func housekeepingClearsTheRetainedMessagesThatExpire() throws {
        let clock = TestClock()
        let store = ManualStore()
        func retainedCount(_ broker: Broker, watcher clientID: String) throws -> String? {
            let watcher = try TestClient(broker: broker, principal: .operator("duty"))
            _ = try watcher.connect(clientID)
            try watcher.send(.subscribe(.init(packetID: 1, subscriptions: [("$SYS/broker/#", .atMostOnce)])))
            store.completeAll()
            return TestClient.publishes(try watcher.received())
                .first { $0.topic == "$SYS/broker/retained messages/count" }.map { String(buffer: $0.payload) }
        }
        let configuration = Broker.Configuration(systemReportInterval: .seconds(10))
        do {
            let broker = try Broker(
                configuration: configuration, authorizer: TestAuthorizer(), store: store, clock: clock.read,
                monotonicClock: clock.read)
            let publisher = try TestClient(broker: broker, principal: kaz)
            _ = try publisher.connect5("kaz")
            for (topic, text, expiry) in [
                ("status/short", "s", 2), ("status/later", "l", 20), ("status/kept", "k", 0),
                ("status/replaced", "r1", 2), ("status/replaced", "r2", 0),
            ] {
                let properties: MQTTProperties = expiry > 0 ? [.messageExpiryInterval(UInt32(expiry))] : []
                try publisher.send(publish5(topic, text, retain: true, properties: properties))
            }
            store.completeAll()
            clock.advance(seconds: 3)
            broker.housekeeping()
            store.completeAll()
            #expect(store.state.retained.keys.sorted() == ["status/kept", "status/later", "status/replaced"])
            #expect(try retainedCount(broker, watcher: "duty-1") == "3")
        }
        let restarted = try Broker(
            configuration: configuration, authorizer: TestAuthorizer(), store: store, clock: clock.read,
            monotonicClock: clock.read)
        clock.advance(seconds: 20)
        restarted.housekeeping()
        store.completeAll()
        #expect(store.state.retained.keys.sorted() == ["status/kept", "status/replaced"])
        #expect(try retainedCount(restarted, watcher: "duty-2") == "2")
    }

    @Test func propertiesPassThroughInOrderWithSubscriptionIdentifiers() throws {
        let broker = try Broker(authorizer: TestAuthorizer())
        let subscriber = try TestClient(broker: broker, principal: ind)
        _ = try subscriber.connect5("ind")
        _ = try subscriber.subscribe("contingents/IND/#", .init(qos: .atMostOnce), id: 1, identifier: 7)
        _ = try subscriber.subscribe("contingents/+/inbox", .init(qos: .atMostOnce), id: 2, identifier: 9)
        let classic = try TestClient(broker: broker, principal: ind)
        _ = try classic.connect("ind-311")
        try classic.send(.subscribe(.init(packetID: 1, subscriptions: [("contingents/IND/inbox", .atMostOnce)])))
        _ = try classic.received()
        let publisher = try TestClient(broker: broker, principal: kaz)
        _ = try publisher.connect5("kaz")
        let sent: MQTTProperties = [
            .userProperty("b", "1"), .contentType("text/plain"), .userProperty("a", "2"), .userProperty("b", "3"),
            .responseTopic("contingents/KAZ/inbox"), .correlationData([1, 2, 3]), .payloadFormatIndicator(1),
        ]
        try publisher.send(publish5("contingents/IND/inbox", "salem", properties: sent))
        let received = try #require(TestClient.publishes(try subscriber.received()).first)
        #expect(received.properties.userProperties.map { "\($0.name)=\($0.value)" } == ["b=1", "a=2", "b=3"])
        #expect(received.properties.items.filter { $0.identifier != 0x0B } == sent.items)
        #expect(Set(received.properties.subscriptionIdentifiers) == [7, 9])
        // A 3.1.1 subscriber gets the message, without properties.
        #expect(try classic.received() == [publish("contingents/IND/inbox", "salem")])
    }

    @Test func topicAliasesBothWays() throws {
        let broker = try Broker(configuration: .init(topicAliasMaximum: 2), authorizer: TestAuthorizer())
        let subscriber = try TestClient(broker: broker, principal: ind)
        _ = try subscriber.connect5("ind", properties: [.topicAliasMaximum(1)])
        _ = try subscriber.subscribe("a/#", .init(qos: .atMostOnce))
        let publisher = try TestClient(broker: broker, principal: kaz)
        _ = try publisher.connect5("kaz")
        try publisher.send(publish5("a/long/topic", "1", properties: [.topicAlias(2)]))
        try publisher.send(publish5("", "2", properties: [.topicAlias(2)]))
        try publisher.send(publish5("a/other", "3"))
        let delivered = TestClient.publishes(try subscriber.received())
        // The hub set alias 1 on the first topic it sent, then used it; a second topic found no free alias.
        #expect(delivered.map(\.topic) == ["a/long/topic", "", "a/other"])
        #expect(delivered.map(\.properties.topicAlias) == [1, 1, nil])
        try publisher.send(publish5("", "4", properties: [.topicAlias(1)]))
        #expect(try publisher.received().last == .disconnect(.init(reasonCode: .protocolError, properties: [.reasonString("Topic Alias 1 was never set on this connection")])))
        let second = try TestClient(broker: broker, principal: kaz)
        _ = try second.connect5("kaz2")
        try second.send(publish5("a/x", "5", properties: [.topicAlias(3)]))
        guard case .disconnect(let disconnect) = try second.received().last else { Issue.record("no DISCONNECT"); return }
        #expect(disconnect.reasonCode == .topicAliasInvalid)
        #expect(disconnect.properties.reasonString == "Topic Alias 3: not in 1...2 [MQTT-3.3.2-9]")
        // A hub that takes no aliases says so (it said "not in 1...0").
        let strict = try Broker(configuration: .init(topicAliasMaximum: 0), authorizer: TestAuthorizer())
        let third = try TestClient(broker: strict, principal: kaz)
        _ = try third.connect5("kaz3")
        try third.send(publish5("a/x", "6", properties: [.topicAlias(1)]))
        guard case .disconnect(let refused) = try third.received().last else { Issue.record("no DISCONNECT"); return }
        #expect(refused.properties.reasonString == "Topic Alias 1: the hub allows no Topic Alias [MQTT-3.3.2-9]")
    }

    @Test func theClientsReceiveMaximumLimitsWhatIsInFlight() throws {
        let broker = try Broker(authorizer: TestAuthorizer())
        let subscriber = try TestClient(broker: broker, principal: ind)
        _ = try subscriber.connect5("ind", properties: [.receiveMaximum(2)])
        _ = try subscriber.subscribe("t", .init(qos: .atLeastOnce))
        let publisher = try TestClient(broker: broker, principal: kaz)
        _ = try publisher.connect5("kaz")
        for n in 1...5 { try publisher.send(publish5("t", "m\(n)", qos: .atLeastOnce, id: UInt16(n))) }
        let first = TestClient.publishes(try subscriber.received())
        #expect(first.count == 2)
        try subscriber.send(.puback(packetID: try #require(first.first?.packetID)))
        #expect(TestClient.publishes(try subscriber.received()).count == 1)
    }

    @Test func aClientOverTheHubsReceiveMaximumIsDisconnected() throws {
        let store = ManualStore()
        let broker = try Broker(configuration: .init(receiveMaximum: 2), authorizer: TestAuthorizer(), store: store)
        let client = try TestClient(broker: broker, principal: kaz)
        _ = try client.connect5("kaz", cleanStart: false, properties: [.sessionExpiryInterval(60)])
        store.completeAll()
        _ = try client.received()
        // Each PUBLISH waits for its commit, which this store holds back: three are outstanding at once.
        _ = try client.subscribe("t", .init(qos: .atLeastOnce))
        for n in 1...3 { try client.send(publish5("t", "m\(n)", qos: .atLeastOnce, id: UInt16(n))) }
        let packets = try client.received()
        guard case .disconnect(let disconnect) = packets.last else { Issue.record("\(packets)"); return }
        #expect(disconnect.reasonCode == .receiveMaximumExceeded)
    }

    @Test func aPublishLargerThanTheClientAcceptsIsDropped() throws {
        let broker = try Broker(authorizer: TestAuthorizer())
        let subscriber = try TestClient(broker: broker, principal: ind)
        _ = try subscriber.connect5("ind", properties: [.maximumPacketSize(64)])
        _ = try subscriber.subscribe("t", .init(qos: .atLeastOnce))
        let publisher = try TestClient(broker: broker, principal: kaz)
        _ = try publisher.connect5("kaz")
        try publisher.send(publish5("t", String(repeating: "x", count: 100), qos: .atLeastOnce, id: 1))
        try publisher.send(publish5("t", "small", qos: .atLeastOnce, id: 2))
        #expect(TestClient.publishes(try subscriber.received()).map { String(buffer: $0.payload) } == ["small"])
    }

    /// QoS 0 messages to a 5.0 client, most of them encoded as they are routed (`Session.takesEncoded`), keep
    /// their order, their properties, the identifiers of the subscriptions they matched and the expiry they have
    /// left; one larger than the client takes is dropped [MQTT-3.1.2-25].
    @Test func qos0MessagesKeepTheirOrderPropertiesAndLimits() throws {
        let broker = try Broker(authorizer: TestAuthorizer())
        let subscriber = try TestClient(broker: broker, principal: ind)
        _ = try subscriber.connect5("ind", properties: [.maximumPacketSize(64)])
        _ = try subscriber.subscribe("t/#", .init(qos: .atMostOnce), id: 1)
        _ = try subscriber.subscribe("t/marked", .init(qos: .atMostOnce), id: 2, identifier: 5)
        let publisher = try TestClient(broker: broker, principal: kaz)
        _ = try publisher.connect5("kaz")
        try publisher.send(publish5("t/a", "1", properties: [.userProperty("n", "1")]))
        try publisher.send(publish5("t/a", String(repeating: "x", count: 100)))
        try publisher.send(publish5("t/marked", "2"))
        try publisher.send(publish5("t/a", "3", properties: [.messageExpiryInterval(30)]))
        try publisher.send(publish5("t/a", "4"))
        let delivered = TestClient.publishes(try subscriber.received())
        #expect(delivered.map { String(buffer: $0.payload) } == ["1", "2", "3", "4"])
        let expected: [MQTTProperties] = [
            [.userProperty("n", "1")], [.subscriptionIdentifier(5)], [.messageExpiryInterval(30)], [],
        ]
        #expect(delivered.map(\.properties) == expected)
    }

    /// The packet id's two bytes can lengthen the Remaining Length by one byte: a QoS 1 PUBLISH of 123 bytes on
    /// `t` has a Remaining Length of 129 (two bytes), 132 bytes in all, too large for a limit of 131.
    @Test func thePacketIdCountsInTheSizeOfAPublish() throws {
        for (limit, delivered) in [(131, ["small"]), (132, ["large", "small"])] {
            let broker = try Broker(authorizer: TestAuthorizer())
            let subscriber = try TestClient(broker: broker, principal: ind)
            _ = try subscriber.connect5("ind", properties: [.maximumPacketSize(UInt32(limit))])
            _ = try subscriber.subscribe("t", .init(qos: .atLeastOnce))
            let publisher = try TestClient(broker: broker, principal: kaz)
            _ = try publisher.connect5("kaz")
            try publisher.send(publish5("t", String(repeating: "x", count: 123), qos: .atLeastOnce, id: 1))
            try publisher.send(publish5("t", "small", qos: .atLeastOnce, id: 2))
            let texts = TestClient.publishes(try subscriber.received()).map { String(buffer: $0.payload) }
            #expect(texts.map { $0.count == 123 ? "large" : $0 } == delivered, "limit \(limit)")
        }
    }

    /// A client that comes back with a smaller Receive Maximum gets what was in flight again only as its window
    /// allows [MQTT-3.3.4-9], and a message larger than its new Maximum Packet Size is dropped as if delivered
    /// [MQTT-3.1.2-25]; the rest follows as it acknowledges.
    @Test func whatWasInFlightGoesAgainWithinTheNewConnectionsLimits() throws {
        let broker = try Broker(authorizer: TestAuthorizer())
        let first = try TestClient(broker: broker, principal: ind)
        _ = try first.connect5("ind", cleanStart: false, properties: [.sessionExpiryInterval(60)])
        _ = try first.subscribe("t", .init(qos: .atLeastOnce))
        let publisher = try TestClient(broker: broker, principal: kaz)
        _ = try publisher.connect5("kaz")
        let texts = ["m1", String(repeating: "x", count: 100), "m3", "m4"]
        for (n, text) in texts.enumerated() {
            try publisher.send(publish5("t", text, qos: .atLeastOnce, id: UInt16(n + 1)))
        }
        #expect(TestClient.publishes(try first.received()).count == 4)

        let second = try TestClient(broker: broker, principal: ind)
        let resent = TestClient.publishes(
            try second.connect5("ind", cleanStart: false, properties: [.receiveMaximum(2), .maximumPacketSize(64)]))
        #expect(resent.map { String(buffer: $0.payload) } == ["m1", "m3"])
        #expect(resent.allSatisfy { $0.duplicate })
        try second.send(.puback(packetID: try #require(resent.first?.packetID)))
        let last = TestClient.publishes(try second.received())
        #expect(last.map { String(buffer: $0.payload) } == ["m4"] && last.first?.duplicate == true)
        try second.send(.puback(packetID: try #require(resent.last?.packetID)))
        try second.send(.puback(packetID: try #require(last.first?.packetID)))
        #expect(try second.received().isEmpty)
    }

    /// A topic alias takes three bytes, more than a one-letter topic saves: a message that fits the client's
    /// Maximum Packet Size only without one goes without one [MQTT-3.1.2-24].
    @Test func aTopicAliasNeverMakesAPublishTooLarge() throws {
        let broker = try Broker(authorizer: TestAuthorizer())
        let subscriber = try TestClient(broker: broker, principal: ind)
        // A QoS 0 PUBLISH on "t" with a 52-byte payload: 2 + 3 (topic) + 1 (no properties) + 52 = 58 bytes.
        _ = try subscriber.connect5("ind", properties: [.maximumPacketSize(58), .topicAliasMaximum(2)])
        _ = try subscriber.subscribe("t", .init(qos: .atMostOnce))
        let publisher = try TestClient(broker: broker, principal: kaz)
        _ = try publisher.connect5("kaz")
        try publisher.send(publish5("t", String(repeating: "x", count: 52)))
        try publisher.send(publish5("t", "short"))
        try publisher.send(publish5("t", "again"))
        let delivered = TestClient.publishes(try subscriber.received())
        #expect(delivered.map(\.payload.readableBytes) == [52, 5, 5])
        // The first went without an alias; the second set one, the third used it.
        #expect(delivered.map(\.topic) == ["t", "t", ""])
        #expect(delivered.map(\.properties.topicAlias) == [nil, 1, 1])
    }

    /// A message on a topic the connection already sends by alias is measured as sent, with an empty topic: one that
    /// fits the client's Maximum Packet Size only so is delivered (it was dropped as too large, measured with its
    /// full topic) [MQTT-3.1.2-24].
    @Test func aPublishSentByAliasIsMeasuredWithItsAlias() throws {
        let broker = try Broker(authorizer: TestAuthorizer())
        let subscriber = try TestClient(broker: broker, principal: ind)
        let topic = String(repeating: "t", count: 40)
        // QoS 1 with the full topic: 2 + 42 (topic) + 2 (id) + 1 (no properties) + payload, 77 bytes for 30; by
        // alias, 2 + 2 + 2 + 4 (the alias) + payload, 40 bytes.
        _ = try subscriber.connect5("ind", properties: [.maximumPacketSize(70), .topicAliasMaximum(5)])
        _ = try subscriber.subscribe(topic, .init(qos: .atLeastOnce))
        let publisher = try TestClient(broker: broker, principal: kaz)
        _ = try publisher.connect5("kaz")
        let payloads = ["first", String(repeating: "S", count: 30), String(repeating: "L", count: 61)]
        for (id, payload) in zip(1..., payloads) {
            try publisher.send(publish5(topic, payload, qos: .atLeastOnce, id: UInt16(id)))
        }
        var delivered: [MQTTPacket.Publish] = []
        for _ in 0..<3 {
            let batch = TestClient.publishes(try subscriber.received())
            for publish in batch { try subscriber.send(.puback(packetID: try #require(publish.packetID))) }
            delivered += batch
        }
        #expect(delivered.map(\.payload.readableBytes) == [5, 30], "the third is too large even by alias")
        #expect(delivered.map(\.topic) == [topic, ""])
    }

    @Test func noProblemInformationMeansNoReasonStrings() throws {
        let broker = try Broker(authorizer: TestAuthorizer(deniedPublish: ["x"]))
        let client = try TestClient(broker: broker, principal: kaz)
        _ = try client.connect5("kaz", properties: [.requestProblemInformation(0)])
        try client.send(publish5("x", "no", qos: .atLeastOnce, id: 1))
        #expect(try client.received() == [.puback(packetID: 1, .notAuthorized)])
    }

    @Test func sharedSubscriptionsSpreadMessagesOverTheGroup() throws {
        let broker = try Broker(authorizer: TestAuthorizer())
        let loop = EmbeddedEventLoop()
        var members: [TestClient] = []
        for (index, principal) in [kaz, kaz, ind].enumerated() {
            let member = try TestClient(broker: broker, principal: principal, loop: loop)
            _ = try member.connect5("member-\(index)")
            #expect(try member.subscribe("$share/ops/chat/#", .init(qos: .atLeastOnce)) == [.suback(.init(packetID: 1, reasonCodes: [.grantedQoS1]))])
            members.append(member)
        }
        let everything = try TestClient(broker: broker, principal: ind, loop: loop)
        _ = try everything.connect5("all")
        _ = try everything.subscribe("chat/#", .init(qos: .atMostOnce))
        let publisher = try TestClient(broker: broker, principal: kaz, loop: loop)
        _ = try publisher.connect5("kaz")
        for n in 1...30 { try publisher.send(publish5("chat/ops", "m\(n)")) }
        var counts: [Int] = []
        var seen: [String] = []
        for member in members {
            let got = TestClient.publishes(try member.received()).map { String(buffer: $0.payload) }
            counts.append(got.count)
            seen += got
        }
        #expect(seen.sorted() == (1...30).map { "m\($0)" }.sorted())
        #expect(counts == [10, 10, 10])
        #expect(TestClient.publishes(try everything.received()).count == 30)
    }

    @Test func noLocalRetainHandlingAndRetainAsPublished() throws {
        let broker = try Broker(authorizer: TestAuthorizer())
        let client = try TestClient(broker: broker, principal: kaz)
        _ = try client.connect5("kaz")
        try client.send(publish5("news/today", "retained", retain: true))
        // Retain Handling 0 sends the retained message, 1 only for a new subscription, 2 never.
        #expect(TestClient.publishes(try client.subscribe("news/#", .init(qos: .atMostOnce))).count == 1)
        #expect(TestClient.publishes(try client.subscribe("news/#", .init(qos: .atMostOnce, retainHandling: .sendIfNew))).isEmpty)
        #expect(TestClient.publishes(try client.subscribe("news/+", .init(qos: .atMostOnce, retainHandling: .sendIfNew))).count == 1)
        #expect(TestClient.publishes(try client.subscribe("news/today", .init(qos: .atMostOnce, retainHandling: .doNotSend))).isEmpty)
        // No Local: its own messages do not come back on that subscription.
        try client.send(.unsubscribe(.init(packetID: 9, filters: ["news/#", "news/+", "news/today"])))
        _ = try client.received()
        _ = try client.subscribe("talk/#", .init(qos: .atMostOnce, noLocal: true, retainAsPublished: true))
        try client.send(publish5("talk/x", "mine", retain: true))
        #expect(try client.received().isEmpty)
        let other = try TestClient(broker: broker, principal: ind)
        _ = try other.connect5("ind")
        try other.send(publish5("talk/x", "theirs", retain: true))
        let forwarded = TestClient.publishes(try client.received())
        #expect(forwarded.map { String(buffer: $0.payload) } == ["theirs"])
        #expect(forwarded.first?.retain == true)  // Retain As Published
    }

    /// Overlapping subscriptions that differ in Retain As Published: one copy cannot carry RETAIN 1 for the one
    /// [MQTT-3.3.1-13] and 0 for the other [MQTT-3.3.1-12], so a retained message goes as a copy to each, with its
    /// identifiers; one merged copy had RETAIN 1 for both. A message that is not retained goes once.
    @Test func overlappingSubscriptionsThatDifferInRetainAsPublishedGetACopyEach() throws {
        let broker = try Broker(authorizer: TestAuthorizer())
        let client = try TestClient(broker: broker, principal: kaz)
        _ = try client.connect5("kaz")
        _ = try client.subscribe("talk/#", .init(qos: .atLeastOnce, retainAsPublished: true), id: 1, identifier: 1)
        _ = try client.subscribe("talk/+", .init(qos: .atMostOnce), id: 2, identifier: 2)
        let other = try TestClient(broker: broker, principal: ind)
        _ = try other.connect5("ind")
        try other.send(publish5("talk/x", "retained", qos: .atLeastOnce, id: 1, retain: true))
        let received = TestClient.publishes(try client.received())
        let copies = received.map {
            (retain: $0.retain, qos: $0.qos, identifiers: $0.properties.subscriptionIdentifiers)
        }
        #expect(copies.count == 2)
        #expect(copies.contains { $0.retain && $0.qos == .atLeastOnce && $0.identifiers == [1] })
        #expect(copies.contains { !$0.retain && $0.qos == .atMostOnce && $0.identifiers == [2] })
        for case let id? in received.map(\.packetID) { try client.send(.puback(.init(packetID: id))) }
        try other.send(publish5("talk/x", "live", qos: .atLeastOnce, id: 2))
        let live = TestClient.publishes(try client.received())
        #expect(live.count == 1 && live.first?.retain == false && live.first?.qos == .atLeastOnce)
        #expect(live.first?.properties.subscriptionIdentifiers.sorted() == [1, 2])
    }

    @Test func ownMessagesComeBackOnlyThroughTheSubscriptionsWithoutNoLocal() throws {
        let broker = try Broker(authorizer: TestAuthorizer())
        let client = try TestClient(broker: broker, principal: kaz)
        _ = try client.connect5("kaz")
        _ = try client.subscribe("talk/#", .init(qos: .atLeastOnce, noLocal: true), id: 1, identifier: 1)
        _ = try client.subscribe("talk/+", .init(qos: .atMostOnce), id: 2, identifier: 2)
        let other = try TestClient(broker: broker, principal: ind)
        _ = try other.connect5("ind")
        for round in 1...2 {  // the second round goes by the route kept for the topic
            try client.send(publish5("talk/x", "mine \(round)", qos: .atLeastOnce, id: UInt16(round)))
            let own = TestClient.publishes(try client.received())
            #expect(own.map { String(buffer: $0.payload) } == ["mine \(round)"])
            #expect(own.first?.qos == .atMostOnce)
            #expect(own.first?.properties.items.contains(.subscriptionIdentifier(2)) == true)
            #expect(own.first?.properties.items.contains(.subscriptionIdentifier(1)) == false)
            try other.send(publish5("talk/x", "theirs \(round)", qos: .atLeastOnce, id: UInt16(round)))
            let theirs = TestClient.publishes(try client.received())
            #expect(theirs.map { String(buffer: $0.payload) } == ["theirs \(round)"])
            #expect(theirs.first?.qos == .atLeastOnce)
            #expect(theirs.first?.properties.items.filter { if case .subscriptionIdentifier = $0 { true } else { false } }.count == 2)
            _ = try other.received()
            if let id = theirs.first?.packetID { try client.send(.puback(.init(packetID: id))) }
        }
    }

    @Test func aSharedMemberThatAlsoSubscribedDirectlyGetsOneDelivery() throws {
        let broker = try Broker(authorizer: TestAuthorizer())
        let member = try TestClient(broker: broker, principal: kaz)
        _ = try member.connect5("kaz")
        _ = try member.subscribe("$share/ops/chat/#", .init(qos: .atLeastOnce), id: 1)
        _ = try member.subscribe("chat/#", .init(qos: .atMostOnce), id: 2)
        let publisher = try TestClient(broker: broker, principal: ind)
        _ = try publisher.connect5("ind")
        try publisher.send(publish5("chat/a", "one", qos: .atLeastOnce, id: 1))
        let got = TestClient.publishes(try member.received())
        #expect(got.map { String(buffer: $0.payload) } == ["one"])
        #expect(got.first?.qos == .atLeastOnce)
    }

    @Test func aSessionTakenOverWithCleanStartGetsWhatItSubscribesToAfterMessagesOnTheTopic() throws {
        let broker = try Broker(authorizer: TestAuthorizer())
        let publisher = try TestClient(broker: broker, principal: ind)
        _ = try publisher.connect5("ind")
        let first = try TestClient(broker: broker, principal: kaz)
        _ = try first.connect5("kaz")
        _ = try first.subscribe("chat/a", .init(qos: .atMostOnce))
        try publisher.send(publish5("chat/a", "before"))
        #expect(TestClient.publishes(try first.received()).map { String(buffer: $0.payload) } == ["before"])
        let second = try TestClient(broker: broker, principal: kaz)
        _ = try second.connect5("kaz", cleanStart: true)
        try publisher.send(publish5("chat/a", "between"))
        #expect(TestClient.publishes(try second.received()).isEmpty)
        _ = try second.subscribe("chat/a", .init(qos: .atMostOnce))
        try publisher.send(publish5("chat/a", "after"))
        #expect(TestClient.publishes(try second.received()).map { String(buffer: $0.payload) } == ["after"])
        #expect(TestClient.publishes(try first.received()).isEmpty)
    }

    @Test func willDelayAndDisconnectWithWill() throws {
        let (clock, broker, watcher) = try willWatcher()
        let will = MQTTPacket.Will(
            topic: "status/kaz", payload: Array("lost".utf8), qos: .atMostOnce, retain: false,
            properties: [.willDelayInterval(5), .userProperty("why", "network")])
        let session: MQTTProperties = [.sessionExpiryInterval(60)]
        // Back within the delay: no will.
        var client = try TestClient(broker: broker, principal: kaz)
        _ = try client.connect5("kaz", cleanStart: false, properties: session, will: will)
        try client.channel.close().wait()
        clock.advance(seconds: 2)
        broker.housekeeping()
        client = try TestClient(broker: broker, principal: kaz)
        _ = try client.connect5("kaz", cleanStart: false, properties: session, will: will)
        clock.advance(seconds: 10)
        broker.housekeeping()
        #expect(try watcher.received().isEmpty)
        // Gone for longer than the delay: the will, with its properties.
        try client.channel.close().wait()
        clock.advance(seconds: 4)
        broker.housekeeping()
        #expect(try watcher.received().isEmpty)
        clock.advance(seconds: 2)
        broker.housekeeping()
        let wills = TestClient.publishes(try watcher.received())
        #expect(wills.map { String(buffer: $0.payload) } == ["lost"])
        #expect(wills.first?.properties.userProperty("why") == "network")
        // DISCONNECT 0x04 publishes the will at once; a normal DISCONNECT discards it.
        let leaving = try TestClient(broker: broker, principal: kaz)
        _ = try leaving.connect5("kaz-2", will: MQTTPacket.Will(topic: "status/kaz", payload: Array("bye".utf8), qos: .atMostOnce, retain: false))
        try leaving.send(.disconnect(.init(reasonCode: .disconnectWithWillMessage)))
        #expect(TestClient.publishes(try watcher.received()).map { String(buffer: $0.payload) } == ["bye"])
        let quiet = try TestClient(broker: broker, principal: kaz)
        _ = try quiet.connect5("kaz-3", will: MQTTPacket.Will(topic: "status/kaz", payload: Array("x".utf8), qos: .atMostOnce, retain: false))
        try quiet.send(.disconnect(.init()))
        #expect(try watcher.received().isEmpty)
        // Only 0x00 discards it [MQTT-3.14.4-3]: a client that leaves with an error code gets its will published.
        for (number, code) in [ReasonCode.unspecifiedError, .implementationSpecificError].enumerated() {
            let failing = try TestClient(broker: broker, principal: kaz)
            let will = MQTTPacket.Will(
                topic: "status/kaz", payload: Array("error \(number)".utf8), qos: .atMostOnce, retain: false)
            _ = try failing.connect5("kaz-err-\(number)", will: will)
            try failing.send(.disconnect(.init(reasonCode: code)))
            let published = TestClient.publishes(try watcher.received()).map { String(buffer: $0.payload) }
            #expect(published == ["error \(number)"])
        }
    }

    @Test func theHubSaysWhyItDisconnects() throws {
        let clock = TestClock()
        let broker = try Broker(configuration: .init(maximumQueued: 2), authorizer: TestAuthorizer(), clock: clock.read)
        let first = try TestClient(broker: broker, principal: kaz)
        _ = try first.connect5("kaz", keepAlive: 2)
        let second = try TestClient(broker: broker, principal: kaz, loop: first.loop)
        _ = try second.connect5("kaz")
        guard case .disconnect(let takenOver) = try first.received().last else { Issue.record("no DISCONNECT"); return }
        #expect(takenOver.reasonCode == .sessionTakenOver)
        let sleeper = try TestClient(broker: broker, principal: ind, loop: first.loop)
        _ = try sleeper.connect5("ind", keepAlive: 1)
        first.loop.advanceTime(by: .seconds(2))
        guard case .disconnect(let timeout) = try sleeper.received().last else { Issue.record("no DISCONNECT"); return }
        #expect(timeout.reasonCode == .keepAliveTimeout)
        // A live client whose queue is full and that has taken nothing from it for a second is told so and
        // disconnected: m1 is in flight, m2 and m3 fill the queue, m4 finds it full a moment after m1 left it, m5
        // a second later.
        let slow = try TestClient(broker: broker, principal: ind, loop: first.loop)
        _ = try slow.connect5("slow", properties: [.receiveMaximum(1)])
        _ = try slow.subscribe("t", .init(qos: .atLeastOnce))
        for n in 1...4 { try second.send(publish5("t", "m\(n)", qos: .atLeastOnce, id: UInt16(n))) }
        #expect(slow.isOpen)
        clock.advance(seconds: 1)
        try second.send(publish5("t", "m5", qos: .atLeastOnce, id: 5))
        guard case .disconnect(let quota) = try slow.received().last else { Issue.record("no DISCONNECT"); return }
        #expect(quota.reasonCode == .quotaExceeded)
        #expect(!slow.isOpen)
    }

    /// A client that takes from its full queue is not one that does not keep up: one that came back to a full
    /// session while messages kept coming was disconnected with 0x97 at the first message after its CONNACK, and
    /// so could never drain its backlog; then, at the second message that found the queue full between two of its
    /// acknowledgements. Only one that took nothing for a second is.
    @Test func aClientDrainingItsFullQueueIsNotDisconnected() throws {
        let clock = TestClock()
        let broker = try Broker(configuration: .init(maximumQueued: 3), authorizer: TestAuthorizer(), clock: clock.read)
        let away = try TestClient(broker: broker, principal: ind)
        _ = try away.connect5("ind", cleanStart: false, properties: [.sessionExpiryInterval(600)])
        _ = try away.subscribe("t", .init(qos: .atLeastOnce))
        try away.send(.disconnect(.init()))
        let publisher = try TestClient(broker: broker, principal: kaz, loop: away.loop)
        _ = try publisher.connect5("kaz")
        for n in 1...5 { try publisher.send(publish5("t", "backlog \(n)", qos: .atLeastOnce, id: UInt16(n))) }
        let back = try TestClient(broker: broker, principal: ind, loop: away.loop)
        var received = TestClient.publishes(
            try back.connect5("ind", cleanStart: false, properties: [.receiveMaximum(1), .sessionExpiryInterval(600)]))
        // Four new messages for each one it takes, 0.3 s apart: the queue stays full, and the client keeps taking.
        for n in stride(from: 6, to: 40, by: 4) {
            clock.advance(seconds: 0.3)
            for id in n...n + 3 { try publisher.send(publish5("t", "live \(id)", qos: .atLeastOnce, id: UInt16(id))) }
            for publish in received { try back.send(.puback(packetID: try #require(publish.packetID))) }
            received = TestClient.publishes(try back.received())
            #expect(back.isOpen, "disconnected while draining, at message \(n)")
        }
        // Then it stops taking: a second later, the next message that finds the queue full ends it.
        clock.advance(seconds: 1)
        for id in 100...101 { try publisher.send(publish5("t", "late \(id)", qos: .atLeastOnce, id: UInt16(id))) }
        guard case .disconnect(let quota) = try back.received().last else { Issue.record("no DISCONNECT"); return }
        #expect(quota.reasonCode == .quotaExceeded)
    }

    /// A malformed packet that arrives while a valid CONNECT is being stored comes after its CONNACK: a failing
    /// CONNACK told the client its CONNECT was refused while the hub kept its session (and published its will).
    @Test func aPacketThatFailsWhileTheConnectIsStoredIsAnsweredAfterTheConnack() throws {
        let store = ManualStore()
        let broker = try Broker(authorizer: TestAuthorizer(), store: store)
        let client = try TestClient(broker: broker, principal: kaz)
        client.speakMQTT5()
        try client.send(
            .connect(.init(version: .v5, clientID: "kaz", cleanStart: false, properties: [.sessionExpiryInterval(60)])))
        // A QoS 0 PUBLISH with DUP set is malformed [MQTT-3.3.1-2].
        try client.send(.publish(.init(topic: "t", payload: payload("x"), duplicate: true)))
        #expect(try client.received().isEmpty)
        store.completeAll()
        let packets = try client.received()
        guard packets.count == 2, case .connack(let connack) = packets[0], case .disconnect(let disconnect) = packets[1]
        else { Issue.record("expected CONNACK and DISCONNECT: \(packets)"); return }
        #expect(connack.reasonCode == .success)
        #expect(disconnect.reasonCode == .malformedPacket)
        #expect(!client.isOpen)
        #expect(broker.sessionSummaries().map(\.clientID) == ["kaz"], "the session its CONNACK accepted")
    }

    /// A connection taken over while its CONNECT is being stored gets its CONNACK, then DISCONNECT 0x8E: it got a
    /// CONNACK 0x8E, a code CONNACK may not carry (MQTT 5 3.2.2.2), as if refused, and its will was published.
    @Test func aConnectionTakenOverBeforeItsConnackGetsTheConnackFirst() throws {
        let store = ManualStore()
        let broker = try Broker(authorizer: TestAuthorizer(), store: store)
        let first = try TestClient(broker: broker, principal: kaz)
        let second = try TestClient(broker: broker, principal: kaz, loop: first.loop)
        for client in [first, second] {
            client.speakMQTT5()
            let properties: MQTTProperties = [.sessionExpiryInterval(60)]
            try client.send(.connect(.init(version: .v5, clientID: "kaz", cleanStart: false, properties: properties)))
        }
        store.completeAll()
        let packets = try first.received()
        guard packets.count == 2, case .connack(let connack) = packets[0], case .disconnect(let disconnect) = packets[1]
        else { Issue.record("expected CONNACK and DISCONNECT: \(packets)"); return }
        #expect(connack.reasonCode == .success)
        #expect(disconnect.reasonCode == .sessionTakenOver)
        #expect(!first.isOpen)
        guard case .connack(let taker) = try second.received().first else { Issue.record("no CONNACK"); return }
        #expect(taker.reasonCode == .success && second.isOpen)
    }

    /// A CONNACK that could exceed the client's Maximum Packet Size is not sent [MQTT-3.1.2-24]: the CONNECT is
    /// refused before a session is made, with a CONNACK that fits (no Reason String). The client waited for ever.
    @Test func aConnackTheClientCannotTakeIsARefusal() throws {
        let store = ManualStore()
        let broker = try Broker(authorizer: TestAuthorizer(), store: store)
        let client = try TestClient(broker: broker, principal: kaz)
        client.speakMQTT5()
        try client.send(.connect(.init(version: .v5, clientID: "", properties: [.maximumPacketSize(40)])))
        let refusal = MQTTPacket.connack(.init(sessionPresent: false, reasonCode: .implementationSpecificError))
        #expect(try client.received() == [refusal])
        #expect(!client.isOpen)
        #expect(store.waiting == 0 && broker.sessionSummaries().isEmpty)
        // A limit the CONNACK fits exactly connects (a Session Expiry Interval the hub would not send was counted).
        let measure = try TestClient(broker: broker, principal: kaz)
        guard let connack = try measure.connect5("kaz-measure").first else { Issue.record("no CONNACK"); return }
        var encoded = ByteBuffer()
        connack.write(to: &encoded, version: .v5)
        let exact = try TestClient(broker: broker, principal: kaz)
        let answer = try exact.connect5("kaz-exact", properties: [.maximumPacketSize(UInt32(encoded.readableBytes))])
        guard case .connack(let fits) = answer.first else { Issue.record("no CONNACK: \(answer)"); return }
        #expect(fits.reasonCode == .success)
    }

    @Test func badConnectsAreRefusedWithReasonCodes() throws {
        let broker = try Broker(configuration: .init(maximumConnectionsPerPrincipal: 1), authorizer: TestAuthorizer())
        let owner = try TestClient(broker: broker, principal: ind)
        _ = try owner.connect5("shared-id")
        let thief = try TestClient(broker: broker, principal: kaz)
        #expect(try thief.connect5("shared-id").first == .connack(.init(sessionPresent: false, reasonCode: .notAuthorized)))
        let extra = try TestClient(broker: broker, principal: ind)
        #expect(try extra.connect5("another").first == .connack(.init(sessionPresent: false, reasonCode: .quotaExceeded)))
        let authenticator = try TestClient(broker: broker, principal: kaz)
        let refused = try authenticator.connect5("kaz", properties: [.authenticationMethod("SCRAM-SHA-1")])
        #expect(refused.first == .connack(.init(sessionPresent: false, reasonCode: .badAuthenticationMethod)))
    }

    @Test func subscriptionQuota() throws {
        let broker = try Broker(configuration: .init(maximumSubscriptionsPerSession: 2), authorizer: TestAuthorizer())
        let client = try TestClient(broker: broker, principal: kaz)
        _ = try client.connect5("kaz")
        try client.send(
            .subscribe(.init(packetID: 1, subscriptions: [("a", .atMostOnce), ("b", .atMostOnce), ("c", .atMostOnce), ("a", .atLeastOnce)])))
        #expect(try client.received() == [.suback(.init(packetID: 1, reasonCodes: [.success, .success, .quotaExceeded, .grantedQoS1]))])
        // Full, a later SUBSCRIBE may still replace what the session holds.
        try client.send(.subscribe(.init(packetID: 2, subscriptions: [("d", .atMostOnce), ("b", .atLeastOnce)])))
        #expect(try client.received() == [.suback(.init(packetID: 2, reasonCodes: [.quotaExceeded, .grantedQoS1]))])
    }

    /// Retained messages live until cleared: one principal may hold `maximumRetainedPerPrincipal` of them (one
    /// contingent filled the disk with 60 MiB on inboxes of contingents that do not exist). Replacing or clearing
    /// one is always allowed, and what another principal holds does not count.
    @Test func retainedQuota() throws {
        let broker = try Broker(configuration: .init(maximumRetainedPerPrincipal: 2), authorizer: TestAuthorizer())
        let client = try TestClient(broker: broker, principal: kaz)
        _ = try client.connect5("kaz")
        func retain(_ topic: String, _ payload: String, id: UInt16) throws -> MQTTPacket? {
            try client.send(publish5(topic, payload, qos: .atLeastOnce, id: id, retain: true))
            return try client.received().last
        }
        func code(_ packet: MQTTPacket?) -> ReasonCode? {
            if case .puback(let ack) = packet { return ack.reasonCode }
            return nil
        }
        #expect(code(try retain("r/1", "a", id: 1)) == .success)
        #expect(code(try retain("r/2", "b", id: 2)) == .success)
        #expect(code(try retain("r/3", "c", id: 3)) == .quotaExceeded)
        #expect(code(try retain("r/2", "b2", id: 4)) == .success)  // its own, replaced
        #expect(code(try retain("r/1", "", id: 5)) == .success)  // cleared
        #expect(code(try retain("r/3", "c", id: 6)) == .success)
        let other = try TestClient(broker: broker, principal: ind)
        _ = try other.connect5("ind")
        try other.send(publish5("r/4", "d", qos: .atLeastOnce, id: 1, retain: true))
        #expect(code(try other.received().last) == .success)
        #expect(broker.counters.publishesRefused == 1)
        // A retained will counts too: five lost connections set five more (none is now).
        let will = MQTTPacket.Will(topic: "r/will", payload: Array("gone".utf8), qos: .atMostOnce, retain: true)
        let leaving = try TestClient(broker: broker, principal: kaz)
        _ = try leaving.connect5("kaz-leaving", will: will)
        try leaving.channel.close().wait()
        #expect(broker.counters.publishesRefused == 2)
        let reader = try TestClient(broker: broker, principal: kaz)
        _ = try reader.connect5("kaz-reader")
        try reader.send(.subscribe(.init(packetID: 1, subscriptions: [("r/#", .atMostOnce)])))
        #expect(TestClient.publishes(try reader.received()).map(\.topic).sorted() == ["r/2", "r/3", "r/4"])
    }

    /// A PUBREL goes again at a reconnect whatever the new window: it waited behind PUBLISHes that had no room
    /// [MQTT-4.4.0-1, MQTT-4.9.0-3].
    @Test func pubrelsAreResentBeforeThePublishesTheWindowHoldsBack() throws {
        let broker = try Broker(authorizer: TestAuthorizer())
        let subscriber = try TestClient(broker: broker, principal: ind)
        _ = try subscriber.connect5("s", cleanStart: true, properties: [.sessionExpiryInterval(600), .receiveMaximum(3)])
        try subscriber.send(.subscribe(.init(packetID: 1, subscriptions: [("t", .exactlyOnce)])))
        _ = try subscriber.received()
        let publisher = try TestClient(broker: broker, principal: kaz)
        _ = try publisher.connect5("p")
        for id in UInt16(1)...3 {
            try publisher.send(publish5("t", "m\(id)", qos: .exactlyOnce, id: id))
            try publisher.send(.pubrel(packetID: id))
        }
        let ids = TestClient.publishes(try subscriber.received()).compactMap(\.packetID)
        #expect(ids.count == 3)
        try subscriber.send(.pubrec(packetID: ids[0]))
        _ = try subscriber.received()
        try subscriber.channel.close().wait()
        let again = try TestClient(broker: broker, principal: ind)
        let packets = try again.connect5("s", cleanStart: false, properties: [.sessionExpiryInterval(600), .receiveMaximum(1)])
        #expect(packets.dropFirst().first == .pubrel(packetID: ids[0]))
        // The window of one is the released message's until its PUBCOMP; then the PUBLISHes follow.
        #expect(TestClient.publishes(packets).isEmpty)
        try again.send(.pubcomp(packetID: ids[0]))
        #expect(TestClient.publishes(try again.received()).compactMap(\.packetID) == [ids[1]])
    }
}
