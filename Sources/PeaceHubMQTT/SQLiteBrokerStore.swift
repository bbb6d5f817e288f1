import CoreMetrics
import Dispatch
import Foundation
import GRDB
import Logging
import PeaceHubCore
import SQLiteSupport
import Synchronization

/// The broker's durable state in an SQLite file (WAL mode), written with group commit.
///
/// `commit` only queues its operations. One serial dispatch queue (never an event loop, never
/// the Swift concurrency pool) takes everything queued, applies it in one transaction and then
/// runs the completions of that batch, in call order, so a burst of acknowledgements costs one
/// disk sync. Completions run on that queue: they must be quick and never block (hop to the
/// connection's event loop).
///
/// Each `commit` call is all or nothing: when SQLite refuses an operation (a sequence stored twice
/// for one session), the batch is applied again with each call in a savepoint of its own, so only
/// the refused call fails; a failure of the transaction itself (I/O error, disk full, the file
/// locked by another process) fails the whole batch. Either way later batches go on.
public final class SQLiteBrokerStore: BrokerStore {
    /// What a committed batch survives.
    public enum Durability: Sendable, Hashable {
        /// A crash or `kill -9` of the hub (SQLite `synchronous = NORMAL` in WAL mode: a commit
        /// is in the operating system's cache before its completion runs).
        case processCrash
        /// Also a power loss or kernel crash (`synchronous = FULL`: the WAL is synced to disk on
        /// every commit).
        case powerLoss
    }

    struct Submission {
        var operations: [StoreOperation]
        var completion: @Sendable (Result<Void, any Error>) -> Void
    }

    private struct Queue {
        var submissions: [Submission] = []
        /// True while a drain is scheduled or running on the writer queue.
        var draining = false
        /// When the oldest queued submission came (monotonic nanoseconds); 0 when none is queued.
        var oldestQueuedAt: UInt64 = 0
    }

    /// How long a batch waits for another process that holds the file's write lock (someone
    /// running `sqlite3` on it) before it fails, rather than holding acknowledgements forever.
    public static let busyTimeout: TimeInterval = 5

    public let path: String
    public let durability: Durability
    /// Nanoseconds a batch waits after its first submission (`holdBack`).
    private let batchDelay: UInt64
    /// The connection that writes; only the writer queue writes through it (and `load()` reads).
    let database: DatabaseQueue
    /// Checkpoints the WAL on a connection of its own, off the commit path.
    let checkpointer: WALCheckpointer
    /// The file opened, which `probe()` checks `path` still names.
    let file: DatabaseFileIdentity?
    let logger: Logger
    private let writer = DispatchQueue(label: "peacehub.broker-store.writer", qos: .userInitiated)
    private let writerKey = DispatchSpecificKey<Bool>()
    private let queue = Mutex(Queue())
    private let batches = Atomic<Int>(0)
    /// How long each group-commit transaction takes, and how many operations it carries.
    private let commitDuration = CoreMetrics.Timer(label: "peacehub_store_commit_duration_seconds")
    private let commitOperations = Recorder(label: "peacehub_store_commit_batch_operations")

    /// Transactions committed so far; with group commit, usually fewer than `commit` calls.
    public var committedBatches: Int { batches.load(ordering: .relaxed) }

