import Foundation
import GRDB
import PeaceHubCore
import PeaceHubRegistry
import PeaceHubTesting
import Testing

/// `peacehub registry ...` run as a real process on temporary databases.
@Suite("peacehub registry (built binary)")
struct RegistryCLITests {
    /// A temporary folder with a seeded registry, and a runner for the binary against it.
    struct Harness {
        let folder: TemporaryDirectory
        var database: String { folder.path("registry.sqlite") }

        init(seeded: Bool = true) throws {
            folder = try TemporaryDirectory(prefix: "peacehub-registry-cli")
            if seeded {
                let result = try run(["seed"])
                #expect(result.status == 0, "\(result.stderr)")
            }
        }

        func run(_ arguments: [String], stdin: Data? = nil) throws -> ProcessResult {
            try ProcessRunner.peacehub(
                ["registry"] + arguments + ["--db", database], environment: ["PEACEHUB_DATA_DIR": folder.path("data")],
                stdin: stdin)
        }

        func json(_ arguments: [String]) throws -> JSONValue {
            let result = try run(arguments + ["--json"])
            #expect(result.status == 0, "\(arguments): \(result.stderr)")
            return try JSONValue(parsing: Data(result.stdout.utf8))
        }
    }

    /// Text an older hub stored (before control characters were refused) reaches the terminal escaped: a name's
    /// escape sequences set the window title and cleared the screen of the operator who listed it.
    @Test func controlCharactersAreEscapedOnTheTerminal() throws {
        let harness = try Harness()
        defer { harness.folder.remove() }
        let registry = try Registry(path: harness.database)
        try registry.database.write { db in
            try db.execute(
                sql: "UPDATE person SET latinName = ?, rank = ? WHERE serviceNumber = 'KAZ-100202'",
                arguments: ["\u{1B}]0;pwned\u{7}Name", "Major\u{1B}[2J"])
        }
        for arguments in [["person", "show", "KAZ-100202"], ["person", "list", "--contingent", "KAZ"]] {
            let result = try harness.run(arguments)
            #expect(result.status == 0, "\(result.stderr)")
            #expect(!result.stdout.unicodeScalars.contains("\u{1B}") && !result.stdout.unicodeScalars.contains("\u{7}"))
            #expect(result.stdout.contains(#"\u{1B}]0;pwned\u{07}Name"#), "\(result.stdout)")
        }
    }

