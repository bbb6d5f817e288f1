import ArgumentParser
import Foundation
import PeaceHubCore
import PeaceHubMQTT
import PeaceHubPlugins

@main
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "peacehub-bench",
        abstract: "The load generator of `make bench`: the hub against mosquitto and nats-server (docs/performance.md).",
        subcommands: [
            RunCommand.self, FlowCommand.self, AwayCommand.self, StoreCommand.self, JudgeCommand.self,
            SmokeCommand.self,
        ])
}

/// `peacehub-bench run`: every workload against the three servers, pair by pair, several rounds.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Start the three servers and run the workloads; write results.json and summary.md.")

    @Option(help: "The bench directory made by `make bench` (data/, plugins/).") var benchDir = ".build/bench"
    @Option(help: "The release peacehub executable.") var peacehub = ".build/release/peacehub"
    @Option(help: "quick or full.") var mode = "full"
    /// Every section, in the order a run takes them.
    static let sections =
        "throughput,fixed-load,mqtt5,mqtt5-fixed-load,handshakes,routing,memory,away,store,module,registry"
    @Option(help: "Sections to run (comma-separated: \(sections)).") var only: String?
    @Option(help: "Load-generator event loop threads.") var threads = 2
    @Option(help: "The one TLS 1.3 cipher suite the generator offers.") var cipherSuite = LoadGenerator.cipherSuite

    func run() async throws {
        let mode: BenchMode = self.mode == "quick" ? .quick : .full
        let paths = BenchPaths(root: URL(fileURLWithPath: benchDir).standardizedFileURL)
        try FileManager.default.createDirectory(at: paths.logs, withIntermediateDirectories: true)
        let files = raiseOpenFileLimit()
        guard files >= 12_000 else { throw BenchError("the open-file limit is \(files): raise it (ulimit -Hn) to 12000 or more") }
        let sections = Set((only ?? Self.sections).split(separator: ",").map(String.init))

        var results = BenchResults(
            mode: mode.name, startedAt: ISO8601DateFormatter().string(from: Date()), machine: machineDescription())
        results.machine["tlsCipherSuite"] = cipherSuite
        let keys = certificateKeys(pki: paths.data.appendingPathComponent("pki"))
        results.machine["certificateKeys"] = keys
        // A run of some sections only must not overwrite the results of a whole one.
        let name = only == nil ? "results" : "results-partial"
        let resultsFile = paths.root.appendingPathComponent("\(name).json")
        func save() throws {
            results.summary = summarize(results.samples)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(results).write(to: resultsFile)
        }
        func record(_ section: String, _ point: String, _ server: String, _ round: Int, _ metrics: [String: Double]) {
            var metrics = metrics
            // The machine is shared: the load during each sample is part of the record.
            metrics["loadAverage1m"] = loadAverage()
            results.samples.append(Sample(section: section, point: point, server: server, round: round, metrics: metrics))
            let shown = (summaryMetrics[section] ?? []).compactMap { key in metrics[key].map { "\(key)=\(format($0))" } }
            print("[\(section)] \(point) | \(server) | round \(round) | \(shown.joined(separator: " "))")
        }

        let set = try ServerSet(bench: paths, peacehub: URL(fileURLWithPath: peacehub).standardizedFileURL.path)
        defer { for server in set.all { server.stop() } }
        for server in set.all { try server.start() }
        let generator = try LoadGenerator(
            pki: paths.data.appendingPathComponent("pki"), threads: threads, cipherSuite: cipherSuite)

        func flows(_ points: [FlowPoint], peers: (FlowPoint) -> [ServerProcess]) async throws {
            for point in points {
                for round in 1...mode.rounds {
                    for server in peers(point) {
                        do {
                            let metrics = try await generator.runFlow(
                                point, on: server.endpoint, pid: server.pid, warmup: mode.warmup,
                                duration: point.rate == nil ? mode.duration : mode.duration + 2)
                            record(point.section, point.name, server.endpoint.name, round, metrics)
                        } catch {
                            print("[\(point.section)] \(point.name) | \(server.endpoint.name) | round \(round) | FAILED: \(error)")
                            record(point.section, point.name, server.endpoint.name, round, ["failed": 1])
                        }
                    }
                }
                try save()
            }
        }
        // QoS 0 against both peers; QoS 1 (the hub's durable store) against mosquitto only: NATS core has no
        // acknowledged delivery.
        let peersFor: (FlowPoint) -> [ServerProcess] = { point in point.qos == 0 ? set.all : [set.hub, set.mosquitto] }

        if sections.contains("throughput") {
            var points: [FlowPoint] = []
            for scenario in [Scenario.oneToOne, .fourToFour, .fanOut, .inboxes] {
                for payload in [64, 1024] {
                    for qos in [0, 1] { points.append(FlowPoint(section: "throughput", scenario: scenario, payload: payload, qos: qos)) }
                }
            }
            try await flows(points, peers: peersFor)
        }
        if sections.contains("fixed-load") {
            let points = [
                FlowPoint(section: "fixed-load", scenario: .oneToOne, payload: 64, qos: 0, rate: 5000),
                FlowPoint(section: "fixed-load", scenario: .oneToOne, payload: 64, qos: 1, rate: 5000),
                FlowPoint(section: "fixed-load", scenario: .inboxes, payload: 64, qos: 0, rate: 5000),
            ]
            try await flows(points, peers: peersFor)
        }
        if sections.contains("mqtt5") {
            // The hub's own points again with MQTT 5.0 clients, against mosquitto's 5.0 (NATS has none): a 5.0
            // PUBLISH has properties, and what the hub does per 5.0 subscriber shows most in fan-out.
            var points = [Scenario.oneToOne, .fourToFour, .fanOut, .inboxes].map { scenario in
                FlowPoint(section: "mqtt5", scenario: scenario, payload: 64, qos: 0, mqtt5: true)
            }
            points += [Scenario.oneToOne, .fanOut].map { scenario in
                FlowPoint(section: "mqtt5", scenario: scenario, payload: 64, qos: 1, mqtt5: true)
            }
            // 1 KiB, where each delivery's bytes weigh more than its properties.
            let kibibyte: [(Scenario, Int)] = [
                (.oneToOne, 0), (.fourToFour, 0), (.fanOut, 0), (.inboxes, 0), (.oneToOne, 1),
            ]
            points += kibibyte.map { scenario, qos in
                FlowPoint(section: "mqtt5", scenario: scenario, payload: 1024, qos: qos, mqtt5: true)
            }
            try await flows(points) { _ in [set.hub, set.mosquitto] }
        }
        if sections.contains("mqtt5-fixed-load") {
            let points = [0, 1].map { qos in
                FlowPoint(
                    section: "mqtt5-fixed-load", scenario: .oneToOne, payload: 64, qos: qos, rate: 5000, mqtt5: true)
            }
            try await flows(points) { _ in [set.hub, set.mosquitto] }
        }
        if sections.contains("handshakes") {
            for round in 1...mode.rounds {
                for server in set.all {
                    let metrics = try await generator.runHandshakes(on: server, concurrency: 8, duration: mode.duration)
                    record("handshakes", "full mTLS + CONNECT, 8 in flight", server.endpoint.name, round, metrics)
                }
            }
            try save()
        }
        if sections.contains("routing") {
            let points = [
                FlowPoint(section: "routing", scenario: .report, payload: 0, qos: 1),
                FlowPoint(section: "routing", scenario: .plainJSON, payload: 0, qos: 1),
            ]
            try await flows(points) { _ in [set.hub] }
        }
        if sections.contains("memory") {
            for round in 1...mode.memoryRounds {
                for server in set.all {
                    let metrics = try await generator.runMemory(on: server, counts: mode.memoryCounts)
                    record("memory", "idle TLS connections", server.endpoint.name, round, metrics)
                }
            }
            try save()
        }
        if sections.contains("away") {
            // Within both servers' queue of 1,000 per session; then across a crash; then past the queue, where
            // an MQTT 5 PUBACK can say that a message was refused.
            let points = [
                AwayPoint(scenario: .oneToOne, payload: 64, messages: 1000),
                AwayPoint(scenario: .fanOut, payload: 64, messages: 1000),
                AwayPoint(scenario: .oneToOne, payload: 1024, messages: 1000),
                AwayPoint(scenario: .oneToOne, payload: 64, messages: 1000, crash: true),
                AwayPoint(scenario: .oneToOne, payload: 64, messages: 5000, mqtt5: true),
            ]
            for point in points {
                for round in 1...mode.rounds {
                    for server in [set.hub, set.mosquitto] {
                        do {
                            let metrics = try await generator.runAway(point, on: server)
                            record("away", point.name, server.endpoint.name, round, metrics)
                        } catch {
                            print("[away] \(point.name) | \(server.endpoint.name) | round \(round) | FAILED: \(error)")
                            record("away", point.name, server.endpoint.name, round, ["failed": 1])
                        }
                    }
                }
                try save()
            }
        }
        for server in set.all { server.stop() }
        if sections.contains("store") {
            // No peer has a store that a PUBACK waits for: the hub's numbers alone, with both durabilities.
            for durability in [SQLiteBrokerStore.Durability.processCrash, .powerLoss] {
                // One publisher's window into one away session, or one message each into many (the most pages).
                let layouts = [(64, 1, 1), (64, 1, 64), (64, 64, 1), (1024, 1, 64), (1024, 64, 1)]
                for (payload, sessions, inFlight) in layouts {
                    let point = StorePoint(
                        payload: payload, sessions: sessions, inFlight: inFlight, durability: durability)
                    for round in 1...mode.rounds {
                        do {
                            let metrics = try StoreWorkload.run(
                                point, in: paths.root, warmup: mode.warmup, duration: mode.duration)
                            record("store", point.name, "peacehub", round, metrics)
                        } catch {
                            print("[store] \(point.name) | peacehub | round \(round) | FAILED: \(error)")
                            record("store", point.name, "peacehub", round, ["failed": 1])
                        }
                    }
                }
            }
            try save()
        }
        if sections.contains("module") {
            let nanoseconds = try judgeNanoseconds(plugins: paths.plugins, calls: mode.judgeCalls)
            record("module", "UNIFIL judge (UXO report), release", "peacehub", 1, ["nanosecondsPerJudge": nanoseconds])
            try save()
        }
        if sections.contains("registry") {
            results.registry = try registryBenchmark(
                peacehub: URL(fileURLWithPath: peacehub).standardizedFileURL.path, plugins: paths.plugins,
                persons: mode.registryPersons, queries: mode.registryQueries)
            for (key, value) in results.registry.sorted(by: { $0.key < $1.key }) { print("[registry] \(key): \(value)") }
            try save()
        }
        try save()
        let table =
            "TLS 1.3 with \(cipherSuite) for every server; certificate keys: \(keys).\n" + markdown(results.summary)
            + targets(results.summary)
        try table.write(
            to: paths.root.appendingPathComponent(only == nil ? "summary.md" : "summary-partial.md"), atomically: true,
            encoding: .utf8)
        print(table)
        print("results: \(resultsFile.path)")
    }


    /// `peacehub registry benchmark`: its output lines, keyed by what they measure.
    private func registryBenchmark(peacehub: String, plugins: URL, persons: Int, queries: Int) throws -> [String: String] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: peacehub)
        process.arguments = [
            "registry", "benchmark", "--persons", String(persons), "--queries", String(queries), "--plugins", plugins.path,
        ]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        // A failed run must not read as a section without numbers.
        guard process.terminationStatus == 0 else {
            throw BenchError("peacehub registry benchmark exited \(process.terminationStatus) (its error is above)")
        }
        var lines: [String: String] = ["persons": String(persons), "queries": String(queries)]
        for line in output.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            lines[String(line[..<colon])] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return lines
    }
}

