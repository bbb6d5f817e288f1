import NIOCore
import NIOEmbedded
import Testing

@testable import PeaceHubTLS

/// A connection that stays quiet gives OpenSSL's record buffers back, and goes on working when traffic returns,
/// even when a record was cut in two across the quiet time.
@Suite struct IdleBufferTests {
    let interval = TLSHandler.idleCheckInterval

    private func connected(_ fixture: TestPKI) throws -> EmbeddedHarness {
        let client = try MemoryBIOClient(
            caFile: fixture.caFile, certificateFile: fixture.path(fixture.contingent.certificatePath),
            keyFile: fixture.path(fixture.contingent.keyPath))
        let harness = try EmbeddedHarness(context: try TLSContext(configuration: fixture.serverConfiguration()), client: client)
        #expect(try harness.handshake() == .done)
        return harness
    }

    private func exchange(_ harness: EmbeddedHarness, _ text: String) throws {
        let before = harness.recorder.received.count
        #expect(harness.client.write(Array(text.utf8)) == .done)
        try harness.pump()
        #expect(Array(harness.recorder.received.dropFirst(before)) == Array(text.utf8))
        try harness.channel.writeAndFlush(ByteBuffer(string: text)).wait()
        #expect(try harness.clientRead(count: text.utf8.count).bytes == Array(text.utf8))
    }

    @Test func buffersAreFreedOnlyAfterAWholeIntervalWithoutTraffic() throws {
        let fixture = try TestPKI()
        defer { fixture.remove() }
        let harness = try connected(fixture)
        try exchange(harness, "before")
        // The first check sees the traffic since the handshake; the next one finds the connection quiet.
        harness.channel.embeddedEventLoop.advanceTime(by: interval)
        #expect(harness.handler.idleReleases == 0)
        harness.channel.embeddedEventLoop.advanceTime(by: interval)
        #expect(harness.handler.idleReleases == 1)
        try exchange(harness, "after a quiet time")
        // Busy from check to check: never freed.
        for round in 0..<4 {
            try exchange(harness, "busy \(round)")
            harness.channel.embeddedEventLoop.advanceTime(by: interval)
        }
        #expect(harness.handler.idleReleases == 1)
        harness.channel.embeddedEventLoop.advanceTime(by: interval * 2)
        #expect(harness.handler.idleReleases == 2)
        #expect(harness.recorder.errors.isEmpty)
    }

    @Test func aRecordCutInTwoAcrossTheQuietTimeIsKept() throws {
        let fixture = try TestPKI()
        defer { fixture.remove() }
        let harness = try connected(fixture)
        harness.channel.embeddedEventLoop.advanceTime(by: interval * 2)
        let released = harness.handler.idleReleases
        let message = Array((0..<5000).map { UInt8(truncatingIfNeeded: $0 &* 13) })
        #expect(harness.client.write(message) == .done)
        let ciphertext = harness.client.takeOutput()
        try harness.channel.writeInbound(ByteBuffer(bytes: ciphertext[..<1000]))
        harness.channel.embeddedEventLoop.advanceTime(by: interval * 4)
        // OpenSSL holds the first part of the record: its buffers are not freed.
        #expect(harness.handler.idleReleases == released)
        try harness.channel.writeInbound(ByteBuffer(bytes: ciphertext[1000...]))
        #expect(harness.recorder.received == message)
        #expect(harness.recorder.errors.isEmpty)
    }
}
