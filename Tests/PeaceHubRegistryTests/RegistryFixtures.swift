import Foundation
import GRDB
import PeaceHubCore
import Synchronization
import Testing

@testable import PeaceHubRegistry

let operatorActor = Registry.Actor.operator("test")
let kazakhstan = Registry.Actor.contingent("KAZ")
let india = Registry.Actor.contingent("IND")

func day(_ text: String) -> CalendarDate { CalendarDate(text)! }

/// A readiness evaluator standing in for the mission modules: unmet when no valid UN-CPTM on `asOf`
/// (or the scripted answer); records every request it judged.
final class TestEvaluator: ReadinessEvaluating {
    private let state = Mutex<(requests: [JSONValue], failure: String?)>(([], nil))

    var requests: [JSONValue] { state.withLock { $0.requests } }

    /// Makes every later evaluation throw, as the host does when no module serves the mission.
    func failAll(_ reason: String) { state.withLock { $0.failure = reason } }

    func evaluateReadiness(mission: String, request: Data) throws -> [UnmetRequirement] {
        let json = try JSONValue(parsing: request)
        let failure = state.withLock { state -> String? in
            state.requests.append(json)
            return state.failure
        }
        if let failure { throw RegistryError(.readinessUnavailable, failure) }
        let asOf = json["asOf"]?.stringValue ?? ""
        let people = json["person"].map { [$0] } ?? json["contingent"]?["members"]?.arrayValue ?? []
        var unmet: [UnmetRequirement] = []
        for person in people {
            let trained = (person["qualifications"]?.arrayValue ?? []).contains { qualification in
                qualification["code"]?.stringValue == "UN-CPTM"
                    && (qualification["expiresOn"]?.stringValue.map { $0 >= asOf } ?? true)
            }
            if !trained {
                unmet.append(
                    UnmetRequirement(
                        code: "TRAINING_CPTM_MISSING",
                        message: "\(person["serviceNumber"]?.stringValue ?? "?") has no valid UN-CPTM on \(asOf)"))
            }
        }
        return unmet
    }
}

/// A registry on an in-memory database with two missions, three contingents and three people:
/// KAZ-1 (trained, with a medical clearance), KAZ-2 (training expired 2026-05-01) and IND-1.
func makeRegistry(evaluator: (any ReadinessEvaluating)? = TestEvaluator()) throws -> Registry {
    let registry = try Registry(
        database: try DatabaseQueue(), evaluator: evaluator, now: { Date(timeIntervalSince1970: 1_795_046_400) })
    try populate(registry)
    return registry
}

func populate(_ registry: Registry) throws {
    for (code, name) in [("KAZ", "Kazakhstan"), ("IND", "India"), ("KGZ", "Kyrgyzstan")] {
        try registry.addContingent(Contingent(code: code, name: name, pcrsLevel: .level2), as: operatorActor)
    }
    try registry.addMission(
        Mission(code: "UNIFIL", name: "United Nations Interim Force in Lebanon"), activeSince: day("1978-03-19"),
        as: operatorActor)
    try registry.addMissionPhase(mission: "UNIFIL", lifecycle: .drawdown, since: day("2027-01-01"), as: operatorActor)
    try registry.addMissionPhase(
        mission: "UNIFIL", lifecycle: .liquidation, since: day("2028-01-01"), as: operatorActor)
    try registry.addMission(
        Mission(code: "MINURSO", name: "United Nations Mission for the Referendum in Western Sahara"),
        activeSince: day("1991-04-29"), as: operatorActor)
    try registry.addPerson(person("KAZ-1", contingent: "KAZ"), as: operatorActor)
    try registry.addPerson(person("KAZ-2", contingent: "KAZ"), as: operatorActor)
    try registry.addPerson(person("IND-1", contingent: "IND"), as: operatorActor)
    try registry.addQualification(
        Qualification(kind: .training, code: "UN-CPTM", issuedOn: day("2025-09-01"), expiresOn: day("2028-09-01")),
        serviceNumber: "KAZ-1", as: operatorActor)
    try registry.addQualification(
        Qualification(
            kind: .medical, code: "MEDICAL-CLEARANCE", issuedOn: day("2026-04-01"), expiresOn: day("2027-04-01")),
        serviceNumber: "KAZ-1", as: operatorActor)
    try registry.addQualification(
        Qualification(kind: .training, code: "UN-CPTM", issuedOn: day("2023-05-01"), expiresOn: day("2026-05-01")),
        serviceNumber: "KAZ-2", as: operatorActor)
    try registry.addQualification(
        Qualification(kind: .training, code: "UN-CPTM", issuedOn: day("2025-01-01")), serviceNumber: "IND-1",
        as: operatorActor)
}

func person(_ serviceNumber: String, contingent: String, sex: Sex = .female) -> Person {
    Person(
        serviceNumber: serviceNumber, latinName: "Test \(serviceNumber)", cyrillicName: "Тест", sex: sex,
        nationality: contingent, contingent: contingent, rank: "Captain", rankCode: "OF-2", category: .troop,
        dateOfBirth: day("1992-04-18"), commissionedServiceYears: 7, languages: [LanguageSkill(code: "en", level: .b2)])
}

func plan(_ serviceNumber: String, _ start: String, _ end: String, mission: String = "UNIFIL") -> DeploymentPlan {
    DeploymentPlan(
        subject: .person(serviceNumber: serviceNumber), mission: mission, role: "Platoon commander",
        start: day(start), end: day(end))
}

/// Collects GRDB's content dump (every table, rows in stable order) for before/after comparisons.
final class DumpText: TextOutputStream {
    var text = ""
    func write(_ string: String) { text += string }
}

func contentDump(_ registry: Registry) throws -> String {
    let stream = DumpText()
    try registry.database.dumpContent(to: stream)
    return stream.text
}

/// Expects `body` to throw a `RegistryError` with `code`.
func expectRegistryError(
    _ code: RegistryError.Code, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void
) {
    do {
        try body()
        Issue.record("expected \(code), nothing was thrown", sourceLocation: sourceLocation)
    } catch let error as RegistryError {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected \(code), got \(error)", sourceLocation: sourceLocation)
    }
}
