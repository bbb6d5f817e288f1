import Foundation
import PeaceHubCore
import Testing

@testable import PeaceHubRegistry

/// The filtered, keyset-paged lists and the record changes the admin API and the CLI share.
@Suite("Queries and changes")
struct QueryTests {
    @Test func personsFilterAndPageByServiceNumber() throws {
        let registry = try makeRegistry()
        try registry.addPerson(person("KAZ-3", contingent: "KAZ", sex: .male), as: operatorActor)
        try registry.planDeployment(plan("KAZ-2", "2027-01-10", "2027-06-10"), as: operatorActor)
        #expect(try registry.persons(as: operatorActor).map(\.serviceNumber) == ["IND-1", "KAZ-1", "KAZ-2", "KAZ-3"])
        let kazakh = PersonQuery(contingent: "KAZ")
        #expect(try registry.persons(matching: kazakh, limit: 2, as: operatorActor).map(\.serviceNumber) == ["KAZ-1", "KAZ-2"])
        #expect(
            try registry.persons(matching: kazakh, after: "KAZ-2", limit: 2, as: operatorActor).map(\.serviceNumber)
                == ["KAZ-3"])
        #expect(try registry.persons(matching: PersonQuery(sex: .male), as: operatorActor).map(\.serviceNumber) == ["KAZ-3"])
        let deployed = PersonQuery(mission: "UNIFIL", deploymentStatus: .planned)
        #expect(try registry.persons(matching: deployed, as: operatorActor).map(\.serviceNumber) == ["KAZ-2"])
        #expect(try registry.persons(matching: PersonQuery(deploymentStatus: .inMission), as: operatorActor).isEmpty)
        #expect(try registry.persons(matching: PersonQuery(category: .police), as: operatorActor).isEmpty)
        // Other contingents' people without their date of birth.
        let seenByIndia = try registry.persons(matching: kazakh, as: india)
        #expect(seenByIndia.allSatisfy { $0.dateOfBirth == nil })
    }

    @Test func deploymentsAndEquipmentPage() throws {
        let registry = try makeRegistry()
        for (start, end) in [("2027-01-10", "2027-02-10"), ("2027-03-10", "2027-04-10"), ("2027-05-10", "2027-06-10")] {
            try registry.planDeployment(plan("KAZ-1", start, end), as: operatorActor)
        }
        let all = try registry.deployments(contingent: "KAZ")
        let first = try registry.deployments(contingent: "KAZ", limit: 2)
        let rest = try registry.deployments(contingent: "KAZ", after: first.last?.deployment.id, limit: 2)
        #expect((first + rest).map(\.deployment.id) == all.map(\.deployment.id))
        #expect(all.count == 3)
        let found = try registry.deployment(id: all[1].deployment.id!)
        #expect(found.subject == "KAZ-1")
        expectRegistryError(.notFound) { _ = try registry.deployment(id: 999) }

        for (serial, status) in [("KAZ-B", EquipmentStatus.serviceable), ("KAZ-A", .unserviceable)] {
            try registry.addEquipment(
                Equipment(
                    contingent: "KAZ", coeClass: .majorEquipment, category: "APC", serial: serial, leaseType: .wet,
                    status: status), as: operatorActor)
        }
        #expect(try registry.equipment().map(\.serial) == ["KAZ-A", "KAZ-B"])
        #expect(try registry.equipment(after: "KAZ-A", limit: 5).map(\.serial) == ["KAZ-B"])
        #expect(try registry.equipment(status: .unserviceable).map(\.serial) == ["KAZ-A"])
        #expect(try registry.equipment(coeClass: .selfSustainment).isEmpty)
        #expect(try registry.equipment(serial: "KAZ-B").status == .serviceable)
    }

    @Test func qualificationsAreChangedAndRemovedByTheirOwnersOnly() throws {
        let registry = try makeRegistry()
        let id = try #require(try registry.qualifications(serviceNumber: "KAZ-2", as: operatorActor).first?.id)
        let renewed = try registry.updateQualification(id: id, serviceNumber: "KAZ-2", as: kazakhstan) {
            $0.expiresOn = day("2029-05-01")
        }
        #expect(renewed.expiresOn == day("2029-05-01"))
        #expect(renewed.id == id)
        expectRegistryError(.accessDenied) {
            try registry.updateQualification(id: id, serviceNumber: "KAZ-2", as: india) { $0.code = "X" }
        }
        expectRegistryError(.invalidInput) {
            try registry.updateQualification(id: id, serviceNumber: "KAZ-2", as: kazakhstan) {
                $0.expiresOn = day("2020-01-01")
            }
        }
        // A qualification is reached through its own person only.
        expectRegistryError(.notFound) {
            try registry.updateQualification(id: id, serviceNumber: "KAZ-1", as: operatorActor) { $0.code = "X" }
        }
        expectRegistryError(.accessDenied) { try registry.removeQualification(id: id, serviceNumber: "KAZ-2", as: india) }
        // Another contingent cannot tell a record it may not see from one that does not exist.
        expectRegistryError(.accessDenied) {
            try registry.removeQualification(id: id + 1000, serviceNumber: "KAZ-2", as: india)
        }
        expectRegistryError(.accessDenied) {
            try registry.updateQualification(id: id + 1000, serviceNumber: "KAZ-2", as: india) { $0.code = "X" }
        }
        try registry.removeQualification(id: id, serviceNumber: "KAZ-2", as: kazakhstan)
        #expect(try registry.qualifications(serviceNumber: "KAZ-2", as: operatorActor).isEmpty)
        let last = try #require(try registry.auditEntries(limit: 1, as: operatorActor).first)
        #expect(last.entity == "qualification" && last.action == "delete" && last.entityId == "KAZ-2/\(id)")
    }

    /// `import` refuses a second qualification of a kind and code issued on one date: so do the writes one by one,
    /// or an export would import nowhere.
    @Test func aSecondQualificationOfTheSameKindCodeAndDateIsRefused() throws {
        let registry = try makeRegistry()
        let cptm = Qualification(kind: .training, code: "UN-CPTM", issuedOn: day("2023-05-01"))
        expectRegistryError(.alreadyExists) { try registry.addQualification(cptm, serviceNumber: "KAZ-2", as: kazakhstan) }
        var other = cptm
        other.issuedOn = day("2025-09-01")
        let second = try registry.addQualification(other, serviceNumber: "KAZ-2", as: kazakhstan)
        expectRegistryError(.alreadyExists) {
            try registry.updateQualification(id: second.id!, serviceNumber: "KAZ-2", as: kazakhstan) {
                $0.issuedOn = day("2023-05-01")
            }
        }
        // Changing other fields of a record keeps its identity: no conflict with itself.
        try registry.updateQualification(id: second.id!, serviceNumber: "KAZ-2", as: kazakhstan) {
            $0.provider = "KAZCENT"
        }
        // A long code is named cut short.
        let long = Qualification(kind: .other, code: String(repeating: "Q", count: 300), issuedOn: day("2025-01-01"))
        try registry.addQualification(long, serviceNumber: "KAZ-2", as: kazakhstan)
        let twin = #expect(throws: RegistryError.self) {
            try registry.addQualification(long, serviceNumber: "KAZ-2", as: kazakhstan)
        }
        #expect(twin?.reason == "KAZ-2 already has OTHER \(String(repeating: "Q", count: 40))… (300 bytes) of 2025-01-01")
        let held = try registry.qualifications(serviceNumber: "KAZ-2", as: operatorActor).filter { $0.code == "UN-CPTM" }
        #expect(held.map(\.issuedOn) == [day("2023-05-01"), day("2025-09-01")])
    }

    /// Text an older hub stored before a rule (a bidirectional override) does not lock the record: other fields
    /// still change, as for a person.
    @Test func equipmentWithTextStoredBeforeARuleCanStillBeChanged() throws {
        let registry = try makeRegistry()
        let item = Equipment(
            contingent: "KAZ", coeClass: .majorEquipment, category: "APC (wheeled)", serial: "KAZ-9", leaseType: .wet)
        try registry.addEquipment(item, as: kazakhstan)
        try registry.database.write { db in
            try db.execute(sql: "UPDATE equipment SET description = 'BTR' || char(8238) || '28' WHERE serial = 'KAZ-9'")
        }
        let changed = try registry.updateEquipment(serial: "KAZ-9", as: kazakhstan) { $0.status = .unserviceable }
        #expect(changed.status == .unserviceable)
        expectRegistryError(.invalidInput) {
            try registry.updateEquipment(serial: "KAZ-9", as: kazakhstan) { $0.description = "BTR\u{202E}82" }
        }
    }

    @Test func equipmentIsChangedByItsOwnerAndRemovedOnlyWithoutInspections() throws {
        let registry = try makeRegistry()
        let item = Equipment(
            contingent: "KAZ", coeClass: .majorEquipment, category: "APC (wheeled)", serial: "KAZ-9", leaseType: .wet)
        try registry.addEquipment(item, as: kazakhstan)
        let changed = try registry.updateEquipment(serial: "KAZ-9", as: kazakhstan) {
            $0.description = "BTR-82A"
            $0.leaseType = .dry
        }
        #expect(changed.description == "BTR-82A" && changed.leaseType == .dry)
        expectRegistryError(.accessDenied) {
            try registry.updateEquipment(serial: "KAZ-9", as: kazakhstan) { $0.contingent = "IND" }
        }
        expectRegistryError(.accessDenied) { try registry.updateEquipment(serial: "KAZ-9", as: india) { $0.category = "X" } }
        try registry.updateEquipment(serial: "KAZ-9", as: operatorActor) { $0.contingent = "IND" }
        #expect(try registry.equipment(serial: "KAZ-9").contingent == "IND")
        expectRegistryError(.accessDenied) { try registry.removeEquipment(serial: "KAZ-9", as: kazakhstan) }
        try registry.addInspection(serial: "KAZ-9", type: .arrival, date: day("2026-06-20"), result: "OK", as: india)
        expectRegistryError(.invariantViolated) { try registry.removeEquipment(serial: "KAZ-9", as: india) }

        try registry.addEquipment(
            Equipment(contingent: "KAZ", coeClass: .selfSustainment, category: "Catering", serial: "KAZ-10", leaseType: .wet),
            as: kazakhstan)
        try registry.removeEquipment(serial: "KAZ-10", as: kazakhstan)
        expectRegistryError(.notFound) { _ = try registry.equipment(serial: "KAZ-10") }
    }

    @Test func activeMissionsCountDeploymentsInProgressOnly() throws {
        let registry = try makeRegistry()
        _ = try registry.planDeployment(plan("KAZ-1", "2027-06-01", "2027-12-01", mission: "MINURSO"), as: operatorActor)
        #expect(try registry.activeMissions(of: "KAZ").isEmpty)
        let deployment = try registry.planDeployment(plan("KAZ-1", "2026-10-01", "2027-03-01"), as: operatorActor)
        try registry.advanceDeployment(id: deployment.id!, to: .inTransit, on: day("2026-10-01"), as: operatorActor)
        #expect(try registry.activeMissions(of: "KAZ") == ["UNIFIL"])
        #expect(try registry.activeMissions(of: "IND").isEmpty)
    }

    @Test func timestampsAreWhatISO8601DateFormatterWrites() {
        let whole = ISO8601DateFormatter()
        let fractional = ISO8601DateFormatter()
        fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        // 1900-01-01, and the last four-digit year (9999-12-31T23:59:59.500).
        let instants: [TimeInterval] = [
            0, 1_795_046_400, 1_795_046_400.25, 1_795_046_459.999, 951_782_400.5, -86_400.75, -2_208_988_800,
            253_402_300_799.5,
        ]
        for instant in instants {
            let date = Date(timeIntervalSince1970: instant)
            #expect(UTCTimestamp.string(date, withMilliseconds: false) == whole.string(from: date))
            #expect(UTCTimestamp.string(date, withMilliseconds: true) == fractional.string(from: date))
        }
        #expect(UTCTimestamp.string(Date(timeIntervalSince1970: 253_402_300_800.5), withMilliseconds: true)
            == "10000-01-01T00:00:00.500Z")
    }

    @Test func contingentsReadTheReportsOfTheirMissionsOnly() throws {
        let registry = try makeRegistry()
        let deployment = try registry.planDeployment(plan("KAZ-1", "2026-10-01", "2027-03-01"), as: operatorActor)
        try registry.advanceDeployment(id: deployment.id!, to: .inTransit, on: day("2026-10-01"), as: operatorActor)
        #expect(try registry.activeMissions(of: "KAZ") == ["UNIFIL"])
        #expect(try registry.activeMissions(of: "IND").isEmpty)
        let reports: [(String, String, String, Double?, Double?, String)] = [
            ("UNIFIL", "UXO", "2026-11-20T08:00:00Z", 33.2, 35.4, "ACCEPTED"),
            ("UNIFIL", "PATROL", "2026-11-21T08:00:00Z", 33.3, 35.6, "ACCEPTED"),
            ("UNIFIL", "UXO", "2026-11-22T08:00:00Z", nil, nil, "HELD"),
            ("MINURSO", "UXO", "2026-11-23T08:00:00Z", 27.1, -13.2, "ACCEPTED"),
        ]
        for (mission, type, time, lat, lon, status) in reports {
            try registry.archiveReport(
                ArchivedReport(
                    mission: mission, type: type, sender: "KAZ", receivedAt: time, precedence: "ROUTINE",
                    latitude: lat, longitude: lon, body: "{}", status: status))
        }
        func types(_ query: ReportQuery, as actor: Registry.Actor = operatorActor) throws -> [String] {
            try registry.archivedReports(matching: query, as: actor).map { "\($0.mission)/\($0.type)/\($0.status)" }
        }
        #expect(try types(ReportQuery()).count == 4)
        #expect(try types(ReportQuery(), as: kazakhstan).allSatisfy { $0.hasPrefix("UNIFIL/") })
        #expect(try types(ReportQuery(), as: india).isEmpty)
        expectRegistryError(.accessDenied) { _ = try types(ReportQuery(mission: "MINURSO"), as: kazakhstan) }
        #expect(try types(ReportQuery(type: "UXO", status: "ACCEPTED")) == ["UNIFIL/UXO/ACCEPTED", "MINURSO/UXO/ACCEPTED"])
        #expect(try types(ReportQuery(status: "HELD")) == ["UNIFIL/UXO/HELD"])
        let from = ISO8601DateFormatter().date(from: "2026-11-21T00:00:00Z")!
        let before = ISO8601DateFormatter().date(from: "2026-11-23T00:00:00Z")!
        #expect(try types(ReportQuery(receivedFrom: from, receivedBefore: before)).count == 2)
        let lebanon = BoundingBox(minimumLatitude: 33.0, minimumLongitude: 35.0, maximumLatitude: 33.25, maximumLongitude: 35.5)
        #expect(try types(ReportQuery(area: lebanon)) == ["UNIFIL/UXO/ACCEPTED"])
        let all = try registry.archivedReports(matching: ReportQuery(), as: operatorActor)
        #expect(try registry.archivedReports(matching: ReportQuery(), after: all[1].id, limit: 1, as: operatorActor).map(\.id) == [all[2].id])
        expectRegistryError(.invalidInput) { _ = try types(ReportQuery(status: "LOST")) }
        let inverted = BoundingBox(minimumLatitude: 34, minimumLongitude: 35, maximumLatitude: 33, maximumLongitude: 36)
        expectRegistryError(.invalidInput) { _ = try types(ReportQuery(area: inverted)) }
    }
}
