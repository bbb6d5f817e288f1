import Foundation
import PeaceHubTesting
import Testing

/// MQTT 5.0 against the real `peacehub serve` binary: the scenarios of `Fixtures/mqtt5_scenarios.py` (paho-mqtt and
/// raw TLS sockets, written from the OASIS MQTT 5.0 standard and the hub's MQTT 5 decisions) and the mosquitto
/// clients in 5.0 mode. These share one hub: every scenario uses topics and client ids of its own.
@Suite(.serialized, .sharedHub) struct MQTT5ScenarioTests {
    @Test(arguments: [
        "connack_properties", "reason_not_authorized", "module_rejection", "message_expiry", "topic_alias_inbound",
        "topic_alias_outbound", "receive_maximum", "shared_subscriptions", "no_local", "retain_handling",
        "request_response", "user_properties", "will_delay", "interop_v311_v5", "malformed_v5",
    ])
    func scenario(_ name: String) throws {
        let hub = try #require(SharedHub.current)
        expectSuccess(try runScenario(name, on: hub), name, on: hub)
    }

    // The mosquitto clients (Debian mosquitto-clients 2.0.11) in MQTT 5.0 mode.

    @Test func mosquittoClientsCarryUserPropertiesThroughTheHub() throws {
        let hub = try #require(SharedHub.current)
        let topic = "missions/UNIFIL/chat/mosquitto-user-properties"
        let subscriber = try MosquittoSubscriber(
            hub, as: "IND", ["-t", topic, "-q", "1", "-C", "1", "-W", "20", "-F", "%t|%P|%p"])
        let output = try subscriber.output(
            whilePublishing: [
                "-t", topic, "-q", "1", "-m", "salem", "-D", "publish", "user-property", "unit", "KAZBATT",
                "-D", "publish", "user-property", "unit", "relay",
            ], as: "KAZ")
        #expect(output.contains("\(topic)|unit:KAZBATT unit:relay|salem"), "\(output)\n\(hub.logText.suffix(2000))")
    }

    /// An operator reads the broker's state under `$SYS/broker/` with mosquitto_sub, as from mosquitto; a
    /// contingent may not.
    @Test func operatorsReadSystemTopicsWithMosquittoSub() throws {
        let hub = try #require(SharedHub.current)
        let result = try ProcessRunner.run(
            "mosquitto_sub",
            hub.mosquittoArguments(as: "operator:duty") + ["-t", "$SYS/broker/#", "-C", "10", "-W", "30", "-v"],
            timeout: 60)
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        let topics = Set(result.stdout.split(separator: "\n").map { String($0.prefix { $0 != " " }) })
        #expect(topics.contains("$SYS/broker/version"), "\(result.stdout)")
        #expect(topics.contains("$SYS/broker/clients/connected"), "\(result.stdout)")
        let refused = try ProcessRunner.run(
            "mosquitto_sub", hub.mosquittoArguments(as: "KAZ") + ["-t", "$SYS/broker/#", "-C", "1", "-W", "5"],
            timeout: 60)
        #expect(refused.stderr.contains("All subscription requests were denied"), "\(refused.stdout)\(refused.stderr)")
    }

    @Test func mosquittoPubShowsTheNotAuthorizedReason() throws {
        let hub = try #require(SharedHub.current)
        let result = try ProcessRunner.run(
            "mosquitto_pub",
            hub.mosquittoArguments(as: "KAZ") + ["-t", "contingents/IND/notices", "-q", "1", "-m", "not mine"],
            timeout: 30)
        let output = result.stdout + result.stderr
        #expect(output.contains("Publish 1 failed: Not authorized"), "\(output)")
    }

    /// A message whose Message Expiry Interval passes while its subscriber is offline is not delivered; one with
    /// time left arrives with what is left.
    @Test func mosquittoPubMessageExpiry() throws {
        let hub = try #require(SharedHub.current)
        let topic = "missions/UNIFIL/chat/mosquitto-expiry"
        let session = ["-c", "-i", "ind-mosquitto-expiry", "-x", "300", "-t", topic, "-q", "1"]
        let subscribe = try ProcessRunner.run(
            "mosquitto_sub", hub.mosquittoArguments(as: "IND") + session + ["-E"], timeout: 30)
        try #require(subscribe.status == 0, "\(subscribe.stdout)\(subscribe.stderr)")
        for (message, interval) in [("short-lived", "1"), ("long-lived", "60")] {
            let publish = try ProcessRunner.run(
                "mosquitto_pub",
                hub.mosquittoArguments(as: "KAZ")
                    + ["-t", topic, "-q", "1", "-m", message, "-D", "publish", "message-expiry-interval", interval],
                timeout: 30)
            try #require(publish.status == 0, "\(publish.stdout)\(publish.stderr)")
        }
        Thread.sleep(forTimeInterval: 2)  // the 1 s interval has to pass
        let resume = try ProcessRunner.run(
            "mosquitto_sub", hub.mosquittoArguments(as: "IND") + session + ["-C", "1", "-W", "20", "-F", "%p|%E"],
            timeout: 30)
        let line = resume.stdout.split(separator: "\n").first.map(String.init) ?? ""
        let parts = line.split(separator: "|")
        #expect(parts.first == "long-lived", "\(resume.stdout)\(resume.stderr)")
        #expect(parts.count == 2 && (Int(parts[1]).map { $0 > 0 && $0 <= 58 } ?? false), "remaining interval: \(line)")
    }
}

/// The MQTT 5.0 scenarios that need a hub of their own: started with configuration keys, or restarted.
@Suite(.serialized) struct MQTT5ConfiguredHubTests {
    /// The limits the configured hubs start with, and that the scenarios are told.
    static let connectionLimit = 3
    static let maximumPacketSize = 1024

