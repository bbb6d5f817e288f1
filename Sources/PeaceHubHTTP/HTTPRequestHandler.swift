import NIOCore
import NIOHTTP1
import NIOPosix
import PeaceHubCore

/// One connection's requests, one at a time (`HTTPServerPipelineHandler` before it holds pipelined ones back):
/// collects the body up to the limit, answers on the thread pool, writes the response and keeps the connection
/// or closes it. The caller's `Principal` arrives as a user event from the transport before any request.
///
/// A connection has `requestTimeout` to send a whole request head once it is open or has its last answer, and as
/// long again for the body: a client that drips bytes holds it no longer than an idle one. An answer being written
/// keeps the connection while the client reads some of it in each such period (the bytes the channel still holds
/// went down): a client that asks for a large one and stops reading holds the connection no longer either (a closing
/// answer's close waited for its write, for ever), while one that reads slowly but steadily gets all of it (the
/// idle timeout cut it off midway). The idle time after an answer counts from its last byte. A request is answered
/// only while the connection is writable, so a client that pipelines requests and reads no answers holds one
/// answer's worth of memory, not all of them (the pipelining handler reads no further while one waits).
final class HTTPRequestHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    enum State {
        case idle
        case receiving(HTTPRequestHead, body: ByteBuffer, started: NIODeadline)
        /// The request is whole; its answer waits until the client has read the previous ones.
        case waiting(HTTPRequestHead, body: ByteBuffer, started: NIODeadline)
        /// The handler runs, or the response is being written.
        case responding
        /// A response that closes the connection was sent (413, 501); the rest of the request is ignored.
        case closing
    }

    private let responder: Responder
    private let pool: NIOThreadPool
    private let maximumBodySize: Int
    private let requestTimeout: TimeAmount
    private let remoteAddress: SocketAddress?
    private var principal: Principal?
    private var state = State.idle
    private var active = true
    /// Closes the connection if it is still idle, receiving, waiting or closing when it fires (`requestTimeout`).
    private var deadline: Scheduled<Void>?
    /// Bytes after the request being answered could not be read: the answer closes the connection.
    private var closesAfterAnswer = false
    /// An answer is written and not yet all sent: the deadline waits for the client to read, not to send.
    private var answerInFlight = false
    /// The bytes the channel held for the client when the deadline started.
    private var bufferedAtDeadline = 0

    init(
        responder: Responder, pool: NIOThreadPool, maximumBodySize: Int, requestTimeout: TimeAmount,
        remoteAddress: SocketAddress?
    ) {
        self.responder = responder
        self.pool = pool
        self.maximumBodySize = maximumBodySize
        self.requestTimeout = requestTimeout
        self.remoteAddress = remoteAddress
    }

    func handlerAdded(context: ChannelHandlerContext) {
        startDeadline(context: context)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let identity = event as? Principal { principal = identity }
        if case ChannelEvent.inputClosed = event { inputClosed(context: context) }
        if event is HubDraining { drain(context: context) }
        context.fireUserInboundEventTriggered(event)
    }

    /// The listener is shutting down: the request under way is answered (with `Connection: close`), then the
    /// connection closes; an idle one closes now.
    private func drain(context: ChannelHandlerContext) {
        if case .idle = state, !answerInFlight { return context.close(promise: nil) }
        closesAfterAnswer = true
    }

    /// The client half-closed (HTTPServerPipelineHandler tells once the requests before it are answered): what it
    /// asked is still answered, then the connection closes; an idle or half-received one closes now.
    private func inputClosed(context: ChannelHandlerContext) {
        switch state {
        case .waiting, .responding, .closing:
            closesAfterAnswer = true
        case .idle where answerInFlight:
            closesAfterAnswer = true
        case .idle, .receiving:
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        active = false
        deadline?.cancel()
        context.fireChannelInactive()
    }

    /// A request the HTTP codec could not read is answered with `Connection: close`, and the connection closed
    /// [RFC 9112 9.6]; while an answer is on its way, the connection closes after it instead (bytes pipelined after
    /// a `Connection: close` request are no request to refuse, and a client retries what got no answer). Errors
    /// from below (TLS) close it.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let error = error as? HTTPParserError else {
            state = .closing
            return context.close(promise: nil)
        }
        switch state {
        case .idle, .receiving, .waiting:
            let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/")
            refuse(head, Self.refusal(of: error), context: context, started: .now())
        case .responding:
            closesAfterAnswer = true
        case .closing:
            break
        }
    }

    /// The answer to a request the codec could not read: an unknown method is a 501 [RFC 9110 9.1]; a head past
    /// the codec's limit (80 KiB) a 431 [RFC 6585 5] (the codec does not say whether the target or the header
    /// fields took it over; a target of 8 to 80 KiB is read, and refused with a 414); anything else a 400 (the
    /// codec's "invalid version" is also a request line ended by a bare LF, which a 505 would misname).
    private static func refusal(of error: HTTPParserError) -> HTTPError {
        switch error {
        case .invalidMethod:
            HTTPError(.notImplemented, "the request method is not one this server knows")
        case .headerOverflow:
            HTTPError(.requestHeaderFieldsTooLarge, "the request line and header fields are larger than 80 KiB")
        default:
            HTTPError(.badRequest, "the request is not valid HTTP/1.1 (\(error))")
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, case .waiting(let head, let body, let started) = state {
            respond(head, body: body, started: started, context: context)
        }
        context.fireChannelWritabilityChanged()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch (unwrapInboundIn(data), state) {
        case (.head(let head), .idle):
            if let refusal = Self.framingRefusal(head) {
                return refuse(head, refusal, context: context, started: .now())
            }
            if let length = head.headers.first(name: "content-length").flatMap(Int.init), length > maximumBodySize {
                let tooLarge = HTTPError(.payloadTooLarge, "the request body is larger than \(maximumBodySize) bytes")
                return refuse(head, tooLarge, context: context, started: .now())
            }
            state = .receiving(head, body: context.channel.allocator.buffer(capacity: 0), started: .now())
            startDeadline(context: context)
            // An HTTP/1.0 client gets no 1xx answer [RFC 9110 10.1.1, 15.2].
            if head.version != .http1_0,
                head.headers[canonicalForm: "expect"].contains(where: { $0.lowercased() == "100-continue" })
            {
                // The client (curl, for bodies over 1 KiB) waits for this before sending the body.
                let proceed = HTTPResponseHead(version: .http1_1, status: .continue)
                context.writeAndFlush(wrapOutboundOut(.head(proceed)), promise: nil)
            }
        case (.body(var chunk), .receiving(let head, var body, let started)):
            guard body.readableBytes + chunk.readableBytes <= maximumBodySize else {
                let tooLarge = HTTPError(.payloadTooLarge, "the request body is larger than \(maximumBodySize) bytes")
                return refuse(head, tooLarge, context: context, started: started)
            }
            state = .responding  // drops the buffer's reference before appending
            body.writeBuffer(&chunk)
            state = .receiving(head, body: body, started: started)
        case (.end, .receiving(let head, let body, let started)):
            guard context.channel.isWritable else {
                state = .waiting(head, body: body, started: started)
                return startDeadline(context: context)
            }
            respond(head, body: body, started: started, context: context)
        case (_, .closing):
            break
        default:
            // HTTPServerPipelineHandler delivers head, body, end in order; anything else is a broken pipeline.
            context.close(promise: nil)
        }
    }

    /// The longest request target taken (nginx's default buffer for a request line is as large).
    private static let maximumTargetLength = 8 * 1024

    /// Why a request head cannot be taken as it is framed, answered with the connection closed after it: a
    /// transfer coding other than chunked (the body cannot be read) [RFC 9112 6.1], a CONNECT (the codec takes
    /// what follows as a tunnel), a target longer than `maximumTargetLength` [RFC 9110 15.5.15], or an HTTP/1.1
    /// request without exactly one valid Host [RFC 9112 3.2].
    private static func framingRefusal(_ head: HTTPRequestHead) -> HTTPError? {
        let codings = head.headers[canonicalForm: "transfer-encoding"].map { $0.lowercased() }
        if codings.contains(where: { $0 != "chunked" }) {
            return HTTPError(.notImplemented, "no transfer coding but chunked is supported")
        }
        if head.method == .CONNECT {
            return HTTPError(.notImplemented, "CONNECT is not supported")
        }
        // No path or query of the API comes near it; a longer one is a mistake or a probe.
        if head.uri.utf8.count > maximumTargetLength {
            return HTTPError(.uriTooLong, "the request target is longer than \(maximumTargetLength / 1024) KiB")
        }
        let hosts = head.headers["host"]
        if head.version == .http1_1, hosts.count != 1 || !isValidHost(withoutWhitespaceAround(hosts[0])) {
            return HTTPError(.badRequest, "an HTTP/1.1 request carries exactly one valid Host header")
        }
        return nil
    }

    /// A field value without the optional whitespace around it [RFC 9110 5.5]: the codec keeps what follows it.
    private static func withoutWhitespaceAround(_ value: String) -> String {
        var text = Substring(value)
        while let last = text.last, last == " " || last == "\t" { text.removeLast() }
        while let first = text.first, first == " " || first == "\t" { text.removeFirst() }
        return String(text)
    }

    /// A reg-name's characters: unreserved, sub-delimiters and `%` of an escape [RFC 3986 3.2.2].
    private static let hostNameCharacters = Set(
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=%")

    /// `uri-host [":" port]` [RFC 9112 3.2, RFC 3986 3.2.2]: an IP literal in brackets, or a name of unreserved
    /// characters, sub-delimiters and percent escapes, which may be empty (a client sends an empty Host for a
    /// target without an authority); a port of digits.
    static func isValidHost(_ value: String) -> Bool {
        var host = Substring(value)
        var port: Substring = ""
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { return false }
            guard isValidIPLiteral(host[host.index(after: host.startIndex)..<close]) else { return false }
            let rest = host[host.index(after: close)...]
            guard rest.isEmpty || rest.hasPrefix(":") else { return false }
            port = rest.dropFirst()
            host = ""
        } else if let colon = host.firstIndex(of: ":") {
            port = host[host.index(after: colon)...]
            host = host[..<colon]
        }
        return host.allSatisfy(hostNameCharacters.contains) && port.allSatisfy { $0.isASCII && $0.isNumber }
    }

    /// `IPv6address / IPvFuture` inside the brackets [RFC 3986 3.2.2]: an IPv6 address, or
    /// `v` 1*HEXDIG `.` 1*( unreserved / sub-delims / `:` ).
    private static func isValidIPLiteral(_ literal: Substring) -> Bool {
        if let rest = literal.first.flatMap({ "vV".contains($0) ? literal.dropFirst() : nil }) {
            guard let dot = rest.firstIndex(of: "."), dot != rest.startIndex else { return false }
            let version = rest[..<dot]
            let address = rest[rest.index(after: dot)...]
            return version.allSatisfy { $0.isASCII && $0.isHexDigit } && !address.isEmpty
                && address.allSatisfy { $0 == ":" || ($0 != "%" && hostNameCharacters.contains($0)) }
        }
        return ipAddressBytes(String(literal))?.count == 16
    }

    private func startDeadline(context: ChannelHandlerContext) {
        deadline?.cancel()
        bufferedAtDeadline = buffered(context)
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        deadline = context.eventLoop.scheduleTask(in: requestTimeout) {
            let (handler, context) = bound.value
            switch handler.state {
            case .idle, .receiving, .waiting, .closing:
                // A client still reading an answer, part by part, keeps the connection for another period.
                if handler.answerInFlight, handler.buffered(context) < handler.bufferedAtDeadline {
                    handler.startDeadline(context: context)
                } else {
                    context.close(promise: nil)
                }
            case .responding: break
            }
        }
    }

    /// The bytes written to the channel and not yet taken by the socket.
    private func buffered(_ context: ChannelHandlerContext) -> Int {
        (try? context.channel.syncOptions?.getOption(.bufferedWritableBytes)) ?? 0
    }

    private func respond(
        _ head: HTTPRequestHead, body: ByteBuffer, started: NIODeadline, context: ChannelHandlerContext
    ) {
        state = .responding
        deadline?.cancel()
        dispatch(head, body: body, started: started, context: context)
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

    /// Answers `error` before the body is read, and closes the connection after it.
    private func refuse(
        _ head: HTTPRequestHead, _ error: HTTPError, context: ChannelHandlerContext, started: NIODeadline
    ) {
        state = .closing
        let route = responder.routeName(method: head.method, path: Request(method: head.method, uri: head.uri).path)
        write(error.response, route: route, for: head, started: started, close: true, context: context)
    }

    private func write(
        _ response: Response, route: String, for head: HTTPRequestHead, started: NIODeadline, close: Bool = false,
        context: ChannelHandlerContext
    ) {
        responder.record(route: route, status: response.status, nanoseconds: (NIODeadline.now() - started).nanoseconds)
        guard active else { return }
        // HTTP/1.0 has no chunked coding: a body framed so is faulty, and the connection closes after it
        // [RFC 9112 6.1].
        let faultyFraming = head.version == .http1_0 && head.headers.contains(name: "transfer-encoding")
        // The hub ignores an Upgrade (RFC 9110 7.8), but NIO's codec stops reading after one: the connection
        // closes after the answer, or it would hang, answering nothing more.
        let asksUpgrade =
            head.headers.contains(name: "upgrade")
            && head.headers[canonicalForm: "connection"].contains { $0.lowercased() == "upgrade" }
        let keepAlive = head.isKeepAlive && !close && !faultyFraming && !closesAfterAnswer && !asksUpgrade
        var headers = response.headers
        headers.replaceOrAdd(name: "content-length", value: String(response.body.readableBytes))
        headers.replaceOrAdd(name: "date", value: HTTPDate.now())
        if !keepAlive {
            headers.replaceOrAdd(name: "connection", value: "close")
        } else if head.version.major == 1 && head.version.minor == 0 {
            headers.replaceOrAdd(name: "connection", value: "keep-alive")
        }
        // The version the server implements, also to an HTTP/1.0 request [RFC 9110 2.5, RFC 9112 2.3].
        context.write(
            wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: response.status, headers: headers))),
            promise: nil)
        if response.body.readableBytes > 0, head.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(response.body))), promise: nil)
        }
        // Set before writing the end: HTTPServerPipelineHandler hands over the next pipelined request during that
        // write.
        state = keepAlive ? .idle : .closing
        answerInFlight = true
        startDeadline(context: context)
        let written = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        written.assumeIsolated().whenComplete { _ in
            self.answerInFlight = false
            guard keepAlive else { return context.close(promise: nil) }
            // Idle: no pipelined request took over during the write. One whose input has ended closes now.
            guard case .idle = self.state else { return }
            if self.closesAfterAnswer { return context.close(promise: nil) }
            self.startDeadline(context: context)
        }
    }
}

/// The `Date` of a response, in the IMF-fixdate form [RFC 9110 5.6.7]: an origin server with a clock sends one
/// [RFC 9110 6.6.1].
enum HTTPDate {
    private static let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    static func now() -> String {
        format(seconds: time(nil))
    }

    static func format(seconds: time_t) -> String {
        var clock = seconds
        var parts = tm()
        gmtime_r(&clock, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let date = "\(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900)"
        let time = "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))"
        return "\(days[Int(parts.tm_wday)]), \(date) \(time) GMT"
    }
}
