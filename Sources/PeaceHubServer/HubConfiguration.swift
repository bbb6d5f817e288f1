import Foundation
import Logging
import NIOCore
import PeaceHubCore
import PeaceHubMQTT
import PeaceHubTLS

/// Everything an operator can set for `peacehub serve`, read at startup from one JSON file and
/// `PEACEHUB_*` environment variables (`HubConfiguration+Loading.swift`; keys and defaults in
/// `docs/configuration.md`), and again on SIGHUP for the keys in `reloadableKeys`. A default-initialised
/// value holds the documented defaults.
public struct HubConfiguration: Sendable, Equatable {
    /// The MQTT listener and the broker's limits.
    public struct MQTT: Sendable, Equatable {
        /// The address to listen on; the default keeps the hub off the network until asked.
        public var host = "127.0.0.1"
        /// The MQTT over TLS port; 0 picks a free port (tests).
        public var port = 8883
        /// The largest MQTT packet accepted, fixed header included.
        public var maximumPacketSize = 4 << 20
        /// Outbound QoS 1 and 2 messages a client may have unacknowledged at once.
        public var maximumInflight = 32
        /// Messages queued per session beyond those in flight.
        public var maximumQueued = 1000
        /// Connected clients in all.
        public var maximumConnections = 10_000
        /// Connected clients of one contingent or operator.
        public var maximumConnectionsPerPrincipal = 200
        /// What an acknowledged message survives.
        public var durability = SQLiteBrokerStore.Durability.processCrash
        /// How long a mission module may take to judge a report before it is held.
        public var routingBudgetMilliseconds = 2000
        /// QoS 1 and 2 PUBLISHes an MQTT 5 client may have unacknowledged by the hub (its Receive Maximum).
        public var receiveMaximum = 64
        /// Topic aliases an MQTT 5 client may set on one connection (0: none).
        public var topicAliasMaximum = 16
        /// Subscriptions one session may hold.
        public var maximumSubscriptionsPerSession = 100
        /// Retained messages one contingent or operator may hold at once.
        public var maximumRetainedPerPrincipal = 1000
        /// The longest keep-alive accepted from an MQTT 5 client, in seconds (0: no limit); the hub answers with
        /// Server Keep Alive.
        public var maximumKeepAliveSeconds = 0
        /// The longest Session Expiry Interval granted to an MQTT 5 client, in seconds (0: no limit).
        public var maximumSessionExpirySeconds = 0
        /// How long the stored deliveries of a QoS 1 message wait before they go to the broker store, so that
        /// those acknowledged meanwhile are never written (`Broker.Configuration.storeHoldTime`); 0: at once.
        public var storeHoldMicroseconds = 20_000
        /// How long a connection may stay after its TLS handshake without sending CONNECT.
        public var connectTimeoutSeconds = 10
        /// How often the broker's state is published under `$SYS/broker/`; 0: never.
        public var systemReportIntervalSeconds = 10
        /// The event loop threads that serve the MQTT connections; 0: one per core.
        public var eventLoopThreads = 0
        /// Comma-separated topic filters whose queued messages leave by precedence, FLASH first
        /// (`Broker.Configuration.precedenceTopics`); every other topic keeps MQTT's order. Empty: none.
        public var precedenceTopics = Broker.Configuration.defaultPrecedenceTopics.joined(separator: ",")

        /// `precedenceTopics` as a list.
        public var precedenceTopicFilters: [String] { Self.topicFilters(in: precedenceTopics) }

        /// The filters of a comma-separated list, without the blanks around them.
        static func topicFilters(in list: String) -> [String] {
            list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        }

        public init() {}
    }

    /// The TLS policy of the listener; the files come from `<dataDirectory>/pki`.
    public struct TLS: Sendable, Equatable {
        /// The server certificate's name under `pki/server/`.
        public var serverName = "localhost"
        /// TLS 1.3 unless a partner stack forces 1.2.
        public var minimumVersion = TLSConfiguration.ProtocolVersion.tlsv1_3
        /// The TLS 1.3 cipher suites accepted, colon-separated in OpenSSL's names; nil: OpenSSL's list.
        public var cipherSuites: String?
        /// How long a peer may take to finish the handshake.
        public var handshakeTimeoutSeconds = 5
        /// How many days before the CRL's nextUpdate the hub starts warning (an expired CRL locks everyone out).
        public var crlWarningDays = 7
        /// How often the PKI files are checked for changes; 0 leaves reloads to SIGHUP alone.
        public var watchIntervalSeconds = 1

        public init() {}
    }

