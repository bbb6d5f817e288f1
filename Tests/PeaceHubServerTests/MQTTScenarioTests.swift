import Foundation
import PeaceHubTesting
import Testing

/// MQTT 3.1.1 against the real `peacehub serve` binary, driven by paho-mqtt and raw TLS sockets
/// (`Fixtures/mqtt_scenarios.py`): the acceptance scenarios of the messaging issue.
@Suite(.serialized) final class MQTTScenarioTests {
    let hub: HubProcess
    static let script = TestEnvironment.packageRoot.appendingPathComponent(
        "Tests/PeaceHubServerTests/Fixtures/mqtt_scenarios.py").path

    init() throws {
        hub = try HubProcess()
    }

    deinit {
        hub.remove()
    }

    func run(_ scenario: String, on hub: HubProcess, out: String? = nil, extra: [String] = []) throws -> ProcessResult {
        var arguments = [Self.script, scenario, "--port", String(hub.port), "--pki", hub.pkiDirectory.path,
                         "--db", hub.data.path("registry.sqlite")] + extra
        if let out { arguments += ["--out", out] }
        return try ProcessRunner.run("python3", arguments, timeout: 120)
    }

    @Test(arguments: [
        "qos_flows", "wildcards", "retained", "will", "keepalive", "persistent", "precedence", "takeover", "routing",
        "authorization", "malformed", "subscribe_then_publish",
    ])
    func scenario(_ name: String) throws {
        let result = try run(name, on: hub)
        #expect(result.status == 0, "\(name): \(result.stdout)\(result.stderr)\n--- hub log ---\n\(hub.logText.suffix(3000))")
        #expect(result.stdout.contains("OK \(name)"))
    }

    /// Ending KGZ's only UNIFIL deployment with the CLI takes KGZ out of UNIFIL's chat at once.
    @Test func aRegistryChangeAppliesToTheNextPacketWithoutARestart() throws {
        let access = ["--who", "KGZ", "--mission", "UNIFIL"]
        let before = try run("chat_access", on: hub, extra: access + ["--expect", "allowed"])
        #expect(before.status == 0, "\(before.stdout)")
        let list = try ProcessRunner.peacehub(["registry", "deploy", "list", "--json"], environment: hub.environment)
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]])
        let ids = rows.compactMap { row -> Int? in
            guard let deployment = row["deployment"] as? [String: Any], deployment["mission"] as? String == "UNIFIL",
                (row["subject"] as? String)?.hasPrefix("KGZ") == true, deployment["status"] as? String == "IN_MISSION"
            else { return nil }
            return deployment["id"] as? Int
        }
        try #require(!ids.isEmpty, "no KGZ deployment in UNIFIL in the seed data")
        for id in ids {
            let ended = try ProcessRunner.peacehub(
                ["registry", "deploy", "end", String(id), "--early", "--reason", "test"], environment: hub.environment)
            #expect(ended.status == 0, "\(ended.stderr)")
        }
        let after = try run("chat_access", on: hub, extra: access + ["--expect", "refused"])
        #expect(after.status == 0, "\(after.stdout)")
    }

    /// A QoS 1 message its connected subscriber acknowledges is answered before the store hold time and never
    /// written; one for a subscriber without a connection is written at once (real SQLite file, paho clients).
    @Test func aQoS1MessageItsSubscriberAcknowledgedNeverReachesTheStore() throws {
        let holding = try HubProcess(configuration: ["mqtt": ["storeHoldMicroseconds": 10_000_000]])
        defer { holding.remove() }
        let result = try run(
            "acknowledged_by_subscribers", on: holding, extra: ["--store", holding.data.path("broker.sqlite")])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("OK acknowledged_by_subscribers"))
    }

    @Test func aConnectionThatSendsNoConnectIsClosed() throws {
        let strict = try HubProcess(configuration: ["mqtt": ["connectTimeoutSeconds": 1]])
        defer { strict.remove() }
        let result = try run("connect_timeout", on: strict)
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("OK connect_timeout"))
    }

    @Test func acknowledgedMessagesSurviveSIGKILLWithoutQoS2Duplicates() throws {
        try crashWhileStreaming("stream")
    }

    /// With the subscriber connected, most PUBACKs answer the publisher before the store has the message
    /// (`PendingPuback`): what was acknowledged that way was received before the kill, and the rest after it.
    @Test func messagesAcknowledgedByAConnectedSubscriberSurviveSIGKILL() throws {
        try crashWhileStreaming("stream_live")
    }

    /// Streams with `scenario`, kills the hub with SIGKILL after 200 acknowledgements, restarts it, and checks that
    /// every acknowledged message reached the subscriber.
    private func crashWhileStreaming(_ scenario: String) throws {
        let acked = hub.data.path("acked.txt")
        #expect(try run("prepare", on: hub).status == 0)
        let stream = Process()
        stream.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        stream.arguments = ["python3", Self.script, scenario, "--port", String(hub.port), "--pki", hub.pkiDirectory.path, "--out", acked]
        stream.standardOutput = FileHandle.nullDevice
        stream.standardError = FileHandle.nullDevice
        try stream.run()
        // Kill the hub mid-stream, once a few hundred messages were acknowledged.
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            let lines = ((try? String(contentsOfFile: acked, encoding: .utf8)) ?? "").split(separator: "\n").count
            if lines >= 200 { break }
            usleep(20_000)
        }
        try hub.crashAndRestart()
        stream.waitUntilExit()
        let collect = try run("collect", on: hub, out: acked)
        #expect(collect.status == 0, "\(collect.stdout)\(collect.stderr)")
        #expect(collect.stdout.contains("lost 0, QoS 2 duplicates 0"), "\(collect.stdout)")
    }
}
