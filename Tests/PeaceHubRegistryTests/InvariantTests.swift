import Foundation
import PeaceHubCore
import Testing

@testable import PeaceHubRegistry

@Suite("Invariants")
struct InvariantTests {
    @Test func overlappingDeploymentsOfAPersonAreRefused() throws {
        let registry = try makeRegistry()
        try registry.planDeployment(plan("KAZ-1", "2026-06-15", "2026-12-14"), as: operatorActor)
        expectRegistryError(.invariantViolated) {
            try registry.planDeployment(
                plan("KAZ-1", "2026-12-14", "2027-06-14", mission: "MINURSO"), as: operatorActor)
        }
        // The next day is free; another person is unaffected.
        try registry.planDeployment(plan("KAZ-1", "2026-12-15", "2027-06-14", mission: "MINURSO"), as: operatorActor)
        try registry.planDeployment(plan("KAZ-2", "2026-06-15", "2026-12-14"), as: operatorActor)
    }

    @Test func aCancelledPlanFreesItsDates() throws {
        let registry = try makeRegistry()
        let first = try registry.planDeployment(
            plan("KAZ-1", "2027-02-01", "2027-07-31", mission: "MINURSO"), as: operatorActor)
        try registry.advanceDeployment(id: first.id!, to: .ended, on: day("2026-11-20"), as: operatorActor)
        try registry.planDeployment(plan("KAZ-1", "2027-03-01", "2027-08-31", mission: "MINURSO"), as: operatorActor)
        do {
            try registry.advanceDeployment(id: first.id!, to: .inTransit, on: day("2026-11-21"), as: operatorActor)
            Issue.record("an ended deployment moved on")
        } catch let error as RegistryError {
            #expect(error.reason.hasSuffix("cannot go from ENDED to IN_TRANSIT (ENDED is final)"), "\(error)")
        }
    }

    @Test func anExtensionMayNotRunIntoTheNextTour() throws {
        let registry = try makeRegistry()
        let first = try registry.planDeployment(
            plan("KAZ-1", "2026-01-01", "2026-06-30", mission: "MINURSO"), as: operatorActor)
        try registry.planDeployment(plan("KAZ-1", "2026-09-01", "2026-12-31", mission: "MINURSO"), as: operatorActor)
        try registry.advanceDeployment(id: first.id!, to: .inTransit, on: day("2025-12-30"), as: operatorActor)
        try registry.advanceDeployment(id: first.id!, to: .inMission, on: day("2026-01-02"), as: operatorActor)
        expectRegistryError(.invariantViolated) {
            try registry.advanceDeployment(
                id: first.id!, to: .extended, on: day("2026-06-01"), newEnd: day("2026-09-15"), as: operatorActor)
        }
        let extended = try registry.advanceDeployment(
            id: first.id!, to: .extended, on: day("2026-06-01"), newEnd: day("2026-08-31"), as: operatorActor)
        #expect(extended.plannedEnd == day("2026-08-31"))
        #expect(extended.actualStart == day("2026-01-02"))
    }

    @Test func onlyLegalStatusTransitions() throws {
        let registry = try makeRegistry()
        let tour = try registry.planDeployment(
            plan("KAZ-1", "2026-12-15", "2027-06-14", mission: "MINURSO"), as: operatorActor)
        let id = tour.id!
        expectRegistryError(.invariantViolated) {
            try registry.advanceDeployment(id: id, to: .inMission, on: day("2026-12-15"), as: operatorActor)
        }
        expectRegistryError(.invariantViolated) {
            try registry.advanceDeployment(id: id, to: .repatriatedEarly, on: day("2026-12-15"), as: operatorActor)
        }
        // A new end or a reason that the move does not take is refused, not dropped as if recorded.
        expectRegistryError(.invalidInput) {
            try registry.advanceDeployment(
                id: id, to: .inTransit, on: day("2026-12-13"), newEnd: day("2027-08-01"), as: operatorActor)
        }
        expectRegistryError(.invalidInput) {
            try registry.advanceDeployment(
                id: id, to: .inTransit, on: day("2026-12-13"), reason: "x", as: operatorActor)
        }
        try registry.advanceDeployment(id: id, to: .inTransit, on: day("2026-12-13"), as: operatorActor)
        expectRegistryError(.invariantViolated) {
            try registry.advanceDeployment(id: id, to: .planned, on: day("2026-12-14"), as: operatorActor)
        }
        let arrived = try registry.advanceDeployment(id: id, to: .inMission, on: day("2026-12-15"), as: operatorActor)
        #expect(arrived.actualStart == day("2026-12-15"))
        let repatriated = try registry.advanceDeployment(
            id: id, to: .repatriatedEarly, on: day("2027-02-01"), reason: "Medical", as: operatorActor)
        #expect(repatriated.actualEnd == day("2027-02-01"))
        #expect(repatriated.repatriationReason == "Medical")
        expectRegistryError(.invariantViolated) {
            try registry.advanceDeployment(id: id, to: .ended, on: day("2027-03-01"), as: operatorActor)
        }
        #expect(DeploymentStatus.ended.successors.isEmpty)
    }