    /// A person an older hub stored with a language listed twice (refused since) can still be changed: every
    /// update was refused for the stored languages. A change that brings a problem of its own is refused.
    @Test func aRecordStoredBeforeARuleCanStillBeUpdated() throws {
        let harness = try Harness()
        defer { harness.folder.remove() }
        let registry = try Registry(path: harness.database)
        try registry.database.write { db in
            try db.execute(
                sql: "UPDATE person SET languages = ? WHERE serviceNumber = 'KAZ-100202'",
                arguments: [#"[{"code":"en","level":"A1"},{"code":"en","level":"C2"}]"#])
        }
        let update = try harness.run(["person", "update", "KAZ-100202", "--rank", "Colonel"])
        #expect(update.status == 0, "\(update.stderr)")
        // A field the update sets is checked whole, also with the problem it held before.
        for languages in ["ru:B2;ru:C1", "en:B1;en:B2"] {
            let bad = try harness.run(["person", "update", "KAZ-100202", "--languages", languages])
            #expect(bad.status == 1, "\(languages)")
            #expect(bad.stderr.contains("appears more than once"), "\(bad.stderr)")
        }
    }

    @Test func seedListAndShowWithSharedFields() throws {
        let harness = try Harness()
        defer { harness.folder.remove() }
        let people = try harness.json(["person", "list"])
        #expect(people.arrayValue?.count == 35)

        let own = try harness.json(["person", "show", "KAZ-100202", "--as", "KAZ"])
        #expect(own["person"]?["dateOfBirth"] == "1991-10-03")
        #expect(own["restricted"] == false)
        let other = try harness.json(["person", "show", "KAZ-100202", "--as", "KGZ"])
        #expect(other["person"]?["dateOfBirth"] == nil)
        #expect(other["restricted"] == true)
        #expect(other["qualifications"]?.arrayValue?.contains { $0["kind"] == "MEDICAL" } == false)

        let table = try harness.run(["person", "show", "KAZ-100202", "--as", "KGZ"])
        #expect(table.status == 0)
        #expect(table.stdout.contains("Гүлнара Серікқызы Әбенова"))
        #expect(table.stdout.contains("(withheld)"))

        let again = try harness.run(["seed"])
        #expect(again.status != 0)
        #expect(again.stderr.contains("not empty"))
    }

    /// A mistyped `--db` is an error, not a new empty registry that answers every read (an audit "intact").
    @Test func aRegistryNamedWithDbMustExistForReads() throws {
        let harness = try Harness(seeded: false)
        defer { harness.folder.remove() }
        // An import too: it can only add people to contingents a registry already has, and a refused one left a
        // new empty registry behind (with the folders of the path).
        let people = harness.folder.url.appendingPathComponent("people.csv")
        try "serviceNumber,latinName\n".write(to: people, atomically: true, encoding: .utf8)
        for command in [["person", "list"], ["audit", "verify"], ["stats"], ["import", people.path]] {
            let result = try harness.run(command)
            #expect(result.status == 1, "\(command): \(result.stdout)")
            #expect(result.stderr.contains("no registry at \(harness.database)"), "\(command): \(result.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: harness.database))
        // A folder given as the database is refused, and left as it was (it was made 0600: its owner locked out).
        let folder = harness.folder.url.appendingPathComponent("data-folder")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: folder.path)
        let asFolder = try ProcessRunner.peacehub(["registry", "seed", "--db", folder.path])
        #expect(asFolder.status == 1)
        #expect(asFolder.stderr.contains("is not a file (a folder?)"), "\(asFolder.stderr)")
        let mode = try FileManager.default.attributesOfItem(atPath: folder.path)[.posixPermissions] as? Int
        #expect(mode == 0o755)
        let created = try harness.run(["contingent", "add", "NPL", "--name", "Nepal"])
        #expect(created.status == 0, "\(created.stderr)")
        #expect(try harness.run(["contingent", "list"]).stdout.contains("NPL"))
    }

    /// `make bench` runs `registry benchmark`, which makes its own database: it must not be refused as a mistyped
    /// `--db` (the bench printed no registry numbers when it was).
    @Test func theRegistryBenchmarkRunsOnAFreshDatabase() throws {
        let plugins = TestEnvironment.pluginsDirectory.path
        let result = try ProcessRunner.peacehub(
            ["registry", "benchmark", "--persons", "300", "--queries", "20", "--plugins", plugins])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("import: 300 persons + 900 qualifications"), "\(result.stdout)")
        #expect(result.stdout.contains("readiness query (request + UNIFIL module)"), "\(result.stdout)")
    }

    @Test func personLifecycleAndAccessRules() throws {
        let harness = try Harness()
        defer { harness.folder.remove() }
        let add = [
            "person", "add", "KAZ-900001", "--latin-name", "Aliya Test", "--cyrillic-name", "Әлия Тест", "--sex", "F",
            "--contingent", "KAZ", "--rank", "Captain", "--rank-code", "OF-2", "--category", "MILITARY_OBSERVER",
            "--born", "1991-01-01", "--service-years", "8", "--languages", "en:C1;ru:C2",
        ]
        let refused = try harness.run(add + ["--as", "IND"])
        #expect(refused.status == 1)
        #expect(refused.stderr == "Error: access denied: contingent:IND may not change people of contingent KAZ\n")
        let added = try harness.run(add + ["--as", "KAZ"])
        #expect(added.status == 0, "\(added.stderr)")
        #expect(added.stdout == "added KAZ-900001\n")
        let duplicate = try harness.run(add)
        #expect(duplicate.status == 1)
        #expect(duplicate.stderr.contains("already registered"))

        let updated = try harness.json(["person", "update", "KAZ-900001", "--rank", "Major", "--as", "KAZ"])
        #expect(updated["rank"] == "Major")
        #expect(updated["languages"] == [["code": "en", "level": "C1"], ["code": "ru", "level": "C2"]])
        let moved = try harness.run(["person", "update", "KAZ-900001", "--contingent", "IND", "--as", "KAZ"])
        #expect(moved.status == 1)
        #expect(moved.stderr.contains("access denied"))

        let qualification = try harness.run([
            "qualification", "add", "KAZ-900001", "--kind", "TRAINING", "--code", "UN-CPTM", "--issued", "2025-01-01",
            "--expires", "2026-01-01", "--as", "KAZ",
        ])
        #expect(qualification.status == 0, "\(qualification.stderr)")
        #expect(try harness.json(["qualification", "list", "KAZ-900001"]).arrayValue?.count == 1)
        #expect(try harness.json(["qualification", "list", "KAZ-900001", "--valid-on", "2026-06-01"]) == [])

        let removedByOther = try harness.run(["person", "remove", "KAZ-900001", "--as", "IND"])
        #expect(removedByOther.status == 1)
        #expect(try harness.run(["person", "remove", "KAZ-900001", "--as", "KAZ"]).status == 0)
        let missing = try harness.run(["person", "show", "KAZ-900001"])
        #expect(missing.status == 1)
        #expect(missing.stderr == "Error: not found: no person with service number KAZ-900001\n")

        let badDate = try harness.run(["person", "add", "X-1", "--born", "1991-02-30"])
        #expect(badDate.status == 64)
        #expect(!badDate.stderr.contains("Fatal error"))
        let badActor = try harness.run(["person", "list", "--as", "nobody"])
        #expect(badActor.status == 64, "a bad argument, as argument-parser's own")
        #expect(badActor.stderr.contains("--as 'nobody'"))
    }

    @Test func importIsAllOrNothing() throws {
        let harness = try Harness()
        defer { harness.folder.remove() }
        let good = harness.folder.url.appendingPathComponent("good.csv")
        try Data(
            """
            serviceNumber,latinName,sex,nationality,contingent,rank,category,dateOfBirth,languages
            TJK-7001,Rustam Test,M,TJK,TJK,Police Major,POLICE,1984-01-01,en:B2

            """.utf8
        ).write(to: good)
        let bad = harness.folder.url.appendingPathComponent("bad.csv")
        try Data(
            """
            serviceNumber,kind,code,issuedOn,expiresOn
            TJK-7001,TRAINING,UN-CPTM,2025-01-01,
            TJK-5521,MEDICAL,MEDICAL-CLEARANCE,2026-13-01,
            NOBODY,TRAINING,POC,2025-01-01,

            """.utf8
        ).write(to: bad)
        let before = try harness.run(["export", "--format", "json"])
        let refused = try harness.run(["import", good.path, bad.path, "--as", "TJK"])
        #expect(refused.status == 1)
        let lines = refused.stderr.split(separator: "\n").map(String.init)
        #expect(lines.contains("\(bad.path):3: issuedOn: '2026-13-01' is not a date (YYYY-MM-DD)"))
        #expect(lines.contains("\(bad.path):4: serviceNumber: no person NOBODY in the registry or the import"))
        #expect(lines.last == "Error: invalid input: import refused: 2 problem(s); the registry is unchanged")
        #expect(try harness.run(["export", "--format", "json"]).stdout == before.stdout)

        // From a pipe, as `<(iconv -f cp1251 -t utf-8 file.csv)` gives one (read by its size, it "could not be read").
        let piped = try harness.run(["import", "/dev/stdin", "--as", "TJK", "--json"], stdin: try Data(contentsOf: good))
        #expect(piped.status == 0, "\(piped.stderr)")
        #expect(try JSONValue(parsing: Data(piped.stdout.utf8)) == ["persons": 1, "qualifications": 0])
        // JSON through a pipe too: a name without `.json` whose text starts with `[` (it was read as CSV, "a quote
        // inside an unquoted field"). Its people are registered already, which only JSON read as JSON can say.
        let exported = try harness.run(["export", "--format", "json"])
        let again = try harness.run(["import", "/dev/stdin"], stdin: Data(exported.stdout.utf8))
        #expect(again.status == 1 && !again.stderr.contains("csv:"), "\(again.stderr)")
        #expect(again.stderr.contains("is already registered"), "\(again.stderr)")
        #expect(try harness.json(["person", "show", "TJK-7001"])["person"]?["rank"] == "Police Major")
    }

    @Test func largeImportsReportProgressAsPlainLines() throws {
        let harness = try Harness()
        defer { harness.folder.remove() }
        var text = "serviceNumber,latinName,sex,nationality,contingent,rank,category,dateOfBirth\n"
        for index in 0..<6000 { text += "UZB-\(100_000 + index),Person \(index),M,UZB,UZB,Captain,TROOP,1990-01-01\n" }
        let file = harness.folder.url.appendingPathComponent("many.csv")
        try Data(text.utf8).write(to: file)
        let result = try harness.run(["import", file.path])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "imported 6000 person(s) and 0 qualification(s)\n")
        // Rows are written in chunks, so a progress line comes after the chunk that passes each 5,000 rows.
        let written = result.stderr.split(separator: "\n").compactMap { line -> Int? in
            guard line.hasPrefix("import: "), line.hasSuffix("/6000 rows written") else { return nil }
            return Int(line.dropFirst("import: ".count).prefix { $0 != "/" })
        }
        #expect(written.count == 2 && written[0] >= 5000 && written[0] < 6000 && written[1] == 6000, "\(result.stderr)")
        #expect(!result.stderr.contains("\r"))
        // A total that is a multiple of 5,000: its last line once (the last chunk's report repeated it).
        var exact = "serviceNumber,latinName,sex,nationality,contingent,rank,category,dateOfBirth\n"
        for index in 0..<5000 { exact += "UZB-\(200_000 + index),Person \(index),M,UZB,UZB,Captain,TROOP,1990-01-01\n" }
        try Data(exact.utf8).write(to: file)
        let once = try harness.run(["import", file.path])
        #expect(once.status == 0, "\(once.stderr)")
        #expect(once.stderr.components(separatedBy: "import: 5000/5000 rows written").count == 2, "\(once.stderr)")
    }

