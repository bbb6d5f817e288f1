import COpenSSL
import NIOCore
import Testing

@testable import PeaceHubTLS

/// A server's TLS 1.3 connection lets go of its session, and with it the client's parsed certificate, once the
/// identity is taken (`phub_ssl_release_session`): memory an idle connection kept for its whole life. The
/// connection then works as before: data both ways, KeyUpdates asked of it and answered, close_notify.
@Suite struct SessionReleaseTests {
    /// A `TLSConnection` of the server and an OpenSSL client, with the ciphertext carried between them by hand.
    private struct Pair {
        let server: TLSConnection
        let client: MemoryBIOClient

        /// Carries what each side wrote to the other until neither writes more.
        func exchange() {
            while true {
                let toServer = client.takeOutput()
                if !toServer.isEmpty { server.receive(ByteBuffer(bytes: toServer)) }
                let toClient = server.takeCiphertext().map { Array($0.readableBytesView) } ?? []
                client.receive(toClient)
                if toServer.isEmpty && toClient.isEmpty { return }
            }
        }

        /// What the server reads of what the client sent.
        func serverReads() -> (bytes: [UInt8], result: TLSConnection.ReadResult) {
            var plaintext = ByteBuffer()
            let result = server.read(into: &plaintext)
            exchange()
            return (Array(plaintext.readableBytesView), result)
        }
    }

    private func context(_ fixture: TestPKI) throws -> TLSContext {
        var configuration = fixture.serverConfiguration()
        configuration.minimumVersion = .tlsv1_2
        return try TLSContext(configuration: configuration)
    }

    private func connect(_ fixture: TestPKI, to context: TLSContext, clientMaximum: Int32? = nil) throws -> Pair {
        let pair = Pair(
            server: try TLSConnection(context: context, serverHostname: nil),
            client: try MemoryBIOClient(
                caFile: fixture.caFile, certificateFile: fixture.path(fixture.contingent.certificatePath),
                keyFile: fixture.path(fixture.contingent.keyPath!), maxVersion: clientMaximum))
        var rounds = 0
        while rounds < 10 {
            _ = pair.client.handshake()
            pair.exchange()
            if case .complete = pair.server.handshake() { break }
            rounds += 1
        }
        pair.exchange()
        #expect(pair.client.handshake() == .done)
        return pair
    }

    /// The first connection's chain is verified in full, the second's answered from `VerifiedChains`: neither keeps
    /// the verified chain, whose leaf is the client's certificate.
    @Test func aTLS13ServerConnectionKeepsNoSessionOnceItsPeerIsKnown() throws {
        let fixture = try TestPKI()
        defer { fixture.remove() }
        let context = try context(fixture)
        for _ in 0..<2 {
            let pair = try connect(fixture, to: context)
            #expect(pair.server.isTLS13)
            #expect(SSL_get0_peer_certificate(pair.server.ssl) != nil)
            #expect(SSL_get0_verified_chain(pair.server.ssl) == nil)
            let identity = try pair.server.peerIdentity().get()
            #expect(identity.identity.principal == .contingent("KAZ") && !identity.chain.isEmpty)
            #expect(SSL_get_session(pair.server.ssl) == nil)
            #expect(SSL_get0_peer_certificate(pair.server.ssl) == nil)
        }
        #expect(context.verifiedChains?.hits == 1)

        let pair = try connect(fixture, to: context)
        _ = try pair.server.peerIdentity().get()

        // Both ways, across KeyUpdates the client asks for (each answered with one of the server's).
        for round in 0..<3 {
            #expect(pair.client.write(Array("report \(round)".utf8)) == .done)
            #expect(pair.client.requestKeyUpdate() == .done)
            #expect(pair.client.write(Array("after update \(round)".utf8)) == .done)
            pair.exchange()
            let read = pair.serverReads()
            #expect(read.bytes == Array("report \(round)after update \(round)".utf8))
            #expect(pair.server.write(ByteBuffer(string: "ack \(round)")) == nil)
            pair.exchange()
            let answer = pair.client.read()
            #expect(answer.bytes == Array("ack \(round)".utf8) && answer.step == .wantsMore)
        }
        pair.server.shutdown()
        pair.exchange()
        #expect(pair.client.read().step == .closed)
        pair.client.shutdown()
        pair.exchange()
        guard case .closeNotify = pair.serverReads().result else {
            Issue.record("the server did not read the client's close_notify")
            return
        }
    }

    /// TLS 1.2 reads its session after the handshake: it keeps it.
    @Test func aTLS12ConnectionKeepsItsSession() throws {
        let fixture = try TestPKI()
        defer { fixture.remove() }
        let pair = try connect(fixture, to: try context(fixture), clientMaximum: TLS1_2_VERSION)
        #expect(!pair.server.isTLS13)
        _ = try pair.server.peerIdentity().get()
        #expect(SSL_get_session(pair.server.ssl) != nil)
        #expect(pair.client.write(Array("still here".utf8)) == .done)
        pair.exchange()
        #expect(pair.serverReads().bytes == Array("still here".utf8))
    }
}
