import COpenSSL
import Foundation
import NIOCore
import NIOEmbedded
import PeaceHubTLS
import PeaceHubTesting
import Testing

/// The handler on an EmbeddedChannel against an OpenSSL client over memory BIOs: no sockets, deterministic.
@Suite struct TLSHandlerTests {
    private func harness(
        _ fixture: TestPKI, certificate: PKIIndex.Entry?, configure: (inout TLSConfiguration) -> Void = { _ in }
    ) throws -> EmbeddedHarness {
        var configuration = fixture.serverConfiguration()
        configure(&configuration)
        let client = try MemoryBIOClient(
            caFile: fixture.caFile, certificateFile: certificate.map { fixture.path($0.certificatePath) },
            keyFile: certificate.map { fixture.path($0.keyPath!) })
        return try EmbeddedHarness(context: try TLSContext(configuration: configuration), client: client)
    }

    @Test func validClientGetsIdentityAndData() throws {
        let fixture = try TestPKI()
        defer { fixture.remove() }
        let harness = try harness(fixture, certificate: fixture.contingent)
        #expect(try harness.handshake() == .done)
        let identity = try #require(harness.recorder.identities.first)
        #expect(identity.principal == .contingent("KAZ"))
        #expect(identity.serial == fixture.contingent.serial)
        #expect(identity.subject == "CN=KAZ contingent,O=PeaceHub")
        #expect(identity.tlsVersion == "TLSv1.3")
        #expect(identity.spkiSHA256.count == 64)
        #expect(!identity.cipher.isEmpty)

        #expect(harness.client.write(Array("hello hub".utf8)) == .done)
        try harness.pump()
        #expect(harness.recorder.received == Array("hello hub".utf8))

        try harness.channel.writeAndFlush(ByteBuffer(string: "hello KAZ")).wait()
        let (bytes, _) = try harness.clientRead(count: 9)
        #expect(bytes == Array("hello KAZ".utf8))
        #expect(harness.recorder.errors.isEmpty)
    }

    /// The client's last handshake flight and its first record arrive in one read: what the handshake leaves of
    /// the network's buffer is decrypted from that same buffer.
    @Test func handshakeEndAndFirstRecordInOneRead() throws {
        let fixture = try TestPKI()
        defer { fixture.remove() }
        let harness = try harness(fixture, certificate: fixture.contingent)
        var step = MemoryBIOClient.Step.wantsMore
        for _ in 0..<100 where step == .wantsMore {
            step = harness.client.handshake()
            if step == .wantsMore { try harness.pump() }
        }
        #expect(step == .done)
        #expect(harness.recorder.identities.isEmpty)
        #expect(harness.client.write(Array("first words".utf8)) == .done)
        try harness.pump()
        #expect(harness.recorder.identities.count == 1)
        #expect(harness.recorder.received == Array("first words".utf8))
        #expect(harness.recorder.errors.isEmpty)
    }

    @Test func dripFedBytesOneAtATime() throws {
        let fixture = try TestPKI(keyType: .p256)
        defer { fixture.remove() }
        let harness = try harness(fixture, certificate: fixture.contingent)
        #expect(try harness.handshake(drip: true) == .done)
        #expect(harness.recorder.identities.count == 1)
        let message = Array((0..<3000).map { UInt8(truncatingIfNeeded: $0) })
        #expect(harness.client.write(message) == .done)
        try harness.pump(drip: true)
        #expect(harness.recorder.received == message)
    }

    @Test func oneMebibyteBothWaysInOneBatch() throws {
        let fixture = try TestPKI()
        defer { fixture.remove() }
        let harness = try harness(fixture, certificate: fixture.contingent)
        #expect(try harness.handshake() == .done)
        let message = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        #expect(harness.client.write(message) == .done)
        try harness.pump()
        // One read burst of 64 records is handed up as one channelRead.
        #expect(harness.recorder.reads.count == 1)
        #expect(harness.recorder.received == message)

        try harness.channel.writeAndFlush(ByteBuffer(bytes: message)).wait()
        let (echo, _) = try harness.clientRead(count: message.count)
        #expect(echo == message)
    }

    @Test func writesWaitForFlushAndGoOutAsOneWrite() throws {
        let fixture = try TestPKI()
        defer { fixture.remove() }
        let harness = try harness(fixture, certificate: fixture.contingent)
        #expect(try harness.handshake() == .done)
        let first = harness.channel.write(ByteBuffer(string: "one,"))
        let second = harness.channel.write(ByteBuffer(string: "two"))
        #expect(try harness.channel.readOutbound(as: ByteBuffer.self) == nil)
        harness.channel.flush()
        #expect(try harness.channel.readOutbound(as: ByteBuffer.self) != nil)
        #expect(try harness.channel.readOutbound(as: ByteBuffer.self) == nil)
        try first.wait()
        try second.wait()
    }