    @Test func exportWritesTheImportFormats() throws {
        let harness = try Harness()
        defer { harness.folder.remove() }
        let csv = try harness.run(["export", "--format", "csv"])
        #expect(csv.status == 0)
        // `--json` wrote CSV without a word: the format is `--format`'s.
        let both = try harness.run(["export", "--format", "csv", "--json"])
        #expect(both.status == 64 && both.stderr.contains("--json does not apply to export"), "\(both.stderr)")
        let rows = csv.stdout.split(separator: "\n")
        #expect(rows.first?.hasPrefix("serviceNumber,latinName,cyrillicName,sex") == true)
        #expect(rows.count == 36)
        let qualifications = try harness.run(["export", "--format", "csv", "--entity", "qualifications"])
        #expect(qualifications.stdout.hasPrefix("serviceNumber,kind,code,provider"))
        let output = harness.folder.path("export.json")
        #expect(try harness.run(["export", "--format", "json", "--output", output]).status == 0)
        let exported = try JSONValue(parsing: try Data(contentsOf: URL(fileURLWithPath: output)))
        #expect(exported.arrayValue?.count == 35)
        // Dates of birth and medical records: 0600, and no file written over.
        let mode = try FileManager.default.attributesOfItem(atPath: output)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        let again = try harness.run(["export", "--format", "json", "--output", output])
        #expect(again.status == 1 && again.stderr.contains("File exists"), "\(again.stderr)")
        let badFormat = try harness.run(["export", "--format", "xml"])
        #expect(badFormat.status == 64)
        // Cut short (a file size limit standing in for a full disk): nothing under the name, which a whole export
        // would take (a partial file was left there).
        let cut = harness.folder.path("cut.json")
        let limited = try ProcessRunner.run(
            "prlimit",
            [
                "--fsize=36000", TestEnvironment.peacehubExecutable.path, "registry", "export", "--format", "json",
                "--output", cut, "--db", harness.database,
            ], environment: ["PEACEHUB_DATA_DIR": harness.folder.path("data")])
        #expect(limited.status != 0)
        #expect(!FileManager.default.fileExists(atPath: cut), "\(limited.stderr)")
        // With SIGXFSZ ignored, the write fails instead and the refusal names why.
        let refused = try ProcessRunner.run(
            "sh",
            [
                "-c",
                "trap '' XFSZ; ulimit -f 70; exec \"$0\" registry export --format json --output \"$1\" --db \"$2\"",
                TestEnvironment.peacehubExecutable.path, cut, harness.database,
            ], environment: ["PEACEHUB_DATA_DIR": harness.folder.path("data")])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("File too large; nothing was written under that name"), "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: cut))
        #expect(!FileManager.default.fileExists(atPath: cut + ".partial"))
        // A backup cut short the same way leaves nothing either (SQLite's journal of the copy stayed).
        let copy = harness.folder.path("copy.sqlite")
        let backup = try ProcessRunner.run(
            "sh",
            [
                "-c", "trap '' XFSZ; ulimit -f 70; exec \"$0\" registry backup \"$1\" --db \"$2\"",
                TestEnvironment.peacehubExecutable.path, copy, harness.database,
            ], environment: ["PEACEHUB_DATA_DIR": harness.folder.path("data")])
        #expect(backup.status == 1 && backup.stderr.contains("cannot write the backup"), "\(backup.stderr)")
        let left = try FileManager.default.contentsOfDirectory(atPath: harness.folder.url.path).filter {
            $0.hasPrefix("copy.sqlite")
        }
        #expect(left.isEmpty, "\(left)")
    }

