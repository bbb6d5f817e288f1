import Foundation
import GRDB
import PeaceHubCore
import SQLiteSupport

/// What an import added.
public struct ImportSummary: Codable, Sendable, Hashable {
    public var persons: Int
    public var qualifications: Int
}

/// Persons and qualifications read from CSV or JSON files, not yet checked against the database.
///
/// CSV: a header row names the columns. A file whose header has `latinName` holds persons
/// (`serviceNumber, latinName, cyrillicName, sex, nationality, contingent, rank, rankCode, category,
/// dateOfBirth, commissionedServiceYears, languages` with languages as `en:B2;ru:C2`); one whose header
/// has `kind` holds qualifications (`serviceNumber, kind, code, provider, issuedOn, expiresOn,
/// evidenceHash, level`). JSON: an array of person objects with the same members, `languages` as
/// `[{"code","level"}]` and an optional `qualifications` array.
public struct ImportBatch: Sendable {
    struct Row: Sendable {
        var file: String
        var line: Int
        var person: Person

        var at: String { "\(file):\(line)" }
    }

    struct QualificationRow: Sendable {
        var file: String
        var line: Int
        var serviceNumber: String
        var qualification: Qualification

        var at: String { "\(file):\(line)" }
    }

    var persons: [Row] = []
    var qualifications: [QualificationRow] = []
    /// Every problem found, as `file:line: field: reason`.
    public private(set) var problems: [String] = []
    /// Name and SHA-256 of each file read, for the audit entry.
    var sources: [[String: String]] = []

    public var personCount: Int { persons.count }
    public var qualificationCount: Int { qualifications.count }

    public init() {}

    /// Reads `url` (JSON when its name ends in `.json`, or when a name without `.csv` holds text that starts with
    /// `[`, as a pipe's does; CSV otherwise), adding its rows and problems to the batch.
    /// Problems name the file as it was given (`url.relativePath`), so that two files of one name in different
    /// folders are told apart; the audit entry keeps its base name.
    public mutating func read(_ url: URL) {
        let name = url.relativePath
        // Read to its end, not by its size: a pipe (`/dev/stdin`, `<(iconv -f cp1251 -t utf-8 file.csv)`) has none.
        let data: Data
        do {
            guard let handle = FileHandle(forReadingAtPath: url.path) else { throw CocoaError(.fileReadNoSuchFile) }
            data = try handle.readToEnd() ?? Data()  // nil for an empty file
        } catch {
            problems.append("\(name): file: does not exist or cannot be read")
            return
        }
        sources.append(["file": url.lastPathComponent, "sha256": SHA256.hex(data)])
        let fileExtension = url.pathExtension.lowercased()
        // A CSV header starts with a column name, never `[` (a byte-order mark and spaces aside).
        let firstByte = data.drop { [0xEF, 0xBB, 0xBF, 0x20, 0x09, 0x0A, 0x0D].contains($0) }.first
        if fileExtension == "json" || (fileExtension != "csv" && firstByte == UInt8(ascii: "[")) {
            readJSON(data, file: name)
        } else {
            readCSV(data, file: name)
        }
    }

    // MARK: - CSV

    private static let personColumns = [
        "serviceNumber", "latinName", "cyrillicName", "sex", "nationality", "contingent", "rank", "rankCode",
        "category", "dateOfBirth", "commissionedServiceYears", "languages",
    ]
    private static let qualificationColumns = [
        "serviceNumber", "kind", "code", "provider", "issuedOn", "expiresOn", "evidenceHash", "level",
    ]

    private mutating func readCSV(_ data: Data, file: String) {
        var reader = CSV.Reader([UInt8](data))
        let header: CSV.Record
        do {
            guard let first = try reader.next() else {
                problems.append("\(file):1: header: the file is empty")
                return
            }
            header = first
        } catch {
            problems.append("\(file):\(error.line): csv: \(error.reason)")
            return
        }
        readCSVRows(&reader, header: header, file: file)
    }

