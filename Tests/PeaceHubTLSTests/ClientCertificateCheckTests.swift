import Foundation
import PeaceHubTesting
import Testing

@testable import PeaceHubTLS

/// `TLSContext.verifyClientCertificate` (behind `peacehub pki verify`) against real handshakes with the listener's
/// context: the same certificates get the same verdict, principal and reason.
@Suite struct ClientCertificateCheckTests {
    /// The listener's verdict on `certificate`: the principal, or the error's code and reason.
    private func handshakeVerdict(
        _ fixture: TestPKI, _ certificate: PKIIndex.Entry
    ) throws -> Result<TLSPeerIdentity.Principal, TLSError> {
        try handshakeVerdict(
            fixture, certificateFile: fixture.path(certificate.certificatePath),
            keyFile: fixture.path(certificate.keyPath!))
    }

    private func handshakeVerdict(
        _ fixture: TestPKI, certificateFile: String, keyFile: String
    ) throws -> Result<TLSPeerIdentity.Principal, TLSError> {
        let client = try MemoryBIOClient(caFile: fixture.caFile, certificateFile: certificateFile, keyFile: keyFile)
        let harness = try EmbeddedHarness(context: try fixture.serverContext(), client: client)
        _ = try? harness.handshake()
        if let identity = harness.recorder.identities.first { return .success(identity.principal) }
        return .failure(try #require(harness.recorder.tlsErrors.first))
    }

    private func checkVerdict(
        _ fixture: TestPKI, _ certificate: PKIIndex.Entry
    ) throws -> Result<TLSPeerIdentity.Principal, TLSError> {
        try checkVerdict(fixture, certificateFile: fixture.path(certificate.certificatePath))
    }

    private func checkVerdict(
        _ fixture: TestPKI, certificateFile: String
    ) throws -> Result<TLSPeerIdentity.Principal, TLSError> {
        let verifier = try TLSContext.clientVerifier(trustedCAFile: fixture.caFile, crlFile: fixture.crlFile)
        let pem = try Data(contentsOf: URL(fileURLWithPath: certificateFile))
        return verifier.verifyClientCertificate(pem).map(\.principal)
    }

    /// A client certificate signed by the fixture's CA with the real `openssl x509 -req`, with the extensions
    /// given in openssl.cnf syntax: what an operator's own tooling might issue. Returns its certificate and key.
    private func opensslIssued(
        _ fixture: TestPKI, stem: String, newKey: [String] = ["ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        alternativeNames: String = "URI:urn:peacehub:contingent:UZB", extensions: [String]
    ) throws -> (certificate: String, key: String) {
        let folder = fixture.directory.url
        let (key, request) = try opensslSigningRequest(in: folder, stem: stem, newKey: newKey)
        let extensionsFile = folder.appendingPathComponent("\(stem).ext")
        let lines = ["subjectAltName = \(alternativeNames)"] + extensions
        try lines.joined(separator: "\n").write(to: extensionsFile, atomically: true, encoding: .utf8)
        let certificate = folder.appendingPathComponent("\(stem).pem").path
        let result = try ProcessRunner.run(
            "openssl",
            [
                "x509", "-req", "-in", request, "-CA", fixture.caFile, "-CAkey", fixture.pki.caKeyURL.path,
                "-set_serial", "0x\(UInt32.random(in: 1...UInt32.max))", "-days", "1", "-extfile",
                extensionsFile.path, "-out", certificate,
            ],
            timeout: 60)
        try #require(result.status == 0, "\(result.stderr)")
        return (certificate, key)
    }

    /// What the purpose check lets through and a client certificate still must not be: without the extended key
    /// usage clientAuth, a CA (also one whose key usage lacks keyCertSign), a key usage without digitalSignature
    /// (TLS 1.3 clients sign); and a key the context's security level calls too weak.
    @Test func aClientCertificateMustSayItIsOneAndBeStrongEnough() throws {
        let fixture = try TestPKI()
        defer { fixture.remove() }
        let cases: [(stem: String, extensions: [String], reason: String)] = [
            ("no-eku", [], "no extended key usage clientAuth"),
            (
                "ca", ["basicConstraints = critical, CA:TRUE", "keyUsage = critical, digitalSignature, keyCertSign",
                    "extendedKeyUsage = clientAuth"], "is a CA certificate"
            ),
            (
                "ca-signature-only", ["basicConstraints = critical, CA:TRUE", "keyUsage = critical, digitalSignature",
                    "extendedKeyUsage = clientAuth"], "is a CA certificate"
            ),
            (
                "key-agreement", ["keyUsage = critical, keyAgreement", "extendedKeyUsage = clientAuth"],
                "key usage lacks digitalSignature"
            ),
            // RFC 5280 4.2.1.3: keyCertSign only with CA:TRUE; OpenSSL's CA check lets this one through.
            (
                "key-cert-sign-not-ca", ["basicConstraints = critical, CA:FALSE",
                    "keyUsage = critical, digitalSignature, keyCertSign", "extendedKeyUsage = clientAuth"],
                "is a CA certificate"
            ),
        ]
        for (stem, extensions, reason) in cases {
            let issued = try opensslIssued(fixture, stem: stem, extensions: extensions)
            for verdict in [
                try checkVerdict(fixture, certificateFile: issued.certificate),
                try handshakeVerdict(fixture, certificateFile: issued.certificate, keyFile: issued.key),
            ] {
                guard case .failure(let error) = verdict else {
                    Issue.record("\(stem) was accepted")
                    continue
                }
                #expect(error.code == .identityRejected && error.reason.contains(reason), "\(stem): \(error)")
            }
        }
        let good = try opensslIssued(fixture, stem: "good", extensions: ["extendedKeyUsage = clientAuth"])
        #expect((try? checkVerdict(fixture, certificateFile: good.certificate).get()) == .contingent("UZB"))
        #expect(
            (try? handshakeVerdict(fixture, certificateFile: good.certificate, keyFile: good.key).get())
                == .contingent("UZB"))

        let weak = try opensslIssued(
            fixture, stem: "rsa1024", newKey: ["rsa:1024"], extensions: ["extendedKeyUsage = clientAuth"])
        guard case .failure(let error) = try checkVerdict(fixture, certificateFile: weak.certificate) else {
            Issue.record("an RSA-1024 certificate was accepted, which the listener refuses")
            return
        }
        #expect(error.reason.contains("key too weak (verify error 66)"), "\(error)")
    }

    /// A URN's scheme and namespace are read in any case (RFC 8141 3.1, RFC 5280 7.4): a second principal written
    /// `URN:PeaceHub:` was not seen, and the certificate taken for the other one.
    @Test func aPeaceHubURNIsReadInAnyCase() throws {
        let fixture = try TestPKI()
        defer { fixture.remove() }
        // A principal when it is accepted, else the reason it is refused.
        let cases: [(stem: String, names: String, principal: TLSPeerIdentity.Principal?, reason: String)] = [
            ("upper", "URI:URN:PEACEHUB:contingent:KAZ", .contingent("KAZ"), ""),
            ("hidden", "URI:URN:PeaceHub:contingent:KGZ, URI:urn:peacehub:contingent:IND", nil, "more than one"),
            ("hidden-operator", "URI:urn:peacehub:contingent:KAZ, URI:urn:PEACEHUB:operator:duty", nil, "more than one"),
            ("unknown-kind", "URI:urn:peacehub:Contingent:KAZ", nil, "naming neither a contingent nor an operator"),
        ]
        for (stem, names, principal, reason) in cases {
            let issued = try opensslIssued(
                fixture, stem: stem, alternativeNames: names, extensions: ["extendedKeyUsage = clientAuth"])
            for verdict in [
                try checkVerdict(fixture, certificateFile: issued.certificate),
                try handshakeVerdict(fixture, certificateFile: issued.certificate, keyFile: issued.key),
            ] {
                switch verdict {
                case .success(let accepted): #expect(accepted == principal, "\(stem)")
                case .failure(let error): #expect(principal == nil && error.reason.contains(reason), "\(stem): \(error)")
                }
            }
        }
    }

    private func expectSameVerdict(_ fixture: TestPKI, _ certificate: PKIIndex.Entry) throws {
        let handshake = try handshakeVerdict(fixture, certificate)
        let check = try checkVerdict(fixture, certificate)
        switch (handshake, check) {
        case (.success(let listener), .success(let checked)):
            #expect(listener == checked, "\(certificate.name)")
        case (.failure(let listener), .failure(let checked)):
            #expect(listener.code == checked.code, "\(certificate.name): \(listener) against \(checked)")
            #expect(listener.reason == checked.reason, "\(certificate.name)")
        default:
            Issue.record("\(certificate.name): the handshake gave \(handshake), the check \(check)")
        }
    }

    @Test func theCheckAgreesWithTheListener() throws {
        let fixture = try TestPKI()
        defer { fixture.remove() }
        let accepted = [fixture.contingent, try fixture.pki.issueOperator("duty-officer")]
        let refused = [
            fixture.server,  // serverAuth only: unsuitable purpose
            try fixture.issueCustom(name: "no-principal", subjectCN: Array("KAZ contingent".utf8)),
            try fixture.issueCustom(
                name: "two-principals", subjectCN: Array("two".utf8),
                uris: [Array("urn:peacehub:contingent:KAZ".utf8), Array("urn:peacehub:operator:root".utf8)]),
            try fixture.issueCustom(
                name: "expired", subjectCN: Array("old".utf8), uris: [Array("urn:peacehub:contingent:KGZ".utf8)],
                notBefore: Date().addingTimeInterval(-7200), notAfter: Date().addingTimeInterval(-3600)),
            try fixture.pki.issueContingent("TJK", key: .generate(.ed25519)),
        ]
        _ = try fixture.pki.revoke(contingent: "TJK")
        for certificate in accepted {
            #expect((try? checkVerdict(fixture, certificate).get()) != nil, "\(certificate.name)")
            try expectSameVerdict(fixture, certificate)
        }
        for certificate in refused {
            #expect((try? checkVerdict(fixture, certificate).get()) == nil, "\(certificate.name)")
            try expectSameVerdict(fixture, certificate)
        }
    }

    /// A CA rotation as docs/operations.md describes it: the old and the new CA share their name (`pki init`'s
    /// default), both are trusted and both CRLs loaded, in either order. Each CRL names its signing key (authority
    /// key identifier), so each CA's clients are checked against their own CA's CRL: both are accepted, and a
    /// revocation by either CA still holds.
    @Test func twoCAsOfOneNameEachWithItsOwnCRL() throws {
        let old = try TestPKI()
        defer { old.remove() }
        let new = try TestPKI()
        defer { new.remove() }
        let folder = try TemporaryDirectory(prefix: "phub-rotation")
        defer { folder.remove() }
        let revokedEntry = try old.pki.issueContingent("KGZ", key: .generate(.ed25519))
        try old.pki.revoke(serial: revokedEntry.serial)
        func contents(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }
        for crls in [[old.crlFile, new.crlFile], [new.crlFile, old.crlFile]] {
            try (contents(old.caFile) + contents(new.caFile)).write(to: folder.url.appendingPathComponent("ca.pem"))
            try (contents(crls[0]) + contents(crls[1])).write(to: folder.url.appendingPathComponent("crl.pem"))
            let verifier = try TLSContext.clientVerifier(
                trustedCAFile: folder.path("ca.pem"), crlFile: folder.path("crl.pem"))
            for fixture in [old, new] {
                let pem = try contents(fixture.path(fixture.contingent.certificatePath))
                let verdict = verifier.verifyClientCertificate(pem).map(\.principal)
                #expect((try? verdict.get()) == .contingent("KAZ"), "\(verdict)")
            }
            let revoked = try contents(old.path(revokedEntry.certificatePath))
            guard case .failure(let error) = verifier.verifyClientCertificate(revoked) else {
                Issue.record("a certificate the old CA revoked was accepted")
                continue
            }
            #expect(error.reason.contains("certificate revoked"), "\(error)")
        }
    }

    @Test func aChainFromAnotherCAAndInputThatIsNoCertificateAreRefused() throws {
        let fixture = try TestPKI()
        defer { fixture.remove() }
        let other = try TestPKI()
        defer { other.remove() }
        let verifier = try TLSContext.clientVerifier(trustedCAFile: fixture.caFile, crlFile: fixture.crlFile)
        let foreign = try Data(contentsOf: URL(fileURLWithPath: other.path(other.contingent.certificatePath)))
        guard case .failure(let error) = verifier.verifyClientCertificate(foreign) else {
            Issue.record("a certificate of another CA was accepted")
            return
        }
        #expect(error.reason.contains("unable to get local issuer certificate (verify error 20)"), "\(error)")
        guard case .failure(let text) = verifier.verifyClientCertificate(Data("hello".utf8)) else {
            Issue.record("text was accepted")
            return
        }
        #expect(text.reason == "not a certificate (PEM or DER)")
    }

    @Test func theTimeCanBeChosen() throws {
        let fixture = try TestPKI()
        defer { fixture.remove() }
        let verifier = try TLSContext.clientVerifier(trustedCAFile: fixture.caFile, crlFile: fixture.crlFile)
        let pem = try Data(contentsOf: URL(fileURLWithPath: fixture.path(fixture.contingent.certificatePath)))
        let checked = try verifier.verifyClientCertificate(pem).get()
        #expect(checked.serial == fixture.contingent.serial)
        let notAfter = try #require(checked.notAfter)
        guard case .failure(let expired) = verifier.verifyClientCertificate(pem, at: notAfter.addingTimeInterval(60))
        else {
            Issue.record("accepted after its notAfter")
            return
        }
        // The CRL's nextUpdate comes first: after it, every client would be refused.
        #expect(expired.reason.contains("has expired"), "\(expired)")
    }
}
