import COpenSSL
import Foundation
import NIOPosix
@testable import PeaceHubTLS
import PeaceHubTesting
import Testing

/// A real listener on 127.0.0.1 driven by Python's ssl and `openssl s_client`: the acceptance matrix.
@Suite struct ListenerTests {
    /// A fixture PKI and a running echo listener on it.
    private struct Setup {
        let fixture: TestPKI
        let server: TestServer

        init(
            configure: (inout TLSConfiguration) -> Void = { _ in }, prepare: (TestPKI) throws -> Void = { _ in }
        )
            async throws
        {
            fixture = try TestPKI()
            try prepare(fixture)
            var configuration = fixture.serverConfiguration()
            configure(&configuration)
            server = try await TestServer(configuration: configuration)
        }

        func python(
            _ mode: String = "echo", certificate: PKIIndex.Entry?, _ extra: [String] = []
        ) async throws
            -> [String: String]
        {
            var arguments = ["--ca", fixture.caFile] + extra
            if let certificate {
                arguments += [
                    "--cert", fixture.path(certificate.certificatePath), "--key", fixture.path(certificate.keyPath!),
                ]
            }
            return try await Clients.python(mode, port: server.port, arguments)
        }

        func sClient(certificate: PKIIndex.Entry?, _ extra: [String] = []) async throws -> ProcessResult {
            var arguments = ["-CAfile", fixture.caFile] + extra
            if let certificate {
                arguments += [
                    "-cert", fixture.path(certificate.certificatePath), "-key", fixture.path(certificate.keyPath!),
                ]
            }
            return try await Clients.sClient(port: server.port, arguments)
        }

        /// The first TLS error the server recorded (waits for it).
        func serverError() async throws -> TLSError {
            _ = await server.log.wait { !$0.errors.isEmpty }
            return try #require(server.log.snapshot.errors.first)
        }

        func finish() async {
            await server.stop()
            fixture.remove()
        }
    }

    @Test func validCertificateIsAcceptedAndEchoed() async throws {
        let setup = try await Setup()
        let outcome = try await setup.python(certificate: setup.fixture.contingent)
        #expect(outcome["result"] == "ok")
        #expect(outcome["version"] == "TLSv1.3")
        #expect(outcome["unwrapped"] == "1")  // our close_notify answered Python's unwrap()
        let identity = try #require(setup.server.log.snapshot.identities.first)
        #expect(identity.principal == .contingent("KAZ"))
        #expect(identity.serial == setup.fixture.contingent.serial)
        #expect(setup.server.log.snapshot.errors.isEmpty)
        await setup.finish()
    }

    @Test func oneMebibyteEchoOverARealSocket() async throws {
        let setup = try await Setup()
        let outcome = try await setup.python(certificate: setup.fixture.contingent, ["--size", "\(1 << 20)"])
        #expect(outcome["result"] == "ok")
        #expect(outcome["unwrapped"] == "1")
        #expect(setup.server.log.snapshot.receivedBytes == 1 << 20)
        await setup.finish()
    }

    @Test func validCertificateWithSClient() async throws {
        let setup = try await Setup()
        let result = try await setup.sClient(certificate: setup.fixture.contingent)
        #expect(result.stderr.contains("CONNECTION ESTABLISHED"))
        #expect(result.stderr.contains("Protocol version: TLSv1.3"))
        #expect(result.stdout.contains("hello hub"))
        #expect(result.status == 0)
        #expect(setup.server.log.snapshot.identities.first?.principal == .contingent("KAZ"))
        await setup.finish()
    }

    /// A certificate issued for a signing request, with the key `openssl req` made and the hub never saw, opens a
    /// session as the contingent the hub named in it.
    @Test(arguments: [["rsa:2048"], ["ec", "-pkeyopt", "ec_paramgen_curve:P-384"], ["ed25519"]])
    func certificateIssuedForASigningRequestIsAccepted(newKey: [String]) async throws {
        let setup = try await Setup()
        let made = try opensslSigningRequest(in: setup.fixture.directory.url, stem: "uzb", newKey: newKey)
        let entry = try setup.fixture.pki.issueContingent(
            "UZB", key: .signingRequest(try Data(contentsOf: URL(fileURLWithPath: made.request))))
        let result = try await Clients.sClient(
            port: setup.server.port,
            ["-CAfile", setup.fixture.caFile, "-cert", setup.fixture.path(entry.certificatePath), "-key", made.key])
        #expect(result.stderr.contains("CONNECTION ESTABLISHED"), "\(result.stderr)")
        #expect(result.stdout.contains("hello hub"))
        #expect(setup.server.log.snapshot.identities.first?.principal == .contingent("UZB"))
        await setup.finish()
    }