    private mutating func readCSVRows(_ reader: inout CSV.Reader, header: CSV.Record, file: String) {
        let isPersons = header.fields.contains("latinName")
        let isQualifications = header.fields.contains("kind")
        guard isPersons != isQualifications else {
            // Column names are matched exactly: `LATINNAME` is no `latinName`, and saying so beats "needs one".
            let known = Self.personColumns + Self.qualificationColumns
            let misspelt = header.fields.compactMap { field in
                known.first { $0.lowercased() == field.lowercased() && $0 != field }.map { "'\(field)' is '\($0)'" }
            }
            let padded = header.fields.filter { field in
                known.contains { $0 == field.trimmingCharacters(in: .whitespaces) && $0 != field }
            }.map { "'\($0)'" }
            // A spreadsheet that writes `;` or tabs (as many locales do) gives a header of one column.
            let separator = header.fields.count == 1 ? [";", "\t"].first { header.fields[0].contains($0) } : nil
            var hint = misspelt.isEmpty ? "" : "; column names are case-sensitive: " + misspelt.joined(separator: ", ")
            if !padded.isEmpty {
                hint += "; column names have no spaces around them: " + padded.joined(separator: ", ")
            }
            if let separator {
                hint += "; the header is one column: fields are separated by commas, not "
                    + (separator == ";" ? "semicolons" : "tabs")
            }
            problems.append(
                "\(file):\(header.line): header: needs a `latinName` column (persons) or a `kind` column "
                    + "(qualifications), not both" + hint)
            return
        }
        let known = isPersons ? Self.personColumns : Self.qualificationColumns
        var columns: [String: Int] = [:]
        for (index, name) in header.fields.enumerated() {
            guard known.contains(name) else {
                let padded = known.contains(name.trimmingCharacters(in: .whitespaces))
                let hint = padded ? ": column names have no spaces around them" : ""
                problems.append("\(file):\(header.line): header: unknown column '\(cut(name))'\(hint)")
                continue
            }
            if columns[name] != nil { problems.append("\(file):\(header.line): header: column '\(cut(name))' repeats") }
            columns[name] = index
        }
        while true {
            let record: CSV.Record
            do {
                guard let next = try reader.next() else { return }
                record = next
            } catch {
                // The reader has skipped the broken line: the rows after it are checked too. A field is named by
                // its column, as a row's problems are.
                if let field = error.field, header.fields.indices.contains(field) {
                    problems.append("\(file):\(error.line): \(cut(header.fields[field])): \(error.reason)")
                } else {
                    problems.append("\(file):\(error.line): csv: \(error.reason)")
                }
                continue
            }
            guard record.fields.count == header.fields.count else {
                problems.append(
                    "\(file):\(record.line): row: has \(record.fields.count) fields, "
                        + "the header has \(header.fields.count)")
                continue
            }
            var fields = FieldReader(
                file: file, line: record.line, source: .csv(columns: columns, fields: record.fields))
            if isPersons { addPerson(&fields) } else { addQualification(&fields, serviceNumber: nil) }
            problems += fields.problems
        }
    }

    // MARK: - JSON

    private mutating func readJSON(_ data: Data, file: String) {
        let document: JSONValue
        do {
            document = try JSONValue(parsing: data)
        } catch {
            problems.append("\(file):\(error.line): json: not valid JSON (\(error.reason), column \(error.column))")
            return
        }
        guard let items = document.arrayValue else {
            problems.append("\(file):1: json: the document must be an array of person objects")
            return
        }
        let lines = Self.elementLines([UInt8](data))
        for (index, item) in items.enumerated() {
            let line = index < lines.count ? lines[index] : 1
            guard let members = item.objectValue else {
                problems.append("\(file):\(line): [\(index)]: not an object")
                continue
            }
            var fields = FieldReader(file: file, line: line, source: .json(members))
            for name in members.keys.sorted() where name != "qualifications" && !Self.personColumns.contains(name) {
                fields.problem(cut(name), "unknown member")
            }
            addPerson(&fields)
            problems += fields.problems
            // `null` is no qualifications, as it is no value for every other optional member.
            guard let nested = members["qualifications"], nested != .null else { continue }
            guard let list = nested.arrayValue else {
                problems.append("\(file):\(line): qualifications: must be an array or null")
                continue
            }
            // Read as the person's was (a number's text too); its problems were reported with the person.
            var personFields = FieldReader(file: file, line: line, source: .json(members))
            let serviceNumber = personFields.optional("serviceNumber") ?? ""
            for (position, entry) in list.enumerated() {
                guard let object = entry.objectValue else {
                    problems.append("\(file):\(line): qualifications[\(position)]: not an object")
                    continue
                }
                var fields = FieldReader(
                    file: file, line: line, source: .json(object), prefix: "qualifications[\(position)].")
                for name in object.keys.sorted()
                where !Self.qualificationColumns.contains(name) || name == "serviceNumber" {
                    fields.problem(cut(name), "unknown member")
                }
                addQualification(&fields, serviceNumber: serviceNumber)
                problems += fields.problems
            }
        }
    }

