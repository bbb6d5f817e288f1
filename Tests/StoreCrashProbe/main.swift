// A child process for the broker store's crash test, and a quick local benchmark.
//
//   StoreCrashProbe crash <path> <processCrash|powerLoss>
//       Commits a stream of operations (see `CrashStream`) with many commits in flight, and prints
//       `ack <i>` on stdout once commit i's completion ran (it is durable then). Runs until it is
//       killed, or until its standard input closes (the test died), or for at most ten minutes.
//   StoreCrashProbe benchmark <path> <processCrash|powerLoss> <submitters> <window> <seconds>
//       Each submitter keeps up to <window> commits in flight; prints commits and operations per second.
import Dispatch
import Foundation
import Logging
import NIOCore
import PeaceHubCore
import PeaceHubMQTT
import Synchronization

/// Writes one line to a file descriptor at once, unbuffered: a line printed is a line the parent sees.
func writeLine(_ line: String, to descriptor: Int32) {
    var bytes = Array((line + "\n").utf8)
    var offset = 0
    while offset < bytes.count {
        let written = bytes.withUnsafeMutableBytes { write(descriptor, $0.baseAddress! + offset, $0.count - offset) }
        if written <= 0 { exit(2) }
        offset += written
    }
}

func fail(_ message: String) -> Never {
    writeLine("StoreCrashProbe: \(message)", to: 2)
    exit(1)
}

func durability(_ text: String) -> SQLiteBrokerStore.Durability {
    switch text {
    case "processCrash": .processCrash
    case "powerLoss": .powerLoss
    default: fail("durability must be processCrash or powerLoss, not '\(text)'")
    }
}

func openStore(_ path: String, _ mode: String) -> SQLiteBrokerStore {
    do {
        return try SQLiteBrokerStore(path: path, durability: durability(mode), logger: Logger(label: "store-probe"))
    } catch {
        fail("\(error)")
    }
}

/// Commits `operations` and waits for the result (setup only).
func commitAndWait(_ store: SQLiteBrokerStore, _ operations: [StoreOperation]) {
    let outcome = Mutex<Result<Void, any Error>?>(nil)
    let done = DispatchSemaphore(value: 0)
    store.commit(operations) { result in
        outcome.withLock { $0 = result }
        done.signal()
    }
    done.wait()
    if case .failure(let error) = outcome.withLock({ $0 }) { fail("setup failed: \(error)") }
}

func runCrashStream(path: String, mode: String) -> Never {
    let store = openStore(path, mode)
    commitAndWait(store, CrashStream.setup)
    // The parent holds our stdin open; end when it is gone rather than run on as an orphan.
    Thread.detachNewThread {
        var byte: UInt8 = 0
        while read(0, &byte, 1) > 0 {}
        exit(0)
    }
    let window = DispatchSemaphore(value: 64)
    let deadline = Date().addingTimeInterval(600)
    var index: UInt64 = 1
    while Date() < deadline {
        window.wait()
        let current = index
        store.commit(CrashStream.operations(current)) { result in
            switch result {
            case .success: writeLine("ack \(current)", to: 1)
            case .failure(let error): fail("commit \(current) failed: \(error)")
            }
            window.signal()
        }
        index += 1
    }
    fail("was not killed within ten minutes")
}

func runBenchmark(path: String, mode: String, submitters: Int, window: Int, seconds: Double) {
    let store = openStore(path, mode)
    let payload = ByteBuffer(repeating: 0x61, count: 200)
    for submitter in 0..<submitters {
        commitAndWait(
            store,
            [
                .createSession(clientID: "bench-\(submitter)-a", owner: .contingent("KAZ")),
                .createSession(clientID: "bench-\(submitter)-b", owner: .contingent("FRA")),
            ])
    }
    let batchesBefore = store.committedBatches
    let commits = Atomic<Int>(0)
    let start = Date()
    let stop = start.addingTimeInterval(seconds)
    let group = DispatchGroup()
    for submitter in 0..<submitters {
        group.enter()
        Thread.detachNewThread {
            let slots = DispatchSemaphore(value: window)
            var sequence: UInt64 = 1
            while Date() < stop {
                slots.wait()
                let messageID = UInt64(submitter) << 40 | sequence
                let message = BrokerMessage(topic: "bench/\(submitter)", payload: payload, qos: .atLeastOnce)
                var operations: [StoreOperation] = [
                    .enqueue(
                        clientID: "bench-\(submitter)-a", sequence: sequence, messageID: messageID, message: message),
                    .enqueue(
                        clientID: "bench-\(submitter)-b", sequence: sequence, messageID: messageID, message: message),
                ]
                if sequence > 1 {
                    operations.append(.removeDelivery(clientID: "bench-\(submitter)-a", sequence: sequence - 1))
                    operations.append(.removeDelivery(clientID: "bench-\(submitter)-b", sequence: sequence - 1))
                }
                store.commit(operations) { result in
                    if case .failure(let error) = result { fail("commit failed: \(error)") }
                    commits.add(1, ordering: .relaxed)
                    slots.signal()
                }
                sequence += 1
            }
            // Wait for the last commits; libdispatch refuses to free a semaphore below its start value.
            for _ in 0..<window { slots.wait() }
            for _ in 0..<window { slots.signal() }
            group.leave()
        }
    }
    group.wait()
    store.flush()
    let elapsed = Date().timeIntervalSince(start)
    let committed = commits.load(ordering: .relaxed)
    let batches = store.committedBatches - batchesBefore
    func perSecond(_ count: Int) -> Int { Int(Double(count) / elapsed) }
    let perTransaction = Double(committed) / Double(max(batches, 1))
    print(
        "\(mode) submitters=\(submitters) window=\(window): \(perSecond(committed)) commits/s, "
            + "\(perSecond(committed * 4)) operations/s, \(perSecond(batches)) transactions/s, "
            + "\(Int(perTransaction.rounded())) commits per transaction")
}

let arguments = CommandLine.arguments
switch arguments.dropFirst().first {
case "crash" where arguments.count == 4:
    runCrashStream(path: arguments[2], mode: arguments[3])
case "benchmark" where arguments.count == 7:
    guard let submitters = Int(arguments[4]), let window = Int(arguments[5]), let seconds = Double(arguments[6]),
        submitters > 0, window > 0, seconds > 0
    else { fail("benchmark needs positive <submitters> <window> <seconds>") }
    runBenchmark(path: arguments[2], mode: arguments[3], submitters: submitters, window: window, seconds: seconds)
default:
    fail(
        "usage: StoreCrashProbe crash <path> <processCrash|powerLoss> | "
            + "benchmark <path> <processCrash|powerLoss> <submitters> <window> <seconds>")
}