    /// The refusals, one of them from a hub with a low `mqtt.maximumConnectionsPerPrincipal`.
    @Test func connackReasonCodes() throws {
        let hub = try HubProcess(configuration: ["mqtt": ["maximumConnectionsPerPrincipal": Self.connectionLimit]])
        defer { hub.remove() }
        let result = try runScenario("connack_codes", on: hub, extra: ["--limit", String(Self.connectionLimit)])
        expectSuccess(result, "connack_codes", on: hub)
    }

    /// Takeover, Keep Alive and the packet size limits, on a hub with a small `mqtt.maximumPacketSize`.
    @Test func serverSentDisconnects() throws {
        let hub = try HubProcess(configuration: ["mqtt": ["maximumPacketSize": Self.maximumPacketSize]])
        defer { hub.remove() }
        let result = try runScenario(
            "server_disconnects", on: hub, extra: ["--max-packet", String(Self.maximumPacketSize)])
        expectSuccess(result, "server_disconnects", on: hub)
    }

    /// The same configured limits as MQTT 3.1.1 clients meet them: what already holds before MQTT 5, and the proof
    /// that the configuration reaches the hubs the MQTT 5 tests start.
    @Test func configuredLimitsApplyToMQTT311Clients() throws {
        let limits: [String: Any] = [
            "maximumConnectionsPerPrincipal": Self.connectionLimit, "maximumPacketSize": Self.maximumPacketSize,
        ]
        let hub = try HubProcess(configuration: ["mqtt": limits])
        defer { hub.remove() }
        let told = ["--limit", String(Self.connectionLimit), "--max-packet", String(Self.maximumPacketSize)]
        expectSuccess(try runScenario("limits_v311", on: hub, extra: told), "limits_v311", on: hub)
    }

    /// A session with a Session Expiry Interval is stored and outlives a restart (SIGTERM, then the same port and
    /// files); a 2 s one has expired by the time it is resumed; a will waiting out its delay across the restart is
    /// published when the delay has passed.
    @Test func sessionsOutliveARestartUntilTheyExpire() throws {
        let hub = try HubProcess()
        defer { hub.remove() }
        let state = ["--out", hub.data.path("session-expiry.json")]
        let prepared = try runScenario("session_expiry_prepare", on: hub, extra: state)
        expectSuccess(prepared, "session_expiry_prepare", on: hub)
        try #require(prepared.status == 0)
        hub.stop()
        try hub.start(port: hub.port)
        expectSuccess(try runScenario("session_expiry_resume", on: hub, extra: state), "session_expiry_resume", on: hub)
    }
}

private let scenarioScript = TestEnvironment.packageRoot.appendingPathComponent(
    "Tests/PeaceHubServerTests/Fixtures/mqtt5_scenarios.py").path

private func runScenario(_ scenario: String, on hub: HubProcess, extra: [String] = []) throws -> ProcessResult {
    try ProcessRunner.run(
        "python3", [scenarioScript, scenario, "--port", String(hub.port), "--pki", hub.pkiDirectory.path] + extra,
        timeout: 120)
}

private func expectSuccess(
    _ result: ProcessResult, _ scenario: String, on hub: HubProcess, sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(
        result.status == 0 && result.stdout.contains("OK \(scenario)"),
        "\(scenario): \(result.stdout)\(result.stderr)\n--- hub log ---\n\(hub.logText.suffix(3000))",
        sourceLocation: sourceLocation)
}

/// One hub for a whole suite: started before its first test, removed after its last, and reached by the tests
/// through `SharedHub.current`.
struct SharedHub: SuiteTrait, TestScoping {
    @TaskLocal static var current: HubProcess?

    func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        let hub = try HubProcess()
        defer { hub.remove() }
        try await Self.$current.withValue(hub, operation: function)
    }
}

extension Trait where Self == SharedHub {
    static var sharedHub: Self { Self() }
}

extension HubProcess {
    /// `-V mqttv5` and the TLS options of `mosquitto_pub`/`mosquitto_sub` for a contingent code or `operator:<name>`.
    fileprivate func mosquittoArguments(as who: String) -> [String] {
        let (folder, name) = who.hasPrefix("operator:") ? ("operators", String(who.dropFirst(9))) : ("contingents", who)
        let pki = pkiDirectory.path
        return [
            "-V", "mqttv5", "-h", "127.0.0.1", "-p", String(port), "--cafile", "\(pki)/ca.pem",
            "--cert", "\(pki)/\(folder)/\(name).pem", "--key", "\(pki)/\(folder)/\(name).key",
        ]
    }
}

/// A `mosquitto_sub` in the background; its output is read once it ends.
private struct MosquittoSubscriber {
    let hub: HubProcess
    let process = Process()
    let output: URL

    init(_ hub: HubProcess, as who: String, _ arguments: [String]) throws {
        self.hub = hub
        output = hub.data.url.appendingPathComponent("sub-\(UUID().uuidString).txt")
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["mosquitto_sub"] + hub.mosquittoArguments(as: who) + arguments
        let handle = try FileHandle(forWritingTo: output)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
    }

    /// Publishes with `mosquitto_pub` until the subscriber has ended (its subscription may not be active yet when
    /// the first message goes out), then returns what the subscriber printed.
    func output(whilePublishing arguments: [String], as who: String) throws -> String {
        let deadline = Date().addingTimeInterval(20)
        while process.isRunning, Date() < deadline {
            _ = try ProcessRunner.run("mosquitto_pub", hub.mosquittoArguments(as: who) + arguments, timeout: 20)
            usleep(200_000)
        }
        process.waitUntilExit()
        return (try? String(contentsOf: output, encoding: .utf8)) ?? ""
    }
}