    /// The line each element of the top-level array starts on, found by a scan that skips strings.
    static func elementLines(_ bytes: [UInt8]) -> [Int] {
        var lines: [Int] = []
        var line = 1
        var depth = 0
        var inString = false
        var escaped = false
        var expectingElement = false
        for byte in bytes {
            if byte == UInt8(ascii: "\n") { line += 1 }
            if inString {
                if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                }
                continue
            }
            let isSpace = byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
            if depth == 1 && expectingElement && !isSpace && byte != UInt8(ascii: "]") {
                lines.append(line)
                expectingElement = false
            }
            switch byte {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                depth += 1
                if depth == 1 { expectingElement = true }
            case UInt8(ascii: "]"), UInt8(ascii: "}"): depth -= 1
            case UInt8(ascii: ","): if depth == 1 { expectingElement = true }
            default: break
            }
        }
        return lines
    }

    // MARK: - Rows to records

    private mutating func addPerson(_ fields: inout FieldReader) {
        var standIns = StandIns()
        let serviceNumber = standIns.given(fields.required("serviceNumber"), "serviceNumber", else: "-")
        let latinName = standIns.given(fields.required("latinName"), "latinName", else: "-")
        let sex = standIns.given(fields.vocabulary("sex", required: true), "sex", else: Sex.female)
        let contingent = standIns.given(fields.required("contingent"), "contingent", else: "UNK")
        // As in `person add` and the admin API: the contingent's country unless said otherwise.
        let nationality = fields.optional("nationality") ?? contingent
        let rank = standIns.given(fields.required("rank"), "rank", else: "-")
        let category: PersonCategory = standIns.given(
            fields.vocabulary("category", required: true), "category", else: .troop)
        let dateOfBirth = standIns.given(fields.date("dateOfBirth", required: true), "dateOfBirth", else: .standIn)
        let person = Person(
            serviceNumber: serviceNumber, latinName: latinName, cyrillicName: fields.optional("cyrillicName"), sex: sex,
            nationality: nationality, contingent: contingent, rank: rank, rankCode: fields.optional("rankCode"),
            category: category, dateOfBirth: dateOfBirth,
            commissionedServiceYears: fields.integer("commissionedServiceYears"),
            languages: fields.languages("languages"))
        for (field, message) in Registry.problems(in: person) where !standIns.fields.contains(field) {
            fields.problem(field, message)
        }
        // A row with problems still meets the registry's checks (duplicates, contingents, access), so that one
        // reading lists all of a file's problems; any problem refuses the whole import.
        if standIns.fields.isDisjoint(with: ["serviceNumber", "contingent"]) {
            persons.append(Row(file: fields.file, line: fields.line, person: person))
        }
    }

    private mutating func addQualification(_ fields: inout FieldReader, serviceNumber parent: String?) {
        var standIns = StandIns()
        let serviceNumber = parent ?? fields.required("serviceNumber")
        let kind = standIns.given(fields.vocabulary("kind", required: true), "kind", else: QualificationKind.training)
        let code = standIns.given(fields.required("code"), "code", else: "-")
        let issuedOn = standIns.given(fields.date("issuedOn", required: true), "issuedOn", else: .standIn)
        let qualification = Qualification(
            kind: kind, code: code, provider: fields.optional("provider"), issuedOn: issuedOn,
            expiresOn: fields.date("expiresOn", required: false), evidenceHash: fields.optional("evidenceHash"),
            level: fields.optional("level"))
        for (field, message) in Registry.problems(in: qualification) where !standIns.fields.contains(field) {
            fields.problem(field, message)
        }
        if let serviceNumber {
            qualifications.append(
                QualificationRow(
                    file: fields.file, line: fields.line, serviceNumber: serviceNumber, qualification: qualification))
        }
    }
}

