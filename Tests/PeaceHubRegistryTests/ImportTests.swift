import Foundation
import GRDB
import PeaceHubTesting
import Testing

@testable import PeaceHubRegistry

@Suite("Import and export")
struct ImportTests {
    static let personsCSV = """
        serviceNumber,latinName,cyrillicName,sex,nationality,contingent,rank,rankCode,category,dateOfBirth,\
        commissionedServiceYears,languages
        KAZ-501,Aruzhan Seitkali,Аружан Сейітқали,F,KAZ,KAZ,Captain,OF-2,MILITARY_OBSERVER,1991-03-04,8,en: B2; ru:C2;\u{20}
        KAZ-502,"Nurlan ""Nur"" Abenov",,M,KAZ,KAZ,Major,OF-3,STAFF_OFFICER,1985-12-01,15,en:C1

        """

    static let qualificationsCSV = """
        serviceNumber,kind,code,provider,issuedOn,expiresOn,evidenceHash,level
        KAZ-501,TRAINING,UN-STM-UNMO,KAZCENT,2025-10-20,2028-10-20,,
        KAZ-502,LANGUAGE,ENGLISH-TEST,KAZCENT,2025-11-15,,,C1
        KAZ-1,DRIVING,DRIVING-4X4,KAZCENT,2021-05-01,,,

        """

    /// A URL relative to `folder`, as the CLI makes one of a relative path: problems name the file as `name`.
    func write(_ text: String, _ name: String, in folder: TemporaryDirectory) throws -> URL {
        let url = URL(fileURLWithPath: name, relativeTo: folder.url)
        try Data(text.utf8).write(to: url)
        return url
    }

