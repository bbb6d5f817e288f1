import ArgumentParser
import Dispatch
import Foundation
import Logging
import PeaceHubCore
import PeaceHubMQTT
import PeaceHubPlugins
import PeaceHubRegistry
import PeaceHubServer

/// `peacehub serve`: the hub itself.
struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the hub: MQTT over mutual TLS with the mission modules and the registry.",
        discussion: """
            Settings come from the configuration file (--config, docs/configuration.md), then PEACEHUB_* \
            environment variables, then these options. Files live in the data directory: pki/ (ca.pem, crl.pem, \
            server/<server-name>.pem and .key), registry.sqlite, broker.sqlite and plugins/. SIGHUP reloads the TLS \
            material (changed files are also picked up within a second); SIGTERM and SIGINT stop the hub after \
            committing what is pending.
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

    func run() throws {
        var settings: HubConfiguration
        do {
            settings = try HubConfiguration.load(file: config, environment: ProcessInfo.processInfo.environment)
            if let host { settings.mqtt.host = host }
            if let port { settings.mqtt.port = port }
            if let dataDir { settings.dataDirectory = dataDir }
            if let plugins { settings.pluginsDirectory = plugins }
            try settings.validateFiles()
        } catch {
            throw CLIError(error.description)
        }
        if checkConfig {
            print("configuration OK: \(config ?? "defaults"); data \(settings.paths.dataDirectory.path), port \(settings.mqtt.port)")
            return
        }
        switch settings.log.format {
        case .text: LoggingSystem.bootstrapText(level: settings.log.level)
        case .json: LoggingSystem.bootstrapJSON(level: settings.log.level)
        }
        let logger = Logger(label: "peacehub")
        let metrics = HubMetrics.bootstrap()

        let host = PluginHost(
            services: HostServices(logger: logger, configuration: { [settings] id in settings.moduleConfiguration(id) }))
        let refusals = host.loadDirectory(settings.resolvedPluginsDirectory)  // the host logs each refusal
        let registry = try Registry(path: settings.paths.registryDatabase.path, evaluator: host, logger: logger)
        let server = try HubServer(
            configuration: settings.serverConfiguration, plugins: host,
            membership: RegistryMembership(registry: registry, logger: logger), archive: RegistryReportArchive(registry: registry),
            logger: logger)
        let listeners = HubHTTPListeners(
            configuration: settings, server: server, registry: registry, plugins: host, refusals: refusals,
            metrics: metrics, logger: logger)
        do {
            try listeners.start()
        } catch {
            server.shutdown()
            throw CLIError(error.description)
        }
        let modules = host.modules.map(\.mission).joined(separator: ", ")
        let first =
            "PeaceHub listening on \(settings.mqtt.host):\(server.port) (MQTT 3.1.1 over mutual TLS); modules: \(modules)"
        let lines = [first] + listeners.addressLines(configuration: settings)
        // Written unbuffered, in one write: scripts wait for these lines.
        FileHandle.standardOutput.write(Data(lines.map { $0 + "\n" }.joined().utf8))
        waitForSignals(server: server, logger: logger)
        listeners.shutdown()
    }

    /// Blocks until SIGTERM or SIGINT; reloads TLS on SIGHUP.
    private func waitForSignals(server: HubServer, logger: Logger) {
        let stop = DispatchSemaphore(value: 0)
        let queue = DispatchQueue(label: "peacehub.signals")
        var sources: [any DispatchSourceSignal] = []
        for signalNumber in [SIGTERM, SIGINT, SIGHUP] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: queue)
            source.setEventHandler {
                if signalNumber == SIGHUP {
                    do {
                        let closed = try server.reloadTLS()
                        logger.notice("TLS material reloaded", metadata: ["revokedSessionsClosed": "\(closed)"])
                    } catch {
                        logger.error("TLS reload failed; the previous material stays in use", metadata: ["error": "\(error)"])
                    }
                } else {
                    stop.signal()
                }
            }
            source.resume()
            sources.append(source)
        }
        stop.wait()
        logger.notice("shutting down")
        server.shutdown()
        for source in sources { source.cancel() }
    }
}