    /// Opens the store at `path`, creating the file (and its folder) if needed, and migrates it
    /// to the current schema. Throws `BrokerStoreError` naming the file when it is not an SQLite
    /// database, not a broker store, or written by a newer PeaceHub.
    ///
    /// - Parameters:
    ///   - batchDelay: how long a submission waits for others before its batch is written (see `holdBack`).
    ///   - checkpointInterval: how often the WAL is checkpointed (see `WALCheckpointer`).
    ///   - walTruncatingSize: the WAL size past which a checkpoint holds the commits back to empty it.
    ///   - busyTimeout: how long a statement waits for another connection's lock on the file (`busyTimeout`).
    public init(
        path: String, durability: Durability = .processCrash, batchDelay: Duration = .microseconds(500),
        checkpointInterval: Duration = .milliseconds(250), walTruncatingSize: Int = 16 * walSizeLimit,
        busyTimeout: TimeInterval = SQLiteBrokerStore.busyTimeout,
        logger: Logger
    ) throws {
        self.batchDelay = batchDelay.wholeNanoseconds
        self.path = path
        self.durability = durability
        self.logger = logger
        var configuration = Configuration()
        configuration.foreignKeysEnabled = true
        configuration.busyMode = .timeout(busyTimeout)
        configuration.label = "peacehub.broker-store"
        do {
            // It holds message contents.
            try PrivateDatabaseFile.prepare(path)
            database = try DatabaseQueue(path: path, configuration: configuration)
            try database.writeWithoutTransaction { db in
                let mode = try String.fetchOne(db, sql: "PRAGMA journal_mode = WAL")
                guard mode == "wal" else {
                    throw BrokerStoreError(
                        .cannotOpen, "cannot put the broker store \(path) in WAL mode (got \(mode ?? "nothing"))")
                }
                try db.execute(sql: "PRAGMA synchronous = \(durability == .powerLoss ? "FULL" : "NORMAL")")
                // Checkpoints run beside the commits, on the checkpointer's connection.
                try db.execute(sql: "PRAGMA wal_autocheckpoint = 0")
                try db.execute(sql: "PRAGMA journal_size_limit = \(walSizeLimit)")
            }
        } catch let error as BrokerStoreError {
            throw error
        } catch {
            throw BrokerStoreError(.cannotOpen, "cannot open the broker store \(path): \(Self.describe(error))")
        }
        try Self.migrate(database, path: path)
        file = DatabaseFileIdentity(path: path)
        do {
            checkpointer = try WALCheckpointer(
                path: path, interval: checkpointInterval, truncatingSize: walTruncatingSize, busyTimeout: busyTimeout,
                logger: logger)
        } catch {
            throw BrokerStoreError(.cannotOpen, "cannot open the broker store \(path): \(Self.describe(error))")
        }
        writer.setSpecific(key: writerKey, value: true)
        logger.debug("broker store opened", metadata: ["path": "\(path)", "durability": "\(durability)"])
    }