    /// The admin and registry API: HTTPS with mutual TLS on the MQTT listener's CA, CRL and server certificate.
    public struct Admin: Sendable, Equatable {
        public var enabled = true
        /// Loopback by default: operators reach it on the hub or through a tunnel.
        public var host = "127.0.0.1"
        /// 0 picks a free port (the bound port is printed).
        public var port = 8884
        /// The largest request body accepted; a larger one is answered 413.
        public var maximumBodySize = 1 << 20
        /// Connections open at once; one more is closed when accepted.
        public var maximumConnections = 256

        public init() {}
    }

    /// Health, readiness and Prometheus metrics over plain HTTP, for the machine's own monitoring.
    public struct Monitoring: Sendable, Equatable {
        public var enabled = true
        /// Loopback by default: the endpoints carry no authentication.
        public var host = "127.0.0.1"
        /// 0 picks a free port (the bound port is printed).
        public var port = 9883
        /// Connections open at once; one more is closed when accepted (the endpoints carry no authentication, so
        /// this keeps any local client from taking the hub's descriptors).
        public var maximumConnections = 64

        public init() {}
    }

    /// How the hub logs.
    public struct Log: Sendable, Equatable {
        /// Lines for people, or one JSON object per line for collectors.
        public enum Format: String, Sendable, Equatable, CaseIterable {
            case text
            case json
        }

        public var level = Logger.Level.info
        public var format = Format.text

        public init() {}
    }

    /// PKI, registry, broker store and (by default) the mission modules live here.
    public var dataDirectory = "var"
    /// The mission modules' folder; nil means `<dataDirectory>/plugins`.
    public var pluginsDirectory: String?
    public var mqtt = MQTT()
    public var tls = TLS()
    public var admin = Admin()
    public var monitoring = Monitoring()
    public var log = Log()
    /// How long a shutdown (SIGTERM, SIGINT) waits for connections to finish what they started.
    public var shutdownTimeoutSeconds = 10
    /// Each module's configuration object by module id, handed to the module unchanged.
    public var modules: [String: JSONValue] = [:]

    public init() {}
}

extension HubConfiguration {
    /// The data directory as an absolute URL (a relative path is relative to the working directory).
    public var paths: HubPaths {
        HubPaths(dataDirectory: URL(fileURLWithPath: dataDirectory).standardizedFileURL)
    }

    /// Where the mission modules are loaded from.
    public var resolvedPluginsDirectory: URL {
        pluginsDirectory.map { URL(fileURLWithPath: $0).standardizedFileURL }
            ?? paths.dataDirectory.appendingPathComponent("plugins")
    }

    public var pki: PKI { PKI(directory: paths.pkiDirectory) }
    public var serverCertificateFile: String { pki.url("server/\(tls.serverName).pem").path }
    public var serverPrivateKeyFile: String { pki.url("server/\(tls.serverName).key").path }
    /// The broker's SQLite file.
    public var brokerStorePath: String { paths.dataDirectory.appendingPathComponent("broker.sqlite").path }

    /// What the host hands a module that asks for its configuration (`HostServices.configuration`).
    public func moduleConfiguration(_ moduleID: String) -> JSONValue {
        modules[moduleID] ?? [:]
    }

    /// The listener's configuration: addresses, limits, durability and the TLS policy and files.
    public var serverConfiguration: HubServer.Configuration {
        var tlsConfiguration = TLSConfiguration.server(
            certificateFile: serverCertificateFile, privateKeyFile: serverPrivateKeyFile,
            trustedCAFile: pki.caCertificateURL.path, crlFile: pki.crlURL.path)
        tlsConfiguration.minimumVersion = tls.minimumVersion
        tlsConfiguration.cipherSuites = tls.cipherSuites
        tlsConfiguration.handshakeTimeout = .seconds(Int64(tls.handshakeTimeoutSeconds))
        tlsConfiguration.crlWarningWindow = TimeInterval(tls.crlWarningDays) * 24 * 3600
        var configuration = HubServer.Configuration(
            host: mqtt.host, port: mqtt.port, tls: tlsConfiguration, storePath: brokerStorePath)
        configuration.crlNumbersPath = paths.crlRecordFile.path
        configuration.durability = mqtt.durability
        if mqtt.eventLoopThreads > 0 { configuration.threads = mqtt.eventLoopThreads }
        configuration.broker = Broker.Configuration(
            maximumInflight: mqtt.maximumInflight, maximumQueued: mqtt.maximumQueued,
            maximumConnections: mqtt.maximumConnections,
            maximumConnectionsPerPrincipal: mqtt.maximumConnectionsPerPrincipal, maximumPacketSize: mqtt.maximumPacketSize,
            receiveMaximum: UInt16(mqtt.receiveMaximum), topicAliasMaximum: UInt16(mqtt.topicAliasMaximum),
            maximumSubscriptionsPerSession: mqtt.maximumSubscriptionsPerSession,
            maximumRetainedPerPrincipal: mqtt.maximumRetainedPerPrincipal,
            maximumKeepAlive: UInt16(mqtt.maximumKeepAliveSeconds),
            maximumSessionExpiry: mqtt.maximumSessionExpirySeconds == 0 ? nil : UInt32(mqtt.maximumSessionExpirySeconds),
            storeHoldTime: .microseconds(mqtt.storeHoldMicroseconds),
            connectTimeout: .seconds(mqtt.connectTimeoutSeconds),
            systemReportInterval: .seconds(mqtt.systemReportIntervalSeconds),
            precedenceTopics: mqtt.precedenceTopicFilters)
        configuration.routingBudget = .milliseconds(mqtt.routingBudgetMilliseconds)
        configuration.shutdownTimeout = .seconds(Int64(shutdownTimeoutSeconds))
        return configuration
    }

