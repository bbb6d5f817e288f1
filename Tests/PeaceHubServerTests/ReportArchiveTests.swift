import Foundation
import GRDB
import PeaceHubCore
import PeaceHubRegistry
import PeaceHubServer
import PeaceHubTesting
import Synchronization
import Testing

/// `RegistryReportArchive` writes the reports that arrive while a commit runs in one transaction, into a real
/// registry file, and loses none when one of them is refused.
@Suite struct ReportArchiveTests {
    /// Counts the registry's commits that archived reports.
    final class ArchiveCommits: TransactionObserver, Sendable {
        private let state = Mutex((inserted: false, commits: 0))
        var commits: Int { state.withLock { $0.commits } }
        func observes(eventsOfKind eventKind: DatabaseEventKind) -> Bool { eventKind.tableName == "archivedReport" }
        func databaseDidChange(with event: DatabaseEvent) { state.withLock { $0.inserted = true } }
        func databaseDidCommit(_ db: Database) {
            state.withLock { state in
                if state.inserted { state.commits += 1 }
                state.inserted = false
            }
        }
        func databaseDidRollback(_ db: Database) { state.withLock { $0.inserted = false } }
    }

    static func report(_ number: Int, type: String = "UXO", text: String = "") -> ArchivedMissionReport {
        ArchivedMissionReport(
            mission: "UNIFIL", reportType: type, sender: .contingent("KAZ"), receivedAt: Date(), precedence: .routine,
            securityLabel: "UN RESTRICTED",
            body: ["number": .number(Double(number)), "location": ["lat": 33.1, "lon": 35.2], "text": .string(text)],
            annotations: ["insideArea": true], status: "ACCEPTED", reason: nil)
    }

    /// Archives `reports` while another write holds the registry's writer, then lets it go; returns each report's
    /// outcome, in order.
    static func archiveBehindAWrite(
        _ reports: [ArchivedMissionReport], into registry: Registry, archive: RegistryReportArchive
    ) throws -> [(any Error)?] {
        let holding = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        let heldWrite = DispatchGroup()
        DispatchQueue.global().async(group: heldWrite) {
            try? registry.database.write { _ in
                holding.signal()
                release.wait()
            }
        }
        holding.wait()
        let outcomes = Mutex([Int: (any Error)?]())
        let done = DispatchGroup()
        for (index, report) in reports.enumerated() {
            done.enter()
            archive.archive(report) { error in
                outcomes.withLock { $0[index] = error }
                done.leave()
            }
            // The first report's batch is taken at once and waits for the writer; the rest wait for the next.
            if index == 0 { usleep(50_000) }
        }
        release.signal()
        heldWrite.wait()
        #expect(done.wait(timeout: .now() + 30) == .success)
        return outcomes.withLock { outcomes in reports.indices.map { outcomes[$0] ?? nil } }
    }

    @Test func reportsThatArriveDuringACommitShareTheNext() throws {
        let folder = try TemporaryDirectory(prefix: "phub-archive")
        defer { folder.remove() }
        let registry = try Registry(path: folder.path("registry.sqlite"))
        let commits = ArchiveCommits()
        registry.database.add(transactionObserver: commits, extent: .observerLifetime)
        let archive = RegistryReportArchive(registry: registry)

        let outcomes = try Self.archiveBehindAWrite((0..<100).map { Self.report($0) }, into: registry, archive: archive)
        #expect(outcomes.allSatisfy { $0 == nil })
        #expect(commits.commits == 2, "the first report alone, then the 99 that came while it waited")
        let archived = try registry.archivedReports(matching: ReportQuery(), as: .operator("test"))
        #expect(archived.count == 100)
        let numbers = archived.map { try? JSONValue(parsing: Data($0.body.utf8))["number"] }
        #expect(numbers == (0..<100).map { .number(Double($0)) }, "in the order they came")
        #expect(archived.allSatisfy { $0.annotations == #"{"insideArea":true}"# && $0.latitude == 33.1 })
        let audit = try registry.verifyAudit(as: .operator("test"))
        #expect(audit.isIntact && audit.entries == 100, "an audit entry for each report, the chain intact")
    }

    @Test func aRefusedReportLosesNoOther() throws {
        let folder = try TemporaryDirectory(prefix: "phub-archive")
        defer { folder.remove() }
        let registry = try Registry(path: folder.path("registry.sqlite"))
        let archive = RegistryReportArchive(registry: registry)

        let reports = [Self.report(0), Self.report(1), Self.report(2, type: ""), Self.report(3)]
        let outcomes = try Self.archiveBehindAWrite(reports, into: registry, archive: archive)
        #expect(outcomes[0] == nil && outcomes[1] == nil && outcomes[3] == nil)
        let refusal = try #require(outcomes[2] as? RegistryError)
        #expect(refusal.code == .invalidInput)
        let archived = try registry.archivedReports(matching: ReportQuery(), as: .operator("test"))
        #expect(archived.compactMap { try? JSONValue(parsing: Data($0.body.utf8))["number"]?.numberValue } == [0, 1, 3])
    }

    /// A registry that cannot write (here full: no page may be added) fails the whole batch once, without trying
    /// each report again on its own.
    @Test func aRegistryThatCannotWriteFailsTheBatchOnce() throws {
        let folder = try TemporaryDirectory(prefix: "phub-archive")
        defer { folder.remove() }
        let registry = try Registry(path: folder.path("registry.sqlite"))
        let archive = RegistryReportArchive(registry: registry)
        let transactions = Mutex(0)
        try registry.database.writeWithoutTransaction { db in
            let pages = try Int.fetchOne(db, sql: "PRAGMA page_count") ?? 0
            _ = try Int.fetchOne(db, sql: "PRAGMA max_page_count = \(pages)")
            db.trace { event in
                if "\(event)".hasPrefix("BEGIN") { transactions.withLock { $0 += 1 } }
            }
        }
        let reports = (0..<3).map { Self.report($0, text: String(repeating: "x", count: 20_000)) }

        let outcomes = try Self.archiveBehindAWrite(reports, into: registry, archive: archive)
        for outcome in outcomes {
            #expect((outcome as? DatabaseError)?.resultCode == .SQLITE_FULL, "\(String(describing: outcome))")
        }
        #expect(transactions.withLock { $0 } == 3, "the held write's, the first report's and the other two's")
    }
}
