import Foundation

/// Everything a run measured, written to results.json.
struct BenchResults: Codable {
    var mode: String
    var startedAt: String
    var machine: [String: String]
    var samples: [Sample] = []
    var registry: [String: String] = [:]
    var summary: [SummaryRow] = []
}

/// The median of one metric of one point per server, with the hub's ratio to each peer.
struct SummaryRow: Codable {
    var section: String
    var point: String
    var metric: String
    var medians: [String: Double]
    var ratios: [String: Double]
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return 0 }
    let middle = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

/// What the tables show of a saturation point, with either MQTT version.
private let saturationMetrics = [
    "deliveredPerSecond", "p50Microseconds", "p99Microseconds", "maxMicroseconds", "lostPercent",
    "serverCPUMicrosecondsPerDelivery",
]

/// What the tables show of a point at a fixed offered load, with either MQTT version.
private let fixedLoadMetrics = ["p50Microseconds", "p99Microseconds", "maxMicroseconds", "lostPercent", "serverCores"]

/// The metrics each section's table shows.
let summaryMetrics: [String: [String]] = [
    "throughput": saturationMetrics,
    "mqtt5": saturationMetrics,
    "fixed-load": fixedLoadMetrics,
    "mqtt5-fixed-load": fixedLoadMetrics,
    "routing": ["deliveredPerSecond", "p50Microseconds", "p99Microseconds", "serverCPUMicrosecondsPerDelivery"],
    "handshakes": ["handshakesPerSecond", "serverCPUMillisecondsPerHandshake", "clientCPUMillisecondsPerHandshake"],
    "memory": ["baseResidentMiB", "bytesPerConnection1000", "bytesPerConnection5000", "bytesPerConnection500"],
    "away": ["acknowledgedPerSecond", "queuedPerSecond", "drainedPerSecond", "refused", "lostPercent"],
    "store": [
        "storedPerSecond", "p50Microseconds", "p99Microseconds", "maxMicroseconds", "transactionsPerSecond",
        "messagesPerTransaction", "cpuMicrosecondsPerMessage",
    ],
    "module": ["nanosecondsPerJudge"],
]

let servers = ["peacehub", "mosquitto", "nats-server"]

func summarize(_ samples: [Sample]) -> [SummaryRow] {
    var rows: [SummaryRow] = []
    var seen: [String] = []
    for sample in samples where !seen.contains("\(sample.section)|\(sample.point)") {
        seen.append("\(sample.section)|\(sample.point)")
    }
    for key in seen {
        let parts = key.split(separator: "|", maxSplits: 1).map(String.init)
        let (section, point) = (parts[0], parts[1])
        let matching = samples.filter { $0.section == section && $0.point == point }
        for metric in summaryMetrics[section] ?? [] {
            var medians: [String: Double] = [:]
            for server in servers {
                let values = matching.filter { $0.server == server }.compactMap { $0.metrics[metric] }
                if !values.isEmpty { medians[server] = median(values) }
            }
            guard !medians.isEmpty else { continue }
            var ratios: [String: Double] = [:]
            if let hub = medians["peacehub"] {
                for peer in servers.dropFirst() {
                    if let value = medians[peer], value != 0 { ratios[peer] = hub / value }
                }
            }
            rows.append(SummaryRow(section: section, point: point, metric: metric, medians: medians, ratios: ratios))
        }
    }
    return rows
}

/// The summary as Markdown tables, one per section.
func markdown(_ rows: [SummaryRow]) -> String {
    var text = ""
    var section = ""
    for row in rows {
        if row.section != section {
            section = row.section
            text += "\n### \(section)\n\n| point | metric | peacehub | mosquitto | nats-server | hub ÷ mosquitto | hub ÷ nats |\n"
            text += "|---|---|---:|---:|---:|---:|---:|\n"
        }
        func value(_ number: Double?) -> String {
            guard let number else { return "–" }
            if number >= 100 { return String(Int(number.rounded())) }
            return String(format: number >= 10 ? "%.1f" : "%.2f", number)
        }
        func ratio(_ number: Double?) -> String { number.map { String(format: "%.2f", $0) } ?? "–" }
        text += "| \(row.point) | \(row.metric) | \(value(row.medians["peacehub"])) | \(value(row.medians["mosquitto"])) "
        text += "| \(value(row.medians["nats-server"])) | \(ratio(row.ratios["mosquitto"])) | \(ratio(row.ratios["nats-server"])) |\n"
    }
    return text
}

