import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import PeaceHubCore
import Synchronization

/// What sits between the socket and HTTP on each connection: nothing (plain HTTP) or a TLS handler and the
/// bridge that turns the verified certificate into a `Principal` user event (mutual TLS). The composition root
/// builds the TLS one from the hub's `TLSContextStore`, so both listeners share CA, CRL and revocation.
public struct HTTPTransport: Sendable {
    /// The handlers for a new connection, in pipeline order, placed before the HTTP codec.
    public var makeHandlers: @Sendable (any Channel) throws -> [any ChannelHandler]

    public init(makeHandlers: @escaping @Sendable (any Channel) throws -> [any ChannelHandler]) {
        self.makeHandlers = makeHandlers
    }

    /// Plain HTTP: no identity, no encryption (the monitoring listener, on loopback by default).
    public static let plain = HTTPTransport { _ in [] }
}

/// A small HTTP/1.1 server on NIOHTTP1: keep-alive, pipelining (one request at a time per connection,
/// responses in order), a body size limit, a deadline per request, a connection limit, routes answered on a
/// blocking thread pool, and the `peacehub_http_*` metrics.
///
/// `start()` binds and `shutdown()` stops; `run()` does both around a wait, ending on task cancellation, so the
/// server can run as a swift-service-lifecycle `Service` (wrap it in `cancelWhenGracefulShutdown`).
public final class HTTPServer: Sendable {
    public struct Configuration: Sendable {
        /// Names the listener in logs and in the `listener` label of the metrics.
        public var name: String
        public var host: String
        /// 0 picks a free port (see `port` once started).
        public var port: Int
        /// The largest request body accepted; a larger one is answered 413 and the connection closed.
        public var maximumBodySize = 1 << 20
        /// How long a connection has to send a whole request head once open or answered, and as long again for
        /// the body; then it is closed (an idle keep-alive connection, or one that drips bytes).
        public var idleTimeout = TimeAmount.seconds(60)
        /// Connections open at once; one more is closed as soon as it is accepted, so that no client of this
        /// listener can take the descriptors the other listeners need.
        public var maximumConnections = 256
        /// Event loop threads (I/O and TLS).
        public var eventLoopThreads = 1
        /// Threads that run the handlers (registry and module calls block).
        public var handlerThreads = 2

        public init(name: String, host: String, port: Int) {
            self.name = name
            self.host = host
            self.port = port
        }
    }

    public let configuration: Configuration
    private let responder: Responder
    private let transport: HTTPTransport
    private let logger: Logger
    private let group: MultiThreadedEventLoopGroup
    private let pool: NIOThreadPool
    private let channel = Mutex<(any Channel)?>(nil)
    private let openConnections = OpenConnections()
    private let stopped = Atomic(false)

    /// Counts the connections open on the listener, and whether it refuses them (logged once until one closes);
    /// keeps them for the drain at shutdown.
    private final class OpenConnections: Sendable {
        let count = Atomic(0)
        /// Connections refused since the last warning, and when that was (`NIODeadline` uptime, 0 for never).
        let refused = Atomic(0)
        let lastWarning = Atomic<UInt64>(0)
        let channels = Mutex<[ObjectIdentifier: any Channel]>([:])
    }

    public init(
        configuration: Configuration, router: Router, transport: HTTPTransport = .plain,
        logger: Logger = Logger(label: "peacehub.http")
    ) {
        self.configuration = configuration
        self.transport = transport
        self.logger = logger
        responder = Responder(router: router, listener: configuration.name, logger: logger)
        group = MultiThreadedEventLoopGroup(numberOfThreads: max(configuration.eventLoopThreads, 1))
        pool = NIOThreadPool(numberOfThreads: max(configuration.handlerThreads, 1))
    }

