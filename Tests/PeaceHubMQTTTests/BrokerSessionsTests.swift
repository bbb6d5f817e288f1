import NIOCore
import NIOEmbedded
import PeaceHubCore
import PeaceHubMQTT
import Testing

/// The operators' view of the broker's sessions (the admin API's `GET /sessions` and `DELETE /sessions/{id}`).
@Suite struct BrokerSessionsTests {
    @Test func summariesShowOwnerConnectionSubscriptionsAndQueue() throws {
        let broker = try Broker(authorizer: TestAuthorizer())
        let kaz = try TestClient(broker: broker, principal: .contingent("KAZ"))
        #expect(try kaz.connect("kaz-durable", clean: false) == [accepted])
        try kaz.send(.subscribe(.init(packetID: 1, subscriptions: [("contingents/KAZ/inbox", .atLeastOnce)])))
        _ = try kaz.received()
        try kaz.send(.disconnect(.init()))
        let ind = try TestClient(broker: broker, principal: .contingent("IND"))
        #expect(try ind.connect("ind-live") == [accepted])
        try ind.send(publish("contingents/KAZ/inbox", "waiting", qos: .atLeastOnce, id: 7))

        let summaries = broker.sessionSummaries()
        #expect(summaries.map(\.clientID) == ["ind-live", "kaz-durable"])
        let stored = try #require(summaries.last)
        #expect(stored.principal == "contingent:KAZ")
        #expect(!stored.connected)
        #expect(stored.persistent)
        #expect(stored.subscriptions == [.init(filter: "contingents/KAZ/inbox", qos: 1)])
        #expect(stored.queued == 1)
        #expect(summaries.first?.connected == true)
    }

    /// `GET /sessions` asks for one page: the sessions after the cursor, in the bytes' order of their client ids
    /// (ids that differ only in Unicode form are two), and no more than the page holds.
    @Test func summariesComeAPageAfterTheCursor() throws {
        let broker = try Broker(authorizer: TestAuthorizer())
        var clients: [TestClient] = []
        for clientID in ["kaz-b", "caf\u{E9}", "kaz-a", "cafe\u{301}", "cafe"] {
            let client = try TestClient(broker: broker, principal: .contingent("KAZ"))
            #expect(try client.connect(clientID) == [accepted])
            clients.append(client)
        }
        let inOrder = ["cafe", "cafe\u{301}", "caf\u{E9}", "kaz-a", "kaz-b"].map { Array($0.utf8) }
        #expect(broker.sessionSummaries().map { Array($0.clientID.utf8) } == inOrder)

        var pages: [[[UInt8]]] = []
        var cursor: String?
        repeat {
            let page = broker.sessionSummaries(after: cursor, limit: 2)
            pages.append(page.map { Array($0.clientID.utf8) })
            cursor = page.count == 2 ? page.last?.clientID : nil
        } while cursor != nil
        #expect(pages == [Array(inOrder[0..<2]), Array(inOrder[2..<4]), [inOrder[4]]])
        // A cursor that names no session (it ended) still pages from where it was.
        #expect(broker.sessionSummaries(after: "d", limit: 5).map(\.clientID) == ["kaz-a", "kaz-b"])
        #expect(broker.sessionSummaries(after: "kaz-b", limit: 5).isEmpty)
        #expect(clients.allSatisfy { $0.isOpen })
    }

    /// `DELETE /sessions/{id}` ends the session, connected or not: it only closed a connection, so a persistent
    /// session, its queue and its hold on the client id stayed (protocol.md promised an operator could free an id
    /// held by the wrong principal this way).
    @Test func endingASessionDiscardsItWhetherConnectedOrNot() throws {
        let store = ManualStore()
        let broker = try Broker(authorizer: TestAuthorizer(), store: store)
        let watcher = try TestClient(broker: broker, principal: .operator("duty"))
        _ = try watcher.connect("duty-watch")
        try watcher.send(.subscribe(.init(packetID: 1, subscriptions: [("contingents/KAZ/status", .atMostOnce)])))
        _ = try watcher.received()
        let will = MQTTPacket.Will(
            topic: "contingents/KAZ/status", payload: Array("gone".utf8), qos: .atMostOnce, retain: false)
        for connected in [true, false] {
            let client = try TestClient(broker: broker, principal: .contingent("KAZ"), loop: watcher.loop)
            _ = try client.connect("kaz-desk", clean: false, will: will)
            try client.send(.subscribe(.init(packetID: 1, subscriptions: [("contingents/KAZ/inbox", .atLeastOnce)])))
            store.completeAll()
            _ = try client.received()
            // Away: a normal DISCONNECT keeps the session and discards the will.
            if !connected { try client.send(.disconnect(.init())) }
            #expect(broker.endSession(clientID: "kaz-desk", reason: "test"), "\(connected)")
            store.completeAll()
            client.loop.run()
            #expect(!client.isOpen)
            #expect(!broker.sessionSummaries().contains { $0.clientID == "kaz-desk" }, "\(connected)")
            #expect(!store.state.sessions.contains { $0.clientID == "kaz-desk" }, "\(connected)")
            // A connection closed by the hub leaves its will.
            let wills = TestClient.publishes(try watcher.received()).map { String(buffer: $0.payload) }
            #expect(wills == (connected ? ["gone"] : []), "\(connected)")
            // The id is free: another principal may take it, and finds no session.
            let other = try TestClient(broker: broker, principal: .contingent("IND"), loop: watcher.loop)
            let packets = try other.connect("kaz-desk", clean: false)
            store.completeAll()
            #expect((packets + (try other.received())).first == accepted, "\(connected)")
            try other.send(.disconnect(.init()))
            #expect(broker.endSession(clientID: "kaz-desk", reason: "test"))
            store.completeAll()
        }
        #expect(!broker.endSession(clientID: "nobody", reason: "test"))
    }
}
