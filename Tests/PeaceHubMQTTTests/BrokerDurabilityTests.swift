import Foundation
import NIOCore
import NIOEmbedded
import PeaceHubCore
@testable import PeaceHubMQTT
import Synchronization
import Testing

/// A store kept in memory whose commits complete only when the test says so: the reference
/// for what each operation means, and a way to see what the broker does before durability.
final class ManualStore: BrokerStore {
    private struct Pending {
        var operations: [StoreOperation]
        var completion: @Sendable (Result<Void, any Error>) -> Void
    }

    private let stored = Mutex(StoredBrokerState())
    private let pending = Mutex<[Pending]>([])

    var waiting: Int { pending.withLock { $0.count } }
    var state: StoredBrokerState { stored.withLock { $0 } }

    func load() throws -> StoredBrokerState { state }

    func commit(_ operations: [StoreOperation], completion: @escaping @Sendable (Result<Void, any Error>) -> Void) {
        pending.withLock { $0.append(Pending(operations: operations, completion: completion)) }
    }

    func flush() { completeAll() }

    /// Commits everything submitted so far, in order, and runs the completions.
    func completeAll() {
        while let next = pending.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) {
            stored.withLock { state in
                for operation in next.operations { Self.apply(operation, to: &state) }
            }
            next.completion(.success(()))
        }
    }

    /// Fails everything submitted so far, as a store that cannot write would, and stores none of it.
    func failAll() {
        struct WriteFailed: Error {}
        while let next = pending.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) {
            next.completion(.failure(WriteFailed()))
        }
    }

    static func apply(_ operation: StoreOperation, to state: inout StoredBrokerState) {
        func update(_ clientID: String, _ body: (inout StoredSession) -> Void) {
            guard let index = state.sessions.firstIndex(where: { $0.clientID == clientID }) else { return }
            body(&state.sessions[index])
        }
        switch operation {
        case .createSession(let clientID, let owner, let expiryInterval):
            state.sessions.removeAll { $0.clientID == clientID }
            state.sessions.append(StoredSession(clientID: clientID, owner: owner, expiryInterval: expiryInterval))
        case .setSessionExpiry(let clientID, let expiryInterval, let expiresAt):
            update(clientID) {
                $0.expiryInterval = expiryInterval
                $0.expiresAt = expiresAt
            }
        case .deleteSession(let clientID):
            state.sessions.removeAll { $0.clientID == clientID }
        case .subscribe(let clientID, let filter, let subscription):
            update(clientID) { $0.subscriptions[filter] = subscription }
        case .unsubscribe(let clientID, let filter):
            update(clientID) { $0.subscriptions[filter] = nil }
        case .enqueue(let clientID, let sequence, let messageID, let message, let identifiers, let shared):
            state.lastSequence = max(state.lastSequence, sequence)
            state.lastMessageID = max(state.lastMessageID, messageID)
            update(clientID) {
                $0.deliveries.append(
                    StoredDelivery(
                        sequence: sequence, messageID: messageID, message: message,
                        subscriptionIdentifiers: identifiers, shared: shared))
            }
        case .markInflight(let clientID, let sequence, let packetID, let stage):
            update(clientID) { session in
                guard let index = session.deliveries.firstIndex(where: { $0.sequence == sequence }) else { return }
                session.deliveries[index].packetID = packetID
                session.deliveries[index].stage = stage
            }
        case .removeDelivery(let clientID, let sequence):
            update(clientID) { $0.deliveries.removeAll { $0.sequence == sequence } }
        case .addInboundQoS2(let clientID, let packetID):
            update(clientID) { _ = $0.inboundQoS2.insert(packetID) }
        case .removeInboundQoS2(let clientID, let packetID):
            update(clientID) { _ = $0.inboundQoS2.remove(packetID) }
        case .setRetained(let messageID, let message):
            state.lastMessageID = max(state.lastMessageID, messageID)
            state.retained[message.topic] = message.payload.readableBytes == 0 ? nil : message
        case .recordAlive(let at):
            state.lastAlive = max(state.lastAlive ?? 0, at)
        case .setWill(let clientID, let will):
            update(clientID) { $0.will = will }
        }
    }
}

@Suite struct BrokerDurabilityTests {
    let kaz = Principal.contingent("KAZ")
    let ind = Principal.contingent("IND")

    /// The registry stops allowing `filters` (a deployment ended); the broker learns it at its housekeeping, or at a
    /// restart on the store, and commits what it withdraws.
    private func deny(
        _ filters: [String], _ authorizer: VersionedAuthorizer, restart: Bool, _ broker: inout Broker,
        _ store: ManualStore
    ) throws {
        for filter in filters { authorizer.denySubscribe(filter) }
        authorizer.setVersion(2)
        if restart {
            broker = try Broker(authorizer: authorizer, store: store)
        } else {
            broker.housekeeping()
        }
        store.completeAll()
    }

    /// A deployment that ends takes with its withdrawn subscription the messages queued through it and not yet sent,
    /// in memory and in the store (they reached the contingent when it came back). A hub started after the registry
    /// changed withdraws both before any connection (at housekeeping's first check, a second after it accepted
    /// clients, they were delivered).
    @Test(arguments: [false, true])
    func messagesQueuedThroughAWithdrawnSubscriptionAreWithdrawnToo(restart: Bool) throws {
        let store = ManualStore()
        let authorizer = VersionedAuthorizer()
        var broker = try Broker(authorizer: authorizer, store: store)
        let subscriber = try TestClient(broker: broker, principal: ind)
        try subscriber.send(.connect(.init(clientID: "ind-desk", cleanStart: false)))
        store.completeAll()
        try subscriber.send(
            .subscribe(
                .init(
                    packetID: 1,
                    subscriptions: [("missions/UNIFIL/#", .atLeastOnce), ("contingents/IND/inbox", .atLeastOnce)])))
        try subscriber.send(.disconnect(.init()))
        store.completeAll()
        let publisher = try TestClient(broker: broker, principal: kaz)
        _ = try publisher.connect("kaz")
        for (id, topic) in zip(1..., ["missions/UNIFIL/chat", "contingents/IND/inbox", "missions/UNIFIL/chat"]) {
            try publisher.send(publish(topic, "m\(id)", qos: .atLeastOnce, id: UInt16(id)))
        }
        store.completeAll()
        func stored() -> StoredSession? { store.state.sessions.first { $0.clientID == "ind-desk" } }
        #expect(stored()?.deliveries.count == 3)

        try deny(["missions/UNIFIL/#", "missions/UNIFIL/chat"], authorizer, restart: restart, &broker, store)
        #expect(stored()?.subscriptions.map(\.key) == ["contingents/IND/inbox"])
        #expect(stored()?.deliveries.map(\.message.topic) == ["contingents/IND/inbox"])
        let again = try TestClient(broker: broker, principal: ind)
        try again.send(.connect(.init(clientID: "ind-desk", cleanStart: false)))
        store.completeAll()
        let topics = try again.received().compactMap { packet in
            if case .publish(let message) = packet { message.topic } else { nil }
        }
        #expect(topics == ["contingents/IND/inbox"])
    }

