import Foundation
import PeaceHubTesting
import Testing

/// The load generator of `make bench` against the real hub (debug build): a few hundred QoS 1 messages, every
/// one acknowledged and delivered, with each MQTT version. Checks the generator's MQTT and TLS paths, not speed.
/// The hub takes 8 PUBLISHes unacknowledged, fewer than the generator's window of 64: a 5.0 client that did not
/// keep the Receive Maximum of the hub's CONNACK would be disconnected [MQTT-3.3.4-7].
@Suite struct BenchSmokeTests {
    @Test(arguments: ["mqtt", "mqtt5"])
    func loadGeneratorDeliversEveryMessageThroughTheHub(wire: String) throws {
        let hub = try HubProcess(configuration: ["mqtt": ["receiveMaximum": 8]])
        defer { hub.remove() }
        let bench = TestEnvironment.binDirectory.appendingPathComponent("peacehub-bench").path
        let result = try ProcessRunner.run(
            bench,
            ["smoke", "--port", String(hub.port), "--pki", hub.pkiDirectory.path, "--messages", "300", "--wire", wire],
            timeout: 60)
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("published 300, acknowledged 300, delivered 300"), "\(result.stdout)")
    }
}
