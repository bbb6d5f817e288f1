import COpenSSL
import Foundation
import MetricsTestKit
@testable import PeaceHubTLS
import PeaceHubTesting
import Testing

/// The TLS layer's metrics, read through swift-metrics' test backend (shared by the whole test process: values
/// are compared before and after, or looked for among those recorded).
@Suite struct TLSMetricsTests {
    let metrics = TestMetricsBackend.metrics

    func failures(_ reason: String) -> Int64 {
        (try? metrics.expectCounter("peacehub_tls_handshake_failures_total", [("reason", reason)]).totalValue) ?? 0
    }

    @Test(arguments: [
        (TLSError(.certificateRejected, "certificate verify failed", verifyResult: Int(X509_V_ERR_CERT_REVOKED)), "certificate_revoked"),
        (TLSError(.certificateRejected, "certificate verify failed", verifyResult: Int(X509_V_ERR_CERT_HAS_EXPIRED)), "certificate_expired"),
        (TLSError(.certificateRejected, "certificate verify failed", verifyResult: Int(X509_V_ERR_CRL_HAS_EXPIRED)), "crl_expired"),
        (TLSError(.certificateRejected, "certificate verify failed", verifyResult: Int(X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY)), "unknown_ca"),
        (TLSError(.certificateRejected, "certificate verify failed", verifyResult: Int(X509_V_ERR_INVALID_PURPOSE)), "bad_certificate"),
        (TLSError(.certificateRejected, "peer did not return a certificate"), "no_certificate"),
        (TLSError(.identityRejected, "no urn:peacehub: SAN", verifyResult: Int(X509_V_ERR_APPLICATION_VERIFICATION)), "bad_certificate"),
        (TLSError(.handshakeFailed, "unsupported protocol"), "protocol_version"),
        (TLSError(.handshakeFailed, "error:0A000418:SSL routines::tlsv1 alert unknown ca"), "unknown_ca"),
        (TLSError(.handshakeFailed, "no shared cipher"), "other"),
        (TLSError(.handshakeTimeout, "peer did not complete the handshake within 5.0 s"), "timeout"),
        (TLSError(.uncleanShutdown, "peer closed the connection during the handshake"), "peer_closed"),
    ])
    func handshakeFailureReasonsAreASmallClosedSet(error: TLSError, reason: String) {
        #expect(error.handshakeFailureReason == reason)
        #expect(TLSError.handshakeFailureReasons.contains(reason))
    }

    @Test func refusedHandshakesAreCountedByReason() async throws {
        _ = metrics
        let fixture = try TestPKI()
        defer { fixture.remove() }
        let revoked = try fixture.pki.issueContingent("FRA")
        try fixture.pki.revoke(serial: revoked.serial)
        let server = try await TestServer(configuration: fixture.serverConfiguration())
        let (noCertificate, revokedBefore) = (failures("no_certificate"), failures("certificate_revoked"))

        var outcome = try await Clients.python("echo", port: server.port, ["--ca", fixture.caFile])
        #expect(outcome["reason"] == "TLSV13_ALERT_CERTIFICATE_REQUIRED")
        outcome = try await Clients.python(
            "echo", port: server.port,
            [
                "--ca", fixture.caFile, "--cert", fixture.path(revoked.certificatePath), "--key",
                fixture.path(revoked.keyPath!),
            ])
        #expect(outcome["reason"] == "SSLV3_ALERT_CERTIFICATE_REVOKED")
        _ = await server.log.wait { $0.errors.count >= 2 }

        #expect(failures("no_certificate") >= noCertificate + 1)
        #expect(failures("certificate_revoked") >= revokedBefore + 1)
        await server.stop()
    }

    /// A client that closes mid-handshake with the server's flight unread resets the connection: counted as
    /// `peer_closed` as a clean close is (the reset went up as an I/O error, and the handler that closed on it left
    /// nothing counted).
    @Test func aPeerThatResetsMidHandshakeIsCounted() async throws {
        _ = metrics
        let fixture = try TestPKI()
        defer { fixture.remove() }
        let server = try await TestServer(configuration: fixture.serverConfiguration())
        let before = failures("peer_closed")
        let kaz = fixture.contingent
        _ = try await Clients.python(
            "reset", port: server.port,
            ["--ca", fixture.caFile, "--cert", fixture.path(kaz.certificatePath), "--key", fixture.path(kaz.keyPath!)])
        _ = await server.log.wait { $0.errors.contains { $0.code == .uncleanShutdown } }
        #expect(server.log.snapshot.errors.map(\.reason).contains("peer reset the connection during the handshake"))
        #expect(failures("peer_closed") >= before + 1)
        await server.stop()
    }

    /// The expiry gauges carry the dates of the context built last, at start and after a reload (a PKI with
    /// validities no other test uses, so its values can be told apart).
    @Test func expiryGaugesFollowEachNewContext() throws {
        _ = metrics
        let directory = try TemporaryDirectory(prefix: "phub-tls-metrics")
        defer { directory.remove() }
        let pki = PKI(directory: directory.url)
        try pki.initialize(days: 1237, crlDays: 3)
        let server = try pki.issueServer(hosts: ["localhost"], days: 77)
        let store = try TLSContextStore(
            configuration: .server(
                certificateFile: pki.url(server.certificatePath).path, privateKeyFile: pki.url(server.keyPath!).path,
                trustedCAFile: pki.caCertificateURL.path, crlFile: pki.crlURL.path))

        func recorded(_ label: String, _ dimensions: [(String, String)] = []) throws -> [Double] {
            try metrics.expectGauge(label, dimensions).values
        }
        let context = store.current
        let serverExpiry = try #require(context.certificateNotAfter).timeIntervalSince1970
        let caExpiry = try #require(context.trustedCANotAfter).timeIntervalSince1970
        #expect(abs(serverExpiry - Date().addingTimeInterval(77 * 86400).timeIntervalSince1970) < 600)
        #expect(abs(caExpiry - Date().addingTimeInterval(1237 * 86400).timeIntervalSince1970) < 600)
        let expiry = "peacehub_tls_certificate_expiry_timestamp_seconds"
        #expect(try recorded(expiry, [("certificate", "server")]).contains(serverExpiry))
        #expect(try recorded(expiry, [("certificate", "ca")]).contains(caExpiry))
        let crl = "peacehub_tls_crl_next_update_timestamp_seconds"
        #expect(try recorded(crl).contains(try #require(context.crlNextUpdate).timeIntervalSince1970))

        try pki.writeCRL(days: 5)
        try store.reload()
        let nextUpdate = try #require(store.current.crlNextUpdate).timeIntervalSince1970
        #expect(abs(nextUpdate - Date().addingTimeInterval(5 * 86400).timeIntervalSince1970) < 600)
        #expect(try recorded(crl).contains(nextUpdate))

        // A CRL made elsewhere without nextUpdate: the gauge kept the date of the CRL it replaced.
        let ca = try pki.loadCA()
        let pem = try CRLBuilder.make(ca: ca, revoked: [], number: 99, lastUpdate: Date(), nextUpdate: nil)
        try pem.write(to: pki.crlURL)
        try store.reload()
        #expect(store.current.crlNextUpdate == nil)
        #expect(try recorded(crl).contains(.infinity))
    }
}
