import NIOCore
import NIOEmbedded
import PeaceHubCore
import PeaceHubMQTT
import Synchronization
import Testing

/// A connection told that the hub is shutting down (`HubDraining`) finishes the acknowledgements it has
/// started, processes nothing new and closes.
@Suite struct ConnectionDrainTests {
    let kaz = Principal.contingent("KAZ")
    let ind = Principal.contingent("IND")

    /// A broker over a store whose commits complete when the test says, with IND's persistent session
    /// subscribed to its inbox (so a QoS 1 PUBLISH to it waits for a commit before its PUBACK).
    func brokerWithPersistentSubscriber() throws -> (Broker, ManualStore) {
        let store = ManualStore()
        let broker = try Broker(authorizer: TestAuthorizer(), store: store)
        let subscriber = try TestClient(broker: broker, principal: ind)
        try subscriber.send(.connect(.init(clientID: "ind-desk", cleanStart: false)))
        store.completeAll()
        try subscriber.send(.subscribe(.init(packetID: 1, subscriptions: [("contingents/IND/inbox", .atLeastOnce)])))
        store.completeAll()
        try subscriber.send(.disconnect(.init()))
        return (broker, store)
    }

    @Test func theAcknowledgementUnderWayIsWrittenThenTheConnectionCloses() throws {
        let (broker, store) = try brokerWithPersistentSubscriber()
        let publisher = try TestClient(broker: broker, principal: kaz)
        #expect(try publisher.connect("kaz") == [accepted])
        try publisher.send(publish("contingents/IND/inbox", "one", qos: .atLeastOnce, id: 1))
        #expect(try publisher.received().isEmpty)  // PUBACK waits for the commit

        publisher.channel.pipeline.fireUserInboundEventTriggered(HubDraining())
        publisher.loop.run()
        #expect(publisher.isOpen)
        // Read after the drain started: not processed, not acknowledged (the client sends it again later).
        try publisher.send(publish("contingents/IND/inbox", "two", qos: .atLeastOnce, id: 2))
        try publisher.send(.pingreq)
        #expect(store.waiting == 1)

        store.completeAll()
        #expect(try publisher.received() == [.puback(packetID: 1)])
        #expect(!publisher.isOpen)
        let queued = store.state.sessions.first { $0.clientID == "ind-desk" }?.deliveries.map { String(buffer: $0.message.payload) }
        #expect(queued == ["one"])
    }

    @Test func anIdleConnectionClosesAtOnce() throws {
        let broker = try Broker(authorizer: TestAuthorizer())
        let client = try TestClient(broker: broker, principal: kaz)
        #expect(try client.connect("kaz") == [accepted])
        client.channel.pipeline.fireUserInboundEventTriggered(HubDraining())
        #expect(try client.received().isEmpty)
        #expect(!client.isOpen)
    }

    @Test func aConnectionBeforeItsCONNECTClosesAtOnce() throws {
        let broker = try Broker(authorizer: TestAuthorizer())
        let client = try TestClient(broker: broker, principal: kaz)
        client.channel.pipeline.fireUserInboundEventTriggered(HubDraining())
        client.loop.run()
        #expect(!client.isOpen)
    }

    /// A CONNECT being stored when the drain starts gets its CONNACK, and the packets that came with it their
    /// replies, before the connection closes.
    @Test func aCONNECTBeingStoredIsAnsweredFirst() throws {
        let store = ManualStore()
        let broker = try Broker(authorizer: TestAuthorizer(), store: store)
        let client = try TestClient(broker: broker, principal: kaz)
        try client.send(.connect(.init(clientID: "kaz-desk", cleanStart: false)))
        try client.send(.pingreq)
        client.channel.pipeline.fireUserInboundEventTriggered(HubDraining())
        client.loop.run()
        #expect(client.isOpen)
        store.completeAll()
        #expect(try client.received() == [accepted, .pingresp])
        #expect(!client.isOpen)
    }

    /// No new delivery starts on a draining connection: what is queued stays queued for the next connection.
    @Test func noDeliveryStartsWhileDraining() throws {
        let judge = HeldInterceptor()
        let broker = try Broker(authorizer: TestAuthorizer(), interceptor: judge)
        let subscriber = try TestClient(broker: broker, principal: ind)
        _ = try subscriber.connect("ind", clean: false)
        try subscriber.send(.subscribe(.init(packetID: 1, subscriptions: [("contingents/IND/inbox", .atLeastOnce)])))
        _ = try subscriber.received()
        // A report whose judgement is pending keeps the draining connection open.
        try subscriber.send(publish("missions/UNIFIL/reports/UXO", "report", qos: .atLeastOnce, id: 7))
        subscriber.channel.pipeline.fireUserInboundEventTriggered(HubDraining())
        subscriber.loop.run()
        #expect(subscriber.isOpen)

        let publisher = try TestClient(broker: broker, principal: kaz, loop: subscriber.loop)
        _ = try publisher.connect("kaz")
        try publisher.send(publish("contingents/IND/inbox", "later", qos: .atLeastOnce, id: 1))
        judge.releaseAll()
        #expect(try subscriber.received() == [.puback(packetID: 7)])
        #expect(!subscriber.isOpen)

        let back = try TestClient(broker: broker, principal: ind)
        let delivered = try back.connect("ind", clean: false).compactMap { packet -> String? in
            if case .publish(let message) = packet { return String(buffer: message.payload) }
            return nil
        }
        #expect(delivered == ["later"])
    }
}

/// Holds every report until the test releases them, then delivers them unchanged.
final class HeldInterceptor: PublishInterceptor {
    private let pending = Mutex<[@Sendable () -> Void]>([])

    func claims(topic: String) -> Bool { topic.hasPrefix("missions/") }

    func intercept(_ message: BrokerMessage, principal: Principal, completion: @escaping @Sendable (InterceptDecision) -> Void) {
        pending.withLock { $0.append { completion(.deliver(message)) } }
    }

    func releaseAll() {
        for release in pending.withLock({ pending in defer { pending = [] }; return pending }) { release() }
    }
}

/// `Broker.reconfigure(_:)`: the limits a configuration reload changes apply to what comes next.
@Suite struct BrokerReconfigureTests {
    @Test func loweredLimitsApplyToTheNextConnectionAndMessage() throws {
        let broker = try Broker(authorizer: TestAuthorizer())
        let unavailable = MQTTPacket.connack(.init(sessionPresent: false, reasonCode: .serverUnavailable))
        let first = try TestClient(broker: broker, principal: .contingent("KAZ"))
        #expect(try first.connect("k1") == [accepted])

        broker.reconfigure(.init(maximumQueued: 1, maximumConnectionsPerPrincipal: 1))
        #expect(broker.configuration.maximumConnectionsPerPrincipal == 1)
        #expect(first.isOpen)  // what is connected stays
        #expect(try TestClient(broker: broker, principal: .contingent("KAZ")).connect("k2") == [unavailable])

        let away = try TestClient(broker: broker, principal: .contingent("IND"))
        _ = try away.connect("ind-away", clean: false)
        try away.send(.subscribe(.init(packetID: 1, subscriptions: [("contingents/IND/inbox", .atLeastOnce)])))
        _ = try away.received()
        try away.send(.disconnect(.init()))
        for n in 1...2 { try first.send(publish("contingents/IND/inbox", "m\(n)", qos: .atLeastOnce, id: UInt16(n))) }
        #expect(broker.counters.queueFull == 1)

        broker.reconfigure(.init(maximumConnectionsPerPrincipal: 2))
        #expect(try TestClient(broker: broker, principal: .contingent("KAZ")).connect("k2") == [accepted])
    }
}
