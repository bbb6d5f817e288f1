import ArgumentParser
import Foundation
import Logging
import NIOCore
import PeaceHubCore
import PeaceHubMQTT
import PeaceHubPlugins
import PeaceHubRegistry
import PeaceHubServer
import PeaceHubTLS
import ServiceLifecycle
import UnixSignals

/// `peacehub serve`: the hub itself.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the hub: MQTT over mutual TLS with the mission modules and the registry.",
        discussion: """
            Settings come from the configuration file (--config, docs/configuration.md), then PEACEHUB_* \
            environment variables, then these options. Files live in the data directory: pki/ (ca.pem, crl.pem, \
            server/<server-name>.pem and .key), registry.sqlite, broker.sqlite and plugins/. SIGHUP reloads the \
            configuration keys that can change while the hub runs and the TLS material (changed TLS files are also \
            picked up within a second); SIGTERM and SIGINT stop accepting, let each connection finish what it \
            started (at most shutdownTimeoutSeconds), commit what is pending and exit.
            """
    )

    @Option(help: "The configuration file (JSON; every key in docs/configuration.md).")
    var config: String?

    @Flag(help: "Check the configuration and the PKI files it names, print the result, and exit.")
    var checkConfig = false

    @Option(help: "The address to listen on (mqtt.host).")
    var host: String?

    @Option(help: "The MQTT over TLS port (mqtt.port).")
    var port: Int?

    @Option(help: "The data directory (dataDirectory).")
    var dataDir: String?

    @Option(help: "The plugins directory (pluginsDirectory).")
    var plugins: String?

    @Option(help: "Log lines for people (text) or one JSON object per line (json) (log.format).")
    var logFormat: HubConfiguration.Log.Format?

    func run() async throws {
        // Ignored since `main` (a SIGHUP in the start's first 40 ms ended the hub), until the reloader is in place.
        signal(SIGHUP, SIG_IGN)
        let load = loader()
        let settings: HubConfiguration
        do {
            settings = try load()
            try settings.validateFiles()
            try settings.checkListenerHosts()
        } catch {
            throw CLIError(error.description)
        }
        if checkConfig {
            // What a start would refuse: a key that does not match, an expired certificate, an unreadable CRL, a CRL
            // older than one an earlier run loaded.
            do {
                let server = settings.serverConfiguration
                try TLSContextStore.check(configuration: server.tls, crlNumbersFile: server.crlNumbersPath)
                // A registry that is no database would pass here and fail the start (a unit's ExecStartPre).
                let registry = settings.paths.registryDatabase.path
                if FileManager.default.fileExists(atPath: registry) { try Registry.check(path: registry) }
            } catch {
                throw CLIError("\(error)")
            }
            print("configuration OK: \(config ?? "defaults"); data \(settings.paths.dataDirectory.path), port \(settings.mqtt.port)")
            // Not an error (a hub may run without modules), but the start would report /ready 503 for it.
            let plugins = settings.resolvedPluginsDirectory.path
            var isDirectory: ObjCBool = false
            if !FileManager.default.fileExists(atPath: plugins, isDirectory: &isDirectory) || !isDirectory.boolValue {
                print("warning: the plugins directory \(plugins) does not exist: the hub would serve no mission module")
            }
            return
        }
        try DataDirectoryLock.acquire(settings.paths)
        let logLevel = SharedLogLevel(settings.log.level)
        LoggingSystem.bootstrap(format: settings.log.format, level: logLevel)
        let logger = Logger(label: "peacehub")
        let metrics = HubMetrics.bootstrap()

        let moduleServices = ModuleServices()
        let host = PluginHost(
            trying: moduleServices.hostServices(
                logger: logger, configuration: { [settings] id in settings.moduleConfiguration(id) }))
        let refusals = host.loadDirectory(settings.resolvedPluginsDirectory)  // the host logs each refusal
        HubMetrics.startCountersAtZero(missions: host.modules.map(\.mission))
        let registry = try Registry(path: settings.paths.registryDatabase.path, evaluator: host, logger: logger)
        // Read whole beside the start, not before it (1.1 GB of archived reports held the start for over a minute
        // from a cold disk): `/ready` waits for it, and a file cut short that still opened fails it, naming the file.
        registry.checkIntegrityInBackground()
        moduleServices.bind(registry)
        let server = try HubServer(
            configuration: settings.serverConfiguration, plugins: host,
            membership: RegistryMembership(registry: registry, logger: logger), archive: RegistryReportArchive(registry: registry),
            logger: logger)
        moduleServices.bind(server.broker)
        let listeners = HubHTTPListeners(
            configuration: settings, server: server, registry: registry, plugins: host, refusals: refusals,
            metrics: metrics, logger: logger)
        do {
            try listeners.start()
        } catch {
            server.shutdown()
            throw CLIError(error.description)
        }
        // Trapped before the hub says it listens.
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        let userSignals = await UnixSignalsSequence(trapping: .sigusr1, .sigusr2)
        let modules = host.modules.map(\.mission).joined(separator: ", ")
        let first =
            "PeaceHub listening on \(authority(host: settings.mqtt.host, port: server.port)) (MQTT 3.1.1 and 5.0 over "
            + "mutual TLS); modules: \(modules)"

        // Every long-running part. Graceful shutdown goes in reverse order, so the MQTT listener drains last, and the
        // HTTP listeners (first here) stay up while it drains.
        var services: [any Service] = [
            HTTPListenersService(listeners: listeners, server: server),
            server,
            ConfigurationReloader(
                server: server, configuration: settings, logLevel: logLevel, hangups: hangups, logger: logger, load: load),
        ]
        if settings.tls.watchIntervalSeconds > 0 {
            services.append(
                TLSFileWatcher(store: server.tls, interval: .seconds(settings.tls.watchIntervalSeconds), logger: logger))
        }
        services.append(UserSignalNotices(signals: userSignals, logger: logger))
        services.append(ReadyLine(([first] + listeners.addressLines(configuration: settings)).map { $0 + "\n" }.joined()))
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: services, gracefulShutdownSignals: [.sigterm, .sigint, .sigquit], logger: logger))
        try await group.run()
    }

    /// Reads the file and the variables, then applies the options given here (again at each reload).
    private func loader() -> @Sendable () throws(ConfigurationError) -> HubConfiguration {
        let (file, host, port, dataDir, plugins, logFormat) = (config, host, port, dataDir, plugins, logFormat)
        return { () throws(ConfigurationError) in
            let options = [
                "mqtt.host": host, "mqtt.port": port.map(String.init), "dataDirectory": dataDir,
                "pluginsDirectory": plugins,
            ].compactMapValues { $0 }
            var settings = try HubConfiguration.load(
                file: file, environment: ProcessInfo.processInfo.environment, commandLine: options)
            if let logFormat { settings.log.format = logFormat }
            return settings
        }
    }
}

