import Foundation
import Testing

@testable import PeaceHubRegistry

@Suite("Access rules")
struct AccessTests {
    @Test func contingentAddsOwnPeopleButNotOthers() throws {
        let registry = try makeRegistry()
        try registry.addPerson(person("KAZ-9", contingent: "KAZ"), as: kazakhstan)
        expectRegistryError(.accessDenied) {
            try registry.addPerson(person("IND-9", contingent: "IND"), as: kazakhstan)
        }
        try registry.addPerson(person("IND-9", contingent: "IND"), as: operatorActor)
    }

    @Test func contingentChangesOwnPeopleOnlyAndCannotMoveThem() throws {
        let registry = try makeRegistry()
        try registry.updatePerson(serviceNumber: "KAZ-1", as: kazakhstan) { $0.rank = "Major" }
        #expect(try registry.person(serviceNumber: "KAZ-1", as: kazakhstan).person.rank == "Major")
        expectRegistryError(.accessDenied) {
            try registry.updatePerson(serviceNumber: "IND-1", as: kazakhstan) { $0.rank = "Major" }
        }
        expectRegistryError(.accessDenied) {
            try registry.updatePerson(serviceNumber: "KAZ-1", as: kazakhstan) { $0.contingent = "IND" }
        }
        try registry.updatePerson(serviceNumber: "IND-1", as: operatorActor) { $0.rank = "Colonel" }
    }

    @Test func contingentRemovesOwnPeopleOnly() throws {
        let registry = try makeRegistry()
        expectRegistryError(.accessDenied) { try registry.removePerson(serviceNumber: "IND-1", as: kazakhstan) }
        try registry.removePerson(serviceNumber: "KAZ-2", as: kazakhstan)
        expectRegistryError(.notFound) { _ = try registry.person(serviceNumber: "KAZ-2", as: operatorActor) }
    }

    @Test func qualificationsOnlyForOwnPeople() throws {
        let registry = try makeRegistry()
        let first = Qualification(kind: .firstAid, code: "FIRST-AID", issuedOn: day("2026-01-01"))
        try registry.addQualification(first, serviceNumber: "KAZ-2", as: kazakhstan)
        expectRegistryError(.accessDenied) {
            try registry.addQualification(first, serviceNumber: "IND-1", as: kazakhstan)
        }
    }

    @Test func equipmentOnlyForOwnContingent() throws {
        let registry = try makeRegistry()
        let own = Equipment(
            contingent: "KAZ", coeClass: .majorEquipment, category: "APC (wheeled)", serial: "KAZ-1", leaseType: .wet)
        try registry.addEquipment(own, as: kazakhstan)
        try registry.setEquipmentStatus(serial: "KAZ-1", status: .unserviceable, as: kazakhstan)
        try registry.addInspection(
            serial: "KAZ-1", type: .periodic, date: day("2026-09-30"), result: "Pump", as: kazakhstan)
        var other = own
        other.contingent = "IND"
        other.serial = "IND-1"
        expectRegistryError(.accessDenied) { try registry.addEquipment(other, as: kazakhstan) }
        try registry.addEquipment(other, as: operatorActor)
        expectRegistryError(.accessDenied) {
            try registry.setEquipmentStatus(serial: "IND-1", status: .lostDamaged, as: kazakhstan)
        }
        expectRegistryError(.accessDenied) {
            try registry.addInspection(
                serial: "IND-1", type: .arrival, date: day("2026-01-01"), result: "OK", as: kazakhstan)
        }
        #expect(try registry.inspections(serial: "KAZ-1").count == 1)
    }

    @Test func deploymentRequestsOnlyForOwnPeopleAndUnit() throws {
        let registry = try makeRegistry()
        let own = try registry.planDeployment(plan("KAZ-1", "2026-12-15", "2027-06-14"), as: kazakhstan)
        expectRegistryError(.accessDenied) {
            try registry.planDeployment(plan("IND-1", "2026-12-15", "2027-06-14"), as: kazakhstan)
        }
        let unit = DeploymentPlan(
            subject: .contingent(code: "KAZ"), mission: "UNIFIL", role: "Infantry company", leadNation: "IND",
            hostUnit: "INDBATT", start: day("2026-12-15"), end: day("2027-06-14"))
        try registry.planDeployment(unit, as: kazakhstan)
        var foreign = unit
        foreign.subject = .contingent(code: "IND")
        expectRegistryError(.accessDenied) { try registry.planDeployment(foreign, as: kazakhstan) }
        expectRegistryError(.accessDenied) {
            try registry.advanceDeployment(id: own.id!, to: .ended, on: day("2026-12-01"), as: india)
        }
        try registry.advanceDeployment(id: own.id!, to: .ended, on: day("2026-12-01"), as: kazakhstan)
    }

    @Test func contingentsAndMissionsAreForOperators() throws {
        let registry = try makeRegistry()
        expectRegistryError(.accessDenied) {
            try registry.addContingent(Contingent(code: "TJK", name: "Tajikistan"), as: kazakhstan)
        }
        try registry.addContingent(Contingent(code: "TJK", name: "Tajikistan"), as: operatorActor)
        expectRegistryError(.accessDenied) {
            try registry.setPCRSLevel(
                contingent: "KAZ", level: .rapidDeployment, evidence: nil, on: day("2026-01-01"), as: kazakhstan)
        }
        try registry.setPCRSLevel(
            contingent: "KAZ", level: .level3, evidence: "SUR 42", on: day("2026-10-01"), as: operatorActor)
        #expect(try registry.contingent(code: "KAZ").pcrsLevel == .level3)
        expectRegistryError(.accessDenied) {
            try registry.addMission(
                Mission(code: "UNDOF", name: "UNDOF"), activeSince: day("1974-05-31"), as: kazakhstan)
        }
        expectRegistryError(.accessDenied) {
            try registry.addMissionPhase(
                mission: "MINURSO", lifecycle: .closed, since: day("2030-01-01"), as: kazakhstan)
        }
    }

