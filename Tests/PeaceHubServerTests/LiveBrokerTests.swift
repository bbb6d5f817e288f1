import Foundation
import PeaceHubTesting
import Testing

/// The hub over mutual TLS against the real mosquitto clients.
@Suite(.serialized) struct LiveBrokerTests {
    @Test func aDirectMessageReachesItsContingentOverMutualTLS() throws {
        let hub = try LiveHub()
        defer { hub.stop() }
        let subscriber = try Subscriber(hub, as: "IND", topic: "contingents/IND/inbox", arguments: ["-q", "1"])
        let output = try publishUntilReceived(hub, as: "KAZ", topic: "contingents/IND/inbox", message: "salem from KAZ", to: subscriber)
        #expect(output.contains("salem from KAZ"), "\(output)")
    }

    @Test func anotherContingentCannotReadAnInbox() throws {
        let hub = try LiveHub()
        defer { hub.stop() }
        let result = try ProcessRunner.run(
            "mosquitto_sub", hub.tlsArguments("TJK") + ["-t", "contingents/IND/inbox", "-C", "1", "-W", "3"], timeout: 20)
        // SUBACK 0x80: mosquitto_sub reports the refusal and gives up.
        #expect((result.stdout + result.stderr).contains("denied"), "\(result.stdout)\(result.stderr)")
        #expect(!result.timedOut)
    }

    @Test func aClientWithoutACertificateIsRefused() throws {
        let hub = try LiveHub()
        defer { hub.stop() }
        let result = try ProcessRunner.run(
            "mosquitto_pub",
            ["-h", "127.0.0.1", "-p", String(hub.port), "--cafile", hub.pki.caCertificateURL.path, "-t", "x", "-m", "y"],
            timeout: 20)
        #expect(result.status != 0)
    }
}
