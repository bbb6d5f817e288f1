import NIOCore

/// Passes a read on only while the channel is writable; one held goes on once it is writable again. A client
/// that sends and never reads what the connection writes back (TLS KeyUpdates, each answered by OpenSSL, below
/// any request) had the listener queue the answers without bound: SwiftNIO reads on after every read cycle.
final class ReadsWhileWritable: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny
    typealias OutboundIn = NIOAny

    private var held = false

    func read(context: ChannelHandlerContext) {
        guard context.channel.isWritable else {
            held = true
            return
        }
        context.read()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if held, context.channel.isWritable {
            held = false
            context.read()
        }
        context.fireChannelWritabilityChanged()
    }
}
