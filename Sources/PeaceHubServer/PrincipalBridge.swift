import NIOCore
import PeaceHubCore
import PeaceHubTLS

/// Turns the TLS layer's verified peer into the `Principal` the MQTT layer authorises, then
/// leaves the pipeline. A certificate that names a server, not a contingent or an operator,
/// ends the connection.
final class PrincipalBridge: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let identity = event as? TLSPeerIdentity else { return context.fireUserInboundEventTriggered(event) }
        context.fireUserInboundEventTriggered(event)
        switch identity.principal {
        case .contingent(let code):
            context.fireUserInboundEventTriggered(Principal.contingent(code))
        case .operator(let name):
            context.fireUserInboundEventTriggered(Principal.operator(name))
        case .server:
            return context.close(promise: nil)
        }
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }
}
