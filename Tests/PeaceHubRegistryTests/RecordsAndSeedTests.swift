import Foundation
import GRDB
import PeaceHubCore
import Testing

@testable import PeaceHubRegistry

@Suite("Module records, seed data and statistics")
struct RecordsAndSeedTests {
    @Test func moduleRecordsFollowTheABISchemas() throws {
        let registry = try Registry(database: try DatabaseQueue(), now: { Date(timeIntervalSince1970: 1_795_046_400) })
        try SeedData.load(into: registry)

        let person = try JSONValue(parsing: try #require(try registry.moduleRecord(kind: "person", key: "KAZ-100101")))
        #expect(person["serviceNumber"] == "KAZ-100101")
        #expect(person["contingent"] == "KAZ")
        #expect(person["category"] == "TROOP")
        #expect(person["rankCode"] == "OF-3")
        #expect(person["dateOfBirth"] == nil)
        #expect(person["qualifications"]?.arrayValue?.contains { $0["kind"] == "MEDICAL" } == false)
        #expect(person["qualifications"]?.arrayValue?.contains { $0["code"] == "UN-CPTM" } == true)

        let contingent = try JSONValue(parsing: try #require(try registry.moduleRecord(kind: "contingent", key: "KAZ")))
        #expect(contingent == ["code": "KAZ", "name": "Kazakhstan", "pcrsLevel": "L2", "leadNation": "IND"])

        let mission = try JSONValue(parsing: try #require(try registry.moduleRecord(kind: "mission", key: "UNIFIL")))
        #expect(mission["lifecycle"] == "ACTIVE")
        #expect(mission["lifecycleSince"] == "1978-03-19")
        #expect(mission["name"] == "United Nations Interim Force in Lebanon")

        #expect(try registry.moduleRecord(kind: "person", key: "NOBODY") == nil)
        #expect(try registry.moduleRecord(kind: "mission", key: "UNDOF") == nil)
        expectRegistryError(.invalidInput) { _ = try registry.moduleRecord(kind: "weather", key: "x") }
    }

    @Test func seedDataIsDeterministicAndOnlyForAnEmptyRegistry() throws {
        let first = try Registry(database: try DatabaseQueue())
        let second = try Registry(database: try DatabaseQueue())
        try SeedData.load(into: first)
        try SeedData.load(into: second)
        let tables = ["contingent", "mission", "missionPhase", "person", "qualification", "deployment", "equipment"]
        func dump(_ registry: Registry) throws -> String {
            let stream = DumpText()
            try registry.database.dumpTables(tables, stableOrder: true, to: stream)
            return stream.text
        }
        #expect(try dump(first) == dump(second))
        expectRegistryError(.invariantViolated) { try SeedData.load(into: first) }
        expectRegistryError(.accessDenied) { try SeedData.load(into: second, as: kazakhstan) }

        #expect(try first.missions(on: day("2027-03-01")).first { $0.mission.code == "UNIFIL" }?.lifecycle == .drawdown)
        #expect(try first.contingents().map(\.code) == ["IND", "KAZ", "KGZ", "TJK", "UZB"])
        let kazakh = try first.persons(matching: PersonQuery(contingent: "KAZ"), as: operatorActor)
        #expect(kazakh.count >= 12)
        #expect(kazakh.allSatisfy { $0.cyrillicName != nil })
        let company = try first.deployments(contingent: "KAZ").filter { $0.subject == "KAZ" }
        #expect(company.allSatisfy { $0.deployment.leadNation == "IND" && $0.deployment.hostUnit == "INDBATT" })
    }

    @Test func strengthCountsDeployedPeopleAndWomen() throws {
        let registry = try Registry(database: try DatabaseQueue())
        try SeedData.load(into: registry)
        let rows = try registry.strength(on: day("2026-11-27"))
        let kazakhTroops = try #require(
            rows.first { $0.mission == "UNIFIL" && $0.contingent == "KAZ" && $0.category == .troop })
        #expect(kazakhTroops.total == 8)
        #expect(kazakhTroops.women == 3)
        #expect(kazakhTroops.womenShare == 0.375)
        // The repatriated Tajik officer no longer counts; before the repatriation they did.
        #expect(rows.first { $0.mission == "UNFICYP" && $0.contingent == "TJK" }?.total == 2)
        #expect(
            try registry.strength(on: day("2026-08-01")).first { $0.mission == "UNFICYP" && $0.contingent == "TJK" }?
                .total == 3)
        #expect(try registry.strength(on: day("2020-01-01")).isEmpty)
    }

    @Test func reportsAreArchived() throws {
        let registry = try makeRegistry()
        let id = try registry.archiveReport(
            ArchivedReport(
                mission: "UNIFIL", type: "BLUE_LINE_VIOLATION", sender: "KAZ-1", receivedAt: "2026-11-26T10:00:00Z",
                precedence: "IMMEDIATE", securityLabel: "UN RESTRICTED", latitude: 33.27, longitude: 35.62,
                body: #"{"kind":"AIR"}"#, annotations: #"{"insideAO":true}"#))
        let archived = try registry.archivedReports(matching: ReportQuery(mission: "UNIFIL"), as: operatorActor)
        #expect(archived.map(\.id) == [id])
        #expect(archived.first?.latitude == 33.27)
        #expect(try registry.auditEntries(limit: 1, as: operatorActor).first?.entity == "archivedReport")
        expectRegistryError(.invalidInput) {
            try registry.archiveReport(
                ArchivedReport(mission: "", type: "X", sender: "Y", receivedAt: "", precedence: "ROUTINE", body: "{}"))
        }
    }
}
