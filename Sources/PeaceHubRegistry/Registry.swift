import Foundation
import GRDB
import Logging
import PeaceHubCore
import SQLiteSupport
import Synchronization

/// The shared registry of observers and peacekeepers: the one place that enforces access rules,
/// deployment invariants and the audit trail over its SQLite database.
///
/// On a file it uses a `DatabasePool` in WAL mode: one writer, and reads that never wait for writes.
public final class Registry: Sendable {
    /// Who makes a write (or a read): a contributing country acting for itself, or a hub operator.
    /// The same principal a client certificate names.
    public typealias Actor = Principal

    /// The database; tests use it to inspect or tamper with rows directly.
    public let database: any DatabaseWriter
    /// Where the copy of an older database was written before migrating it, if that happened on open.
    public let migrationBackup: URL?
    let evaluator: (any ReadinessEvaluating)?
    let now: @Sendable () -> Date
    let logger: Logger
    /// The file opened (nil in memory), which `probe()` checks the path still names.
    let file: DatabaseFileIdentity?
    /// Why `probe()` fails though the database answers: a check of the whole file under way, or the damage it found.
    private let integrityProblem = Mutex<String?>(nil)

    /// Opens (creating if needed) the registry database at `path`, migrating an older schema after
    /// writing a backup copy next to it, and refusing a newer one.
    /// A write waits `writeWait` seconds for another writer (one transaction at a time: an import of a million
    /// people holds the registry for a minute) before it gives up with `busy`.
    public convenience init(
        path: String, evaluator: (any ReadinessEvaluating)? = nil, now: @escaping @Sendable () -> Date = { Date() },
        logger: Logger = Logger(label: "peacehub.registry"), writeWait: TimeInterval = 30
    ) throws {
        var configuration = Configuration()
        configuration.foreignKeysEnabled = true
        configuration.busyMode = .timeout(writeWait)
        // The write-ahead log is reused, never shrunk: one large import (or a failed one, on a full disk) left it at
        // its peak for good. Past a checkpoint it is cut back to this size.
        configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA journal_size_limit = \(walSizeLimit)") }
        let pool: DatabasePool
        do {
            try Self.createPrivately(path)
            pool = try DatabasePool(path: path, configuration: configuration)
        } catch {
            // A file cut short fails already here, before `checkIntegrity`.
            let damaged = (error as? DatabaseError).map { [.SQLITE_CORRUPT, .SQLITE_NOTADB].contains($0.resultCode) }
            throw RegistryError(
                .invalidInput,
                "cannot open the registry database \(path): \(Self.describe(error))"
                    + (damaged == true ? ": the file is damaged; restore it from a backup (docs/operations.md)" : ""))
        }
        let backup = try Self.migrate(pool, path: path, logger: logger)
        self.init(
            database: pool, file: DatabaseFileIdentity(path: path), migrationBackup: backup, evaluator: evaluator,
            now: now, logger: logger)
    }

    /// Opens the registry at `path` for reading only, changing nothing in the file (a backup checked with
    /// `audit verify` keeps its bytes and its checksum): no write-ahead log switched on, no migration. An older
    /// schema is refused, naming what migrates it; a newer one as by `init(path:)`.
    public convenience init(
        readingOnly path: String, evaluator: (any ReadinessEvaluating)? = nil,
        logger: Logger = Logger(label: "peacehub.registry")
    ) throws {
        let (queue, pending) = try Self.openForReading(path)
        guard pending.count < RegistrySchema.versions.count else {
            throw RegistryError(.invalidInput, "\(path) is not a registry database: it has no registry schema")
        }
        guard pending.isEmpty else {
            throw RegistryError(
                .invalidInput,
                "\(path) has an older schema (without \(pending.joined(separator: ", "))): a command that writes "
                    + "migrates it, keeping a copy; this one only reads")
        }
        self.init(
            database: queue, file: DatabaseFileIdentity(path: path), migrationBackup: nil, evaluator: evaluator,
            now: { Date() }, logger: logger)
    }

    /// Throws what opening `path` for the hub would (a file that is no SQLite database or no registry, one of a
    /// newer PeaceHub), changing nothing: for `serve --check-config`. An older schema is no error (the start
    /// migrates it): the schema versions it lacks are returned.
    @discardableResult
    public static func check(path: String) throws -> [String] {
        let (queue, pending) = try openForReading(path)
        try? queue.close()
        return pending
    }