    /// An update that changes nothing (an empty PATCH) writes no audit entry that records a change.
    @Test func anUpdateThatChangesNothingLeavesNoAuditEntry() throws {
        let registry = try makeRegistry()
        let before = try registry.auditEntries(as: operatorActor).count
        try registry.updatePerson(serviceNumber: "KAZ-1", as: kazakhstan) { _ in }
        let record = try registry.person(serviceNumber: "KAZ-1", as: operatorActor)
        let qualification = try #require(record.qualifications.first)
        try registry.updateQualification(id: qualification.id!, serviceNumber: "KAZ-1", as: kazakhstan) { _ in }
        #expect(try registry.auditEntries(as: operatorActor).count == before)
        try registry.updatePerson(serviceNumber: "KAZ-1", as: kazakhstan) { $0.rank = "Major" }
        #expect(try registry.auditEntries(as: operatorActor).count == before + 1)
        // A change of Unicode form only is a change: Swift's `==` took it for none, and it was not stored.
        try registry.updatePerson(serviceNumber: "KAZ-1", as: kazakhstan) { $0.cyrillicName = "\u{418}\u{306}" }
        try registry.updatePerson(serviceNumber: "KAZ-1", as: kazakhstan) { $0.cyrillicName = "\u{419}" }
        let stored = try registry.person(serviceNumber: "KAZ-1", as: operatorActor).person.cyrillicName
        #expect(stored?.unicodeScalars.count == 1)
        #expect(try registry.auditEntries(as: operatorActor).count == before + 3)
    }

    @Test func inTransitNeedsReadinessFromTheModule() throws {
        let evaluator = TestEvaluator()
        let registry = try makeRegistry(evaluator: evaluator)
        let ready = try registry.planDeployment(plan("KAZ-1", "2026-12-15", "2027-06-14"), as: operatorActor)
        let expired = try registry.planDeployment(plan("KAZ-2", "2026-12-15", "2027-06-14"), as: operatorActor)

        do {
            try registry.advanceDeployment(id: expired.id!, to: .inTransit, on: day("2026-12-10"), as: operatorActor)
            Issue.record("KAZ-2's training expired on 2026-05-01; the move must be refused")
        } catch let error as RegistryError {
            #expect(error.code == .notReady)
            #expect(error.details.first?.hasPrefix("TRAINING_CPTM_MISSING") == true)
        }
        #expect(try registry.deployments(status: .planned).count == 2)

        let moved = try registry.advanceDeployment(
            id: ready.id!, to: .inTransit, on: day("2026-12-10"), as: operatorActor)
        #expect(moved.status == .inTransit)

        // The request follows docs/abi.md.
        let request = try #require(evaluator.requests.last)
        #expect(request["subject"] == "person")
        #expect(request["mission"] == "UNIFIL")
        #expect(request["asOf"] == "2026-12-15")
        #expect(request["deployment"]?["start"] == "2026-12-15")
        #expect(request["deployment"]?["end"] == "2027-06-14")
        #expect(request["deployment"]?["drawdownRole"] == false)
        let subject = try #require(request["person"])
        #expect(subject["serviceNumber"] == "KAZ-1")
        #expect(subject["category"] == "TROOP")
        #expect(subject["rankCode"] == "OF-2")
        #expect(subject["commissionedServiceYears"] == 7)
        #expect(subject["dateOfBirth"] == "1992-04-18")
        #expect(subject["languages"] == [["code": "en", "level": "B2"]])
        #expect(subject["qualifications"]?.arrayValue?.count == 2)
        #expect(subject["qualifications"]?.arrayValue?.first?["expiresOn"] == "2028-09-01")
    }