    @Test func writesBeforeTheHandshakeEndAreSentAfterIt() throws {
        let fixture = try TestPKI()
        defer { fixture.remove() }
        let harness = try harness(fixture, certificate: fixture.contingent)
        let early = harness.channel.writeAndFlush(ByteBuffer(string: "early"))
        #expect(try harness.handshake() == .done)
        try early.wait()
        let (bytes, _) = try harness.clientRead(count: 5)
        #expect(bytes == Array("early".utf8))
    }

    @Test func failedHandshakeSendsTheAlertThenCloses() throws {
        let fixture = try TestPKI()
        defer { fixture.remove() }
        let harness = try harness(fixture, certificate: nil)
        // TLS 1.3: the client finishes first and learns of the refusal on its next read.
        #expect(try harness.handshake() == .done)
        let error = try #require(harness.recorder.tlsErrors.first)
        #expect(error.code == .certificateRejected)
        #expect(error.reason.contains("peer did not return a certificate"))
        #expect(!harness.channel.isActive)
        let (_, step) = harness.client.read()
        #expect(step == .failed("tlsv13 alert certificate required"))
    }

    /// The handler above closes as soon as it hears of the refusal; the socket still only stops sending first, so
    /// a client that wrote before it read gets the alert, not a TCP reset.
    @Test func aRefusedHandshakeLingersWhenTheHandlerAboveCloses() throws {
        let fixture = try TestPKI()
        defer { fixture.remove() }
        let harness = try harness(fixture, certificate: nil)
        harness.recorder.closesOnError = true
        #expect(try harness.handshake() == .done)
        #expect(harness.recorder.tlsErrors.first?.code == .certificateRejected)
        #expect(harness.readCounter.closeModes.first == .output)
    }

