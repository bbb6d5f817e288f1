import Foundation
import GRDB
import PeaceHubTesting
import Testing

/// `peacehub serve` as an operator runs it: SIGTERM drains within the bound without losing an acknowledged
/// message; SIGHUP reloads the TLS material and the reloadable configuration keys; the logs hold no secret.
/// The real binary, real paho clients (`Fixtures/ops_scenarios.py`).
@Suite struct ServeLifecycleTests {
    static let script = TestEnvironment.packageRoot.appendingPathComponent(
        "Tests/PeaceHubServerTests/Fixtures/ops_scenarios.py").path

    static func arguments(_ scenario: String, _ hub: HubProcess, _ extra: [String]) -> [String] {
        [script, scenario, "--port", String(hub.port), "--pki", hub.pkiDirectory.path] + extra
    }

    static func run(_ scenario: String, on hub: HubProcess, _ extra: [String] = []) throws -> ProcessResult {
        try ProcessRunner.run("python3", arguments(scenario, hub, extra), timeout: 180)
    }

    static func background(_ scenario: String, on hub: HubProcess, _ extra: [String]) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3"] + arguments(scenario, hub, extra)
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    /// Connects UZB with the `hold` scenario (it waits for the hub to close the connection), then revokes UZB's
    /// certificate with `peacehub pki revoke`. The caller terminates the returned process.
    static func holdUZBAndRevokeIt(on hub: HubProcess) throws -> Process {
        let ready = hub.data.path("ready")
        let held = try background("hold", on: hub, ["--who", "UZB", "--ready", ready])
        do {
            try #require(waitFor(ready), "UZB did not connect")
            let revoked = try ProcessRunner.peacehub(["pki", "revoke", "--contingent", "UZB"], environment: hub.environment)
            try #require(revoked.status == 0, "\(revoked.stderr)")
        } catch {
            held.terminate()
            throw error
        }
        return held
    }

