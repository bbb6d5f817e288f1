import Foundation
import PeaceHubTesting
import Testing

/// `peacehub pub` and `peacehub sub` against the real hub.
@Suite(.serialized) final class ClientCommandTests {
    let hub: HubProcess

    init() throws {
        hub = try HubProcess()
    }

    deinit {
        hub.remove()
    }

    func client(_ arguments: [String]) -> [String] {
        arguments + ["--port", String(hub.port)]
    }

    /// Both versions, each way round: MQTT 5 is the default, `-V 3.1.1` the other.
    @Test(arguments: [0, 1, 2], ["5", "3.1.1"])
    func pubReachesSub(qos: Int, version: String) throws {
        let output = hub.data.url.appendingPathComponent("sub-\(qos)-\(version).txt")
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        let subscriber = Process()
        subscriber.executableURL = TestEnvironment.peacehubExecutable
        subscriber.arguments = client([
            "sub", "--as", "IND", "-t", "contingents/IND/inbox", "-q", "2", "-C", "1", "-W", "20", "-v", "-V", version,
        ])
        subscriber.environment = ProcessInfo.processInfo.environment.merging(hub.environment) { _, new in new }
        subscriber.standardOutput = try FileHandle(forWritingTo: output)
        try subscriber.run()
        // Publish until the subscriber, whose SUBACK time we do not know, has its message.
        let deadline = Date().addingTimeInterval(20)
        while subscriber.isRunning, Date() < deadline {
            let other = version == "5" ? "3.1.1" : "5"
            let published = try ProcessRunner.peacehub(
                client(["pub", "--as", "KAZ", "-t", "contingents/IND/inbox", "-m", "qos \(qos)", "-q", String(qos), "-V", other]),
                environment: hub.environment)
            #expect(published.status == 0, "\(published.stderr)")
            usleep(200_000)
        }
        subscriber.waitUntilExit()
        #expect(try String(contentsOf: output, encoding: .utf8) == "contingents/IND/inbox qos \(qos)\n")
    }

    /// A subscriber whose certificate is revoked meanwhile: the hub ends its session with DISCONNECT 0x98, and `sub`
    /// says so and exits 1 (before, it ended as if its -W had run out).
    @Test func aSubscriberWhoseCertificateIsRevokedIsToldAndExitsNonZero() throws {
        let issued = try ProcessRunner.peacehub(
            ["pki", "issue", "--contingent", "KGZ", "--device", "revoked-sub"], environment: hub.environment)
        try #require(issued.status == 0, "\(issued.stderr)")
        let certificate = hub.pkiDirectory.appendingPathComponent("contingents/KGZ-revoked-sub.pem").path
        let key = hub.pkiDirectory.appendingPathComponent("contingents/KGZ-revoked-sub.key").path
        let errors = hub.data.url.appendingPathComponent("revoked-sub.err")
        _ = FileManager.default.createFile(atPath: errors.path, contents: nil)
        let subscriber = Process()
        subscriber.executableURL = TestEnvironment.peacehubExecutable
        subscriber.arguments = client([
            "sub", "--cert", certificate, "--key", key, "-t", "contingents/KGZ/inbox", "-W", "60",
        ])
        subscriber.environment = ProcessInfo.processInfo.environment.merging(hub.environment) { _, new in new }
        subscriber.standardError = try FileHandle(forWritingTo: errors)
        try subscriber.run()
        defer { if subscriber.isRunning { subscriber.terminate() } }
        usleep(1_500_000)
        let serial = try ProcessRunner.run("openssl", ["x509", "-in", certificate, "-noout", "-serial"])
        let hex = serial.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            .replacingOccurrences(of: "serial=", with: "")
        let revoked = try ProcessRunner.peacehub(["pki", "revoke", hex], environment: hub.environment)
        try #require(revoked.status == 0, "\(revoked.stderr)")
        let deadline = Date().addingTimeInterval(20)
        while subscriber.isRunning, Date() < deadline { usleep(100_000) }
        #expect(!subscriber.isRunning, "the revoked subscriber is still connected")
        #expect(subscriber.terminationStatus == 1)
        let text = try String(contentsOf: errors, encoding: .utf8)
        #expect(text.contains("the hub disconnected: 0x98 Administrative action: certificate serial"), "\(text)")
    }

