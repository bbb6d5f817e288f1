import ArgumentParser
import Foundation
import PeaceHubCore
import PeaceHubRegistry
import PeaceHubServer

struct RegistryImport: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Import persons and qualifications from CSV or JSON files, all or nothing.",
        discussion: """
            A CSV whose header has latinName holds persons, one whose header has kind holds qualifications; \
            a .json file is an array of persons with nested qualifications (the format `export` writes). \
            Any bad row aborts the import: every problem is listed as file:line: field: reason and the \
            registry is unchanged.
            """)

    @OptionGroup var options: RegistryOptions
    @Argument(help: "CSV or JSON files, imported together in one transaction.") var files: [String]

    func run() throws {
        // Not created here: people belong to contingents a registry already has (a refused import left an empty one).
        let registry = try options.open()
        let actor = try options.parsedActor()
        var batch = ImportBatch()
        for file in files { batch.read(URL(fileURLWithPath: file)) }
        let progress = ImportProgress()
        let summary = try registryCall {
            try registry.importBatch(batch, as: actor) { done, total in progress.show(done: done, total: total) }
        }
        progress.finish()
        if options.json {
            try printJSON(summary)
        } else {
            print("imported \(summary.persons) person(s) and \(summary.qualifications) qualification(s)")
        }
    }
}

/// Import progress on stderr: a redrawn bar on a terminal, plain lines otherwise (logs, pipes).
final class ImportProgress {
    private let terminal = isatty(STDERR_FILENO) == 1
    private var drawn = false

    func show(done: Int, total: Int) {
        guard total >= 5000 else { return }
        if terminal {
            let width = 40
            let filled = total == 0 ? width : width * done / total
            let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
            StandardStreams.error(Data("\rimporting [\(bar)] \(done)/\(total)".utf8))
            drawn = true
        } else {
            printError("import: \(done)/\(total) rows written")
        }
    }

    func finish() {
        if drawn { StandardStreams.error(Data("\n".utf8)) }
    }
}

struct RegistryExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export", abstract: "Export persons (and qualifications) as CSV or JSON, in the import format.")

    enum Format: String, ExpressibleByArgument, CaseIterable { case csv, json }
    enum Entity: String, ExpressibleByArgument, CaseIterable { case persons, qualifications }

    @OptionGroup var options: RegistryOptions
    @Option(help: "csv or json.") var format: Format
    @Option(help: "For CSV: persons or qualifications (JSON nests qualifications in persons).") var entity: Entity =
        .persons
    @Option(help: "Write to this file instead of stdout.") var output: String?

    /// `--json` (script output for the other commands) chose nothing here, where `--format` says what is written.
    func validate() throws {
        if options.json { throw ValidationError("--json does not apply to export: --format json writes JSON") }
    }

    func run() throws {
        let registry = try options.open(readingOnly: true)
        let actor = try options.parsedActor()
        let records = try registryCall { try registry.personRecords(as: actor) }
        let text: String
        switch (format, entity) {
        case (.json, _): text = RegistryExport.json(records)
        case (.csv, .persons): text = RegistryExport.personsCSV(records)
        case (.csv, .qualifications): text = RegistryExport.qualificationsCSV(records)
        }
        if let output {
            try Self.write(text, to: output)
        } else {
            guard StandardStreams.output(Data(text.utf8)) else {
                throw CLIError("cannot write the export to standard output: \(String(cString: strerror(errno)))")
            }
        }
    }
}

