import Foundation
import GRDB
import PeaceHubCore

// Writes to contingents, missions, persons, qualifications, equipment and the report archive.
// Each checks the actor, validates, changes the rows and appends the audit entry in one transaction.

extension Registry {
    // MARK: - Contingents and missions (operators only: PCRS levels and mandates come from the UN)

    public func addContingent(_ contingent: Contingent, as actor: Actor) throws {
        try requireOperator(actor, to: "add contingents")
        guard Self.isCountryCode(contingent.code) else {
            throw RegistryError(
                .invalidInput, "contingent code '\(cut(contingent.code))' is not an ISO 3166 alpha-3 code")
        }
        guard !contingent.name.isEmpty else { throw RegistryError(.invalidInput, "contingent name is empty") }
        try Self.refuseBadText(
            in: [("name", contingent.name), ("pcrsEvidence", contingent.pcrsEvidence)], of: "contingent")
        try write(actor) { db, audit in
            guard try !contingent.exists(db) else {
                throw RegistryError(.alreadyExists, "contingent \(contingent.code) already exists")
            }
            try contingent.insert(db)
            try audit.record(db, entity: "contingent", id: contingent.code, action: "create", after: contingent)
        }
    }

    /// Records a new PCRS level with its evidence (an assessment visit report, a SUR id...).
    public func setPCRSLevel(
        contingent code: String, level: PCRSLevel, evidence: String?, on date: CalendarDate, as actor: Actor
    ) throws {
        try requireOperator(actor, to: "change PCRS levels")
        try Self.refuseBadText(in: [("pcrsEvidence", evidence)], of: "contingent")
        try write(actor) { db, audit in
            guard let before = try Contingent.fetchOne(db, key: code) else {
                throw RegistryError(.notFound, "no contingent \(code)")
            }
            var after = before
            after.pcrsLevel = level
            after.pcrsEvidence = evidence
            after.pcrsEvidenceDate = date
            // An update that changes nothing writes nothing, as every update (registry.md).
            guard after != before else { return }
            try after.update(db)
            try audit.record(db, entity: "contingent", id: code, action: "update", before: before, after: after)
        }
    }

    /// Adds a mission that is active from `activeSince`.
    public func addMission(_ mission: Mission, activeSince: CalendarDate, as actor: Actor) throws {
        try requireOperator(actor, to: "add missions")
        guard !mission.code.isEmpty, mission.code.allSatisfy({ $0.isUppercase || $0.isNumber || $0 == "-" }) else {
            throw RegistryError(
                .invalidInput, "mission code '\(cut(mission.code))' must be upper-case letters and digits")
        }
        try Self.refuseBadText(in: [("name", mission.name)], of: "mission")
        try write(actor) { db, audit in
            guard try !mission.exists(db) else {
                throw RegistryError(.alreadyExists, "mission \(mission.code) already exists")
            }
            try mission.insert(db)
            let phase = MissionPhase(mission: mission.code, lifecycle: .active, since: activeSince)
            try phase.insert(db)
            try audit.record(db, entity: "mission", id: mission.code, action: "create", after: mission)
            try audit.record(db, entity: "missionPhase", id: mission.code, action: "create", after: phase)
        }
    }

    /// Moves a mission to a later lifecycle phase from `since` on (possibly in the future: a decided
    /// drawdown). Phases only move forward, in date order.
    public func addMissionPhase(
        mission code: String, lifecycle: MissionLifecycle, since: CalendarDate, as actor: Actor
    ) throws {
        try requireOperator(actor, to: "change mission lifecycles")
        try write(actor) { db, audit in
            guard try Mission.exists(db, key: code) else { throw RegistryError(.notFound, "no mission \(code)") }
            let last = try MissionPhase.filter(MissionPhase.Columns.mission == code)
                .order(MissionPhase.Columns.since.desc).fetchOne(db)
            if let last, !(lifecycle > last.lifecycle && since > last.since) {
                throw RegistryError(
                    .invariantViolated,
                    "\(code) is \(last.lifecycle.rawValue) since \(last.since); a new phase must come later in "
                        + "both order (ACTIVE → DRAWDOWN → LIQUIDATION → CLOSED) and date")
            }
            let phase = MissionPhase(mission: code, lifecycle: lifecycle, since: since)
            try phase.insert(db)
            try audit.record(db, entity: "missionPhase", id: code, action: "create", after: phase)
        }
    }

