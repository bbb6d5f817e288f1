import Dispatch
import Foundation
import Logging
import NIOCore
import PeaceHubCore
import PeaceHubMQTT
import Synchronization

/// One point of the `store` section: the hub's broker store (`SQLiteBrokerStore`, as `peacehub serve` opens it) on
/// its own, taking QoS 1 messages for sessions whose subscribers are away. Each message is written (the PUBACK of
/// its publisher waits for that commit) and removed once the session holds `backlog` later ones, as if then
/// delivered, so every row is really inserted and deleted: in the throughput points a subscriber's PUBACK often
/// comes before the commit and cancels both. Each session has `inFlight` calls waiting for their commit at once, as
/// a publisher's window of PUBLISHes would: many sessions with one each touch the most pages per message.
struct StorePoint: Sendable {
    var payload: Int
    var sessions: Int
    var inFlight: Int
    var durability: SQLiteBrokerStore.Durability
    /// Messages each session holds; the oldest is removed as a new one is stored.
    var backlog = 1024

    var callers: Int { sessions * inFlight }
    /// Messages of one caller that its session holds.
    var kept: Int { max(backlog / inFlight, 1) }

    var name: String {
        let size = payload < 1024 ? "\(payload) B" : "\(payload / 1024) KiB"
        return "\(size), \(sessions) session\(sessions == 1 ? "" : "s") × \(inFlight) in flight, \(durability.name)"
    }
}

extension SQLiteBrokerStore.Durability {
    /// Each durability by the name `mqtt.durability` gives it in the hub's configuration.
    static let named: [(name: String, durability: Self)] = [
        ("process-crash", .processCrash), ("power-loss", .powerLoss),
    ]

    var name: String { Self.named.first { $0.durability == self }!.name }
}

/// Runs a `StorePoint` against a new store file, in this process. Each caller submits one message,
/// and the next once its completion runs (on the store's writer queue), for `warmup` and then `duration` seconds.
final class StoreWorkload: Sendable {
    private struct State {
        var histogram = Histogram()
        var stored = 0
        var callersLeft: Int
        /// The last round each caller's commit completed.
        var rounds: [Int]
        /// The first commit that failed: the point stops there.
        var failure: String?
    }

    private let point: StorePoint
    private let store: SQLiteBrokerStore
    private let message: BrokerMessage
    private let window: (start: UInt64, end: UInt64)
    private let state: Mutex<State>
    private let finished = DispatchSemaphore(value: 0)

    private init(point: StorePoint, store: SQLiteBrokerStore, window: (start: UInt64, end: UInt64)) {
        self.point = point
        self.store = store
        self.window = window
        state = Mutex(State(callersLeft: point.callers, rounds: Array(repeating: 0, count: point.callers)))
        var payload = ByteBuffer()
        payload.writeRepeatingByte(UInt8(ascii: "x"), count: point.payload)
        message = BrokerMessage(
            topic: "contingents/KAZ/inbox", payload: payload, qos: .atLeastOnce, publisher: .contingent("IND"),
            publisherClientID: "store-bench-publisher")
    }

