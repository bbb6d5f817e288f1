import Foundation
import GRDB
import PeaceHubTesting
import Synchronization
import Testing

@testable import PeaceHubRegistry

@Suite("Audit hash chain")
struct AuditTests {
    @Test func everyWriteIsRecordedAndTheChainVerifies() throws {
        let registry = try makeRegistry()
        let before = try registry.auditEntries(as: operatorActor).count
        try registry.updatePerson(serviceNumber: "KAZ-1", as: kazakhstan) { $0.rank = "Major" }
        let entries = try registry.auditEntries(as: operatorActor)
        #expect(entries.count == before + 1)
        let last = try #require(entries.first)
        #expect(last.actor == "contingent:KAZ")
        #expect(last.entity == "person")
        #expect(last.entityId == "KAZ-1")
        #expect(last.action == "update")
        #expect(last.before?.contains(#""rank":"Captain""#) == true)
        #expect(last.after?.contains(#""rank":"Major""#) == true)
        #expect(last.hash.count == 64)
        let result = try registry.verifyAudit(as: operatorActor)
        #expect(result.isIntact)
        #expect(result.entries == entries.count)
    }

    /// The byte search that decides whether a record's JSON is parsed for a NUL finds the escape anywhere, and
    /// only the escape.
    @Test func theEscapedNULIsFoundInTheBytes() {
        for json in [#"\u0000"#, #"{"a":"x\u0000"}"#, #"{"a":"\\","b":"\u0000y"}"#, #"{"Ну":"\u0000"}"#] {
            #expect(AuditRecorder.holdsEscapedNUL(json), "\(json)")
        }
        for json in ["", #"\"#, #"{"a":"\u000"}"#, #"{"a":"\u0001","b":"u0000"}"#, #"{"a":"\n"}"#] {
            #expect(!AuditRecorder.holdsEscapedNUL(json), "\(json)")
        }
    }