    /// Messages queued for a session that then gave up the subscription they came through are withdrawn too when
    /// the registry no longer allows their topics: only sessions that had just lost a subscription were checked.
    @Test(arguments: [false, true])
    func messagesQueuedBeforeAnUnsubscribeAreWithdrawnWhenTheirTopicIsNoLongerAllowed(restart: Bool) throws {
        let store = ManualStore()
        let authorizer = VersionedAuthorizer()
        var broker = try Broker(authorizer: authorizer, store: store)
        let properties: MQTTProperties = [.sessionExpiryInterval(600), .receiveMaximum(1)]
        let subscriber = try TestClient(broker: broker, principal: ind)
        subscriber.speakMQTT5()
        try subscriber.send(
            .connect(.init(version: .v5, clientID: "ind-desk", cleanStart: false, properties: properties)))
        store.completeAll()
        let filters: [(String, MQTTPacket.SubscriptionOptions)] = [
            ("missions/UNIFIL/#", .init(qos: .atLeastOnce)), ("contingents/IND/inbox", .init(qos: .atLeastOnce)),
        ]
        try subscriber.send(.subscribe(.init(packetID: 1, subscriptions: filters)))
        store.completeAll()
        _ = try subscriber.received()
        let publisher = try TestClient(broker: broker, principal: kaz)
        _ = try publisher.connect("kaz")
        // The first goes in flight (Receive Maximum 1); the others wait in the queue.
        for (id, topic) in zip(1..., ["contingents/IND/inbox", "missions/UNIFIL/chat", "missions/UNIFIL/chat"]) {
            try publisher.send(publish(topic, "m\(id)", qos: .atLeastOnce, id: UInt16(id)))
        }
        store.completeAll()
        #expect(TestClient.publishes(try subscriber.received()).map(\.topic) == ["contingents/IND/inbox"])
        try subscriber.send(.unsubscribe(.init(packetID: 2, filters: ["missions/UNIFIL/#"])))
        try subscriber.send(.disconnect(.init()))
        store.completeAll()

        try deny(["missions/UNIFIL/chat"], authorizer, restart: restart, &broker, store)
        let stored = store.state.sessions.first { $0.clientID == "ind-desk" }
        #expect(stored?.deliveries.map(\.message.topic) == ["contingents/IND/inbox"])
        let again = try TestClient(broker: broker, principal: ind)
        again.speakMQTT5()
        try again.send(.connect(.init(version: .v5, clientID: "ind-desk", cleanStart: false, properties: properties)))
        store.completeAll()
        let resent = TestClient.publishes(try again.received())
        #expect(resent.map(\.topic) == ["contingents/IND/inbox"], "only the one in flight, sent again")
        try again.send(.puback(.init(packetID: try #require(resent.first?.packetID))))
        store.completeAll()
        #expect(TestClient.publishes(try again.received()).isEmpty)
    }

    /// The retained messages a principal holds are counted again from the store at a restart: the quota holds
    /// across it.
    /// A QoS 2 PUBLISH still judged when a Clean Start CONNECT took its session over does not store its packet id
    /// under the new session (the store knows sessions by client id): after a restart the new session's own QoS 2
    /// PUBLISH with that id was taken for a resend, acknowledged and never delivered.
    /// A will waiting out its delay when the hub stopped was lost with the hub's memory. It is stored now: the
    /// restarted hub publishes it when due, and forgets it (in the store too) when its client comes back in time or
    /// a CRL revokes the certificate its client connected with.
    @Test(arguments: ["due", "back", "revoked"])
    func aDelayedWillOutlivesARestart(ending: String) throws {
        let store = ManualStore()
        let clock = TestClock()
        let will = MQTTPacket.Will(
            topic: "status/kaz", payload: Array("gone".utf8), qos: .atMostOnce, retain: false,
            properties: [.willDelayInterval(10), .userProperty("why", "network")])
        do {
            let broker = try Broker(authorizer: TestAuthorizer(), store: store, clock: clock.read)
            let client = try TestClient(broker: broker, principal: kaz)
            client.channel.pipeline.fireUserInboundEventTriggered(PeerCredentials(certificates: ["issuer:1A", "root:7"]))
            _ = try client.connect5("kaz", cleanStart: false, properties: [.sessionExpiryInterval(60)], will: will)
            store.completeAll()
            try client.channel.close().wait()
            store.completeAll()
        }
        let stored = store.state.sessions.first { $0.clientID == "kaz" }?.will
        #expect(stored == StoredWill(will: will, publishAt: clock.read() + 10_000, credentials: ["issuer:1A", "root:7"]))

        clock.advance(seconds: 3)
        let broker = try Broker(authorizer: TestAuthorizer(), store: store, clock: clock.read)
        let watcher = try TestClient(broker: broker, principal: ind)
        _ = try watcher.connect5("watcher")
        _ = try watcher.subscribe("status/#", .init(qos: .atMostOnce))
        broker.housekeeping()
        #expect(TestClient.publishes(try watcher.received()).isEmpty)
        switch ending {
        case "back":
            let back = try TestClient(broker: broker, principal: kaz, loop: watcher.loop)
            _ = try back.connect5("kaz", cleanStart: false)
            store.completeAll()
            #expect(TestClient.connack(try back.received())?.sessionPresent == true)
        case "revoked":
            broker.discardWills(certifiedBy: ["issuer:1A"])
        default:
            break
        }
        store.completeAll()
        clock.advance(seconds: 8)
        broker.housekeeping()
        store.completeAll()
        let published = TestClient.publishes(try watcher.received())
        #expect(published.map { String(buffer: $0.payload) } == (ending == "due" ? ["gone"] : []), "\(ending)")
        #expect(published.first?.properties == (ending == "due" ? [.userProperty("why", "network")] : nil))
        #expect(store.state.sessions.first { $0.clientID == "kaz" }?.will == nil, "\(ending)")
    }

    @Test func aPacketIDJudgedAcrossACleanStartTakeoverIsNotTheNewSessions() throws {
        let store = ManualStore()
        let interceptor = DeferredInterceptor()
        let broker = try Broker(authorizer: TestAuthorizer(), interceptor: interceptor, store: store)
        let connect = MQTTPacket.Connect(
            version: .v5, clientID: "kaz", cleanStart: true, properties: [.sessionExpiryInterval(600)])
        let (first, second) = (CountingConnection(), CountingConnection())
        broker.connect(connect, principal: kaz, connection: first) { _ in }
        store.completeAll()
        guard case .publish(let report) = publish("missions/UNIFIL/reports/UXO", "ok", qos: .exactlyOnce, id: 9) else {
            return
        }
        var publisher = Broker.Publisher()
        broker.publish(report, clientID: "kaz", connection: first, principal: kaz, publisher: &publisher) { _ in }
        broker.connect(connect, principal: kaz, connection: second) { _ in }
        interceptor.deliverAll()
        store.completeAll()
        let session = try #require(store.state.sessions.first { $0.clientID == "kaz" })
        #expect(session.inboundQoS2.isEmpty)
    }

    @Test func theRetainedQuotaHoldsAcrossARestart() throws {
        let store = ManualStore()
        let configuration = Broker.Configuration(maximumRetainedPerPrincipal: 1)
        var broker = try Broker(configuration: configuration, authorizer: TestAuthorizer(), store: store)
        var client = try TestClient(broker: broker, principal: kaz)
        _ = try client.connect5("kaz")
        try client.send(publish5("r/1", "a", qos: .atLeastOnce, id: 1, retain: true))
        store.completeAll()
        #expect(try client.received() == [.puback(packetID: 1)])
        broker = try Broker(configuration: configuration, authorizer: TestAuthorizer(), store: store)
        client = try TestClient(broker: broker, principal: kaz)
        _ = try client.connect5("kaz")
        store.completeAll()
        try client.send(publish5("r/2", "b", qos: .atLeastOnce, id: 2, retain: true))
        store.completeAll()
        guard case .puback(let ack) = try client.received().last else {
            Issue.record("no PUBACK")
            return
        }
        #expect(ack.reasonCode == .quotaExceeded)
    }

    /// A QoS 1 message answered by its `PendingPuback` gets the code its routing calls for: 0x10 at once when
    /// nobody subscribes, success once the commit has its stored delivery, 0x97 when the one queue it was for is
    /// full.
    @Test func aPendingPubackAnswersWithTheCodeOfItsRouting() throws {
        let store = ManualStore()
        let (_, publisher) = try publisherToAnAwayInbox(.atLeastOnce, maximumQueued: 1, store: store)
        store.completeAll()
        try publisher.send(publish5("nobody/listens", "m0", qos: .atLeastOnce, id: 1))
        #expect(try publisher.received() == [.puback(packetID: 1, .noMatchingSubscribers)])
        try publisher.send(publish5("contingents/IND/inbox", "m1", qos: .atLeastOnce, id: 2))
        #expect(try publisher.received().isEmpty)
        store.completeAll()
        #expect(try publisher.received() == [.puback(packetID: 2)])
        try publisher.send(publish5("contingents/IND/inbox", "m2", qos: .atLeastOnce, id: 3))
        store.completeAll()
        let codes = try publisher.received().compactMap { if case .puback(let ack) = $0 { ack.reasonCode } else { nil } }
        #expect(codes == [.quotaExceeded])
    }

    @Test func acknowledgementsWaitForTheCommitAndKeepTheirOrder() throws {
        let store = ManualStore()
        let broker = try Broker(authorizer: TestAuthorizer(deniedPublish: ["denied"]), store: store)
        let subscriber = try TestClient(broker: broker, principal: ind)
        try subscriber.send(.connect(.init(clientID: "ind-desk", cleanStart: false)))
        #expect(try subscriber.received().isEmpty)  // CONNACK waits for the session to be stored
        store.completeAll()
        #expect(try subscriber.received() == [accepted])
        try subscriber.send(.subscribe(.init(packetID: 1, subscriptions: [("contingents/IND/inbox", .atLeastOnce)])))
        store.completeAll()
        _ = try subscriber.received()
        try subscriber.send(.disconnect(.init()))

        let publisher = try TestClient(broker: broker, principal: kaz)
        _ = try publisher.connect("kaz")
        try publisher.send(publish("contingents/IND/inbox", "one", qos: .atLeastOnce, id: 1))
        // Refused: nothing to store, but its PUBACK must not overtake the first one [MQTT-4.6.0-2].
        try publisher.send(publish("denied", "no", qos: .atLeastOnce, id: 2))
        try publisher.send(.pingreq)
        #expect(try publisher.received().isEmpty)
        #expect(store.waiting >= 1)
        store.completeAll()
        #expect(try publisher.received() == [.puback(packetID: 1), .puback(packetID: 2), .pingresp])
        #expect(store.state.sessions.first?.deliveries.count == 1)
    }

    /// QoS 1 goes to its subscribers at once, before the store has committed it; only the publisher's PUBACK
    /// waits for the commit (a crash in between costs a duplicate, which QoS 1 allows).
    /// A client that goes away while its session is being stored (before its CONNACK) leaves nothing bound to
    /// its dead connection: once the commit completes, the session ends as a lost connection's would. Its will is
    /// published and its place under the per-principal limit is free again (it stayed taken: a contingent whose
    /// clients timed out their CONNECTs this way was refused for good).
    @Test func aConnectionClosedBeforeItsConnackEndsItsSessionAsLost() throws {
        let store = ManualStore()
        let broker = try Broker(
            configuration: .init(maximumConnectionsPerPrincipal: 1), authorizer: TestAuthorizer(), store: store)
        let watcher = try TestClient(broker: broker, principal: ind)
        _ = try watcher.connect("ind-watch")
        try watcher.send(.subscribe(.init(packetID: 1, subscriptions: [("status/#", .atMostOnce)])))
        store.completeAll()
        _ = try watcher.received()

        let leaving = try TestClient(broker: broker, principal: kaz)
        let will = MQTTPacket.Will(topic: "status/kaz", payload: Array("lost".utf8), qos: .atMostOnce, retain: false)
        try leaving.send(.connect(.init(clientID: "kaz-desk", cleanStart: false, will: will)))
        #expect(try leaving.received().isEmpty)  // the session is being stored
        try leaving.channel.close().wait()
        store.completeAll()
        leaving.loop.run()

        #expect(TestClient.publishes(try watcher.received()).map { String(buffer: $0.payload) } == ["lost"])
        let next = try TestClient(broker: broker, principal: kaz)
        try next.send(.connect(.init(clientID: "kaz-ops", cleanStart: true)))
        #expect(try next.received() == [accepted])
        // The session itself waits for its client, as any session that outlives its connection does.
        try next.send(.disconnect(.init()))
        let back = try TestClient(broker: broker, principal: kaz)
        try back.send(.connect(.init(clientID: "kaz-desk", cleanStart: false)))
        store.completeAll()
        #expect(try back.received() == [.connack(.init(sessionPresent: true, reasonCode: .success))])
    }

    /// A CONNECT whose session cannot be stored is refused (server unavailable), and the connection it was bound
    /// to gives back its place under the limits.
    @Test func aConnectThatCouldNotBeStoredIsRefusedAndFreesItsPlace() throws {
        let store = ManualStore()
        let broker = try Broker(
            configuration: .init(maximumConnectionsPerPrincipal: 1), authorizer: TestAuthorizer(), store: store)
        let refused = try TestClient(broker: broker, principal: kaz)
        try refused.send(.connect(.init(clientID: "kaz-desk", cleanStart: false)))
        store.failAll()
        #expect(try refused.received() == [.connack(.init(sessionPresent: false, reasonCode: .serverUnavailable))])
        #expect(!refused.isOpen)
        let next = try TestClient(broker: broker, principal: kaz)
        try next.send(.connect(.init(clientID: "kaz-ops", cleanStart: false)))
        store.completeAll()
        #expect(try next.received() == [accepted])
    }

    /// A session the store refused is not kept in memory: the client's next CONNECT makes it anew, stored, and
    /// what it subscribes to then reaches the file. (Kept in memory only, it was resumed, and the store took none
    /// of its subscriptions: they were gone after a restart.) Both for a new client id and for a Clean Start,
    /// which leaves the stored session it was to replace in the file.
    @Test(arguments: [false, true])
    func aSessionTheStoreRefusedIsMadeAnewByTheNextConnect(replacingOne: Bool) throws {
        let store = ManualStore()
        let broker = try Broker(configuration: .init(), authorizer: TestAuthorizer(), store: store)
        let stored = { store.state.sessions.first { $0.clientID == "kaz-desk" }?.subscriptions.map(\.key).sorted() }
        /// kaz-desk connected without a clean session, as a new session, and subscribed to `filter`.
        func connectAndSubscribe(to filter: String) throws -> TestClient {
            let client = try TestClient(broker: broker, principal: kaz)
            try client.send(.connect(.init(clientID: "kaz-desk", cleanStart: false)))
            store.completeAll()
            #expect(try client.received() == [accepted])
            try client.send(.subscribe(.init(packetID: 1, subscriptions: [(filter, .atLeastOnce)])))
            store.completeAll()
            return client
        }
        if replacingOne {
            try connectAndSubscribe(to: "status/#").send(.disconnect(.init()))
            store.completeAll()
        }

        // A session that outlives its connection: 3.1.1 without a clean session, or a 5.0 Clean Start with an
        // expiry (a 3.1.1 clean session ends with its connection anyway).
        let refused = try TestClient(broker: broker, principal: kaz)
        if replacingOne { refused.speakMQTT5() }
        try refused.send(
            .connect(
                replacingOne
                    ? .init(
                        version: .v5, clientID: "kaz-desk", cleanStart: true,
                        properties: [.sessionExpiryInterval(3600)])
                    : .init(clientID: "kaz-desk", cleanStart: false)))
        store.failAll()
        guard case .connack(let connack)? = try refused.received().first else {
            Issue.record("no CONNACK")
            return
        }
        #expect(connack.reasonCode == .serverUnavailable && !connack.sessionPresent)
        #expect(stored() == (replacingOne ? ["status/#"] : nil))

        _ = try connectAndSubscribe(to: "contingents/KAZ/inbox")
        #expect(stored() == ["contingents/KAZ/inbox"])
    }

    /// `$SYS/broker/` tells the broker's state every report interval, retained for a later subscriber, and never
    /// reaches the store (after a restart the values would be wrong).
    @Test func systemReportsArePublishedRetainedAndNeverStored() throws {
        let clock = TestClock()
        let store = ManualStore()
        let broker = try Broker(
            configuration: .init(systemReportInterval: .seconds(10)), authorizer: TestAuthorizer(), store: store,
            clock: clock.read, monotonicClock: clock.read)
        let watcher = try TestClient(broker: broker, principal: .operator("duty"))
        _ = try watcher.connect("duty")
        try watcher.send(.subscribe(.init(packetID: 1, subscriptions: [("$SYS/broker/#", .atMostOnce)])))
        let away = try TestClient(broker: broker, principal: kaz, loop: watcher.loop)
        try away.send(.connect(.init(clientID: "kaz-desk", cleanStart: false)))
        store.completeAll()
        try away.send(.subscribe(.init(packetID: 1, subscriptions: [("a", .atLeastOnce), ("b", .atMostOnce)])))
        store.completeAll()
        try away.send(.disconnect(.init()))
        let publisher = try TestClient(broker: broker, principal: ind, loop: watcher.loop)
        _ = try publisher.connect("ind")
        // It reads "a" too, and leaves the message unacknowledged: in flight.
        try publisher.send(.subscribe(.init(packetID: 1, subscriptions: [("a", .atLeastOnce)])))
        try publisher.send(publish("a", "one", qos: .atLeastOnce, id: 1))
        store.completeAll()
        _ = try watcher.received()

        clock.advance(seconds: 61)
        broker.housekeeping()
        let report = Dictionary(
            uniqueKeysWithValues: TestClient.publishes(try watcher.received()).map {
                ($0.topic, String(buffer: $0.payload))
            })
        #expect(report["$SYS/broker/version"]?.hasPrefix("PeaceHub ") == true)
        #expect(report["$SYS/broker/uptime"] == "61 seconds")
        #expect(report["$SYS/broker/clients/connected"] == "2")
        #expect(report["$SYS/broker/clients/disconnected"] == "1")
        #expect(report["$SYS/broker/clients/total"] == "3")
        #expect(report["$SYS/broker/subscriptions/count"] == "4")
        #expect(report["$SYS/broker/retained messages/count"] == "0")
        // "one", queued for kaz-desk and in flight to ind: queued or in flight, as protocol.md says.
        #expect(report["$SYS/broker/store/messages/count"] == "2")
        #expect(report["$SYS/broker/messages/received"] == "1")
        #expect(report["$SYS/broker/messages/sent"] == "1")
        store.completeAll()  // housekeeping's record that the hub runs
        #expect(store.state.retained.isEmpty)

        clock.advance(seconds: 5)
        broker.housekeeping()
        #expect(try watcher.received().isEmpty)  // the interval has not passed
        clock.advance(seconds: 5)
        broker.housekeeping()
        let next = TestClient.publishes(try watcher.received())
        #expect(next.count == report.count)
        // Its own retained messages are not counted.
        let retainedCount = next.first { $0.topic == "$SYS/broker/retained messages/count" }
        #expect(retainedCount.map { String(buffer: $0.payload) } == "0")
        let later = try TestClient(broker: broker, principal: .operator("audit"), loop: watcher.loop)
        _ = try later.connect("late")
        try later.send(.subscribe(.init(packetID: 1, subscriptions: [("$SYS/broker/uptime", .atMostOnce)])))
        let retained = TestClient.publishes(try later.received())
        #expect(retained.map { String(buffer: $0.payload) } == ["71 seconds"] && retained.first?.retain == true)
    }

    /// The reports and `uptime` go by the monotonic clock: a wall clock set back stopped the reports until it
    /// passed their last time again, and one set forward moved `uptime` with it.
    @Test func systemReportsIgnoreChangesOfTheWallClock() throws {
        let wall = TestClock()
        let monotonic = TestClock()
        let broker = try Broker(
            configuration: .init(systemReportInterval: .seconds(10)), authorizer: TestAuthorizer(),
            clock: wall.read, monotonicClock: monotonic.read)
        let watcher = try TestClient(broker: broker, principal: .operator("duty"))
        _ = try watcher.connect("duty")
        try watcher.send(.subscribe(.init(packetID: 1, subscriptions: [("$SYS/broker/uptime", .atMostOnce)])))
        _ = try watcher.received()
        func uptime() throws -> [String] {
            TestClient.publishes(try watcher.received()).map { String(buffer: $0.payload) }
        }
        wall.advance(seconds: 7200)
        monotonic.advance(seconds: 10)
        broker.housekeeping()
        #expect(try uptime() == ["10 seconds"])
        wall.advance(seconds: -7200)
        monotonic.advance(seconds: 10)
        broker.housekeeping()
        #expect(try uptime() == ["20 seconds"])
    }

    @Test func aQoS1MessageIsDeliveredAtOnceAndAcknowledgedOnceDurable() throws {
        let store = ManualStore()
        let broker = try Broker(authorizer: TestAuthorizer(), store: store)
        let subscriber = try TestClient(broker: broker, principal: ind)
        try subscriber.send(.connect(.init(clientID: "ind-desk", cleanStart: false)))
        store.completeAll()
        try subscriber.send(.subscribe(.init(packetID: 1, subscriptions: [("t", .atLeastOnce)])))
        store.completeAll()
        _ = try subscriber.received()
        let publisher = try TestClient(broker: broker, principal: kaz)
        _ = try publisher.connect("kaz")
        try publisher.send(publish("t", "x", qos: .atLeastOnce, id: 5))
        #expect(TestClient.publishes(try subscriber.received()).map { String(buffer: $0.payload) } == ["x"])
        #expect(try publisher.received().isEmpty)
        store.completeAll()
        #expect(try publisher.received() == [.puback(packetID: 5)])
        #expect(store.state.sessions.first { $0.clientID == "ind-desk" }?.deliveries.count == 1)
    }

    /// A persistent subscriber of `filter`, connected as "<name>" (IND), with nothing left to commit.
    private func persistentSubscriber(_ name: String, _ filter: String, broker: Broker, store: ManualStore) throws
        -> TestClient
    {
        let subscriber = try TestClient(broker: broker, principal: ind)
        try subscriber.send(.connect(.init(clientID: name, cleanStart: false)))
        try subscriber.send(.subscribe(.init(packetID: 1, subscriptions: [(filter, .atLeastOnce)])))
        store.completeAll()
        _ = try subscriber.received()
        return subscriber
    }

    /// A broker over `store` whose stored session "ind-away" subscribed to IND's inbox at `qos` and went away, and a
    /// connected 5.0 publisher (KAZ) on the same loop.
    private func publisherToAnAwayInbox(_ qos: QoS, maximumQueued: Int, store: ManualStore) throws
        -> (Broker, publisher: TestClient)
    {
        let broker = try Broker(
            configuration: .init(maximumQueued: maximumQueued), authorizer: TestAuthorizer(), store: store)
        let away = try TestClient(broker: broker, principal: ind)
        _ = try away.connect("ind-away", clean: false)
        try away.send(.subscribe(.init(packetID: 1, subscriptions: [("contingents/IND/inbox", qos)])))
        store.completeAll()
        _ = try away.received()
        try away.send(.disconnect(.init()))
        let publisher = try TestClient(broker: broker, principal: kaz, loop: away.loop)
        _ = try publisher.connect5("kaz")
        return (broker, publisher)
    }

    /// The packet id of the one PUBLISH in `packets`.
    private func deliveredID(_ packets: [MQTTPacket]) throws -> UInt16 {
        let publishes = TestClient.publishes(packets)
        #expect(publishes.count == 1)
        return try #require(publishes.first?.packetID)
    }

    /// Once every subscriber that stored the message has acknowledged it, nothing is left to make durable: the
    /// PUBACK goes then, not after the commit, and only once. A subscriber's PUBACK holds no reply back.
    @Test func aQoS1MessageAllItsSubscribersAcknowledgedIsAnsweredBeforeItsCommit() throws {
        let store = ManualStore()
        let broker = try Broker(authorizer: TestAuthorizer(), store: store)
        let first = try persistentSubscriber("ind-desk", "t", broker: broker, store: store)
        let second = try persistentSubscriber("ind-ops", "t", broker: broker, store: store)
        let publisher = try TestClient(broker: broker, principal: kaz)
        _ = try publisher.connect("kaz")
        try publisher.send(publish("t", "x", qos: .atLeastOnce, id: 5))
        try first.send(.puback(packetID: try deliveredID(try first.received())))
        try first.send(.pingreq)
        #expect(try first.received() == [.pingresp])
        #expect(try publisher.received().isEmpty)  // the second subscriber has not acknowledged yet
        try second.send(.puback(packetID: try deliveredID(try second.received())))
        #expect(try publisher.received() == [.puback(packetID: 5)])
        store.completeAll()
        #expect(try publisher.received().isEmpty)
        #expect(store.state.sessions.allSatisfy { $0.deliveries.isEmpty })

        // A retained message changes the store beyond the queues: its PUBACK waits for the commit.
        try publisher.send(publish("t", "kept", qos: .atLeastOnce, id: 6, retain: true))
        try first.send(.puback(packetID: try deliveredID(try first.received())))
        try second.send(.puback(packetID: try deliveredID(try second.received())))
        #expect(try publisher.received().isEmpty)
        store.completeAll()
        #expect(try publisher.received() == [.puback(packetID: 6)])
    }

    /// A broker over `store` that holds deliveries for 600 s (long enough that only the test commits what is held),
    /// a persistent subscriber of "t" (IND), and a connected publisher (KAZ).
    private func holdingBroker(store: ManualStore) throws -> (Broker, subscriber: TestClient, publisher: TestClient) {
        let broker = try Broker(
            configuration: .init(storeHoldTime: .seconds(600)), authorizer: TestAuthorizer(), store: store)
        let subscriber = try persistentSubscriber("ind-desk", "t", broker: broker, store: store)
        let publisher = try TestClient(broker: broker, principal: kaz)
        _ = try publisher.connect("kaz")
        return (broker, subscriber, publisher)
    }

    /// With a hold time, deliveries to connected subscribers stay out of the store until it has passed: one
    /// acknowledged meanwhile never reaches it, neither its enqueue nor its removal. What is still unacknowledged
    /// then is committed, with its packet id, and that commit answers. A message for a session without a
    /// connection goes to the store at once.
    @Test func heldDeliveriesAcknowledgedInTimeNeverReachTheStore() throws {
        let store = ManualStore()
        let (broker, subscriber, publisher) = try holdingBroker(store: store)

        try publisher.send(publish("t", "acknowledged", qos: .atLeastOnce, id: 1))
        try subscriber.send(.puback(packetID: try deliveredID(try subscriber.received())))
        #expect(try publisher.received() == [.puback(packetID: 1)])
        #expect(store.waiting == 0)

        try publisher.send(publish("t", "not yet", qos: .atLeastOnce, id: 2))
        let unacknowledged = try deliveredID(try subscriber.received())
        #expect(store.waiting == 0)
        broker.commitHeldDeliveries()
        #expect(store.waiting == 1)
        #expect(try publisher.received().isEmpty)
        store.completeAll()
        #expect(try publisher.received() == [.puback(packetID: 2)])
        let stored = store.state.sessions.first { $0.clientID == "ind-desk" }?.deliveries
        #expect(stored?.map { String(buffer: $0.message.payload) } == ["not yet"])
        #expect(stored?.first?.packetID == unacknowledged && stored?.first?.stage == .awaitingPuback)
        try subscriber.send(.puback(packetID: unacknowledged))
        store.completeAll()
        #expect(store.state.sessions.first { $0.clientID == "ind-desk" }?.deliveries.isEmpty == true)

        try subscriber.channel.close().wait()
        try publisher.send(publish("t", "offline", qos: .atLeastOnce, id: 3))
        #expect(store.waiting == 1)
        store.completeAll()
        #expect(try publisher.received() == [.puback(packetID: 3)])
    }

    /// Each message is held for the whole hold time, counted from its own routing: when the oldest one's hold
    /// ends, a younger one stays held, and its subscriber's acknowledgement keeps it out of the store. And the hold
    /// ends on its own: with a short one, the unacknowledged delivery reaches the store without a call.
    @Test func aHeldMessageIsHeldForItsOwnHoldTime() throws {
        let store = ManualStore()
        let (broker, subscriber, publisher) = try holdingBroker(store: store)

        try publisher.send(publish("t", "older", qos: .atLeastOnce, id: 1))
        let older = try deliveredID(try subscriber.received())
        let olderHoldEnds = NIODeadline.now() + .seconds(600)
        try publisher.send(publish("t", "younger", qos: .atLeastOnce, id: 2))
        let younger = try deliveredID(try subscriber.received())
        broker.commitHeldDeliveries(dueBy: olderHoldEnds)
        #expect(store.waiting == 1)
        store.completeAll()
        #expect(try publisher.received() == [.puback(packetID: 1)])
        let stored = store.state.sessions.first { $0.clientID == "ind-desk" }?.deliveries
        #expect(stored?.map { String(buffer: $0.message.payload) } == ["older"])

        try subscriber.send(.puback(packetID: younger))
        #expect(try publisher.received() == [.puback(packetID: 2)])
        #expect(store.waiting == 0)
        try subscriber.send(.puback(packetID: older))
        store.completeAll()
        #expect(store.state.sessions.first { $0.clientID == "ind-desk" }?.deliveries.isEmpty == true)

        broker.reconfigure(.init(storeHoldTime: .milliseconds(50)))
        try publisher.send(publish("t", "unanswered", qos: .atLeastOnce, id: 3))
        _ = try subscriber.received()
        let limit = NIODeadline.now() + .seconds(10)
        while store.waiting == 0, NIODeadline.now() < limit { usleep(5_000) }
        #expect(store.waiting == 1)
        store.completeAll()
        #expect(try publisher.received() == [.puback(packetID: 3)])
    }

    /// A stored session's subscription is in force from its SUBSCRIBE, not from its commit: the PUBLISH the client
    /// sends right after it (in the same read, as the Paho interoperability suite does) reaches it, and a 5.0
    /// publisher is not told "no matching subscribers". The SUBACK still waits for the commit.
    @Test func aSubscriptionIsInForceBeforeItIsDurable() throws {
        let store = ManualStore()
        let broker = try Broker(authorizer: TestAuthorizer(), store: store)
        let client = try TestClient(broker: broker, principal: ind)
        _ = try client.connect5("ind", cleanStart: false, properties: [.sessionExpiryInterval(60)])
        store.completeAll()
        _ = try client.received()

        var burst = ByteBuffer()
        MQTTPacket.subscribe(.init(packetID: 1, subscriptions: [("t/#", .init(qos: .atLeastOnce))]))
            .write(to: &burst, version: .v5)
        publish5("t/a", "right after", qos: .atLeastOnce, id: 2).write(to: &burst, version: .v5)
        try client.sendBytes(burst)
        // The delivery may come before the SUBACK, as the standard allows [MQTT-3.8.4].
        let beforeCommit = try client.received()
        #expect(!beforeCommit.contains { if case .suback = $0 { true } else { false } })
        store.completeAll()
        let packets = beforeCommit + (try client.received())
        #expect(packets.contains(.suback(.init(packetID: 1, reasonCodes: [.granted(.atLeastOnce)]))))
        #expect(packets.contains(.puback(packetID: 2)))
        #expect(TestClient.publishes(packets).map { String(buffer: $0.payload) } == ["right after"])
    }

    /// A SUBSCRIBE the store could not commit leaves the session's subscriptions as they were.
    @Test func aSubscriptionThatCouldNotBeStoredIsTakenBack() throws {
        let store = ManualStore()
        let broker = try Broker(authorizer: TestAuthorizer(), store: store)
        let client = try TestClient(broker: broker, principal: ind)
        _ = try client.connect5("ind", cleanStart: false, properties: [.sessionExpiryInterval(60)])
        _ = try client.subscribe("kept", .init(qos: .atMostOnce))
        store.completeAll()
        _ = try client.received()
        func filters() -> [String] {
            broker.sessionSummaries().first { $0.clientID == "ind" }?.subscriptions.map(\.filter) ?? []
        }

        try client.send(
            .subscribe(
                .init(
                    packetID: 2, subscriptions: [("kept", .init(qos: .exactlyOnce)), ("new", .init(qos: .atLeastOnce))])
            ))
        #expect(filters() == ["kept", "new"])
        store.failAll()
        _ = try client.received()
        #expect(filters() == ["kept"])
        #expect(broker.sessionSummaries().first { $0.clientID == "ind" }?.subscriptions.first?.qos == 0)
    }

    /// A live QoS 2 subscriber of `t`, and a publisher `p` whose session is stored, over a store that commits when
    /// told.
    private func qos2Subscriber() throws -> (ManualStore, Broker, subscriber: TestClient, publisher: TestClient) {
        let store = ManualStore()
        let broker = try Broker(authorizer: TestAuthorizer(), store: store)
        let subscriber = try TestClient(broker: broker, principal: ind)
        _ = try subscriber.connect("live")
        try subscriber.send(.subscribe(.init(packetID: 1, subscriptions: [("t", .exactlyOnce)])))
        _ = try subscriber.received()
        let publisher = try TestClient(broker: broker, principal: kaz)
        try publisher.send(.connect(.init(clientID: "p", cleanStart: false)))
        store.completeAll()
        _ = try publisher.received()
        return (store, broker, subscriber, publisher)
    }

    /// A QoS 2 PUBLISH that could not be stored gets no PUBREC, and its resend after the reconnect is routed: the
    /// packet id stayed taken, so the resend was answered PUBREC as a duplicate and the message never delivered.
    /// Subscribers at QoS 0 and 1 get it once too: their copies wait for the commit as well (they got the failed
    /// one and then the resend) [MQTT-4.3.3-10].
    @Test func aQoS2PublishThatCouldNotBeStoredIsTakenAsNewWhenSentAgain() throws {
        let (store, broker, subscriber, publisher) = try qos2Subscriber()
        var lower: [TestClient] = []
        for qos in [QoS.atMostOnce, .atLeastOnce] {
            let client = try TestClient(broker: broker, principal: ind)
            _ = try client.connect("lower-\(qos.rawValue)")
            try client.send(.subscribe(.init(packetID: 1, subscriptions: [("t", qos)])))
            _ = try client.received()
            lower.append(client)
        }
        try publisher.send(publish("t", "x", qos: .exactlyOnce, id: 777))
        store.failAll()
        #expect(!(try publisher.received()).contains(.pubrec(packetID: 777)))
        #expect(try subscriber.received().isEmpty)
        for client in lower { #expect(try client.received().isEmpty) }

        let again = try TestClient(broker: broker, principal: kaz)
        try again.send(.connect(.init(clientID: "p", cleanStart: false)))
        store.completeAll()
        _ = try again.received()
        guard case .publish(var resent) = publish("t", "x", qos: .exactlyOnce, id: 777) else { return }
        resent.duplicate = true
        try again.send(.publish(resent))
        store.completeAll()
        #expect(try again.received() == [.pubrec(packetID: 777)])
        for client in [subscriber] + lower {
            #expect(TestClient.publishes(try client.received()).map { String(buffer: $0.payload) } == ["x"])
        }
    }

    /// A stored MQTT 5 session "ind" (Maximum Packet Size 70, two topic aliases) subscribed at QoS 2 to a topic of 40
    /// characters and to `b/#` at QoS 0, away with three QoS 2 messages queued on the topic: "first", then two of
    /// 30 bytes that fit only by alias (2 + 2 for the empty topic + 2 for the id + 4 for the alias + 30 = 40 bytes;
    /// with the topic, 77). Returns the client that reconnects (its CONNECT sent) and the publisher, on one loop.
    private func reconnectingToAQoS2Backlog(
        _ store: ManualStore, _ broker: Broker
    ) throws -> (back: TestClient, publisher: TestClient, topic: String) {
        let topic = String(repeating: "t", count: 40)
        let away = try TestClient(broker: broker, principal: ind)
        away.speakMQTT5()
        try away.send(.connect(.init(version: .v5, clientID: "ind", cleanStart: false, properties: aliasedSession)))
        store.completeAll()
        let filters: [(String, MQTTPacket.SubscriptionOptions)] = [
            (topic, .init(qos: .exactlyOnce)), ("b/#", .init(qos: .atMostOnce)),
        ]
        try away.send(.subscribe(.init(packetID: 1, subscriptions: filters)))
        store.completeAll()
        _ = try away.received()
        try away.send(.disconnect(.init()))
        let publisher = try TestClient(broker: broker, principal: kaz, loop: away.loop)
        _ = try publisher.connect5("kaz")
        let payloads = ["first", String(repeating: "S", count: 30), String(repeating: "T", count: 30)]
        for (id, payload) in zip(1..., payloads) {
            try publisher.send(publish5(topic, payload, qos: .exactlyOnce, id: UInt16(id)))
        }
        store.completeAll()
        let back = try TestClient(broker: broker, principal: ind, loop: away.loop)
        back.speakMQTT5()
        try back.send(.connect(.init(version: .v5, clientID: "ind", cleanStart: false, properties: aliasedSession)))
        return (back, publisher, topic)
    }

    private let aliasedSession: MQTTProperties = [
        .sessionExpiryInterval(600), .maximumPacketSize(70), .topicAliasMaximum(2),
    ]

    /// QoS 2 messages for a stored session, which leave once their packet ids are stored, are measured against the
    /// client's Maximum Packet Size by the alias the first of them sets: the two that fit only by it were dropped as
    /// too large, and lost.
    @Test func qos2MessagesThatFitOnlyByTheirAliasAreDelivered() throws {
        let store = ManualStore()
        let broker = try Broker(authorizer: TestAuthorizer(), store: store)
        let (back, _, topic) = try reconnectingToAQoS2Backlog(store, broker)
        var delivered: [MQTTPacket.Publish] = []
        for _ in 0..<4 {
            store.completeAll()
            delivered += TestClient.publishes(try back.received())
        }
        #expect(delivered.map { $0.payload.readableBytes } == [5, 30, 30])
        #expect(delivered.map(\.topic) == [topic, "", ""])
    }

    /// QoS 2 messages measured by the alias the first of them would set, whose commit came after QoS 0 messages on
    /// new topics had filled the alias table: the first went without an alias, and the others, too large without
    /// one, were sent beyond the client's Maximum Packet Size. They go nowhere, as if delivered [MQTT-3.1.2-25].
    @Test func aMessageTheAliasTableCannotShortenIsNotSentBeyondTheMaximumPacketSize() throws {
        let store = ManualStore()
        let broker = try Broker(authorizer: TestAuthorizer(), store: store)
        let (back, publisher, _) = try reconnectingToAQoS2Backlog(store, broker)
        // The QoS 2 messages wait for their packet ids' commit; QoS 0 messages on two new topics take both aliases.
        var delivered = TestClient.publishes(try back.received())
        try publisher.send(publish5("b/1", "b1"))
        try publisher.send(publish5("b/2", "b2"))
        for _ in 0..<4 {
            store.completeAll()
            delivered += TestClient.publishes(try back.received())
        }
        let sizes = delivered.map { publish in
            var bytes = ByteBuffer()
            MQTTPacket.publish(publish).write(to: &bytes, version: .v5)
            return bytes.readableBytes
        }
        #expect(sizes.allSatisfy { $0 <= 70 }, "\(sizes)")
        #expect(delivered.map { String(buffer: $0.payload) } == ["b1", "b2", "first"])
        // Discarded as if delivered: only the one sent (and not acknowledged) is in flight to be sent again.
        try back.send(.disconnect(.init()))
        let again = try TestClient(broker: broker, principal: ind, loop: back.loop)
        again.speakMQTT5()
        try again.send(.connect(.init(version: .v5, clientID: "ind", cleanStart: false, properties: aliasedSession)))
        store.completeAll()
        #expect(TestClient.publishes(try again.received()).map { String(buffer: $0.payload) } == ["first"])
    }

    /// A retained message whose commit failed (no PUBACK, the connection closed) is not served: new subscribers got
    /// it from memory while the store kept the one before, which a restart then brought back.
    @Test func aRetainedMessageThatCouldNotBeStoredIsNotServed() throws {
        let store = ManualStore()
        let broker = try Broker(authorizer: TestAuthorizer(), store: store)
        let publisher = try TestClient(broker: broker, principal: kaz)
        _ = try publisher.connect("kaz")
        try publisher.send(publish("status", "A", qos: .atLeastOnce, id: 1, retain: true))
        store.completeAll()
        #expect(try publisher.received() == [.puback(packetID: 1)])
        try publisher.send(publish("status", "B", qos: .atLeastOnce, id: 2, retain: true))
        store.failAll()
        let subscriber = try TestClient(broker: broker, principal: ind)
        _ = try subscriber.connect("ind")
        try subscriber.send(.subscribe(.init(packetID: 1, subscriptions: [("status", .atLeastOnce)])))
        let retained = TestClient.publishes(try subscriber.received()).map { String(buffer: $0.payload) }
        #expect(retained == ["A"])
    }

    @Test func aQoS2MessageIsNotDeliveredBeforeItIsDurable() throws {
        let (store, _, subscriber, publisher) = try qos2Subscriber()
        try publisher.send(publish("t", "x", qos: .exactlyOnce, id: 9))
        #expect(try subscriber.received().isEmpty)
        store.completeAll()
        #expect(try publisher.received() == [.pubrec(packetID: 9)])
        #expect(try subscriber.received().count == 1)
        #expect(store.state.sessions.first { $0.clientID == "p" }?.inboundQoS2 == [9])
        try publisher.send(.pubrel(packetID: 9))
        #expect(try publisher.received().isEmpty)  // PUBCOMP waits until the id is free in the store
        store.completeAll()
        #expect(try publisher.received() == [.pubcomp(packetID: 9)])
        #expect(store.state.sessions.first { $0.clientID == "p" }?.inboundQoS2 == [])
    }

    /// A session still connected when the hub crashed lost its connection then, not at the restart: its expiry
    /// counts from the last time the hub recorded itself alive (housekeeping, every few seconds). It was kept for the
    /// downtime plus its whole interval.
    @Test func aSessionConnectedAtACrashExpiresFromTheCrash() throws {
        for (downSeconds, present) in [(40.0, false), (20.0, true)] {
            let store = ManualStore()
            let clock = TestClock()
            do {
                let broker = try Broker(authorizer: TestAuthorizer(), store: store, clock: clock.read)
                let client = try TestClient(broker: broker, principal: ind)
                client.speakMQTT5()
                try client.send(
                    .connect(
                        .init(
                            version: .v5, clientID: "ind-desk", cleanStart: false,
                            properties: [.sessionExpiryInterval(30)])))
                store.completeAll()
                broker.housekeeping()
                store.completeAll()
                #expect(store.state.lastAlive == clock.read())
            }
            // The crash: the connection is never closed, the store keeps what it had.
            clock.advance(seconds: downSeconds)
            let broker = try Broker(authorizer: TestAuthorizer(), store: store, clock: clock.read)
            let again = try TestClient(broker: broker, principal: ind)
            _ = try again.connect5("ind-desk", cleanStart: false)
            store.completeAll()
            let connack = TestClient.connack(try again.received())
            #expect(connack?.sessionPresent == present, "down \(downSeconds) s")
        }
    }

    /// A stored session's message from a shared subscription still belongs to the group after a restart: when the
    /// session ends unacknowledged, the group's next member gets it (MQTT 5 4.8.2).
    @Test func aSharedMessageOutlivesItsSessionAcrossARestart() throws {
        let store = ManualStore()
        do {
            let broker = try Broker(authorizer: TestAuthorizer(), store: store)
            let member = try TestClient(broker: broker, principal: kaz)
            _ = try member.connect5("kaz-desk", cleanStart: false, properties: [.sessionExpiryInterval(600)])
            store.completeAll()
            _ = try member.subscribe("$share/g/t", .init(qos: .atLeastOnce))
            store.completeAll()
            _ = try member.received()
            let publisher = try TestClient(broker: broker, principal: ind, loop: member.loop)
            _ = try publisher.connect5("pub")
            try publisher.send(publish5("t", "for the group", qos: .atLeastOnce, id: 1))
            store.completeAll()
            #expect(TestClient.publishes(try member.received()).count == 1)  // sent, never acknowledged
        }
        let broker = try Broker(authorizer: TestAuthorizer(), store: store)
        let other = try TestClient(broker: broker, principal: ind)
        _ = try other.connect5("ind-desk")
        _ = try other.subscribe("$share/g/t", .init(qos: .atLeastOnce))
        // The first member comes back with a Clean Start: its session, and the message, would end there.
        let member = try TestClient(broker: broker, principal: kaz, loop: other.loop)
        _ = try member.connect5("kaz-desk")
        store.completeAll()
        let passedOn = TestClient.publishes(try other.received())
        #expect(passedOn.map { String(buffer: $0.payload) } == ["for the group"])
        #expect(passedOn.first?.qos == .atLeastOnce)
    }

    /// A retained QoS 1 or 2 copy that a SUBSCRIBE sent is session state like any delivery: unacknowledged, it is
    /// sent again after a restart [MQTT-4.4.0-1], and the QoS 2 copy leaves only once its packet id is stored.
    /// Both were lost at a restart (the copies were never stored).
    @Test func anUnacknowledgedRetainedCopyIsSentAgainAfterARestart() throws {
        let store = ManualStore()
        var sent: [MQTTPacket.Publish] = []
        do {
            let broker = try Broker(authorizer: TestAuthorizer(), store: store)
            let publisher = try TestClient(broker: broker, principal: kaz)
            _ = try publisher.connect("kaz")
            try publisher.send(publish("contingents/IND/a", "qos 1", qos: .atLeastOnce, id: 1, retain: true))
            try publisher.send(publish("contingents/IND/b", "qos 2", qos: .exactlyOnce, id: 2, retain: true))
            store.completeAll()
            let subscriber = try TestClient(broker: broker, principal: ind, loop: publisher.loop)
            _ = try subscriber.connect("ind-desk", clean: false)
            store.completeAll()
            #expect(try subscriber.received() == [accepted])
            try subscriber.send(.subscribe(.init(packetID: 1, subscriptions: [("contingents/IND/#", .exactlyOnce)])))
            let early = try subscriber.received()
            #expect(early.isEmpty, "\(early)")  // the SUBACK waits for the subscription's commit
            for _ in 0..<3 {
                store.completeAll()
                sent += TestClient.publishes(try subscriber.received())
            }
            #expect(Set(sent.map { String(buffer: $0.payload) }) == ["qos 1", "qos 2"])
        }
        let broker = try Broker(authorizer: TestAuthorizer(), store: store)
        let subscriber = try TestClient(broker: broker, principal: ind)
        let packets = try subscriber.connect("ind-desk", clean: false)
        #expect(packets.first == .connack(.init(sessionPresent: true, reasonCode: .success)))
        // In the order first sent, with the same ids [MQTT-4.6.0-1].
        let again = TestClient.publishes(packets)
        #expect(again.map { String(buffer: $0.payload) } == sent.map { String(buffer: $0.payload) })
        #expect(again.map(\.packetID) == sent.map(\.packetID))
        #expect(again.allSatisfy { $0.duplicate && $0.retain })
    }

    /// QoS 2 deliveries waiting for their message's commit count against the queue's limit: they all passed the
    /// check while a commit was pending, and a stored session held 28 or 64 messages against a limit of 10.
    @Test func qos2MessagesWaitingForTheirCommitCountAgainstTheQueue() throws {
        let store = ManualStore()
        let (broker, publisher) = try publisherToAnAwayInbox(.exactlyOnce, maximumQueued: 3, store: store)
        for id in 1...10 {
            try publisher.send(publish5("contingents/IND/inbox", "m\(id)", qos: .exactlyOnce, id: UInt16(id)))
        }
        store.completeAll()
        let codes = try publisher.received().compactMap {
            if case .pubrec(let ack) = $0 { ack.reasonCode } else { nil }
        }
        #expect(codes == Array(repeating: .success, count: 3) + Array(repeating: .quotaExceeded, count: 7))
        #expect(broker.sessionSummaries().first { $0.clientID == "ind-away" }?.queued == 3)
    }

    /// A client reconnecting to its full session is not refused as one that does not keep up when a message arrives
    /// while its CONNECT is stored: it got CONNACK 0x97 every time while publishers went on, and could never drain.
    @Test func aReconnectToAFullSessionIsNotRefusedAsSlow() throws {
        let store = ManualStore()
        let broker = try Broker(configuration: .init(maximumQueued: 1), authorizer: TestAuthorizer(), store: store)
        let away = try TestClient(broker: broker, principal: ind)
        _ = try away.connect5("ind-away", cleanStart: false, properties: [.sessionExpiryInterval(600)])
        _ = try away.subscribe("contingents/IND/inbox", .init(qos: .atLeastOnce))
        store.completeAll()
        _ = try away.received()
        try away.send(.disconnect(.init()))
        let publisher = try TestClient(broker: broker, principal: kaz, loop: away.loop)
        _ = try publisher.connect5("kaz")
        try publisher.send(publish5("contingents/IND/inbox", "queued", qos: .atLeastOnce, id: 1))
        store.completeAll()
        let back = try TestClient(broker: broker, principal: ind, loop: away.loop)
        var packets = try back.connect5("ind-away", cleanStart: false, properties: [.sessionExpiryInterval(600)])
        // The session is being stored again when the next message comes: the queue is full.
        try publisher.send(publish5("contingents/IND/inbox", "refused", qos: .atLeastOnce, id: 2))
        store.completeAll()
        packets += try back.received()
        guard case .connack(let connack) = packets.first else {
            Issue.record("no CONNACK: \(packets)")
            return
        }
        #expect(connack.reasonCode == .success)
        #expect(TestClient.publishes(packets).map { String(buffer: $0.payload) } == ["queued"])
        #expect(back.isOpen)
    }

    /// A QoS 1 PUBLISH does not overtake a QoS 2 one waiting for its packet id to be stored: it went first, and a
    /// reconnect then sent them again in the order of their ids, not the order first sent [MQTT-4.6.0-1].
    @Test func unacknowledgedMessagesAreSentAgainInTheOrderFirstSent() throws {
        let store = ManualStore()
        func payloads(_ packets: [MQTTPacket]) -> [String] {
            TestClient.publishes(packets).map { String(buffer: $0.payload) }
        }
        var first: [String] = []
        do {
            let broker = try Broker(authorizer: TestAuthorizer(), store: store)
            let subscriber = try TestClient(broker: broker, principal: ind)
            _ = try subscriber.connect("ind-desk", clean: false)
            try subscriber.send(
                .subscribe(.init(packetID: 1, subscriptions: [("contingents/IND/inbox", .exactlyOnce)])))
            store.completeAll()
            _ = try subscriber.received()
            try subscriber.channel.close().wait()
            // Queued while the subscriber is away: QoS 2, 1, 2.
            let publisher = try TestClient(broker: broker, principal: kaz, loop: subscriber.loop)
            _ = try publisher.connect("kaz")
            for (index, qos) in [QoS.exactlyOnce, .atLeastOnce, .exactlyOnce].enumerated() {
                try publisher.send(publish("contingents/IND/inbox", "m\(index + 1)", qos: qos, id: UInt16(index + 1)))
                store.completeAll()
            }
            let back = try TestClient(broker: broker, principal: ind, loop: subscriber.loop)
            first = payloads(try back.connect("ind-desk", clean: false))
            for _ in 0..<4 {
                store.completeAll()
                first += payloads(try back.received())
            }
            #expect(first == ["m1", "m2", "m3"])
            try back.channel.close().wait()
            let again = try TestClient(broker: broker, principal: ind, loop: subscriber.loop)
            #expect(payloads(try again.connect("ind-desk", clean: false)) == first)
            try again.channel.close().wait()
        }
        let broker = try Broker(authorizer: TestAuthorizer(), store: store)
        let restarted = try TestClient(broker: broker, principal: ind)
        #expect(payloads(try restarted.connect("ind-desk", clean: false)) == first)
    }

    @Test func aRestartedBrokerRestoresSessionsQueuesInflightAndRetained() throws {
        let store = ManualStore()
        do {
            let broker = try Broker(authorizer: TestAuthorizer(), store: store)
            let subscriber = try TestClient(broker: broker, principal: ind)
            try subscriber.send(.connect(.init(clientID: "ind-desk", cleanStart: false)))
            try subscriber.send(.subscribe(.init(packetID: 1, subscriptions: [("contingents/IND/#", .exactlyOnce)])))
            store.completeAll()
            _ = try subscriber.received()
            let publisher = try TestClient(broker: broker, principal: kaz)
            try publisher.send(.connect(.init(clientID: "kaz", cleanStart: false)))
            try publisher.send(publish("contingents/IND/inbox", "in flight", qos: .atLeastOnce, id: 1))
            store.completeAll()
            let delivered = try subscriber.received()
            #expect(delivered.count == 1)  // sent, never acknowledged
            try subscriber.channel.close().wait()
            try publisher.send(publish("contingents/IND/inbox", #"{"precedence":"FLASH","body":1}"#, qos: .exactlyOnce, id: 2))
            try publisher.send(publish("hub/broadcast/status", "up", retain: true))
            try publisher.send(publish("contingents/IND/inbox", "qos2 pending release", qos: .exactlyOnce, id: 3))
            store.completeAll()
            _ = try publisher.received()
        }
        // The "crash": a new broker over what the store kept.
        let broker = try Broker(authorizer: TestAuthorizer(), store: store)
        #expect(broker.messagesHeld == (queued: 2, inflight: 1))
        let subscriber = try TestClient(broker: broker, principal: ind)
        var packets = try subscriber.connect("ind-desk", clean: false)
        #expect(packets.first == .connack(.init(sessionPresent: true, reasonCode: .success)))
        // The queued QoS 2 messages go out once their packet ids are stored.
        store.completeAll()
        packets += try subscriber.received()
        let publishes = packets.compactMap { packet -> MQTTPacket.Publish? in
            if case .publish(let message) = packet { return message }
            return nil
        }
        #expect(publishes.map { String(buffer: $0.payload) } == [
            "in flight", #"{"precedence":"FLASH","body":1}"#, "qos2 pending release",
        ])
        #expect(publishes.first?.duplicate == true)
        #expect(broker.messagesHeld == (queued: 0, inflight: 3))
        // The publisher's unreleased QoS 2 id survived: a resend is acknowledged, not delivered.
        let publisher = try TestClient(broker: broker, principal: kaz)
        _ = try publisher.connect("kaz", clean: false)
        try publisher.send(publish("contingents/IND/inbox", "qos2 pending release", qos: .exactlyOnce, id: 3))
        store.completeAll()
        #expect(try publisher.received() == [.pubrec(packetID: 3)])
        #expect(try subscriber.received().isEmpty)
        // Retained messages are back too.
        try subscriber.send(.subscribe(.init(packetID: 2, subscriptions: [("hub/broadcast/#", .atMostOnce)])))
        store.completeAll()
        #expect(try subscriber.received().last == publish("hub/broadcast/status", "up", retain: true))
    }
}

@Suite struct OutboundQoS2DurabilityTests {
    /// A QoS 2 PUBLISH to a persistent session leaves only once its packet id is stored, and
    /// PUBREL only once the PUBREC is: after a crash the hub resends the same packet id (or
    /// PUBREL), never the message as a new one.
    @Test func qos2PublishAndPubrelWaitForTheStore() throws {
        let store = ManualStore()
        let broker = try Broker(authorizer: TestAuthorizer(), store: store)
        let subscriber = try TestClient(broker: broker, principal: .contingent("IND"))
        try subscriber.send(.connect(.init(clientID: "ind-desk", cleanStart: false)))
        try subscriber.send(.subscribe(.init(packetID: 1, subscriptions: [("t", .exactlyOnce)])))
        store.completeAll()
        _ = try subscriber.received()
        broker.publishAsHub(BrokerMessage(topic: "t", payload: payload("x"), qos: .exactlyOnce))
        store.completeAll()  // the message is durable and queued; its packet id is not stored yet
        #expect(try subscriber.received().isEmpty)
        store.completeAll()
        let delivered = try subscriber.received()
        guard case .publish(let message) = delivered.first, let id = message.packetID else {
            Issue.record("no delivery after the commit: \(delivered)")
            return
        }
        #expect(store.state.sessions.first?.deliveries.first?.stage == .awaitingPubrec)
        try subscriber.send(.pubrec(packetID: id))
        #expect(try subscriber.received().isEmpty)
        store.completeAll()
        #expect(try subscriber.received() == [.pubrel(packetID: id)])
        #expect(store.state.sessions.first?.deliveries.first?.stage == .awaitingPubcomp)
        try subscriber.send(.pubcomp(packetID: id))
        store.completeAll()
        #expect(store.state.sessions.first?.deliveries.isEmpty == true)
    }
}
