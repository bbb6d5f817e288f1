import Dispatch
import Foundation
import NIOCore
import PeaceHubCore
import PeaceHubMQTT
import PeaceHubTesting
import Testing

/// What the crash probe printed before it died, and how it died.
struct ProbeRun {
    var acknowledged: [UInt64]
    var killedBySIGKILL: Bool
    var stderr: String
}

/// Runs `StoreCrashProbe crash`, reads its `ack <i>` lines until `acknowledgements` arrived,
/// kills it with SIGKILL while it keeps committing, and collects every line it printed. Blocking
/// work, so it runs on its own thread, never on the test's cooperative pool.
func runCrashProbe(path: String, durability: String, acknowledgements: Int) async throws -> ProbeRun {
    let probe = TestEnvironment.binDirectory.appendingPathComponent("StoreCrashProbe")
    guard FileManager.default.isExecutableFile(atPath: probe.path) else {
        throw ProbeError(description: "no \(probe.path); build the package first (swift build)")
    }
    let process = Process()
    process.executableURL = probe
    process.arguments = ["crash", path, durability]
    let output = Pipe()
    let input = Pipe()
    let errors = FileManager.default.temporaryDirectory.appendingPathComponent("store-probe-\(UUID().uuidString)")
    _ = FileManager.default.createFile(atPath: errors.path, contents: nil)
    defer { try? FileManager.default.removeItem(at: errors) }
    let errorHandle = try FileHandle(forWritingTo: errors)
    process.standardOutput = output
    process.standardInput = input
    process.standardError = errorHandle
    try process.run()
    let pid = process.processIdentifier
    // The parent's copies of the child's ends: once the probe dies, reading its output ends.
    try? output.fileHandleForWriting.close()
    try? input.fileHandleForReading.close()

    // Should the probe stall or never print enough, it is killed anyway and the test fails on
    // its output instead of hanging.
    let watchdog = DispatchWorkItem { kill(pid, SIGKILL) }
    DispatchQueue.global().asyncAfter(deadline: .now() + 300, execute: watchdog)

    let text: String = await withCheckedContinuation { continuation in
        Thread.detachNewThread {
            var received = Data()
            let reader = output.fileHandleForReading
            var lines = 0
            while lines < acknowledgements {
                let chunk = reader.availableData
                if chunk.isEmpty { break }
                lines += chunk.reduce(0) { $0 + ($1 == UInt8(ascii: "\n") ? 1 : 0) }
                received.append(chunk)
            }
            // Mid-stream: the probe has more commits in flight and keeps submitting.
            kill(pid, SIGKILL)
            process.waitUntilExit()
            received.append(reader.readDataToEndOfFile())
            continuation.resume(returning: String(decoding: received, as: UTF8.self))
        }
    }
    watchdog.cancel()
    try? input.fileHandleForWriting.close()
    try errorHandle.close()

    // Only whole lines count: a line cut by the kill was never a promise.
    let complete = text.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
    let acknowledged = try complete.map { line -> UInt64 in
        guard line.hasPrefix("ack "), let index = UInt64(line.dropFirst(4)) else {
            throw ProbeError(description: "unexpected probe output line '\(line)'")
        }
        return index
    }
    return ProbeRun(
        acknowledged: acknowledged,
        killedBySIGKILL: process.terminationReason == .uncaughtSignal && process.terminationStatus == SIGKILL,
        stderr: (try? String(contentsOf: errors, encoding: .utf8)) ?? "")
}

struct ProbeError: Error, CustomStringConvertible {
    var description: String
}

@Suite(.serialized) struct StoreCrashTests {
    /// The probe's stream (see Tests/StoreCrashProbe/CrashStream.swift) as the test expects to
    /// find it after `committed` commits: whatever was acknowledged, and no gap.
    static func expectedState(committed: UInt64) -> StoredBrokerState {
        func packetID(_ index: UInt64) -> UInt16 { UInt16(index % 65535) + 1 }
        func message(_ index: UInt64, retain: Bool = false) -> BrokerMessage {
            BrokerMessage(
                topic: "probe/stream", payload: ByteBuffer(string: "message \(index)"), qos: .exactlyOnce,
                retain: retain, precedence: .flash, publisher: .contingent("KAZ"))
        }
        let a = StoredSession(
            clientID: "probe-a", owner: .contingent("KAZ"), subscriptions: ["probe/#": .exactlyOnce],
            deliveries: (1...committed).map {
                StoredDelivery(
                    sequence: $0, messageID: $0, message: message($0), packetID: packetID($0), stage: .awaitingPubrec)
            },
            inboundQoS2: [packetID(committed)])
        let b = StoredSession(
            clientID: "probe-b", owner: .operator("duty"),
            deliveries: [StoredDelivery(sequence: committed, messageID: committed, message: message(committed))])
        var retained: ExactDictionary<BrokerMessage> = [:]
        if let last = (1...committed).last(where: { $0 % 5 == 0 || $0 % 5 == 3 }), last % 5 == 0 {
            retained["probe/stream"] = message(last, retain: true)
        }
        return StoredBrokerState(
            sessions: [a, b], retained: retained, lastSequence: committed, lastMessageID: committed)
    }

    @Test(arguments: ["processCrash", "powerLoss"])
    func everyAcknowledgedCommitSurvivesSIGKILL(durability: String) async throws {
        let fixture = try StoreFixture()
        defer { fixture.directory.remove() }
        let run = try await runCrashProbe(path: fixture.path, durability: durability, acknowledgements: 400)
        #expect(run.killedBySIGKILL, "the probe ended on its own: \(run.stderr)")
        try #require(run.acknowledged.count >= 400, "the probe printed too few acknowledgements: \(run.stderr)")
        // Completions run in commit order.
        #expect(run.acknowledged == Array(1...UInt64(run.acknowledged.count)))

        let store = try fixture.open()
        let state = try store.load()
        let committed = try #require(state.sessions.first?.deliveries.last?.sequence)
        // Every acknowledged commit is there; commits that were in flight may be too, but whole
        // and in order (each is one transaction, applied in submission order).
        #expect(committed >= UInt64(run.acknowledged.count))
        #expect(state == Self.expectedState(committed: committed))

        // The store goes on after the restart.
        try await store.committed([.removeDelivery(clientID: "probe-b", sequence: committed)])
        #expect(try fixture.reloaded().sessions.last?.deliveries.isEmpty == true)
    }
}
