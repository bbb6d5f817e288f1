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

    /// `make bench`'s store section in small: messages stored and removed through the real broker store with
    /// group commit, in both layouts and durabilities. The command itself checks that the file holds exactly the
    /// messages stored and not yet removed, and fails otherwise.
    @Test(arguments: [("1", "8", "process-crash"), ("8", "1", "power-loss")])
    func storeWorkloadKeepsExactlyTheMessagesNotYetRemoved(sessions: String, inFlight: String, durability: String)
        throws
    {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("store-bench-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let bench = TestEnvironment.binDirectory.appendingPathComponent("peacehub-bench").path
        let result = try ProcessRunner.run(
            bench,
            [
                "store", "--directory", directory.path, "--sessions", sessions, "--in-flight", inFlight,
                "--durability", durability, "--backlog", "16", "--duration", "0.5",
            ],
            timeout: 60)
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        let stored = result.stdout.split(separator: "\n").first { $0.contains("storedPerSecond:") }
            .flatMap { Double($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) }
        #expect((stored ?? 0) > 0, "\(result.stdout)")
        // The store file goes with its folder.
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).isEmpty)
    }
}