    // MARK: - Persons

    public func addPerson(_ person: Person, as actor: Actor) throws {
        var person = person
        person.id = nil
        person.dropEmptyText()
        try validate(person)
        try requireChange(actor, contingent: person.contingent, "people")
        try write(actor) { db, audit in
            try requireContingent(db, person.contingent)
            guard try Person.filter(Person.Columns.serviceNumber == person.serviceNumber).fetchCount(db) == 0 else {
                throw RegistryError(.alreadyExists, "service number \(person.serviceNumber) is already registered")
            }
            try person.insert(db)
            try audit.record(db, entity: "person", id: person.serviceNumber, action: "create", after: person)
        }
    }

    /// Changes a person through `change`. A contingent may change only its own people and may not move
    /// them to another contingent.
    public func updatePerson(serviceNumber: String, as actor: Actor, change: (inout Person) throws -> Void) throws {
        try write(actor) { db, audit in
            let before = try requirePerson(db, serviceNumber)
            try requireChange(actor, contingent: before.contingent, "people")
            var after = before
            try change(&after)
            after.id = before.id
            after.dropEmptyText()
            try validate(after, stored: before)
            try requireChange(actor, contingent: after.contingent, "people")
            try requireContingent(db, after.contingent)
            if after.serviceNumber != before.serviceNumber,
                try Person.filter(Person.Columns.serviceNumber == after.serviceNumber).fetchCount(db) > 0
            {
                throw RegistryError(.alreadyExists, "service number \(after.serviceNumber) is already registered")
            }
            // An update that changes nothing (an empty PATCH) leaves no audit entry.
            guard try !audit.same(before, after) else { return }
            try after.update(db)
            try audit.record(db, entity: "person", id: serviceNumber, action: "update", before: before, after: after)
        }
    }

    /// Removes a person who never deployed (a deployment history is kept, so such a person stays).
    public func removePerson(serviceNumber: String, as actor: Actor) throws {
        try write(actor) { db, audit in
            let person = try requirePerson(db, serviceNumber)
            try requireChange(actor, contingent: person.contingent, "people")
            let deployments = try Deployment.filter(Deployment.Columns.personId == person.id).fetchCount(db)
            guard deployments == 0 else {
                throw RegistryError(
                    .invariantViolated,
                    "\(serviceNumber) has \(deployments) deployment(s) on record and cannot be removed")
            }
            let qualifications = try Qualification.filter(Qualification.Columns.personId == person.id).fetchAll(db)
            try Person.deleteOne(db, key: person.id)
            try audit.record(
                db, entity: "person", id: serviceNumber, action: "delete",
                before: PersonRecord(person: person, qualifications: qualifications))
        }
    }

    // MARK: - Qualifications

    @discardableResult
    public func addQualification(
        _ qualification: Qualification, serviceNumber: String, as actor: Actor
    ) throws -> Qualification {
        var qualification = qualification
        qualification.dropEmptyText()
        try validate(qualification)
        return try write(actor) { db, audit in
            let person = try requirePerson(db, serviceNumber)
            try requireChange(actor, contingent: person.contingent, "qualifications")
            var qualification = qualification
            qualification.id = nil
            qualification.personId = person.id!
            try requireNoTwin(db, qualification, serviceNumber: serviceNumber)
            try qualification.insert(db)
            try audit.record(
                db, entity: "qualification", id: "\(serviceNumber)/\(qualification.id!)", action: "create",
                after: qualification)
            return qualification
        }
    }

