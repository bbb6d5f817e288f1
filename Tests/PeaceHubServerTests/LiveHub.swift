import Foundation
import Logging
import PeaceHubCore
import PeaceHubMQTT
import PeaceHubPlugins
import PeaceHubServer
import PeaceHubTLS
import PeaceHubTesting

/// A real hub on 127.0.0.1 (port 0) with its own PKI, the built mission modules and a store in a
/// temporary folder, for tests that drive it with real MQTT clients.
final class LiveHub {
    let scratch: TemporaryDirectory
    let pki: PKI
    let membership = TestMembership()
    let archive = MemoryArchive()
    let plugins: PluginHost
    private(set) var server: HubServer
    private var entries: [String: PKIIndex.Entry] = [:]

    /// `plugins` (default: the built mission modules) and `membership` (default: `self.membership`) replace the
    /// hub's; `configure` changes its configuration before it starts.
    init(
        contingents: [String] = ["KAZ", "IND", "TJK"], operators: [String] = ["duty"], plugins: PluginHost? = nil,
        membership: (any MissionMembership)? = nil, configure: (inout HubServer.Configuration) -> Void = { _ in }
    ) throws {
        scratch = try TemporaryDirectory(prefix: "phub-live")
        pki = PKI(directory: scratch.url.appendingPathComponent("pki"))
        try pki.initialize()
        let serverEntry = try pki.issueServer(hosts: ["localhost", "127.0.0.1"])
        for code in contingents { entries[code] = try pki.issueContingent(code) }
        for name in operators { entries["operator:\(name)"] = try pki.issueOperator(name) }
        self.plugins = plugins ?? {
            let host = PluginHost()
            host.loadDirectory(TestEnvironment.pluginsDirectory)
            return host
        }()
        var configuration = HubServer.Configuration(
            host: "127.0.0.1", port: 0,
            tls: .server(
                certificateFile: pki.url(serverEntry.certificatePath).path,
                privateKeyFile: pki.url(serverEntry.keyPath!).path,
                trustedCAFile: pki.caCertificateURL.path, crlFile: pki.crlURL.path),
            storePath: scratch.path("broker.sqlite"))
        configuration.threads = 2
        configure(&configuration)
        self.configuration = configuration
        self.serverMembership = membership ?? self.membership
        server = try HubServer(
            configuration: configuration, plugins: self.plugins, membership: serverMembership, archive: archive)
    }

    let configuration: HubServer.Configuration
    private let serverMembership: any MissionMembership

    var port: Int { server.port }

    /// Stops the hub and starts a new one over the same files (a restart).
    func restart() throws {
        server.shutdown()
        var configuration = self.configuration
        configuration.port = port
        server = try HubServer(configuration: configuration, plugins: plugins, membership: serverMembership, archive: archive)
    }

    /// The TLS options of `mosquitto_pub`/`mosquitto_sub` for a contingent code or `operator:<name>`.
    func tlsArguments(_ who: String) -> [String] {
        let entry = entries[who]!
        return [
            "-h", "127.0.0.1", "-p", String(port), "--cafile", pki.caCertificateURL.path, "--cert",
            pki.url(entry.certificatePath).path, "--key", pki.url(entry.keyPath!).path,
        ]
    }

    func certificate(_ who: String) -> PKIIndex.Entry { entries[who]! }

    func stop() {
        server.shutdown()
        scratch.remove()
    }
}

/// A `mosquitto_sub` running in the background; its output is read when it ends.
final class Subscriber {
    let process = Process()
    let output: URL

    init(_ hub: LiveHub, as who: String, topic: String, arguments: [String] = [], count: Int = 1, seconds: Int = 20) throws {
        output = hub.scratch.url.appendingPathComponent("sub-\(UUID().uuidString).txt")
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["mosquitto_sub"] + hub.tlsArguments(who) + ["-t", topic, "-C", String(count), "-W", String(seconds)] + arguments
        let handle = try FileHandle(forWritingTo: output)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
    }

    /// Waits for the subscriber to end (after `count` messages or its timeout) and returns its output.
    func finish() -> String {
        process.waitUntilExit()
        return (try? String(contentsOf: output, encoding: .utf8)) ?? ""
    }

    var isRunning: Bool { process.isRunning }
}

/// Publishes with `mosquitto_pub` until `subscriber` has ended, so a test does not depend on
/// when the subscription became active; returns the subscriber's output.
func publishUntilReceived(
    _ hub: LiveHub, as who: String, topic: String, message: String, qos: Int = 1, to subscriber: Subscriber
) throws -> String {
    let deadline = Date().addingTimeInterval(20)
    while subscriber.isRunning, Date() < deadline {
        _ = try ProcessRunner.run(
            "mosquitto_pub", hub.tlsArguments(who) + ["-t", topic, "-m", message, "-q", String(qos)], timeout: 20)
        usleep(200_000)
    }
    return subscriber.finish()
}