    /// A client whose connection was lost, with a will held back by its Will Delay Interval, and whose certificate
    /// is then revoked: the CRL (picked up by the file watcher) discards the will; it was published after its delay.
    @Test func aDelayedWillIsDiscardedWhenItsCertificateIsRevoked() throws {
        let issued = try ProcessRunner.peacehub(
            ["pki", "issue", "--contingent", "KGZ", "--device", "will-dev"], environment: hub.environment)
        try #require(issued.status == 0, "\(issued.stderr)")
        let pki = hub.pkiDirectory.path
        func mosquitto(_ certificate: String) -> [String] {
            [
                "-V", "mqttv5", "-h", "127.0.0.1", "-p", String(hub.port), "--cafile", "\(pki)/ca.pem",
                "--cert", "\(pki)/contingents/\(certificate).pem", "--key", "\(pki)/contingents/\(certificate).key",
            ]
        }
        let watcher = Process()
        watcher.executableURL = TestEnvironment.peacehubExecutable
        watcher.arguments = client(["sub", "--as", "KAZ", "-t", "contingents/KAZ/inbox", "-C", "1", "-W", "10"])
        watcher.environment = ProcessInfo.processInfo.environment.merging(hub.environment) { _, new in new }
        let watched = Pipe()
        watcher.standardOutput = watched
        try watcher.run()
        defer { if watcher.isRunning { watcher.terminate() } }
        // Reads stdin line by line and stays connected until killed: a lost connection, not a DISCONNECT.
        let sender = Process()
        sender.executableURL = URL(fileURLWithPath: "/usr/bin/mosquitto_pub")
        sender.arguments =
            mosquitto("KGZ-will-dev") + [
                "-t", "contingents/KAZ/inbox", "-l", "-i", "kgz-will-dev", "--will-topic", "contingents/KAZ/inbox",
                "--will-payload", "gone", "-D", "will", "will-delay-interval", "4", "-D", "connect",
                "session-expiry-interval", "60",
            ]
        let input = Pipe()
        sender.standardInput = input
        try sender.run()
        try #require(hub.waitForLog("kgz-will-dev"), "\(hub.logText.suffix(2000))")
        kill(sender.processIdentifier, SIGKILL)
        sender.waitUntilExit()
        let serial = try ProcessRunner.run(
            "openssl", ["x509", "-in", "\(pki)/contingents/KGZ-will-dev.pem", "-noout", "-serial"])
        let hex = serial.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            .replacingOccurrences(of: "serial=", with: "")
        let revoked = try ProcessRunner.peacehub(["pki", "revoke", hex], environment: hub.environment)
        try #require(revoked.status == 0, "\(revoked.stderr)")
        watcher.waitUntilExit()
        let received = String(decoding: watched.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(received.isEmpty, "the will of a revoked certificate was published: \(received)")
        #expect(hub.logText.contains("will discarded: its client's certificate has been revoked"))
    }

    /// SIGINT or SIGTERM ends `sub` as mosquitto_sub's end: a DISCONNECT, then exit 0 (it died of the signal).
    @Test(arguments: [SIGINT, SIGTERM])
    func aSignalEndsSubWithADisconnectAndExitZero(signal: Int32) throws {
        // The hub logs why a connection closed at debug level.
        let hub = try HubProcess(environment: ["PEACEHUB_LOG_LEVEL": "debug"])
        defer { hub.remove() }
        let subscriber = Process()
        subscriber.executableURL = TestEnvironment.peacehubExecutable
        subscriber.arguments = [
            "sub", "--as", "KGZ", "-t", "contingents/KGZ/inbox", "-W", "60", "--port", String(hub.port),
        ]
        subscriber.environment = ProcessInfo.processInfo.environment.merging(hub.environment) { _, new in new }
        try subscriber.run()
        defer { if subscriber.isRunning { subscriber.terminate() } }
        try #require(hub.waitForLog("client connected"))
        usleep(200_000)
        kill(subscriber.processIdentifier, signal)
        let deadline = Date().addingTimeInterval(20)
        while subscriber.isRunning, Date() < deadline { usleep(50_000) }
        #expect(subscriber.terminationReason == .exit)
        #expect(subscriber.terminationStatus == 0)
        #expect(hub.waitForLog("client disconnected (0x00"))
    }

    /// MQTT 3.1.1 names its one failure code Failure, not MQTT 5's Unspecified error [MQTT-3.9.3].
    @Test(arguments: [("5", "0x87 Not authorized"), ("3.1.1", "0x80 Failure")])
    func aRefusedSubscriptionIsReportedAndExitsNonZero(version: String, name: String) throws {
        let result = try ProcessRunner.peacehub(
            client(["sub", "--as", "TJK", "-t", "contingents/IND/inbox", "-W", "5", "-V", version]),
            environment: hub.environment)
        #expect(result.status == 1)
        #expect(result.stderr.contains("subscription to contingents/IND/inbox refused: \(name)"), "\(result.stderr)")
    }

    /// A message is acknowledged once `sub` has printed it. `sub -C 1` on a session with a backlog acknowledged
    /// every message the hub had sent meanwhile, and `pub` on the session's client id all it was sent: the hub
    /// let them go, and the session's next connection found them gone [MQTT-4.3.2, MQTT-4.3.3].
    @Test(arguments: ["5", "3.1.1"])
    func messagesNotPrintedStayWithTheSession(version: String) throws {
        let session = ["--as", "IND", "--persistent", "--client-id", "ind-backlog-\(version)", "-V", version]
        let subscribe = session + ["-t", "contingents/IND/inbox", "-q", "2"]
        let made = try ProcessRunner.peacehub(client(["sub"] + subscribe + ["-W", "1"]), environment: hub.environment)
        try #require(made.status == 0, "\(made.stderr)")
        for (index, qos) in [1, 1, 1, 2, 2].enumerated() {
            let published = try ProcessRunner.peacehub(
                client(["pub", "--as", "KAZ", "-t", "contingents/IND/inbox", "-m", "m\(index)", "-q", String(qos)]),
                environment: hub.environment)
            try #require(published.status == 0, "\(published.stderr)")
        }
        let first = try ProcessRunner.peacehub(
            client(["sub"] + subscribe + ["-C", "1", "-W", "10"]), environment: hub.environment)
        #expect(first.stdout == "m0\n", "\(first.stderr)")
        let publisher = try ProcessRunner.peacehub(
            client(["pub"] + session + ["-t", "contingents/KAZ/inbox", "-m", "x"]), environment: hub.environment)
        #expect(publisher.status == 0, "\(publisher.stderr)")
        let rest = try ProcessRunner.peacehub(
            client(["sub"] + subscribe + ["-C", "4", "-W", "10"]), environment: hub.environment)
        #expect(rest.stdout == "m1\nm2\nm3\nm4\n", "\(rest.stderr)")
    }

    /// `-W` (as SIGINT and SIGTERM) ends the wait, not the connection: it closed the connection at once while up to
    /// a window of messages waited to be printed, which were then printed unacknowledged and again by the
    /// session's next connection (QoS 2 messages twice).
    @Test func theEndOfTheWaitPrintsNothingTwice() throws {
        let subscribe = client([
            "sub", "--as", "IND", "--persistent", "--client-id", "ind-slow", "-t", "contingents/IND/inbox", "-q", "2",
        ])
        let made = try ProcessRunner.peacehub(subscribe + ["-W", "1"], environment: hub.environment)
        try #require(made.status == 0, "\(made.stderr)")
        let pki = hub.pkiDirectory.path
        let lines = (0..<150).map { "m\($0)-" + String(repeating: "x", count: 4000) }
        let sent = try ProcessRunner.run(
            "mosquitto_pub",
            [
                "-h", "127.0.0.1", "-p", String(hub.port), "--cafile", "\(pki)/ca.pem",
                "--cert", "\(pki)/contingents/KAZ.pem", "--key", "\(pki)/contingents/KAZ.key",
                "-t", "contingents/IND/inbox", "-q", "2", "-l",
            ], stdin: Data((lines.joined(separator: "\n") + "\n").utf8), timeout: 60)
        try #require(sent.status == 0, "\(sent.stderr)")
        // A reader slower than the messages come, so that some wait in `sub` when its time is up.
        let slow = "import sys, time\nfor line in sys.stdin:\n    print(line, end='', flush=True)\n    time.sleep(0.02)"
        let command = ([TestEnvironment.peacehubExecutable.path] + subscribe + ["-W", "2"])
            .map { "'\($0)'" }.joined(separator: " ")
        let first = try ProcessRunner.run(
            "sh", ["-c", "\(command) | python3 -c \"\(slow)\""], environment: hub.environment, timeout: 60)
        let second = try ProcessRunner.peacehub(subscribe + ["-W", "3"], environment: hub.environment)
        let printed = (first.stdout + second.stdout).split(separator: "\n").map(String.init)
        #expect(!first.stdout.isEmpty && !second.stdout.isEmpty, "\(first.stderr)\(second.stderr)")
        #expect(printed.count == Set(printed).count, "printed twice")
        #expect(Set(printed) == Set(lines))
    }

    /// The payload is printed as it came, as mosquitto_sub prints it: bytes that are not UTF-8 were replaced.
    @Test func aPayloadIsPrintedByteForByte() throws {
        let output = hub.data.url.appendingPathComponent("binary.out")
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        let subscriber = Process()
        subscriber.executableURL = TestEnvironment.peacehubExecutable
        subscriber.arguments = client(["sub", "--as", "IND", "-t", "contingents/IND/inbox", "-C", "1", "-W", "20"])
        subscriber.environment = ProcessInfo.processInfo.environment.merging(hub.environment) { _, new in new }
        subscriber.standardOutput = try FileHandle(forWritingTo: output)
        try subscriber.run()
        defer { if subscriber.isRunning { subscriber.terminate() } }
        let pki = hub.pkiDirectory.path
        let payload = Data([0x41, 0xFF, 0xFE, 0x42])
        let deadline = Date().addingTimeInterval(20)
        while subscriber.isRunning, Date() < deadline {
            let sent = try ProcessRunner.run(
                "mosquitto_pub",
                [
                    "-h", "127.0.0.1", "-p", String(hub.port), "--cafile", "\(pki)/ca.pem",
                    "--cert", "\(pki)/contingents/KAZ.pem", "--key", "\(pki)/contingents/KAZ.key",
                    "-t", "contingents/IND/inbox", "-s",
                ], stdin: payload, timeout: 30)
            #expect(sent.status == 0, "\(sent.stderr)")
            usleep(200_000)
        }
        subscriber.waitUntilExit()
        #expect(try Data(contentsOf: output) == payload + Data("\n".utf8))
    }

    /// MQTT 5 tells the publisher why: the reason code and string, and exit status 1.
    @Test func aRefusedPublishShowsTheHubsReason() throws {
        let refused = try ProcessRunner.peacehub(
            client(["pub", "--as", "KAZ", "-t", "hub/broadcast/x", "-m", "x"]), environment: hub.environment)
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("0x87 Not authorized: not authorized to publish on hub/broadcast/x"), "\(refused.stderr)")
        let report = try ProcessRunner.peacehub(
            client(["pub", "--as", "KAZ", "-t", "missions/UNIFIL/reports/UXO", "-m", "{}", "--precedence", "FLASH"]),
            environment: hub.environment)
        #expect(report.status == 1)
        #expect(report.stderr.contains("0x99 Payload format invalid: MISSING_FIELD: "), "\(report.stderr)")
        // 3.1.1 has no way to say it: the PUBACK looks like any other.
        let classic = try ProcessRunner.peacehub(
            client(["pub", "--as", "KAZ", "-t", "hub/broadcast/x", "-m", "x", "-V", "3.1.1"]), environment: hub.environment)
        #expect(classic.status == 0, "\(classic.stderr)")
    }