    /// Changes one of a person's qualifications through `change` (the id and the person stay). Only the
    /// person's own contingent and operators may.
    @discardableResult
    public func updateQualification(
        id: Int64, serviceNumber: String, as actor: Actor, change: (inout Qualification) throws -> Void
    ) throws -> Qualification {
        try write(actor) { db, audit in
            let person = try requirePerson(db, serviceNumber)
            try requireChange(actor, contingent: person.contingent, "qualifications")
            let before = try requireQualification(db, id: id, of: person)
            var after = before
            try change(&after)
            after.id = before.id
            after.personId = before.personId
            after.dropEmptyText()
            try validate(after, stored: before)
            guard try !audit.same(before, after) else { return after }
            if (after.kind, after.code, after.issuedOn) != (before.kind, before.code, before.issuedOn) {
                try requireNoTwin(db, after, serviceNumber: serviceNumber)
            }
            try after.update(db)
            try audit.record(
                db, entity: "qualification", id: "\(serviceNumber)/\(id)", action: "update", before: before,
                after: after)
            return after
        }
    }

    /// Removes one of a person's qualifications (recorded in error, or withdrawn).
    public func removeQualification(id: Int64, serviceNumber: String, as actor: Actor) throws {
        try write(actor) { db, audit in
            let person = try requirePerson(db, serviceNumber)
            try requireChange(actor, contingent: person.contingent, "qualifications")
            let qualification = try requireQualification(db, id: id, of: person)
            try Qualification.deleteOne(db, key: id)
            try audit.record(
                db, entity: "qualification", id: "\(serviceNumber)/\(id)", action: "delete", before: qualification)
        }
    }

    // MARK: - Equipment

    @discardableResult
    public func addEquipment(_ equipment: Equipment, as actor: Actor) throws -> Equipment {
        try requireChange(actor, contingent: equipment.contingent, "equipment")
        guard !equipment.serial.isEmpty, !equipment.category.isEmpty else {
            throw RegistryError(.invalidInput, "equipment needs a serial and a category")
        }
        if let problem = Self.identifierProblem(equipment.serial) {
            throw RegistryError(.invalidInput, "equipment serial: \(problem)")
        }
        try Self.refuse(Self.textProblems(in:), in: equipment, over: nil, named: "equipment")
        return try write(actor) { db, audit in
            try requireContingent(db, equipment.contingent)
            guard try Equipment.filter(Equipment.Columns.serial == equipment.serial).fetchCount(db) == 0 else {
                throw RegistryError(.alreadyExists, "equipment serial \(equipment.serial) is already registered")
            }
            var equipment = equipment
            equipment.id = nil
            try equipment.insert(db)
            try audit.record(db, entity: "equipment", id: equipment.serial, action: "create", after: equipment)
            return equipment
        }
    }

    public func setEquipmentStatus(serial: String, status: EquipmentStatus, as actor: Actor) throws {
        try updateEquipment(serial: serial, as: actor) { $0.status = status }
    }

    /// Changes a piece of equipment through `change` (the serial stays). A contingent may change only its
    /// own equipment and may not hand it to another contingent.
    @discardableResult
    public func updateEquipment(
        serial: String, as actor: Actor, change: (inout Equipment) throws -> Void
    ) throws -> Equipment {
        try write(actor) { db, audit in
            let before = try requireEquipment(db, serial)
            try requireChange(actor, contingent: before.contingent, "equipment")
            var after = before
            try change(&after)
            after.id = before.id
            after.serial = before.serial
            guard !after.category.isEmpty else { throw RegistryError(.invalidInput, "equipment needs a category") }
            // As for a person: refused only for what the update brings (a text an older hub stored is kept).
            try Self.refuse(Self.textProblems(in:), in: after, over: before, named: "equipment")
            try requireChange(actor, contingent: after.contingent, "equipment")
            try requireContingent(db, after.contingent)
            guard try !audit.same(before, after) else { return after }
            try after.update(db)
            try audit.record(db, entity: "equipment", id: serial, action: "update", before: before, after: after)
            return after
        }
    }

