import NIOCore

/// The client side of a connection, for `peacehub pub` and `peacehub sub`: hands every packet
/// from the server to `packets`, completes the acknowledgement flows the client started (PUBREL after
/// PUBREC) and those of messages it acknowledged (PUBCOMP after PUBREL), and keeps the connection alive.
/// An incoming PUBLISH is acknowledged by its consumer once taken (`acknowledgement(of:)`): a message
/// acknowledged and never taken would be lost, as the server lets it go [MQTT-4.3.2, MQTT-4.3.3].
public final class MQTTClientHandler: ChannelInboundHandler, Sendable {
    public typealias InboundIn = MQTTPacket
    public typealias OutboundOut = MQTTPacket

    /// Everything the server sent, in order; finishes when the connection closes.
    public let packets: AsyncStream<MQTTPacket>
    private let continuation: AsyncStream<MQTTPacket>.Continuation
    /// The Keep Alive the CONNECT asks for, in seconds; 0 for none.
    private let keepAlive: UInt16

    public init(keepAlive: UInt16 = 0) {
        (packets, continuation) = AsyncStream.makeStream(of: MQTTPacket.self)
        self.keepAlive = keepAlive
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let packet = unwrapInboundIn(data)
        switch packet {
        case .connack(let ack) where !ack.reasonCode.isFailure:
            // An MQTT 5 server may set another keep-alive, which the client then keeps [MQTT-3.2.2-21].
            startPinging(every: ack.properties.serverKeepAlive ?? keepAlive, context)
        case .pubrel(let ack):
            context.writeAndFlush(wrapOutboundOut(.pubcomp(packetID: ack.packetID)), promise: nil)
        case .pubrec(let ack) where !ack.reasonCode.isFailure:
            context.writeAndFlush(wrapOutboundOut(.pubrel(packetID: ack.packetID)), promise: nil)
        default:
            break
        }
        continuation.yield(packet)
    }

    /// Ends `packets` (from any thread): what it holds is still read, nothing that arrives later is added.
    public func endPackets() {
        continuation.finish()
    }

    /// What acknowledges a message taken: PUBACK for QoS 1, PUBREC for QoS 2, nothing for QoS 0.
    public static func acknowledgement(of publish: MQTTPacket.Publish) -> MQTTPacket? {
        switch (publish.qos, publish.packetID) {
        case (.atLeastOnce, let id?): .puback(packetID: id)
        case (.exactlyOnce, let id?): .pubrec(packetID: id)
        default: nil
        }
    }

    /// A PINGREQ every three quarters of the keep-alive, whatever else is sent: the server closes a connection
    /// that sends nothing for one and a half [MQTT-3.1.2-24], and a subscriber that only reads sends nothing else.
    private func startPinging(every seconds: UInt16, _ context: ChannelHandlerContext) {
        guard seconds > 0 else { return }
        let channel = context.channel
        let interval = TimeAmount.milliseconds(Int64(seconds) * 750)
        context.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { task in
            guard channel.isActive else { return task.cancel() }
            channel.writeAndFlush(MQTTPacket.pingreq, promise: nil)
        }
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
