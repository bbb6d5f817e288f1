import CoreMetrics
import PeaceHubCore
import Synchronization

/// Messages in and out by mission and QoS, counted under the broker's lock as they pass (a dictionary
/// increment) and handed to the metrics backend by `housekeeping`, so a message never waits on a metrics lock.
struct Traffic {
    struct Key: Hashable {
        var mission: String
        var qos: QoS
    }

    /// Counts in short lists searched in place: a handful of missions, so no hashing per message.
    fileprivate var receivedCounts: [(key: Key, count: Int)] = []
    fileprivate var sentCounts: [(key: Key, count: Int)] = []

    /// A message accepted from a client (or its will).
    mutating func received(_ message: BrokerMessage) {
        Self.count(&receivedCounts, Key(mission: message.mission, qos: message.qos))
    }

    /// A PUBLISH sent to a client, at the QoS of its delivery.
    mutating func sent(_ message: BrokerMessage, as qos: QoS) {
        Self.count(&sentCounts, Key(mission: message.mission, qos: qos))
    }

    private static func count(_ counts: inout [(key: Key, count: Int)], _ key: Key) {
        if let index = counts.firstIndex(where: { $0.key == key }) {
            counts[index].count += 1
        } else {
            counts.append((key, 1))
        }
    }

    var receivedTotal: Int { receivedCounts.reduce(0) { $0 + $1.count } }
    var sentTotal: Int { sentCounts.reduce(0) { $0 + $1.count } }

    /// What was counted since the last call; the counts start again from zero.
    mutating func take() -> Traffic {
        defer { self = Traffic() }
        return self
    }
}

/// The broker's metrics (swift-metrics; `docs/operations.md` lists them). Instruments are made on first use, so
/// they belong to whatever metrics backend was bootstrapped before the first message, and kept.
final class BrokerMetrics: Sendable {
    private let receivedCounters = Mutex<[Traffic.Key: Counter]>([:])
    private let sentCounters = Mutex<[Traffic.Key: Counter]>([:])
    private let connectionGauges = Mutex<[String: Gauge]>([:])
    private let queued = Mutex<Gauge?>(nil)
    private let refused = Mutex<Counter?>(nil)
    private let full = Mutex<Counter?>(nil)

    /// Adds what `traffic` counted to the message counters.
    func record(_ traffic: Traffic) {
        for (key, count) in traffic.receivedCounts {
            counter(receivedCounters, "peacehub_mqtt_messages_received_total", key).increment(by: count)
        }
        for (key, count) in traffic.sentCounts {
            counter(sentCounters, "peacehub_mqtt_messages_sent_total", key).increment(by: count)
        }
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
            for principal in connections.keys where gauges[principal.description] == nil {
                gauges[principal.description] = Gauge(
                    label: "peacehub_mqtt_connections", dimensions: [("principal", principal.description)])
            }
            var counts: [String: Int] = [:]
            for (principal, count) in connections { counts[principal.description, default: 0] += count }
            for (label, gauge) in gauges { gauge.record(counts[label] ?? 0) }
        }
        queued.withLock { gauge in
            if gauge == nil { gauge = Gauge(label: "peacehub_mqtt_queued_messages") }
            gauge?.record(total)
        }
    }

    private func counter(_ table: borrowing Mutex<[Traffic.Key: Counter]>, _ label: String, _ key: Traffic.Key) -> Counter {
        table.withLock { counters in
            if let counter = counters[key] { return counter }
            let counter = Counter(label: label, dimensions: [("mission", key.mission), ("qos", String(key.qos.rawValue))])
            counters[key] = counter
            return counter
        }
    }

    /// The mission of `missions/<CODE>/...`, `none` for every other topic. Only authorised messages are counted,
    /// so the codes are the missions contingents are deployed in.
    static func mission(of topic: String) -> String {
        withUTF8(of: topic) { bytes in
            guard bytes.starts(with: "missions/") else { return "none" }
            let code = bytes.dropFirst(9).prefix { $0 != UInt8(ascii: "/") }
            return code.isEmpty ? "none" : String(decoding: code, as: UTF8.self)
        }
    }
}