func format(_ value: Double) -> String {
    value >= 100 ? String(Int(value.rounded())) : String(format: "%.2f", value)
}

/// The cost of one call to the UNIFIL module's judge through the host (PeaceHubPlugins), on a valid UXO report.
func judgeNanoseconds(plugins: URL, calls: Int) throws -> Double {
    let host = PluginHost()
    host.loadDirectory(plugins)
    guard let module = host.module(forMission: "UNIFIL") else { throw BenchError("no UNIFIL module in \(plugins.path)") }
    let envelope = FlowPoint(section: "", scenario: .report, payload: 0, qos: 1).payloadTemplate()
    guard let body = try JSONValue(parsing: Data(envelope)).objectValue?["body"] else { throw BenchError("bad report") }
    let message = MessageToJudge(
        topic: reportTopic, payload: Array(body.jsonData), senderContingent: "KAZ", securityLabel: "UN RESTRICTED",
        precedence: .immediate, qos: 1, receivedAt: Date())
    guard case .accepted = try module.judge(message) else { throw BenchError("the UNIFIL module refused the report") }
    for _ in 0..<100 { _ = try module.judge(message) }
    var batches: [Double] = []
    for _ in 0..<5 {
        let start = monotonicNanoseconds()
        for _ in 0..<max(calls / 5, 1) { _ = try module.judge(message) }
        batches.append(Double(monotonicNanoseconds() - start) / Double(max(calls / 5, 1)))
    }
    return median(batches)
}

