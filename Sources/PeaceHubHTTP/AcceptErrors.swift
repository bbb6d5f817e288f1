import Logging
import NIOCore

/// What a listening channel needs for a failed accept (out of descriptors or memory): without it NIO tries again
/// without a pause and nothing is logged. NIO's `AcceptBackoffHandler` waits a second before the next accept; the
/// logger after it says why, once per wait.
public enum AcceptErrors {
    /// The handlers to add to a listening channel (`ServerBootstrap.serverChannelInitializer`).
    public static func handlers(listener: String, logger: Logger) -> [any ChannelHandler] {
        [AcceptBackoffHandler(), Log(listener: listener, logger: logger)]
    }

    private final class Log: ChannelInboundHandler, Sendable {
        typealias InboundIn = any Channel

        let listener: String
        let logger: Logger

        init(listener: String, logger: Logger) {
            self.listener = listener
            self.logger = logger
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            logger.error(
                "cannot accept connections; trying again in a second",
                metadata: ["listener": "\(listener)", "error": "\(error)"])
            context.fireErrorCaught(error)
        }
    }
}
