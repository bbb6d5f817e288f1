import Foundation

/// A point of the `away` section: QoS 1 messages published while every subscriber is away (its session kept, its
/// connection closed), then taken when the subscribers come back, as a contingent's inbox fills over a lost link.
/// The store section times the hub's store alone; this is the same case end to end, beside mosquitto.
struct AwayPoint: Sendable {
    /// `.oneToOne` or `.fanOut`: one publisher, and one or sixteen away sessions on its topic.
    var scenario: Scenario
    var payload: Int
    /// Messages published while the subscribers are away.
    var messages: Int
    var mqtt5 = false
    /// The server is killed (SIGKILL) and started again while the messages wait.
    var crash = false

    var name: String {
        let size = payload < 1024 ? "\(payload) B" : "\(payload / 1024) KiB"
        var name = "\(scenario.rawValue) \(size) QoS 1, \(messages) while away"
        if crash { name += ", server killed" }
        if mqtt5 { name += " MQTT 5" }
        return name
    }

    var wire: Wire { mqtt5 ? .mqtt5 : .mqtt }
}

/// What the publisher got while the subscribers were away.
struct AwayFill: Sendable {
    /// Messages acknowledged without a failure reason code.
    var accepted: Int
    /// Messages an MQTT 5 PUBACK refused (the hub: every session's queue full).
    var refused: Int
    /// From the first PUBLISH to the last PUBACK.
    var seconds: Double
}

/// What the subscribers took when they came back.
struct AwayDrain: Sendable {
    var delivered: Int
    /// From the first reconnect to the last delivery.
    var seconds: Double
}

extension LoadGenerator {
    /// Connects the point's subscribers with kept sessions, subscribes them at QoS 1 and closes them; then one
    /// publisher sends `point.messages` as fast as its window of 64 allows, and waits for every PUBACK.
    func fillAway(_ point: AwayPoint, on server: ServerEndpoint, clientIDs: [String]) async throws -> AwayFill {
        let endpoint = ServerEndpoint(name: server.name, wire: point.wire, port: server.port)
        let (publishers, subscribers) = point.scenario.layout
        let window = RunWindow()
        window.set(start: 0, end: .max)
        let subs = try await connectAll(count: subscribers.count, concurrency: 16) { [self] index in
            let client = try await connect(
                endpoint, as: subscribers[index].0, clientID: clientIDs[index], cleanSession: false, window: window)
            try await client.subscribe(subscribers[index].1, qos: 1)
            return client
        }
        await closeAll(subs)
        let publisher = try await connect(endpoint, as: publishers[0].0, window: window)
        let payload = FlowPoint(section: "away", scenario: point.scenario, payload: point.payload, qos: 1)
            .payloadTemplate()
        let start = monotonicNanoseconds()
        publisher.startPublishing(PublishPlan(topic: publishers[0].1, payload: payload, qos: 1, limit: point.messages))
        let deadline = start + 60_000_000_000
        var stats = try await publisher.stats()
        while stats.acknowledged < point.messages, monotonicNanoseconds() < deadline {
            try await Task.sleep(nanoseconds: 2_000_000)
            stats = try await publisher.stats()
        }
        await publisher.close()
        guard stats.acknowledged == point.messages else {
            throw BenchError("\(server.name) acknowledged \(stats.acknowledged) of \(point.messages) in 60 s")
        }
        return AwayFill(
            accepted: stats.acknowledged - stats.refused, refused: stats.refused,
            seconds: Double(stats.allAcknowledgedAt - start) / 1e9)
    }

    /// Reconnects the subscribers to their sessions and takes what the server kept for them: until `expected`
    /// deliveries came, or none for a second. Closes them afterwards, and ends their sessions when `endSessions`.
    func drainAway(
        _ point: AwayPoint, on server: ServerEndpoint, clientIDs: [String], expected: Int, endSessions: Bool
    ) async throws -> AwayDrain {
        let endpoint = ServerEndpoint(name: server.name, wire: point.wire, port: server.port)
        let subscribers = point.scenario.layout.subscribers
        let window = RunWindow()
        window.set(start: 0, end: .max)
        let start = monotonicNanoseconds()
        let subs = try await connectAll(count: subscribers.count, concurrency: 16) { [self] index in
            try await connect(
                endpoint, as: subscribers[index].0, clientID: clientIDs[index], cleanSession: false, window: window)
        }
        let received = try await awaitDeliveries(subs, expected: expected, timeout: 60)
        await closeAll(subs)
        if endSessions {
            let cleaners = try await connectAll(count: subscribers.count, concurrency: 16) { [self] index in
                try await connect(endpoint, as: subscribers[index].0, clientID: clientIDs[index])
            }
            await closeAll(cleaners)
        }
        let end = received.receivedTotal > 0 ? received.lastReceivedAt : start
        return AwayDrain(delivered: received.receivedTotal, seconds: Double(end - start) / 1e9)
    }

    /// One sample of `point` on `server`: fill, the crash if the point has one, drain; rates and loss. (No CPU
    /// per message: a phase lasts tens of milliseconds, a few ticks of the process's CPU clock.)
    func runAway(_ point: AwayPoint, on server: ServerProcess) async throws -> [String: Double] {
        let subscribers = point.scenario.layout.subscribers
        let clientIDs = subscribers.indices.map { _ in uniqueID("away") }
        _ = await waitUntilIdle(server.pid)
        let fill = try await fillAway(point, on: server.endpoint, clientIDs: clientIDs)
        if point.crash {
            try server.crashAndRestart()
            _ = await waitUntilIdle(server.pid)
        }
        let expected = fill.accepted * subscribers.count
        let drain = try await drainAway(
            point, on: server.endpoint, clientIDs: clientIDs, expected: expected, endSessions: true)
        let lost = max(0, expected - drain.delivered)
        func perSecond(_ count: Int, _ seconds: Double) -> Double { seconds > 0 ? Double(count) / seconds : 0 }
        return [
            "acknowledgedPerSecond": perSecond(point.messages, fill.seconds),
            "queuedPerSecond": perSecond(expected, fill.seconds),
            "fillMilliseconds": fill.seconds * 1000,
            "drainedPerSecond": perSecond(drain.delivered, drain.seconds),
            "drainMilliseconds": drain.seconds * 1000,
            "accepted": Double(fill.accepted),
            "refused": Double(fill.refused),
            "expected": Double(expected),
            "delivered": Double(drain.delivered),
            "lost": Double(lost),
            "lostPercent": expected > 0 ? Double(lost) * 100 / Double(expected) : 0,
        ]
    }
}