/// `peacehub-bench flow`: one workload against a server that is already running (for profiles).
struct FlowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flow", abstract: "Run one workload against a running server (e.g. the hub under a profiler).")

    @Option(help: "The server's port on 127.0.0.1.") var port: Int
    @Option(help: "mqtt (3.1.1), mqtt5 or nats.") var wire = "mqtt"
    @Option(help: "The server's process id, for its CPU time (optional).") var pid: Int32 = 0
    @Option(help: "The PKI directory with ca.pem and the sixteen contingents' certificates.") var pki: String
    @Option(help: "1to1, 4to4, 1to16, 16inboxes, report or plain-json.") var scenario = "1to1"
    @Option(help: "Payload bytes.") var payload = 64
    @Option(help: "QoS 0 or 1.") var qos = 0
    @Option(help: "Messages per second in all (default: as fast as the server takes them).") var rate: Double?
    @Option(help: "Seconds measured.") var duration = 5.0
    @Option(help: "QoS 0 at saturation: deliveries outstanding per subscriber (default: the bench's, 500).")
    var window: Int?
    @Option(help: "Load-generator event loop threads.") var threads = 2
    @Option(help: "The one TLS 1.3 cipher suite the generator offers.") var cipherSuite = LoadGenerator.cipherSuite

    func run() async throws {
        guard let scenario = Scenario(rawValue: scenario), let wire = Wire(rawValue: wire) else {
            throw ValidationError("unknown scenario or wire")
        }
        if let window, window < 1 { throw ValidationError("--window must be at least 1") }
        _ = raiseOpenFileLimit()
        let generator = try LoadGenerator(pki: URL(fileURLWithPath: pki), threads: threads, cipherSuite: cipherSuite)
        var point = FlowPoint(section: "flow", scenario: scenario, payload: payload, qos: qos, rate: rate)
        if let window { point.window = window }
        let metrics = try await generator.runFlow(
            point, on: ServerEndpoint(name: "server", wire: wire, port: port), pid: pid, warmup: 0.5, duration: duration)
        print(point.name)
        for (key, value) in metrics.sorted(by: { $0.key < $1.key }) { print("  \(key): \(format(value))") }
    }
}

