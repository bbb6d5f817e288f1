import Foundation
import Logging
import PeaceHubCore
import PeaceHubRegistry
import Synchronization

/// Mission membership read from the registry, asked on every PUBLISH and SUBSCRIBE, so a registry change applies to
/// the packets that follow it (within a millisecond) without a restart.
///
/// Answers are cached while the registry's count of membership changes stays the same (`RegistryChangeMonitor`: a
/// commit that changes contingents or deployments, by this process or a `peacehub registry` command, changes it and
/// empties the cache), so a registry whose membership is unchanged costs at most one `pread` of the WAL-index header
/// a millisecond, and a query only after a commit (the report archive's commits leave the cache as it is).
public struct RegistryMembership: MissionMembership {
    public let registry: Registry
    private let logger: Logger
    private let monitor: RegistryChangeMonitor?
    private let cache = Cache()

    /// What was read at one membership version.
    private final class Cache: Sendable {
        struct Entries {
            var version: Int?
            var active: [String: Bool] = [:]
            var missions: [String: Set<String>] = [:]
        }

        let entries = Mutex(Entries())
        /// Registry reads that failed: each counts as a change in `version()`, so that a decision denied because
        /// the registry could not answer is asked again at the next packet.
        let failures = Atomic(0)
    }

    /// - Parameter freshness: how long the registry's version, once read, is trusted (`RegistryChangeMonitor`):
    ///   a change in the registry applies to the packets that come this long after it.
    public init(
        registry: Registry, freshness: Duration = .milliseconds(1), logger: Logger = Logger(label: "peacehub.server")
    ) {
        self.registry = registry
        self.logger = logger
        monitor = RegistryChangeMonitor(registry: registry, freshness: freshness)
    }

    /// The registry's membership version, which changes with every commit that changes the membership, and with every
    /// failed read.
    public func version() -> Int? {
        guard let monitor, let version = try? monitor.version() else { return nil }
        return version &* 1_000_003 &+ cache.failures.load(ordering: .relaxed)
    }

    public func isActive(contingent: String) -> Bool {
        cached(\.active, contingent) {
            do {
                _ = try registry.contingent(code: contingent)
                return true
            } catch let error as RegistryError where error.code == .notFound {
                return false
            } catch {
                cache.failures.add(1, ordering: .relaxed)
                logger.error("registry lookup failed", metadata: ["contingent": "\(contingent)", "error": "\(error)"])
                return nil
            }
        } ?? false
    }

    public func activeMissions(of contingent: String) -> Set<String> {
        cached(\.missions, contingent) {
            do {
                return try registry.activeMissions(of: contingent)
            } catch {
                // Deny by default: a registry that cannot answer grants nothing (and the answer is not kept).
                cache.failures.add(1, ordering: .relaxed)
                logger.error("registry lookup failed", metadata: ["contingent": "\(contingent)", "error": "\(error)"])
                return nil
            }
        } ?? []
    }

    /// The answer kept for `key` at the registry's current membership version, else `read()`'s (kept when not nil).
    /// The version is read before the registry: a commit in between makes the next question read again.
    private func cached<Value: Sendable>(
        _ table: WritableKeyPath<Cache.Entries, [String: Value]>, _ key: String, read: () -> Value?
    ) -> Value? {
        guard let monitor, let version = try? monitor.version() else { return read() }
        let hit = cache.entries.withLock { entries -> Value? in
            if entries.version != version { entries = Cache.Entries(version: version) }
            return entries[keyPath: table][key]
        }
        if let hit { return hit }
        guard let value = read() else { return nil }
        cache.entries.withLock { entries in
            if entries.version == version { entries[keyPath: table][key] = value }
        }
        return value
    }
}

/// The registry's report archive behind the mission router, with group commit: the reports that arrive while a
/// commit runs are written together in the next one (one transaction, an audit entry each), so a commit, its
/// write-ahead-log pages and its wake-ups are shared by as many reports as came in meanwhile.
public final class RegistryReportArchive: ReportArchive {
    public let registry: Registry
    /// At most this many reports in one transaction, so that a burst does not hold the registry's writer long.
    public static let largestBatch = 256
    private struct Waiting {
        var reports: [(ArchivedReport, @Sendable ((any Error)?) -> Void)] = []
        var writing = false
    }
    private let waiting = Mutex(Waiting())
    private let queue = DispatchQueue(label: "peacehub.report-archive")

    public init(registry: Registry) {
        self.registry = registry
    }

    public func archive(_ report: ArchivedMissionReport, then completion: @escaping @Sendable ((any Error)?) -> Void) {
        let row = Self.row(report)
        let start = waiting.withLock { waiting in
            waiting.reports.append((row, completion))
            if waiting.writing { return false }
            waiting.writing = true
            return true
        }
        if start { queue.async { self.writeWaiting() } }
    }

    /// Writes what is waiting, a batch a transaction, until nothing is.
    private func writeWaiting() {
        while true {
            let batch = waiting.withLock { waiting in
                let batch = Array(waiting.reports.prefix(Self.largestBatch))
                waiting.reports.removeFirst(batch.count)
                if batch.isEmpty { waiting.writing = false }
                return batch
            }
            if batch.isEmpty { return }
            do {
                try registry.archiveReports(batch.map(\.0))
                for (_, completion) in batch { completion(nil) }
            } catch let error as RegistryError where error.code == .invalidInput && batch.count > 1 {
                // One report refused: the others are still kept, each on its own.
                for (row, completion) in batch {
                    do {
                        try registry.archiveReport(row)
                        completion(nil)
                    } catch {
                        completion(error)
                    }
                }
            } catch {
                // The registry cannot write (busy past its timeout, full, read-only): no report of the batch
                // would fare better alone.
                for (_, completion) in batch { completion(error) }
            }
        }
    }

    private static func row(_ report: ArchivedMissionReport) -> ArchivedReport {
        let location = report.body["location"]
        return ArchivedReport(
            mission: report.mission, type: report.reportType, sender: report.senderName,
            receivedAt: ArchivedReport.timestamp(report.receivedAt), precedence: report.precedence?.name ?? "ROUTINE",
            securityLabel: report.securityLabel, latitude: location?["lat"]?.numberValue,
            longitude: location?["lon"]?.numberValue, body: String(decoding: report.body.jsonData, as: UTF8.self),
            annotations: report.annotations.isEmpty
                ? nil : String(decoding: JSONValue.object(report.annotations).jsonData, as: UTF8.self),
            status: report.status, reason: report.reason)
    }
}