    /// `path` opened read-only, with the schema versions it lacks: nothing in the file changes (no write-ahead log
    /// switched on, no migration). A reader waits for a writer as a write does (the hub's checkpoint holds the file
    /// for a moment).
    private static func openForReading(_ path: String) throws -> (DatabaseQueue, pending: [String]) {
        var configuration = Configuration()
        configuration.readonly = true
        configuration.busyMode = .timeout(30)
        do {
            let queue = try DatabaseQueue(path: path, configuration: configuration)
            return (queue, try pendingVersions(queue, path: path))
        } catch let error as RegistryError {
            throw error
        } catch {
            if let problem = PrivateDatabaseFile.accessProblem(path, writing: false) {
                throw RegistryError(.invalidInput, problem)
            }
            let damaged = (error as? DatabaseError).map { [.SQLITE_CORRUPT, .SQLITE_NOTADB].contains($0.resultCode) }
            throw RegistryError(
                .invalidInput,
                "cannot open the registry database \(path): \(describe(error))"
                    + (damaged == true ? ": the file is damaged; restore it from a backup (docs/operations.md)" : ""))
        }
    }

    /// Runs a trivial read; throws when the database does not answer, or when its path no longer names the file
    /// opened (the hub's readiness check).
    public func probe() throws {
        try file?.verify()
        if let problem = integrityProblem.withLock({ $0 }) { throw RegistryError(.invalidInput, problem) }
        _ = try database.read { db in try Int.fetchOne(db, sql: "SELECT 1") }
    }

    /// `checkIntegrity()` on a background task, for the hub's start: `probe()` fails until the file has been read
    /// whole (ready means checked), and from then on if it is damaged, which is logged.
    public func checkIntegrityInBackground() {
        integrityProblem.withLock {
            $0 = "the registry database \(database.path) is being read whole (the integrity check at start)"
        }
        Task.detached(priority: .background) { [self] in
            do {
                try checkIntegrity()
            } catch {
                logger.critical("registry damaged", metadata: ["reason": "\(error)"])
            }
        }
    }

    /// Reads every page once (`PRAGMA quick_check`: 67 ms for 100,000 people; 1.2 s for 1.1 GB of archived reports
    /// in the page cache, over a minute from a cold disk): a file cut short or damaged (a restore gone wrong, a full
    /// disk) that still opened. What it finds is thrown, and `probe()` reports it from then on.
    public func checkIntegrity() throws {
        let verdict: String?
        do {
            verdict = try database.read { db in try String.fetchOne(db, sql: "PRAGMA quick_check(1)") }
        } catch {
            let reason = "the registry database \(database.path) cannot be read whole: \(Self.describe(error))"
            integrityProblem.withLock { $0 = reason }
            throw RegistryError(.invalidInput, reason)
        }
        guard let verdict, verdict != "ok" else {
            integrityProblem.withLock { $0 = nil }
            return
        }
        let problem = verdict.split(whereSeparator: \.isNewline).joined(separator: "; ")
        let reason =
            "the registry database \(database.path) is damaged (\(cut(problem))): restore it from a backup "
            + "(docs/operations.md)"
        integrityProblem.withLock { $0 = reason }
        throw RegistryError(.invalidInput, reason)
    }

    /// Creates `path` (an empty file is an empty SQLite database) or makes it and its `-wal` and `-shm` files
    /// readable by their owner only: the registry holds dates of birth and medical records.
    static func createPrivately(_ path: String) throws {
        do {
            try PrivateDatabaseFile.prepare(path)
        } catch {
            throw RegistryError(.invalidInput, error.description)
        }
    }

    /// A registry over an existing connection (e.g. an in-memory `DatabaseQueue` in tests), migrated to
    /// the current schema.
    public convenience init(
        database: any DatabaseWriter, evaluator: (any ReadinessEvaluating)? = nil,
        now: @escaping @Sendable () -> Date = { Date() }, logger: Logger = Logger(label: "peacehub.registry")
    ) throws {
        let backup = try Self.migrate(database, path: nil, logger: logger)
        self.init(
            database: database, file: nil, migrationBackup: backup, evaluator: evaluator, now: now, logger: logger)
    }