    private static func migrate(_ database: DatabaseQueue, path: String) throws {
        let migrator = BrokerStoreSchema.migrator
        let known = Set(BrokerStoreSchema.versions)
        do {
            let (applied, tables) = try database.read { db in
                let applied = try migrator.appliedIdentifiers(db)
                let tables = try String.fetchAll(
                    db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
                return (applied, tables)
            }
            if applied.isDisjoint(with: known), !tables.isEmpty {
                let names = tables.sorted().joined(separator: ", ")
                throw BrokerStoreError(
                    .cannotOpen, "\(path) is not a PeaceHub broker store (it holds the tables \(names))")
            }
            let unknown = applied.subtracting(known)
            if !unknown.isEmpty {
                let names = unknown.sorted().joined(separator: ", ")
                let current = BrokerStoreSchema.versions.last ?? "none"
                throw BrokerStoreError(
                    .schemaTooNew,
                    "\(path) has broker store schema version(s) \(names) from a newer PeaceHub; this one knows up to "
                        + "\(current). Use a newer peacehub.")
            }
            try migrator.migrate(database)
        } catch let error as BrokerStoreError {
            throw error
        } catch {
            throw BrokerStoreError(
                .cannotOpen, "cannot read or create the schema of the broker store \(path): \(describe(error))")
        }
    }

    // MARK: BrokerStore

    public func commit(
        _ operations: [StoreOperation], completion: @escaping @Sendable (Result<Void, any Error>) -> Void
    ) {
        let scheduleDrain = queue.withLock { queue in
            if queue.submissions.isEmpty { queue.oldestQueuedAt = DispatchTime.now().uptimeNanoseconds }
            queue.submissions.append(Submission(operations: operations, completion: completion))
            guard !queue.draining else { return false }
            queue.draining = true
            return true
        }
        if scheduleDrain { writer.async { self.drain() } }
    }

    /// Blocks until every batch submitted before the call is committed and its completions ran.
    /// Called from a completion (the writer queue itself, which cannot wait for itself) it commits
    /// what is queued right there, before the rest of the current batch's completions run.
    public func flush() {
        if DispatchQueue.getSpecific(key: writerKey) == true {
            drain()
            return
        }
        // Calls complete in order: once this empty one has, everything before it has too.
        let done = DispatchSemaphore(value: 0)
        commit([]) { _ in done.signal() }
        done.wait()
    }

    public func load() throws -> StoredBrokerState {
        do {
            return try database.read { db in try Self.loadState(db) }
        } catch let error as BrokerStoreError {
            throw error
        } catch {
            throw BrokerStoreError(.readFailed, "cannot read the broker store \(path): \(Self.describe(error))")
        }
    }

    // MARK: Writer

    /// Commits batches until nothing is queued. Runs on the writer queue only.
    private func drain() {
        while true {
            holdBack()
            guard let batch = takeBatch() else { return }
            let results = write(batch)
            for (submission, result) in zip(batch, results) { submission.completion(result) }
        }
    }

    /// Waits until the oldest queued submission is `batchDelay` old: what arrives meanwhile joins its batch, and a
    /// delivery acknowledged meanwhile cancels its enqueue (nothing written for it). At 5,000 QoS 1 messages a
    /// second from one publisher to one subscriber, half a millisecond took the hub from 0.85 to 0.58 cores and
    /// its p99 from 10.7 to 7.0 ms; a publisher's PUBACK waits that much longer.
    private func holdBack() {
        guard batchDelay > 0 else { return }
        let oldest = queue.withLock { $0.oldestQueuedAt }
        let now = DispatchTime.now().uptimeNanoseconds
        guard oldest > 0, now < oldest + batchDelay else { return }
        let wait = oldest + batchDelay - now
        var pause = timespec(tv_sec: Int(wait / 1_000_000_000), tv_nsec: Int(wait % 1_000_000_000))
        nanosleep(&pause, nil)
    }

    private func takeBatch() -> [Submission]? {
        queue.withLock { queue in
            guard !queue.submissions.isEmpty else {
                queue.draining = false
                return nil
            }
            var batch: [Submission] = []
            swap(&batch, &queue.submissions)
            queue.oldestQueuedAt = 0
            return batch
        }
    }

    /// Applies `batch` in one transaction and returns each call's result, in order.
    ///
    /// The calls are applied one after the other; only when SQLite refuses an operation is the batch done again
    /// with each call in a savepoint of its own, so that the refused call alone fails (the common case pays no
    /// savepoint).
    private func write(_ batch: [Submission]) -> [Result<Void, any Error>] {
        let started = DispatchTime.now().uptimeNanoseconds
        defer {
            commitDuration.recordNanoseconds(Int64(DispatchTime.now().uptimeNanoseconds - started))
            commitOperations.record(batch.reduce(0) { $0 + $1.operations.count })
        }
        let skipped = Self.acknowledgedWithin(batch)
        // Acknowledgements that cancel every enqueue of the batch leave nothing to write.
        if Self.changesNothing(batch, skipping: skipped) {
            return [Result<Void, any Error>](repeating: .success(()), count: batch.count)
        }
        do {
            let results = try database.writeWithoutTransaction { db in
                do {
                    try db.inTransaction(.immediate) {
                        var effects = WriteEffects()
                        for submission in batch {
                            for operation in submission.operations {
                                try Self.apply(operation, db, &effects, skipping: skipped)
                            }
                        }
                        try Self.finish(effects, db)
                        return .commit
                    }
                    return [Result<Void, any Error>](repeating: .success(()), count: batch.count)
                } catch let error as BrokerStoreError where error.code == .invalidOperation {
                    var results: [Result<Void, any Error>] = []
                    try db.inTransaction(.immediate) {
                        results = try self.applyEachAlone(batch, db, skipping: skipped)
                        return .commit
                    }
                    return results
                }
            }
            batches.add(1, ordering: .relaxed)
            return results
        } catch {
            let failure = BrokerStoreError(
                .writeFailed,
                "the transaction of \(batch.count) commit call(s) on \(path) failed: \(Self.describe(error))")
            logger.error("\(failure)")
            return Array(repeating: .failure(failure), count: batch.count)
        }
    }

    /// Applies each call in its own savepoint, then the batch's bookkeeping. Throws (failing the
    /// batch) for anything but an operation the stored state refuses.
    private func applyEachAlone(
        _ batch: [Submission], _ db: Database, skipping skipped: Set<DeliveryKey>
    ) throws -> [Result<Void, any Error>] {
        var results: [Result<Void, any Error>] = []
        results.reserveCapacity(batch.count)
        var batchEffects = WriteEffects()
        for submission in batch {
            var effects = WriteEffects()
            try db.cachedStatement(sql: "SAVEPOINT call").execute()
            do {
                for operation in submission.operations { try Self.apply(operation, db, &effects, skipping: skipped) }
                try db.cachedStatement(sql: "RELEASE call").execute()
                batchEffects.merge(effects)
                results.append(.success(()))
            } catch let error as BrokerStoreError where error.code == .invalidOperation {
                // Undoes the call's earlier operations; the batch's transaction goes on.
                try db.cachedStatement(sql: "ROLLBACK TO call").execute()
                try db.cachedStatement(sql: "RELEASE call").execute()
                logger.error("\(error)")
                results.append(.failure(error))
            }
        }
        try Self.finish(batchEffects, db)
        return results
    }

    /// A delivery, as the store keys it.
    struct DeliveryKey: Hashable {
        var clientID: String
        var sequence: UInt64
    }

    /// The deliveries a batch enqueues and then removes: a QoS 1 message its subscriber acknowledged before the
    /// batch was written. Their rows would be inserted and deleted in one transaction, so they are not written
    /// at all (the effect on the file is the same).
    static func acknowledgedWithin(_ batch: [Submission]) -> Set<DeliveryKey> {
        var enqueued: Set<DeliveryKey> = []
        var acknowledged: Set<DeliveryKey> = []
        for submission in batch {
            for operation in submission.operations {
                switch operation {
                case .enqueue(let clientID, let sequence, _, _, _, _):
                    enqueued.insert(DeliveryKey(clientID: clientID, sequence: sequence))
                case .removeDelivery(let clientID, let sequence):
                    let key = DeliveryKey(clientID: clientID, sequence: sequence)
                    if enqueued.contains(key) { acknowledged.insert(key) }
                default:
                    break
                }
            }
        }
        return acknowledged
    }

    /// Whether `batch` holds nothing but the enqueues, sends and removals of deliveries acknowledged within it
    /// (`skipped`). The ids those deliveries used are then not recorded: nothing stored refers to them.
    static func changesNothing(_ batch: [Submission], skipping skipped: Set<DeliveryKey>) -> Bool {
        for submission in batch {
            for operation in submission.operations {
                switch operation {
                case .enqueue(let clientID, let sequence, _, _, _, _), .markInflight(let clientID, let sequence, _, _),
                    .removeDelivery(let clientID, let sequence):
                    if !skipped.contains(DeliveryKey(clientID: clientID, sequence: sequence)) { return false }
                default:
                    return false
                }
            }
        }
        return true
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? DatabaseError {
            return error.message ?? "SQLite error \(error.extendedResultCode.rawValue)"
        }
        return "\(error)"
    }
}
