import Foundation
import PeaceHubTesting
import Testing

/// The load generator of `make bench` against the real hub (debug build): a few hundred QoS 1 messages, every
/// one acknowledged and delivered. Checks the generator's MQTT and TLS paths, not speed.
@Suite struct BenchSmokeTests {
    @Test func loadGeneratorDeliversEveryMessageThroughTheHub() throws {
        let hub = try HubProcess()
        defer { hub.remove() }
        let bench = TestEnvironment.binDirectory.appendingPathComponent("peacehub-bench").path
        let result = try ProcessRunner.run(
            bench, ["smoke", "--port", String(hub.port), "--pki", hub.pkiDirectory.path, "--messages", "300"],
            timeout: 60)
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("published 300, acknowledged 300, delivered 300"), "\(result.stdout)")
    }
}