    @Test func otherContingentsSeeOnlySharedFields() throws {
        let registry = try makeRegistry()
        let own = try registry.person(serviceNumber: "KAZ-1", as: kazakhstan)
        #expect(!own.restricted)
        #expect(own.person.dateOfBirth == day("1992-04-18"))
        #expect(own.qualifications.contains { $0.kind == .medical })

        let shared = try registry.person(serviceNumber: "KAZ-1", as: india)
        #expect(shared.restricted)
        #expect(shared.person.dateOfBirth == nil)
        #expect(!shared.qualifications.contains { $0.kind == .medical })
        #expect(shared.qualifications.map(\.code) == ["UN-CPTM"])
        #expect(shared.person.latinName == own.person.latinName)
        #expect(shared.person.rank == own.person.rank)

        #expect(try registry.persons(as: india).first { $0.serviceNumber == "KAZ-1" }?.dateOfBirth == nil)
        #expect(try registry.persons(as: india).first { $0.serviceNumber == "IND-1" }?.dateOfBirth != nil)
        let exported = try registry.personRecords(as: india).first { $0.person.serviceNumber == "KAZ-1" }
        #expect(exported?.qualifications.contains { $0.kind == .medical } == false)
    }

    @Test func readinessOfOthersIsNotVisible() throws {
        let registry = try makeRegistry()
        expectRegistryError(.accessDenied) {
            _ = try registry.readiness(serviceNumber: "KAZ-1", mission: "UNIFIL", asOf: day("2026-12-15"), as: india)
        }
        expectRegistryError(.accessDenied) {
            _ = try registry.readiness(contingent: "KAZ", mission: "UNIFIL", asOf: day("2026-12-15"), as: india)
        }
        #expect(
            try registry.readiness(serviceNumber: "KAZ-1", mission: "UNIFIL", asOf: day("2026-12-15"), as: kazakhstan)
                == [])
    }

    @Test func anotherContingentCannotTriggerReadinessOfOurDeployment() throws {
        let evaluator = TestEvaluator()
        let registry = try makeRegistry(evaluator: evaluator)
        let tour = try registry.planDeployment(plan("KAZ-2", "2026-12-15", "2027-06-14"), as: kazakhstan)
        let before = evaluator.requests.count
        expectRegistryError(.accessDenied) {
            try registry.advanceDeployment(id: tour.id!, to: .inTransit, on: day("2026-12-10"), as: india)
        }
        #expect(evaluator.requests.count == before)
        // Its own contingent may not move it into progress either: that would make it part of the mission.
        expectRegistryError(.accessDenied) {
            try registry.advanceDeployment(id: tour.id!, to: .inTransit, on: day("2026-12-10"), as: kazakhstan)
        }
        #expect(evaluator.requests.count == before)
        expectRegistryError(.notReady) {
            try registry.advanceDeployment(id: tour.id!, to: .inTransit, on: day("2026-12-10"), as: operatorActor)
        }
    }

    @Test func actorsParse() {
        #expect(Registry.Actor(parsing: "operator:alice") == .operator("alice"))
        #expect(Registry.Actor(parsing: "KAZ") == .contingent("KAZ"))
        #expect(Registry.Actor(parsing: "contingent:IND") == .contingent("IND"))
        #expect(Registry.Actor(parsing: "operator:") == nil)
        #expect(Registry.Actor(parsing: "kaz") == nil)
        #expect(Registry.Actor(parsing: "KAZAKHSTAN") == nil)
    }
}

/// Empty optional text is stored as none, whichever way it came (the admin API and `qualification add` kept "",
/// the CLI's `person add` none): a JSON export then imports again unchanged, as the import reads "" as none.
@Suite struct EmptyTextTests {
    @Test func emptyOptionalTextIsStoredAsNone() throws {
        let registry = try makeRegistry()
        try registry.updatePerson(serviceNumber: "KAZ-1", as: operatorActor) {
            $0.cyrillicName = ""
            $0.rankCode = ""
        }
        let person = try registry.person(serviceNumber: "KAZ-1", as: operatorActor).person
        #expect(person.cyrillicName == nil && person.rankCode == nil)
        var qualification = Qualification(kind: .firstAid, code: "FIRST-AID", issuedOn: day("2026-01-01"))
        qualification.provider = ""
        qualification.level = ""
        let added = try registry.addQualification(qualification, serviceNumber: "KAZ-1", as: operatorActor)
        #expect(added.provider == nil && added.level == nil)
        let id = try #require(added.id)
        let updated = try registry.updateQualification(id: id, serviceNumber: "KAZ-1", as: operatorActor) {
            $0.provider = "KAZCENT"
            $0.evidenceHash = ""
        }
        #expect(updated.provider == "KAZCENT" && updated.evidenceHash == nil)
    }
}
