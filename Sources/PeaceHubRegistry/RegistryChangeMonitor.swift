import Foundation
import GRDB
import PeaceHubCore
import Synchronization

/// Tells whether the registry's mission membership may have changed, for caches of what was read from it.
///
/// The count of membership changes (`membershipChanges`, kept by triggers in the schema: contingents, a person's
/// contingent, deployments) says whether it did; a query for it on every PUBLISH would cost more than the hub's
/// other work on the message, so the monitor first looks whether the database changed at all. Every commit to the
/// registry, by the hub's own pool or by a `peacehub registry` command in another process, goes through its
/// write-ahead log, and SQLite counts it in the WAL-index header at the start of the `-shm` file (`iChange`, with
/// the frame count and the salts: the documented WAL file format, https://www.sqlite.org/walformat.html, section
/// 2.2.1). The monitor reads those 48 bytes with one `pread` and asks for the count only when they changed: the
/// report archive commits for every batch of reports, and none of those commits empties a cache. SQLite writes the
/// header twice; a read in the middle of a commit sees the copies differ, and then, or when there is no `-shm` file
/// to read, the monitor asks for the count.
///
/// A value read less than `freshness` ago is answered again without reading: under load that saves a system call a
/// packet, at the price of seeing a change that much later.
public final class RegistryChangeMonitor: Sendable {
    private let connection: DatabaseQueue
    /// The `-shm` file, open read-only; -1 when it could not be opened.
    private let index: Int32
    /// The last value read and when (monotonic nanoseconds); a race between two readers only makes one of them
    /// read again or answer the previous value, both within `freshness`.
    private let lastVersion = Atomic(0)
    private let lastRead = Atomic<UInt64>(0)
    /// The WAL-index header the last count was read at (nil: none, or it could not be read).
    private let lastHeader = Mutex<Int?>(nil)
    /// How long a value read stays good, in nanoseconds.
    public let freshness: UInt64

    /// A monitor of the registry's file; nil for an in-memory registry, whose changes it could not see.
    /// - Parameter freshness: how long a value read is answered again without reading (default one millisecond;
    ///   0 reads every time).
    public init?(registry: Registry, freshness: Duration = .milliseconds(1)) {
        self.freshness = freshness.wholeNanoseconds
        guard registry.database is DatabasePool else { return nil }
        var configuration = Configuration()
        configuration.readonly = true
        configuration.label = "peacehub.registry-changes"
        guard let connection = try? DatabaseQueue(path: registry.database.path, configuration: configuration) else {
            return nil
        }
        self.connection = connection
        index = open(registry.database.path + "-shm", O_RDONLY | O_CLOEXEC)
    }

    deinit {
        if index >= 0 { close(index) }
    }

    /// A value that differs from the last one read whenever the registry's mission membership changed in between.
    public func version() throws -> Int {
        let now = DispatchTime.now().uptimeNanoseconds
        let readAt = lastRead.load(ordering: .acquiring)
        if readAt != 0, now &- readAt < freshness { return lastVersion.load(ordering: .relaxed) }
        return try lastHeader.withLock { lastHeader in
            let header = walIndexHeader()
            // The header first: a commit after it changes the header again, and the next question reads the count.
            if header == nil || header != lastHeader {
                let count = try connection.inDatabase { db in
                    try Int.fetchOne(db.cachedStatement(sql: "SELECT count FROM membershipChanges")) ?? 0
                }
                lastVersion.store(count, ordering: .relaxed)
                lastHeader = header
            }
            lastRead.store(now, ordering: .releasing)
            return lastVersion.load(ordering: .relaxed)
        }
    }

    /// The hash of the WAL-index header's change counter, frame count, page count, checksum and salts, or nil when
    /// the two copies differ (a commit is writing them) or the file cannot be read.
    private func walIndexHeader() -> Int? {
        guard index >= 0 else { return nil }
        var bytes = (UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0),
                     UInt64(0), UInt64(0), UInt64(0))
        let read = withUnsafeMutableBytes(of: &bytes) { pread(index, $0.baseAddress, 96, 0) }
        // isInit (byte 12, in the second little-endian word) is 1 once SQLite has built the index.
        guard read == 96, (bytes.1 >> 32) & 0xff != 0 else { return nil }
        let first = [bytes.0, bytes.1, bytes.2, bytes.3, bytes.4, bytes.5]
        let second = [bytes.6, bytes.7, bytes.8, bytes.9, bytes.10, bytes.11]
        guard first == second else { return nil }
        var hasher = Hasher()
        for word in first { hasher.combine(word) }
        return hasher.finalize() & Int.max
    }
}