    @Test func certificateWithoutPeaceHubSANIsRefused() throws {
        let fixture = try TestPKI()
        defer { fixture.remove() }
        let plain = try fixture.issueCustom(name: "plain", subjectCN: Array("KAZ contingent".utf8))
        let harness = try harness(fixture, certificate: plain)
        _ = try harness.handshake()
        let error = try #require(harness.recorder.tlsErrors.first)
        #expect(error.code == .identityRejected)
        #expect(
            error.reason.contains("no urn:peacehub:contingent:<CODE> or urn:peacehub:operator:<name> subjectAltName"))
        #expect(harness.recorder.identities.isEmpty)
        #expect(!harness.channel.isActive)
    }

    @Test func embeddedNulInSANIsRefused() throws {
        let fixture = try TestPKI()
        defer { fixture.remove() }
        let uri = Array("urn:peacehub:contingent:KAZ".utf8) + [0] + Array("evil".utf8)
        let nul = try fixture.issueCustom(name: "nul", subjectCN: Array("KAZ".utf8), uris: [uri])
        let harness = try harness(fixture, certificate: nul)
        _ = try harness.handshake()
        let error = try #require(harness.recorder.tlsErrors.first)
        #expect(error.code == .identityRejected)
        #expect(error.reason == "certificate subjectAltName holds an embedded NUL byte")
    }

    @Test func invalidUTF8InSANIsRefused() throws {
        let fixture = try TestPKI()
        defer { fixture.remove() }
        let uri = Array("urn:peacehub:operator:".utf8) + [0xC3, 0x28]
        let bad = try fixture.issueCustom(name: "badutf8", subjectCN: Array("operator".utf8), uris: [uri])
        let harness = try harness(fixture, certificate: bad)
        _ = try harness.handshake()
        let error = try #require(harness.recorder.tlsErrors.first)
        #expect(error.code == .identityRejected)
        #expect(error.reason == "certificate subjectAltName is not valid UTF-8")
    }

    @Test func lowerCaseContingentCodeIsRefused() throws {
        let fixture = try TestPKI()
        defer { fixture.remove() }
        let lower = try fixture.issueCustom(
            name: "lower", subjectCN: Array("kaz".utf8), uris: [Array("urn:peacehub:contingent:kaz".utf8)])
        let harness = try harness(fixture, certificate: lower)
        _ = try harness.handshake()
        #expect(harness.recorder.tlsErrors.first?.code == .identityRejected)
        #expect(
            harness.recorder.tlsErrors.first?.reason
                == "certificate names contingent 'kaz', not an ISO 3166 alpha-3 code")
    }

    @Test func operatorIdentity() throws {
        let fixture = try TestPKI()
        defer { fixture.remove() }
        let entry = try fixture.pki.issueOperator("duty-officer")
        let harness = try harness(fixture, certificate: entry)
        #expect(try harness.handshake() == .done)
        #expect(harness.recorder.identities.first?.principal == .operator("duty-officer"))
    }

    @Test func clientCloseNotifyIsAnswered() throws {
        let fixture = try TestPKI()
        defer { fixture.remove() }
        let harness = try harness(fixture, certificate: fixture.contingent)
        #expect(try harness.handshake() == .done)
        #expect(harness.client.write(Array("bye".utf8)) == .done)
        harness.client.shutdown()
        try harness.pump()
        #expect(harness.recorder.received == Array("bye".utf8))
        #expect(harness.client.read().step == .closed)
        #expect(harness.client.receivedCloseNotify)
        #expect(!harness.channel.isActive)
        #expect(harness.recorder.errors.isEmpty)
    }

    @Test func serverCloseSendsCloseNotifyAndWaitsForTheReply() throws {
        let fixture = try TestPKI()
        defer { fixture.remove() }
        let harness = try harness(fixture, certificate: fixture.contingent)
        #expect(try harness.handshake() == .done)
        let closed = harness.channel.close()
        try harness.pump()
        #expect(harness.client.read().step == .closed)
        #expect(harness.channel.isActive)  // still waiting for the client's close_notify
        harness.client.shutdown()
        try harness.pump()
        try closed.wait()
        #expect(!harness.channel.isActive)
        #expect(harness.recorder.errors.isEmpty)
    }

    @Test func serverCloseGivesUpWaitingAfterTheTimeout() throws {
        let fixture = try TestPKI()
        defer { fixture.remove() }
        let harness = try harness(fixture, certificate: fixture.contingent)
        #expect(try harness.handshake() == .done)
        let closed = harness.channel.close()
        harness.channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        try closed.wait()
        #expect(!harness.channel.isActive)
    }

    @Test func tcpCloseWithoutCloseNotifyIsTruncation() throws {
        let fixture = try TestPKI()
        defer { fixture.remove() }
        let harness = try harness(fixture, certificate: fixture.contingent)
        #expect(try harness.handshake() == .done)
        harness.channel.pipeline.fireChannelInactive()
        #expect(harness.recorder.tlsErrors.map(\.code) == [.uncleanShutdown])
    }

    @Test func tcpCloseDuringTheHandshakeIsReported() throws {
        let fixture = try TestPKI()
        defer { fixture.remove() }
        let harness = try harness(fixture, certificate: fixture.contingent)
        #expect(harness.client.handshake() == .wantsMore)
        try harness.pump()
        harness.channel.pipeline.fireChannelInactive()
        #expect(harness.recorder.tlsErrors.map(\.reason) == ["peer closed the connection during the handshake"])
        #expect(harness.recorder.identities.isEmpty)
    }

    /// A load balancer's or a monitor's TCP check connects and closes without a byte: counted as `peer_closed`
    /// but logged at debug, where a peer that began a handshake and dropped it is a warning.
    @Test func aPortProbeIsNoWarning() throws {
        let fixture = try TestPKI()
        defer { fixture.remove() }
        for began in [false, true] {
            let log = CapturedLog()
            let client = try MemoryBIOClient(
                caFile: fixture.caFile, certificateFile: fixture.path(fixture.contingent.certificatePath),
                keyFile: fixture.path(fixture.contingent.keyPath!))
            let harness = try EmbeddedHarness(
                context: try fixture.serverContext(), client: client, logger: log.logger())
            if began {
                #expect(harness.client.handshake() == .wantsMore)
                try harness.pump()
            }
            harness.channel.pipeline.fireChannelInactive()
            #expect(harness.recorder.tlsErrors.map(\.code) == [.uncleanShutdown])
            let warnings = log.entries.filter { $0.level >= .warning }.map(\.message)
            #expect(warnings == (began ? ["TLS connection truncated"] : []), "\(log.entries)")
        }
    }

    @Test func silentPeerHitsTheHandshakeTimeout() throws {
        let fixture = try TestPKI()
        defer { fixture.remove() }
        let harness = try harness(fixture, certificate: fixture.contingent) { $0.handshakeTimeout = .seconds(3) }
        harness.channel.embeddedEventLoop.advanceTime(by: .milliseconds(2999))
        #expect(harness.channel.isActive)
        harness.channel.embeddedEventLoop.advanceTime(by: .milliseconds(1))
        #expect(harness.recorder.tlsErrors.map(\.code) == [.handshakeTimeout])
        #expect(!harness.channel.isActive)
    }

    @Test func completedHandshakeCancelsTheTimeout() throws {
        let fixture = try TestPKI()
        defer { fixture.remove() }
        let harness = try harness(fixture, certificate: fixture.contingent)
        #expect(try harness.handshake() == .done)
        harness.channel.embeddedEventLoop.advanceTime(by: .seconds(60))
        #expect(harness.channel.isActive)
        #expect(harness.recorder.errors.isEmpty)
    }

    @Test func readsAreRequestedOnlyWhileSomeoneWaits() throws {
        let fixture = try TestPKI()
        defer { fixture.remove() }
        let harness = try harness(fixture, certificate: fixture.contingent)
        #expect(try harness.handshake() == .done)
        let before = harness.readCounter.reads
        // Nobody asked: plaintext arriving does not make the handler ask for more.
        #expect(harness.client.write(Array("a".utf8)) == .done)
        try harness.pump()
        #expect(harness.readCounter.reads == before)

        // The application asks; half a record arrives: the handler asks the channel again on its behalf.
        harness.channel.read()
        #expect(harness.readCounter.reads == before + 1)
        #expect(harness.client.write(Array("bcdef".utf8)) == .done)
        let record = harness.client.takeOutput()
        try harness.channel.writeInbound(ByteBuffer(bytes: record.prefix(4)))
        #expect(harness.readCounter.reads == before + 2)
        // The rest completes the record: delivered, and no further read is requested.
        try harness.channel.writeInbound(ByteBuffer(bytes: record.dropFirst(4)))
        #expect(harness.readCounter.reads == before + 2)
        #expect(harness.recorder.received == Array("abcdef".utf8))
    }

    /// A record that brings no plaintext still makes OpenSSL write (a KeyUpdate that asks for one is answered):
    /// while the channel is not writable, the handler asks for no more on the next handler's behalf, and asks once
    /// it is writable again. A client that sent KeyUpdates and read nothing grew the hub's memory without bound.
    @Test func readsForTheNextHandlerWaitWhileAnswersAreUnread() throws {
        let fixture = try TestPKI()
        defer { fixture.remove() }
        let harness = try harness(fixture, certificate: fixture.contingent)
        #expect(try harness.handshake() == .done)
        // OpenSSL answers a KeyUpdate as it reads the next record: two in one read, one answer.
        func keyUpdates() throws {
            var flight: [UInt8] = []
            for _ in 0..<2 {
                #expect(harness.client.requestKeyUpdate() == .done)
                flight += harness.client.takeOutput()
            }
            try harness.channel.writeInbound(ByteBuffer(bytes: flight))
        }
        harness.channel.read()
        let before = harness.readCounter.reads
        try keyUpdates()
        #expect(harness.readCounter.reads == before + 1, "writable: the handler reads on")
        #expect(try harness.channel.readOutbound(as: ByteBuffer.self) != nil, "a KeyUpdate is answered")

        harness.channel.isWritable = false
        try keyUpdates()
        #expect(harness.readCounter.reads == before + 1, "not writable: no read")
        harness.channel.isWritable = true
        harness.channel.pipeline.fireChannelWritabilityChanged()
        #expect(harness.readCounter.reads == before + 2, "writable again: the held read goes on")
        // Part of a record makes OpenSSL write nothing: the handler reads on while not writable (a slow reader's
        // PUBLISH, which the keep-alive's one read lets in, would stay half read).
        harness.channel.isWritable = false
        #expect(harness.client.write(Array("hello".utf8)) == .done)
        let record = harness.client.takeOutput()
        try harness.channel.writeInbound(ByteBuffer(bytes: record.prefix(4)))
        #expect(harness.readCounter.reads == before + 3)
        try harness.channel.writeInbound(ByteBuffer(bytes: record.dropFirst(4)))
        #expect(harness.recorder.received == Array("hello".utf8))
        #expect(harness.recorder.errors.isEmpty)
    }

    @Test func tls12IsRefusedByDefaultAndAcceptedWhenConfigured() throws {
        let fixture = try TestPKI(keyType: .p256)
        defer { fixture.remove() }
        let cert = fixture.path(fixture.contingent.certificatePath)
        let key = fixture.path(fixture.contingent.keyPath!)

        let strict = try EmbeddedHarness(
            context: try fixture.serverContext(),
            client: try MemoryBIOClient(
                caFile: fixture.caFile, certificateFile: cert, keyFile: key, maxVersion: TLS1_2_VERSION))
        #expect(try strict.handshake() == .failed("tlsv1 alert protocol version"))
        #expect(strict.recorder.tlsErrors.map(\.code) == [.handshakeFailed])
        #expect(strict.recorder.tlsErrors.first?.reason.contains("unsupported protocol") == true)

        var configuration = fixture.serverConfiguration()
        configuration.minimumVersion = .tlsv1_2
        let relaxed = try EmbeddedHarness(
            context: try TLSContext(configuration: configuration),
            client: try MemoryBIOClient(
                caFile: fixture.caFile, certificateFile: cert, keyFile: key, maxVersion: TLS1_2_VERSION))
        #expect(try relaxed.handshake() == .done)
        #expect(relaxed.recorder.identities.first?.tlsVersion == "TLSv1.2")
    }
}