    /// Checks that the PKI files the listener needs exist and are readable, and that no database is an empty
    /// file, so `--check-config` catches a missing certificate or a restore cut short before the hub starts.
    public func validateFiles() throws(ConfigurationError) {
        let files = [
            ("CA certificate", pki.caCertificateURL.path, "dataDirectory"), ("CRL", pki.crlURL.path, "dataDirectory"),
            ("server certificate", serverCertificateFile, "tls.serverName"),
            ("server private key", serverPrivateKeyFile, "tls.serverName"),
        ]
        let advice = "create the PKI with `peacehub pki init` and `peacehub pki issue-server`"
        for (what, path, key) in files {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                // A certificate issued for another name (`issue-server --host hub.example.org`) is the likely cause.
                let issued = (try? FileManager.default.contentsOfDirectory(atPath: pki.url("server").path)) ?? []
                let names = issued.filter { $0.hasSuffix(".pem") }.map { String($0.dropLast(4)) }.sorted()
                let hint =
                    key == "tls.serverName" && !names.isEmpty
                    ? "set tls.serverName to the certificate's name (issued: \(names.joined(separator: ", ")))"
                    : advice
                throw ConfigurationError(.missingFile, key: key, source: path, "the \(what) does not exist: \(hint)")
            }
            guard !isDirectory.boolValue, FileManager.default.isReadableFile(atPath: path) else {
                throw ConfigurationError(
                    .unreadableFile, key: key, source: path, "cannot read the \(what): it is a folder or not readable")
            }
        }
        // An empty file (a copy or restore cut short, a `touch`) would open as a new database: the registry
        // refusing every contingent, the queued messages gone, and the hub ready.
        for (what, path) in [("registry", paths.registryDatabase.path), ("broker store", brokerStorePath)]
        where isEmptyFile(path) {
            throw ConfigurationError(
                .unreadableFile, key: "dataDirectory", source: path,
                "the \(what) is an empty file: restore it from a backup, or remove it to start with a new one")
        }
    }
}

/// Why the configuration could not be used. Compare `code` in code and tests; `description` is the one line
/// an operator sees, naming the file or variable and the key.
public struct ConfigurationError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The kind of problem.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate enum Backing: String, Hashable, Sendable {
            case missingFile
            case unreadableFile
            case invalidSyntax
            case unknownKey
            case wrongType
            case invalidValue
        }

        fileprivate var backing: Backing

        /// A named configuration file, or a PKI file the hub needs, does not exist.
        public static let missingFile = Code(backing: .missingFile)
        /// A file exists but cannot be read (permissions, a folder).
        public static let unreadableFile = Code(backing: .unreadableFile)
        /// The configuration file is not valid JSON.
        public static let invalidSyntax = Code(backing: .invalidSyntax)
        /// A key (or a `PEACEHUB_MQTT_*`, `PEACEHUB_TLS_*`, `PEACEHUB_LOG_*` variable) the hub does not know.
        public static let unknownKey = Code(backing: .unknownKey)
        /// A value of the wrong JSON type (a string for a number, an array for an object…).
        public static let wrongType = Code(backing: .wrongType)
        /// A value of the right type outside what the key allows (a port above 65535, an unknown level…).
        public static let invalidValue = Code(backing: .invalidValue)

        public var description: String { backing.rawValue }
    }

    public var code: Code
    /// The dotted key at fault (`mqtt.port`), or nil when the problem is the whole file.
    public var key: String?
    /// Where the problem is: the configuration file, an environment variable or a PKI file.
    public var source: String
    /// What is wrong, naming the key and the bad value.
    public var reason: String

    public init(_ code: Code, key: String? = nil, source: String, _ reason: String) {
        self.code = code
        self.key = key
        self.source = source
        self.reason = reason
    }

    public var description: String { "\(source): \(reason)" }
}