/// The fields of a row that were missing or unreadable (their problem already told), and the values that stand
/// in for them so that the row's other fields can still be checked.
private struct StandIns {
    var fields: Set<String> = []

    mutating func given<Value>(_ value: Value?, _ field: String, else standIn: Value) -> Value {
        if let value { return value }
        fields.insert(field)
        return standIn
    }
}

extension CalendarDate {
    /// Earlier than any date a record holds, so that no other field's check compares itself with the stand-in.
    fileprivate static let standIn = CalendarDate(year: 1, month: 1, day: 1)
}

/// The fields of one CSV row or JSON object, read with problems collected rather than thrown.
struct FieldReader {
    /// A CSV row keeps its fields and shares the header's column map: no per-row dictionary.
    enum Source {
        case csv(columns: [String: Int], fields: [String])
        case json([String: JSONValue])
    }

    let file: String
    let line: Int
    let source: Source
    let prefix: String
    var problems: [String] = []

    init(file: String, line: Int, source: Source, prefix: String = "") {
        self.file = file
        self.line = line
        self.source = source
        self.prefix = prefix
    }

    /// The raw value of a field; an empty CSV field is absent.
    func value(_ name: String) -> JSONValue? {
        switch source {
        case .csv(let columns, let fields):
            guard let index = columns[name], !fields[index].isEmpty else { return nil }
            return .string(fields[index])
        case .json(let members):
            return members[name]
        }
    }

    mutating func problem(_ field: String, _ reason: String) {
        problems.append("\(file):\(line): \(prefix)\(field): \(reason)")
    }

    static func quoted(_ value: some StringProtocol) -> String { "'\(cut(value))'" }

    /// The text of a field; numbers are accepted where text is expected (JSON `"rank": 3` is odd but clear).
    mutating func optional(_ name: String) -> String? {
        switch value(name) {
        case nil, .null: return nil
        case .string(let text) where text.utf8.contains(0):
            problem(name, "may not hold U+0000 (NUL)")
            return nil
        case .string(let text): return text.isEmpty ? nil : text
        // JSON numbers are doubles: a whole number from 2^53 on may have lost digits as it was read (9007199254740993
        // reads as ...992), so it is refused rather than stored as another.
        case .number(let number) where number.rounded() == number && abs(number) >= 0x1p53:
            problem(name, "must be text (in quotes): \(number) is too large for a JSON number to keep every digit")
            return nil
        case .number(let number): return Int(exactly: number).map { String($0) } ?? String(number)
        default:
            problem(name, "must be text")
            return nil
        }
    }

    mutating func required(_ name: String) -> String? {
        let before = problems.count
        let value = optional(name)
        if value == nil && problems.count == before { problem(name, "is required") }
        return value
    }

    mutating func vocabulary<V: RegistryVocabulary>(_ name: String, required: Bool) -> V? {
        guard let text = required ? self.required(name) : optional(name) else { return nil }
        guard let value = V(rawValue: text) else {
            problem(name, "\(Self.quoted(text)) is not one of \(V.names)")
            return nil
        }
        return value
    }

    mutating func date(_ name: String, required: Bool) -> CalendarDate? {
        guard let text = required ? self.required(name) : optional(name) else { return nil }
        guard let date = CalendarDate(text) else {
            problem(name, "\(Self.quoted(text)) is not a date (YYYY-MM-DD)")
            return nil
        }
        return date
    }

    mutating func integer(_ name: String) -> Int? {
        guard let text = optional(name) else { return nil }
        guard let value = Int(text) else {
            problem(name, "\(Self.quoted(text)) is not a whole number")
            return nil
        }
        return value
    }