/// `peacehub-bench store`: the broker store alone, one point.
struct StoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "Time the hub's broker store taking QoS 1 messages for sessions whose subscribers are away.")

    @Option(help: "Where the store file is made (in a new folder, removed afterwards).")
    var directory = FileManager.default.temporaryDirectory.path
    @Option(help: "Payload bytes.") var payload = 64
    @Option(help: "Sessions whose subscribers are away.") var sessions = 1
    @Option(help: "Commit calls in flight per session.") var inFlight = 64
    @Option(help: "process-crash or power-loss.") var durability = "process-crash"
    @Option(help: "Messages each session holds before its oldest is removed.") var backlog = 1024
    @Option(help: "Seconds measured.") var duration = 3.0

    func run() throws {
        let named = SQLiteBrokerStore.Durability.named
        guard let durability = named.first(where: { $0.name == durability })?.durability else {
            throw ValidationError("--durability: \(named.map(\.name).joined(separator: " or "))")
        }
        guard payload >= 0, sessions >= 1, inFlight >= 1, backlog >= 1, duration > 0 else {
            throw ValidationError(
                "--payload: 0 or more; --sessions, --in-flight, --backlog: 1 or more; --duration: above 0")
        }
        let point = StorePoint(
            payload: payload, sessions: sessions, inFlight: inFlight, durability: durability, backlog: backlog)
        let metrics = try StoreWorkload.run(
            point, in: URL(fileURLWithPath: directory), warmup: 0.5, duration: duration)
        print(point.name)
        for (key, value) in metrics.sorted(by: { $0.key < $1.key }) { print("  \(key): \(format(value))") }
    }
}