    /// A readiness question about someone with a planned deployment judges that deployment as the move to
    /// IN_TRANSIT will: `registry readiness` said "ready" for a UNIFIL tour past the deadline that the move then
    /// refused.
    @Test func readinessJudgesThePlannedDeployment() throws {
        let evaluator = TestEvaluator()
        let registry = try makeRegistry(evaluator: evaluator)
        _ = try registry.readiness(
            serviceNumber: "KAZ-1", mission: "UNIFIL", asOf: day("2026-12-10"), as: operatorActor)
        #expect(evaluator.requests.last?["deployment"] == nil, "no plan, no deployment")
        _ = try registry.planDeployment(plan("KAZ-1", "2026-12-15", "2027-06-14"), as: operatorActor)
        _ = try registry.readiness(
            serviceNumber: "KAZ-1", mission: "UNIFIL", asOf: day("2026-12-10"), as: operatorActor)
        #expect(evaluator.requests.last?["deployment"]?["end"] == "2027-06-14")
    }

    @Test func inTransitIsRefusedWithoutAnEvaluatorOrWhenItFails() throws {
        let none = try makeRegistry(evaluator: nil)
        let tour = try none.planDeployment(plan("KAZ-1", "2026-12-15", "2027-06-14"), as: operatorActor)
        expectRegistryError(.readinessUnavailable) {
            try none.advanceDeployment(id: tour.id!, to: .inTransit, on: day("2026-12-10"), as: operatorActor)
        }
        let evaluator = TestEvaluator()
        let failing = try makeRegistry(evaluator: evaluator)
        let other = try failing.planDeployment(plan("KAZ-1", "2026-12-15", "2027-06-14"), as: operatorActor)
        evaluator.failAll("no module serves UNIFIL")
        expectRegistryError(.readinessUnavailable) {
            try failing.advanceDeployment(id: other.id!, to: .inTransit, on: day("2026-12-10"), as: operatorActor)
        }
    }

