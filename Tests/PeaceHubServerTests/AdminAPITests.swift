import Foundation
import PeaceHubHTTP
import PeaceHubPlugins
import PeaceHubRegistry
@testable import PeaceHubServer
import PeaceHubTesting
import Testing

/// The admin API (HTTPS, mutual TLS) and the monitoring listener of a real `peacehub serve`, checked against
/// `docs/admin-api.yaml` by `Fixtures/admin_api.py` (Python `ssl`/`http.client` with the contingents' and the
/// operator's certificates, openapi-schema-validator, prometheus_client).
@Suite(.serialized) final class AdminAPITests {
    let hub: HubProcess
    static let script = TestEnvironment.packageRoot.appendingPathComponent(
        "Tests/PeaceHubServerTests/Fixtures/admin_api.py").path
    static let spec = TestEnvironment.packageRoot.appendingPathComponent("docs/admin-api.yaml").path

    init() throws {
        hub = try HubProcess()
    }

    deinit {
        hub.remove()
    }

    static func run(_ scenario: String, on hub: HubProcess, extra: [String] = []) throws -> ProcessResult {
        try ProcessRunner.run(
            "python3",
            [
                script, scenario, "--admin-port", String(hub.adminPort), "--monitoring-port",
                String(hub.monitoringPort), "--mqtt-port", String(hub.port), "--pki", hub.pkiDirectory.path,
                "--spec", spec,
            ] + extra, timeout: 300)
    }

    /// Every operation of the document called as allowed and refused principals, every response validated against
    /// it, and the server's routes exactly the document's.
    @Test func everyOperationMatchesTheDocumentForAllowedAndRefusedCallers() throws {
        #expect(hub.adminPort > 0 && hub.monitoringPort > 0, "\(hub.logText)")
        let routes = hub.data.url.appendingPathComponent("routes.json")
        try JSONSerialization.data(withJSONObject: try Self.servedRoutes()).write(to: routes)
        let result = try Self.run("contract", on: hub, extra: ["--routes", routes.path])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)\n--- hub log ---\n\(hub.logText.suffix(3000))")
        #expect(result.stdout.contains("OK contract"))
        // An operator's DELETE /sessions is on record at the default level (it was a debug line).
        #expect(
            hub.logText.contains(#"client=api-test-kaz reason="session ended by operator:duty (admin API)""#),
            "\(hub.logText.suffix(3000))")
    }

    /// The routes the two listeners serve, as `METHOD pattern`.
    static func servedRoutes() throws -> [String: [String]] {
        let scratch = try TemporaryDirectory(prefix: "phub-routes")
        defer { scratch.remove() }
        let registry = try Registry(path: scratch.path("registry.sqlite"))
        let admin = AdminAPI(registry: registry, plugins: PluginHost(), broker: nil).router
        let monitoring = MonitoringAPI(checks: { [] }, exposition: { [] }).router
        return ["admin": admin.routes.map(\.name), "monitoring": monitoring.routes.map(\.name)]
    }

    @Test func metricsAreValidPrometheusTextAndCountRequests() throws {
        let result = try Self.run("metrics", on: hub)
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("OK metrics"))
    }

    @Test func readyWhenStoreListenerAndModulesAreUp() throws {
        let result = try Self.run("ready", on: hub, extra: ["--expect", "ready"])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        // The CRL's number is on record for the next start.
        let numbers = try Data(contentsOf: URL(fileURLWithPath: hub.data.path("crl-numbers.json")))
        #expect((try JSONSerialization.jsonObject(with: numbers) as? [String: Any])?.count == 1)
    }

    /// A client that sends its request and then its close_notify (TLS 1.3 half-closure) gets the answer.
    @Test func aRequestFollowedByCloseNotifyIsAnswered() throws {
        let result = try Self.run("half_close", on: hub)
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)\n\(hub.logText.suffix(2000))")
    }

    @Test func revokingACertificateClosesItsHTTPSConnection() throws {
        let result = try Self.run(
            "revocation", on: hub,
            extra: ["--peacehub", TestEnvironment.peacehubExecutable.path, "--data", hub.data.url.path])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)\n\(hub.logText.suffix(2000))")
    }

    /// `openssl s_client` without a client certificate gets the TLS alert and no HTTP answer; with the operator's
    /// certificate the same request is answered.
    @Test func opensslWithoutAClientCertificateIsRefused() throws {
        let pki = hub.pkiDirectory.path
        let request = Data("GET /me HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8)
        let base = ["s_client", "-connect", "127.0.0.1:\(hub.adminPort)", "-CAfile", "\(pki)/ca.pem", "-ign_eof"]
        let refused = try ProcessRunner.run("openssl", base, stdin: request, timeout: 30)
        #expect(!refused.stdout.contains("HTTP/1.1"), "\(refused.stdout)")
        #expect(refused.stderr.contains("certificate required"), "\(refused.stderr)")
        let allowed = try ProcessRunner.run(
            "openssl", base + ["-cert", "\(pki)/operators/duty.pem", "-key", "\(pki)/operators/duty.key"],
            stdin: request, timeout: 30)
        #expect(allowed.stdout.contains("HTTP/1.1 200 OK"), "\(allowed.stdout)\(allowed.stderr)")
        #expect(allowed.stdout.contains(#""principal":"operator:duty""#))
    }
}