/// The targets of issue 9 (docs/performance.md, "Targets") checked against the medians, one line each with the
/// points that missed, so that a run says at once what it met.
func targets(_ rows: [SummaryRow]) -> String {
    func matching(_ section: String, _ metric: String, qos: Int? = nil) -> [SummaryRow] {
        rows.filter { row in
            row.section == section && row.metric == metric && (qos.map { row.point.contains("QoS \($0)") } ?? true)
        }
    }
    var lines: [String] = []
    /// One line: met at every point, or which points missed and by how much.
    func report(_ target: String, _ results: [(point: String, shown: String, met: Bool)]) {
        guard !results.isEmpty else { return }
        let missed = results.filter { !$0.met }
        let verdict: String
        if results.count == 1 {
            verdict = "\(missed.isEmpty ? "met" : "missed"): \(results[0].shown)"
        } else if missed.isEmpty {
            verdict = "met at all \(results.count) points"
        } else {
            verdict =
                "met at \(results.count - missed.count) of \(results.count); missed: "
                + missed.map { "\($0.point) \($0.shown)" }.joined(separator: ", ")
        }
        lines.append("| \(target) | \(verdict) |")
    }
    /// Met where `holds` is true of the hub's ratio to `peer`, at every point that has that ratio.
    func check(_ target: String, _ checked: [SummaryRow], against peer: String, _ holds: (Double) -> Bool) {
        report(target, checked.compactMap { row in
            row.ratios[peer].map { (row.point, String(format: "%.2f×", $0), holds($0)) }
        })
    }
    let qos0 = matching("throughput", "deliveredPerSecond", qos: 0)
    check("QoS 0 throughput ≥ 3× mosquitto", qos0, against: "mosquitto") { $0 >= 3 }
    check("QoS 0 throughput ≥ 1× nats-server", qos0, against: "nats-server") { $0 >= 1 }
    let p99 = matching("fixed-load", "p99Microseconds")
    check("p99 at the fixed load ≤ mosquitto's", p99, against: "mosquitto") { $0 <= 1 }
    check("p99 at the fixed load ≤ nats-server's", p99, against: "nats-server") { $0 <= 1 }
    let qos1 = matching("throughput", "deliveredPerSecond", qos: 1)
    check("QoS 1 throughput ≥ 2× mosquitto", qos1, against: "mosquitto") { $0 >= 2 }
    // The same ratios with MQTT 5.0 clients, beyond the issue's points.
    let mqtt5QoS0 = matching("mqtt5", "deliveredPerSecond", qos: 0)
    check("MQTT 5: QoS 0 throughput ≥ 3× mosquitto", mqtt5QoS0, against: "mosquitto") { $0 >= 3 }
    let mqtt5QoS1 = matching("mqtt5", "deliveredPerSecond", qos: 1)
    check("MQTT 5: QoS 1 throughput ≥ 2× mosquitto", mqtt5QoS1, against: "mosquitto") { $0 >= 2 }
    let mqtt5P99 = matching("mqtt5-fixed-load", "p99Microseconds")
    check("MQTT 5: p99 at the fixed load ≤ mosquitto's", mqtt5P99, against: "mosquitto") { $0 <= 1 }
    // Zero loss at the QoS 1 points where mosquitto's defaults lost messages: in flight, with either MQTT version,
    // or queued for subscribers away.
    let dropped = ["throughput", "mqtt5", "away"].flatMap { matching($0, "lostPercent", qos: 1) }
        .filter { ($0.medians["mosquitto"] ?? 0) > 0 }
    report("zero loss where mosquitto drops QoS 1", dropped.map { row in
        let lost = row.medians["peacehub"] ?? 0
        return (row.point, String(format: "%.2f %% lost", lost), lost == 0)
    })
    let handshakes = matching("handshakes", "handshakesPerSecond")
    check("handshakes per second ≥ nats-server's", handshakes, against: "nats-server") { $0 >= 1 }
    let memory = (summaryMetrics["memory"] ?? []).filter { $0.hasPrefix("bytesPerConnection") }.flatMap { metric in
        matching("memory", metric).map { row in
            var row = row
            row.point = "\(metric.dropFirst("bytesPerConnection".count)) connections"
            return row
        }
    }
    check("memory per idle TLS connection ≤ mosquitto's", memory, against: "mosquitto") { $0 <= 1 }
    guard !lines.isEmpty else { return "" }
    return "\n### targets\n\n| target (issue 9) | result |\n|---|---|\n" + lines.map { $0 + "\n" }.joined()
}

/// The output of a `/bin/sh -c` command, standard error included; empty when it cannot run.
private func shell(_ command: String) -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/sh")
    process.arguments = ["-c", command]
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    guard (try? process.run()) != nil else { return "" }
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
}

/// The key types of the server's and a client's certificate ("EC P-256", "ED25519"): they set most of what a
/// handshake costs every server (docs/performance.md, item 34).
func certificateKeys(pki: URL) -> String {
    func keyType(_ file: String) -> String {
        let text = shell("openssl x509 -noout -text -in '\(pki.appendingPathComponent(file).path)'")
        func field(_ name: String) -> String? {
            text.split(separator: "\n").first { $0.contains("\(name):") }
                .map { $0.split(separator: ":", maxSplits: 1)[1].trimmingCharacters(in: .whitespaces) }
        }
        guard let algorithm = field("Public Key Algorithm") else { return "unknown" }
        return algorithm == "id-ecPublicKey" ? "EC \(field("NIST CURVE") ?? field("ASN1 OID") ?? "")" : algorithm
    }
    return "server \(keyType("server/localhost.pem")), clients \(keyType("contingents/KAZ.pem"))"
}

/// What the machine and the peers are, for the record.
func machineDescription() -> [String: String] {
    return [
        "cpu": shell("lscpu | grep -E 'Model name|^CPU\\(s\\)|Thread|MHz|L2|L3' | tr -s ' '"),
        "kernel": shell("uname -r"),
        "memory": shell("free -h | sed -n 2p | tr -s ' '"),
        "loadAverage": shell("cat /proc/loadavg"),
        "mosquitto": shell("/usr/sbin/mosquitto -h | head -1"),
        "nats-server": shell("/usr/sbin/nats-server --version"),
        "openssl": shell("openssl version"),
        "swift": shell("swift --version 2>&1 | head -1"),
    ]
}
