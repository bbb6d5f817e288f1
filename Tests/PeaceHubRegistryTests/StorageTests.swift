import Foundation
import GRDB
import PeaceHubTesting
import SQLiteSupport
import Testing

@testable import PeaceHubRegistry

@Suite("Storage and migrations")
struct StorageTests {
    @Test func aFileDatabaseUsesWALAndReopens() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let path = folder.path("registry.sqlite")
        do {
            let registry = try Registry(path: path)
            try populate(registry)
            #expect(registry.database is DatabasePool)
            #expect(try registry.database.read { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") } == "wal")
            #expect(registry.migrationBackup == nil)
        }
        let reopened = try Registry(path: path)
        #expect(reopened.migrationBackup == nil)
        #expect(try reopened.persons(as: operatorActor).count == 3)
        #expect(try reopened.verifyAudit(as: operatorActor).isIntact)
    }

    /// A write that waits past its time for another writer (an import holds the registry for a minute) is refused
    /// as `busy`, saying so: it was SQLite's "database is locked" (an API 500).
    @Test func aWriteHeldUpByAnotherWriterIsBusy() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let path = folder.path("registry.sqlite")
        let registry = try Registry(path: path, writeWait: 0.2)
        try populate(registry)
        let other = try DatabaseQueue(path: path)
        try other.writeWithoutTransaction { db in
            try db.execute(sql: "BEGIN IMMEDIATE")
            #expect {
                try registry.addPerson(person("KAZ-3", contingent: "KAZ"), as: operatorActor)
            } throws: { error in
                let refusal = error as? RegistryError
                return refusal?.code == .busy && refusal?.reason.contains("held the registry for 0.2 s") == true
            }
            try db.execute(sql: "ROLLBACK")
        }
        try registry.addPerson(person("KAZ-3", contingent: "KAZ"), as: operatorActor)
    }

    /// The write-ahead log is cut back after a checkpoint: a large transaction left it at its peak for good (29 MB
    /// after a failed import on a full disk, which then stayed full).
    @Test func theWriteAheadLogShrinksAfterACheckpoint() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let path = folder.path("registry.sqlite")
        let registry = try Registry(path: path)
        try registry.database.write { db in
            try db.execute(sql: "CREATE TABLE bulk(data BLOB)")
            try db.execute(
                sql: "WITH RECURSIVE rows(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM rows WHERE n < 4096) "
                    + "INSERT INTO bulk SELECT randomblob(4096) FROM rows")
        }
        func walSize() throws -> Int {
            try FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? Int ?? 0
        }
        #expect(try walSize() > 3 * walSizeLimit)
        try registry.database.writeWithoutTransaction { db in _ = try db.checkpoint(.passive) }
        try registry.database.write { db in try db.execute(sql: "CREATE TABLE small(x)") }
        #expect(try walSize() <= walSizeLimit)
    }

    /// A database file that is private already is left alone: one that cannot be changed (here immutable, as on a
    /// read-only mount) was refused with "cannot make it private" before anything was read.
    @Test func aPrivateFileThatCannotBeChangedIsAccepted() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let path = folder.path("registry.sqlite")
        try Registry.createPrivately(path)
        let chattr = try ProcessRunner.run("chattr", ["+i", path])
        try #require(chattr.status == 0, "chattr: \(chattr.stderr)")
        defer { _ = try? ProcessRunner.run("chattr", ["-i", path]) }
        try Registry.createPrivately(path)
        _ = try ProcessRunner.run("chattr", ["-i", path])
        #expect(chmod(path, 0o644) == 0)
        _ = try ProcessRunner.run("chattr", ["+i", path])
        #expect(throws: RegistryError.self) { try Registry.createPrivately(path) }
    }

    @Test func readsDoNotWaitForTheWriter() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let registry = try Registry(path: folder.path("registry.sqlite"))
        try populate(registry)
        let entered = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        let finished = DispatchSemaphore(value: 0)
        // A write transaction that stays open until the read below has finished.
        Thread {
            try? registry.database.write { db in
                try db.execute(sql: "UPDATE person SET rank = 'Major' WHERE serviceNumber = 'KAZ-1'")
                entered.signal()
                release.wait()
            }
            finished.signal()
        }.start()
        try #require(entered.wait(timeout: .now() + 60) == .success)
        // Reads see the last committed state while the write is still open.
        #expect(try registry.person(serviceNumber: "KAZ-1", as: operatorActor).person.rank == "Captain")
        release.signal()
        try #require(finished.wait(timeout: .now() + 60) == .success)
        #expect(try registry.person(serviceNumber: "KAZ-1", as: operatorActor).person.rank == "Major")
    }

    @Test func aPreviousSchemaVersionIsBackedUpThenMigrated() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let path = folder.path("registry.sqlite")
        let previous = RegistrySchema.versions[RegistrySchema.versions.count - 2]
        do {
            let queue = try DatabaseQueue(path: path)
            try RegistrySchema.migrator.migrate(queue, upTo: previous)
            try queue.write { db in
                try db.execute(sql: "INSERT INTO contingent (code, name, pcrsLevel) VALUES ('KAZ', 'Kazakhstan', 'L2')")
                try db.execute(
                    sql: """
                        INSERT INTO person (serviceNumber, latinName, sex, nationality, contingent, rank, category,
                        dateOfBirth) VALUES ('KAZ-1', 'Old Row', 'F', 'KAZ', 'KAZ', 'Captain', 'TROOP', '1990-01-01')
                        """)
                #expect(try RegistrySchema.migrator.appliedIdentifiers(db) == Set(RegistrySchema.versions.dropLast()))
            }
            try queue.close()
        }
        let registry = try Registry(path: path)
        let backup = try #require(registry.migrationBackup)
        #expect(backup.path == path + ".backup-\(previous)")
        #expect(try registry.person(serviceNumber: "KAZ-1", as: operatorActor).person.latinName == "Old Row")
        try registry.addEquipment(
            Equipment(contingent: "KAZ", coeClass: .majorEquipment, category: "APC", serial: "S1", leaseType: .wet),
            as: operatorActor)
        let old = try DatabaseQueue(path: backup.path)
        #expect(try old.read { db in try RegistrySchema.migrator.appliedIdentifiers(db) } == Set(RegistrySchema.versions.dropLast()))
        #expect(try old.read { db in try String.fetchOne(db, sql: "SELECT latinName FROM person") } == "Old Row")
    }

    @Test func aNewerSchemaIsRefused() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let path = folder.path("registry.sqlite")
        do {
            let queue = try DatabaseQueue(path: path)
            try RegistrySchema.migrator.migrate(queue)
            try queue.write { db in
                try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v9-from-the-future')")
            }
            try queue.close()
        }
        do {
            _ = try Registry(path: path)
            Issue.record("a database from a newer schema was opened")
        } catch let error as RegistryError {
            #expect(error.code == .schemaTooNew)
            #expect(error.reason.contains("v9-from-the-future"))
        }
    }

    @Test func aFileThatIsNotADatabaseIsRefused() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let path = folder.path("registry.sqlite")
        try Data(String(repeating: "not sqlite ", count: 100).utf8).write(to: URL(fileURLWithPath: path))
        expectRegistryError(.invalidInput) { _ = try Registry(path: path) }
    }

    @Test func onlineBackupCopiesTheContent() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let registry = try Registry(path: folder.path("registry.sqlite"))
        try populate(registry)
        try registry.backup(to: folder.path("copy.sqlite"), as: .operator("t"))
        let copy = try Registry(path: folder.path("copy.sqlite"))
        #expect(try contentDump(copy) == contentDump(registry))
        expectRegistryError(.alreadyExists) { try registry.backup(to: folder.path("copy.sqlite"), as: .operator("t")) }
        // Every contingent's records: a contingent may not take them all.
        expectRegistryError(.accessDenied) {
            try registry.backup(to: folder.path("kaz.sqlite"), as: .contingent("KAZ"))
        }
        #expect(!FileManager.default.fileExists(atPath: folder.path("kaz.sqlite")))
    }

    /// Personal and medical records: a new registry, its WAL files and a backup are readable by their owner only
    /// (SQLite alone would make them 0644 under the usual umask).
    @Test func theRegistryAndItsBackupsAreReadableByTheirOwnerOnly() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let registry = try Registry(path: folder.path("registry.sqlite"))
        try populate(registry)
        try registry.backup(to: folder.path("copy.sqlite"), as: .operator("t"))
        for name in ["registry.sqlite", "registry.sqlite-wal", "registry.sqlite-shm", "copy.sqlite"] {
            let attributes = try FileManager.default.attributesOfItem(atPath: folder.path(name))
            #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600, "\(name)")
        }
    }

    /// The folders made for a new registry are 0755 whatever the umask (under umask 000 `registry seed` made the
    /// data directory writable by anyone), as `pki init` makes them.
    @Test func foldersMadeForANewRegistryAreNotWritableByOthers() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let previous = umask(0)
        defer { umask(previous) }
        _ = try Registry(path: folder.path("data/registry/registry.sqlite"))
        for name in ["data", "data/registry"] {
            let attributes = try FileManager.default.attributesOfItem(atPath: folder.path(name))
            #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o755, "\(name)")
        }
    }

    /// An online backup reads its error from the copy's connection: on a full disk it said "SQLite error 13: not
    /// an error". The result code's own text is given instead.
    @Test func anErrorWithoutAMessageIsNamedByItsCode() {
        #expect(DatabaseError(resultCode: .SQLITE_FULL, message: "not an error").reason == "database or disk is full")
        #expect(Registry.describe(DatabaseError(resultCode: .SQLITE_FULL)) == "database or disk is full")
        #expect(DatabaseError(resultCode: .SQLITE_CORRUPT, message: "disk image is malformed").reason
            == "disk image is malformed")
    }
}