    @Test func precedenceWrapsTheMessageInTheEnvelope() throws {
        let result = try ProcessRunner.peacehub(
            client(["pub", "--as", "KAZ", "-t", "contingents/IND/inbox", "-m", "x", "--precedence", "URGENT"]),
            environment: hub.environment)
        #expect(result.status != 0)
        #expect(result.stderr.contains("--precedence must be ROUTINE, PRIORITY, IMMEDIATE or FLASH"))
    }

    /// A contingent whose certificate was issued for its own signing request connects with its own files.
    @Test func explicitCertificateAndKeyFiles() throws {
        let key = hub.data.path("uzb-own.key")
        let request = hub.data.path("uzb-own.csr")
        let made = try ProcessRunner.run(
            "openssl",
            ["req", "-new", "-newkey", "ed25519", "-nodes", "-keyout", key, "-out", request, "-subj", "/CN=UZB"],
            timeout: 60)
        try #require(made.status == 0, "\(made.stderr)")
        let issued = try ProcessRunner.peacehub(
            ["pki", "issue", "--contingent", "UZB", "--csr", request, "--force"], environment: hub.environment)
        try #require(issued.status == 0, "\(issued.stderr)")
        let certificate = hub.pkiDirectory.appendingPathComponent("contingents/UZB.pem").path
        let published = try ProcessRunner.peacehub(
            client([
                "pub", "--cert", certificate, "--key", key, "--cafile", hub.pkiDirectory.path + "/ca.pem",
                "-t", "contingents/IND/inbox", "-m", "from UZB's own key",
            ]), environment: hub.environment)
        #expect(published.status == 0, "\(published.stderr)")
        let both = try ProcessRunner.peacehub(
            client(["pub", "--as", "KAZ", "--cert", certificate, "--key", key, "-t", "t", "-m", "x"]),
            environment: hub.environment)
        #expect(both.status != 0 && both.stderr.contains("give --as, or --cert and --key"), "\(both.stderr)")
        let half = try ProcessRunner.peacehub(
            client(["pub", "--cert", certificate, "-t", "t", "-m", "x"]), environment: hub.environment)
        #expect(half.status != 0 && half.stderr.contains("--cert and --key go together"), "\(half.stderr)")
    }

