import Foundation
import PeaceHubCore
import PeaceHubPlugins
import Testing

/// Readiness through the built modules: ready people, each kind of unmet requirement, expiry,
/// UNIFIL's deadline and contingent rules.
@Suite struct ReadinessTests {
    static let kinds: [String: String] = [
        "MEDICAL-CLEARANCE": "MEDICAL", "DRIVING-4X4": "DRIVING", "ENGLISH-TEST": "LANGUAGE",
    ]

    static func qualifications(_ codes: [String], expiresOn: String = "2028-06-30") -> JSONValue {
        .array(
            codes.map { code in
                [
                    "kind": .string(kinds[code] ?? "TRAINING"), "code": .string(code), "issuedOn": "2025-01-15",
                    "expiresOn": .string(expiresOn),
                ]
            })
    }

    static let observerTraining = ["UN-CPTM", "UN-STM-UNMO", "POC", "HUMAN-RIGHTS", "MEDICAL-CLEARANCE", "DRIVING-4X4"]
    static let troopTraining = ["UN-CPTM", "UNIT-PDT", "POC", "HUMAN-RIGHTS", "ENGLISH-TEST", "MEDICAL-CLEARANCE"]
    static let policeTraining = ["UN-CPTM", "UN-STM-UNPOL", "POC", "HUMAN-RIGHTS", "MEDICAL-CLEARANCE", "DRIVING-4X4"]

    static let observer: JSONValue = [
        "serviceNumber": "KAZ-200001", "contingent": "KAZ", "nationality": "KAZ", "category": "MILITARY_OBSERVER",
        "rank": "Captain", "rankCode": "OF-2", "commissionedServiceYears": 7, "dateOfBirth": "1992-04-18", "sex": "F",
        "languages": [["code": "en", "level": "C1"], ["code": "ru", "level": "C2"]],
        "qualifications": qualifications(observerTraining),
    ]

    static let troop: JSONValue = [
        "serviceNumber": "KAZ-100234", "contingent": "KAZ", "nationality": "KAZ", "category": "TROOP",
        "rank": "Sergeant", "rankCode": "OR-5", "dateOfBirth": "2000-02-01",
        "languages": [["code": "en", "level": "B1"]], "qualifications": qualifications(troopTraining),
    ]

    static let police: JSONValue = [
        "serviceNumber": "KAZ-300010", "contingent": "KAZ", "nationality": "KAZ", "category": "POLICE",
        "rank": "Police Major", "dateOfBirth": "1988-09-09", "languages": [["code": "en", "level": "B2"]],
        "qualifications": qualifications(policeTraining),
    ]

    static func request(
        _ mission: String, _ person: JSONValue, asOf: String? = "2026-12-01",
        deployment: JSONValue? = nil
    ) -> JSONValue {
        var members: [String: JSONValue] = ["subject": "person", "mission": .string(mission), "person": person]
        if let asOf { members["asOf"] = .string(asOf) }
        if let deployment { members["deployment"] = deployment }
        return .object(members)
    }

    static func codes(
        _ mission: String, _ person: JSONValue, asOf: String? = "2026-12-01",
        deployment: JSONValue? = nil
    ) throws -> [String] {
        try Missions.readiness(mission, request(mission, person, asOf: asOf, deployment: deployment)).map(\.code)
    }

    static func without(_ person: JSONValue, _ code: String) -> JSONValue {
        let kept = person["qualifications"]!.arrayValue!.filter { $0["code"]?.stringValue != code }
        return person.setting("qualifications", .array(kept))
    }

    // MARK: Ready

    @Test(arguments: [
        ("UNIFIL", troop), ("UNIFIL", observer), ("UNFICYP", troop), ("UNFICYP", police), ("UNMOGIP", observer),
        ("MINURSO", observer),
    ])
    func readyPersonHasNoUnmetRequirements(mission: String, person: JSONValue) throws {
        let unmet = try Missions.readiness(mission, Self.request(mission, person))
        #expect(unmet.isEmpty, "\(unmet)")
    }

    // MARK: Category

    @Test(arguments: [
        ("UNIFIL", "POLICE"), ("UNFICYP", "MILITARY_OBSERVER"), ("UNMOGIP", "TROOP"), ("UNMOGIP", "STAFF_OFFICER"),
        ("MINURSO", "POLICE"), ("MINURSO", "CIVILIAN"),
    ])
    func categoryNotAllowed(mission: String, category: String) throws {
        let unmet = try Missions.readiness(
            mission, Self.request(mission, Self.observer.setting("category", .string(category))))
        #expect(unmet.map(\.code) == ["CATEGORY_NOT_ALLOWED"])
        #expect(unmet.first?.message.hasPrefix("category \(category) is not deployed to this mission") == true)
    }