    /// The point's metrics: messages stored per second, the commit call's p50, p99 and maximum, transactions per
    /// second, messages per transaction and this process's CPU per message (the writer and the checkpointer).
    /// The store file is made in a new folder of `directory`, removed afterwards.
    static func run(
        _ point: StorePoint, in directory: URL, warmup: Double, duration: Double
    ) throws -> [String: Double] {
        let folder = directory.appendingPathComponent("store-bench-\(getpid())")
        try? FileManager.default.removeItem(at: folder)
        defer { try? FileManager.default.removeItem(at: folder) }
        let store = try SQLiteBrokerStore(
            path: folder.appendingPathComponent("broker.sqlite").path, durability: point.durability,
            logger: Logger(label: "peacehub.bench.store"))
        store.commit(
            (0..<point.sessions).map { .createSession(clientID: clientID($0), owner: .contingent("KAZ")) },
            completion: { _ in })
        store.flush()

        let start = monotonicNanoseconds() + UInt64(warmup * 1e9)
        let workload = StoreWorkload(point: point, store: store, window: (start, start + UInt64(duration * 1e9)))
        for caller in 0..<point.callers { workload.submit(caller: caller, round: 1) }
        sleep(until: workload.window.start)
        let batches = store.committedBatches
        let cpu = processCPUSeconds(getpid())
        sleep(until: workload.window.end)
        let elapsedBatches = Double(store.committedBatches - batches)
        let elapsedCPU = processCPUSeconds(getpid()) - cpu
        workload.finished.wait()
        store.flush()
        if let failure = workload.state.withLock({ $0.failure }) {
            throw BenchError("a store commit failed: \(failure)")
        }
        try workload.checkEveryMessageStored(in: store)

        return workload.state.withLock { state in
            let stored = Double(state.stored)
            return [
                "storedPerSecond": stored / duration,
                "p50Microseconds": Double(state.histogram.percentile(0.5)) / 1000,
                "p99Microseconds": Double(state.histogram.percentile(0.99)) / 1000,
                "maxMicroseconds": Double(state.histogram.maximum) / 1000,
                "transactionsPerSecond": elapsedBatches / duration,
                "messagesPerTransaction": elapsedBatches > 0 ? stored / elapsedBatches : 0,
                "cpuMicrosecondsPerMessage": stored > 0 ? elapsedCPU * 1e6 / stored : 0,
            ]
        }
    }

    private static func clientID(_ session: Int) -> String { "store-bench-\(session)" }

    /// The sequence of `caller`'s message `round` (from 1) in its session: the session's callers take turns.
    private func sequence(caller: Int, round: Int) -> UInt64 {
        UInt64((round - 1) * point.inFlight + caller / point.sessions + 1)
    }

    /// Stores `caller`'s message `round` and removes the one its session got `backlog` messages before; the next
    /// follows from the completion until the window ends.
    private func submit(caller: Int, round: Int) {
        let clientID = Self.clientID(caller % point.sessions)
        let submitted = monotonicNanoseconds()
        let enqueue = StoreOperation.enqueue(
            clientID: clientID, sequence: sequence(caller: caller, round: round),
            messageID: UInt64((round - 1) * point.callers + caller + 1), message: message)
        store.commit([enqueue]) { result in
            let now = monotonicNanoseconds()
            let going = now < self.window.end && result.isSuccess
            let last = self.state.withLock { state in
                if case .failure(let error) = result, state.failure == nil { state.failure = "\(error)" }
                if submitted >= self.window.start, going {
                    state.histogram.record(now - submitted)
                    state.stored += 1
                }
                if result.isSuccess { state.rounds[caller] = round }
                if !going { state.callersLeft -= 1 }
                return state.callersLeft == 0
            }
            if round > self.point.kept {
                let old = self.sequence(caller: caller, round: round - self.point.kept)
                self.store.commit([.removeDelivery(clientID: clientID, sequence: old)], completion: { _ in })
            }
            if going {
                self.submit(caller: caller, round: round + 1)
            } else if last {
                self.finished.signal()
            }
        }
    }

    /// What the file holds afterwards: each caller's last `kept` messages in its session, every one (the check that
    /// the rate counted real writes).
    private func checkEveryMessageStored(in store: SQLiteBrokerStore) throws {
        let rounds = state.withLock { $0.rounds }
        var expected = [Set<UInt64>](repeating: [], count: point.sessions)
        for (caller, last) in rounds.enumerated() where last > 0 {
            for round in max(last - point.kept + 1, 1)...last {
                expected[caller % point.sessions].insert(sequence(caller: caller, round: round))
            }
        }
        let stored = try store.load().sessions
        for session in 0..<point.sessions {
            let sequences = stored.first { $0.clientID == Self.clientID(session) }?.deliveries.map(\.sequence) ?? []
            guard Set(sequences) == expected[session], sequences.count == expected[session].count else {
                throw BenchError(
                    "the store holds \(sequences.count) messages of \(Self.clientID(session)), not the "
                        + "\(expected[session].count) stored and not yet removed")
            }
        }
    }
}

/// Sleeps until the monotonic clock reads `deadline` (nanoseconds).
private func sleep(until deadline: UInt64) {
    let now = monotonicNanoseconds()
    guard deadline > now else { return }
    usleep(useconds_t((deadline - now) / 1000))
}

extension Result {
    fileprivate var isSuccess: Bool {
        if case .success = self { return true }
        return false
    }
}