    private init(
        database: any DatabaseWriter, file: DatabaseFileIdentity?, migrationBackup: URL?,
        evaluator: (any ReadinessEvaluating)?, now: @escaping @Sendable () -> Date, logger: Logger
    ) {
        self.database = database
        self.file = file
        self.migrationBackup = migrationBackup
        self.evaluator = evaluator
        self.now = now
        self.logger = logger
    }

    /// The schema versions `reader` lacks; throws for a file that is no registry, or one of a newer PeaceHub.
    private static func pendingVersions(_ reader: any DatabaseReader, path: String?) throws -> [String] {
        let applied: Set<String>
        do {
            applied = try reader.read { db in try RegistrySchema.migrator.appliedIdentifiers(db) }
        } catch {
            throw RegistryError(
                .invalidInput, "\(path ?? "the database") is not a registry database: \(describe(error))")
        }
        let unknown = applied.subtracting(RegistrySchema.versions).sorted()
        if !unknown.isEmpty {
            throw RegistryError(
                .schemaTooNew,
                "\(path ?? "the database") has schema version(s) \(unknown.joined(separator: ", ")) from a newer "
                    + "PeaceHub; this one knows up to \(RegistrySchema.current). Use a newer peacehub.")
        }
        return RegistrySchema.versions.filter { !applied.contains($0) }
    }

    private static func migrate(_ writer: any DatabaseWriter, path: String?, logger: Logger) throws -> URL? {
        let migrator = RegistrySchema.migrator
        let pending = try pendingVersions(writer, path: path)
        let applied = Set(RegistrySchema.versions).subtracting(pending)
        var backup: URL?
        if let path, !applied.isEmpty, !pending.isEmpty {
            let last = RegistrySchema.versions.last(where: applied.contains)!
            var candidate = URL(fileURLWithPath: path + ".backup-\(last)")
            var suffix = 1
            while FileManager.default.fileExists(atPath: candidate.path) {
                suffix += 1
                candidate = URL(fileURLWithPath: path + ".backup-\(last)-\(suffix)")
            }
            try Self.createPrivately(candidate.path)
            try writer.backup(to: DatabaseQueue(path: candidate.path))
            logger.notice("registry schema \(last) backed up to \(candidate.path) before migrating")
            backup = candidate
        }
        try migrator.migrate(writer)
        return backup
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? DatabaseError { return error.reason }
        return "\(error)"
    }

    static func isCountryCode(_ text: String) -> Bool {
        text.utf8.count == 3 && text.utf8.allSatisfy { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") }
    }

    // MARK: - Helpers for writes

    /// Runs `body` in one write transaction that also appends its audit entries; SQLite constraint
    /// failures become `invalidInput` errors, and a wait for another writer past its time `busy`. The entries'
    /// time is read once the transaction holds the registry, so that it follows their order (read before, a
    /// write that waited up to `writeWait` behind another was stamped before the one it came after).
    func write<T>(_ actor: Actor, _ body: (Database, AuditRecorder) throws -> T) throws -> T {
        do {
            return try database.write { db in
                let audit = AuditRecorder(actor: actor, time: now())
                let result = try body(db, audit)
                try audit.storeHead(db)
                return result
            }
        } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
            throw RegistryError(.invalidInput, "refused by the database: \(Self.describe(error))")
        } catch let error as DatabaseError where error.resultCode == .SQLITE_BUSY {
            var waited = ""
            if case .timeout(let seconds) = database.configuration.busyMode {
                waited = " for \(String(format: "%g", seconds)) s"
            }
            throw RegistryError(
                .busy,
                "another writer (an import, another process) held the registry\(waited): nothing was changed; "
                    + "try again")
        }
    }

    func requireOperator(_ actor: Actor, to action: String) throws {
        guard case .operator = actor else {
            throw RegistryError(.accessDenied, "\(actor) may not \(action): operators only")
        }
    }

    func requireChange(_ actor: Actor, contingent: String, _ what: String) throws {
        guard actor.mayChange(contingent: contingent) else {
            throw RegistryError(.accessDenied, "\(actor) may not change \(what) of contingent \(contingent)")
        }
    }
}

/// Appends audit entries for one write transaction (one actor, one timestamp).
final class AuditRecorder {
    let actor: Registry.Actor
    let time: Date
    /// One encoder for the transaction's records (making one costs more than encoding a small record).
    private let encoder: JSONEncoder
    /// The chain's head after this transaction's last entry; read at its first, stored once at its end
    /// (`storeHead`), not once per entry: a batch of archived reports is one transaction. No write rolls back part
    /// of its transaction, so this is the last entry stored.
    private var head: AuditChain.Head?