/// `peacehub-bench away`: one point of the `away` section against a running server, whole or in its two phases,
/// so that the server can be restarted between them.
struct AwayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "away",
        abstract: "Publish QoS 1 messages to subscribers that are away, then bring them back and count what they get.")

    @Option(help: "The server's port on 127.0.0.1.") var port: Int
    @Option(help: "The PKI directory (ca.pem, contingents/KAZ and IND).") var pki: String
    @Option(help: "mqtt (3.1.1) or mqtt5.") var wire = "mqtt"
    @Option(help: "Away sessions: 1 (KAZ) or 16 (KAZ and IND in turn).") var sessions = 1
    @Option(help: "Payload bytes (at least 9).") var payload = 64
    @Option(help: "Messages published while the subscribers are away.") var messages = 1000
    @Option(help: "fill (subscribe, go away, publish), drain (come back, take, end the sessions) or both.")
    var phase = "both"
    @Option(help: "The subscribers' client id prefix: the same for fill and drain.") var clientPrefix = "away"
    @Option(help: "With --phase drain: the deliveries to expect (what fill printed).") var expected: Int?

    func run() async throws {
        guard let wire = Wire(rawValue: wire), wire != .nats else { throw ValidationError("--wire: mqtt or mqtt5") }
        guard sessions == 1 || sessions == 16 else { throw ValidationError("--sessions: 1 or 16") }
        guard payload >= 9, messages >= 1 else { throw ValidationError("--payload: 9 or more; --messages: 1 or more") }
        guard ["fill", "drain", "both"].contains(phase) else { throw ValidationError("--phase: fill, drain or both") }
        if phase == "drain", expected == nil { throw ValidationError("--phase drain needs --expected") }
        let point = AwayPoint(
            scenario: sessions == 1 ? .oneToOne : .fanOut, payload: payload, messages: messages, mqtt5: wire == .mqtt5)
        let generator = try LoadGenerator(pki: URL(fileURLWithPath: pki), threads: 1, contingents: ["KAZ", "IND"])
        let server = ServerEndpoint(name: "server", wire: wire, port: port)
        let clientIDs = (0..<sessions).map { "\(clientPrefix)-\($0)" }
        print(point.name)
        var expected = self.expected ?? 0
        if phase != "drain" {
            let fill = try await generator.fillAway(point, on: server, clientIDs: clientIDs)
            expected = fill.accepted * sessions
            for (key, value) in [("accepted", fill.accepted), ("refused", fill.refused), ("expected", expected)] {
                print("  \(key): \(value)")
            }
            print("  fillMilliseconds: \(format(fill.seconds * 1000))")
        }
        if phase != "fill" {
            let drain = try await generator.drainAway(
                point, on: server, clientIDs: clientIDs, expected: expected, endSessions: true)
            print("  delivered: \(drain.delivered)")
            print("  lost: \(max(0, expected - drain.delivered))")
            print("  drainMilliseconds: \(format(drain.seconds * 1000))")
        }
    }
}

