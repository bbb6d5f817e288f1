import NIOCore
import PeaceHubCore
import PeaceHubTLS

/// Turns the TLS layer's verified peer into the `Principal` the MQTT layer authorises, lets the
/// receive buffer grow with the traffic from then on (`ReceiveBuffers`), then leaves the pipeline.
/// A certificate that names a server, not a contingent or an operator, ends the connection.
final class PrincipalBridge: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let identity = event as? TLSPeerIdentity else { return context.fireUserInboundEventTriggered(event) }
        context.fireUserInboundEventTriggered(event)
        let principal: Principal
        switch identity.principal {
        case .contingent(let code): principal = .contingent(code)
        case .operator(let name): principal = .operator(name)
        case .server: return context.close(promise: nil)
        }
        try? context.channel.syncOptions?.setOption(.recvAllocator, value: ReceiveBuffers.traffic)
        context.fireUserInboundEventTriggered(principal)
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }
}

/// Receive buffer sizes. A channel keeps its last receive buffer for the next read and never shrinks it, so
/// what an idle connection holds is the largest read it ever made. The MQTT listener reads the handshake, where
/// the client's certificate flight alone is about 1 KiB, in fixed small pieces (a few more reads per handshake);
/// only a verified client's traffic grows the buffer, up to 64 KiB for a busy publisher.
enum ReceiveBuffers {
    /// Until the peer is verified: an idle connection keeps 256 bytes, not the 1 KiB its handshake needed.
    static let handshake = FixedSizeRecvByteBufferAllocator(capacity: 256)
    static let traffic = AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 256, maximum: 65536)
}
