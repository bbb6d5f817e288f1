import Foundation
import PeaceHubTesting
import Testing

@testable import PeaceHubTLS

/// The server context's cache of verified client chains, through real handshakes over memory BIOs.
@Suite struct VerifiedChainsTests {
    private func handshake(
        _ fixture: TestPKI, _ context: TLSContext, _ certificate: PKIIndex.Entry
    ) throws -> EmbeddedHarness {
        let client = try MemoryBIOClient(
            caFile: fixture.caFile, certificateFile: fixture.path(certificate.certificatePath),
            keyFile: fixture.path(certificate.keyPath!))
        let harness = try EmbeddedHarness(context: context, client: client)
        _ = try harness.handshake()
        return harness
    }

    @Test func reconnectWithTheSameCertificateIsAnsweredFromTheCache() throws {
        let fixture = try TestPKI()
        defer { fixture.remove() }
        let context = try fixture.serverContext()
        let chains = try #require(context.verifiedChains)

        let first = try handshake(fixture, context, fixture.contingent)
        #expect(first.recorder.identities.first?.principal == .contingent("KAZ"))
        #expect(chains.count == 1)
        #expect(chains.hits == 0)

        let second = try handshake(fixture, context, fixture.contingent)
        #expect(second.recorder.identities.first?.principal == .contingent("KAZ"))
        #expect(second.recorder.identities.first?.serial == fixture.contingent.serial)
        #expect(chains.hits == 1)

        // Another certificate is verified in full and kept beside the first.
        let other = try fixture.pki.issueOperator("duty-officer")
        let third = try handshake(fixture, context, other)
        #expect(third.recorder.identities.first?.principal == .operator("duty-officer"))
        #expect(chains.count == 2)
        #expect(chains.hits == 1)
    }

    @Test func refusedChainsAreNeverKept() throws {
        let fixture = try TestPKI()
        defer { fixture.remove() }
        let plain = try fixture.issueCustom(name: "plain", subjectCN: Array("KAZ contingent".utf8))
        let context = try fixture.serverContext()
        for _ in 0..<2 {
            let harness = try handshake(fixture, context, plain)
            #expect(harness.recorder.tlsErrors.first?.code == .identityRejected)
            #expect(harness.recorder.identities.isEmpty)
        }
        #expect(context.verifiedChains?.count == 0)
        #expect(context.verifiedChains?.hits == 0)
    }

    @Test func aRevocationTakesEffectWithTheReloadedContext() throws {
        let fixture = try TestPKI()
        defer { fixture.remove() }
        let store = try TLSContextStore(configuration: fixture.serverConfiguration())
        _ = try handshake(fixture, store.current, fixture.contingent)
        #expect(try handshake(fixture, store.current, fixture.contingent).recorder.identities.count == 1)

        _ = try fixture.pki.revoke(contingent: "KAZ")
        try store.reload()
        let refused = try handshake(fixture, store.current, fixture.contingent)
        #expect(refused.recorder.identities.isEmpty)
        #expect(refused.recorder.tlsErrors.first?.code == .certificateRejected)
        #expect(refused.recorder.tlsErrors.first?.reason.contains("certificate revoked") == true)
    }

    /// A partner hierarchy, root → intermediate → contingent, both CAs in the CA file and each CRL in the CRL file.
    /// When the root's CRL revokes the intermediate, the live sessions under it are closed (one of them answered
    /// from the cache) and new ones refused; without the root's CRL the intermediate cannot be checked at all.
    @Test func revokingAnIntermediateClosesAndRefusesItsBranch() throws {
        let fixture = try TestPKI()
        defer { fixture.remove() }
        let folder = fixture.directory
        let crls = """
            openssl ca -gencrl -config root.cnf -cert root.pem -keyfile root.key -out root.crl
            openssl ca -gencrl -config int.cnf -cert int.pem -keyfile int.key -out int.crl
            cat '\(fixture.crlFile)' root.crl int.crl > crls.pem
            cat '\(fixture.crlFile)' int.crl > no-root-crl.pem
            """
        let setUp = """
            set -e
            key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out $1.key; }
            for ca in root int; do
                mkdir db-$ca && touch db-$ca/index.txt && echo 01 > db-$ca/crlnumber
                printf '[ca]\ndefault_ca = c\n[c]\ndatabase = db-%s/index.txt\ncrlnumber = db-%s/crlnumber\n' \
                    $ca $ca > $ca.cnf
                printf 'default_md = sha256\ndefault_crl_days = 30\n' >> $ca.cnf
            done
            key root
            openssl req -new -x509 -key root.key -subj '/O=Partner Root' -days 30 -addext \
                'basicConstraints=critical,CA:TRUE' -addext 'keyUsage=critical,keyCertSign,cRLSign' -out root.pem
            key int
            openssl req -new -key int.key -subj '/O=Partner/CN=Partner Intermediate' -out int.csr
            printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n' > int.ext
            openssl x509 -req -in int.csr -CA root.pem -CAkey root.key -set_serial 77 -days 30 -extfile int.ext \
                -out int.pem
            key leaf
            openssl req -new -key leaf.key -subj '/O=Partner/CN=KAZ' -out leaf.csr
            printf 'subjectAltName=URI:urn:peacehub:contingent:KAZ\nextendedKeyUsage=clientAuth\n' > leaf.ext
            openssl x509 -req -in leaf.csr -CA int.pem -CAkey int.key -set_serial 78 -days 30 -extfile leaf.ext \
                -out leaf.pem
            cat '\(fixture.caFile)' root.pem int.pem > cas.pem
            """
        let made = try ProcessRunner.run("sh", ["-c", setUp + "\n" + crls], currentDirectory: folder.url)
        try #require(made.status == 0, "\(made.stderr)")
        var configuration = fixture.serverConfiguration()
        configuration.trustedCAFile = folder.path("cas.pem")
        configuration.crlFile = folder.path("crls.pem")
        let store = try TLSContextStore(configuration: configuration)
        func connect() throws -> EmbeddedHarness {
            let client = try MemoryBIOClient(
                caFile: fixture.caFile, certificateFile: folder.path("leaf.pem"), keyFile: folder.path("leaf.key"))
            let harness = try EmbeddedHarness(context: store.current, client: client, sessions: store.sessions)
            _ = try harness.handshake()
            return harness
        }
        let live = [try connect(), try connect()]
        #expect(live.map { $0.recorder.identities.first?.principal } == [.contingent("KAZ"), .contingent("KAZ")])
        #expect(store.current.verifiedChains?.hits == 1)

        let verifier = try TLSContext.clientVerifier(
            trustedCAFile: folder.path("cas.pem"), crlFile: folder.path("no-root-crl.pem"))
        let leaf = try Data(contentsOf: folder.url.appendingPathComponent("leaf.pem"))
        guard case .failure(let unchecked) = verifier.verifyClientCertificate(leaf) else {
            Issue.record("an intermediate without its issuer's CRL was accepted")
            return
        }
        #expect(unchecked.reason.contains("unable to get certificate CRL (verify error 3) at depth 1"), "\(unchecked)")

        let revoke = "set -e\nopenssl ca -config root.cnf -cert root.pem -keyfile root.key -revoke int.pem\n" + crls
        let revoked = try ProcessRunner.run("sh", ["-c", revoke], currentDirectory: folder.url)
        try #require(revoked.status == 0, "\(revoked.stderr)")
        #expect(try store.reload() == 2)
        for harness in live {
            harness.channel.embeddedEventLoop.run()
            #expect(harness.recorder.tlsErrors.map(\.code) == [.sessionRevoked])
            let reason = harness.recorder.tlsErrors.first?.reason
            #expect(reason == "the CA certificate serial 4D of its chain has been revoked")
        }
        let refused = try connect()
        #expect(refused.recorder.identities.isEmpty)
        #expect(refused.recorder.tlsErrors.first?.reason.contains("certificate revoked") == true)
    }

