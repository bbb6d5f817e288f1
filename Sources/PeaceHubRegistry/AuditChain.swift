import COpenSSL
import Foundation
import GRDB
import PeaceHubCore

/// SHA-256 through the system OpenSSL 3 (the project's only cryptography provider).
enum SHA256 {
    static func hex(_ data: Data) -> String {
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        let ok = data.withUnsafeBytes { bytes in
            EVP_Digest(bytes.baseAddress, bytes.count, &digest, &length, EVP_sha256(), nil)
        }
        // EVP_Digest only fails when OpenSSL cannot allocate or lacks SHA-256: nothing can be recorded then.
        precondition(ok == 1 && length == 32, "OpenSSL SHA-256 failed")
        return String(unsafeUninitializedCapacity: 64) { text in
            for (index, byte) in digest.prefix(32).enumerated() {
                text[2 * index] = hexDigits[Int(byte >> 4)]
                text[2 * index + 1] = hexDigits[Int(byte & 0x0f)]
            }
            return 64
        }
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)
}

/// The outcome of `Registry.verifyAudit()`.
public struct AuditVerification: Sendable, Hashable {
    /// The first entry that fails, and why.
    public struct Problem: Sendable, Hashable, CustomStringConvertible {
        public var seq: Int64
        public var reason: String
        public var description: String { "audit entry \(seq): \(reason)" }
    }

    public var entries: Int
    public var problem: Problem?
    /// The hash of the last entry, when the chain is intact: kept elsewhere, it shows the newest entries removed
    /// with the head set back to an earlier entry's (a copy, no hashing), which the keyless chain cannot.
    public var lastHash: String?
    public var isIntact: Bool { problem == nil }
}

/// The audit trail: an append-only SHA-256 hash chain over every write.
///
/// An entry's hash is SHA-256 over the previous entry's hash (64 hex digits; 64 zeros for the first)
/// followed by the canonical bytes: `seq, actor, time, entity, entityId, action, before, after` as UTF-8,
/// each field followed by the unit separator U+001F (absent values are empty). No field may hold U+001F, so
/// the bytes read back one way only: text moved across a separator would keep the hash. The head (newest seq
/// and hash) is also kept in `auditHead`, so removing the newest entries shows too.
enum AuditChain {
    static let genesis = String(repeating: "0", count: 64)

    static func canonicalBytes(
        seq: Int64, actor: String, time: String, entity: String, entityId: String, action: String, before: String?,
        after: String?
    ) -> Data {
        var text = ""
        for field in [String(seq), actor, time, entity, entityId, action, before ?? "", after ?? ""] {
            text += field
            text += "\u{1F}"
        }
        return Data(text.utf8)
    }

    /// The first field of `entry` that holds the separator of the canonical bytes. No write makes one (the
    /// registry refuses control characters, and JSON escapes them), so in a stored entry it is an edit that moved
    /// text from one field into the next and kept the hash.
    static func fieldHoldingSeparator(_ entry: AuditEntry) -> String? {
        let fields: KeyValuePairs<String, String?> = [
            "actor": entry.actor, "time": entry.time, "entity": entry.entity, "entityId": entry.entityId,
            "action": entry.action, "before": entry.before, "after": entry.after,
        ]
        // U+001F is the byte 0x1F in UTF-8, and no other character's bytes hold it.
        return fields.first { $0.value?.utf8.contains(0x1F) == true }?.key
    }

    /// `before` or `after` when it is empty text. The canonical bytes give an absent record as empty, and a record
    /// is JSON, never empty: an empty one in a stored entry is an edit that kept the hash.
    static func emptyRecordField(_ entry: AuditEntry) -> String? {
        if entry.before?.isEmpty == true { return "before" }
        if entry.after?.isEmpty == true { return "after" }
        return nil
    }

    static func hash(previous: String, entry: AuditEntry) -> String {
        var data = Data(previous.utf8)
        data.append(
            canonicalBytes(
                seq: entry.seq, actor: entry.actor, time: entry.time, entity: entry.entity, entityId: entry.entityId,
                action: entry.action, before: entry.before, after: entry.after))
        return SHA256.hex(data)
    }

    /// The newest entry's number and hash, as a write transaction moves it.
    struct Head {
        var seq: Int64
        var hash: String
    }

    /// The head as stored, once it is known to be the newest entry's; read at a write transaction's first entry.
    static func head(_ db: Database) throws -> Head {
        let head = try Row.fetchOne(db.cachedStatement(sql: "SELECT seq, hash FROM auditHead WHERE id = 1"))
        let seq: Int64 = head?["seq"] ?? 0
        // A head that is not the newest entry's, edited by hand: behind, the entry would take the number of one
        // that exists (refused by a constraint, as if the caller's input were wrong); ahead, the hub's own write
        // would leave a gap that reads as deleted entries.
        let newest = try Int64.fetchOne(db.cachedStatement(sql: "SELECT max(seq) FROM auditEntry")) ?? 0
        guard newest == seq else {
            throw RegistryError(
                .damaged,
                "the audit chain's head records entry \(seq) but the newest is \(newest): the registry was "
                    + "edited outside the hub (`peacehub registry audit verify` names where); nothing was written")
        }
        return Head(seq: seq, hash: head?["hash"] ?? genesis)
    }