    @Test func configuredCipherSuitesAreTheOnlyOnesAccepted() async throws {
        let setup = try await Setup(configure: {
            $0.cipherSuites = "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256"
        })
        // s_client offers OpenSSL's list, AES-256-GCM first: the server passes over it.
        let accepted = try await setup.sClient(certificate: setup.fixture.contingent)
        let suite = accepted.stderr.split(separator: "\n").first { $0.hasPrefix("Ciphersuite: ") }
        #expect(["Ciphersuite: TLS_CHACHA20_POLY1305_SHA256", "Ciphersuite: TLS_AES_128_GCM_SHA256"].contains(suite))
        #expect(accepted.stdout.contains("hello hub"))
        let refused = try await setup.sClient(
            certificate: setup.fixture.contingent, ["-ciphersuites", "TLS_AES_256_GCM_SHA384"])
        #expect(!refused.stderr.contains("CONNECTION ESTABLISHED"))
        #expect(try await setup.serverError().reason.contains("no shared cipher"))
        await setup.finish()
    }

    /// A TLS 1.2 client may not renegotiate: the peer's identity stays the certificate of its first handshake.
    @Test func renegotiationIsRefused() async throws {
        let setup = try await Setup(configure: { $0.minimumVersion = .tlsv1_2 })
        let fixture = setup.fixture
        // A line "R" makes s_client renegotiate; the line after it comes back only if the connection lived on.
        let command =
            "(printf 'R\\n'; sleep 1; printf 'after renegotiation\\n'; sleep 2) | openssl s_client -brief -tls1_2 "
            + "-connect 127.0.0.1:\(setup.server.port) -servername localhost -verify_return_error "
            + "-CAfile '\(fixture.caFile)' -cert '\(fixture.path(fixture.contingent.certificatePath))' "
            + "-key '\(fixture.path(fixture.contingent.keyPath!))'"
        let result = try await Task.detached { try ProcessRunner.run("sh", ["-c", command], timeout: 60) }.value
        #expect(result.stderr.contains("CONNECTION ESTABLISHED"))
        #expect(result.stderr.contains("RENEGOTIATING"))
        #expect(result.stderr.contains("no renegotiation"))
        #expect(!result.stdout.contains("after renegotiation"))
        #expect(setup.server.log.snapshot.identities.count == 1)
        await setup.finish()
    }

    /// The chain OpenSSL's `s_client` received (trusting `caFile`, the fixture's CA by default): the number of
    /// certificates, and its verdict.
    private func receivedChain(
        port: Int, _ fixture: TestPKI, caFile: String? = nil
    ) throws -> (certificates: Int, verified: Bool) {
        let command =
            "sleep 1 | openssl s_client -showcerts -connect 127.0.0.1:\(port) -servername localhost "
            + "-verify_return_error -CAfile '\(caFile ?? fixture.caFile)' "
            + "-cert '\(fixture.path(fixture.contingent.certificatePath))' "
            + "-key '\(fixture.path(fixture.contingent.keyPath!))'"
        let result = try ProcessRunner.run("sh", ["-c", command], timeout: 60)
        return (
            result.stdout.components(separatedBy: "-----BEGIN CERTIFICATE-----").count - 1,
            result.stdout.contains("Verify return code: 0 (ok)")
        )
    }

    @Test func serverSendsItsCertificateWithoutTheRoot() async throws {
        let setup = try await Setup()
        let chain = try receivedChain(port: setup.server.port, setup.fixture)
        #expect(chain.certificates == 1)
        #expect(chain.verified)
        await setup.finish()
    }