extension HubConfiguration.Log.Format: ExpressibleByArgument {}

/// Prints the line scripts wait for once the service group runs, that is once SIGTERM and SIGINT lead to a
/// graceful shutdown; then waits for it.
private struct ReadyLine: Service {
    let line: String

    init(_ line: String) {
        self.line = line
    }

    func run() async {
        // Unbuffered: scripts wait for this line.
        StandardStreams.output(Data(line.utf8))
        try? await gracefulShutdown()
    }
}

/// SIGUSR1 and SIGUSR2, which end a process by default. mosquitto's operators send them to write its persistence
/// file and to print its subscriptions; sent out of that habit they ended the hub. The broker store commits and
/// checkpoints as it goes and there is nothing to print, so the hub says so and goes on.
private struct UserSignalNotices: Service {
    let signals: UnixSignalsSequence
    let logger: Logger

    func run() async {
        for await signal in signals.cancelOnGracefulShutdown() {
            logger.notice(
                "signal ignored: the broker store commits every message as it goes (SIGHUP reloads; SIGTERM drains)",
                metadata: ["signal": "\(signal)"])
        }
    }
}

/// The admin and monitoring listeners, bound before the service group starts: they serve until graceful shutdown,
/// while the MQTT listener drains, then finish the requests under way within the same bound
/// (`shutdownTimeoutSeconds`), and at least a second.
private struct HTTPListenersService: Service {
    let listeners: HubHTTPListeners
    let server: HubServer

    func run() async {
        try? await gracefulShutdown()
        // Closing waits on the listeners' threads: off the concurrency pool.
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                let bound: NIODeadline = server.drainDeadline ?? .now() + server.configuration.shutdownTimeout
                listeners.shutdown(until: max(bound, .now() + .seconds(1)))
                continuation.resume()
            }
        }
    }
}
