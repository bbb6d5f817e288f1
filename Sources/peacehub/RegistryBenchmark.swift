import ArgumentParser
import Foundation
import PeaceHubCore
import PeaceHubRegistry

/// `peacehub registry benchmark` (hidden): imports generated persons into a fresh database and times
/// the import, lookups by service number and readiness queries. Not a test: numbers depend on the machine.
struct RegistryBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "benchmark", abstract: "Time import, lookup and readiness on generated data.",
        shouldDisplay: false)

    @Option(help: "Persons to generate (each with three qualifications).") var persons = 100_000
    @Option(help: "Lookups and readiness queries to time.") var queries = 10_000
    @Option(help: "The mission modules' directory (default: the hub's); readiness uses UNIFIL's module if loaded.")
    var plugins: String?

    func run() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("phub-bench-\(getpid())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let personsFile = folder.appendingPathComponent("persons.csv")
        let qualificationsFile = folder.appendingPathComponent("qualifications.csv")
        try generate(persons: personsFile, qualifications: qualificationsFile)

        let modules = RegistryModules(directory: plugins)
        var options = try RegistryOptions.parse([])
        options.db = folder.appendingPathComponent("bench.sqlite").path
        let registry = try modules.openRegistry(options, creating: true)
        try registryCall { try SeedData.load(into: registry) }

        let importStart = DispatchTime.now()
        var batch = ImportBatch()
        batch.read(personsFile)
        batch.read(qualificationsFile)
        let parsed = DispatchTime.now()
        let summary = try registryCall { try registry.importBatch(batch, as: .operator("bench")) }
        let importEnd = DispatchTime.now()
        print(
            "import: \(summary.persons) persons + \(summary.qualifications) qualifications in "
                + "\(ms(importStart, importEnd)) ms (read and check \(ms(importStart, parsed)) ms, "
                + "write \(ms(parsed, importEnd)) ms)")
        let checkStart = DispatchTime.now()
        try registryCall { try registry.checkIntegrity() }
        print("integrity check beside the start (PRAGMA quick_check): \(ms(checkStart, DispatchTime.now())) ms")

        var generator = SplitMix64(seed: 42)
        var lookups: [Double] = []
        for _ in 0..<queries {
            let number = "BEN-\(100_000 + Int(generator.next() % UInt64(persons)))"
            let start = DispatchTime.now()
            _ = try registryCall { try registry.person(serviceNumber: number, as: .operator("bench")) }
            lookups.append(msDouble(start, DispatchTime.now()))
        }
        report("lookup by service number (person + qualifications + deployments)", lookups)

        let judged = modules.host.module(forMission: "UNIFIL") != nil
        var readiness: [Double] = []
        for _ in 0..<queries {
            let number = "BEN-\(100_000 + Int(generator.next() % UInt64(persons)))"
            let start = DispatchTime.now()
            if judged {
                _ = try? registry.readiness(
                    serviceNumber: number, mission: "UNIFIL", asOf: CalendarDate("2026-12-15")!, as: .operator("bench"))
            } else {
                _ = try registryCall {
                    try registry.readinessRequest(
                        serviceNumber: number, mission: "UNIFIL", asOf: CalendarDate("2026-12-15")!)
                }
            }
            readiness.append(msDouble(start, DispatchTime.now()))
        }
        report(judged ? "readiness query (request + UNIFIL module)" : "readiness request (no module loaded)", readiness)
    }

    private func generate(persons personsFile: URL, qualifications qualificationsFile: URL) throws {
        var people =
            "serviceNumber,latinName,cyrillicName,sex,nationality,contingent,rank,rankCode,category,dateOfBirth,"
            + "commissionedServiceYears,languages\n"
        var qualifications = "serviceNumber,kind,code,provider,issuedOn,expiresOn,evidenceHash,level\n"
        let contingents = ["KAZ", "KGZ", "TJK", "UZB", "IND"]
        let categories = ["TROOP", "TROOP", "TROOP", "MILITARY_OBSERVER", "STAFF_OFFICER", "POLICE"]
        for index in 0..<persons {
            let number = "BEN-\(100_000 + index)"
            let contingent = contingents[index % contingents.count]
            let sex = index % 3 == 0 ? "F" : "M"
            let born = "19\(70 + index % 30)-0\(1 + index % 9)-1\(index % 10)"
            let category = categories[index % categories.count]
            people += "\(number),Person \(index),Персона \(index),\(sex),\(contingent),\(contingent),Captain,OF-2,"
            people += "\(category),\(born),\(index % 20),en:B2;ru:C1\n"
            let medicalExpiry = index % 7 == 0 ? "2026-06-01" : "2027-04-01"
            qualifications += "\(number),TRAINING,UN-CPTM,KAZCENT,2025-09-01,2028-09-01,,\n"
            qualifications += "\(number),MEDICAL,MEDICAL-CLEARANCE,Board,2026-04-01,\(medicalExpiry),,\n"
            qualifications += "\(number),LANGUAGE,ENGLISH-TEST,KAZCENT,2025-11-15,,,B2\n"
        }
        try Data(people.utf8).write(to: personsFile)
        try Data(qualifications.utf8).write(to: qualificationsFile)
    }

    private func report(_ what: String, _ samples: [Double]) {
        let sorted = samples.sorted()
        guard !sorted.isEmpty else { return }
        let p50 = sorted[sorted.count / 2]
        let p99 = sorted[min(sorted.count - 1, sorted.count * 99 / 100)]
        print(String(format: "%@: n=%d p50=%.3f ms p99=%.3f ms", what, sorted.count, p50, p99))
    }

    private func ms(_ start: DispatchTime, _ end: DispatchTime) -> Int { Int(msDouble(start, end)) }

    private func msDouble(_ start: DispatchTime, _ end: DispatchTime) -> Double {
        Double(end.uptimeNanoseconds - start.uptimeNanoseconds) / 1_000_000
    }
}
