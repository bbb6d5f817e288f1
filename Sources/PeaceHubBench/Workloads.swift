import Foundation
import NIOCore
import NIOPosix
import PeaceHubTLS
import Synchronization

/// The contingents of the bench registry: the seeded five, then eleven added by `make bench`. KAZ and IND are
/// deployed in UNIFIL (so they may use `missions/UNIFIL/chat/#` and file UNIFIL reports).
let benchContingents = [
    "KAZ", "IND", "KGZ", "TJK", "UZB", "BGD", "NPL", "GHA", "IDN", "FRA", "ITA", "ESP", "MYS", "CHN", "IRL", "KOR",
]
let chatTopic = "missions/UNIFIL/chat/bench"
let reportTopic = "missions/UNIFIL/reports/UXO"

/// Who publishes and who subscribes, on which topics.
enum Scenario: String, Sendable, Codable {
    case oneToOne = "1to1"
    case fourToFour = "4to4"
    case fanOut = "1to16"
    case inboxes = "16inboxes"
    /// A valid UNIFIL report, judged by the module.
    case report
    /// The same JSON on a chat topic: what routing costs is the difference.
    case plainJSON = "plain-json"

    /// (principal, topic) of each publisher and each subscriber.
    var layout: (publishers: [(String, String)], subscribers: [(String, String)]) {
        let unifil = ["KAZ", "IND"]
        switch self {
        case .oneToOne: return ([("IND", chatTopic)], [("KAZ", chatTopic)])
        case .fourToFour:
            return ((0..<4).map { (unifil[$0 % 2], chatTopic) }, (0..<4).map { (unifil[($0 + 1) % 2], chatTopic) })
        case .fanOut: return ([("IND", chatTopic)], (0..<16).map { (unifil[$0 % 2], chatTopic) })
        case .inboxes:
            let pairs = benchContingents.map { ($0, "contingents/\($0)/inbox") }
            return (pairs, pairs)
        case .report: return ([("KAZ", reportTopic)], [("IND", reportTopic)])
        case .plainJSON: return ([("KAZ", chatTopic)], [("IND", chatTopic)])
        }
    }
}

/// One measured configuration.
struct FlowPoint: Sendable {
    var section: String
    var scenario: Scenario
    var payload: Int
    var qos: Int
    /// Messages per second offered in all (fixed-load points); nil for saturation.
    var rate: Double?
    /// QoS 0 at saturation: deliveries outstanding per subscriber. 500 stays below mosquitto's and the hub's queue
    /// limits of 1000; `flow --window` changes it to see whether a point follows it (docs/performance.md).
    var window = 500
    /// MQTT 5.0 clients instead of 3.1.1 (the `mqtt5` section; NATS has no such point).
    var mqtt5 = false

    var name: String {
        let size =
            switch scenario {
            case .report, .plainJSON: "\(payloadTemplate().count) B JSON"
            default: payload < 1024 ? "\(payload) B" : "\(payload / 1024) KiB"
            }
        var name = "\(scenario.rawValue) \(size) QoS \(qos)"
        if let rate { name += " @ \(Int(rate)) msg/s" }
        if mqtt5 { name += " MQTT 5" }
        return name
    }