    /// A server certificate issued by an intermediate CA reaches clients that hold only the root, whether the
    /// intermediate is in the certificate file or in the CA file. (The hub's own CA allows no intermediate, so the
    /// server's hierarchy here is a second one; contingents still come from the fixture's CA.)
    @Test(arguments: [true, false]) func intermediateIsSentWithTheServerCertificate(inCertificateFile: Bool)
        async throws
    {
        let fixture = try TestPKI()
        defer { fixture.remove() }
        let script = """
            set -e
            openssl genpkey -algorithm ED25519 -out root.key
            printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n' > ca.ext
            openssl req -new -x509 -key root.key -subj '/O=Server Root' -days 30 -addext \
                'basicConstraints=critical,CA:TRUE' -addext 'keyUsage=critical,keyCertSign,cRLSign' -out root.pem
            openssl genpkey -algorithm ED25519 -out int.key
            openssl req -new -key int.key -subj '/O=PeaceHub/CN=PeaceHub Intermediate' -out int.csr
            openssl x509 -req -in int.csr -CA root.pem -CAkey root.key -set_serial 77 -days 30 -extfile ca.ext \
                -out int.pem
            openssl genpkey -algorithm ED25519 -out leaf.key
            openssl req -new -key leaf.key -subj '/O=PeaceHub/CN=localhost' -out leaf.csr
            printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > leaf.ext
            openssl x509 -req -in leaf.csr -CA int.pem -CAkey int.key -set_serial 78 -days 30 -extfile leaf.ext \
                -out leaf.pem
            cat leaf.pem int.pem > leaf-chain.pem
            cat '\(fixture.caFile)' root.pem int.pem > cas.pem
            """
        let made = try ProcessRunner.run("sh", ["-c", script], currentDirectory: fixture.directory.url)
        try #require(made.status == 0, "\(made.stderr)")
        var configuration = fixture.serverConfiguration()
        let directory = fixture.directory.url
        configuration.privateKeyFile = directory.appendingPathComponent("leaf.key").path
        if inCertificateFile {
            configuration.certificateFile = directory.appendingPathComponent("leaf-chain.pem").path
        } else {
            configuration.certificateFile = directory.appendingPathComponent("leaf.pem").path
            configuration.trustedCAFile = directory.appendingPathComponent("cas.pem").path
        }
        let server = try await TestServer(configuration: configuration)
        let chain = try receivedChain(
            port: server.port, fixture, caFile: directory.appendingPathComponent("root.pem").path)
        #expect(chain.certificates == 2)
        #expect(chain.verified)
        #expect(server.log.snapshot.identities.first?.principal == .contingent("KAZ"))
        await server.stop()
    }

    @Test func noCertificateIsRefused() async throws {
        let setup = try await Setup()
        let outcome = try await setup.python(certificate: nil)
        #expect(outcome["reason"] == "TLSV13_ALERT_CERTIFICATE_REQUIRED")
        let error = try await setup.serverError()
        #expect(error.code == .certificateRejected)
        #expect(error.reason == "peer did not return a certificate")

        let result = try await setup.sClient(certificate: nil)
        #expect(result.stderr.contains("tlsv13 alert certificate required"))
        #expect(result.status != 0)
        await setup.finish()
    }

    @Test func certificateFromAnotherCAWithTheSameNamesIsRefused() async throws {
        let setup = try await Setup()
        // Same CA subject ("O=PeaceHub, CN=PeaceHub CA") and same leaf subject, different keys.
        let rogue = try TestPKI()
        defer { rogue.remove() }
        let outcome = try await Clients.python(
            "echo", port: setup.server.port,
            [
                "--ca", setup.fixture.caFile, "--cert", rogue.path(rogue.contingent.certificatePath),
                "--key", rogue.path(rogue.contingent.keyPath!),
            ])
        #expect(outcome["reason"] == "TLSV1_ALERT_UNKNOWN_CA")
        let error = try await setup.serverError()
        #expect(error.code == .certificateRejected)
        #expect(error.verifyResult == Int(X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY))

        let result = try await Clients.sClient(
            port: setup.server.port,
            [
                "-CAfile", setup.fixture.caFile, "-cert", rogue.path(rogue.contingent.certificatePath),
                "-key", rogue.path(rogue.contingent.keyPath!),
            ])
        #expect(result.stderr.contains("tlsv1 alert unknown ca"))
        await setup.finish()
    }