    @Test func contingentReadinessCarriesMembersLeadNationAndHostUnit() throws {
        let evaluator = TestEvaluator()
        let registry = try makeRegistry(evaluator: evaluator)
        let unit = DeploymentPlan(
            subject: .contingent(code: "KAZ"), mission: "UNIFIL", role: "Infantry company", drawdownRole: true,
            leadNation: "IND", hostUnit: "INDBATT", start: day("2026-12-15"), end: day("2027-06-14"))
        let planned = try registry.planDeployment(unit, as: kazakhstan)
        try registry.planDeployment(plan("KAZ-1", "2026-12-15", "2027-06-14"), as: kazakhstan)
        try registry.planDeployment(plan("KAZ-2", "2026-12-15", "2027-06-14"), as: kazakhstan)
        let unmet = try registry.readiness(
            contingent: "KAZ", mission: "UNIFIL", asOf: day("2026-12-15"), as: kazakhstan)
        #expect(unmet.map(\.code) == ["TRAINING_CPTM_MISSING"])
        let request = try #require(evaluator.requests.last)
        #expect(request["subject"] == "contingent")
        #expect(request["contingent"]?["leadNation"] == "IND")
        #expect(request["contingent"]?["hostUnit"] == "INDBATT")
        #expect(request["contingent"]?["pcrsLevel"] == "L2")
        #expect(
            request["contingent"]?["members"]?.arrayValue?.compactMap { $0["serviceNumber"]?.stringValue } == [
                "KAZ-1", "KAZ-2",
            ])
        expectRegistryError(.notReady) {
            try registry.advanceDeployment(id: planned.id!, to: .inTransit, on: day("2026-12-10"), as: operatorActor)
        }
    }

    @Test func expiredQualificationsCountAsMissing() throws {
        let registry = try makeRegistry()
        #expect(
            try registry.qualifications(serviceNumber: "KAZ-2", validOn: day("2026-04-30"), as: kazakhstan).count == 1)
        #expect(
            try registry.qualifications(serviceNumber: "KAZ-2", validOn: day("2026-05-01"), as: kazakhstan).count == 1)
        #expect(try registry.qualifications(serviceNumber: "KAZ-2", validOn: day("2026-05-02"), as: kazakhstan).isEmpty)
        #expect(try registry.qualifications(serviceNumber: "KAZ-2", as: kazakhstan).count == 1)
        #expect(
            try registry.readiness(serviceNumber: "KAZ-2", mission: "UNIFIL", asOf: day("2026-12-15"), as: kazakhstan)
                .count == 1)
        #expect(
            try registry.readiness(serviceNumber: "KAZ-2", mission: "UNIFIL", asOf: day("2026-04-15"), as: kazakhstan)
                == [])
    }

    @Test func missionPhasesMoveForwardOnly() throws {
        let registry = try makeRegistry()
        expectRegistryError(.invariantViolated) {
            try registry.addMissionPhase(
                mission: "UNIFIL", lifecycle: .drawdown, since: day("2029-01-01"), as: operatorActor)
        }
        expectRegistryError(.invariantViolated) {
            try registry.addMissionPhase(
                mission: "UNIFIL", lifecycle: .closed, since: day("2027-06-01"), as: operatorActor)
        }
        try registry.addMissionPhase(mission: "UNIFIL", lifecycle: .closed, since: day("2029-01-01"), as: operatorActor)
        let status = try registry.mission(code: "UNIFIL", on: day("2027-03-01"))
        #expect(status.lifecycle == .drawdown)
        #expect(status.lifecycleSince == day("2027-01-01"))
        #expect(try registry.mission(code: "UNIFIL", on: day("2026-12-31")).lifecycle == .active)
    }

    @Test func noNewToursIntoALiquidatingMission() throws {
        let registry = try makeRegistry()
        expectRegistryError(.invariantViolated) {
            try registry.planDeployment(plan("KAZ-1", "2028-02-01", "2028-07-31"), as: operatorActor)
        }
        try registry.planDeployment(plan("KAZ-1", "2027-02-01", "2027-07-31"), as: operatorActor)
    }

    @Test func aPersonWithToursOnRecordStays() throws {
        let registry = try makeRegistry()
        try registry.planDeployment(plan("KAZ-1", "2026-12-15", "2027-06-14"), as: operatorActor)
        expectRegistryError(.invariantViolated) { try registry.removePerson(serviceNumber: "KAZ-1", as: operatorActor) }
        try registry.removePerson(serviceNumber: "KAZ-2", as: operatorActor)
    }

    @Test func invalidInputIsRefused() throws {
        let registry = try makeRegistry()
        var bad = person("KAZ-7", contingent: "KAZ")
        bad.nationality = "kz"
        bad.dateOfBirth = nil
        do {
            try registry.addPerson(bad, as: operatorActor)
            Issue.record("an invalid person was accepted")
        } catch let error as RegistryError {
            #expect(error.code == .invalidInput)
            #expect(error.details.count == 2)
        }
        expectRegistryError(.alreadyExists) {
            try registry.addPerson(person("KAZ-1", contingent: "KAZ"), as: operatorActor)
        }
        expectRegistryError(.notFound) { try registry.addPerson(person("TJK-1", contingent: "TJK"), as: operatorActor) }
        expectRegistryError(.invalidInput) {
            try registry.planDeployment(plan("KAZ-1", "2027-06-14", "2026-12-15"), as: operatorActor)
        }
        expectRegistryError(.invalidInput) {
            try registry.addQualification(
                Qualification(
                    kind: .training, code: "UN-CPTM", issuedOn: day("2026-01-01"), expiresOn: day("2025-01-01")),
                serviceNumber: "KAZ-1", as: operatorActor)
        }
        expectRegistryError(.notFound) {
            try registry.planDeployment(
                plan("KAZ-1", "2026-12-15", "2027-06-14", mission: "UNKNOWN"), as: operatorActor)
        }
    }

    /// What an older hub stored with the year 0000 is still read (and can be mended).
    @Test func aStoredYearZeroDateStaysReadable() throws {
        let registry = try makeRegistry()
        try registry.database.write { db in
            try db.execute(sql: "UPDATE qualification SET issuedOn = '0000-01-01' WHERE code = 'MEDICAL-CLEARANCE'")
        }
        let held = try registry.qualifications(serviceNumber: "KAZ-1", as: operatorActor)
        #expect(held.contains { $0.issuedOn.description == "0000-01-01" })
    }

    @Test func calendarDatesParseStrictly() {
        #expect(CalendarDate("2026-02-29") == nil)
        #expect(CalendarDate("2024-02-29") != nil)
        #expect(CalendarDate("2026-1-01") == nil)
        #expect(CalendarDate("2026-13-01") == nil)
        #expect(CalendarDate("20260101") == nil)
        // Year 0000: stored, it made every readiness call on the person fail in the modules (503).
        #expect(CalendarDate("0000-01-01") == nil)
        #expect(CalendarDate("0001-01-01") != nil)
        #expect(day("2026-01-31").adding(months: 1) == day("2026-02-28"))
        #expect(day("1992-04-18").years(until: day("2026-04-17")) == 33)
    }
}