    @Test func aVerdictLastsUntilTheCertificateOrTheCRLExpires() throws {
        let fixture = try TestPKI()
        defer { fixture.remove() }
        let notAfter = Int64(Date().timeIntervalSince1970) + 3600
        let shortLived = try fixture.issueCustom(
            name: "short", subjectCN: Array("KAZ".utf8), uris: [Array("urn:peacehub:contingent:KAZ".utf8)],
            notAfter: Date(timeIntervalSince1970: TimeInterval(notAfter)))
        let context = try fixture.serverContext()
        let chains = try #require(context.verifiedChains)
        _ = try handshake(fixture, context, shortLived)
        _ = try handshake(fixture, context, fixture.contingent)
        let crlNextUpdate = Int64(try #require(context.crlNextUpdate).timeIntervalSince1970)
        #expect(notAfter < crlNextUpdate)

        // The key is the DER of what the client sent: OpenSSL's client adds the CA from its store to its leaf.
        let caDER = try der(fixture.caFile)
        let shortLivedDER = try der(fixture.path(shortLived.certificatePath)) + caDER
        #expect(chains.verdict(for: shortLivedDER, now: notAfter - 1)?.principal == .contingent("KAZ"))
        #expect(chains.verdict(for: shortLivedDER, now: notAfter) == nil)
        let contingentDER = try der(fixture.path(fixture.contingent.certificatePath)) + caDER
        #expect(chains.verdict(for: contingentDER, now: crlNextUpdate - 1) != nil)
        #expect(chains.verdict(for: contingentDER, now: crlNextUpdate) == nil)
    }

    /// The DER inside a PEM certificate file.
    private func der(_ path: String) throws -> [UInt8] {
        let base64 = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
            .filter { !$0.hasPrefix("-----") }.joined()
        return Array(try #require(Data(base64Encoded: base64)))
    }

    @Test func aVerdictHoldsOnlyInsideItsWindow() {
        let chains = VerifiedChains(crlNextUpdate: nil)
        let verdict = VerifiedChains.Verdict(principal: .contingent("KAZ"), chain: [], validFrom: 100, validUntil: 200)
        chains.remember(verdict, for: [1, 2, 3])
        #expect(chains.verdict(for: [1, 2, 3], now: 99) == nil)
        #expect(chains.verdict(for: [1, 2, 3], now: 100) == verdict)
        #expect(chains.verdict(for: [1, 2, 3], now: 199) == verdict)
        #expect(chains.verdict(for: [1, 2, 3], now: 200) == nil)
        #expect(chains.verdict(for: [1, 2], now: 150) == nil)
    }

    @Test func theCacheStaysWithinItsCapacity() {
        let chains = VerifiedChains(crlNextUpdate: nil)
        let verdict = VerifiedChains.Verdict(principal: .contingent("KAZ"), chain: [], validFrom: 0, validUntil: .max)
        for index in 0...VerifiedChains.capacity {
            chains.remember(verdict, for: withUnsafeBytes(of: index) { Array($0) })
        }
        #expect(chains.count <= VerifiedChains.capacity)
        #expect(chains.verdict(for: withUnsafeBytes(of: VerifiedChains.capacity) { Array($0) }, now: 1) == verdict)
    }
}