    // MARK: Qualifications

    @Test(arguments: ["UNIFIL", "UNMOGIP", "MINURSO"])
    func eachMissingObserverQualificationIsNamed(mission: String) throws {
        let expected = [
            "UN-CPTM": "TRAINING_MISSING", "UN-STM-UNMO": "TRAINING_MISSING", "POC": "TRAINING_MISSING",
            "HUMAN-RIGHTS": "TRAINING_MISSING", "MEDICAL-CLEARANCE": "MEDICAL_MISSING",
            "DRIVING-4X4": "DRIVING_MISSING",
        ]
        for (code, unmetCode) in expected {
            let unmet = try Missions.readiness(mission, Self.request(mission, Self.without(Self.observer, code)))
            #expect(unmet.map(\.code) == [unmetCode], "\(code)")
            #expect(unmet.first?.message.hasPrefix("\(code) (") == true)
            #expect(unmet.first?.message.hasSuffix("is required and not recorded") == true)
        }
    }

    @Test(arguments: ["UNIFIL", "UNFICYP"])
    func troopQualifications(mission: String) throws {
        #expect(try Self.codes(mission, Self.without(Self.troop, "UN-CPTM")) == ["TRAINING_MISSING"])
        #expect(try Self.codes(mission, Self.without(Self.troop, "HUMAN-RIGHTS")) == ["TRAINING_MISSING"])
        #expect(try Self.codes(mission, Self.without(Self.troop, "MEDICAL-CLEARANCE")) == ["MEDICAL_MISSING"])
        let expired = Self.troop.setting(
            "qualifications", Self.qualifications(Self.troopTraining, expiresOn: "2026-06-30"))
        // UNIFIL troops also need the English test, which expired with the rest.
        let expiredCodes: Set =
            mission == "UNIFIL"
            ? ["TRAINING_EXPIRED", "MEDICAL_EXPIRED", "LANGUAGE_EXPIRED"] : ["TRAINING_EXPIRED", "MEDICAL_EXPIRED"]
        #expect(Set(try Self.codes(mission, expired)) == expiredCodes)
    }

    @Test func unifilTroopsNeedUnitTrainingAndTheEnglishTest() throws {
        #expect(try Self.codes("UNIFIL", Self.without(Self.troop, "UNIT-PDT")) == ["TRAINING_MISSING"])
        #expect(try Self.codes("UNIFIL", Self.without(Self.troop, "ENGLISH-TEST")) == ["LANGUAGE_MISSING"])
    }

