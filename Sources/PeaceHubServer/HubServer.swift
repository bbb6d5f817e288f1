import Dispatch
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import PeaceHubCore
import PeaceHubHTTP
import PeaceHubMQTT
import PeaceHubPlugins
import PeaceHubTLS
import ServiceLifecycle

/// The MQTT listener over mutual TLS: one pipeline per connection —
/// `TLSHandler` → `PrincipalBridge` → `MQTTConnectionHandler` (which decodes and encodes) —
/// over one broker with its durable store, its topic policy and its mission router.
///
/// It binds when created, so a bad address or PKI fails before anything runs and `port` is known at once. As a
/// `Service` it serves until graceful shutdown, then drains (`shutdown()`); tests call `shutdown()` directly.
public final class HubServer: Service, Sendable {
    public struct Configuration: Sendable {
        public var host: String
        public var port: Int
        public var tls: TLSConfiguration
        /// The broker's SQLite file.
        public var storePath: String
        /// Where the highest CRL number loaded per CA is kept, so an older CRL is refused after a restart too.
        public var crlNumbersPath: String?
        public var durability: SQLiteBrokerStore.Durability = .processCrash
        /// The broker's limits, the largest MQTT packet accepted among them.
        public var broker = Broker.Configuration()
        /// How long a mission module may take to judge a report before it is held.
        public var routingBudget: DispatchTimeInterval = .seconds(2)
        public var threads: Int = System.coreCount
        /// How long a shutdown waits for the connections to finish what they started before closing them.
        public var shutdownTimeout: TimeAmount = .seconds(10)

        public init(host: String, port: Int, tls: TLSConfiguration, storePath: String) {
            self.host = host
            self.port = port
            self.tls = tls
            self.storePath = storePath
        }
    }

    public let tls: TLSContextStore
    public let broker: Broker
    private let settings: NIOLockedValueBox<Configuration>
    private let router: MissionRouter
    let store: SQLiteBrokerStore
    private let group: MultiThreadedEventLoopGroup
    let channel: any Channel
    private let connections: NIOLockedValueBox<Connections>
    private let housekeeping: RepeatedTask
    private let logger: Logger

    /// The live connections, so a drain can reach each of them.
    private struct Connections {
        var channels: [ObjectIdentifier: any Channel] = [:]
        /// Set when the drain starts: a connection accepted after that is closed at once.
        var draining = false
        /// Set when the first shutdown starts, so a second one returns at once.
        var stopped = false
        /// When the drain's bound ends (`shutdownTimeout` after it started).
        var drainDeadline: NIODeadline?
    }

    /// When the drain's bound ends, once a shutdown has started: the HTTP listeners, which drain after the MQTT
    /// listener, finish within the same bound.
    public var drainDeadline: NIODeadline? { connections.withLockedValue { $0.drainDeadline } }