    /// Appends one entry after `head` and moves `head` to it; call inside the write transaction that makes the
    /// change, and `store` the head before it commits.
    static func append(
        _ db: Database, after head: inout Head, actor: String, time: Date, entity: String, entityId: String,
        action: String, before: String?, after: String?
    ) throws {
        var entry = AuditEntry(
            seq: head.seq + 1, actor: actor, time: timestamp(time), entity: entity, entityId: entityId,
            action: action, before: before, after: after, hash: "")
        if let field = fieldHoldingSeparator(entry) {
            throw RegistryError(.invalidInput, "the audit entry's \(field) holds the field separator U+001F")
        }
        if let field = emptyRecordField(entry) {
            throw RegistryError(.invalidInput, "the audit entry's \(field) is empty (a record, or none)")
        }
        entry.hash = hash(previous: head.hash, entry: entry)
        // A statement of our own: GRDB's record insert built its SQL and encoded the record for every entry,
        // seven times what SQLite took to store it (docs/performance.md, item 31).
        try db.cachedStatement(
            sql: """
                INSERT INTO auditEntry (seq, actor, time, entity, entityId, action, before, after, hash)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """
        ).execute(arguments: [
            entry.seq, entry.actor, entry.time, entry.entity, entry.entityId, entry.action, entry.before,
            entry.after, entry.hash,
        ])
        head = Head(seq: entry.seq, hash: entry.hash)
    }

    /// Writes the head a transaction's entries moved; once per transaction, before it commits.
    static func store(_ head: Head, _ db: Database) throws {
        try db.cachedStatement(
            sql: """
                INSERT INTO auditHead (id, seq, hash) VALUES (1, ?, ?)
                ON CONFLICT(id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash
                """
        ).execute(arguments: [head.seq, head.hash])
    }

    /// Walks the chain in seq order and reports the first entry that is missing, out of place or altered.
    static func verify(_ db: Database) throws -> AuditVerification {
        var expectedSeq: Int64 = 1
        var previousHash = genesis
        var count = 0
        // Text is read up to its first NUL, so text appended after one would pass the hash; no write stores one.
        let fields = ["actor", "time", "entity", "entityId", "action", "before", "after", "hash"]
        let holdingNUL = try Set(
            Int64.fetchAll(
                db,
                sql: "SELECT seq FROM auditEntry WHERE "
                    + fields.map { "instr(CAST(\($0) AS BLOB), x'00') > 0" }.joined(separator: " OR ")))
        let cursor = try AuditEntry.order(AuditEntry.Columns.seq).fetchCursor(db)
        while let entry = try cursor.next() {
            count += 1
            if entry.seq > expectedSeq {
                return AuditVerification(
                    entries: count,
                    problem: .init(
                        seq: expectedSeq,
                        reason: "missing (the chain jumps from \(expectedSeq - 1) to \(entry.seq)): deleted"))
            }
            if entry.seq < expectedSeq {
                return AuditVerification(
                    entries: count,
                    problem: .init(
                        seq: expectedSeq,
                        reason: "an entry numbered \(entry.seq) where \(expectedSeq) was due: inserted or renumbered"))
            }
            if holdingNUL.contains(entry.seq) {
                return AuditVerification(
                    entries: count,
                    problem: .init(
                        seq: entry.seq, reason: "a field holds a NUL byte past its text: the entry was edited"))
            }
            if let field = fieldHoldingSeparator(entry) {
                return AuditVerification(
                    entries: count,
                    problem: .init(
                        seq: entry.seq, reason: "its \(field) holds the field separator U+001F: the entry was edited"))
            }
            if let field = emptyRecordField(entry) {
                return AuditVerification(
                    entries: count,
                    problem: .init(
                        seq: entry.seq,
                        reason: "its \(field) is empty where a record or none was: the entry was edited"))
            }
            if hash(previous: previousHash, entry: entry) != entry.hash {
                return AuditVerification(
                    entries: count,
                    problem: .init(
                        seq: entry.seq,
                        reason: "hash mismatch: the entry was edited or moved (\(entry.entity) \(entry.entityId))"))
            }
            previousHash = entry.hash
            expectedSeq += 1
        }
        let head = try Row.fetchOne(
            db, sql: "SELECT seq, hash, instr(CAST(hash AS BLOB), x'00') > 0 AS edited FROM auditHead WHERE id = 1")
        let headSeq: Int64 = head?["seq"] ?? 0
        let headHash: String = head?["hash"] ?? genesis
        if headSeq != expectedSeq - 1 {
            return AuditVerification(
                entries: count,
                problem: .init(
                    seq: min(headSeq, expectedSeq - 1) + 1,
                    reason: "the chain ends at \(expectedSeq - 1) but its head records \(headSeq): "
                        + "entries deleted or head edited"))
        }
        if headHash != previousHash || head?["edited"] == true {
            return AuditVerification(
                entries: count,
                problem: .init(
                    seq: headSeq,
                    reason: "the head's hash is not that of entry \(headSeq), the last: the head was edited"))
        }
        return AuditVerification(entries: count, problem: nil, lastHash: count == 0 ? nil : previousHash)
    }

    static func timestamp(_ date: Date) -> String {
        UTCTimestamp.string(date, withMilliseconds: true)
    }
}