    @Test func statsReportStrengthAndWomen() throws {
        let harness = try Harness()
        defer { harness.folder.remove() }
        let report = try harness.json(["stats", "--date", "2026-11-27"])
        #expect(report["date"] == "2026-11-27")
        let kazakh = report["rows"]?.arrayValue?.first {
            $0["mission"] == "UNIFIL" && $0["contingent"] == "KAZ" && $0["category"] == "TROOP"
        }
        #expect(kazakh?["total"] == 8)
        #expect(kazakh?["women"] == 3)
        #expect(kazakh?["womenShare"] == 0.375)
        let table = try harness.run(["stats", "--date", "2026-11-27"])
        #expect(table.stdout.contains("WOMEN %"))
        #expect(table.stdout.contains("37.5%"))
    }

    @Test func auditVerifyNamesTheTamperedEntry() throws {
        let harness = try Harness()
        defer { harness.folder.remove() }
        let clean = try harness.run(["audit", "verify"])
        #expect(clean.status == 0)
        #expect(clean.stdout.hasPrefix("audit chain intact: "))
        // The last hash, kept elsewhere, shows what the keyless chain cannot: the newest entries removed with the
        // head set back to an earlier entry's.
        let last = try #require(clean.stdout.split(separator: " ").last?.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(clean.stdout.contains("entries, the last's hash ") && last.count == 64, "\(clean.stdout)")
        let cut = harness.folder.path("cut.sqlite")
        try FileManager.default.copyItem(atPath: harness.database, toPath: cut)
        do {
            let queue = try DatabaseQueue(path: cut)
            try queue.write { db in
                try db.execute(
                    sql: """
                        DELETE FROM auditEntry WHERE seq > 30;
                        UPDATE auditHead SET seq = 30, hash = (SELECT hash FROM auditEntry WHERE seq = 30)
                        """)
            }
            try queue.close()
        }
        let truncated = try ProcessRunner.peacehub(
            ["registry", "audit", "verify", "--db", cut, "--json"],
            environment: ["PEACEHUB_DATA_DIR": harness.folder.path("data")])
        #expect(truncated.status == 0, "the chain alone cannot tell: \(truncated.stderr)")
        let truncatedLast = try JSONValue(parsing: Data(truncated.stdout.utf8))["lastHash"]?.stringValue
        #expect(truncatedLast != nil && truncatedLast != last)
        do {
            let queue = try DatabaseQueue(path: harness.database)
            try queue.write { db in
                try db.execute(sql: "UPDATE auditEntry SET actor = 'operator:mallory' WHERE seq = 40")
            }
            try queue.close()
        }
        let edited = try harness.run(["audit", "verify"])
        #expect(edited.status == 1)
        #expect(edited.stderr.hasPrefix("Error: audit chain broken at audit entry 40: hash mismatch"))
        let report = try harness.run(["audit", "verify", "--json"])
        #expect(report.status == 1)
        #expect(try JSONValue(parsing: Data(report.stdout.utf8))["firstBad"] == 40)
    }

