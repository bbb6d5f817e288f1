import Foundation
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
        let verdict = VerifiedChains.Verdict(principal: .contingent("KAZ"), validFrom: 100, validUntil: 200)
        chains.remember(verdict, for: [1, 2, 3])
        #expect(chains.verdict(for: [1, 2, 3], now: 99) == nil)
        #expect(chains.verdict(for: [1, 2, 3], now: 100) == verdict)
        #expect(chains.verdict(for: [1, 2, 3], now: 199) == verdict)
        #expect(chains.verdict(for: [1, 2, 3], now: 200) == nil)
        #expect(chains.verdict(for: [1, 2], now: 150) == nil)
    }

    @Test func theCacheStaysWithinItsCapacity() {
        let chains = VerifiedChains(crlNextUpdate: nil)
        let verdict = VerifiedChains.Verdict(principal: .contingent("KAZ"), validFrom: 0, validUntil: .max)
        for index in 0...VerifiedChains.capacity {
            chains.remember(verdict, for: withUnsafeBytes(of: index) { Array($0) })
        }
        #expect(chains.count <= VerifiedChains.capacity)
        #expect(chains.verdict(for: withUnsafeBytes(of: VerifiedChains.capacity) { Array($0) }, now: 1) == verdict)
    }
}
