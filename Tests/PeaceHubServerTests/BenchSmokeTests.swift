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

    /// `make bench`'s away section in small, with the hub killed (SIGKILL) while the messages wait: every one of the
    /// 16 sessions gets every message acknowledged before the crash (acknowledged only after commit).
    @Test func awayWorkloadLosesNothingAcrossACrash() throws {
        let hub = try HubProcess()
        defer { hub.remove() }
        let fill = try runAway(hub, ["--sessions", "16", "--messages", "200", "--phase", "fill"])
        #expect(fill["accepted"] == 200 && fill["refused"] == 0 && fill["expected"] == 3200, "\(fill)")
        try hub.crashAndRestart()
        let drain = try runAway(
            hub, ["--sessions", "16", "--messages", "200", "--phase", "drain", "--expected", "3200"])
        #expect(drain["delivered"] == 3200 && drain["lost"] == 0, "\(drain)")
    }

    /// Past a session's queue an MQTT 5 publisher is told with each PUBACK (0x97), and what was accepted arrives.
    @Test func awayWorkloadCountsWhatAFullQueueRefused() throws {
        let hub = try HubProcess(configuration: ["mqtt": ["maximumQueued": 50]])
        defer { hub.remove() }
        let result = try runAway(hub, ["--wire", "mqtt5", "--messages", "80"])
        #expect(result["accepted"] == 50 && result["refused"] == 30, "\(result)")
        #expect(result["delivered"] == 50 && result["lost"] == 0, "\(result)")
    }

    /// `peacehub-bench away` against `hub`: its "key: value" lines.
    private func runAway(_ hub: HubProcess, _ arguments: [String]) throws -> [String: Double] {
        let bench = TestEnvironment.binDirectory.appendingPathComponent("peacehub-bench").path
        let result = try ProcessRunner.run(
            bench, ["away", "--port", String(hub.port), "--pki", hub.pkiDirectory.path, "--client-prefix", "away-test"]
                + arguments,
            timeout: 60)
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        var values: [String: Double] = [:]
        for line in result.stdout.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            if parts.count == 2, let value = Double(parts[1].trimmingCharacters(in: .whitespaces)) {
                values[parts[0].trimmingCharacters(in: .whitespaces)] = value
            }
        }
        return values
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