    /// Removes equipment registered in error. Equipment with inspections on record is kept (its history
    /// matters for reimbursement): set its status instead.
    public func removeEquipment(serial: String, as actor: Actor) throws {
        try write(actor) { db, audit in
            let equipment = try requireEquipment(db, serial)
            try requireChange(actor, contingent: equipment.contingent, "equipment")
            let inspections = try EquipmentInspection.filter(EquipmentInspection.Columns.equipmentId == equipment.id)
                .fetchCount(db)
            guard inspections == 0 else {
                throw RegistryError(
                    .invariantViolated,
                    "\(serial) has \(inspections) inspection(s) on record and cannot be removed; change its status")
            }
            try Equipment.deleteOne(db, key: equipment.id)
            try audit.record(db, entity: "equipment", id: serial, action: "delete", before: equipment)
        }
    }

    @discardableResult
    public func addInspection(
        serial: String, type: InspectionType, date: CalendarDate, result: String, as actor: Actor
    ) throws -> EquipmentInspection {
        guard !result.isEmpty else { throw RegistryError(.invalidInput, "an inspection needs a result") }
        try Self.refuseBadText(in: [("result", result)], of: "inspection")
        return try write(actor) { db, audit in
            let equipment = try requireEquipment(db, serial)
            try requireChange(actor, contingent: equipment.contingent, "equipment")
            var inspection = EquipmentInspection(equipmentId: equipment.id!, type: type, date: date, result: result)
            try inspection.insert(db)
            try audit.record(db, entity: "equipmentInspection", id: serial, action: "create", after: inspection)
            return inspection
        }
    }

    // MARK: - Report archive

    /// Keeps a mission report the messaging side accepted or held. Returns its archive id.
    @discardableResult
    public func archiveReport(_ report: ArchivedReport, as actor: Actor = .operator("messaging")) throws -> Int64 {
        try archiveReports([report], as: actor)[0]
    }

    /// Keeps mission reports in one transaction, each with its audit entry: the hub archives the reports that
    /// arrive while a commit runs together, one commit for them all. Returns their archive ids, in order; one
    /// report refused refuses them all.
    @discardableResult
    public func archiveReports(
        _ reports: [ArchivedReport], as actor: Actor = .operator("messaging")
    ) throws -> [Int64] {
        for report in reports where report.mission.isEmpty || report.type.isEmpty || report.sender.isEmpty {
            throw RegistryError(.invalidInput, "an archived report needs a mission, a type and a sender")
        }
        return try write(actor) { db, audit in
            // A statement of our own, as for the audit entries (GRDB's record insert cost seven times SQLite's).
            let insert = try db.cachedStatement(
                sql: """
                    INSERT INTO archivedReport (mission, type, sender, receivedAt, precedence, securityLabel,
                        latitude, longitude, body, annotations, status, reason)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """)
            return try reports.map { report in
                var report = report
                try insert.execute(arguments: [
                    report.mission, report.type, report.sender, report.receivedAt, report.precedence,
                    report.securityLabel, report.latitude, report.longitude, report.body, report.annotations,
                    report.status, report.reason,
                ])
                report.id = db.lastInsertedRowID
                try audit.record(db, entity: "archivedReport", id: String(report.id!), action: "create", after: report)
                return report.id!
            }
        }
    }

    // MARK: - Validation and lookups inside transactions

    /// Refuses a person the rules do not allow. An update (`stored`) is refused only for what it brings: a record an
    /// older hub stored before a rule existed (a language listed twice, a control character) could not be changed at
    /// all, not even to mend it field by field.
    func validate(_ person: Person, stored: Person? = nil) throws {
        try Self.refuse(Self.problems(in:), in: person, over: stored, named: "person \(cut(person.serviceNumber))")
    }

    /// As a person's: an update is refused only for the problems it brings.
    func validate(_ qualification: Qualification, stored: Qualification? = nil) throws {
        try Self.refuse(Self.problems(in:), in: qualification, over: stored, named: "qualification")
    }

