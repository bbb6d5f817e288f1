import CoreMetrics
import PeaceHubHTTP
import PeaceHubPlugins
import PeaceHubRegistry
import PeaceHubTLS
import Prometheus

/// Health, readiness and metrics over plain HTTP (`docs/admin-api.md`, "Monitoring"): no identity, so nothing
/// here reveals registry or message content.
public struct MonitoringAPI: Sendable {
    /// One readiness condition.
    public struct Check: Encodable, Sendable, Equatable {
        public var name: String
        public var ok: Bool
        public var detail: String

        public init(name: String, ok: Bool, detail: String) {
            self.name = name
            self.ok = ok
            self.detail = detail
        }
    }

    /// Evaluates every readiness check now.
    public var checks: @Sendable () -> [Check]
    /// The Prometheus text exposition of every metric.
    public var exposition: @Sendable () -> [UInt8]

    public init(checks: @escaping @Sendable () -> [Check], exposition: @escaping @Sendable () -> [UInt8]) {
        self.checks = checks
        self.exposition = exposition
    }

    /// Prometheus text exposition format 0.0.4.
    public static let metricsContentType = "text/plain; version=0.0.4; charset=utf-8"

    public var router: Router {
        var router = Router()
        router.get("/health") { _, _ in .json(["status": "alive"]) }
        router.get("/ready") { _, _ in
            let checks = checks()
            let failing = checks.filter { !$0.ok }.map(\.name)
            return .json(
                Readiness(status: failing.isEmpty ? "ready" : "not_ready", failing: failing, checks: checks),
                status: failing.isEmpty ? .ok : .serviceUnavailable)
        }
        router.get("/metrics") { _, _ in
            var response = Response(body: .init(bytes: exposition()))
            response.headers.add(name: "content-type", value: Self.metricsContentType)
            return response
        }
        return router
    }

    struct Readiness: Encodable {
        var status: String
        var failing: [String]
        var checks: [Check]
    }
}

extension MonitoringAPI {
    /// The hub's readiness: the broker store and the registry answer from the files their paths name, the server
    /// certificate and the CRL are current, the MQTT listener is bound, and the mission modules are loaded (every
    /// module of the plugins directory, with no refusal, and at least one).
    public static func hubChecks(
        server: HubServer, registry: Registry, plugins: PluginHost, refusals: [PluginLoadError]
    ) -> @Sendable () -> [Check] {
        { [refusals] in
            var checks: [Check] = []
            do {
                try server.probeStore()
                checks.append(Check(name: "store", ok: true, detail: "the broker store answers"))
            } catch {
                checks.append(Check(name: "store", ok: false, detail: "the broker store does not answer: \(error)"))
            }
            do {
                try registry.probe()
                checks.append(Check(name: "registry", ok: true, detail: "the registry answers"))
            } catch {
                checks.append(Check(name: "registry", ok: false, detail: "the registry does not answer: \(error)"))
            }
            let lapsed = server.tls.current.expiryProblems()
            checks.append(
                Check(
                    name: "tls", ok: lapsed.isEmpty,
                    detail: lapsed.isEmpty
                        ? "the server certificate and the CRL are current" : lapsed.joined(separator: "; ")))
            checks.append(
                Check(
                    name: "mqtt", ok: server.isListening,
                    detail: server.isListening ? "listening on port \(server.port)" : "the MQTT listener is not bound"))
            let missions = plugins.modules.map(\.mission).sorted()
            if !refusals.isEmpty {
                let reasons = refusals.map(\.description).joined(separator: "; ")
                checks.append(Check(name: "modules", ok: false, detail: "\(refusals.count) refused: \(reasons)"))
            } else if missions.isEmpty {
                checks.append(Check(name: "modules", ok: false, detail: "no mission module is loaded"))
            } else {
                checks.append(Check(name: "modules", ok: true, detail: "loaded: " + missions.joined(separator: ", ")))
            }
            return checks
        }
    }
}

/// The hub's metrics: swift-metrics backed by a Prometheus registry, bootstrapped once per process.
public enum HubMetrics {
    /// Makes every swift-metrics metric of the process land in the returned registry. Call once, at startup,
    /// before anything creates a metric.
    public static func bootstrap() -> PrometheusCollectorRegistry {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return registry
    }

    /// The Prometheus text of `registry`, with a `# HELP` line before each of the hub's own metric families
    /// (swift-metrics carries no help text; a module's metrics, named by the module, have none).
    public static func exposition(of registry: PrometheusCollectorRegistry) -> [UInt8] {
        let text = String(decoding: registry.emitToBuffer(), as: UTF8.self)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            guard line.hasPrefix("# TYPE "), let name = line.dropFirst(7).split(separator: " ").first,
                let help = help[String(name)]
            else { return String(line) }
            return "# HELP \(name) \(help)\n\(line)"
        }
        return Array(lines.joined(separator: "\n").utf8)
    }

    /// One line each, as docs/operations.md describes them (no backslash or line break, which HELP would escape).
    static let help = [
        "peacehub_mqtt_connections": "Connected MQTT clients, by contingent or operator.",
        "peacehub_mqtt_messages_received_total": "PUBLISHes received from clients and routed (wills included).",
        "peacehub_mqtt_messages_sent_total": "PUBLISHes sent to clients.",
        "peacehub_mqtt_queued_messages": "Messages queued for sessions, beyond those in flight.",
        "peacehub_mqtt_publishes_refused_total":
            "PUBLISHes the topic policy refused, and retained ones past the retained quota.",
        "peacehub_mqtt_queue_full_total": "QoS 1 and 2 messages refused for a session whose queue was full.",
        "peacehub_tls_handshake_failures_total": "Failed TLS handshakes, by reason.",
        "peacehub_tls_certificate_expiry_timestamp_seconds":
            "When the server certificate and the first of the trusted CAs expire (Unix time).",
        "peacehub_tls_crl_next_update_timestamp_seconds": "The soonest nextUpdate of the loaded CRLs (Unix time).",
        "peacehub_store_commit_duration_seconds": "Each broker-store group commit (one SQLite transaction).",
        "peacehub_store_commit_batch_operations": "Broker-store operations per group commit.",
        "peacehub_module_verdicts_total": "Mission reports as settled: accepted, rejected or held, with the reason.",
        "peacehub_module_call_duration_seconds": "Each judge_message call of a mission module that returned.",
        "peacehub_http_requests_total": "HTTP requests answered, by listener, route and status.",
        "peacehub_http_request_duration_seconds": "HTTP request durations, by listener and route.",
    ]

    /// Exports at 0 the counters that alerts watch for their first increase: a series that first appears at 1
    /// has no earlier sample, so `increase(...) > 0` would miss the first CRL-expired refusal or held report.
    public static func startCountersAtZero(missions: [String]) {
        for reason in TLSError.handshakeFailureReasons {
            Counter(label: "peacehub_tls_handshake_failures_total", dimensions: [("reason", reason)]).increment(by: 0)
        }
        for label in ["peacehub_mqtt_publishes_refused_total", "peacehub_mqtt_queue_full_total"] {
            Counter(label: label).increment(by: 0)
        }
        for mission in missions {
            for reason in ["timeout", "failed"] {
                Counter(
                    label: "peacehub_module_verdicts_total",
                    dimensions: [("mission", mission), ("verdict", "held"), ("reason", reason)]
                ).increment(by: 0)
            }
        }
    }
}
