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

    @Test func disconnectClosesTheLiveConnectionOnly() throws {
        let broker = try Broker(authorizer: TestAuthorizer())
        let client = try TestClient(broker: broker, principal: .operator("duty"))
        #expect(try client.connect("duty-1") == [accepted])
        #expect(broker.disconnect(clientID: "duty-1", reason: "test"))
        client.loop.run()
        #expect(!client.isOpen)
        #expect(!broker.disconnect(clientID: "duty-1", reason: "test"))
        #expect(!broker.disconnect(clientID: "nobody", reason: "test"))
    }
}