    init(actor: Registry.Actor, time: Date) {
        self.actor = actor
        self.time = time
        encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    }

    /// Refuses the write, before it commits, when what it stores could not be kept as given: GRDB hands SQLite
    /// strings as C strings, so a U+0000 would cut the stored text short of what the entry hashes (and the chain
    /// would then report an edit nobody made), and an id's control character could imitate the U+001F that
    /// separates an entry's hashed fields.
    func record(
        _ db: Database, entity: String, id: String, action: String, before: (any Encodable)? = nil,
        after: (any Encodable)? = nil
    ) throws {
        if id.unicodeScalars.contains(where: \.isControl) {
            throw RegistryError(
                .invalidInput, "\(entity) \(cut(id).debugDescription): an id may not hold control characters")
        }
        let afterJSON = try after.map(json)
        if let afterJSON, let field = Self.fieldHoldingNUL(afterJSON) {
            throw RegistryError(.invalidInput, "\(entity) \(cut(id)): \(field): may not hold U+0000 (NUL)")
        }
        var head = try self.head ?? AuditChain.head(db)
        try AuditChain.append(
            db, after: &head, actor: actor.description, time: time, entity: entity, entityId: id, action: action,
            before: try before.map(json), after: afterJSON)
        self.head = head
    }

    /// Stores the head the transaction's entries moved, if any; the last step of the transaction.
    func storeHead(_ db: Database) throws {
        if let head { try AuditChain.store(head, db) }
    }

    func json(_ value: any Encodable) throws -> String {
        String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    /// Whether `before` and `after` would be recorded alike, byte for byte: Swift's `==` takes text that differs
    /// only in its Unicode form for unchanged, and the change would not be stored.
    func same(_ before: some Encodable, _ after: some Encodable) throws -> Bool {
        try encoder.encode(before) == encoder.encode(after)
    }

    /// The path (`languages[0].code`) of the first text in a record's JSON that holds U+0000.
    static func fieldHoldingNUL(_ json: String) -> String? {
        // JSON writes U+0000 as the escape `\u0000`; records hardly ever hold even those six characters.
        guard holdsEscapedNUL(json), let record = try? JSONValue(parsing: Data(json.utf8)) else { return nil }
        func locate(in value: JSONValue, at path: String) -> String? {
            switch value {
            case .string(let text): text.utf8.contains(0) ? path : nil
            case .array(let items):
                items.indices.lazy.compactMap { index in locate(in: items[index], at: "\(path)[\(index)]") }.first
            case .object(let members):
                members.keys.sorted().lazy.compactMap { key in
                    locate(in: members[key]!, at: path.isEmpty ? key : "\(path).\(key)")
                }.first
            default: nil
            }
        }
        return locate(in: record, at: "")
    }

    /// Whether `json` holds the escape `\u0000`, searched for in its contiguous bytes: the standard library's
    /// generic searches (`String.contains`, then `starts(with:)` after every backslash, and an archived report's
    /// body, JSON within JSON, has one before each quote) took 4.5 %, then 2.1 %, of the hub's CPU per report.
    static func holdsEscapedNUL(_ json: String) -> Bool {
        var json = json
        return json.withUTF8 { UnsafeRawBufferPointer($0).contains(utf8: #"\u0000"#) }
    }
}

extension Principal {
    /// Parses `operator:<name>`, `contingent:<CODE>` or a bare ISO 3166 alpha-3 code such as `KAZ`.
    public init?(parsing text: String) {
        if text.hasPrefix("operator:") {
            // A name a certificate could carry: the CLI's `--as` is written to the audit trail as it is.
            let name = String(text.dropFirst("operator:".count))
            guard Principal.isSimpleName(name) else { return nil }
            self = .operator(name)
            return
        }
        let code = text.hasPrefix("contingent:") ? String(text.dropFirst("contingent:".count)) : text
        guard Registry.isCountryCode(code) else { return nil }
        self = .contingent(code)
    }

    /// True when this principal may change records owned by `contingent`.
    public func mayChange(contingent: String) -> Bool {
        switch self {
        case .operator: true
        case .contingent(let own): own == contingent
        }
    }
}