    /// Binds the listener; it accepts connections when this returns.
    public func start() throws {
        pool.start()
        let (responder, transport, configuration, pool) = (responder, transport, configuration, pool)
        let (open, logger) = (openConnections, logger)
        let bound = try ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers(
                        AcceptErrors.handlers(listener: configuration.name, logger: logger))
                }
            }
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            // A client that half-closes after its request (`nc -N`, some health checks) still gets the answer:
            // HTTPRequestHandler closes the connection once it is written.
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                guard open.count.add(1, ordering: .relaxed).newValue <= configuration.maximumConnections else {
                    open.count.subtract(1, ordering: .relaxed)
                    open.refused.add(1, ordering: .relaxed)
                    // At most once a minute with the count since the last: a flood, or clients that take each
                    // slot as it is freed, would fill the log.
                    // `last` first: another event loop may store a later time than a `now` read before it.
                    let last = open.lastWarning.load(ordering: .relaxed)
                    let now = NIODeadline.now().uptimeNanoseconds
                    if last == 0 || (now > last && now - last >= 60_000_000_000),
                        open.lastWarning.compareExchange(expected: last, desired: now, ordering: .relaxed).exchanged
                    {
                        logger.warning(
                            "HTTP connections refused: the listener has its maximum open",
                            metadata: [
                                "listener": "\(configuration.name)", "maximum": "\(configuration.maximumConnections)",
                                "refused": "\(open.refused.exchange(0, ordering: .relaxed))",
                            ])
                    }
                    return channel.eventLoop.makeFailedFuture(ChannelError.inappropriateOperationForState)
                }
                let key = ObjectIdentifier(channel)
                open.channels.withLock { $0[key] = channel }
                channel.closeFuture.whenComplete { _ in
                    open.count.subtract(1, ordering: .relaxed)
                    _ = open.channels.withLock { $0.removeValue(forKey: key) }
                }
                return channel.eventLoop.makeCompletedFuture {
                    let operations = channel.pipeline.syncOperations
                    try operations.addHandlers(try transport.makeHandlers(channel))
                    try operations.addHandler(ReadsWhileWritable())
                    // Without NIO's error handler: HTTPRequestHandler answers what the codec cannot read.
                    try operations.configureHTTPServerPipeline(withPipeliningAssistance: true, withErrorHandling: false)
                    try operations.addHandler(
                        HTTPRequestHandler(
                            responder: responder, pool: pool, maximumBodySize: configuration.maximumBodySize,
                            requestTimeout: configuration.idleTimeout, remoteAddress: channel.remoteAddress))
                }
            }
            .bind(host: configuration.host, port: configuration.port).wait()
        channel.withLock { $0 = bound }
        logger.info(
            "HTTP listener started",
            metadata: ["listener": "\(configuration.name)", "address": "\(bound.localAddress?.description ?? "?")"])
    }

    /// The bound port once started (the configured one before).
    public var port: Int { channel.withLock { $0?.localAddress?.port } ?? configuration.port }

    /// Stops accepting and asks each connection to finish the request it is answering, then close (`HubDraining`:
    /// an idle one closes at once). `shutdown(until:)` starts with it; calling it first lets several listeners
    /// drain together.
    public func drain() {
        guard let listening = takeChannel() else { return }
        try? listening.close().wait()
        for connection in openConnections.channels.withLock({ Array($0.values) }) {
            connection.pipeline.fireUserInboundEventTriggered(HubDraining())
        }
    }

    /// Drains (`drain()`), closes the connections still open at `deadline`, and stops the threads. Safe to call
    /// more than once. (Closing them at once left a request waiting on a module unanswered, and its answer for an
    /// event loop already shut down.)
    public func shutdown(until deadline: NIODeadline = .now()) {
        guard stopped.exchange(true, ordering: .relaxed) == false else { return }
        drain()
        let open = openConnections.channels.withLock { Array($0.values) }
        let loop = group.next()
        let overdue = loop.scheduleTask(deadline: deadline) {
            for connection in open { connection.close(promise: nil) }
        }
        try? EventLoopFuture.andAllComplete(open.map(\.closeFuture), on: loop).wait()
        overdue.cancel()
        // The handlers' threads first: an answer still being made goes to an event loop that still runs.
        try? pool.syncShutdownGracefully()
        try? group.syncShutdownGracefully()
    }

    /// Starts, then serves until the task is cancelled, then shuts down.
    public func run() async throws {
        do {
            try start()
        } catch {
            try? await group.shutdownGracefully()
            try? await pool.shutdownGracefully()
            throw error
        }
        let closed = channel.withLock { $0?.closeFuture }
        await withTaskCancellationHandler {
            try? await closed?.get()
        } onCancel: {
            _ = channel.withLock { $0?.close() }
        }
        guard stopped.exchange(true, ordering: .relaxed) == false else { return }
        try? await takeChannel()?.close()
        try? await pool.shutdownGracefully()
        try? await group.shutdownGracefully()
    }

    private func takeChannel() -> (any Channel)? {
        channel.withLock { channel in
            defer { channel = nil }
            return channel
        }
    }
}