    /// A course recorded with a later issue date is not yet taken on the day judged (UNFICYP takes no observers).
    @Test(arguments: ["UNIFIL", "UNMOGIP", "MINURSO"])
    func trainingIssuedAfterTheDayJudgedIsMissing(mission: String) throws {
        var qualifications = Self.observer["qualifications"]!.arrayValue!
        qualifications[0] = ["kind": "TRAINING", "code": "UN-CPTM", "issuedOn": "2027-03-01", "expiresOn": "2030-03-01"]
        let person = Self.observer.setting("qualifications", .array(qualifications))
        let unmet = try Missions.readiness(mission, Self.request(mission, person))
        #expect(unmet.map(\.code) == ["TRAINING_MISSING"])
        // Recorded, so "not recorded" would be wrong: the message says why it does not count.
        #expect(
            unmet.first?.message
                == "UN-CPTM (core pre-deployment training) is recorded as issued on 2027-03-01, after 2026-12-01")
        #expect(!(try Self.codes(mission, person, asOf: "2027-03-01")).contains("TRAINING_MISSING"))
    }

    /// A qualification of the required code but another kind meets nothing: a medical clearance filed as a training
    /// and a training filed as OTHER left an observer ready.
    @Test(arguments: ["UNIFIL", "UNMOGIP", "MINURSO"])
    func aQualificationOfAnotherKindMeetsNothing(mission: String) throws {
        var qualifications = Self.observer["qualifications"]!.arrayValue!
        for (index, item) in qualifications.enumerated() {
            switch item["code"]?.stringValue {
            case "MEDICAL-CLEARANCE": qualifications[index] = item.setting("kind", "TRAINING")
            case "UN-CPTM": qualifications[index] = item.setting("kind", "OTHER")
            default: break
            }
        }
        let unmet = try Missions.readiness(
            mission, Self.request(mission, Self.observer.setting("qualifications", .array(qualifications))))
        #expect(
            unmet.map(\.message).sorted() == [
                "MEDICAL-CLEARANCE (medical clearance) is recorded as TRAINING, not as MEDICAL",
                "UN-CPTM (core pre-deployment training) is recorded as OTHER, not as TRAINING",
            ], "\(unmet)")
        #expect(Set(unmet.map(\.code)) == ["MEDICAL_MISSING", "TRAINING_MISSING"])
    }

    @Test func expiredTrainingCountsAsMissing() throws {
        var qualifications = Self.observer["qualifications"]!.arrayValue!
        qualifications[0] = [
            "kind": "TRAINING", "code": "UN-CPTM", "issuedOn": "2023-05-01", "expiresOn": "2026-05-01",
        ]
        let person = Self.observer.setting("qualifications", .array(qualifications))
        let unmet = try Missions.readiness("MINURSO", Self.request("MINURSO", person))
        #expect(
            unmet == [
                UnmetRequirement(
                    code: "TRAINING_EXPIRED",
                    message: "UN-CPTM (core pre-deployment training) expired on 2026-05-01, before 2026-12-01")
            ])
        // A renewed certificate next to the expired one makes the person ready again.
        let renewed = person.setting(
            "qualifications",
            .array(qualifications + [["kind": "TRAINING", "code": "UN-CPTM", "expiresOn": "2029-05-01"]]))
        #expect(try Self.codes("MINURSO", renewed).isEmpty)
    }

    @Test func expiredMedicalClearance() throws {
        let person = Self.observer.setting(
            "qualifications",
            .array(
                Self.without(Self.observer, "MEDICAL-CLEARANCE")["qualifications"]!.arrayValue!
                    + [["kind": "MEDICAL", "code": "MEDICAL-CLEARANCE", "expiresOn": "2026-11-30"]]))
        #expect(try Self.codes("UNMOGIP", person) == ["MEDICAL_EXPIRED"])
    }

    @Test func withoutAsOfTheHostClockDecides() throws {
        // The host's clock reads 2026-11-27: a training that expired on 2026-11-20 is expired,
        // one that expires on 2026-11-30 is not yet.
        let expired = Self.observer.setting(
            "qualifications", Self.qualifications(Self.observerTraining, expiresOn: "2026-11-20"))
        let valid = Self.observer.setting(
            "qualifications", Self.qualifications(Self.observerTraining, expiresOn: "2026-11-30"))
        #expect(try Self.codes("UNMOGIP", expired, asOf: nil).allSatisfy { $0.hasSuffix("_EXPIRED") })
        #expect(try Self.codes("UNMOGIP", expired, asOf: nil).count == 6)
        #expect(try Self.codes("UNMOGIP", valid, asOf: nil).isEmpty)
    }

    // MARK: Language

    @Test func languageLevelBelowTheMinimum() throws {
        let person = Self.police.setting("languages", [["code": "en", "level": "B1"]])
        let unmet = try Missions.readiness("UNFICYP", Self.request("UNFICYP", person))
        #expect(
            unmet == [
                UnmetRequirement(
                    code: "LANGUAGE_MISSING",
                    message: "English (en) at CEFR B2 or above is required; recorded level: B1")
            ])
        #expect(
            try Self.codes("MINURSO", Self.observer.setting("languages", [["code": "fr", "level": "C1"]]))
                == ["LANGUAGE_MISSING"])
    }

    @Test func policeNeedDriving() throws {
        #expect(try Self.codes("UNFICYP", Self.without(Self.police, "DRIVING-4X4")) == ["DRIVING_MISSING"])
    }

    // MARK: Rank, service, age, nationality (observers)

    @Test(arguments: ["UNMOGIP", "MINURSO", "UNIFIL"])
    func observerSelectionStandards(mission: String) throws {
        let lieutenant = Self.observer.setting("rankCode", "OF-1").setting("rank", "Lieutenant")
        #expect(try Self.codes(mission, lieutenant) == ["RANK_TOO_LOW"])
        #expect(try Self.codes(mission, Self.observer.setting("commissionedServiceYears", 3)) == ["SERVICE_TOO_SHORT"])
        // Born 2002-04-19: 24 on 2026-12-01, too young; born 2001-12-01: 25 that day, old enough.
        #expect(try Self.codes(mission, Self.observer.setting("dateOfBirth", "2002-04-19")) == ["AGE_TOO_LOW"])
        #expect(try Self.codes(mission, Self.observer.setting("dateOfBirth", "2001-12-01")).isEmpty)
        #expect(try Self.codes(mission, Self.observer.setting("nationality", "RUS")) == ["NATIONALITY_MISMATCH"])
    }

    @Test func rankNameIsUsedWhenTheCodeIsAbsent() throws {
        let captain = Self.observer.setting("rankCode", nil)
        #expect(try Self.codes("MINURSO", captain).isEmpty)
        let lieutenant = captain.setting("rank", "Lieutenant")
        let unmet = try Missions.readiness("MINURSO", Self.request("MINURSO", lieutenant))
        #expect(
            unmet == [
                UnmetRequirement(
                    code: "RANK_TOO_LOW",
                    message: "military observers must hold rank OF-2 or above; recorded: Lieutenant")
            ])
        #expect(try Self.codes("MINURSO", captain.setting("rank", "Kapitan")) == ["RANK_TOO_LOW"])
    }

    @Test func ageMessageNamesTheDate() throws {
        let unmet = try Missions.readiness(
            "UNMOGIP", Self.request("UNMOGIP", Self.observer.setting("dateOfBirth", "2002-01-10")))
        #expect(
            unmet == [
                UnmetRequirement(
                    code: "AGE_TOO_LOW",
                    message: "military observers must be at least 25 years old on 2026-12-01; age then: 24")
            ])
    }

    // MARK: UNIFIL deadline

    @Test func unifilRefusesToursEndingAfterItsDeadline() throws {
        let late: JSONValue = ["role": "Platoon commander", "start": "2026-12-01", "end": "2027-06-01"]
        let unmet = try Missions.readiness("UNIFIL", Self.request("UNIFIL", Self.troop, deployment: late))
        #expect(
            unmet == [
                UnmetRequirement(
                    code: "TOUR_ENDS_AFTER_DEADLINE",
                    message:
                        "the tour ends on 2027-06-01, after UNIFIL's deadline of 2026-12-31 (operations cease on 31 December "
                        + "2026 under res. 2790 (2025)); only a drawdown role may end later")
            ])
        #expect(try Self.codes("UNIFIL", Self.troop, deployment: late.setting("drawdownRole", true)).isEmpty)
        // A category the mission does not take skips the other checks, the deadline's too.
        let police = Self.troop.setting("category", "POLICE")
        #expect(try Self.codes("UNIFIL", police, deployment: late) == ["CATEGORY_NOT_ALLOWED"])
        #expect(try Self.codes("UNIFIL", Self.troop, deployment: ["start": "2026-06-15", "end": "2026-12-31"]).isEmpty)
        // Without an end, the default tour for the category (6 months for troops) decides.
        #expect(try Self.codes("UNIFIL", Self.troop, deployment: ["start": "2026-06-15"]).isEmpty)
        #expect(
            try Self.codes("UNIFIL", Self.troop, deployment: ["start": "2026-07-15"]) == ["TOUR_ENDS_AFTER_DEADLINE"])
        // A tour's end date counts its own day, as the registry's do: six months from 1 July end on 31 December.
        #expect(try Self.codes("UNIFIL", Self.troop, deployment: ["start": "2026-07-01"]).isEmpty)
        #expect(
            try Self.codes("UNIFIL", Self.troop, deployment: ["start": "2026-07-02"]) == ["TOUR_ENDS_AFTER_DEADLINE"])
        // A contingent's tour without an end is its longest-serving members' (it was never checked).
        let ready: [String: JSONValue] = ["pcrsLevel": "L2", "leadNation": "IND", "hostUnit": "INDBATT"]
        var lateUnit = Self.contingent("UNIFIL", ready, members: [Self.troop]).objectValue!
        lateUnit["deployment"] = ["start": "2026-12-20"]
        #expect(try Missions.readiness("UNIFIL", .object(lateUnit)).map(\.code) == ["TOUR_ENDS_AFTER_DEADLINE"])
        // Other missions have no such deadline.
        #expect(
            try Self.codes("MINURSO", Self.observer, deployment: ["start": "2026-12-01", "end": "2027-12-01"]).isEmpty)
    }

    // MARK: Contingents

    static func contingent(_ mission: String, _ fields: [String: JSONValue], members: [JSONValue]) -> JSONValue {
        var contingent: [String: JSONValue] = ["code": "KAZ", "name": "Kazakhstan", "members": .array(members)]
        contingent.merge(fields) { _, new in new }
        return [
            "subject": "contingent", "mission": .string(mission), "asOf": "2026-12-01",
            "contingent": .object(contingent),
        ]
    }

    @Test func unifilKazakhCompanyDeploysInsideINDBATT() throws {
        let ready: [String: JSONValue] = ["pcrsLevel": "L2", "leadNation": "IND", "hostUnit": "INDBATT"]
        let second = Self.troop.setting("serviceNumber", "KAZ-100235")
        #expect(
            try Missions.readiness("UNIFIL", Self.contingent("UNIFIL", ready, members: [Self.troop, second])).isEmpty)

        let alone = try Missions.readiness(
            "UNIFIL", Self.contingent("UNIFIL", ["pcrsLevel": "L3"], members: [Self.troop]))
        #expect(
            alone == [
                UnmetRequirement(
                    code: "LEAD_NATION_MISSING",
                    message:
                        "KAZ deploys inside INDBATT with lead nation IND; recorded: lead nation none, host unit none")
            ])

        var low = ready
        low["pcrsLevel"] = "L1"
        #expect(
            try Missions.readiness("UNIFIL", Self.contingent("UNIFIL", low, members: [Self.troop])).map(\.code)
                == ["PCRS_LEVEL_TOO_LOW"])
        #expect(
            try Missions.readiness("UNIFIL", Self.contingent("UNIFIL", ready, members: [])).map(\.code)
                == ["MEMBERS_MISSING"])
    }

    /// PCRS levels are pledged for formed units: a contingent of individual officers is not held to one.
    @Test func pcrsLevelsApplyToFormedUnitsOnly() throws {
        let individuals = try Missions.readiness(
            "UNFICYP", Self.contingent("UNFICYP", ["pcrsLevel": "L1"], members: [Self.police]))
        #expect(!individuals.map(\.code).contains("PCRS_LEVEL_TOO_LOW"), "\(individuals)")
        let unit = try Missions.readiness(
            "UNFICYP", Self.contingent("UNFICYP", ["pcrsLevel": "L1"], members: [Self.troop, Self.police]))
        #expect(unit.map(\.code).contains("PCRS_LEVEL_TOO_LOW"), "\(unit)")
    }

    @Test func contingentMembersAreEvaluatedOneByOne() throws {
        let untrained = Self.without(Self.troop, "POC").setting("serviceNumber", "KAZ-100299")
        let unmet = try Missions.readiness(
            "UNIFIL",
            Self.contingent(
                "UNIFIL", ["pcrsLevel": "RDL", "leadNation": "IND", "hostUnit": "INDBATT"],
                members: [Self.troop, untrained]))
        #expect(
            unmet == [
                UnmetRequirement(
                    code: "TRAINING_MISSING",
                    message: "KAZ-100299: POC (protection of civilians training) is required and not recorded",
                    serviceNumber: "KAZ-100299")
            ])
        // Observer missions have no unit-level rules: a group of observers is judged member by member.
        #expect(try Missions.readiness("MINURSO", Self.contingent("MINURSO", [:], members: [Self.observer])).isEmpty)
    }

    // MARK: Malformed requests

    @Test(arguments: [
        ("{\"subject\": \"robot\"}", "field 'subject' must be \"person\" or \"contingent\""),
        ("{\"subject\": \"person\"}", "field 'person' must be an object"),
        ("{\"subject\": \"person\", \"person\": {}}", "field 'person.category' is required"),
        (
            "{\"subject\": \"person\", \"mission\": \"UNFICYP\", \"person\": {\"category\": \"TROOP\"}}",
            "field 'mission' is UNFICYP, but this module judges UNIFIL"
        ),
        (
            "{\"subject\": \"person\", \"asOf\": \"soon\", \"person\": {\"category\": \"TROOP\"}}",
            "field 'asOf' must be a date such as 2027-01-10"
        ),
        (
            "{\"subject\": \"person\", \"person\": {\"category\": \"TROOP\", \"qualifications\": [{\"code\": \"POC\", \"expiresOn\": 2027}]}}",
            "field 'person.qualifications[0].expiresOn' must be a string"
        ),
        ("[]", "the readiness request must be a JSON object"),
        ("not json", "the readiness request is not valid JSON"),
    ])
    func malformedRequestIsAnInvalidArgument(request: String, reason: String) throws {
        let module = try Missions.module("UNIFIL")
        do {
            _ = try module.readiness(Data(request.utf8))
            Issue.record("accepted \(request)")
        } catch {
            #expect(error.code == .invalidArgument)
            #expect(error.reason == reason)
        }
    }
}