    /// Throws `invalidInput` naming `record` and the problems `problems` finds in it, as `field: message`; for an
    /// update (`stored`, the record before it) not those the stored record had in a field the update leaves as it
    /// was: a field it sets is checked whole, and a problem between fields (an expiry before a changed issue date)
    /// is new.
    static func refuse<Record: Encodable>(
        _ problems: (Record) -> [(field: String, message: String)], in record: Record, over stored: Record?,
        named name: String
    ) throws {
        var found = problems(record).map { (field: $0.field, text: "\($0.field): \($0.message)") }
        if let stored {
            let kept = unchangedFields(record, stored)
            let old = Set(problems(stored).map { "\($0.field): \($0.message)" })
            found.removeAll { kept.contains($0.field) && old.contains($0.text) }
        }
        guard found.isEmpty else {
            let texts = found.map(\.text)
            throw RegistryError(.invalidInput, "\(name): " + texts.joined(separator: "; "), details: texts)
        }
    }

    /// The fields (coding keys) two records hold alike.
    private static func unchangedFields<Record: Encodable>(_ one: Record, _ other: Record) -> Set<String> {
        let encoder = JSONEncoder()
        guard let left = (try? encoder.encode(one)).flatMap({ try? JSONValue(parsing: $0) })?.objectValue,
            let right = (try? encoder.encode(other)).flatMap({ try? JSONValue(parsing: $0) })?.objectValue
        else { return [] }
        return Set(Set(left.keys).union(right.keys).filter { left[$0] == right[$0] })
    }

    /// Field problems of a person, shared by the API and the importer.
    static func problems(in person: Person) -> [(field: String, message: String)] {
        var problems: [(String, String)] = []
        if let problem = identifierProblem(person.serviceNumber) { problems.append(("serviceNumber", problem)) }
        problems += textProblems([
            ("latinName", person.latinName), ("cyrillicName", person.cyrillicName), ("rank", person.rank),
            ("rankCode", person.rankCode),
        ])
        if person.latinName.isEmpty { problems.append(("latinName", "is empty")) }
        if !isCountryCode(person.nationality) {
            problems.append(("nationality", "'\(cut(person.nationality))' is not an ISO 3166 alpha-3 code"))
        }
        if !isCountryCode(person.contingent) {
            problems.append(("contingent", "'\(cut(person.contingent))' is not an ISO 3166 alpha-3 code"))
        }
        if person.rank.isEmpty { problems.append(("rank", "is empty")) }
        if let born = person.dateOfBirth {
            // A typo (2990 for 1990) would make a person who cannot be judged; nobody serving was born before 1900.
            if born > CalendarDate.today { problems.append(("dateOfBirth", "\(born) lies in the future")) }
            if born.year < 1900 { problems.append(("dateOfBirth", "\(born) is before 1900")) }
        } else {
            problems.append(("dateOfBirth", "is missing"))
        }
        if let years = person.commissionedServiceYears, years < 0 || years > 60 {
            problems.append(("commissionedServiceYears", "\(years) is out of range 0...60"))
        }
        // One level per language, so the list stays short: a 10 MB cell of one code repeated was stored, and made
        // every read of the person megabytes long. Past the limit the items are not checked one by one (a problem
        // each would repeat the cell).
        if person.languages.count > maximumLanguages {
            problems.append(("languages", "has \(person.languages.count) items; at most \(maximumLanguages)"))
            return problems
        }
        // At most 32 short codes: a look back is cheaper than a set for every person of a 100,000-person import.
        for (index, language) in person.languages.enumerated() {
            let code = language.code
            if code.utf8.count != 2 || !code.utf8.allSatisfy({ (0x61...0x7A).contains($0) }) {
                problems.append(("languages", "'\(cut(code))' is not an ISO 639-1 code"))
            } else if person.languages[..<index].contains(where: { $0.code == code }) {
                problems.append(("languages", "'\(code)' appears more than once"))
            }
        }
        return problems
    }

    /// Languages one person may list (ISO 639-1 has 184 codes; no one speaks that many).
    static let maximumLanguages = 32