    static func waitFor(_ path: String, lines: Int = 0, seconds: TimeInterval = 60) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if let text = try? String(contentsOfFile: path, encoding: .utf8),
                text.split(separator: "\n").count >= lines
            {
                return true
            }
            usleep(20_000)
        }
        return false
    }

    /// The acceptance test of the drain: QoS 1 messages stream to IND's persistent session (live) while the hub
    /// gets SIGTERM; it exits 0 within the bound; restarted on the same files, every message whose PUBACK the
    /// publisher received reaches the subscriber.
    @Test func sigtermDrainsWithinTheBoundAndLosesNoAcknowledgedMessage() throws {
        let hub = try HubProcess(configuration: ["shutdownTimeoutSeconds": 5])
        defer { hub.remove() }
        let (acked, received, ready) = (hub.data.path("acked.txt"), hub.data.path("received.txt"), hub.data.path("ready"))
        let subscriber = try Self.background("drain_subscriber", on: hub, ["--received", received, "--ready", ready])
        try #require(Self.waitFor(ready), "the subscriber did not subscribe")
        let publisher = try Self.background("drain_publisher", on: hub, ["--out", acked])
        try #require(Self.waitFor(acked, lines: 300), "nothing was acknowledged")

        let signalled = Date()
        hub.send(signal: SIGTERM)
        let status = hub.waitForExit(seconds: 30)
        let took = Date().timeIntervalSince(signalled)
        #expect(status == 0, "exit status \(String(describing: status))\n\(hub.logText.suffix(3000))")
        // The bound (5 s) plus at most a second for the store and the threads.
        #expect(took < 5 + 2, "the hub took \(took) s to stop")
        #expect(hub.logText.contains("shutting down: draining connections"))
        #expect(hub.logText.contains("drained=true"), "\(hub.logText.suffix(2000))")
        publisher.waitUntilExit()
        subscriber.waitUntilExit()

        try hub.start(port: hub.port)
        let collect = try Self.run("drain_collect", on: hub, ["--out", acked, "--received", received])
        #expect(collect.status == 0, "\(collect.stdout)\(collect.stderr)")
        #expect(collect.stdout.contains("lost 0"), "\(collect.stdout)")
    }

    /// SIGQUIT drains and exits 0 as SIGTERM does: the hub went on serving after it, and an operator's "quit" was
    /// lost.
    @Test func sigquitDrainsAndExits() throws {
        let hub = try HubProcess()
        defer { hub.remove() }
        hub.send(signal: SIGQUIT)
        let status = hub.waitForExit(seconds: 30)
        #expect(status == 0, "exit status \(String(describing: status))\n\(hub.logText.suffix(3000))")
        #expect(hub.logText.contains("shutting down: draining connections"), "\(hub.logText.suffix(2000))")
    }

    /// SIGUSR1 and SIGUSR2 (mosquitto's "write persistence" and "print subscriptions") ended the hub, as the
    /// system's default action; they are logged and the hub serves on.
    @Test func sigusr1AndSigusr2AreLoggedAndOutlived() throws {
        let hub = try HubProcess()
        defer { hub.remove() }
        hub.send(signal: SIGUSR1)
        hub.send(signal: SIGUSR2)
        #expect(hub.waitForLog("signal ignored", count: 2), "\(hub.logText.suffix(2000))")
        #expect(hub.isRunning)
        let pki = hub.pkiDirectory.path
        let published = try ProcessRunner.run(
            "mosquitto_pub",
            [
                "-h", "127.0.0.1", "-p", String(hub.port), "--cafile", "\(pki)/ca.pem", "--cert",
                "\(pki)/contingents/KAZ.pem", "--key", "\(pki)/contingents/KAZ.key", "-t", "contingents/KAZ/inbox",
                "-m", "still here",
            ])
        #expect(published.status == 0, "\(published.stderr)\n\(hub.logText.suffix(2000))")
        hub.send(signal: SIGTERM)
        #expect(hub.waitForExit(seconds: 30) == 0)
    }

    /// The TLS files are not polled here (`tls.watchIntervalSeconds: 0`), so only SIGHUP can apply the new CRL.
    /// Out of descriptors, a listener says so and waits a second before it accepts again, then serves once
    /// descriptors are free. It tried again at once, in a loop, and logged nothing.
    @Test func runningOutOfDescriptorsIsLoggedAndOutlived() throws {
        let hub = try HubProcess()
        defer { hub.remove() }
        let pid = try #require(hub.processIdentifier)
        let open = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count
        let limited = try ProcessRunner.run("prlimit", ["--pid", "\(pid)", "--nofile=\(open + 4):\(open + 4)"])
        try #require(limited.status == 0, "\(limited.stderr)")
        var sockets: [Int32] = []
        defer { for socket in sockets { close(socket) } }
        for _ in 0..<12 {
            let socket = Foundation.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(hub.port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            #expect(connected == 0)
            sockets.append(socket)
        }
        #expect(hub.waitForLog("cannot accept connections; trying again in a second"), "\(hub.logText.suffix(2000))")
        // Once a second, not in a loop: NIO's own backoff never paused the accepts (27,000 lines a second).
        usleep(2_500_000)
        let lines = hub.logText.components(separatedBy: "\n").filter { $0.contains("cannot accept connections") }
        #expect(lines.count <= 4, "\(lines.count) lines in 2.5 s")
        for socket in sockets { close(socket) }
        sockets = []
        _ = try ProcessRunner.run("prlimit", ["--pid", "\(pid)", "--nofile=4096:4096"])
        let published = try ProcessRunner.peacehub(
            ["pub", "--as", "KAZ", "-t", "contingents/IND/inbox", "-m", "after", "-q", "1", "--port", String(hub.port)],
            environment: hub.environment)
        #expect(published.status == 0, "\(published.stderr)")
    }

    @Test func sighupWithANewCRLClosesTheRevokedClient() throws {
        let hub = try HubProcess(configuration: ["tls": ["watchIntervalSeconds": 0]])
        defer { hub.remove() }
        let held = try Self.holdUZBAndRevokeIt(on: hub)
        defer { held.terminate() }
        // Nothing happens without the signal.
        usleep(1_500_000)
        #expect(held.isRunning)

        hub.send(signal: SIGHUP)
        #expect(hub.waitForLog("TLS material reloaded"), "\(hub.logText.suffix(2000))")
        #expect(hub.logText.contains("revokedSessionsClosed=1"), "\(hub.logText.suffix(2000))")
        held.waitUntilExit()
        #expect(held.terminationStatus == 0)
        #expect(hub.isRunning)
        // Others are still served.
        #expect(try Self.run("connections", on: hub, ["--who", "KAZ"]).stdout.contains("accepted 1, refused 0"))
    }

    /// A SIGHUP whose file has a tls key that fails (a serverName naming no certificate) still loads the new CRL with
    /// the running tls settings: the revoked client stayed connected, and new connections were accepted.
    @Test func aBadTLSKeyDoesNotHoldBackANewCRL() throws {
        let hub = try HubProcess(configuration: ["tls": ["watchIntervalSeconds": 0]])
        defer { hub.remove() }
        let held = try Self.holdUZBAndRevokeIt(on: hub)
        defer { held.terminate() }
        try JSONSerialization.data(withJSONObject: ["tls": ["watchIntervalSeconds": 0, "serverName": "hub-typo"]])
            .write(to: hub.configurationFile)
        hub.send(signal: SIGHUP)
        #expect(hub.waitForLog("TLS material reloaded with the running tls settings"), "\(hub.logText.suffix(2000))")
        #expect(hub.logText.contains("revokedSessionsClosed=1"), "\(hub.logText.suffix(2000))")
        held.waitUntilExit()
        #expect(held.terminationStatus == 0)
        #expect(try Self.run("connections", on: hub, ["--who", "KAZ"]).stdout.contains("accepted 1, refused 0"))
    }

    /// With the TLS files polled (every second here), a CRL rewritten by `peacehub pki revoke` applies without
    /// a signal: the revoked client's session is closed, the others are served.
    @Test func aRewrittenCRLIsPickedUpWithoutASignal() throws {
        let hub = try HubProcess(configuration: ["tls": ["watchIntervalSeconds": 1]])
        defer { hub.remove() }
        let held = try Self.holdUZBAndRevokeIt(on: hub)
        defer { held.terminate() }
        #expect(hub.waitForLog("TLS files changed; reloading"), "\(hub.logText.suffix(2000))")
        #expect(hub.waitForLog("tls.sessionsClosed=1"), "\(hub.logText.suffix(2000))")
        held.waitUntilExit()
        #expect(held.terminationStatus == 0)
        #expect(try Self.run("connections", on: hub, ["--who", "KAZ"]).stdout.contains("accepted 1, refused 0"))
    }

    /// A lowered per-principal limit applies at the next CONNECT; the log level changes at once; a changed
    /// restart-only key is reported and left as it runs.
    @Test func sighupAppliesAChangedReloadableKey() throws {
        let hub = try HubProcess(configuration: ["mqtt": ["maximumConnectionsPerPrincipal": 5]])
        defer { hub.remove() }
        var result = try Self.run("connections", on: hub, ["--who", "KAZ", "--count", "2"])
        #expect(result.stdout.contains("accepted 2, refused 0"), "\(result.stdout)\(result.stderr)")
        #expect(!hub.logText.contains("closing MQTT connection"))  // a debug line

        try #"{"mqtt": {"maximumConnectionsPerPrincipal": 1, "durability": "power-loss"}, "log": {"level": "debug"}}"#
            .write(to: hub.configurationFile, atomically: true, encoding: .utf8)
        hub.send(signal: SIGHUP)
        #expect(hub.waitForLog("configuration reloaded"), "\(hub.logText.suffix(2000))")
        #expect(hub.logText.contains(#"changed="mqtt.maximumConnectionsPerPrincipal, log.level""#), "\(hub.logText.suffix(2000))")
        #expect(hub.logText.contains("keys=mqtt.durability"), "\(hub.logText.suffix(2000))")

        result = try Self.run("connections", on: hub, ["--who", "KAZ", "--count", "2"])
        #expect(result.stdout.contains("accepted 1, refused 1"), "\(result.stdout)\(result.stderr)")
        #expect(hub.waitForLog("closing MQTT connection"), "the debug level did not apply")
        // Other contingents have their own limit.
        #expect(try Self.run("connections", on: hub, ["--who", "IND"]).stdout.contains("accepted 1, refused 0"))
    }

    /// A file that no longer loads, or loads with a bad value, keeps the running configuration.
    @Test func sighupWithABrokenFileKeepsServing() throws {
        let hub = try HubProcess(configuration: ["mqtt": ["maximumConnectionsPerPrincipal": 1]])
        defer { hub.remove() }
        for (number, broken) in [#"{"mqtt": {"maximumConnectionsPerPrincipal": 5"#, #"{"mqtt": {"maximumQueued": 0}}"#]
            .enumerated()
        {
            try broken.write(to: hub.configurationFile, atomically: true, encoding: .utf8)
            hub.send(signal: SIGHUP)
            #expect(hub.waitForLog("configuration reload failed", count: number + 1), "\(hub.logText.suffix(2000))")
            #expect(hub.isRunning)
            let result = try Self.run("connections", on: hub, ["--who", "KAZ", "--count", "2"])
            #expect(result.stdout.contains("accepted 1, refused 1"), "\(result.stdout)\(result.stderr)")
        }
        let failures = hub.logText.split(separator: "\n").filter { $0.contains("configuration reload failed") }
        #expect(failures.first?.contains("not valid JSON") == true, "\(failures)")
        #expect(failures.last?.contains("mqtt.maximumQueued must be between 1 and") == true, "\(failures)")
    }

    /// Neither a CONNECT password nor private key material reaches the log, even at trace level.
    /// A client's identifier goes into the text log escaped: one holding a line break and a terminal escape wrote a
    /// forged line of its own.
    /// The operator configures OpenSSL the way every program on the machine is configured, in openssl.cnf (here
    /// through OPENSSL_CONF): its providers are the hub's (named in the log, for a FIPS or GOST one), and so are
    /// its TLS defaults. One that asks for algorithms no active provider offers stops every command at once, saying
    /// so (SHA-256 failed later, one call at a time: "cannot read library", or a crash in the audit chain).
    @Test func theSystemOpenSSLConfigurationChoosesProvidersAndTLSDefaults() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let configured = folder.url.appendingPathComponent("openssl.cnf")
        try Data(
            """
            openssl_conf = openssl_init
            [openssl_init]
            providers = provider_sect
            ssl_conf = ssl_sect
            [provider_sect]
            default = default_sect
            legacy = legacy_sect
            [default_sect]
            activate = 1
            [legacy_sect]
            activate = 1
            [ssl_sect]
            system_default = system_default_sect
            [system_default_sect]
            Ciphersuites = TLS_CHACHA20_POLY1305_SHA256

            """.utf8
        ).write(to: configured)
        let hub = try HubProcess(environment: ["OPENSSL_CONF": configured.path])
        defer { hub.remove() }
        #expect(hub.logText.contains(#"providers="default, legacy""#), "\(hub.logText.prefix(2000))")
        // The suites OpenSSL made of the file (a name it does not know there is skipped without a word).
        #expect(hub.logText.contains("tls13Suites=TLS_CHACHA20_POLY1305_SHA256 "), "\(hub.logText.prefix(2000))")
        let pki = hub.pkiDirectory.path
        let client = [
            "s_client", "-connect", "127.0.0.1:\(hub.port)", "-CAfile", "\(pki)/ca.pem", "-cert",
            "\(pki)/contingents/KAZ.pem", "-key", "\(pki)/contingents/KAZ.key", "-tls1_3", "-ciphersuites",
        ]
        let refused = try ProcessRunner.run("openssl", client + ["TLS_AES_128_GCM_SHA256"], stdin: Data(), timeout: 30)
        #expect(refused.stderr.contains("handshake failure"), "\(refused.stdout)\(refused.stderr)")
        let accepted = try ProcessRunner.run(
            "openssl", client + ["TLS_CHACHA20_POLY1305_SHA256"], stdin: Data(), timeout: 30)
        #expect(
            accepted.stdout.contains("Cipher is TLS_CHACHA20_POLY1305_SHA256"), "\(accepted.stdout)\(accepted.stderr)")

        let fips = folder.url.appendingPathComponent("fips.cnf")
        try Data(
            """
            openssl_conf = openssl_init
            [openssl_init]
            alg_section = algorithm_sect
            [algorithm_sect]
            default_properties = fips=yes

            """.utf8
        ).write(to: fips)
        // The parser's help needs no OpenSSL: it works while the operator mends openssl.cnf.
        let help = try ProcessRunner.peacehub(["pki", "--help"], environment: ["OPENSSL_CONF": fips.path])
        #expect(help.status == 0 && help.stdout.contains("OVERVIEW"), "\(help.stderr)")
        for command in [["plugins", "list"], ["serve", "--host", "127.0.0.1", "--port", "0"]] {
            let refusedToStart = try ProcessRunner.peacehub(
                command, environment: hub.environment.merging(["OPENSSL_CONF": fips.path]) { _, new in new },
                timeout: 30)
            #expect(refusedToStart.status == 1)
            #expect(
                refusedToStart.stderr.contains(
                    "OpenSSL cannot provide SHA-256 (unsupported) with its active providers (default) and default "
                        + "properties (fips=yes)"), "\(refusedToStart.stderr)")
        }
    }

    /// The hub serves as a user without privileges, as the systemd unit runs it: every listener set `TCP_NODELAY`
    /// at the socket level, where its number is `SO_DEBUG`, which only root may set, so every connection was
    /// closed as it was accepted for any other user (and, for root, Nagle's algorithm was never off).
    @Test func theHubServesAsAUserWithoutPrivileges() throws {
        let hub = try HubProcess(environment: ["PEACEHUB_PLUGINS_DIR": "/nonexistent"])
        defer { hub.remove() }
        hub.stop()
        if geteuid() == 0 {
            // nobody owns the data directory and a copy of the executable (the build's folders may be closed to it).
            let executable = hub.data.path("peacehub")
            try FileManager.default.copyItem(atPath: TestEnvironment.peacehubExecutable.path, toPath: executable)
            let owned = try ProcessRunner.run("chown", ["-R", "65534:65534", hub.data.url.path])
            try #require(owned.status == 0, "\(owned.stderr)")
            hub.command = ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", executable]
        }
        try hub.start(port: 0)
        // No modules, so that nobody need read the build's folders: not ready for that alone.
        let ready = try AdminAPITests.run("ready", on: hub, extra: ["--expect", "not_ready:modules"])
        #expect(ready.status == 0, "monitoring: \(ready.stdout)\(ready.stderr)")
        let published = try ProcessRunner.peacehub(
            ["pub", "--as", "KAZ", "-t", "contingents/IND/inbox", "-m", "up", "--port", String(hub.port)],
            environment: hub.environment, timeout: 30)
        #expect(published.status == 0, "MQTT: \(published.stderr)")
        let pki = hub.pkiDirectory.path
        let admin = try ProcessRunner.run(
            "curl",
            [
                "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", "\(pki)/ca.pem", "--cert",
                "\(pki)/operators/duty.pem", "--key", "\(pki)/operators/duty.key",
                "https://127.0.0.1:\(hub.adminPort)/contingents",
            ], timeout: 30)
        #expect(admin.stdout == "200", "admin API: \(admin.stdout)\(admin.stderr)")
    }

    /// The hub allocates through jemalloc with the options of `Sources/CAllocator/allocator.c`: glibc's malloc made
    /// the two event loops wait for each other's arena locks whenever one freed what the other allocated
    /// (docs/performance.md, item 24). jemalloc starts its one background thread only if it is the process's
    /// allocator and read those options.
    @Test func theHubAllocatesThroughJemallocWithItsOptions() throws {
        let hub = try HubProcess(environment: ["PEACEHUB_PLUGINS_DIR": "/nonexistent"])
        defer { hub.remove() }
        let pid = try #require(hub.processIdentifier)
        func threadNames() -> [String] {
            let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
            return tasks.compactMap { try? String(contentsOfFile: "/proc/\(pid)/task/\($0)/comm", encoding: .utf8) }
                .map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        }
        let deadline = Date().addingTimeInterval(10)
        while !threadNames().contains("jemalloc_bg_thd"), Date() < deadline { usleep(50_000) }
        #expect(threadNames().filter { $0 == "jemalloc_bg_thd" }.count == 1, "\(threadNames())")
    }

    /// Readers of standard output and error that go away (pipes closed from the start) do not stop the hub, as
    /// operations.md says: the listening line and every log line went through `FileHandle.write`, which traps when
    /// a write fails (and SIGPIPE was not yet ignored while the modules loaded).
    @Test func readersOfItsOutputThatGoAwayDoNotStopTheHub() throws {
        let hub = try HubProcess(environment: ["PEACEHUB_PLUGINS_DIR": "/nonexistent"])
        defer { hub.remove() }
        hub.stop()
        let port = try freePort()
        let process = Process()
        process.executableURL = TestEnvironment.peacehubExecutable
        process.arguments = ["serve", "--host", "127.0.0.1", "--port", String(port)]
        process.environment = ProcessInfo.processInfo.environment.merging(hub.environment) { _, new in new }
            .merging(["PEACEHUB_ADMIN_PORT": "0", "PEACEHUB_MONITORING_PORT": "0"]) { _, new in new }
        let (output, errors) = (Pipe(), Pipe())
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        defer {
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        try output.fileHandleForReading.close()
        try errors.fileHandleForReading.close()
        var published: ProcessResult?
        for _ in 0..<150 where published?.status != 0 && process.isRunning {
            usleep(200_000)
            published = try ProcessRunner.peacehub(
                ["pub", "--as", "KAZ", "-t", "contingents/IND/inbox", "-m", "up", "--port", String(port)],
                environment: hub.environment, timeout: 30)
        }
        #expect(published?.status == 0, "\(published?.stderr ?? "")")
        #expect(process.isRunning, "status \(process.isRunning ? 0 : process.terminationStatus)")
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        #expect(process.terminationReason == .exit && process.terminationStatus == 0)
    }

    /// An openssl.cnf OpenSSL cannot load whole (a syntax error), or a missing file OPENSSL_CONF names, stops every
    /// command with OpenSSL's reason: OpenSSL itself goes on with its defaults, and the `fips=yes` the file asked
    /// for was lost without a word (the hub served TLS without FIPS and `--check-config` said OK).
    @Test func anOpenSSLConfigurationThatDoesNotLoadStopsEveryCommand() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let broken = folder.url.appendingPathComponent("openssl.cnf")
        try Data(
            """
            openssl_conf = openssl_init
            [openssl_init]
            alg_section = algorithm_sect
            [algorithm_sect]
            default_properties = fips=yes
            [ssl_sect

            """.utf8
        ).write(to: broken)
        // The usual FIPS layout, with the FIPS module's file (which names `fips_sect`) missing.
        let fips = folder.url.appendingPathComponent("fips.cnf")
        try Data(
            """
            openssl_conf = openssl_init
            .include \(folder.path("fipsmodule.cnf"))
            [openssl_init]
            providers = provider_sect
            alg_section = algorithm_sect
            [algorithm_sect]
            default_properties = fips=yes
            [provider_sect]
            fips = fips_sect
            base = base_sect
            [base_sect]
            activate = 1

            """.utf8
        ).write(to: fips)
        let data = try TemporaryDirectory()
        defer { data.remove() }
        let cases = [
            (broken.path, "OpenSSL cannot load its configuration \(broken.path) (missing close square bracket, line 6)"),
            (fips.path, "provider section error, section=fips_sect not found"),
            (folder.path("absent.cnf"), "OpenSSL cannot load its configuration \(folder.path("absent.cnf")) (No such file"),
            (folder.url.path, "OpenSSL cannot load its configuration \(folder.url.path) (a folder, not a file)"),
        ]
        for (file, expected) in cases {
            for command in [["plugins", "list"], ["serve", "--check-config"], ["pki", "init"]] {
                let result = try ProcessRunner.peacehub(
                    command, environment: ["OPENSSL_CONF": file, "PEACEHUB_DATA_DIR": data.url.path], timeout: 30)
                #expect(result.status == 1, "\(command)")
                #expect(result.stderr.contains(expected), "\(command): \(result.stderr)")
            }
        }
        #expect(!FileManager.default.fileExists(atPath: data.path("pki")), "pki init stopped before it wrote")
    }

    /// openssl.cnf's `MinProtocol` holds for the hub (`tls.minimumVersion` 1.2 let TLS 1.2 in under a TLS 1.3
    /// minimum), and a `MaxProtocol` below the hub's minimum, which left no version for any client, stops the
    /// start with a reason.
    @Test func theSystemsProtocolVersionsBoundTheHubs() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        func configuration(_ line: String) throws -> String {
            let file = folder.url.appendingPathComponent("\(abs(line.hashValue)).cnf")
            try Data(
                """
                openssl_conf = openssl_init
                [openssl_init]
                ssl_conf = ssl_sect
                [ssl_sect]
                system_default = system_default_sect
                [system_default_sect]
                \(line)

                """.utf8
            ).write(to: file)
            return file.path
        }
        let hub = try HubProcess(
            environment: [
                "OPENSSL_CONF": try configuration("MinProtocol = TLSv1.3"), "PEACEHUB_TLS_MINIMUM_VERSION": "1.2",
            ])
        defer { hub.remove() }
        let pki = hub.pkiDirectory.path
        let old = try ProcessRunner.run(
            "openssl",
            [
                "s_client", "-connect", "127.0.0.1:\(hub.port)", "-CAfile", "\(pki)/ca.pem", "-cert",
                "\(pki)/contingents/KAZ.pem", "-key", "\(pki)/contingents/KAZ.key", "-tls1_2",
            ], stdin: Data(), timeout: 30)
        #expect(old.stderr.contains("alert protocol version"), "\(old.stdout)\(old.stderr)")
        hub.stop()
        let none = try ProcessRunner.peacehub(
            ["serve", "--host", "127.0.0.1", "--port", "0"],
            environment: hub.environment.merging(["OPENSSL_CONF": try configuration("MaxProtocol = TLSv1.2")]) {
                _, new in new
            },
            timeout: 30)
        #expect(none.status == 1)
        #expect(
            none.stderr.contains(
                "no TLS version is left: the system's openssl.cnf allows at most TLS 1.2 (MaxProtocol), the hub needs "
                    + "TLS 1.3 or later (tls.minimumVersion)"), "\(none.stderr)")
    }

    /// Nor a field, nor a line that only a Unicode-aware viewer ends (U+2028), nor text shown reversed (U+202E):
    /// `client=evil principal=operator:duty` read as the operator's connection.
    @Test func aClientIdentifierCannotForgeALogLineOrField() throws {
        let hub = try HubProcess()
        defer { hub.remove() }
        let forged = "evil\n2026-12-04T19:00:00+0000 critical peacehub: FAKE LINE \u{1B}[31m"
        let field = "x principal=operator:duty \\\" a=\u{2028}b\u{202E}c"
        let sent = try ProcessRunner.peacehub(
            ["pub", "--as", "KAZ", "--port", String(hub.port), "--client-id", field, "-t", "contingents/KAZ/inbox",
             "-m", "x"],
            environment: hub.environment)
        #expect(sent.status == 0, "\(sent.stderr)")
        let published = try ProcessRunner.peacehub(
            ["pub", "--as", "KAZ", "--port", String(hub.port), "--client-id", forged, "-t", "contingents/KAZ/inbox",
             "-m", "x"],
            environment: hub.environment)
        #expect(published.status == 0, "\(published.stderr)")
        #expect(hub.waitForLog("client connected"), "\(hub.logText.suffix(2000))")
        #expect(!hub.logText.split(separator: "\n").contains { $0.hasPrefix("2026-12-04T19:00:00+0000 critical") })
        #expect(hub.logText.contains(#"client="evil\n2026-12-04T19:00:00+0000 critical peacehub: FAKE LINE \u{1B}[31m""#))
        #expect(hub.waitForLog(#"client="x principal=operator:duty \\\" a=\u{2028}b\u{202E}c" "#), "\(hub.logText.suffix(1000))")
        #expect(!hub.logText.unicodeScalars.contains { $0 == "\u{2028}" || $0 == "\u{202E}" })
        // UTC to the millisecond, as JSON lines.
        let first = try #require(hub.logText.split(separator: "\n").first)
        #expect(first.wholeMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z [a-z]+ .*/) != nil, "\(first)")
    }

    @Test func theLogHoldsNoSecret() throws {
        let hub = try HubProcess(configuration: ["log": ["level": "trace", "format": "json"]])
        defer { hub.remove() }
        let secret = "pw-\(UUID().uuidString)"
        let result = try Self.run("password", on: hub, ["--password", secret])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        hub.stop()
        let log = hub.logText
        #expect(log.contains("\"level\":\"trace\"") || log.contains("\"level\":\"debug\""), "not at trace: \(log.prefix(500))")
        #expect(!log.contains(secret))
        #expect(!log.contains("PRIVATE KEY"))
        let keys = ["pki/ca.key", "pki/server/localhost.key", "pki/contingents/KAZ.key"]
        for key in keys {
            let text = try String(contentsOf: hub.data.url.appendingPathComponent(key), encoding: .utf8)
            for line in text.split(separator: "\n") where !line.hasPrefix("-----") {
                #expect(!log.contains(line), "\(key) appears in the log")
            }
        }
    }

    @Test func logFormatOnTheCommandLineBeatsTheFile() throws {
        let hub = try HubProcess(configuration: ["log": ["format": "text"]], extraArguments: ["--log-format", "json"])
        defer { hub.remove() }
        hub.stop()
        // The address lines on standard output are for people and scripts, not log lines.
        let addresses = ["PeaceHub listening on ", "Admin API on ", "Monitoring on "]
        let lines = hub.logText.split(separator: "\n").filter { line in !addresses.contains { line.hasPrefix($0) } }
        #expect(!lines.isEmpty)
        for line in lines {
            #expect(
                (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] != nil, "not JSON: \(line)")
        }
    }

    /// A second hub on the same data directory would deliver the first one's queued messages again: it is refused
    /// with the holder named, and the first keeps serving; once that one has stopped, a new start takes the lock.
    @Test func aSecondHubOnTheSameDataDirectoryIsRefused() throws {
        let hub = try HubProcess()
        defer { hub.remove() }
        let environment = hub.environment.merging(["PEACEHUB_ADMIN_PORT": "0", "PEACEHUB_MONITORING_PORT": "0"]) { $1 }
        let second = try ProcessRunner.peacehub(
            ["serve", "--host", "127.0.0.1", "--port", "0"], environment: environment, timeout: 30)
        #expect(!second.timedOut)
        #expect(second.status == 1)
        #expect(second.stderr.contains("another hub uses the data directory \(hub.data.url.path)"), "\(second.stderr)")
        // The holder as the kernel knows it, and no file to delete that would let a second hub in.
        let pid = try #require(hub.processIdentifier)
        #expect(second.stderr.contains("(process \(pid) holds its lock)"), "\(second.stderr)")
        try? FileManager.default.removeItem(atPath: hub.data.path("hub.lock"))
        let third = try ProcessRunner.peacehub(
            ["serve", "--host", "127.0.0.1", "--port", "0"], environment: environment, timeout: 30)
        #expect(third.status == 1 && third.stderr.contains("another hub uses the data directory"), "\(third.stderr)")
        #expect(hub.isRunning)
        hub.stop()
        // An earlier PeaceHub locked `hub.lock`: one of those running keeps this one out too.
        let legacy = open(hub.data.path("hub.lock"), O_RDWR | O_CREAT, 0o600)
        #expect(legacy >= 0 && flock(legacy, LOCK_EX) == 0)
        let beside = try ProcessRunner.peacehub(
            ["serve", "--host", "127.0.0.1", "--port", "0"], environment: environment, timeout: 30)
        close(legacy)
        #expect(beside.status == 1 && beside.stderr.contains("(an earlier PeaceHub)"), "\(beside.stderr)")
        hub.stop()
        try hub.start(port: 0)
        #expect(hub.isRunning)
    }

    /// An empty registry or broker store file (a copy cut short, a `touch`) is refused at start, as every
    /// `registry` command refuses it: SQLite opened it as a new database, and the hub was ready with no contingent
    /// and no session.
    @Test(arguments: ["registry.sqlite", "broker.sqlite"])
    func anEmptyDatabaseFileIsRefused(file: String) throws {
        let hub = try HubProcess()
        defer { hub.remove() }
        hub.stop()
        let path = hub.data.path(file)
        for suffix in ["-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
        #expect(truncate(path, 0) == 0)
        let what = file == "registry.sqlite" ? "registry" : "broker store"
        #expect(throws: (any Error).self) { try hub.start(port: 0) }
        #expect(
            hub.logText.contains("\(path): the \(what) is an empty file: restore it from a backup"),
            "\(hub.logText.suffix(500))")
        let check = try ProcessRunner.peacehub(["serve", "--check-config"], environment: hub.environment)
        #expect(check.status != 0 && check.stderr.contains("the \(what) is an empty file"), "\(check.stderr)")
        // Through a symbolic link too (the check read the link's own size).
        #expect(rename(path, hub.data.path("elsewhere.sqlite")) == 0)
        #expect(symlink(hub.data.path("elsewhere.sqlite"), path) == 0)
        let linked = try ProcessRunner.peacehub(["serve", "--check-config"], environment: hub.environment)
        #expect(linked.status != 0 && linked.stderr.contains("the \(what) is an empty file"), "\(linked.stderr)")
    }

    /// A registry whose audit head was edited refuses writes as an internal error, logged with its reason (the
    /// 500 carried the reason and nothing was logged).
    @Test func aWriteOverAnEditedAuditHeadIsALoggedInternalError() throws {
        let hub = try HubProcess()
        defer { hub.remove() }
        hub.stop()
        do {
            let queue = try DatabaseQueue(path: hub.data.path("registry.sqlite"))
            try queue.write { db in try db.execute(sql: "UPDATE auditHead SET seq = seq - 1") }
            try queue.close()
        }
        try hub.start(port: 0)
        let pki = hub.pkiDirectory.path
        let answer = try ProcessRunner.run(
            "curl",
            [
                "-sS", "-w", "\n%{http_code}", "--cacert", "\(pki)/ca.pem", "--cert", "\(pki)/operators/duty.pem",
                "--key", "\(pki)/operators/duty.key", "-X", "PATCH", "-H", "Content-Type: application/json",
                "-d", #"{"rank": "Brigadier Probe"}"#, "https://127.0.0.1:\(hub.adminPort)/persons/KAZ-100201",
            ], timeout: 30)
        #expect(answer.stdout.hasSuffix("\n500"), "\(answer.stdout)\(answer.stderr)")
        #expect(!answer.stdout.contains("audit"), "no detail: \(answer.stdout)")
        #expect(hub.waitForLog("the audit chain's head records entry"), "\(hub.logText.suffix(2000))")
    }

    /// A registry file cut short (a restore gone wrong, a full disk) is refused at start when SQLite cannot open
    /// it, and otherwise found by the check that reads it whole beside the start: `/ready` fails naming it. The
    /// hub started, answered ready, and failed every registry request.
    @Test(arguments: [SIGKILL, SIGTERM])  // with its write-ahead log left, and without
    func aDamagedRegistryIsRefusedOrNotReady(stop: Int32) throws {
        let hub = try HubProcess()
        defer { hub.remove() }
        hub.stop(signal: stop)
        let path = hub.data.path("registry.sqlite")
        let size = try #require(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
        #expect(truncate(path, off_t(size / 2)) == 0)
        do {
            try hub.start(port: 0)
        } catch {
            #expect("\(error)".contains("\(path): database disk image is malformed: the file is damaged; restore it"))
            return
        }
        #expect(hub.waitForLog("registry damaged"), "\(hub.logText.suffix(2000))")
        let ready = try AdminAPITests.run("ready", on: hub, extra: ["--expect", "not_ready:registry"])
        #expect(ready.status == 0, "\(ready.stdout)\(ready.stderr)")
    }
}
