import Logging
import ServiceLifecycle
import Synchronization
import UnixSignals

/// The hub's lowest log level, shared by every log handler so that a reload changes it at once.
public final class SharedLogLevel: Sendable {
    private let index: Atomic<Int>

    public init(_ level: Logger.Level) {
        index = Atomic(Self.levels.firstIndex(of: level) ?? 0)
    }

    public var level: Logger.Level {
        get { Self.levels[index.load(ordering: .relaxed)] }
        set { index.store(Self.levels.firstIndex(of: newValue) ?? 0, ordering: .relaxed) }
    }

    private static let levels = Logger.Level.allCases
}

/// Reloads on SIGHUP, as a `Service`: first the configuration file's reloadable keys
/// (`HubConfiguration.reloadableKeys`), then the TLS material (CA, CRL, server certificate and key, with the TLS
/// settings now in force), closing sessions whose certificate the new CRL revokes.
///
/// A file that does not load or check keeps the running configuration, with one error line; the TLS material is
/// reloaded all the same (a revocation must not wait for a typo to be fixed). A changed key that needs a restart
/// is logged and left as it runs.
public final class ConfigurationReloader: Service {
    private let server: HubServer
    private let logLevel: SharedLogLevel
    private let hangups: UnixSignalsSequence
    private let load: @Sendable () throws(ConfigurationError) -> HubConfiguration
    private let running: Mutex<HubConfiguration>
    private let logger: Logger

    /// - Parameters:
    ///   - configuration: what the hub started with.
    ///   - hangups: SIGHUP, trapped by the caller before the hub says it listens (an untrapped SIGHUP ends the
    ///     process).
    ///   - load: reads the file and variables again, with the command line's options on top.
    public init(
        server: HubServer, configuration: HubConfiguration, logLevel: SharedLogLevel, hangups: UnixSignalsSequence,
        logger: Logger, load: @escaping @Sendable () throws(ConfigurationError) -> HubConfiguration
    ) {
        self.server = server
        self.logLevel = logLevel
        self.hangups = hangups
        self.load = load
        self.running = Mutex(configuration)
        self.logger = logger
    }

    /// The configuration in force.
    public var configuration: HubConfiguration { running.withLock { $0 } }

    /// Reloads at each SIGHUP until graceful shutdown.
    public func run() async {
        for await _ in hangups.cancelOnGracefulShutdown() {
            reload()
        }
    }

    /// One reload: the configuration, then the TLS material.
    public func reload() {
        let current = configuration
        var applied = current
        var loaded = false
        do {
            let file = try load()
            applied = current.takingReloadableKeys(of: file)
            let waiting = applied.changedKeys(from: file)
            if !waiting.isEmpty {
                logger.warning(
                    "configuration changed in keys that need a restart; they keep their running values until then",
                    metadata: ["keys": "\(waiting.joined(separator: ", "))"])
            }
            server.reconfigure(applied.serverConfiguration)
            logLevel.level = applied.log.level
            loaded = true
        } catch {
            logger.error(
                "configuration reload failed; the running configuration stays", metadata: ["error": "\(error)"])
        }
        do {
            let closed = try server.reloadTLS(configuration: applied.serverConfiguration.tls)
            logger.notice("TLS material reloaded", metadata: ["revokedSessionsClosed": "\(closed)"])
        } catch {
            let changedSettings = applied.tls != current.tls
            applied.tls = current.tls
            logger.error(
                changedSettings
                    ? "TLS reload with the new tls settings failed; they keep their running values"
                    : "TLS reload failed; the previous material stays in use",
                metadata: ["error": "\(error)"])
            // The files are read again with the running settings: a new CRL never waits for a typo in tls.* (a
            // serverName naming no certificate) to be fixed.
            if changedSettings {
                do {
                    let closed = try server.reloadTLS(configuration: applied.serverConfiguration.tls)
                    logger.notice(
                        "TLS material reloaded with the running tls settings",
                        metadata: ["revokedSessionsClosed": "\(closed)"])
                } catch {
                    logger.error(
                        "TLS reload failed; the previous material stays in use", metadata: ["error": "\(error)"])
                }
            }
        }
        running.withLock { $0 = applied }
        if loaded {
            let changed = applied.changedKeys(from: current)
            logger.notice(
                "configuration reloaded",
                metadata: ["changed": "\(changed.isEmpty ? "nothing" : changed.joined(separator: ", "))"])
        }
    }
}
