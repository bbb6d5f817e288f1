import Dispatch
import Foundation
import GRDB
import Logging
import Synchronization

/// Moves the broker store's write-ahead log into the database file from a connection and a thread of its own.
///
/// SQLite's automatic checkpoint runs inside the commit that crosses 1,000 pages of WAL: that commit then copies
/// every page and syncs the file while acknowledgements wait for it (at 5,000 QoS 1 messages a second, about four
/// times a second). The store's connection turns it off (`wal_autocheckpoint = 0`) and this one runs a PASSIVE
/// checkpoint every `interval` instead: it copies what earlier commits wrote without taking the write lock, so
/// commits go on meanwhile, and the next commit after a complete checkpoint starts the WAL over.
///
/// Under a sustained burst no commit ever finds the WAL completely checkpointed (each passive run ends behind the
/// commits made while it ran), and the WAL grew by tens of megabytes a second (313 MB beside a 22 MB database in a
/// six-second burst of five publishers). Past `truncatingSize` the checkpoint is a TRUNCATE instead: it holds the
/// commits back (they wait up to their busy timeout) while it copies what the passive runs left and empties the
/// file.
///
/// `@unchecked Sendable`: the timer is set up in `init` and only cancelled in `deinit`; the rest is Sendable.
final class WALCheckpointer: @unchecked Sendable {
    private let path: String
    private let truncatingSize: Int
    private let connection: DatabaseQueue
    private let logger: Logger
    private let timer: any DispatchSourceTimer
    private let completed = Atomic<Int>(0)
    /// True after a failed checkpoint until one succeeds: a run of failures is logged once.
    private let failing = Atomic<Bool>(false)

    /// Checkpoints that reached the end of the WAL as it was when they started.
    var completedCheckpoints: Int { completed.load(ordering: .relaxed) }

    init(path: String, interval: Duration, truncatingSize: Int, busyTimeout: TimeInterval, logger: Logger) throws {
        var configuration = Configuration()
        configuration.label = "peacehub.broker-store.checkpoint"
        // Only a TRUNCATE waits for the writer; a PASSIVE checkpoint never calls the busy handler.
        configuration.busyMode = .timeout(busyTimeout)
        self.path = path
        self.truncatingSize = truncatingSize
        self.connection = try DatabaseQueue(path: path, configuration: configuration)
        self.logger = logger
        timer = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "peacehub.broker-store.checkpoint"))
        let period = DispatchTimeInterval.nanoseconds(Int(interval.wholeNanoseconds))
        timer.schedule(deadline: .now() + period, repeating: period)
        timer.setEventHandler { [weak self] in self?.checkpoint() }
        timer.resume()
    }

    deinit {
        timer.cancel()
    }

    private func checkpoint() {
        do {
            var status = stat()
            let large = stat(path + "-wal", &status) == 0 && Int(status.st_size) > truncatingSize
            let result = try connection.writeWithoutTransaction { try $0.checkpoint(large ? .truncate : .passive) }
            if result.checkpointedFrameCount == result.walFrameCount { completed.add(1, ordering: .relaxed) }
            failing.store(false, ordering: .relaxed)
        } catch {
            // The commits that meet the same disk report it too.
            if !failing.exchange(true, ordering: .relaxed) {
                logger.warning("broker store checkpoint failed", metadata: ["path": "\(path)", "error": "\(error)"])
            }
        }
    }
}
