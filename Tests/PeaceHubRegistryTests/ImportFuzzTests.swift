import Foundation
import PeaceHubCore
import PeaceHubTesting
import Testing

@testable import PeaceHubRegistry

/// Whatever a CSV or JSON file holds, an import either adds it whole or is refused with a `RegistryError` naming
/// the problems, and never traps: valid files, the registry's own export among them, are mutated byte by byte
/// by a seeded generator (bytes changed, cut, inserted, invalid UTF-8 included), so a failure replays exactly.
@Suite struct ImportFuzzTests {
    /// Changes anywhere, half of the new bytes ones that mean something to the readers: separators, quotes,
    /// brackets, digits, a UTF-8 lead byte, bytes that are never UTF-8.
    static let mutation = Mutation(meaningful: Array(",\";:\n\r[]{}-0:9 ".utf8) + [0xC3, 0xFF, 0x00])

    @Test func mutatedFilesAreImportedWholeOrRefusedNeverTrap() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let export = RegistryExport.json(try makeRegistry().personRecords(as: operatorActor))
        let seeds: [(name: String, bytes: [UInt8])] = [
            ("persons.csv", Array(ImportTests.personsCSV.utf8)),
            ("qualifications.csv", Array(ImportTests.qualificationsCSV.utf8)),
            ("export.json", Array(export.utf8)),
        ]
        var random = SplitMix64(seed: 0x1A907)
        var imported = 0
        for round in 0..<300 {
            let registry = try makeRegistry()
            let (name, bytes) = seeds[round % seeds.count]
            let url = folder.url.appendingPathComponent(name)
            try Data(Self.mutation.apply(to: bytes, using: &random)).write(to: url)
            var batch = ImportBatch()
            batch.read(url)
            do {
                let summary = try registry.importBatch(batch, as: operatorActor)
                #expect(batch.problems.isEmpty)
                #expect(summary.persons == batch.personCount && summary.qualifications == batch.qualificationCount)
                imported += 1
            } catch let error as RegistryError {
                _ = error.description
            }
            #expect(try registry.verifyAudit(as: operatorActor).isIntact)
        }
        // Most mutations are refused, but not all: the fuzz also reaches the writing half.
        #expect(imported > 0)
    }
}