    /// A registry of another user (made by a command run as root beside the hub's user) is named with its owner:
    /// SQLite said only "unable to open database file". Another user needs root to make.
    @Test(.enabled(if: geteuid() == 0)) func aRegistryOfAnotherUserIsNamedWithItsOwner() throws {
        let harness = try Harness()
        defer { harness.folder.remove() }
        let executable = harness.folder.path("peacehub")
        try FileManager.default.copyItem(atPath: TestEnvironment.peacehubExecutable.path, toPath: executable)
        #expect(chmod(harness.folder.url.path, 0o755) == 0)
        let writing = ["contingent", "add", "MNG", "--name", "Mongolia"]
        for (command, access) in [(writing, "read and write"), (["stats"], "read")] {
            let result = try ProcessRunner.run(
                "/usr/bin/setpriv",
                ["--reuid=65534", "--regid=65534", "--clear-groups", executable, "registry"] + command
                    + ["--db", harness.database], timeout: 60)
            #expect(result.status == 1)
            #expect(
                result.stderr.contains(
                    "cannot \(access) \(harness.database): Permission denied (it belongs to uid 0; this runs as uid "
                        + "65534)"), "\(command): \(result.stderr)")
        }
    }

    @Test func backupAndNewerSchemaRefusal() throws {
        let harness = try Harness()
        defer { harness.folder.remove() }
        let copy = harness.folder.path("copy.sqlite")
        let backup = try harness.run(["backup", copy])
        #expect(backup.status == 0, "\(backup.stderr)")
        // The commands that only read leave a backup byte for byte as it was (its checksum holds), with nothing
        // beside it: `audit verify` switched it to a write-ahead log.
        let bytes = try Data(contentsOf: URL(fileURLWithPath: copy))
        let reads = [
            ["audit", "verify"], ["audit", "list"], ["export", "--format", "json"], ["stats"], ["contingent", "list"],
            ["person", "list"], ["person", "show", "KAZ-100201"], ["mission", "list"], ["equipment", "list"],
            ["deploy", "list"], ["qualification", "list", "KAZ-100201"],
        ]
        for command in reads {
            let read = try ProcessRunner.peacehub(["registry"] + command + ["--db", copy])
            #expect(read.status == 0, "\(command): \(read.stderr)")
            #expect(try Data(contentsOf: URL(fileURLWithPath: copy)) == bytes, "\(command)")
        }
        #expect(!FileManager.default.fileExists(atPath: copy + "-wal"))
        let listed = try ProcessRunner.peacehub(["registry", "person", "list", "--json", "--db", copy])
        #expect(try JSONValue(parsing: Data(listed.stdout.utf8)).arrayValue?.count == 35)
        #expect(try harness.run(["backup", copy]).status == 1)
        // Written under another name and linked in when whole: nothing is left beside it.
        #expect(!FileManager.default.fileExists(atPath: copy + ".partial"))
        // An empty file (what a backup cut short could leave, or a `touch`) is no registry to verify as intact.
        let empty = harness.folder.path("empty.sqlite")
        #expect(FileManager.default.createFile(atPath: empty, contents: Data()))
        let verified = try ProcessRunner.peacehub(["registry", "audit", "verify", "--db", empty])
        #expect(verified.status == 1 && verified.stderr.contains("is empty: not a registry"), "\(verified.stderr)")
        #expect((try? FileManager.default.attributesOfItem(atPath: empty)[.size] as? Int) == 0, "left as it was")
        let asContingent = try harness.run(["backup", harness.folder.path("kaz.sqlite"), "--as", "KAZ"])
        #expect(asContingent.status == 1 && asContingent.stderr.contains("operators only"), "\(asContingent.stderr)")

        do {
            let queue = try DatabaseQueue(path: copy)
            try queue.write { db in try db.execute(sql: "INSERT INTO grdb_migrations VALUES ('v3-newer')") }
            try queue.close()
        }
        let newer = try ProcessRunner.peacehub(["registry", "person", "list", "--db", copy])
        #expect(newer.status == 1)
        #expect(newer.stderr.contains("schema too new"))
        #expect(newer.stderr.contains("v3-newer"))
        #expect(newer.stderr.split(separator: "\n").count == 1)
    }

    @Test func anOlderDatabaseIsBackedUpAndMigrated() throws {
        let harness = try Harness(seeded: false)
        defer { harness.folder.remove() }
        let previous = RegistrySchema.versions[RegistrySchema.versions.count - 2]
        do {
            let queue = try DatabaseQueue(path: harness.database)
            try RegistrySchema.migrator.migrate(queue, upTo: previous)
            try queue.write { db in
                try db.execute(sql: "INSERT INTO contingent (code, name) VALUES ('KAZ', 'Kazakhstan')")
            }
            try queue.close()
        }
        let listed = try harness.run(["contingent", "list"])
        #expect(listed.status == 0, "\(listed.stderr)")
        #expect(listed.stdout.contains("Kazakhstan"))
        #expect(listed.stderr.contains("migrated"))
        #expect(FileManager.default.fileExists(atPath: harness.database + ".backup-\(previous)"))
        let again = try harness.run(["contingent", "list"])
        #expect(again.stderr.isEmpty)
    }

    @Test func contingentsMissionsAndEquipment() throws {
        let harness = try Harness()
        defer { harness.folder.remove() }
        #expect(try harness.json(["contingent", "list"]).arrayValue?.count == 5)
        #expect(try harness.run(["contingent", "add", "TKM", "--name", "Turkmenistan", "--as", "KAZ"]).status == 1)
        #expect(try harness.run(["contingent", "add", "TKM", "--name", "Turkmenistan"]).status == 0)
        let pcrs = try harness.json([
            "contingent", "pcrs", "UZB", "--level", "L1", "--evidence", "Pledge", "--date", "2026-11-01",
        ])
        #expect(pcrs["pcrsLevel"] == "L1")

        let unifil = try harness.json(["mission", "show", "UNIFIL"])
        #expect(unifil["phases"]?.arrayValue?.map { $0["lifecycle"] } == ["ACTIVE", "DRAWDOWN", "LIQUIDATION"])
        let later = try harness.json(["mission", "list", "--date", "2027-02-01"])
        #expect(later.arrayValue?.first { $0["mission"]?["code"] == "UNIFIL" }?["lifecycle"] == "DRAWDOWN")
        let backwards = try harness.run([
            "mission", "phase", "UNIFIL", "--lifecycle", "ACTIVE", "--since", "2030-01-01",
        ])
        #expect(backwards.status == 1)
        #expect(backwards.stderr.contains("invariant violated"))

        let add = [
            "equipment", "add", "KAZ-COE-0099", "--contingent", "KAZ", "--class", "MAJOR_EQUIPMENT", "--category",
            "Ambulance", "--lease", "DRY",
        ]
        #expect(try harness.run(add + ["--as", "IND"]).status == 1)
        #expect(try harness.run(add + ["--as", "KAZ"]).status == 0)
        #expect(try harness.run(["equipment", "status", "KAZ-COE-0099", "UNSERVICEABLE", "--as", "KAZ"]).status == 0)
        #expect(
            try harness.run([
                "equipment", "inspect", "KAZ-COE-0099", "--type", "ARRIVAL", "--date", "2026-11-20", "--result", "OK",
                "--as", "KAZ",
            ]).status == 0)
        let shown = try harness.json(["equipment", "show", "KAZ-COE-0099"])
        #expect(shown["equipment"]?["status"] == "UNSERVICEABLE")
        #expect(shown["inspections"]?.arrayValue?.count == 1)
        #expect(try harness.json(["equipment", "list", "--contingent", "KAZ"]).arrayValue?.count == 5)
    }

    /// The changes and queries the admin API offers, from the command line too (the same registry functions).
    @Test func qualificationAndEquipmentChangesAndTheReportArchive() throws {
        let harness = try Harness()
        defer { harness.folder.remove() }
        let list = try harness.json(["qualification", "list", "KAZ-100202", "--as", "KAZ"]).arrayValue ?? []
        let training = try #require(list.first { $0["code"] == "UN-CPTM" })
        let id = String(Int(try #require(training["id"]?.numberValue)))
        let renew = ["qualification", "update", "KAZ-100202", id, "--expires", "2029-01-01"]
        #expect(try harness.run(renew + ["--as", "KGZ"]).status == 1)
        let renewed = try harness.json(renew + ["--as", "KAZ"])
        #expect(renewed["expiresOn"] == "2029-01-01")
        #expect(try harness.run(["qualification", "remove", "KAZ-100202", id, "--as", "KAZ"]).status == 0)
        let remaining = try harness.json(["qualification", "list", "KAZ-100202", "--as", "KAZ"]).arrayValue ?? []
        #expect(!remaining.contains { $0["code"] == "UN-CPTM" })

        let updated = try harness.json(["equipment", "update", "KAZ-SS-CAT-01", "--description", "", "--as", "KAZ"])
        #expect(updated["description"] == nil)
        let handOver = ["equipment", "update", "KAZ-SS-CAT-01", "--contingent", "IND", "--as", "KAZ"]
        #expect(try harness.run(handOver).status == 1)
        let inspected = try harness.run(["equipment", "remove", "KAZ-COE-0001", "--as", "KAZ"])
        #expect(inspected.status == 1)
        #expect(inspected.stderr.contains("inspection(s) on record"))
        #expect(try harness.run(["equipment", "remove", "KAZ-SS-CAT-01", "--as", "KAZ"]).status == 0)
        #expect(try harness.json(["equipment", "list", "--status", "UNSERVICEABLE"]).arrayValue?.count == 1)

        let registry = try Registry(path: harness.database)
        for (mission, type, lat) in [("UNIFIL", "UXO", 33.2), ("UNIFIL", "PATROL", 33.9), ("MINURSO", "UXO", 27.0)] {
            try registry.archiveReport(
                ArchivedReport(
                    mission: mission, type: type, sender: "KAZ", receivedAt: "2026-11-20T08:00:00Z",
                    precedence: "ROUTINE", latitude: lat, longitude: 35.4, body: #"{"narrative":"seen"}"#))
        }
        let archived = try harness.json(["reports"]).arrayValue ?? []
        #expect(archived.count == 3)
        // The admin API's shape: the body as JSON, not as a string of JSON, and the position as one object.
        #expect(archived.first?["body"]?["narrative"] == "seen")
        #expect(archived.first?["location"]?["lon"]?.numberValue == 35.4)
        #expect(try harness.json(["reports", "--type", "UXO", "--bbox", "35,33,36,34"]).arrayValue?.count == 1)
        #expect(try harness.json(["reports", "--bbox", "-36,33,36,34"]).arrayValue?.count == 2, "a box from the west")
        #expect(try harness.json(["reports", "--from", "2026-11-21"]).arrayValue?.count == 0)
        #expect(try harness.json(["reports", "--as", "KAZ"]).arrayValue?.count == 3)
        #expect(try harness.json(["reports", "--as", "TJK"]).arrayValue?.count == 0)
        let refused = try harness.run(["reports", "--mission", "UNIFIL", "--as", "TJK"])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("access denied"))
        let badBox = try harness.run(["reports", "--bbox", "1,2"])
        #expect(badBox.status == 64 && badBox.stderr.contains("--bbox must be"), "bad arguments exit 64")
    }

    @Test func deploymentsAndReadinessThroughTheExampleModule() throws {
        let harness = try Harness(seeded: false)
        defer { harness.folder.remove() }
        let plugins = harness.folder.url.appendingPathComponent("plugins")
        try FileManager.default.createDirectory(at: plugins, withIntermediateDirectories: true)
        let library = plugins.appendingPathComponent("libPeaceHubExample.so")
        try FileManager.default.copyItem(
            at: TestEnvironment.binDirectory.appendingPathComponent("libPeaceHubExample.so"), to: library)
        try FixtureModules.writeManifest(library: library, id: "org.peacehub.example", mission: "EXAMPLE")

        #expect(try harness.run(["contingent", "add", "KAZ", "--name", "Kazakhstan"]).status == 0)
        #expect(
            try harness.run(["mission", "add", "EXAMPLE", "--name", "Example", "--established", "2020-01-01"]).status
                == 0)
        for number in ["KAZ-1", "KAZ-2"] {
            let added = try harness.run([
                "person", "add", number, "--latin-name", "Test \(number)", "--sex", "M", "--contingent", "KAZ",
                "--rank", "Captain", "--category", "TROOP", "--born", "1990-01-01",
            ])
            #expect(added.status == 0, "\(added.stderr)")
        }
        let training = [
            "qualification", "add", "KAZ-1", "--kind", "TRAINING", "--code", "UN-CPTM", "--issued", "2025-01-01",
        ]
        #expect(try harness.run(training).status == 0)

        let ready = try harness.run([
            "readiness", "--person", "KAZ-1", "--mission", "EXAMPLE", "--plugins", plugins.path,
        ])
        #expect(ready.status == 0, "\(ready.stderr)")
        #expect(ready.stdout.contains("KAZ-1 is ready for EXAMPLE"))
        let notReady = try harness.run([
            "readiness", "--person", "KAZ-2", "--mission", "EXAMPLE", "--plugins", plugins.path, "--json",
        ])
        #expect(notReady.status == 3)
        let report = try JSONValue(parsing: Data(notReady.stdout.utf8))
        #expect(report["ready"] == false)
        #expect(report["unmet"]?.arrayValue?.first?["code"] == "TRAINING_CPTM")

        let first = try harness.json([
            "deploy", "plan", "--person", "KAZ-1", "--mission", "EXAMPLE", "--role", "Observer", "--start",
            "2030-01-01",
            "--end", "2030-06-30", "--as", "KAZ",
        ])
        let second = try harness.json([
            "deploy", "plan", "--person", "KAZ-2", "--mission", "EXAMPLE", "--role", "Observer", "--start",
            "2030-01-01",
            "--end", "2030-06-30",
        ])
        let overlap = try harness.run([
            "deploy", "plan", "--person", "KAZ-1", "--mission", "EXAMPLE", "--role", "Observer", "--start",
            "2030-06-01",
            "--end", "2030-12-31",
        ])
        #expect(overlap.status == 1)
        #expect(overlap.stderr.contains("overlapping"))
        let firstID = "\(Int(first["id"]?.numberValue ?? 0))"
        let secondID = "\(Int(second["id"]?.numberValue ?? 0))"

        let refused = try harness.run(["deploy", "advance", secondID, "--to", "IN_TRANSIT", "--plugins", plugins.path])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("TRAINING_CPTM"))
        #expect(refused.stderr.contains("Error: not ready:"))
        let noModules = try harness.run([
            "deploy", "advance", firstID, "--to", "IN_TRANSIT", "--plugins", harness.folder.path("empty"),
        ])
        #expect(noModules.status == 1)
        #expect(noModules.stderr.contains("readiness unavailable"))
        let moved = try harness.run(["deploy", "advance", firstID, "--to", "IN_TRANSIT", "--plugins", plugins.path])
        #expect(moved.status == 0, "\(moved.stderr)")
        #expect(moved.stdout == "deployment \(firstID) is IN_TRANSIT\n")
        let skipped = try harness.run(["deploy", "advance", firstID, "--to", "EXTENDED", "--until", "2030-09-30"])
        #expect(skipped.status == 1)
        #expect(skipped.stderr.contains("cannot go from IN_TRANSIT to EXTENDED"))
        #expect(
            try harness.run(["deploy", "advance", firstID, "--to", "IN_MISSION", "--on", "2030-01-02"]).status == 0)
        let ended = try harness.json(["deploy", "end", firstID, "--on", "2030-03-01", "--early", "--reason", "Medical"])
        #expect(ended["status"] == "REPATRIATED_EARLY")
        #expect(ended["actualEnd"] == "2030-03-01")
        let listed = try harness.json(["deploy", "list", "--mission", "EXAMPLE"])
        #expect(listed.arrayValue?.map { $0["subject"] } == ["KAZ-1", "KAZ-2"])
        #expect(try harness.run(["audit", "verify"]).status == 0)
    }
}