    /// `text` without white space at either end (Foundation's trimming goes through `NSString`: slow for an
    /// import's hundreds of thousands of fields). An ASCII scalar is told without reading its Unicode properties.
    static func trimmingWhitespace(_ text: Substring) -> String {
        func isWhitespace(_ scalar: Unicode.Scalar) -> Bool {
            scalar.isASCII ? scalar == " " || (0x09...0x0D).contains(scalar.value) : scalar.properties.isWhitespace
        }
        var scalars = text.unicodeScalars
        while let first = scalars.first, isWhitespace(first) { scalars.removeFirst() }
        while let last = scalars.last, isWhitespace(last) { scalars.removeLast() }
        return String(scalars)
    }

    /// `en:B2;ru:C2` in CSV, `[{"code":"en","level":"B2"}]` in JSON.
    mutating func languages(_ name: String) -> [LanguageSkill] {
        var pairs: [(String, String)] = []
        switch value(name) {
        case nil, .null:
            return []
        case .string(let text):
            // An empty item, or spaces alone (`en:C2; `), is the cell's layout, as an empty one (`;;`) is.
            for item in text.split(separator: ";") where !Self.trimmingWhitespace(item).isEmpty {
                let parts = item.split(separator: ":")
                guard parts.count == 2 else {
                    problem(name, "\(Self.quoted(item)) is not code:LEVEL (e.g. en:B2)")
                    return []
                }
                // Spaces around either part, as around the `;`, are the cell's layout (`en: B2; ru:C2`).
                pairs.append((Self.trimmingWhitespace(parts[0]), Self.trimmingWhitespace(parts[1])))
            }
        case .array(let items):
            for item in items {
                guard let code = item["code"]?.stringValue, let level = item["level"]?.stringValue,
                    item.objectValue?.count == 2
                else {
                    problem(name, "each language needs string members code and level, and no others")
                    return []
                }
                pairs.append((code, level))
            }
        default:
            problem(name, "must be an array of {code, level}")
            return []
        }
        var skills: [LanguageSkill] = []
        for (code, levelText) in pairs {
            guard let level = LanguageLevel(rawValue: levelText) else {
                problem(name, "\(Self.quoted(levelText)) is not a CEFR level (\(LanguageLevel.names))")
                return []
            }
            skills.append(LanguageSkill(code: code, level: level))
        }
        return skills
    }
}

