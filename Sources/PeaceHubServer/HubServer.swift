import Dispatch
import Foundation
import Logging
import NIOCore
import NIOPosix
import PeaceHubCore
import PeaceHubMQTT
import PeaceHubPlugins
import PeaceHubTLS

/// The MQTT listener over mutual TLS: one pipeline per connection —
/// `TLSHandler` → `PrincipalBridge` → `MQTTDecoder` / `MQTTEncoder` → `MQTTConnectionHandler` —
/// over one broker with its durable store, its topic policy and its mission router.
public final class HubServer: Sendable {
    public struct Configuration: Sendable {
        public var host: String
        public var port: Int
        public var tls: TLSConfiguration
        /// The broker's SQLite file.
        public var storePath: String
        public var durability: SQLiteBrokerStore.Durability = .processCrash
        /// The largest MQTT packet accepted, fixed header included.
        public var maximumPacketSize: Int = 4 << 20
        public var broker = Broker.Configuration()
        /// How long a mission module may take to judge a report before it is held.
        public var routingBudget: DispatchTimeInterval = .seconds(2)
        public var threads: Int = System.coreCount

        public init(host: String, port: Int, tls: TLSConfiguration, storePath: String) {
            self.host = host
            self.port = port
            self.tls = tls
            self.storePath = storePath
        }
    }

    public let configuration: Configuration
    public let tls: TLSContextStore
    public let broker: Broker
    let store: SQLiteBrokerStore
    private let group: MultiThreadedEventLoopGroup
    let channel: any Channel
    private let watcher: TLSFileWatcher
    private let logger: Logger

    /// Binds the listener. Every piece is ready when this returns; `port` is the bound port
    /// (useful with port 0).
    public init(
        configuration: Configuration, plugins: PluginHost, membership: any MissionMembership,
        archive: (any ReportArchive)?, logger: Logger = Logger(label: "peacehub.server")
    ) throws {
        self.configuration = configuration
        self.logger = logger
        tls = try TLSContextStore(configuration: configuration.tls, logger: logger)
        store = try SQLiteBrokerStore(path: configuration.storePath, durability: configuration.durability, logger: logger)
        // It holds message contents: readable by the hub's user only (SQLite gives -wal and -shm the same mode).
        chmod(configuration.storePath, 0o600)
        broker = try Broker(
            configuration: configuration.broker, authorizer: TopicPolicy(membership: membership),
            interceptor: MissionRouter(plugins: plugins, archive: archive, budget: configuration.routingBudget, logger: logger),
            store: store, logger: logger)
        group = MultiThreadedEventLoopGroup(numberOfThreads: max(configuration.threads, 1))
        let (tls, broker, maximumPacketSize) = (tls, broker, configuration.maximumPacketSize)
        do {
            channel = try ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 256)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let handlers: [any ChannelHandler] = [
                            try tls.makeHandler(), PrincipalBridge(),
                            ByteToMessageHandler(MQTTDecoder(maximumPacketSize: maximumPacketSize)),
                            MessageToByteHandler(MQTTEncoder()),
                            MQTTConnectionHandler(broker: broker, eventLoop: channel.eventLoop, logger: logger),
                        ]
                        try channel.pipeline.syncOperations.addHandlers(handlers)
                    }
                }
                .bind(host: configuration.host, port: configuration.port).wait()
        } catch {
            try? group.syncShutdownGracefully()
            throw error
        }
        // A changed CA, CRL, certificate or key file is picked up without a signal too.
        watcher = TLSFileWatcher(store: tls, eventLoop: group.next(), logger: logger)
        watcher.start()
        logger.info("MQTT over mutual TLS listening", metadata: ["address": "\(channel.localAddress?.description ?? "?")"])
    }

    /// The port the listener is bound to.
    public var port: Int { channel.localAddress?.port ?? configuration.port }

    /// Builds a new TLS context from the files (new CA, CRL, certificate or key) and closes
    /// live sessions whose certificate is now revoked; returns how many were closed.
    @discardableResult
    public func reloadTLS() throws -> Int {
        try tls.reload()
    }

    /// Stops accepting, closes the connections, commits what is pending and stops the threads.
    public func shutdown() {
        watcher.stop()
        try? channel.close().wait()
        store.flush()
        try? group.syncShutdownGracefully()
    }
}
