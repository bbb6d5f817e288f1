import Dispatch
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
/// `@unchecked Sendable`: the timer is set up in `init` and only cancelled in `deinit`; the rest is Sendable.
final class WALCheckpointer: @unchecked Sendable {
    private let path: String
    private let connection: DatabaseQueue
    private let logger: Logger
    private let timer: any DispatchSourceTimer
    private let completed = Atomic<Int>(0)
    /// True after a failed checkpoint until one succeeds: a run of failures is logged once.
    private let failing = Atomic<Bool>(false)

    /// Checkpoints that reached the end of the WAL as it was when they started.
    var completedCheckpoints: Int { completed.load(ordering: .relaxed) }

    init(path: String, interval: Duration, logger: Logger) throws {
        var configuration = Configuration()
        configuration.label = "peacehub.broker-store.checkpoint"
        self.path = path
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
            let result = try connection.writeWithoutTransaction { try $0.checkpoint(.passive) }
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