    static func problems(in qualification: Qualification) -> [(field: String, message: String)] {
        var problems: [(String, String)] = []
        if qualification.code.isEmpty { problems.append(("code", "is empty")) }
        problems += textProblems([
            ("code", qualification.code), ("provider", qualification.provider), ("level", qualification.level),
        ])
        if let expires = qualification.expiresOn, expires < qualification.issuedOn {
            problems.append(("expiresOn", "\(expires) is before issuedOn \(qualification.issuedOn)"))
        }
        if let hash = qualification.evidenceHash,
            hash.count != 64 || !hash.allSatisfy({ $0.isHexDigit && !$0.isUppercase })
        {
            problems.append(("evidenceHash", "must be 64 lower-case hex digits (SHA-256)"))
        }
        if qualification.kind == .language, let level = qualification.level, LanguageLevel(rawValue: level) == nil {
            problems.append(("level", "'\(cut(level))' is not a CEFR level (\(LanguageLevel.names))"))
        }
        return problems
    }

    /// Why `identifier` (a service number, an equipment serial) cannot name a record, or nil. SQLite compares it
    /// byte for byte where Swift compares canonical equivalents, so it must be in Unicode NFC (one spelling of "Й");
    /// spaces, control and invisible characters (format, default-ignorable: a variation selector, a Hangul filler)
    /// would make two records look the same.
    static func identifierProblem(_ identifier: String) -> String? {
        // Printable ASCII, what nearly every service number is, is in NFC and has nothing hidden: the scalar
        // properties and the normalization cost an import of 100,000 persons most of a second.
        let bytes = identifier.utf8
        if !bytes.isEmpty, bytes.count <= maximumIdentifierLength, bytes.allSatisfy({ (0x21...0x7E).contains($0) }) {
            return nil
        }
        let scalars = identifier.unicodeScalars
        let isHidden = { (scalar: Unicode.Scalar) in
            scalar.properties.isWhitespace || scalar.properties.isDefaultIgnorableCodePoint
                || [.control, .format].contains(scalar.properties.generalCategory)
        }
        if scalars.isEmpty || scalars.contains(where: isHidden) {
            return "must be non-empty without spaces, control or invisible characters"
        }
        if scalars.count > maximumIdentifierLength {
            return "is longer than \(maximumIdentifierLength) characters"
        }
        if !identifier.precomposedStringWithCanonicalMapping.utf8.elementsEqual(identifier.utf8) {
            return "must be in Unicode NFC (composed characters)"
        }
        return nil
    }

    /// The longest service number or serial, in characters (Unicode scalars: a grapheme may hold any number of
    /// combining marks).
    static let maximumIdentifierLength = 64
    /// The longest text of any other field, in characters (scalars): a contingent's megabyte names made every list
    /// of persons megabytes long.
    static let maximumTextLength = 1024

    /// Registry text reaches operators' terminals and the audit chain: a control character (an escape sequence, a
    /// line break, the chain's field separator) is refused in every field, as are a line or paragraph separator
    /// (U+2028, U+2029: a line break to some viewers) and a bidirectional embedding, override or isolate (U+202A to
    /// U+202E, U+2066 to U+2069: they reorder what a terminal shows after them), and text past `maximumTextLength`.
    /// The marks and joiners names need (U+200E, U+200F, U+200C, U+200D) are kept.
    static func textProblems(_ fields: [(String, String?)]) -> [(field: String, message: String)] {
        fields.compactMap { field, text in
            guard let text else { return nil }
            // White space alone reads as nothing but is stored as a value (a rank of "  " passed; an optional
            // field kept it). Most text starts with an ASCII byte that is no space: no scalar property is read then.
            if let first = text.utf8.first, first == 0x20 || (0x09...0x0D).contains(first) || first >= 0x80,
                text.unicodeScalars.allSatisfy(\.properties.isWhitespace)
            {
                return (field, "is blank (white space only)")
            }
            // Printable ASCII (the common case) holds no control character, and its bytes are its scalars.
            if text.utf8.allSatisfy({ (0x20...0x7E).contains($0) }) {
                return text.utf8.count > maximumTextLength
                    ? (field, "is longer than \(maximumTextLength) characters") : nil
            }
            if text.unicodeScalars.contains(where: \.isControl) {
                return (field, text.utf8.contains(0) ? "may not hold U+0000 (NUL)" : "may not hold control characters")
            }
            if let scalar = text.unicodeScalars.first(where: isLayoutControl) {
                let code = String(scalar.value, radix: 16, uppercase: true)
                let kind =
                    scalar.value < 0x202A
                    ? "a line or paragraph separator" : "a bidirectional embedding, override or isolate"
                return (field, "may not hold U+\(code) (\(kind))")
            }
            if text.unicodeScalars.count > maximumTextLength {
                return (field, "is longer than \(maximumTextLength) characters")
            }
            return nil
        }
    }