    /// `sub` keeps its connection alive with PINGREQ: it sent nothing after SUBSCRIBE, so the hub closed it after
    /// one and a half keep-alives (0x8D, exit 1) while it waited for messages.
    @Test(arguments: ["5", "3.1.1"])
    func aQuietSubscriberStaysConnected(version: String) throws {
        let result = try ProcessRunner.peacehub(
            client(["sub", "--as", "IND", "-t", "contingents/IND/inbox", "-k", "1", "-W", "4", "-V", version]),
            environment: hub.environment, timeout: 30)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.isEmpty, "\(result.stderr)")
    }

    /// A topic no hub would take is refused before connecting, as mosquitto_pub and mosquitto_sub do (the hub
    /// only closed the connection: "the hub closed the connection").
    @Test func anInvalidTopicIsRefusedBeforeConnecting() throws {
        let wildcard = try ProcessRunner.peacehub(
            client(["pub", "--as", "IND", "-t", "contingents/+/inbox", "-m", "x"]), environment: hub.environment)
        #expect(wildcard.status == 1)
        #expect(wildcard.stderr.contains("-t: wildcards in the topic 'contingents/+/inbox'"), "\(wildcard.stderr)")
        let filter = try ProcessRunner.peacehub(
            client(["sub", "--as", "IND", "-t", "contingents/IND/in#"]), environment: hub.environment)
        #expect(filter.status == 1)
        #expect(filter.stderr.contains("-t: 'contingents/IND/in#' is no MQTT topic filter"), "\(filter.stderr)")
    }

    @Test func aMissingCertificateIsAClearError() throws {
        let result = try ProcessRunner.peacehub(
            client(["pub", "--as", "FRA", "-t", "contingents/IND/inbox", "-m", "x"]), environment: hub.environment)
        #expect(result.status != 0)
        #expect(result.stderr.contains("contingents/FRA.pem: issue it with `peacehub pki issue`"), "\(result.stderr)")
        // A file named on the command line is only missing; and a key that is not the certificate's is said plainly.
        let named = try ProcessRunner.peacehub(
            client(["pub", "--cert", "/nonexistent/x.pem", "--key", "/nonexistent/x.key", "-t", "a", "-m", "x"]),
            environment: hub.environment)
        #expect(named.stderr.contains("cannot read /nonexistent/x.pem\n"), "\(named.stderr)")
        let pki = hub.pkiDirectory.appendingPathComponent("contingents")
        let mismatched = try ProcessRunner.peacehub(
            client([
                "pub", "--cert", pki.appendingPathComponent("IND.pem").path, "--key",
                pki.appendingPathComponent("KGZ.key").path, "-t", "contingents/IND/inbox", "-m", "x",
            ]),
            environment: hub.environment)
        #expect(mismatched.status != 0)
        #expect(!mismatched.stderr.contains("TLSError"), "\(mismatched.stderr)")
    }
}
