import NIOCore
import NIOHTTP1
import NIOPosix
import PeaceHubCore

/// One connection's requests, one at a time (`HTTPServerPipelineHandler` before it holds pipelined ones back):
/// collects the body up to the limit, answers on the thread pool, writes the response and keeps the connection
/// or closes it. The caller's `Principal` arrives as a user event from the transport before any request.
final class HTTPRequestHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    enum State {
        case idle
        case receiving(HTTPRequestHead, body: ByteBuffer, started: NIODeadline)
        /// The handler runs, or the response is being written.
        case responding
        /// A response that closes the connection was sent (413); the rest of the request is ignored.
        case closing
    }

    private let responder: Responder
    private let pool: NIOThreadPool
    private let maximumBodySize: Int
    private let remoteAddress: SocketAddress?
    private var principal: Principal?
    private var state = State.idle
    private var active = true

    init(responder: Responder, pool: NIOThreadPool, maximumBodySize: Int, remoteAddress: SocketAddress?) {
        self.responder = responder
        self.pool = pool
        self.maximumBodySize = maximumBodySize
        self.remoteAddress = remoteAddress
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case let identity as Principal:
            principal = identity
        case is IdleStateHandler.IdleStateEvent:
            // Only a connection waiting for its next request is idle; a slow handler is not.
            if case .idle = state { context.close(promise: nil) }
            return
        default:
            break
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        active = false
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch (unwrapInboundIn(data), state) {
        case (.head(let head), .idle):
            if let length = head.headers.first(name: "content-length").flatMap(Int.init), length > maximumBodySize {
                return refuseTooLarge(head, context: context, started: .now())
            }
            state = .receiving(head, body: context.channel.allocator.buffer(capacity: 0), started: .now())
            if head.headers[canonicalForm: "expect"].contains(where: { $0.lowercased() == "100-continue" }) {
                // The client (curl, for bodies over 1 KiB) waits for this before sending the body.
                let proceed = HTTPResponseHead(version: head.version, status: .continue)
                context.writeAndFlush(wrapOutboundOut(.head(proceed)), promise: nil)
            }
        case (.body(var chunk), .receiving(let head, var body, let started)):
            guard body.readableBytes + chunk.readableBytes <= maximumBodySize else {
                return refuseTooLarge(head, context: context, started: started)
            }
            state = .responding  // drops the buffer's reference before appending
            body.writeBuffer(&chunk)
            state = .receiving(head, body: body, started: started)
        case (.end, .receiving(let head, let body, let started)):
            state = .responding
            dispatch(head, body: body, started: started, context: context)
        case (_, .closing):
            break
        default:
            // HTTPServerPipelineHandler delivers head, body, end in order; anything else is a broken pipeline.
            context.close(promise: nil)
        }
    }

    private func dispatch(
        _ head: HTTPRequestHead, body: ByteBuffer, started: NIODeadline, context: ChannelHandlerContext
    ) {
        let request = Request(method: head.method, uri: head.uri, headers: head.headers, body: body)
        let requestContext = RequestContext(
            principal: principal, listener: responder.listener, remoteAddress: remoteAddress)
        let responder = self.responder
        pool.runIfActive(eventLoop: context.eventLoop) {
            responder.respond(to: request, context: requestContext)
        }.assumeIsolated().whenComplete { result in
            switch result {
            case .success(let (response, route)):
                self.write(response, route: route, for: head, started: started, context: context)
            case .failure:
                // The thread pool is shutting down with the server.
                context.close(promise: nil)
            }
        }
    }

    private func refuseTooLarge(_ head: HTTPRequestHead, context: ChannelHandlerContext, started: NIODeadline) {
        state = .closing
        let error = HTTPError(.payloadTooLarge, "the request body is larger than \(maximumBodySize) bytes")
        let route = responder.routeName(method: head.method, path: Request(method: head.method, uri: head.uri).path)
        write(error.response, route: route, for: head, started: started, close: true, context: context)
    }

    private func write(
        _ response: Response, route: String, for head: HTTPRequestHead, started: NIODeadline, close: Bool = false,
        context: ChannelHandlerContext
    ) {
        responder.record(route: route, status: response.status, nanoseconds: (NIODeadline.now() - started).nanoseconds)
        guard active else { return }
        let keepAlive = head.isKeepAlive && !close
        var headers = response.headers
        headers.replaceOrAdd(name: "content-length", value: String(response.body.readableBytes))
        if !keepAlive {
            headers.replaceOrAdd(name: "connection", value: "close")
        } else if head.version.major == 1 && head.version.minor == 0 {
            headers.replaceOrAdd(name: "connection", value: "keep-alive")
        }
        context.write(
            wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: response.status, headers: headers))),
            promise: nil)
        if response.body.readableBytes > 0, head.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(response.body))), promise: nil)
        }
        // Set before writing the end: HTTPServerPipelineHandler hands over the next pipelined request during that
        // write.
        state = keepAlive ? .idle : .closing
        let written = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive {
            written.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        }
    }
}