extension Registry {
    /// Imports persons and qualifications all-or-nothing: if any row is bad (unreadable, invalid,
    /// duplicate, unknown contingent or person, or not the actor's own contingent) nothing is written
    /// and the error's `details` list every problem as `file:line: field: reason`.
    ///
    /// One transaction, prepared statements reused, one audit entry for the whole import (file names,
    /// their SHA-256 and the counts). `progress` is called with (rows written, rows in total).
    @discardableResult
    public func importBatch(
        _ batch: ImportBatch, as actor: Actor, progress: ((Int, Int) -> Void)? = nil
    ) throws -> ImportSummary {
        var problems = batch.problems
        var refusedAccess = 0
        let total = batch.persons.count + batch.qualifications.count
        let summary = try write(actor) { db, audit -> ImportSummary? in
            let contingents = try String.fetchSet(db, sql: "SELECT code FROM contingent")
            // Service numbers and codes are told apart by their bytes, as SQLite's UNIQUE constraints do: Swift's
            // `String` takes "Й" and "И\u{306}" for one, which put a record on another contingent's person.
            var existing = ExactDictionary<(id: Int64, contingent: String)>()
            let cursor = try Row.fetchCursor(db, sql: "SELECT id, serviceNumber, contingent FROM person")
            while let row = try cursor.next() { existing[row[1]] = (row[0], row[2]) }

            var batchContingent = ExactDictionary<String>(minimumCapacity: batch.persons.count)
            for row in batch.persons {
                let person = row.person
                if existing[person.serviceNumber] != nil {
                    problems.append("\(row.at): serviceNumber: \(cut(person.serviceNumber)) is already registered")
                } else if batchContingent[person.serviceNumber] != nil {
                    problems.append(
                        "\(row.at): serviceNumber: \(cut(person.serviceNumber)) appears twice in the import")
                }
                if !contingents.contains(person.contingent) {
                    problems.append("\(row.at): contingent: no contingent \(cut(person.contingent))")
                }
                if !actor.mayChange(contingent: person.contingent) {
                    problems.append("\(row.at): contingent: \(actor) may not add people of \(person.contingent)")
                    refusedAccess += 1
                }
                batchContingent[person.serviceNumber] = person.contingent
            }
            // Re-importing a partner's file must not double its records.
            var recorded: Set<QualificationIdentity> = []
            if !batch.qualifications.isEmpty {
                let rows = try Row.fetchCursor(
                    db,
                    sql: """
                        SELECT p.serviceNumber, q.kind, q.code, q.issuedOn FROM qualification q
                        JOIN person p ON p.id = q.personId
                        """)
                while let row = try rows.next() {
                    recorded.insert(QualificationIdentity(row[0], row[1], row[2], row[3]))
                }
            }
            var imported = Set<QualificationIdentity>(minimumCapacity: batch.qualifications.count)
            for row in batch.qualifications {
                let q = row.qualification
                let identity = QualificationIdentity(row.serviceNumber, q.kind.rawValue, q.code, q.issuedOn.description)
                // Named only for a problem: naming each of 300,000 rows took about 40 ms of an import.
                func named() -> String { "\(q.kind.rawValue) \(cut(q.code)) of \(q.issuedOn)" }
                if recorded.contains(identity) {
                    problems.append("\(row.at): code: \(cut(row.serviceNumber)) already has \(named())")
                } else if !imported.insert(identity).inserted {
                    problems.append(
                        "\(row.at): code: \(cut(row.serviceNumber))'s \(named()) appears twice in the import")
                }
                guard let owner = batchContingent[row.serviceNumber] ?? existing[row.serviceNumber]?.contingent else {
                    problems.append(
                        "\(row.at): serviceNumber: no person \(cut(row.serviceNumber)) in the registry or the import")
                    continue
                }
                if !actor.mayChange(contingent: owner) {
                    problems.append("\(row.at): serviceNumber: \(actor) may not change people of \(owner)")
                    refusedAccess += 1
                }
            }
            guard problems.isEmpty else { return nil }
            // A large import touches more index pages than SQLite's default 2 MB cache holds; spilling them to
            // the WAL mid-transaction costs more than the inserts. 64 MB while importing, then the default.
            try db.execute(sql: "PRAGMA cache_size = -65536")
            defer { try? db.execute(sql: "PRAGMA cache_size = -2000") }

            var done = 0
            // Every 5,000 rows, and once at the end below (the last step's report would repeat it).
            func written(_ count: Int) {
                if (done + count) / 5000 != done / 5000, done + count < total { progress?(done + count, total) }
                done += count
            }
            let newest = existing.values.map(\.id).max() ?? 0
            try Self.insert(
                batch.persons, into: "person",
                columns: [
                    "serviceNumber", "latinName", "cyrillicName", "sex", "nationality", "contingent", "rank",
                    "rankCode", "category", "dateOfBirth", "commissionedServiceYears", "languages",
                ], db, written: written
            ) { statement, first, row in
                let person = row.person
                statement.bind(first, person.serviceNumber)
                statement.bind(first + 1, person.latinName)
                statement.bind(first + 2, person.cyrillicName)
                statement.bind(first + 3, person.sex.rawValue)
                statement.bind(first + 4, person.nationality)
                statement.bind(first + 5, person.contingent)
                statement.bind(first + 6, person.rank)
                statement.bind(first + 7, person.rankCode)
                statement.bind(first + 8, person.category.rawValue)
                statement.bind(first + 9, person.dateOfBirth?.description)
                statement.bind(first + 10, person.commissionedServiceYears.map(Int64.init))
                statement.bind(first + 11, Self.languagesJSON(person.languages))
            }
            // AUTOINCREMENT never reuses an id, so the persons just added are those above the newest before.
            var ids = ExactDictionary<Int64>(minimumCapacity: existing.count + batch.persons.count)
            for (serviceNumber, person) in existing { ids[serviceNumber] = person.id }
            let added = try Row.fetchCursor(
                db, sql: "SELECT serviceNumber, id FROM person WHERE id > ?", arguments: [newest])
            while let row = try added.next() { ids[row[0]] = row[1] }
            try Self.insert(
                batch.qualifications, into: "qualification",
                columns: ["personId", "kind", "code", "provider", "issuedOn", "expiresOn", "evidenceHash", "level"],
                db, written: written
            ) { statement, first, row in
                let qualification = row.qualification
                statement.bind(first, ids[row.serviceNumber])
                statement.bind(first + 1, qualification.kind.rawValue)
                statement.bind(first + 2, qualification.code)
                statement.bind(first + 3, qualification.provider)
                statement.bind(first + 4, qualification.issuedOn.description)
                statement.bind(first + 5, qualification.expiresOn?.description)
                statement.bind(first + 6, qualification.evidenceHash)
                statement.bind(first + 7, qualification.level)
            }
            let summary = ImportSummary(persons: batch.persons.count, qualifications: batch.qualifications.count)
            try audit.record(
                db, entity: "import", id: batch.sources.map { $0["file"] ?? "" }.joined(separator: ","),
                action: "import", after: ImportAudit(files: batch.sources, summary: summary))
            progress?(total, total)
            return summary
        }
        guard let summary else {
            // Only rows the actor may not write: refused for access, not for their content.
            throw RegistryError(
                refusedAccess == problems.count ? .accessDenied : .invalidInput,
                "import refused: \(problems.count) problem(s); the registry is unchanged", details: problems)
        }
        return summary
    }