    /// Rows of separators only (`,,,,`), what a spreadsheet writes for rows it formatted and left empty, are
    /// skipped as blank lines are (each was refused with a "required" problem per column).
    @Test func rowsOfSeparatorsOnlyAreSkipped() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let lines = Self.personsCSV.split(separator: "\n", omittingEmptySubsequences: false)
        let empty = String(repeating: ",", count: 11)
        let text = ([lines[0], lines[1], Substring(empty), lines[2], Substring(empty), Substring(empty)]
            + lines[3...]).joined(separator: "\r\n")
        var batch = ImportBatch()
        batch.read(try write(text, "spreadsheet.csv", in: folder))
        #expect(batch.problems == [])
        #expect(batch.personCount == 2)
    }

    @Test func importsCSVPersonsAndQualifications() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let registry = try makeRegistry()
        var batch = ImportBatch()
        batch.read(try write(Self.personsCSV, "persons.csv", in: folder))
        batch.read(try write(Self.qualificationsCSV, "qualifications.csv", in: folder))
        #expect(batch.problems == [])
        let summary = try registry.importBatch(batch, as: kazakhstan)
        #expect(summary == ImportSummary(persons: 2, qualifications: 3))
        let imported = try registry.person(serviceNumber: "KAZ-502", as: operatorActor)
        #expect(imported.person.latinName == #"Nurlan "Nur" Abenov"#)
        #expect(imported.person.cyrillicName == nil)
        #expect(imported.person.languages == [LanguageSkill(code: "en", level: .c1)])
        #expect(imported.qualifications.map(\.code) == ["ENGLISH-TEST"])
        let first = try registry.person(serviceNumber: "KAZ-501", as: operatorActor).person
        #expect(first.cyrillicName == "Аружан Сейітқали")
        // Spaces around a level, as around a code and the `;`, are the cell's layout.
        #expect(first.languages == [LanguageSkill(code: "en", level: .b2), LanguageSkill(code: "ru", level: .c2)])
        #expect(try registry.auditEntries(limit: 1, as: operatorActor).first?.entity == "import")
        #expect(try registry.verifyAudit(as: operatorActor).isIntact)

        // The same file again, or a row twice in one file, would double a partner's records: refused.
        var again = ImportBatch()
        again.read(try write(Self.qualificationsCSV, "qualifications.csv", in: folder))
        let row = "KAZ-501,TRAINING,UN-POC,KAZCENT,2025-10-20,,,\n"
        // A long code is named cut short, as in every refusal.
        let long = "KAZ-501,OTHER,\(String(repeating: "Q", count: 300)),KAZCENT,2025-10-20,,,\n"
        again.read(try write("serviceNumber,kind,code,provider,issuedOn,expiresOn,evidenceHash,level\n" + row + row
            + long + long, "q2.csv", in: folder))
        do {
            try registry.importBatch(again, as: kazakhstan)
            Issue.record("duplicate qualifications were imported")
        } catch let error as RegistryError {
            let recorded = "qualifications.csv:2: code: KAZ-501 already has TRAINING UN-STM-UNMO of 2025-10-20"
            #expect(error.details.contains(recorded))
            #expect(
                error.details.contains(
                    "q2.csv:3: code: KAZ-501's TRAINING UN-POC of 2025-10-20 appears twice in the import"))
            let cutCode = String(repeating: "Q", count: 40) + "… (300 bytes)"
            #expect(
                error.details.contains(
                    "q2.csv:5: code: KAZ-501's OTHER \(cutCode) of 2025-10-20 appears twice in the import"),
                "\(error.details)")
        }
        #expect(try registry.qualifications(serviceNumber: "KAZ-501", as: operatorActor).count == 1)
    }

    /// A batch read from one persons file with only the required columns and this one row.
    func minimalBatch(_ row: String, in folder: TemporaryDirectory) throws -> ImportBatch {
        var batch = ImportBatch()
        let header = "serviceNumber,latinName,sex,contingent,rank,category,dateOfBirth"
        batch.read(try write("\(header)\n\(row)\n", "minimal.csv", in: folder))
        #expect(batch.problems == [])
        return batch
    }

    /// A file refused only because the actor may not write its rows is refused for access, not for its content.
    @Test func rowsTheActorMayNotWriteAreAnAccessRefusal() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let registry = try makeRegistry()
        var batch = try minimalBatch("IND-900001,Other Contingent,M,IND,Major,TROOP,1990-01-01", in: folder)
        expectRegistryError(.accessDenied) { _ = try registry.importBatch(batch, as: kazakhstan) }
        batch.read(try write("serviceNumber,latinName,sex\nKAZ-9,Short\n", "short.csv", in: folder))
        expectRegistryError(.invalidInput) { _ = try registry.importBatch(batch, as: kazakhstan) }
    }

    /// Only the columns a person needs: the optional ones may be left out, `nationality` then the contingent's.
    @Test func optionalColumnsMayBeLeftOut() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let registry = try makeRegistry()
        let batch = try minimalBatch("KAZ-900171,Minimal Row,M,KAZ,Major,TROOP,1990-01-01", in: folder)
        #expect(try registry.importBatch(batch, as: kazakhstan) == ImportSummary(persons: 1, qualifications: 0))
        let person = try registry.person(serviceNumber: "KAZ-900171", as: operatorActor).person
        #expect(person.nationality == "KAZ" && person.rankCode == nil && person.languages.isEmpty)
    }

    /// Rows go in several to a statement and the new persons' ids are read back afterwards: each
    /// qualification must still land on its own person, past a removed person's id and across chunks.
    @Test func aLargeImportAttachesEveryQualificationToItsPerson() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let registry = try makeRegistry()
        try registry.removePerson(serviceNumber: "IND-1", as: operatorActor)
        var persons = "serviceNumber,latinName,sex,nationality,contingent,rank,category,dateOfBirth\n"
        var qualifications = "serviceNumber,kind,code,issuedOn\nKAZ-2,DRIVING,Q-KAZ-2,2025-01-01\n"
        for index in 0..<600 {
            persons += "KAZ-\(9000 + index),Person \(index),F,KAZ,KAZ,Captain,TROOP,1990-01-01\n"
            qualifications += "KAZ-\(9000 + index),TRAINING,Q-KAZ-\(9000 + index),2025-01-01\n"
        }
        var batch = ImportBatch()
        batch.read(try write(persons, "persons.csv", in: folder))
        batch.read(try write(qualifications, "qualifications.csv", in: folder))
        #expect(try registry.importBatch(batch, as: kazakhstan) == ImportSummary(persons: 600, qualifications: 601))
        for serviceNumber in ["KAZ-9000", "KAZ-9255", "KAZ-9256", "KAZ-9599", "KAZ-2"] {
            let record = try registry.person(serviceNumber: serviceNumber, as: operatorActor)
            #expect(record.qualifications.map(\.code).contains("Q-\(serviceNumber)"), "\(serviceNumber)")
            #expect(record.qualifications.filter { $0.code.hasPrefix("Q-") }.count == 1, "\(serviceNumber)")
        }
        #expect(try registry.person(serviceNumber: "KAZ-9599", as: operatorActor).person.latinName == "Person 599")
    }

    @Test func badRowsAbortTheWholeImportAndListEveryProblem() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let registry = try makeRegistry()
        let dump = try contentDump(registry)
        let persons = """
            serviceNumber,latinName,sex,nationality,contingent,rank,category,dateOfBirth,languages
            KAZ-601,Good Row,F,KAZ,KAZ,Captain,TROOP,1990-01-01,en:B2
            KAZ-602,Bad Sex,X,KAZ,KAZ,Captain,TROOP,1990-01-01,
            KAZ-603,Bad Date,M,KAZ,KAZ,Captain,TROOP,1990-02-30,
            KAZ-1,Duplicate,M,KAZ,KAZ,Captain,TROOP,1990-01-01,
            IND-601,Other Contingent,M,IND,IND,Captain,TROOP,1990-01-01,
            KAZ-604,Bad Language,M,KAZ,KAZ,Captain,TROOP,1990-01-01,en:Z9
            KAZ-605,,M,KAZ,KAZ,Captain,GENERAL,1990-01-01,
            KAZ-606,Born Later,M,KAZ,KAZ,Captain,TROOP,2990-01-01,
            KAZ-607,Born Long Ago,M,KAZ,KAZ,Captain,TROOP,1809-01-01,
            KAZ-608,,M,KAZ,ZZZ,Captain,TROOP,2999-01-01,
            KAZ-609,Nul\u{0}Name,M,KAZ,KAZ,Captain,TROOP,1990-01-01,

            """
        let qualifications = """
            serviceNumber,kind,code,issuedOn,expiresOn
            KAZ-601,TRAINING,UN-CPTM,2025-01-01,2024-01-01
            NOBODY,TRAINING,UN-CPTM,2025-01-01,
            KAZ-601,TRAINING,,2025-01-01,2024-01-01

            """
        var batch = ImportBatch()
        batch.read(try write(persons, "persons.csv", in: folder))
        batch.read(try write(qualifications, "q.csv", in: folder))
        do {
            try registry.importBatch(batch, as: kazakhstan)
            Issue.record("an import with bad rows was accepted")
        } catch let error as RegistryError {
            #expect(error.code == .invalidInput)
            #expect(
                Set(error.details) == [
                    "persons.csv:3: sex: 'X' is not one of F, M",
                    "persons.csv:4: dateOfBirth: '1990-02-30' is not a date (YYYY-MM-DD)",
                    "persons.csv:7: languages: 'Z9' is not a CEFR level (A1, A2, B1, B2, C1, C2)",
                    "persons.csv:8: latinName: is required",
                    "persons.csv:8: category: 'GENERAL' is not one of \(PersonCategory.names)",
                    "q.csv:2: expiresOn: 2024-01-01 is before issuedOn 2025-01-01",
                    "persons.csv:5: serviceNumber: KAZ-1 is already registered",
                    "persons.csv:6: contingent: contingent:KAZ may not add people of IND",
                    "q.csv:3: serviceNumber: no person NOBODY in the registry or the import",
                    "persons.csv:9: dateOfBirth: 2990-01-01 lies in the future",
                    "persons.csv:10: dateOfBirth: 1809-01-01 is before 1900",
                    // A row that misses a field is still checked for everything else.
                    "persons.csv:11: latinName: is required",
                    "persons.csv:11: dateOfBirth: 2999-01-01 lies in the future",
                    "persons.csv:11: contingent: no contingent ZZZ",
                    "persons.csv:11: contingent: contingent:KAZ may not add people of ZZZ",
                    // SQLite would have kept "Nul".
                    "persons.csv:12: latinName: may not hold U+0000 (NUL)",
                    "q.csv:4: code: is required",
                    "q.csv:4: expiresOn: 2024-01-01 is before issuedOn 2025-01-01",
                ])
        }
        #expect(try contentDump(registry) == dump)
    }

    @Test func malformedFilesAreReportedWithLines() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        var batch = ImportBatch()
        batch.read(try write("serviceNumber,latinName\nKAZ-1,\"open\n", "open.csv", in: folder))
        batch.read(try write("serviceNumber,nothing\nA,B\n", "header.csv", in: folder))
        batch.read(try write("SERVICENUMBER,LATINNAME,sex\nA,B,F\n", "upper.csv", in: folder))
        batch.read(try write("serviceNumber,latinName,sex\nA,B\n", "short.csv", in: folder))
        batch.read(try write("{\"not\": \"an array\"}", "object.json", in: folder))
        batch.read(try write("", "empty.csv", in: folder))
        batch.read(try write("[1,", "broken.json", in: folder))
        batch.read(URL(fileURLWithPath: "missing.csv", relativeTo: folder.url))
        // Bytes that are not UTF-8, unquoted and quoted (a Latin-1 file): refused, not turned into U+FFFD.
        let latin1 = Data("serviceNumber,latinName\nKAZ-1,Bad ".utf8) + Data([0xFF, 0xFE]) + Data("\nKAZ-2,\"".utf8)
            + Data([0xE9]) + Data("\"\n".utf8)
        let latin1File = URL(fileURLWithPath: "latin1.csv", relativeTo: folder.url)
        try latin1.write(to: latin1File)
        batch.read(latin1File)
        #expect(batch.problems.contains("latin1.csv:2: latinName: field 2 is not valid UTF-8"), "\(batch.problems)")
        #expect(batch.problems.contains("latin1.csv:3: latinName: field 2 is not valid UTF-8"), "\(batch.problems)")
        // In a quoted field over three lines, the line of the byte, not the field's last (CRLF and a CR alone too).
        let spanning = Data("serviceNumber,latinName\r\nKAZ-1,\"a\r\nb ".utf8) + Data([0xE9])
            + Data("\rc\nd\"\n".utf8)
        let spanningFile = URL(fileURLWithPath: "spanning.csv", relativeTo: folder.url)
        try spanning.write(to: spanningFile)
        batch.read(spanningFile)
        #expect(batch.problems.contains("spanning.csv:3: latinName: field 2 is not valid UTF-8"), "\(batch.problems)")
        #expect(batch.problems.contains("open.csv:2: csv: a quoted field is not closed"))
        #expect(batch.problems.contains("empty.csv:1: header: the file is empty"), "\(batch.problems)")
        // What a spreadsheet in many locales writes, and a header with spaces: each said, not "needs a column".
        batch.read(try write("serviceNumber;latinName;sex\nA;B;F\n", "semicolons.csv", in: folder))
        batch.read(try write("serviceNumber, latinName\nA,B\n", "padded.csv", in: folder))
        batch.read(try write("serviceNumber ,latinName\nA,B\n", "padded-known.csv", in: folder))
        #expect(
            batch.problems.contains(
                "padded-known.csv:1: header: unknown column 'serviceNumber ': column names have no spaces around them"),
            "\(batch.problems)")
        #expect(
            batch.problems.contains {
                $0.hasPrefix("semicolons.csv:1: header:")
                    && $0.hasSuffix("the header is one column: fields are separated by commas, not semicolons")
            }, "\(batch.problems)")
        #expect(
            batch.problems.contains {
                $0.hasPrefix("padded.csv:1: header:")
                    && $0.hasSuffix("column names have no spaces around them: ' latinName'")
            }, "\(batch.problems)")
        #expect(batch.problems.contains { $0.hasPrefix("header.csv:1: header:") })
        #expect(
            batch.problems.contains {
                $0.hasSuffix(
                    "column names are case-sensitive: 'SERVICENUMBER' is 'serviceNumber', 'LATINNAME' is 'latinName'")
            }, "\(batch.problems)")
        #expect(batch.problems.contains("short.csv:2: row: has 2 fields, the header has 3"))
        #expect(batch.problems.contains("object.json:1: json: the document must be an array of person objects"))
        #expect(
            batch.problems.contains(
                "broken.json:1: json: not valid JSON (unexpected end of text, a value was expected, column 4)"),
            "\(batch.problems)")
        #expect(batch.problems.contains("missing.csv: file: does not exist or cannot be read"))
    }

    /// Every broken line of a file is reported, and the rows after one are still checked.
    @Test func everyBrokenLineOfACSVFileIsReported() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        var batch = ImportBatch()
        let rows = [
            "serviceNumber,kind,code,issuedOn,expiresOn",
            "KAZ-1,TRAINING,a\"b,2025-01-01,",
            "KAZ-1,TRAINING,\"c\"d,2025-01-01,",
            "KAZ-1,TRAINING,POC,2025-13-01,",
            "KAZ-1,TRAINING,\"e\"x,2025-01-01,\"",
            "KAZ-1,TRAINING,POC,2025-01-01,",
            // A bad value is quoted cut short: a 10 MB cell made a 10 MB line, a letter with its combining marks too.
            "KAZ-1,TRAINING,POC,2025-01-01," + String(repeating: "9", count: 100_000),
            "KAZ-1,TRAINING,POC,a" + String(repeating: "\u{301}", count: 50_000) + ",",
        ]
        batch.read(try write(rows.joined(separator: "\r\n"), "q.csv", in: folder))
        let (nines, accents) = (String(repeating: "9", count: 40), String(repeating: "\u{301}", count: 39))
        #expect(
            batch.problems == [
                "q.csv:2: csv: a quote inside an unquoted field",
                "q.csv:3: csv: text after a closing quote",
                "q.csv:4: issuedOn: '2025-13-01' is not a date (YYYY-MM-DD)",
                "q.csv:5: csv: text after a closing quote",
                "q.csv:7: expiresOn: '\(nines)… (100000 bytes)' is not a date (YYYY-MM-DD)",
                "q.csv:8: issuedOn: 'a\(accents)… (100001 bytes)' is not a date (YYYY-MM-DD)",
            ], "\(batch.problems)")
        // In a file whose lines end in CR alone, a CR inside quotes starts a line too.
        var cr = ImportBatch()
        let crOnly =
            "serviceNumber,kind,code,issuedOn,expiresOn,provider\rKAZ-1,TRAINING,POC,2025-01-01,,\"two\rlines\"\r"
            + "KAZ-1,TRAINING,a\"b,2025-01-01,,\r"
        cr.read(try write(crOnly, "cr.csv", in: folder))
        #expect(
            cr.problems == [
                "cr.csv:2: provider: may not hold control characters",
                "cr.csv:4: csv: a quote inside an unquoted field",
            ], "\(cr.problems)")
        // White space alone is no value, in an optional column too (it was stored as the provider).
        var blank = ImportBatch()
        let blankProvider =
            "serviceNumber,kind,code,issuedOn,expiresOn,provider\nKAZ-1,TRAINING,POC,2025-01-01,,\"  \"\n"
        blank.read(try write(blankProvider, "blank.csv", in: folder))
        #expect(blank.problems == ["blank.csv:2: provider: is blank (white space only)"], "\(blank.problems)")
    }

    /// The import tells control characters, white space and text that is not UTF-8 by their code points and
    /// bytes, without the Unicode property tables for ASCII; each answer must still be the tables' answer.
    @Test func controlCharactersWhiteSpaceAndUTF8AreToldAsUnicodeTellsThem() throws {
        let disagreeing = (UInt32(0)...0x10FFFF).compactMap(Unicode.Scalar.init).filter {
            $0.isControl != ($0.properties.generalCategory == .control)
        }
        #expect(disagreeing.isEmpty, "\(disagreeing.map { String($0.value, radix: 16) })")
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        var bytes = Data(
            """
            serviceNumber,kind,code,issuedOn,provider
            KAZ-1,TRAINING,A\u{7F},2025-01-01,
            KAZ-1,TRAINING,B,2025-01-01,x\u{85}y
            KAZ-1,TRAINING,C,2025-01-01,Қазақстан
            KAZ-1,TRAINING,D,2025-01-01,\u{A0}\u{3000}
            KAZ-1,TRAINING,E,2025-01-01,
            """.utf8)
        bytes.append(contentsOf: [0xE2, 0x82, 0x0A])  // the last row's provider: a cut-off euro sign
        let url = URL(fileURLWithPath: "text.csv", relativeTo: folder.url)
        try bytes.write(to: url)
        var batch = ImportBatch()
        batch.read(url)
        #expect(
            batch.problems == [
                "text.csv:2: code: may not hold control characters",
                "text.csv:3: provider: may not hold control characters",
                "text.csv:5: provider: is blank (white space only)",
                "text.csv:6: provider: field 5 is not valid UTF-8",
            ], "\(batch.problems)")
        // Language items are trimmed of white space, ASCII or not, around each part.
        var languages = ImportBatch()
        let person =
            "KAZ-9,Aidana,,F,KAZ,KAZ,Captain,,TROOP,1990-01-01,,\"en:\tB2;\u{A0}ru :C1\u{2003};\u{85};\"\n"
        languages.read(try write(Self.personsCSV.split(separator: "\n")[0] + "\n" + person, "langs.csv", in: folder))
        #expect(languages.problems == [], "\(languages.problems)")
        #expect(languages.persons.first?.person.languages.map { "\($0.code):\($0.level.rawValue)" } == ["en:B2", "ru:C1"])
    }

    /// Problems name a file as it was given, so two files of one name in different folders are told apart.
    @Test func problemsNameTheFileAsGiven() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        try FileManager.default.createDirectory(
            at: folder.url.appendingPathComponent("a"), withIntermediateDirectories: true)
        var batch = ImportBatch()
        batch.read(try write("serviceNumber,nothing\n", "a/q.csv", in: folder))
        batch.read(try write("serviceNumber,kind\nKAZ-1,\"\n", "q.csv", in: folder))
        #expect(batch.problems.contains { $0.hasPrefix("a/q.csv:1: header:") }, "\(batch.problems)")
        #expect(batch.problems.contains("q.csv:2: csv: a quoted field is not closed"), "\(batch.problems)")
    }

    @Test func jsonImportNamesTheLineOfEachPerson() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let registry = try makeRegistry()
        let json = """
            [
              {"serviceNumber": "KGZ-1", "latinName": "Bakyt T", "sex": "M", "nationality": "KGZ", "contingent": "KGZ",
               "rank": "Major", "category": "STAFF_OFFICER", "dateOfBirth": "1986-10-10",
               "languages": [{"code": "en", "level": "B2"}],
               "qualifications": [{"kind": "TRAINING", "code": "UN-CPTM", "issuedOn": "2025-01-01"}]},
              {"serviceNumber": "KGZ-2", "latinName": "Aizada O", "sex": "F", "nationality": "KGZ", "contingent": "KGZ",
               "rank": "Captain", "category": "MILITARY_OBSERVER", "dateOfBirth": "1991-05-27",
               "qualifications": [{"kind": "SWIMMING", "code": "X", "issuedOn": "2025-01-01"}]}
            ]
            """
        var batch = ImportBatch()
        batch.read(try write(json, "people.json", in: folder))
        #expect(
            batch.problems == [
                "people.json:6: qualifications[0].kind: 'SWIMMING' is not one of \(QualificationKind.names)"
            ])
        expectRegistryError(.invalidInput) { try registry.importBatch(batch, as: operatorActor) }
        #expect(ImportBatch.elementLines(Array("[\n {\"a\": \"[{,\"},\n\n {}\n]".utf8)) == [2, 4])
    }

    /// SQLite tells service numbers apart by their bytes and Swift's `String` by canonical equivalence: two persons
    /// whose numbers differ only in their Unicode form (kept before NFC was required) were one key to the import,
    /// which put one contingent's medical record on the other's person.
    @Test func anImportTellsServiceNumbersApartByTheirBytes() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let registry = try makeRegistry()
        let composed = "KGZ-\u{D6}77"
        let decomposed = "KGZ-O\u{308}77"
        try registry.addPerson(person(composed, contingent: "KGZ"), as: operatorActor)
        // Written past the checks, as an older hub wrote it.
        try registry.database.write { db in
            try db.execute(
                sql: """
                    INSERT INTO person (serviceNumber, latinName, sex, nationality, contingent, rank, category,
                    dateOfBirth, languages) VALUES (?, 'Other', 'M', 'KAZ', 'KAZ', 'Major', 'TROOP', '1990-01-01', '[]')
                    """, arguments: [decomposed])
        }
        var batch = ImportBatch()
        batch.read(
            try write(
                "serviceNumber,kind,code,issuedOn\n\(composed),MEDICAL,MEDICAL-CLEARANCE,2026-01-01\n", "q.csv",
                in: folder))
        #expect(batch.problems == [])
        #expect(try registry.importBatch(batch, as: operatorActor) == ImportSummary(persons: 0, qualifications: 1))
        let codes = { (serviceNumber: String) in
            try registry.person(serviceNumber: serviceNumber, as: operatorActor).qualifications.map(\.code)
        }
        #expect(try codes(composed) == ["MEDICAL-CLEARANCE"])
        #expect(try codes(decomposed) == [])
    }

    /// `"qualifications": null` is none, as `null` is for every other optional member (it was "must be an array").
    @Test func nullQualificationsAreNone() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let registry = try makeRegistry()
        let json = """
            [{"serviceNumber": "KAZ-4401", "latinName": "Null Person", "sex": "F", "contingent": "KAZ",
              "rank": "Captain", "category": "TROOP", "dateOfBirth": "1990-01-10", "qualifications": null}]
            """
        var batch = ImportBatch()
        batch.read(try write(json, "people.json", in: folder))
        #expect(batch.problems == [])
        #expect(try registry.importBatch(batch, as: operatorActor) == ImportSummary(persons: 1, qualifications: 0))
    }

    /// A JSON number is read as text where text is expected, the service number too: its nested qualifications
    /// were attached to a person with an empty number.
    @Test func aNumericServiceNumberCarriesItsNestedQualifications() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let registry = try makeRegistry()
        let json = """
            [{"serviceNumber": 4400123, "latinName": "Number Person", "sex": "M", "contingent": "KAZ",
              "rank": "Major", "category": "TROOP", "dateOfBirth": "1986-10-10",
              "qualifications": [{"kind": "TRAINING", "code": "UN-CPTM", "issuedOn": "2025-01-01"}]}]
            """
        var batch = ImportBatch()
        batch.read(try write(json, "people.json", in: folder))
        #expect(batch.problems == [])
        #expect(try registry.importBatch(batch, as: operatorActor) == ImportSummary(persons: 1, qualifications: 1))
        let record = try registry.person(serviceNumber: "4400123", as: operatorActor)
        #expect(record.qualifications.map(\.code) == ["UN-CPTM"])
        // A number JSON cannot keep every digit of is refused, not stored as another (...993 read as ...992).
        var large = ImportBatch()
        let larger = json.replacingOccurrences(of: "4400123", with: "9007199254740993")
        large.read(try write(larger, "large.json", in: folder))
        #expect(large.problems.count == 1, "\(large.problems)")
        #expect(large.problems.first?.contains("serviceNumber: must be text") == true)
    }

    @Test func exportRoundTripsThroughImport() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let source = try makeRegistry()
        let records = try source.personRecords(as: operatorActor)
        let target = try Registry(database: try DatabaseQueue())
        for (code, name) in [("KAZ", "Kazakhstan"), ("IND", "India"), ("KGZ", "Kyrgyzstan")] {
            try target.addContingent(Contingent(code: code, name: name), as: operatorActor)
        }
        var json = ImportBatch()
        json.read(try write(RegistryExport.json(records), "export.json", in: folder))
        try target.importBatch(json, as: operatorActor)
        #expect(
            try target.personRecords(as: operatorActor).map(\.person.serviceNumber)
                == records.map(\.person.serviceNumber))
        #expect(
            try target.personRecords(as: operatorActor).map(\.qualifications.count)
                == records.map(\.qualifications.count))

        let csvTarget = try Registry(database: try DatabaseQueue())
        for code in ["KAZ", "IND"] {
            try csvTarget.addContingent(Contingent(code: code, name: code), as: operatorActor)
        }
        var csv = ImportBatch()
        csv.read(try write(RegistryExport.personsCSV(records), "p.csv", in: folder))
        csv.read(try write(RegistryExport.qualificationsCSV(records), "q.csv", in: folder))
        #expect(try csvTarget.importBatch(csv, as: operatorActor) == ImportSummary(persons: 3, qualifications: 4))
        let copied = try csvTarget.person(serviceNumber: "KAZ-1", as: operatorActor)
        let original = try source.person(serviceNumber: "KAZ-1", as: operatorActor)
        #expect(copied.person.cyrillicName == original.person.cyrillicName)
        #expect(copied.qualifications.map(\.expiresOn) == original.qualifications.map(\.expiresOn))
    }

    @Test func csvParserHandlesQuotesAndLineBreaks() throws {
        func records(_ text: String) throws -> [CSV.Record] {
            var reader = CSV.Reader(Array(text.utf8))
            var records: [CSV.Record] = []
            while let record = try reader.next() { records.append(record) }
            return records
        }
        let parsed = try records("\u{FEFF}a,\"b,1\",\"c\"\"d\"\r\n\"multi\nline\",x,\n\nlast,,")
        #expect(parsed.map(\.fields) == [["a", "b,1", "c\"d"], ["multi\nline", "x", ""], ["last", "", ""]])
        #expect(parsed.map(\.line) == [1, 2, 5])
        #expect(try records("a,b\n\n").map(\.fields) == [["a", "b"]])
        #expect(throws: CSV.Failure.self) { try records("a,\"b\"c\n") }
        #expect(throws: CSV.Failure.self) { try records("a,\"b\n") }
        #expect(CSV.escape("x,y") == "\"x,y\"")
        // A CR LF, and a comma or quote followed by a combining mark, are single Characters to Swift: each is
        // quoted all the same, and reads back as it was.
        for field in ["Иван\r\nИванов", "Comma,\u{301}Accent", "Quote\"\u{301}d"] {
            let read = try records(CSV.line([field, "next"]))
            #expect(read.map(\.fields) == [[field, "next"]], "\(field.debugDescription)")
        }
    }

    /// A number too large for an integer, where text is expected, is a problem naming its field; it crashed the
    /// import (a Double past Int.max converted to Int), and then was stored as its rounded text (`1e+19`).
    @Test func aHugeNumberIsAProblemNotACrash() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let json = """
            [{"serviceNumber": 1e19, "latinName": "Bakyt T", "sex": "M", "nationality": "KGZ", "contingent": "KGZ",
              "rank": 1e300, "category": "STAFF_OFFICER", "dateOfBirth": "1986-10-10"}]
            """
        var batch = ImportBatch()
        batch.read(try write(json, "people.json", in: folder))
        let fields = batch.problems.map { $0.components(separatedBy: ":").dropFirst(2).first }
        #expect(fields == [" serviceNumber", " rank"], "\(batch.problems)")
    }
}