    /// Binds the listener. Every piece is ready when this returns; `port` is the bound port
    /// (useful with port 0).
    public init(
        configuration: Configuration, plugins: PluginHost, membership: any MissionMembership,
        archive: (any ReportArchive)?, logger: Logger = Logger(label: "peacehub.server")
    ) throws {
        self.logger = logger
        settings = NIOLockedValueBox(configuration)
        // What the operator's openssl.cnf made of the library (a FIPS or GOST provider), before it is used.
        logger.info(
            "TLS by the system OpenSSL",
            metadata: [
                "version": "\(CryptoLibrary.version)",
                "providers": "\(CryptoLibrary.activeProviders.joined(separator: ", "))",
                "fipsProperties": "\(CryptoLibrary.fipsPropertiesEnabled)",
            ])
        tls = try TLSContextStore(
            configuration: configuration.tls, crlNumbersFile: configuration.crlNumbersPath, logger: logger)
        // And of the suites: OpenSSL skips a `Ciphersuites` name it does not know without a word.
        let suites = tls.current.tls13CipherSuites.joined(separator: ":")
        logger.info("TLS 1.3 suites accepted", metadata: ["tls13Suites": "\(suites)"])
        store = try SQLiteBrokerStore(path: configuration.storePath, durability: configuration.durability, logger: logger)
        router = MissionRouter(plugins: plugins, archive: archive, budget: configuration.routingBudget, logger: logger)
        broker = try Broker(
            configuration: configuration.broker, authorizer: TopicPolicy(membership: membership), interceptor: router,
            store: store, logger: logger)
        // Every CRL loaded from now on (a reload, the file watcher) also discards the wills of revoked clients.
        tls.sessions.onRevocations { [broker] revoked in
            broker.discardWills(certifiedBy: Set(revoked.map(\.credential)))
        }
        group = MultiThreadedEventLoopGroup(numberOfThreads: max(configuration.threads, 1))
        let connections = NIOLockedValueBox(Connections())
        self.connections = connections
        let (tls, broker, settings) = (tls, broker, settings)
        do {
            channel = try ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 256)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .serverChannelInitializer { [logger] channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandlers(
                            AcceptErrors.handlers(listener: "mqtt", logger: logger))
                    }
                }
                .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
                .childChannelOption(.recvAllocator, value: ReceiveBuffers.handshake)
                .childChannelInitializer { channel in
                    let accepted = connections.withLockedValue { connections in
                        guard !connections.draining else { return false }
                        connections.channels[ObjectIdentifier(channel)] = channel
                        return true
                    }
                    guard accepted else { return channel.close() }
                    channel.closeFuture.whenComplete { _ in
                        connections.withLockedValue { _ = $0.channels.removeValue(forKey: ObjectIdentifier(channel)) }
                    }
                    let maximumPacketSize = settings.withLockedValue { $0.broker.maximumPacketSize }
                    return channel.eventLoop.makeCompletedFuture {
                        let handlers: [any ChannelHandler] = [
                            try tls.makeHandler(), PrincipalBridge(),
                            MQTTConnectionHandler(
                                broker: broker, eventLoop: channel.eventLoop, maximumPacketSize: maximumPacketSize,
                                logger: logger),
                        ]
                        try channel.pipeline.syncOperations.addHandlers(handlers)
                    }
                }
                .bind(host: configuration.host, port: configuration.port).wait()
        } catch {
            try? group.syncShutdownGracefully()
            throw ListenerError("MQTT", host: configuration.host, port: configuration.port, error)
        }
        // Session expiry, delayed wills, expired retained messages, gauges.
        housekeeping = group.next().scheduleRepeatedTask(initialDelay: .seconds(1), delay: .milliseconds(500)) { _ in
            broker.housekeeping()
        }
        logger.info("MQTT over mutual TLS listening", metadata: ["address": "\(channel.localAddress?.description ?? "?")"])
    }

    /// The settings in force (`reconfigure(_:)` changes some of them).
    public var configuration: Configuration { settings.withLockedValue { $0 } }

    /// The port the listener is bound to.
    public var port: Int { channel.localAddress?.port ?? configuration.port }

    /// Applies what may change while the hub runs (a configuration reload): the broker's limits, the routing
    /// budget (the largest packet among the limits applies to new connections) and the drain bound. The address, the store, its
    /// durability and the threads stay as they were bound; TLS changes go through `reloadTLS(configuration:)`.
    public func reconfigure(_ new: Configuration) {
        broker.reconfigure(new.broker)
        router.budget = new.routingBudget
        settings.withLockedValue { current in
            current.broker = new.broker
            current.routingBudget = new.routingBudget
            current.shutdownTimeout = new.shutdownTimeout
        }
    }

    /// Builds a new TLS context from the files (new CA, CRL, certificate or key), with `configuration` when
    /// given, and closes live sessions whose certificate is now revoked; returns how many were closed. On
    /// failure the previous context and configuration stay.
    @discardableResult
    public func reloadTLS(configuration: TLSConfiguration? = nil) throws -> Int {
        let closed = try tls.reload(configuration: configuration)
        settings.withLockedValue { $0.tls = tls.configuration }
        return closed
    }

    /// Serves until graceful shutdown (or cancellation), then drains as `shutdown()` does.
    public func run() async {
        try? await gracefulShutdown()
        // The drain blocks on the connections and the store: off the concurrency pool.
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                self.shutdown()
                continuation.resume()
            }
        }
    }

    /// Stops accepting; asks every connection to finish the replies it has started and close (`HubDraining`);
    /// closes those still open when `shutdownTimeout` has passed; commits what the store holds (waiting at
    /// most what is left of the bound, and at least a second); stops the threads. Blocks until done; a second
    /// call returns at once.
    public func shutdown() {
        let bound = configuration.shutdownTimeout
        let started = NIODeadline.now()
        let deadline = started + bound
        let open: [any Channel]? = connections.withLockedValue { connections in
            guard !connections.stopped else { return nil }
            connections.stopped = true
            connections.draining = true
            connections.drainDeadline = deadline
            return Array(connections.channels.values)
        }
        guard let open else { return }
        logger.notice(
            "shutting down: draining connections",
            metadata: ["connections": "\(open.count)", "boundSeconds": "\(Self.seconds(bound))"])
        try? channel.close().wait()
        housekeeping.cancel()
        for connection in open { connection.pipeline.fireUserInboundEventTriggered(HubDraining()) }
        let drained = Self.wait(for: EventLoopFuture.andAllComplete(open.map(\.closeFuture), on: group.next()), until: deadline)
        if !drained {
            let left = connections.withLockedValue { Array($0.channels.values) }
            logger.warning("drain bound reached; closing the connections still busy", metadata: ["connections": "\(left.count)"])
            let closed = left.map { connection in connection.close().recover { _ in } }
            _ = Self.wait(for: EventLoopFuture.andAllComplete(closed, on: group.next()), until: .now() + .seconds(1))
        }
        let flushed = DispatchSemaphore(value: 0)
        DispatchQueue.global().async { [store, broker] in
            broker.commitHeldDeliveries()
            store.flush()
            flushed.signal()
        }
        let flushTime = max(deadline - .now(), .seconds(1))
        if flushed.wait(timeout: .now() + .nanoseconds(Int(flushTime.nanoseconds))) == .timedOut {
            logger.error("the broker store did not finish committing in time; what it had not committed was never acknowledged")
        }
        try? group.syncShutdownGracefully()
        logger.notice(
            "shut down", metadata: ["drained": "\(drained)", "seconds": "\(Self.seconds(.now() - started))"])
    }

    /// Blocks until `future` completes or `deadline` passes; true when it completed.
    private static func wait(for future: EventLoopFuture<Void>, until deadline: NIODeadline) -> Bool {
        let done = DispatchSemaphore(value: 0)
        future.whenComplete { _ in done.signal() }
        let remaining = max(deadline - .now(), .zero)
        return done.wait(timeout: .now() + .nanoseconds(Int(remaining.nanoseconds))) == .success
    }

    private static func seconds(_ amount: TimeAmount) -> String {
        String(format: "%.3f", Double(amount.nanoseconds) / 1e9)
    }
}