    private static func isLayoutControl(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x2028, 0x2029, 0x202A...0x202E, 0x2066...0x2069: true
        default: false
        }
    }

    static func textProblems(in equipment: Equipment) -> [(field: String, message: String)] {
        textProblems([("category", equipment.category), ("description", equipment.description)])
    }

    /// Throws `invalidInput` naming the fields of `fields` that `textProblems` finds.
    static func refuseBadText(in fields: [(String, String?)], of record: String) throws {
        let problems = textProblems(fields).map { "\($0.field): \($0.message)" }
        guard problems.isEmpty else {
            throw RegistryError(.invalidInput, "\(record): " + problems.joined(separator: "; "), details: problems)
        }
    }

    func requirePerson(_ db: Database, _ serviceNumber: String) throws -> Person {
        guard let person = try Person.filter(Person.Columns.serviceNumber == serviceNumber).fetchOne(db) else {
            throw RegistryError(.notFound, "no person with service number \(cut(serviceNumber))")
        }
        return person
    }

    func requireContingent(_ db: Database, _ code: String) throws {
        guard try Contingent.exists(db, key: code) else { throw RegistryError(.notFound, "no contingent \(code)") }
    }

    /// Asked only after the caller may change the person's qualifications: a refusal that came after the lookup
    /// would tell a withheld (medical) record from one that does not exist.
    func requireQualification(_ db: Database, id: Int64, of person: Person) throws -> Qualification {
        guard let qualification = try Qualification.fetchOne(db, key: id), qualification.personId == person.id else {
            throw RegistryError(.notFound, "\(person.serviceNumber) has no qualification \(id)")
        }
        return qualification
    }

    /// A person holds one qualification of a kind and code issued on a date: `import` refuses a second one, so an
    /// export with two would import nowhere.
    func requireNoTwin(_ db: Database, _ qualification: Qualification, serviceNumber: String) throws {
        typealias Columns = Qualification.Columns
        var twins = Qualification.filter(
            Columns.personId == qualification.personId && Columns.kind == qualification.kind
                && Columns.code == qualification.code && Columns.issuedOn == qualification.issuedOn)
        if let id = qualification.id { twins = twins.filter(Column("id") != id) }
        if try !twins.isEmpty(db) {
            throw RegistryError(
                .alreadyExists,
                "\(cut(serviceNumber)) already has \(qualification.kind.rawValue) \(cut(qualification.code)) of "
                    + "\(qualification.issuedOn)")
        }
    }

    func requireEquipment(_ db: Database, _ serial: String) throws -> Equipment {
        guard let equipment = try Equipment.filter(Equipment.Columns.serial == serial).fetchOne(db) else {
            throw RegistryError(.notFound, "no equipment with serial \(cut(serial))")
        }
        return equipment
    }
}

/// A value as a problem names it: cut to 40 Unicode scalars, so a 10 MB cell (or one letter with a million combining
/// marks, one `Character`) does not become a 10 MB line.
func cut(_ value: some StringProtocol) -> String {
    let scalars = value.unicodeScalars
    guard scalars.count > 40 else { return String(value) }
    var prefix = String.UnicodeScalarView()
    prefix.append(contentsOf: scalars.prefix(40))
    return "\(String(prefix))… (\(value.utf8.count) bytes)"
}