/// `peacehub-bench judge`: the module call alone.
struct JudgeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "judge", abstract: "Time the UNIFIL module's judge called through the host.")

    @Option(help: "The plugins directory (modules and manifests).") var plugins: String
    @Option(help: "Calls to time.") var calls = 20_000

    func run() throws {
        let nanoseconds = try judgeNanoseconds(plugins: URL(fileURLWithPath: plugins), calls: calls)
        print(String(format: "judge: %.0f ns per call", nanoseconds))
    }
}

/// `peacehub-bench smoke`: a few hundred QoS 1 messages through a running hub, every one accounted for.
struct SmokeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "smoke", abstract: "Send a few hundred messages through a running hub and check they all arrive.")

    @Option(help: "The hub's port on 127.0.0.1.") var port: Int
    @Option(help: "The PKI directory (ca.pem, contingents/KAZ and IND).") var pki: String
    @Option(help: "Messages to send.") var messages = 300
    @Option(help: "mqtt (3.1.1) or mqtt5.") var wire = "mqtt"

    func run() async throws {
        guard let wire = Wire(rawValue: wire), wire != .nats else { throw ValidationError("--wire: mqtt or mqtt5") }
        let pki = URL(fileURLWithPath: pki)
        let generator = try LoadGenerator(pki: pki, threads: 1, contingents: ["KAZ", "IND"])
        let server = ServerEndpoint(name: "peacehub", wire: wire, port: port)
        let window = RunWindow()
        window.set(start: 0, end: .max)
        // A session, as the bench's QoS 1 subscribers have: the hub acknowledges a PUBLISH once the subscriber or
        // the store has it, so that the publisher has several unacknowledged, as many as its window allows.
        let subscriber = try await generator.connect(
            server, as: "KAZ", clientID: "smoke-\(getpid())", cleanSession: false, window: window)
        try await subscriber.subscribe("contingents/KAZ/inbox", qos: 1)
        let publisher = try await generator.connect(server, as: "IND", window: window)
        publisher.startPublishing(
            PublishPlan(topic: "contingents/KAZ/inbox", payload: FlowPoint(section: "", scenario: .oneToOne, payload: 64, qos: 1).payloadTemplate(), qos: 1, limit: messages))
        // A PUBACK may reach the publisher after its message reached the subscriber: both are waited for.
        let deadline = monotonicNanoseconds() + 20_000_000_000
        var stats = try await subscriber.stats()
        var acknowledged = try await publisher.stats().acknowledged
        while stats.receivedTotal < messages || acknowledged < messages, monotonicNanoseconds() < deadline {
            try await Task.sleep(nanoseconds: 20_000_000)
            stats = try await subscriber.stats()
            acknowledged = try await publisher.stats().acknowledged
        }
        await publisher.close()
        await subscriber.close()
        print(
            "smoke: published \(messages), acknowledged \(acknowledged), delivered \(stats.receivedTotal), "
                + "p50 \(stats.histogram.percentile(0.5) / 1000) us, max \(stats.histogram.maximum / 1000) us")
        guard stats.receivedTotal == messages, acknowledged == messages else { throw ExitCode.failure }
    }
}