/// A registry held by another writer past the wait (an import) is a 503 with `Retry-After`: it was a 500.
@Suite struct RegistryRefusalStatusTests {
    @Test func aBusyRegistryIsAWaitNotAFailure() {
        let refusal = AdminAPI.httpError(RegistryError(.busy, "another writer held the registry"))
        #expect(refusal.status == .serviceUnavailable)
        #expect(refusal.code.name == "registry_busy")
        #expect(refusal.headers["Retry-After"] == ["5"])
    }
}

/// What the running hub lends its modules: `publish` and `registry_get` answered unavailable in `serve` (the host
/// was made before the broker and the registry), and a module's counter named like the hub's own module metrics,
/// or a counter's name used for a timer, stopped the hub in the Prometheus registry.
@Suite struct ModuleServicesTests {
    @Test func modulesReachTheBrokerAndTheRegistryAndTheirMetricNamesCannotStopTheHub() throws {
        let plugins = try MissionPluginsLayout.freshCopy()
        defer { try? FileManager.default.removeItem(at: plugins) }
        try FixtureModules.build(.services, into: plugins)
        let hub = try HubProcess(extraArguments: ["--plugins", plugins.path])
        defer { hub.remove() }
        let result = try AdminAPITests.run("module_services", on: hub)
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)\n\(hub.logText.suffix(3000))")
        #expect(hub.logText.contains("module metric refused: peacehub_module_call_duration_seconds is the hub's own"))
        #expect(hub.logText.contains("module metric refused: peacehub_module_fixture_created is already a counter"))
    }
}

/// `/ready` is 503 naming `modules` when the plugins directory holds a module the host refused, and `store` or
/// `registry` when a database file was removed or replaced.
@Suite struct ReadinessFailureTests {
    @Test func aRefusedModuleMakesTheHubNotReady() throws {
        let plugins = try MissionPluginsLayout.freshCopy()
        defer { try? FileManager.default.removeItem(at: plugins) }
        // A changed library no longer matches its manifest's SHA-256: the host refuses it.
        let library = plugins.appendingPathComponent("libPeaceHubMINURSO.so")
        let handle = try FileHandle(forWritingTo: library)
        handle.seekToEndOfFile()
        handle.write(Data([0]))
        try handle.close()
        let hub = try HubProcess(extraArguments: ["--plugins", plugins.path])
        defer { hub.remove() }
        let result = try AdminAPITests.run("ready", on: hub, extra: ["--expect", "not_ready:modules"])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)\n\(hub.logText.suffix(2000))")
    }

    /// SQLite writes on to a file removed or replaced under the running hub, and what it writes is lost at the stop:
    /// `/ready` says so, where before it answered from the lost file.
    @Test func aDatabaseFileRemovedOrReplacedMakesTheHubNotReady() throws {
        let hub = try HubProcess()
        defer { hub.remove() }
        #expect(try AdminAPITests.run("ready", on: hub, extra: ["--expect", "ready"]).status == 0)
        let files = FileManager.default
        let registry = hub.data.url.appendingPathComponent("registry.sqlite")
        try files.moveItem(at: registry, to: hub.data.url.appendingPathComponent("registry.sqlite.moved"))
        let store = hub.data.url.appendingPathComponent("broker.sqlite")
        let copy = hub.data.url.appendingPathComponent("broker.sqlite.copy")
        try files.copyItem(at: store, to: copy)
        #expect(rename(copy.path, store.path) == 0)
        let result = try AdminAPITests.run("ready", on: hub, extra: ["--expect", "not_ready:store,registry"])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)\n\(hub.logText.suffix(2000))")
    }
}

/// The listeners follow the configuration: they can be switched off, and a port already taken stops the hub with
/// a line naming the listener.
@Suite(.serialized) final class HTTPListenerSettingsTests {
    @Test func disabledListenersAreNotStarted() throws {
        let hub = try HubProcess(environment: ["PEACEHUB_ADMIN_ENABLED": "false", "PEACEHUB_MONITORING_ENABLED": "no"])
        defer { hub.remove() }
        #expect(hub.port > 0)
        #expect(hub.adminPort == 0 && hub.monitoringPort == 0, "\(hub.logText)")
        #expect(!hub.logText.contains("Admin API on") && !hub.logText.contains("Monitoring on"))
    }

    @Test func aBusyPortIsNamedWithItsListener() throws {
        // A socket listening on 127.0.0.1 holds the port.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let listening = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && listen(fd, 1) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        try #require(listening)
        let taken = Int(UInt16(bigEndian: address.sin_port))
        // HubProcess gives `--port 0`; a later `--port` wins.
        let admin = (environment: ["PEACEHUB_ADMIN_PORT": String(taken)], arguments: [String]())
        let mqtt = (environment: [String: String](), arguments: ["--port", String(taken)])
        for (listener, setting) in [("admin", admin), ("MQTT", mqtt)] {
            do {
                let hub = try HubProcess(extraArguments: setting.arguments, environment: setting.environment)
                hub.remove()
                Issue.record("the hub listened on the busy port \(taken)")
            } catch {
                let said = "the \(listener) listener cannot listen on 127.0.0.1:\(taken): Address already in use"
                #expect("\(error)".contains(said + "\n") || "\(error)".hasSuffix(said), "\(error)")
            }
        }
    }
}