    /// Payload bytes: binary with room for the stamp, or the report envelope (JSON) for the routing points.
    func payloadTemplate() -> [UInt8] {
        switch scenario {
        case .report, .plainJSON:
            return Array(
                (#"{"precedence":"IMMEDIATE","securityLabel":"UN RESTRICTED","body":{"location":{"lat":33.2,"lon":35.4},"#
                    + #""occurredAt":"2026-11-20T08:00:00Z","narrative":"bench @@0000000000000000 cluster munition "#
                    + #"remnants near the road","uxoType":"CLUSTER_MUNITION","marked":true,"eodTasked":false}}"#).utf8)
        default:
            return [0] + [UInt8](repeating: 0, count: 8) + [UInt8](repeating: UInt8(ascii: "x"), count: payload - 9)
        }
    }
}

/// One measurement: a point on one server in one round.
struct Sample: Codable, Sendable {
    var section: String
    var point: String
    var server: String
    var round: Int
    var metrics: [String: Double]
}

/// Timing of a run.
struct BenchMode: Sendable {
    var name: String
    var rounds: Int
    var warmup: Double
    var duration: Double
    var memoryCounts: [Int]
    var memoryRounds: Int
    var registryPersons: Int
    var registryQueries: Int
    var judgeCalls: Int

    static let full = BenchMode(
        name: "full", rounds: 3, warmup: 0.5, duration: 3, memoryCounts: [1000, 5000], memoryRounds: 2,
        registryPersons: 100_000, registryQueries: 10_000, judgeCalls: 20_000)
    static let quick = BenchMode(
        name: "quick", rounds: 1, warmup: 0.3, duration: 1, memoryCounts: [500, 1000], memoryRounds: 1,
        registryPersons: 10_000, registryQueries: 1_000, judgeCalls: 2_000)
}

/// Runs workloads against servers with one load generator.
final class LoadGenerator: Sendable {
    let group: MultiThreadedEventLoopGroup
    let tls: [String: TLSContext]
    private let connectionCounter = Atomic(0)

    /// The one TLS 1.3 cipher suite the generator offers, so that every server runs the same cipher: the suite
    /// every TLS 1.3 stack must implement (RFC 8446, 9.1), and the one nats-server (Go) picks of OpenSSL's
    /// default offer on a CPU with AES instructions, where the hub and mosquitto would take the client's first,
    /// AES-256-GCM.
    static let cipherSuite = "TLS_AES_128_GCM_SHA256"

    init(
        pki: URL, threads: Int, contingents: [String] = benchContingents, cipherSuite: String = LoadGenerator.cipherSuite
    ) throws {
        group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        var tls: [String: TLSContext] = [:]
        for code in contingents {
            var configuration = TLSConfiguration.client(
                trustedCAFile: pki.appendingPathComponent("ca.pem").path,
                certificateFile: pki.appendingPathComponent("contingents/\(code).pem").path,
                privateKeyFile: pki.appendingPathComponent("contingents/\(code).key").path)
            configuration.cipherSuites = cipherSuite
            tls[code] = try TLSContext(configuration: configuration)
        }
        self.tls = tls
    }

    func uniqueID(_ prefix: String) -> String {
        "\(prefix)-\(getpid())-\(connectionCounter.add(1, ordering: .relaxed).newValue)"
    }

    func connect(
        _ server: ServerEndpoint, as principal: String, clientID: String? = nil, cleanSession: Bool = true,
        window: RunWindow = RunWindow(), flow: FlowControl? = nil
    ) async throws -> LoadClient {
        try await LoadClient.connect(
            to: server, tls: tls[principal]!, clientID: clientID ?? uniqueID("bench"), cleanSession: cleanSession,
            group: group, runWindow: window, flow: flow)
    }

    // MARK: Flows

    /// Publishers and subscribers of `point` on `server`: saturation (as fast as the server takes) or a fixed
    /// offered load; deliveries per second, latency from the stamps, loss after a drain, CPU of both sides.
    func runFlow(_ point: FlowPoint, on endpoint: ServerEndpoint, pid: Int32, warmup: Double, duration: Double)
        async throws -> [String: Double]
    {
        let endpoint = point.mqtt5 ? ServerEndpoint(name: endpoint.name, wire: .mqtt5, port: endpoint.port) : endpoint
        let (publishers, subscribers) = point.scenario.layout
        // QoS 1 subscribers keep a session, so the hub's durable store takes every message.
        let persistent = point.qos > 0 && point.scenario != .report && point.scenario != .plainJSON
        let window = RunWindow()
        // QoS 0 at saturation: at most `point.window` deliveries outstanding per subscriber. QoS 1 publishers are
        // held back by their PUBACK window alone, as real ones are.
        let saturated = point.qos == 0 && point.rate == nil
        let flows = subscribers.map { _ in saturated ? FlowControl(limit: point.window) : nil }
        let subscriberIDs = subscribers.indices.map { _ in uniqueID("sub") }
        let subs = try await connectAll(count: subscribers.count, concurrency: 16) { [self] index in
            let client = try await connect(
                endpoint, as: subscribers[index].0, clientID: subscriberIDs[index], cleanSession: !persistent,
                window: window, flow: flows[index])
            try await client.subscribe(subscribers[index].1, qos: point.qos)
            return client
        }
        let pubs = try await connectAll(count: publishers.count, concurrency: 16) { [self] index in
            try await connect(endpoint, as: publishers[index].0, window: window)
        }
        let start = monotonicNanoseconds() + UInt64(warmup * 1e9)
        let end = start + UInt64(duration * 1e9)
        window.set(start: start, end: end)
        let payload = point.payloadTemplate()
        // Fan-out per publisher: the subscribers of its topic.
        let fan = publishers.map { publisher in subscribers.indices.filter { subscribers[$0].1 == publisher.1 } }
        for (index, publisher) in pubs.enumerated() {
            publisher.startPublishing(
                PublishPlan(
                    topic: publishers[index].1, payload: payload, qos: point.qos,
                    rate: point.rate.map { $0 / Double(publishers.count) },
                    flows: fan[index].compactMap { flows[$0] }))
        }
        try await sleep(until: start)
        let (serverCPU0, clientCPU0) = (processCPUSeconds(pid), processCPUSeconds(getpid()))
        try await sleep(until: end)
        let (serverCPU1, clientCPU1) = (processCPUSeconds(pid), processCPUSeconds(getpid()))
        for publisher in pubs { try await publisher.stopPublishing() }

        var published = ConnectionStats()
        var expected = 0
        for (index, publisher) in pubs.enumerated() {
            let stats = try await publisher.stats()
            published.merge(stats)
            expected += (point.qos == 0 ? stats.publishedTotal : stats.acknowledged) * fan[index].count
        }
        let received = try await awaitDeliveries(subs, expected: expected, timeout: 10)
        await closeAll(pubs + subs)
        if persistent {
            // Ends the sessions, so later points do not queue for them.
            let cleaners = try await connectAll(count: subscribers.count, concurrency: 16) { [self] index in
                try await connect(endpoint, as: subscribers[index].0, clientID: subscriberIDs[index])
            }
            await closeAll(cleaners)
        }
        let idleWait = await waitUntilIdle(pid)
        let histogram = received.histogram
        let lost = max(0, expected - received.receivedTotal)
        return [
            "deliveredPerSecond": Double(received.receivedInWindow) / duration,
            "publishedPerSecond": Double(published.publishedInWindow) / duration,
            "p50Microseconds": Double(histogram.percentile(0.5)) / 1000,
            "p99Microseconds": Double(histogram.percentile(0.99)) / 1000,
            "maxMicroseconds": Double(histogram.maximum) / 1000,
            "expected": Double(expected),
            "delivered": Double(received.receivedTotal),
            "lost": Double(lost),
            "lostPercent": expected > 0 ? Double(lost) * 100 / Double(expected) : 0,
            "serverCores": (serverCPU1 - serverCPU0) / duration,
            "clientCores": (clientCPU1 - clientCPU0) / duration,
            "serverCPUMicrosecondsPerDelivery":
                received.receivedInWindow > 0 ? (serverCPU1 - serverCPU0) * 1e6 / Double(received.receivedInWindow) : 0,
            "idleWaitSeconds": idleWait,
            "publishWindow": Double(published.publishWindow),
        ]
    }

    // MARK: Handshakes

    /// Full mutual-TLS handshakes (no resumption: neither side keeps sessions or tickets), each followed by
    /// CONNECT/CONNACK (NATS: CONNECT, PING/PONG) so the server has verified the certificate, then closed.
    func runHandshakes(on server: ServerProcess, concurrency: Int, duration: Double) async throws -> [String: Double] {
        let endpoint = server.endpoint
        _ = await waitUntilIdle(server.pid)
        let counts = HandshakeCounts()
        let start = monotonicNanoseconds()
        let end = start + UInt64(duration * 1e9)
        let (serverCPU0, clientCPU0) = (server.cpuSeconds(), processCPUSeconds(getpid()))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<concurrency {
                group.addTask { [self] in
                    var index = worker
                    while monotonicNanoseconds() < end {
                        do {
                            let client = try await connect(endpoint, as: benchContingents[index % benchContingents.count])
                            counts.completed.add(1, ordering: .relaxed)
                            client.closeLater()
                        } catch {
                            counts.failed.add(1, ordering: .relaxed)
                        }
                        index += concurrency
                    }
                }
            }
            try await group.waitForAll()
        }
        let elapsed = Double(monotonicNanoseconds() - start) / 1e9
        let (serverCPU1, clientCPU1) = (server.cpuSeconds(), processCPUSeconds(getpid()))
        try await Task.sleep(nanoseconds: 500_000_000)
        let count = Double(counts.completed.load(ordering: .relaxed))
        return [
            "handshakesPerSecond": count / elapsed,
            "failed": Double(counts.failed.load(ordering: .relaxed)),
            "serverCPUMillisecondsPerHandshake": count > 0 ? (serverCPU1 - serverCPU0) * 1000 / count : 0,
            "clientCPUMillisecondsPerHandshake": count > 0 ? (clientCPU1 - clientCPU0) * 1000 / count : 0,
            "serverCores": (serverCPU1 - serverCPU0) / elapsed,
        ]
    }

    // MARK: Memory

    /// Resident memory of a freshly started server before and after `counts` idle connections (CONNECT done,
    /// keep-alive off, contingents round robin); the server is restarted afterwards.
    func runMemory(on server: ServerProcess, counts: [Int]) async throws -> [String: Double] {
        server.stop()
        try server.start()
        let warm = try await connect(server.endpoint, as: "KAZ")
        await warm.close()
        try await Task.sleep(nanoseconds: 1_000_000_000)
        let base = server.residentBytes()
        var metrics: [String: Double] = ["baseResidentMiB": Double(base) / 1_048_576]
        var clients: [LoadClient] = []
        for count in counts {
            let more = try await connectAll(count: count - clients.count, concurrency: 32) { [self] index in
                try await connect(server.endpoint, as: benchContingents[index % benchContingents.count])
            }
            clients += more
            try await Task.sleep(nanoseconds: 2_000_000_000)
            let resident = server.residentBytes()
            metrics["residentMiB\(count)"] = Double(resident) / 1_048_576
            metrics["bytesPerConnection\(count)"] = Double(resident - base) / Double(count)
        }
        await closeAll(clients)
        server.stop()
        try server.start()
        return metrics
    }
}

/// Handshakes done and failed, counted from every worker task.
final class HandshakeCounts: Sendable {
    let completed = Atomic(0)
    let failed = Atomic(0)
}

extension LoadClient {
    /// Closes without waiting for the server's answer to DISCONNECT or close_notify.
    func closeLater() {
        Task { await close() }
    }
}

/// Waits until `subscribers` have received `expected` messages in all, or none came for a second, or `timeout`
/// seconds passed; returns their counters merged.
func awaitDeliveries(_ subscribers: [LoadClient], expected: Int, timeout: Double) async throws -> ConnectionStats {
    var received = ConnectionStats()
    var last = -1
    var quietSince = monotonicNanoseconds()
    let end = monotonicNanoseconds() + UInt64(timeout * 1e9)
    while monotonicNanoseconds() < end {
        received = ConnectionStats()
        for subscriber in subscribers { received.merge(try await subscriber.stats()) }
        if received.receivedTotal >= expected { break }
        if received.receivedTotal != last {
            last = received.receivedTotal
            quietSince = monotonicNanoseconds()
        } else if monotonicNanoseconds() - quietSince > 1_000_000_000 {
            break
        }
        try await Task.sleep(nanoseconds: 10_000_000)
    }
    return received
}

/// Waits until the server uses less than a tenth of a core (what it still does for the last run must not count for
/// the next), at most a minute; returns the seconds waited.
func waitUntilIdle(_ pid: Int32) async -> Double {
    guard pid > 0 else { return 0 }
    let start = monotonicNanoseconds()
    var last = processCPUSeconds(pid)
    while monotonicNanoseconds() - start < 60_000_000_000 {
        try? await Task.sleep(nanoseconds: 300_000_000)
        let now = processCPUSeconds(pid)
        if now - last < 0.03 { break }
        last = now
    }
    return Double(monotonicNanoseconds() - start) / 1e9
}

func sleep(until deadline: UInt64) async throws {
    let now = monotonicNanoseconds()
    if deadline > now { try await Task.sleep(nanoseconds: deadline - now) }
}