extension RegistryExportCommand {
    /// Dates of birth and medical records: readable by their owner only, as the registry is, and never written over
    /// a file already there. Written beside it and linked in when whole, as a backup is: an export cut short (a full
    /// disk) left a file that could pass for a whole one.
    static func write(_ text: String, to output: String) throws {
        if FileManager.default.fileExists(atPath: output) {
            throw CLIError("cannot write \(output): \(String(cString: strerror(EEXIST)))")
        }
        let partial = output + ".partial"
        unlink(partial)
        let descriptor = open(partial, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw CLIError("cannot write \(partial): \(String(cString: strerror(errno)))") }
        var bytes = Array(text.utf8)[...]
        var failure: Int32 = 0
        while !bytes.isEmpty, failure == 0 {
            let written = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
            if written > 0 { bytes = bytes.dropFirst(written) } else if errno != EINTR { failure = errno }
        }
        if failure == 0, fsync(descriptor) != 0 { failure = errno }
        close(descriptor)
        guard failure == 0 else {
            unlink(partial)
            throw CLIError(
                "cannot write \(output): \(String(cString: strerror(failure))); nothing was written under that name")
        }
        // link(2) refuses a file that appeared meanwhile, where rename(2) would replace it.
        defer { unlink(partial) }
        guard link(partial, output) == 0 else {
            throw CLIError("cannot write \(output): \(String(cString: strerror(errno)))")
        }
    }
}

struct RegistryStats: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Deployed strength by mission, contingent and category on a date, with the share of women.")

    @OptionGroup var options: RegistryOptions
    @Option(help: "The day (default: today).") var date: CalendarDate?

    func run() throws {
        let registry = try options.open(readingOnly: true)
        let day = date ?? .today
        let rows = try registryCall { try registry.strength(on: day) }
        if options.json {
            try printJSON(Report(date: day.description, rows: rows))
            return
        }
        print("Deployed strength on \(day)")
        var table = rows.map { row in
            [
                row.mission, row.contingent, row.category.rawValue, String(row.total), String(row.women),
                percent(row.womenShare),
            ]
        }
        let missions = Dictionary(grouping: rows, by: \.mission)
        for mission in missions.keys.sorted() {
            let total = missions[mission]!.reduce(0) { $0 + $1.total }
            let women = missions[mission]!.reduce(0) { $0 + $1.women }
            table.append([
                mission, "all", "all", String(total), String(women),
                percent(total == 0 ? 0 : Double(women) / Double(total)),
            ])
        }
        let total = rows.reduce(0) { $0 + $1.total }
        let women = rows.reduce(0) { $0 + $1.women }
        table.append([
            "all", "all", "all", String(total), String(women), percent(total == 0 ? 0 : Double(women) / Double(total)),
        ])
        printTable(headers: ["MISSION", "CONTINGENT", "CATEGORY", "DEPLOYED", "WOMEN", "WOMEN %"], rows: table)
    }

    private func percent(_ share: Double) -> String { String(format: "%.1f%%", share * 100) }

    struct Report: Encodable {
        var date: String
        var rows: [StrengthRow]
    }
}

struct RegistryReports: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reports",
        abstract: "Query the archive of mission reports (a contingent sees those of the missions it is deployed in).")

    @OptionGroup var options: RegistryOptions
    @Option(help: "Only this mission.") var mission: String?
    @Option(help: "Only this report type, e.g. UXO.") var type: String?
    @Option(help: "ACCEPTED or HELD.") var status: String?
    @Option(help: "Only from this sender (contingent code or operator:<name>).") var sender: String?
    @Option(help: "Received at or after (ISO 8601 date-time or date).") var from: String?
    @Option(help: "Received before (ISO 8601 date-time or date).") var to: String?
    // Western Sahara and the Americas start with a minus: the value is taken as it is, not as an option.
    @Option(parsing: .unconditional, help: "Located in minLon,minLat,maxLon,maxLat (degrees).") var bbox: String?
    @Option(help: "At most this many, oldest first.") var limit: Int?

    func run() throws {
        func instant(_ text: String?, _ name: String) throws -> Date? {
            guard let text else { return nil }
            guard let date = ReportQuery.instant(parsing: text) else {
                throw ValidationError("--\(name) must be an ISO 8601 date-time such as 2026-11-20T08:00:00Z, or a date")
            }
            return date
        }
        var area: BoundingBox?
        if let bbox {
            guard let box = BoundingBox(parsing: bbox) else {
                throw ValidationError("--bbox must be minLon,minLat,maxLon,maxLat in degrees, e.g. 35.1,33.0,35.9,33.4")
            }
            area = box
        }
        let query = ReportQuery(
            mission: mission, type: type, status: status, sender: sender, receivedFrom: try instant(from, "from"),
            receivedBefore: try instant(to, "to"), area: area)
        let registry = try options.open(readingOnly: true)
        let actor = try options.parsedActor()
        let reports = try registryCall { try registry.archivedReports(matching: query, limit: limit, as: actor) }
        if options.json {
            try printJSON(reports.map(ReportView.init))
            return
        }
        printTable(
            headers: ["ID", "RECEIVED", "MISSION", "TYPE", "SENDER", "PRECEDENCE", "LOCATION", "STATUS"],
            rows: reports.map { report in
                let location = report.latitude.flatMap { lat in report.longitude.map { "\(lat),\($0)" } }
                return [
                    cell(report.id), report.receivedAt, report.mission, report.type, report.sender, report.precedence,
                    cell(location), report.status + (report.reason.map { " (\($0))" } ?? ""),
                ]
            })
    }
}

