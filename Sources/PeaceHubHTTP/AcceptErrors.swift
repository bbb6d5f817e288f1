import Logging
import NIOCore

/// What a listening channel needs for a failed accept (out of descriptors or memory): without it NIO tries again
/// without a pause and nothing is logged. The listener stops accepting for a second, and says why once per pause.
/// (NIO's `AcceptBackoffHandler` waits for a read request that never comes after a failed accept: the channel kept
/// accepting, and the log took 27,000 lines a second.)
public enum AcceptErrors {
    /// The handlers to add to a listening channel (`ServerBootstrap.serverChannelInitializer`).
    public static func handlers(listener: String, logger: Logger) -> [any ChannelHandler] {
        [Pause(listener: listener, logger: logger)]
    }

    private final class Pause: ChannelInboundHandler {
        typealias InboundIn = any Channel

        let listener: String
        let logger: Logger
        private var resume: Scheduled<Void>?

        init(listener: String, logger: Logger) {
            self.listener = listener
            self.logger = logger
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            guard error is IOError else { return context.fireErrorCaught(error) }
            guard resume == nil else { return }
            logger.error(
                "cannot accept connections; trying again in a second",
                metadata: ["listener": "\(listener)", "error": "\(error)"])
            // Turning automatic reads off takes the socket out of the poll; turning them on asks again.
            let channel = context.channel
            try? channel.syncOptions?.setOption(.autoRead, value: false)
            let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
            resume = context.eventLoop.scheduleTask(in: .seconds(1)) {
                bound.value.resume = nil
                try? channel.syncOptions?.setOption(.autoRead, value: true)
            }
        }

        func channelInactive(context: ChannelHandlerContext) {
            resume?.cancel()
            resume = nil
            context.fireChannelInactive()
        }
    }
}
