import NIOCore

/// The client side of a connection, for `peacehub pub` and `peacehub sub`: hands every packet
/// from the server to `packets` and completes the acknowledgement flows of incoming messages
/// (PUBACK for QoS 1; PUBREC, then PUBCOMP for QoS 2).
public final class MQTTClientHandler: ChannelInboundHandler, Sendable {
    public typealias InboundIn = MQTTPacket
    public typealias OutboundOut = MQTTPacket

    /// Everything the server sent, in order; finishes when the connection closes.
    public let packets: AsyncStream<MQTTPacket>
    private let continuation: AsyncStream<MQTTPacket>.Continuation

    public init() {
        (packets, continuation) = AsyncStream.makeStream(of: MQTTPacket.self)
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let packet = unwrapInboundIn(data)
        switch packet {
        case .publish(let publish):
            switch (publish.qos, publish.packetID) {
            case (.atLeastOnce, let id?): context.writeAndFlush(wrapOutboundOut(.puback(packetID: id)), promise: nil)
            case (.exactlyOnce, let id?): context.writeAndFlush(wrapOutboundOut(.pubrec(packetID: id)), promise: nil)
            default: break
            }
        case .pubrel(let ack):
            context.writeAndFlush(wrapOutboundOut(.pubcomp(packetID: ack.packetID)), promise: nil)
        case .pubrec(let ack) where !ack.reasonCode.isFailure:
            context.writeAndFlush(wrapOutboundOut(.pubrel(packetID: ack.packetID)), promise: nil)
        default:
            break
        }
        continuation.yield(packet)
    }

    public func channelInactive(context: ChannelHandlerContext) {
        continuation.finish()
        context.fireChannelInactive()
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        continuation.finish()
        context.close(promise: nil)
    }
}
