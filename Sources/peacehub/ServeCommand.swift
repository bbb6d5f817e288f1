import ArgumentParser
import Dispatch
import Foundation
import Logging
import PeaceHubCore
import PeaceHubMQTT
import PeaceHubPlugins
import PeaceHubRegistry
import PeaceHubServer
import PeaceHubTLS

/// `peacehub serve`: the hub itself.
struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the hub: MQTT over mutual TLS with the mission modules and the registry.",
        discussion: """
            Files come from the data directory (--data-dir, $PEACEHUB_DATA_DIR, or ./var): pki/ (ca.pem, crl.pem, \
            server/<server-name>.pem and .key), registry.sqlite, broker.sqlite and plugins/. SIGHUP reloads the TLS \
            material (changed files are also picked up within a second); SIGTERM and SIGINT stop the hub after \
            committing what is pending.
            """
    )

    @Option(help: "The address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "The MQTT over TLS port.")
    var port = 8883

    @Option(help: "The data directory (default: $PEACEHUB_DATA_DIR, or ./var).")
    var dataDir: String?

    @Option(help: "The plugins directory (default: $PEACEHUB_PLUGINS_DIR, or <data-dir>/plugins).")
    var plugins: String?

    @Option(help: "The server certificate's name under pki/server/.")
    var serverName = "localhost"

    @Option(help: "What an acknowledged message survives: process-crash (default) or power-loss (fsync each commit).")
    var durability = "process-crash"

    @Option(help: "Milliseconds a mission module may take to judge a report before it is held.")
    var routingBudget = 2000

    func run() throws {
        let paths = dataDir.map { HubPaths(dataDirectory: URL(fileURLWithPath: $0).standardizedFileURL) } ?? .fromEnvironment
        var logger = Logger(label: "peacehub")
        logger.logLevel = .info
        let pki = PKI(directory: paths.pkiDirectory)
        let certificate = pki.url("server/\(serverName).pem").path
        let key = pki.url("server/\(serverName).key").path
        for file in [pki.caCertificateURL.path, pki.crlURL.path, certificate, key]
        where !FileManager.default.isReadableFile(atPath: file) {
            throw CLIError("cannot read \(file): create the PKI with `peacehub pki init` and `peacehub pki issue-server`")
        }
        let durability: SQLiteBrokerStore.Durability
        switch self.durability {
        case "process-crash": durability = .processCrash
        case "power-loss": durability = .powerLoss
        default: throw CLIError("--durability must be process-crash or power-loss")
        }

        let host = PluginHost(services: HostServices(logger: logger))
        let pluginsDirectory = plugins.map { URL(fileURLWithPath: $0) } ?? paths.pluginsDirectory
        for refusal in host.loadDirectory(pluginsDirectory) { logger.error("\(refusal)") }
        let registry = try Registry(path: paths.registryDatabase.path, evaluator: host, logger: logger)

        var configuration = HubServer.Configuration(
            host: self.host, port: port,
            tls: .server(certificateFile: certificate, privateKeyFile: key, trustedCAFile: pki.caCertificateURL.path, crlFile: pki.crlURL.path),
            storePath: paths.dataDirectory.appendingPathComponent("broker.sqlite").path)
        configuration.durability = durability
        configuration.routingBudget = .milliseconds(routingBudget)
        let server = try HubServer(
            configuration: configuration, plugins: host, membership: RegistryMembership(registry: registry, logger: logger),
            archive: RegistryReportArchive(registry: registry), logger: logger)
        let modules = host.modules.map(\.mission).joined(separator: ", ")
        // Written unbuffered: scripts wait for this line.
        FileHandle.standardOutput.write(
            Data("PeaceHub listening on \(self.host):\(server.port) (MQTT 3.1.1 over mutual TLS); modules: \(modules)\n".utf8))
        try waitForSignals(server: server, logger: logger)
    }

    /// Blocks until SIGTERM or SIGINT; reloads TLS on SIGHUP.
    private func waitForSignals(server: HubServer, logger: Logger) throws {
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