    @Test func revokedCertificateIsRefused() async throws {
        var revoked: PKIIndex.Entry?
        let setup = try await Setup(prepare: { fixture in
            revoked = try fixture.pki.issueContingent("FRA")
            try fixture.pki.revoke(serial: revoked!.serial)
        })
        let outcome = try await setup.python(certificate: revoked)
        #expect(outcome["reason"] == "SSLV3_ALERT_CERTIFICATE_REVOKED")
        let error = try await setup.serverError()
        #expect(error.code == .certificateRejected)
        #expect(error.verifyResult == Int(X509_V_ERR_CERT_REVOKED))
        #expect(error.reason.hasPrefix("certificate verify failed: certificate revoked (verify error 23)"))

        let result = try await setup.sClient(certificate: revoked)
        #expect(result.stderr.contains("sslv3 alert certificate revoked"))
        // The contingent's other certificate still works.
        #expect(try await setup.python(certificate: setup.fixture.contingent)["result"] == "ok")
        await setup.finish()
    }

    @Test func expiredCertificateIsRefused() async throws {
        var expired: PKIIndex.Entry?
        let setup = try await Setup(prepare: { fixture in
            expired = try fixture.issueCustom(
                name: "expired", subjectCN: Array("KAZ contingent".utf8),
                uris: [Array("urn:peacehub:contingent:KAZ".utf8)], notBefore: Date().addingTimeInterval(-10 * 86400),
                notAfter: Date().addingTimeInterval(-86400))
        })
        let outcome = try await setup.python(certificate: expired)
        #expect(outcome["reason"] == "SSLV3_ALERT_CERTIFICATE_EXPIRED")
        let error = try await setup.serverError()
        #expect(error.verifyResult == Int(X509_V_ERR_CERT_HAS_EXPIRED))
        await setup.finish()
    }

    @Test func expiredCRLLocksEveryoneOutAndIsReported() async throws {
        let setup = try await Setup(prepare: { fixture in
            try fixture.pki.writeCRL(days: 1, now: Date().addingTimeInterval(-3 * 86400))
        })
        guard case .expired = setup.server.store.crlStatus else {
            Issue.record("CRL status is \(setup.server.store.crlStatus), expected expired")
            return
        }
        #expect(setup.server.store.crlStatus.needsAttention)
        let outcome = try await setup.python(certificate: setup.fixture.contingent)
        #expect(outcome["reason"] == "SSLV3_ALERT_CERTIFICATE_EXPIRED")
        let error = try await setup.serverError()
        #expect(error.verifyResult == Int(X509_V_ERR_CRL_HAS_EXPIRED))
        #expect(error.reason.hasPrefix("certificate verify failed: CRL has expired"))
        await setup.finish()
    }

    @Test func crlExpiringSoonIsReported() async throws {
        let setup = try await Setup(prepare: { fixture in try fixture.pki.writeCRL(days: 3) })
        guard case .expiresSoon = setup.server.store.crlStatus else {
            Issue.record("CRL status is \(setup.server.store.crlStatus), expected expiresSoon")
            return
        }
        #expect(try await setup.python(certificate: setup.fixture.contingent)["result"] == "ok")
        await setup.finish()
    }

