import NIOCore
import PeaceHubCore
import Testing

@testable import PeaceHubMQTT

/// Which QoS 0 deliveries a session encodes as they are routed (`Session.takesEncoded`), and what it writes: the
/// publisher's event loop does that work once per subscriber, and the subscriber's loop only takes the bytes.
@Suite struct SessionEncodingTests {
    private func session(_ version: MQTTVersion) -> Session {
        let session = Session(clientID: "ind", owner: .contingent("IND"), expiryInterval: 0)
        session.connection = CountingConnection()
        session.version = version
        return session
    }

    private func message(_ text: String, properties: MQTTProperties = [], expiresAt: Int64? = nil) -> BrokerMessage {
        BrokerMessage(
            topic: "t", payload: payload(text), qos: .atMostOnce, properties: properties, expiresAt: expiresAt)
    }

    /// A 5.0 PUBLISH the same for every subscriber and at any moment goes encoded, with the message's properties;
    /// one that differs per subscriber (Subscription Identifiers, topic aliases), per moment (the expiry left) or
    /// is larger than the client takes is queued, where its connection fits it or drops it [MQTT-3.1.2-25].
    @Test func a50PublishTheSameForEverySubscriberGoesEncoded() throws {
        let properties: MQTTProperties = [.userProperty("b", "1"), .contentType("text/plain"), .userProperty("a", "2")]
        let plain = session(.v5)
        #expect(plain.takesEncoded(message("x", properties: properties), identifiers: []))
        plain.enqueueEncoded(message("x", properties: properties))
        plain.enqueueEncoded(message("y"))
        var bytes = try #require(plain.takeEncoded())
        var decoder = MQTTDecoder(maximumPacketSize: 1 << 20, role: .client, version: .v5)
        #expect(try decoder.decode(buffer: &bytes) == publish5("t", "x", properties: properties))
        #expect(try decoder.decode(buffer: &bytes) == publish5("t", "y"))
        #expect(bytes.readableBytes == 0)

        #expect(!plain.takesEncoded(message("x"), identifiers: [7]))
        #expect(!plain.takesEncoded(message("x", expiresAt: 1_800_000_060_000), identifiers: []))
        let aliased = session(.v5)
        aliased.takesTopicAliases = true
        #expect(!aliased.takesEncoded(message("x"), identifiers: []))
        // A PUBLISH on "t" with no properties and a payload of n bytes takes 6 + n bytes.
        let limited = session(.v5)
        limited.maximumPacketSize = 10
        #expect(limited.takesEncoded(message("1234"), identifiers: []))
        #expect(!limited.takesEncoded(message("12345"), identifiers: []))
        // Nothing goes encoded behind a queued delivery: it would overtake it.
        limited.enqueue(Session.Delivery(sequence: 1, messageID: 0, message: message("q")))
        #expect(!limited.takesEncoded(message("1"), identifiers: []))
    }

    /// A 3.1.1 PUBLISH has no properties, so what a 5.0 one would carry does not keep it from going encoded.
    @Test func a311PublishGoesEncodedWithoutProperties() throws {
        let classic = session(.v3_1_1)
        let message = message("x", properties: [.userProperty("a", "1")], expiresAt: 1_800_000_060_000)
        #expect(classic.takesEncoded(message, identifiers: [7]))
        classic.enqueueEncoded(message)
        var bytes = try #require(classic.takeEncoded())
        var decoder = MQTTDecoder(maximumPacketSize: 1 << 20, role: .client, version: .v3_1_1)
        #expect(try decoder.decode(buffer: &bytes) == publish("t", "x"))
    }
}
