import Foundation
import Logging
import NIOCore
import PeaceHubCore
import PeaceHubHTTP
import PeaceHubPlugins
import PeaceHubRegistry
import PeaceHubTLS
import Prometheus

extension HTTPTransport {
    /// Mutual TLS on the hub's TLS context store: the TLS handler (same CA, CRL, server certificate and live
    /// revocation as the MQTT listener) and the principal bridge, so handlers see the certificate's `Principal`.
    public static func mutualTLS(_ store: TLSContextStore) -> HTTPTransport {
        HTTPTransport { _ in [try store.makeHandler(), PrincipalBridge()] }
    }
}

/// The hub's two HTTP listeners, as configured: `admin` (HTTPS with mutual TLS: the registry and admin API) and
/// `monitoring` (plain HTTP: health, readiness, metrics). Each is an `HTTPServer` with `start()`/`shutdown()`
/// and `run()`, so each can also run as a service of its own.
public final class HubHTTPListeners: Sendable {
    public let admin: HTTPServer?
    public let monitoring: HTTPServer?

    /// Builds the enabled listeners over the running MQTT server's TLS store, broker and store.
    public init(
        configuration: HubConfiguration, server: HubServer, registry: Registry, plugins: PluginHost,
        refusals: [PluginLoadError], metrics: PrometheusCollectorRegistry,
        logger: Logger = Logger(label: "peacehub.http")
    ) {
        if configuration.admin.enabled {
            var settings = HTTPServer.Configuration(
                name: "admin", host: configuration.admin.host, port: configuration.admin.port)
            settings.maximumBodySize = configuration.admin.maximumBodySize
            settings.maximumConnections = configuration.admin.maximumConnections
            admin = HTTPServer(
                configuration: settings,
                router: AdminAPI(registry: registry, plugins: plugins, broker: server.broker).router,
                transport: .mutualTLS(server.tls), logger: logger)
        } else {
            admin = nil
        }
        if configuration.monitoring.enabled {
            let api = MonitoringAPI(
                checks: MonitoringAPI.hubChecks(
                    server: server, registry: registry, plugins: plugins, refusals: refusals),
                exposition: { HubMetrics.exposition(of: metrics) })
            var settings = HTTPServer.Configuration(
                name: "monitoring", host: configuration.monitoring.host, port: configuration.monitoring.port)
            settings.maximumConnections = configuration.monitoring.maximumConnections
            // Its endpoints take no body: a client without a certificate may not park a megabyte per connection.
            settings.maximumBodySize = 0
            monitoring = HTTPServer(configuration: settings, router: api.router, logger: logger)
        } else {
            monitoring = nil
        }
    }

    /// Binds the enabled listeners (admin first); a listener that cannot bind is named in the error.
    public func start() throws(ListenerError) {
        for (name, server) in [("admin", admin), ("monitoring", monitoring)] {
            guard let server else { continue }
            do {
                try server.start()
            } catch {
                shutdown()
                throw ListenerError(name, host: server.configuration.host, port: server.configuration.port, error)
            }
        }
    }

    /// Stops both listeners, which drain together: the requests under way may finish until `deadline`
    /// (`HTTPServer.shutdown(until:)`).
    public func shutdown(until deadline: NIODeadline = .now()) {
        let servers = [admin, monitoring].compactMap { $0 }
        for server in servers { server.drain() }
        for server in servers { server.shutdown(until: deadline) }
    }

    /// The lines `peacehub serve` prints after its first one: where each enabled listener is.
    public func addressLines(configuration: HubConfiguration) -> [String] {
        var lines: [String] = []
        if let admin {
            lines.append("Admin API on https://\(authority(host: configuration.admin.host, port: admin.port))")
        }
        if let monitoring {
            let address = authority(host: configuration.monitoring.host, port: monitoring.port)
            lines.append("Monitoring on http://\(address)")
        }
        return lines
    }
}

/// A listener that could not start, and why (one line for the operator, naming the listener and its address).
public struct ListenerError: Error, CustomStringConvertible {
    public var description: String

    init(_ name: String, host: String, port: Int, _ cause: any Error) {
        // The system's words ("Address already in use"), not NIO's rendering of the failed call.
        let reason = (cause as? IOError).map { String(cString: strerror($0.errnoCode)) } ?? "\(cause)"
        description = "the \(name) listener cannot listen on \(authority(host: host, port: port)): \(reason)"
    }
}