    @Test func crlSignedByAForeignKeyIsNotLoaded() async throws {
        let setup = try await Setup()
        let rogue = try TestPKI()
        defer { rogue.remove() }
        // The rogue CA has the same name, so its CRL names the same issuer; only the signature differs.
        var configuration = setup.fixture.serverConfiguration()
        configuration.crlFile = rogue.crlFile
        #expect {
            _ = try TLSContext(configuration: configuration)
        } throws: { error in
            (error as? TLSError)?.code == .invalidConfiguration
                && (error as? TLSError)?.reason.contains("is not signed by any CA in") == true
        }
        // Swapped in on disk: the reload fails, the previous context stays, clients still get in.
        try FileManager.default.removeItem(atPath: setup.fixture.crlFile)
        try FileManager.default.copyItem(atPath: rogue.crlFile, toPath: setup.fixture.crlFile)
        #expect(throws: TLSError.self) { try setup.server.store.reload() }
        #expect(setup.server.store.lastReloadError?.code == .invalidConfiguration)
        #expect(try await setup.python(certificate: setup.fixture.contingent)["result"] == "ok")
        await setup.finish()
    }

    @Test func serverCertificateUsedAsClientCertificateIsRefused() async throws {
        let setup = try await Setup()
        let outcome = try await setup.python(certificate: setup.fixture.server)
        #expect(outcome["reason"] == "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE")
        let error = try await setup.serverError()
        #expect(error.verifyResult == Int(X509_V_ERR_INVALID_PURPOSE))
        await setup.finish()
    }

    @Test func tls12ClientIsRefusedWhenTheMinimumIs13() async throws {
        let setup = try await Setup()
        let outcome = try await setup.python(certificate: setup.fixture.contingent, ["--tls12"])
        #expect(outcome["reason"] == "TLSV1_ALERT_PROTOCOL_VERSION")
        let error = try await setup.serverError()
        #expect(error.code == .handshakeFailed)
        #expect(error.reason == "unsupported protocol")

        let result = try await setup.sClient(certificate: setup.fixture.contingent, ["-tls1_2"])
        #expect(result.stderr.contains("tlsv1 alert protocol version"))
        await setup.finish()
    }

    @Test func tls12ClientIsAcceptedWhenConfigured() async throws {
        let setup = try await Setup(configure: { $0.minimumVersion = .tlsv1_2 })
        let outcome = try await setup.python(certificate: setup.fixture.contingent, ["--tls12"])
        #expect(outcome["result"] == "ok")
        #expect(outcome["version"] == "TLSv1.2")
        await setup.finish()
    }

    @Test func certificateWithoutContingentSANIsRefused() async throws {
        var plain: PKIIndex.Entry?
        let setup = try await Setup(prepare: { fixture in
            plain = try fixture.issueCustom(name: "plain", subjectCN: Array("KAZ contingent".utf8))
        })
        let outcome = try await setup.python(certificate: plain)
        #expect(outcome["reason"] == "SSLV3_ALERT_HANDSHAKE_FAILURE")
        let error = try await setup.serverError()
        #expect(error.code == .identityRejected)
        #expect(error.reason.hasPrefix("client certificate has no urn:peacehub:contingent:<CODE>"))
        #expect(setup.server.log.snapshot.identities.isEmpty)
        await setup.finish()
    }

    @Test func silentClientIsDroppedAfterTheHandshakeTimeout() async throws {
        let setup = try await Setup(configure: { $0.handshakeTimeout = .seconds(1) })
        let outcome = try await Clients.python("silent", port: setup.server.port, ["--timeout", "60"])
        #expect(outcome["result"] == "closed")
        let error = try await setup.serverError()
        #expect(error.code == .handshakeTimeout)
        #expect(error.reason == "peer did not complete the handshake within 1.0 s")
        await setup.finish()
    }

    @Test func closeWithoutCloseNotifyIsReportedAsTruncation() async throws {
        let setup = try await Setup()
        let outcome = try await setup.python("truncate", certificate: setup.fixture.contingent)
        #expect(outcome["result"] == "ok")
        let error = try await setup.serverError()
        #expect(error.code == .uncleanShutdown)
        #expect(error.reason == "peer closed the connection without close_notify (possible truncation)")
        await setup.finish()
    }

    @Test func reloadWithNewCRLClosesTheRevokedSessionAndKeepsTheOthers() async throws {
        var doomed: PKIIndex.Entry?
        let setup = try await Setup(prepare: { fixture in doomed = try fixture.pki.issueContingent("FRA") })
        let doomedEntry = try #require(doomed)
        let ready = setup.fixture.directory.path("ready")
        let go = setup.fixture.directory.path("go")
        let fixture = setup.fixture
        let port = setup.server.port
        let client = Task.detached {
            try await Clients.python(
                "hold", port: port,
                [
                    "--ca", fixture.caFile, "--cert", fixture.path(fixture.contingent.certificatePath),
                    "--key", fixture.path(fixture.contingent.keyPath!), "--cert2",
                    fixture.path(doomedEntry.certificatePath),
                    "--key2", fixture.path(doomedEntry.keyPath!), "--ready-file", ready, "--go-file", go,
                    // This task's waits can stall behind blocking tests that share the cooperative pool.
                    "--timeout", "120",
                ])
        }
        _ = await setup.server.log.wait { _ in FileManager.default.fileExists(atPath: ready) }
        #expect(setup.server.log.snapshot.identities.count == 2)

        try setup.fixture.pki.revoke(serial: doomedEntry.serial)
        let reloaded = ContinuousClock.now
        #expect(try setup.server.store.reload() == 1)
        _ = await setup.server.log.wait { $0.closed[doomedEntry.serial] != nil }
        let closedAt = try #require(setup.server.log.snapshot.closed[doomedEntry.serial])
        #expect(closedAt - reloaded < .seconds(1))
        _ = FileManager.default.createFile(atPath: go, contents: nil)

        let outcome = try await client.value
        #expect(outcome["dropped"] == "closed")
        #expect(outcome["kept"] == "echo")
        #expect(setup.server.log.snapshot.errors.map(\.code).contains(.sessionRevoked))
        #expect(setup.server.log.snapshot.closed[setup.fixture.contingent.serial] != nil)  // after unwrap()
        await setup.finish()
    }

    /// The watcher's poll, called here rather than from its timer: a test's timer task can wait behind the
    /// blocking tests that share the cooperative pool. The polling itself is covered on a real hub
    /// (`ServeLifecycleTests.aRewrittenCRLIsPickedUpWithoutASignal`).
    @Test func fileWatcherReloadsWhenTheCRLChanges() async throws {
        let setup = try await Setup()
        // The files as they are when the watcher is made are its baseline.
        let watcher = TLSFileWatcher(store: setup.server.store, interval: .seconds(1))
        watcher.poll()
        #expect(setup.server.store.reloadCount == 0)
        let revoked = try setup.fixture.pki.revoke(serial: setup.fixture.contingent.serial)
        #expect(revoked.count == 1)
        watcher.poll()
        #expect(setup.server.store.reloadCount == 1)
        #expect(setup.server.store.current.revokedSerials.contains(setup.fixture.contingent.serial))
        watcher.poll()
        #expect(setup.server.store.reloadCount == 1, "an unchanged file is not loaded again")
        #expect(
            try await setup.python(certificate: setup.fixture.contingent)["reason"] == "SSLV3_ALERT_CERTIFICATE_REVOKED"
        )
        await setup.finish()
    }
    /// A reload made elsewhere (SIGHUP, also with other files) is the watcher's new baseline: it loaded the files
    /// already, and a second load logged the CRL status twice.
    @Test func fileWatcherDoesNotLoadAgainWhatASignalLoaded() async throws {
        let setup = try await Setup()
        let store = setup.server.store
        let watcher = TLSFileWatcher(store: store, interval: .seconds(1))
        try setup.fixture.pki.revoke(serial: setup.fixture.contingent.serial)
        try store.reload()
        watcher.poll()
        #expect(store.reloadCount == 1)

        var moved = store.configuration
        moved.crlFile = setup.fixture.path("crl-copy.pem")
        try FileManager.default.copyItem(atPath: try #require(store.configuration.crlFile), toPath: moved.crlFile!)
        try store.reload(configuration: moved)
        watcher.poll()
        #expect(store.reloadCount == 2)
        try Data(contentsOf: URL(fileURLWithPath: moved.crlFile!)).write(to: URL(fileURLWithPath: moved.crlFile!))
        watcher.poll()
        #expect(store.reloadCount == 3, "a change after the signal's reload is loaded")
        await setup.finish()
    }

    /// A half-closed peer (TLS 1.3 close_notify) that reads nothing more: the close waits for the last answer
    /// and the hub's close_notify as long as for a peer's close_notify, not for ever.
    @Test func aHalfClosedPeerThatStopsReadingIsClosed() async throws {
        let fixture = try TestPKI()
        defer { fixture.remove() }
        let server = try await TestServer(configuration: fixture.serverConfiguration(), answerOnInputClosed: 32 << 20)
        // Its own process, not a task: a task blocked on it for as long would starve the other tests' waits. It
        // holds the socket far longer than the wait below: with the whole suite on two cores, this test came back
        // from the wait more than a minute after the client started, and a 60 s hold had ended by then.
        let client = Process()
        client.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        client.arguments = [
            "python3", Clients.script, "stall", "--port", "\(server.port)", "--ca", fixture.caFile, "--cert",
            fixture.path(fixture.contingent.certificatePath), "--key", fixture.path(fixture.contingent.keyPath!),
            "--timeout", "600",
        ]
        client.standardOutput = FileHandle.nullDevice
        try client.run()
        let serial = fixture.contingent.serial
        #expect(await server.log.wait(timeout: .seconds(50)) { $0.closed[serial] != nil })
        #expect(client.isRunning, "closed only when the client gave up")
        // SIGKILL: a child of the test runner may inherit SIGTERM ignored.
        kill(client.processIdentifier, SIGKILL)
        client.waitUntilExit()
        await server.stop()
    }
}