    /// Rows per INSERT statement. SQLite's work per statement (cursors on the table and each index, the
    /// AUTOINCREMENT counter read and written back, a statement journal) is then paid once per chunk;
    /// 256 rows of 12 columns (3,072 values) stay well under SQLite's limit of 32,766.
    private static let rowsPerInsert = 256

    /// Inserts `rows` into `table`, `rowsPerInsert` per statement, their values bound through SQLite's API
    /// (GRDB's boxed arguments cost more than the inserts at this size). `bind` binds one row's columns
    /// from the given 1-based index; `written` is told each chunk's size.
    private static func insert<Element>(
        _ rows: [Element], into table: String, columns: [String], _ db: Database, written: (Int) -> Void,
        bind: (DirectStatement, Int32, Element) -> Void
    ) throws {
        let row = "(" + Array(repeating: "?", count: columns.count).joined(separator: ", ") + ")"
        func sql(rows count: Int) -> String {
            "INSERT INTO \(table) (\(columns.joined(separator: ", "))) VALUES "
                + Array(repeating: row, count: count).joined(separator: ", ")
        }
        let full = sql(rows: rowsPerInsert)
        var start = rows.startIndex
        while start < rows.endIndex {
            let end = min(start + rowsPerInsert, rows.endIndex)
            let statement = try DirectStatement(end - start == rowsPerInsert ? full : sql(rows: end - start), db)
            for (offset, element) in rows[start..<end].enumerated() {
                bind(statement, Int32(offset * columns.count + 1), element)
            }
            try statement.run()
            written(end - start)
            start = end
        }
    }

    /// The JSON GRDB's Codable records read back as `[LanguageSkill]`.
    static func languagesJSON(_ languages: [LanguageSkill]) -> String {
        "[" + languages.map { #"{"code":"\#($0.code)","level":"\#($0.level.rawValue)"}"# }.joined(separator: ",") + "]"
    }
}

/// A qualification is the same one when its person, kind, code and issue date are, each told apart by its bytes as
/// SQLite's comparisons do.
private struct QualificationIdentity: Hashable {
    var serviceNumber: ExactString
    var kind: ExactString
    var code: ExactString
    var issuedOn: ExactString

    init(_ serviceNumber: String, _ kind: String, _ code: String, _ issuedOn: String) {
        (self.serviceNumber, self.kind) = (ExactString(serviceNumber), ExactString(kind))
        (self.code, self.issuedOn) = (ExactString(code), ExactString(issuedOn))
    }
}

private struct ImportAudit: Encodable {
    var files: [[String: String]]
    var summary: ImportSummary
}
