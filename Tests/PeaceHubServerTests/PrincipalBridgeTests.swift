import NIOCore
import NIOEmbedded
import PeaceHubCore
import PeaceHubTLS
import Testing

@testable import PeaceHubServer

/// Collects the user events that pass it.
private final class EventRecorder: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    var events: [Any] = []

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        events.append(event)
    }
}

@Suite struct PrincipalBridgeTests {
    private func identity(_ principal: TLSPeerIdentity.Principal) -> TLSPeerIdentity {
        TLSPeerIdentity(
            principal: principal, subject: "CN=test", serial: "1F", issuer: "CN=test CA", spkiSHA256: "00",
            tlsVersion: "TLSv1.3",
            cipher: "TLS_AES_256_GCM_SHA384")
    }

    /// A connected channel as the MQTT listener makes it (the handshake's receive buffer), the bridge in front
    /// of a recorder.
    private func bridgedChannel() throws -> (EmbeddedChannel, EventRecorder) {
        let recorder = EventRecorder()
        let channel = EmbeddedChannel()
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 8883)).wait()
        try channel.syncOptions?.setOption(.recvAllocator, value: ReceiveBuffers.handshake)
        try channel.pipeline.syncOperations.addHandlers([PrincipalBridge(), recorder])
        return (channel, recorder)
    }

    /// A contingent's certificate becomes its principal, and from then on the receive buffer follows the traffic
    /// (during the handshake it stayed small, so an idle connection keeps 256 bytes).
    @Test func contingentBecomesPrincipalAndReceiveBufferMayGrow() throws {
        let (channel, recorder) = try bridgedChannel()

        channel.pipeline.fireUserInboundEventTriggered(identity(.contingent("KAZ")))

        #expect(recorder.events.count == 2)
        #expect(recorder.events.first is TLSPeerIdentity)
        #expect(recorder.events.last as? Principal == .contingent("KAZ"))
        let allocator = try #require(try channel.getOption(.recvAllocator).wait() as? AdaptiveRecvByteBufferAllocator)
        #expect(allocator.initial == 256 && allocator.maximum == 65536)
        #expect(throws: ChannelPipelineError.notFound) {
            try channel.pipeline.syncOperations.context(handlerType: PrincipalBridge.self)
        }
        _ = try channel.finish()
    }

    @Test func operatorBecomesPrincipal() throws {
        let (channel, recorder) = try bridgedChannel()
        channel.pipeline.fireUserInboundEventTriggered(identity(.operator("duty")))
        #expect(recorder.events.last as? Principal == .operator("duty"))
        _ = try channel.finish()
    }

    /// Another hub's server certificate is no client: the connection ends and nothing is authorised.
    @Test func serverCertificateEndsTheConnection() throws {
        let (channel, recorder) = try bridgedChannel()

        channel.pipeline.fireUserInboundEventTriggered(identity(.server("hub.example")))

        #expect(!channel.isActive)
        #expect(!recorder.events.contains { $0 is Principal })
    }
}
