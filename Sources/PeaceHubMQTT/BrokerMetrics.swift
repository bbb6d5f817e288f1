import CoreMetrics
import PeaceHubCore
import Synchronization

/// The broker's metrics (swift-metrics; `docs/operations.md` lists them). Instruments are made on first use, so
/// they belong to whatever metrics backend was bootstrapped before the first message, and kept, so a message
/// costs a dictionary lookup rather than a factory call.
final class BrokerMetrics: Sendable {
    private struct Key: Hashable {
        var mission: String
        var qos: QoS
    }

    private let receivedCounters = Mutex<[Key: Counter]>([:])
    private let sentCounters = Mutex<[Key: Counter]>([:])
    private let connectionGauges = Mutex<[String: Gauge]>([:])
    private let queued = Mutex<Gauge?>(nil)
    private let refused = Mutex<Counter?>(nil)
    private let full = Mutex<Counter?>(nil)

    /// A PUBLISH the broker accepted from a client.
    func received(topic: String, qos: QoS) {
        counter(receivedCounters, "peacehub_mqtt_messages_received_total", topic: topic, qos: qos).increment()
    }

    /// A PUBLISH the broker sent to a client.
    func sent(topic: String, qos: QoS) {
        counter(sentCounters, "peacehub_mqtt_messages_sent_total", topic: topic, qos: qos).increment()
    }

    func publishRefused() {
        refused.withLock { counter in
            if counter == nil { counter = Counter(label: "peacehub_mqtt_publishes_refused_total") }
            counter?.increment()
        }
    }

    func queueFull(_ count: Int) {
        full.withLock { counter in
            if counter == nil { counter = Counter(label: "peacehub_mqtt_queue_full_total") }
            counter?.increment(by: count)
        }
    }

    /// Live connections by principal (a principal that had connections and has none now reads 0) and the
    /// messages queued in all sessions.
    func record(connections: [Principal: Int], queued total: Int) {
        connectionGauges.withLock { gauges in
            for principal in connections.keys where gauges[principal.metricLabel] == nil {
                gauges[principal.metricLabel] = Gauge(
                    label: "peacehub_mqtt_connections", dimensions: [("principal", principal.metricLabel)])
            }
            var counts: [String: Int] = [:]
            for (principal, count) in connections { counts[principal.metricLabel, default: 0] += count }
            for (label, gauge) in gauges { gauge.record(counts[label] ?? 0) }
        }
        queued.withLock { gauge in
            if gauge == nil { gauge = Gauge(label: "peacehub_mqtt_queued_messages") }
            gauge?.record(total)
        }
    }

    private func counter(_ table: borrowing Mutex<[Key: Counter]>, _ label: String, topic: String, qos: QoS) -> Counter {
        let key = Key(mission: Self.mission(of: topic), qos: qos)
        return table.withLock { counters in
            if let counter = counters[key] { return counter }
            let counter = Counter(label: label, dimensions: [("mission", key.mission), ("qos", String(qos.rawValue))])
            counters[key] = counter
            return counter
        }
    }

    /// The mission of `missions/<CODE>/...`, `none` for every other topic. Only authorised messages are counted,
    /// so the codes are the missions contingents are deployed in.
    static func mission(of topic: String) -> String {
        guard topic.hasPrefix("missions/") else { return "none" }
        let code = topic.utf8.dropFirst(9).prefix { $0 != UInt8(ascii: "/") }
        return code.isEmpty ? "none" : String(decoding: code, as: UTF8.self)
    }
}

extension Principal {
    /// The principal as a metric label: the contingent's code, or `operator:<name>`.
    var metricLabel: String {
        switch self {
        case .contingent(let code): code
        case .operator(let name): "operator:\(name)"
        }
    }
}
