import NIOCore
import PeaceHubCore
import Testing

@testable import PeaceHubMQTT

/// A message's shared fields live in one object that its copies share; a copy changed must not change another.
@Suite struct BrokerMessageTests {
    let original = BrokerMessage(
        topic: "missions/UNIFIL/chat", payload: ByteBuffer(string: "first"), qos: .atLeastOnce, retain: true,
        publisher: .contingent("KAZ"), publisherClientID: "kaz-1", properties: [.contentType("text/plain")],
        expiresAt: 1_000)

    @Test func aChangedCopyLeavesTheOriginalAsItWas() {
        var copy = original
        copy.payload = ByteBuffer(string: "second")
        copy.topic = "contingents/IND/inbox"
        copy.properties = []
        copy.precedence = .flash
        copy.publisher = nil
        copy.publisherClientID = nil
        copy.expiresAt = nil
        #expect(original.payload == ByteBuffer(string: "first"))
        #expect(original.topic == "missions/UNIFIL/chat")
        #expect(original.properties == [.contentType("text/plain")])
        #expect(original.precedence == .routine)
        #expect(original.publisher == .contingent("KAZ"))
        #expect(original.publisherClientID == "kaz-1")
        #expect(original.expiresAt == 1_000)
        #expect(copy.payload == ByteBuffer(string: "second"))
        #expect(copy.publisher == nil)
        #expect(copy != original)
    }

    @Test func theQoSAndRetainFlagOfADeliveryAreItsOwn() {
        var delivery = original
        delivery.qos = .atMostOnce
        delivery.retain = false
        #expect(original.qos == .atLeastOnce && original.retain)
        #expect(delivery != original)
        delivery.qos = .atLeastOnce
        delivery.retain = true
        #expect(delivery == original)
    }

    @Test func equalMessagesNeedNotShareTheirFields() {
        let again = BrokerMessage(
            topic: "missions/UNIFIL/chat", payload: ByteBuffer(string: "first"), qos: .atLeastOnce, retain: true,
            publisher: .contingent("KAZ"), publisherClientID: "kaz-1", properties: [.contentType("text/plain")],
            expiresAt: 1_000)
        #expect(again == original)
    }

    @Test func theMissionLabelFollowsTheTopic() {
        var message = original
        #expect(message.mission == "UNIFIL")
        message.topic = "missions/MINURSO/reports/patrol"
        #expect(message.mission == "MINURSO")
        #expect(original.mission == "UNIFIL")
        message.topic = "contingents/KAZ/inbox"
        #expect(message.mission == "none")
    }
}