    /// GRDB hands SQLite strings as C strings: text with U+0000 was stored cut short of what its audit entry
    /// hashed, and the untouched chain then failed verification. Refused, with the field named; and an id's
    /// control character could pass for the separator of the hashed fields. Names with escape sequences reached
    /// operators' terminals; identifiers that differ only in Unicode form or invisible characters look alike.
    @Test func controlCharactersAndLookalikeIdentifiersAreRefused() throws {
        let registry = try makeRegistry()
        let dump = try contentDump(registry)
        func refusal(_ write: () throws -> Void) -> String? {
            do {
                try write()
                return nil
            } catch let error as RegistryError {
                return error.code == .invalidInput ? error.reason : "\(error)"
            } catch {
                return "\(error)"
            }
        }
        var named = person("KAZ-700", contingent: "KAZ")
        named.latinName = "Nul\u{0} Test"
        #expect(
            refusal { try registry.addPerson(named, as: kazakhstan) }
                == "person KAZ-700: latinName: may not hold U+0000 (NUL)")
        var numbered = person("KAZ-700\u{0}x", contingent: "KAZ")
        numbered.latinName = "Test"
        let badNumber = "serviceNumber: must be non-empty without spaces, control or invisible characters"
        #expect(refusal { try registry.addPerson(numbered, as: kazakhstan) }?.contains(badNumber) == true)
        #expect(
            refusal {
                try registry.updatePerson(serviceNumber: "KAZ-1", as: kazakhstan) { $0.serviceNumber = "KAZ\u{1F}1" }
            }?.contains(badNumber) == true)
        let cut = refusal {
            try registry.updatePerson(serviceNumber: "KAZ-1", as: kazakhstan) { $0.cyrillicName = "Ну\u{0}л" }
        }
        #expect(cut == "person KAZ-1: cyrillicName: may not hold U+0000 (NUL)")
        let equipment = Equipment(
            contingent: "KAZ", coeClass: .majorEquipment, category: "APC", serial: "KAZ-EQ\u{0}-9", leaseType: .wet)
        #expect(
            refusal { _ = try registry.addEquipment(equipment, as: kazakhstan) }
                == "equipment serial: must be non-empty without spaces, control or invisible characters")
        #expect(try contentDump(registry) == dump)
        #expect(try registry.verifyAudit(as: operatorActor).isIntact)
        // Text for a terminal: no escape sequence or line break in a name; identifiers in one Unicode form, without
        // invisible characters that make two look alike.
        var escaped = person("KAZ-701", contingent: "KAZ")
        escaped.latinName = "\u{1B}]0;pwned\u{7}\u{1B}[2J"
        #expect(
            refusal { try registry.addPerson(escaped, as: kazakhstan) }
                == "person KAZ-701: latinName: may not hold control characters")
        for hidden in [
            "KAZ-1\u{200B}", "KAZ-1\u{AD}", "KAZ-I\u{306}", "KAZ-1\u{FE0F}", "KAZ-1\u{34F}", "KAZ-1\u{3164}",
            "KAZ-1\u{115F}", "KAZ-1" + String(repeating: "\u{300}", count: 500),
        ] {
            let refused = refusal { try registry.addPerson(person(hidden, contingent: "KAZ"), as: kazakhstan) }
            #expect(refused != nil, "\(hidden)")
        }
        try registry.addPerson(person("KAZ-\u{419}", contingent: "KAZ"), as: kazakhstan)
        #expect(
            refusal { try registry.updatePerson(serviceNumber: "KAZ-1", as: kazakhstan) { $0.rank = "Major\n" } }
                == "person KAZ-1: rank: may not hold control characters")
        // White space alone is no value: a required rank of spaces passed, an optional name kept an ideographic one.
        #expect(
            refusal { try registry.updatePerson(serviceNumber: "KAZ-1", as: kazakhstan) { $0.rank = "  " } }
                == "person KAZ-1: rank: is blank (white space only)")
        #expect(
            refusal {
                try registry.updatePerson(serviceNumber: "KAZ-1", as: kazakhstan) { $0.cyrillicName = "\u{3000}" }
            } == "person KAZ-1: cyrillicName: is blank (white space only)")
        var long = person("KAZ-702", contingent: "KAZ")
        // Counted in scalars: one grapheme may carry any number of combining marks.
        for name in [String(repeating: "a", count: 1025), "Z" + String(repeating: "\u{300}", count: 1024)] {
            long.latinName = name
            #expect(
                refusal { try registry.addPerson(long, as: kazakhstan) }
                    == "person KAZ-702: latinName: is longer than 1024 characters")
        }
        // A bad value is named cut short (a 1 MB nationality came back whole in the refusal, and in the API's).
        var far = person("KAZ-704", contingent: "KAZ")
        far.nationality = String(repeating: "Z", count: 1 << 20)
        #expect(
            refusal { try registry.addPerson(far, as: kazakhstan) }
                == "person KAZ-704: nationality: '\(String(repeating: "Z", count: 40))… (1048576 bytes)' is not an "
                + "ISO 3166 alpha-3 code")
        // A line separator or a bidirectional override: a line break to some viewers, and text shown reversed
        // ("KAZ" + RLO + "gnp.exe" reads as KAZexe.png); the right-to-left mark and the joiners stay allowed.
        var spoofed = person("KAZ-705", contingent: "KAZ")
        let bidi = "a bidirectional embedding, override or isolate"
        for (name, code, kind) in [
            ("Ali\u{202E}gnp", "202E", bidi), ("Ali\u{2028}x", "2028", "a line or paragraph separator"),
            ("Ali\u{2067}x", "2067", bidi),
        ] {
            spoofed.latinName = name
            #expect(
                refusal { try registry.addPerson(spoofed, as: kazakhstan) }
                    == "person KAZ-705: latinName: may not hold U+\(code) (\(kind))")
        }
        spoofed.latinName = "Ali\u{200F}\u{200D}x"
        #expect(refusal { try registry.addPerson(spoofed, as: kazakhstan) } == nil)
        // The service number that names the person in the refusal is cut too, and so is one looked up.
        let farNumber = "KAZ-" + String(repeating: "7", count: 3000)
        #expect(
            refusal { try registry.addPerson(person(farNumber, contingent: "KAZ"), as: kazakhstan) }?.hasPrefix(
                "person KAZ-\(String(repeating: "7", count: 36))… (3004 bytes): serviceNumber: is longer than 64 "
                    + "characters") == true)
        #expect(
            #expect(throws: RegistryError.self) { try registry.person(serviceNumber: farNumber, as: kazakhstan) }?
                .reason == "no person with service number KAZ-\(String(repeating: "7", count: 36))… (3004 bytes)")
        // A language given twice, or a list past the limit (a 10 MB cell of `en:B2;` was stored whole).
        var speaker = person("KAZ-703", contingent: "KAZ")
        speaker.languages = [LanguageSkill(code: "en", level: .b2), LanguageSkill(code: "en", level: .c1)]
        #expect(
            refusal { try registry.addPerson(speaker, as: kazakhstan) }
                == "person KAZ-703: languages: 'en' appears more than once")
        speaker.languages = Array(repeating: LanguageSkill(code: "en", level: .b2), count: 100_000)
        #expect(
            refusal { try registry.addPerson(speaker, as: kazakhstan) }
                == "person KAZ-703: languages: has 100000 items; at most 32")
        #expect(
            refusal {
                let contingent = Contingent(code: "UZB", name: "Uz\u{1B}[2J", pcrsLevel: .none)
                try registry.addContingent(contingent, as: operatorActor)
            } == "contingent: name: may not hold control characters")
        #expect(
            refusal {
                let mission = Mission(code: "UNDOF", name: "Golan\n")
                try registry.addMission(mission, activeSince: day("1974-05-31"), as: operatorActor)
            } == "mission: name: may not hold control characters")
        let longNumber = "KAZ-" + String(repeating: "9", count: 61)
        #expect(refusal { try registry.addPerson(person(longNumber, contingent: "KAZ"), as: kazakhstan) } != nil)
        var tour = plan("KAZ-1", "2027-03-01", "2027-09-01")
        tour.post = "Post\u{1B}[31m"
        #expect(
            refusal { _ = try registry.planDeployment(tour, as: kazakhstan) }
                == "deployment: post: may not hold control characters")
    }

    /// A batch of archived reports is one transaction, and its entries move the chain's head in memory: the head
    /// is read, checked against the newest entry and stored once per transaction, not once per entry.
    @Test func aTransactionReadsAndStoresTheChainsHeadOnce() throws {
        let registry = try makeRegistry()
        let statements = Mutex<[String]>([])
        try registry.database.write { db in
            db.trace { event in statements.withLock { $0.append("\(event)") } }
        }
        let reports = (1...3).map { number in
            ArchivedReport(
                mission: "UNIFIL", type: "PATROL", sender: "KAZ", receivedAt: "2026-12-06T10:00:00Z",
                precedence: "ROUTINE", body: #"{"patrol":\#(number),"note":"\"quoted\""}"#)
        }
        let ids = try registry.archiveReports(reports)
        try registry.database.write { db in db.trace(options: [], nil) }
        let sql = statements.withLock { $0 }
        #expect(sql.filter { $0.contains("FROM auditHead") }.count == 1)
        #expect(sql.filter { $0.contains("max(seq) FROM auditEntry") }.count == 1)
        let inserts = sql.filter { $0.hasPrefix("INSERT INTO") }
        #expect(inserts.filter { $0.contains("auditHead") }.count == 1)
        #expect(inserts.filter { $0.contains("auditEntry") }.count == 3)
        let newest = Array(try registry.auditEntries(as: operatorActor).prefix(3).reversed())
        #expect(newest.map(\.entityId) == ids.map(String.init))
        #expect(newest.last?.after?.contains(#""id":\#(ids[2])"#) == true)
        let verification = try registry.verifyAudit(as: operatorActor)
        #expect(verification.isIntact)
        #expect(verification.lastHash == newest.last?.hash)
    }

    @Test func theHashIsSHA256OverThePreviousHashAndTheCanonicalBytes() throws {
        #expect(SHA256.hex(Data("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let registry = try makeRegistry()
        let entries = Array(try registry.auditEntries(as: operatorActor).reversed())
        let first = entries[0]
        let canonical = AuditChain.canonicalBytes(
            seq: first.seq, actor: first.actor, time: first.time, entity: first.entity, entityId: first.entityId,
            action: first.action, before: first.before, after: first.after)
        #expect(first.hash == SHA256.hex(Data(AuditChain.genesis.utf8) + canonical))
        #expect(entries[1].hash == AuditChain.hash(previous: first.hash, entry: entries[1]))
    }

    @Test func anEditedEntryIsNamed() throws {
        let registry = try makeRegistry()
        try registry.database.write { db in
            try db.execute(sql: "UPDATE auditEntry SET after = replace(after, 'Captain', 'General') WHERE seq = 12")
        }
        let result = try registry.verifyAudit(as: operatorActor)
        #expect(result.problem?.seq == 12)
        #expect(result.problem?.reason.contains("edited") == true)
    }

    /// The hashed bytes join the fields with U+001F: text moved across one (part of the time into the actor) kept
    /// the hash. No write stores the separator, so an entry that holds one was edited.
    @Test func textMovedAcrossTheFieldSeparatorIsNamed() throws {
        let registry = try makeRegistry()
        try registry.database.write { db in
            try db.execute(
                sql: """
                    UPDATE auditEntry SET actor = substr(actor, 1, length(actor) - 2),
                    time = substr(actor, length(actor) - 1) || char(31) || time WHERE seq = 12
                    """)
        }
        let result = try registry.verifyAudit(as: operatorActor)
        #expect(result.problem?.seq == 12)
        #expect(result.problem?.reason == "its time holds the field separator U+001F: the entry was edited")
        #expect(Registry.Actor(parsing: "operator:eve\u{1F}x") == nil)
        #expect(Registry.Actor(parsing: "operator:eve") == .operator("eve"))
    }

    /// An absent record and empty text give the same hashed bytes; no write stores empty text, so one was edited.
    @Test func anAbsentRecordMadeEmptyIsNamed() throws {
        let registry = try makeRegistry()
        let created = try #require(try registry.auditEntries(limit: 100, as: operatorActor).last { $0.before == nil })
        try registry.database.write { db in
            try db.execute(sql: "UPDATE auditEntry SET before = '' WHERE seq = ?", arguments: [created.seq])
        }
        let result = try registry.verifyAudit(as: operatorActor)
        #expect(result.problem?.seq == created.seq)
        #expect(result.problem?.reason == "its before is empty where a record or none was: the entry was edited")
    }

    /// An operator named on the command line (`--as`) is one a certificate could name: the audit trail stored a
    /// right-to-left override, a line separator or 5,000 characters as the actor.
    @Test func anActorIsANameACertificateCouldCarry() {
        for text in ["operator:\u{202E}ytud", "operator:duty\u{2028}forged", "operator:" + String(repeating: "a", count: 65),
            "operator:", "operator:.hidden"]
        {
            #expect(Registry.Actor(parsing: text) == nil, "\(text.unicodeScalars.count) scalars")
        }
        #expect(Registry.Actor(parsing: "operator:duty-2.night_shift") == .operator("duty-2.night_shift"))
    }

    /// A registry file gone from its path is named as removed or moved (a data directory moved under the running
    /// hub read as "removed", though every write was kept in the moved file).
    @Test func aRegistryFileGoneFromItsPathIsNamedAsRemovedOrMoved() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let registry = try Registry(path: folder.path("registry.sqlite"))
        try registry.probe()
        #expect(rename(folder.path("registry.sqlite"), folder.path("moved.sqlite")) == 0)
        #expect {
            try registry.probe()
        } throws: { error in
            "\(error)".contains("no longer names the file opened (removed, or moved with its folder)")
        }
    }

    /// An empty chain verifies with no last hash (it gave the genesis value, the hash of no entry).
    @Test func anEmptyChainHasNoLastHash() throws {
        let registry = try Registry(database: try DatabaseQueue())
        let result = try registry.verifyAudit(as: operatorActor)
        #expect(result.isIntact && result.entries == 0 && result.lastHash == nil)
    }

    /// Setting a contingent's PCRS level to what it is writes nothing, as every update that changes nothing.
    @Test func aPCRSLevelSetAgainLeavesNoEntry() throws {
        let registry = try makeRegistry()
        let date = try #require(CalendarDate("2026-11-01"))
        try registry.setPCRSLevel(contingent: "KAZ", level: .level2, evidence: "SUR-1", on: date, as: operatorActor)
        let count = try registry.auditEntries(limit: 500, as: operatorActor).count
        try registry.setPCRSLevel(contingent: "KAZ", level: .level2, evidence: "SUR-1", on: date, as: operatorActor)
        #expect(try registry.auditEntries(limit: 500, as: operatorActor).count == count)
    }

    /// An entry's time is read once its write holds the registry: a write that waited behind another process's
    /// was stamped with the time it was asked for, before entries ahead of it in the chain.
    @Test func anEntrysTimeIsTakenOnceTheWriteHoldsTheRegistry() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let path = folder.path("registry.sqlite")
        let released = Atomic(false)
        let registry = try Registry(
            path: path, now: { Date(timeIntervalSince1970: released.load(ordering: .relaxed) ? 3_000 : 1_000) })
        try registry.addContingent(Contingent(code: "KAZ", name: "Kazakhstan"), as: operatorActor)
        // Another process holds the write lock for a moment; the write below waits for it.
        var holding = Configuration()
        holding.allowsUnsafeTransactions = true
        let other = try DatabaseQueue(path: path, configuration: holding)
        try other.inDatabase { db in try db.execute(sql: "BEGIN IMMEDIATE") }
        let holder = Thread {
            usleep(300_000)
            released.store(true, ordering: .relaxed)
            try? other.inDatabase { db in try db.execute(sql: "COMMIT") }
        }
        holder.start()
        try registry.addContingent(Contingent(code: "KGZ", name: "Kyrgyzstan"), as: operatorActor)
        let newest = try #require(try registry.auditEntries(limit: 1, as: operatorActor).first)
        #expect(newest.entityId == "KGZ")
        #expect(newest.time == "1970-01-01T00:50:00.000Z", "stamped once it held the registry")
    }

    /// Text is read up to its first NUL: text added after one (a forged actor, a later time) kept the hash.
    @Test(arguments: ["actor", "time", "after", "hash"])
    func textAfterANULIsNamed(field: String) throws {
        let registry = try makeRegistry()
        try registry.database.write { db in
            try db.execute(
                sql: "UPDATE auditEntry SET \(field) = \(field) || char(0) || ' operator:mallory' WHERE seq = 12")
        }
        let result = try registry.verifyAudit(as: operatorActor)
        #expect(result.problem?.seq == 12)
        #expect(result.problem?.reason == "a field holds a NUL byte past its text: the entry was edited")
    }

    /// The head's hash is read up to a NUL too.
    @Test func aHeadHashWithTextAfterANULIsNamed() throws {
        let registry = try makeRegistry()
        try registry.database.write { db in
            try db.execute(sql: "UPDATE auditHead SET hash = hash || char(0) || 'forged'")
        }
        let result = try registry.verifyAudit(as: operatorActor)
        #expect(result.problem?.reason.hasPrefix("the head's hash is not that of entry") == true, "\(result)")
    }

    /// An entry numbered below its place (a row inserted as number 0) is named as inserted, not as a gap.
    @Test func anEntryNumberedBelowItsPlaceIsNamed() throws {
        let registry = try makeRegistry()
        try registry.database.write { db in
            try db.execute(
                sql: """
                    INSERT INTO auditEntry (seq, actor, time, entity, entityId, action, before, after, hash)
                    SELECT 0, actor, time, entity, entityId, action, before, after, hash FROM auditEntry WHERE seq = 1
                    """)
        }
        let result = try registry.verifyAudit(as: operatorActor)
        #expect(result.problem?.seq == 1)
        #expect(result.problem?.reason == "an entry numbered 0 where 1 was due: inserted or renumbered")
    }

    @Test func aDeletedEntryIsNamed() throws {
        let registry = try makeRegistry()
        try registry.database.write { db in try db.execute(sql: "DELETE FROM auditEntry WHERE seq = 5") }
        let result = try registry.verifyAudit(as: operatorActor)
        #expect(result.problem?.seq == 5)
        #expect(result.problem?.reason.contains("deleted") == true)
    }

    @Test func deletingTheNewestEntriesIsNoticed() throws {
        let registry = try makeRegistry()
        let count = try registry.auditEntries(as: operatorActor).count
        try registry.database.write { db in
            try db.execute(sql: "DELETE FROM auditEntry WHERE seq >= ?", arguments: [count - 1])
        }
        #expect(try registry.verifyAudit(as: operatorActor).problem?.seq == Int64(count - 1))
    }

    /// A head removed, set back or forward by hand: the next write is refused as a damaged registry, naming the
    /// head (behind, it was a 422 "UNIQUE constraint failed: auditEntry.seq", the caller's input to blame; ahead,
    /// the write left a gap that `audit verify` called deleted entries), and writes nothing.
    @Test(arguments: ["DELETE FROM auditHead", "UPDATE auditHead SET seq = 3", "UPDATE auditHead SET seq = seq + 5"])
    func aHeadBehindItsEntriesRefusesWritesAsDamage(edit: String) throws {
        let registry = try makeRegistry()
        try registry.database.write { db in try db.execute(sql: edit) }
        let before = try registry.auditEntries(limit: 500, as: operatorActor).count
        #expect {
            try registry.updatePerson(serviceNumber: "KAZ-1", as: kazakhstan) { $0.rank = "Major" }
        } throws: { error in
            let error = error as? RegistryError
            return error?.code == .damaged && error?.reason.hasPrefix("the audit chain's head records entry") == true
        }
        #expect(try registry.auditEntries(limit: 500, as: operatorActor).count == before)
        #expect(try registry.person(serviceNumber: "KAZ-1", as: operatorActor).person.rank != "Major")
    }

    @Test func anEditedHeadIsNamedAsSuch() throws {
        let registry = try makeRegistry()
        let count = try registry.auditEntries(as: operatorActor).count
        try registry.database.write { db in
            try db.execute(sql: "UPDATE auditHead SET hash = '00' || substr(hash, 3)")
        }
        let problem = try #require(try registry.verifyAudit(as: operatorActor).problem)
        #expect(problem.seq == Int64(count))
        #expect(problem.reason == "the head's hash is not that of entry \(count), the last: the head was edited")
    }

    @Test func reorderedEntriesAreNamed() throws {
        let registry = try makeRegistry()
        try registry.database.write { db in
            try db.execute(sql: "UPDATE auditEntry SET seq = -1 WHERE seq = 7")
            try db.execute(sql: "UPDATE auditEntry SET seq = 7 WHERE seq = 8")
            try db.execute(sql: "UPDATE auditEntry SET seq = 8 WHERE seq = -1")
        }
        let result = try registry.verifyAudit(as: operatorActor)
        #expect(result.problem?.seq == 7)
    }

    @Test func importsAndSeedsAreAuditedToo() throws {
        let registry = try Registry(database: try DatabaseQueue())
        try SeedData.load(into: registry)
        #expect(try registry.verifyAudit(as: operatorActor).isIntact)
        #expect(try registry.auditEntries(as: operatorActor).count > 100)
    }

    @Test func onlyOperatorsReadOrVerifyTheTrail() throws {
        let registry = try makeRegistry()
        expectRegistryError(.accessDenied) { _ = try registry.auditEntries(as: kazakhstan) }
        expectRegistryError(.accessDenied) { _ = try registry.verifyAudit(as: kazakhstan) }
    }

    @Test func entriesComeNewestFirstInPages() throws {
        let registry = try makeRegistry()
        let all = try registry.auditEntries(as: operatorActor)
        #expect(all.map(\.seq) == all.map(\.seq).sorted(by: >))
        let first = try registry.auditEntries(limit: 3, as: operatorActor)
        let second = try registry.auditEntries(before: first.last!.seq, limit: 3, as: operatorActor)
        #expect((first + second).map(\.seq) == Array(all.prefix(6)).map(\.seq))
    }
}