struct RegistryAuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit", abstract: "Verify and list the audit hash chain.",
        subcommands: [RegistryAuditVerify.self, RegistryAuditList.self])
}

struct RegistryAuditVerify: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify", abstract: "Check the hash chain; names the first edited, deleted or moved entry.")

    @OptionGroup var options: RegistryOptions

    func run() throws {
        let registry = try options.open(readingOnly: true)
        let actor = try options.parsedActor()
        let result = try registryCall { try registry.verifyAudit(as: actor) }
        if options.json {
            try printJSON(
                Report(
                    entries: result.entries, intact: result.isIntact, firstBad: result.problem?.seq,
                    reason: result.problem?.reason, lastHash: result.lastHash))
        } else if result.isIntact {
            let last = result.lastHash.map { ", the last's hash \($0)" } ?? ""
            print("audit chain intact: \(result.entries) entries\(last)")
        }
        if let problem = result.problem {
            throw CLIError("audit chain broken at \(problem)")
        }
    }

    struct Report: Encodable {
        var entries: Int
        var intact: Bool
        var firstBad: Int64?
        var reason: String?
        var lastHash: String?
    }
}

struct RegistryAuditList: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "Show the newest audit entries.")

    @OptionGroup var options: RegistryOptions
    @Option(help: "How many entries.") var limit = 20

    func run() throws {
        let registry = try options.open(readingOnly: true)
        let actor = try options.parsedActor()
        // Newest first from the registry; shown oldest first, as the chain reads.
        let entries = try registryCall { try registry.auditEntries(limit: limit, as: actor) }.reversed()
        if options.json {
            try printJSON(Array(entries))
            return
        }
        printTable(
            headers: ["SEQ", "TIME", "ACTOR", "ENTITY", "ID", "ACTION", "HASH"],
            rows: entries.map {
                [String($0.seq), $0.time, $0.actor, $0.entity, $0.entityId, $0.action, String($0.hash.prefix(12))]
            })
    }
}

struct RegistryBackup: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup", abstract: "Write an online backup of the registry to a new file.")

    @OptionGroup var options: RegistryOptions
    @Argument(help: "The backup file (must not exist).") var file: String

    func run() throws {
        let registry = try options.open()
        let actor = try options.parsedActor()
        try registryCall { try registry.backup(to: file, as: actor) }
        if options.json { try printJSON(["backup": file]) } else { print("backed up to \(file)") }
    }
}

struct RegistrySeed: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "seed", abstract: "Load the demo data (missions, contingents, personnel) into an empty registry.")

    @OptionGroup var options: RegistryOptions

    func run() throws {
        let registry = try options.open(creating: true)
        let actor = try options.parsedActor()
        try registryCall { try SeedData.load(into: registry, as: actor) }
        let persons = try registryCall { try registry.persons(as: actor).count }
        if options.json {
            try printJSON(["persons": persons])
        } else {
            print("seeded \(options.databasePath): 4 missions, 5 contingents, \(persons) people")
        }
    }
}
