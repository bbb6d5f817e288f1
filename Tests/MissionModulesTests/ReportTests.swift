import Foundation
import PeaceHubCore
import PeaceHubPlugins
import Testing

/// One valid report of a type, the fields it must not lack, and what the module should say.
struct ReportCase: Sendable, CustomTestStringConvertible {
    var mission: String
    var type: String
    var body: JSONValue
    /// Every unconditionally required field, dotted for nested ones.
    var required: [String]
    /// Annotations the module must attach (a subset of what it attaches).
    var annotations: [String: JSONValue]
    var nearestSite: String

    var testDescription: String { "\(mission) \(type)" }

    static let common = ["location", "location.lat", "location.lon", "occurredAt", "narrative"]

    static func body(_ lat: Double, _ lon: Double, _ fields: [String: JSONValue]) -> JSONValue {
        var members: [String: JSONValue] = [
            "location": ["lat": .number(lat), "lon": .number(lon)], "occurredAt": "2026-11-20T08:30:00Z",
            "narrative": "Observed by the patrol.",
        ]
        members.merge(fields) { _, new in new }
        return .object(members)
    }

    // Known points: Ibl al-Saqi (UNIFIL Sector East, north of the Blue Line), Nicosia on the
    // buffer-zone centreline (Sector 2), 3 km west of the LoC north of Uri, Tifariti (15 km east
    // of the berm).
    static let unifil: (Double, Double) = (33.374, 35.626)
    static let unifilAnnotations: [String: JSONValue] = ["insideArea": true, "sector": "EAST", "sideOfLine": "NORTH"]
    static let unficyp: (Double, Double) = (35.175, 33.36)
    static let unficypAnnotations: [String: JSONValue] = ["insideArea": true, "sector": "SECTOR 2"]
    static let unmogip: (Double, Double) = (34.30, 73.92)
    static let unmogipAnnotations: [String: JSONValue] = [
        "insideArea": true, "sideOfLine": "PAKISTANI_ADMINISTERED", "corridorKm": 20,
    ]
    static let minurso: (Double, Double) = (26.158, -10.567)
    static let minursoAnnotations: [String: JSONValue] = [
        "insideArea": true, "zone": "RESTRICTED_AREA_EAST", "sideOfLine": "EAST",
    ]

    static let all: [ReportCase] = [
        ReportCase(
            mission: "UNIFIL", type: "BLUE_LINE_VIOLATION",
            body: body(
                unifil.0, unifil.1,
                ["kind": "GROUND", "direction": "S_TO_N", "party": "IDF", "means": "VEHICLE", "markerId": "BP-34"]),
            required: common + ["kind", "direction", "party", "means"], annotations: unifilAnnotations,
            nearestSite: "INDBATT HQ Ibl al-Saqi"),
        ReportCase(
            mission: "UNIFIL", type: "WEAPONS_IN_AO",
            body: body(unifil.0, unifil.1, ["weaponType": "assault rifle", "armedPersons": 2, "lafInformed": true]),
            required: common + ["weaponType", "armedPersons", "lafInformed"], annotations: unifilAnnotations,
            nearestSite: "INDBATT HQ Ibl al-Saqi"),
        ReportCase(
            mission: "UNIFIL", type: "WEAPON_POINTING",
            body: body(unifil.0, unifil.1, ["from": "position south of the line", "target": "UN patrol", "count": 1]),
            required: common + ["from", "target", "count"], annotations: unifilAnnotations,
            nearestSite: "INDBATT HQ Ibl al-Saqi"),
        ReportCase(
            mission: "UNIFIL", type: "FIRE_ACROSS",
            body: body(unifil.0, unifil.1, ["from": "south", "target": "open ground", "count": 4]),
            required: common + ["from", "target", "count"], annotations: unifilAnnotations,
            nearestSite: "INDBATT HQ Ibl al-Saqi"),
        ReportCase(
            mission: "UNIFIL", type: "FREEDOM_OF_MOVEMENT_RESTRICTION",
            body: body(
                unifil.0, unifil.1, ["patrolId": "KAZCOY-2026-311", "restrictedBy": "CIVILIANS", "durationMinutes": 40]),
            required: common + ["patrolId", "restrictedBy", "durationMinutes"], annotations: unifilAnnotations,
            nearestSite: "INDBATT HQ Ibl al-Saqi"),
        ReportCase(
            mission: "UNIFIL", type: "ATTACK_ON_UN",
            body: body(
                unifil.0, unifil.1, ["casualties": ["unKilled": 0, "unInjured": 1, "civKilled": 0, "civInjured": 0]]),
            required: common + [
                "casualties", "casualties.unKilled", "casualties.unInjured", "casualties.civKilled",
                "casualties.civInjured",
            ],
            annotations: unifilAnnotations, nearestSite: "INDBATT HQ Ibl al-Saqi"),
        ReportCase(
            mission: "UNIFIL", type: "UXO",
            body: body(unifil.0, unifil.1, ["uxoType": "CLUSTER_MUNITION", "marked": true, "eodTasked": false]),
            required: common + ["uxoType", "marked", "eodTasked"], annotations: unifilAnnotations,
            nearestSite: "INDBATT HQ Ibl al-Saqi"),
        ReportCase(
            mission: "UNIFIL", type: "LAF_JOINT_ACTIVITY",
            body: body(unifil.0, unifil.1, ["activity": "JOINT_PATROL", "lafUnit": "7th Brigade"]),
            required: common + ["activity", "lafUnit"], annotations: unifilAnnotations,
            nearestSite: "INDBATT HQ Ibl al-Saqi"),

        ReportCase(
            mission: "UNFICYP", type: "MILITARY_VIOLATION",
            body: body(
                unficyp.0, unficyp.1, ["party": "NATIONAL_GUARD", "kind": "CONSTRUCTION", "protestLodged": true]),
            required: common + ["party", "kind", "protestLodged"], annotations: unficypAnnotations,
            nearestSite: "Ledra Street"),
        ReportCase(
            mission: "UNFICYP", type: "CIVILIAN_ACTIVITY_IN_BZ",
            body: body(
                unficyp.0, unficyp.1, ["activity": "FARMING", "authorisation": "PERMITTED", "permitRef": "BZ-2026-114"]),
            required: common + ["activity", "authorisation", "permitRef"], annotations: unficypAnnotations,
            nearestSite: "Ledra Street"),
        ReportCase(
            mission: "UNFICYP", type: "CROSSING_POINT_EVENT",
            body: body(
                35.1765, 33.3555, ["crossingPoint": "Ledra Palace", "eventType": "DELAY", "personsInvolved": 30]),
            required: common + ["crossingPoint", "eventType"], annotations: unficypAnnotations,
            nearestSite: "Ledra Palace"),
        ReportCase(
            mission: "UNFICYP", type: "HUMANITARIAN_TASK",
            body: body(unficyp.0, unficyp.1, ["task": "DELIVERY", "community": "MARONITE", "beneficiaries": 120]),
            required: common + ["task", "community"], annotations: unficypAnnotations, nearestSite: "Ledra Street"),

        ReportCase(
            mission: "UNMOGIP", type: "FIELD_TASK",
            body: body(
                unmogip.0, unmogip.1,
                ["taskType": "OBSERVATION_POST", "fieldStation": "Muzaffarabad", "team": ["UNMO-1", "UNMO-2"]]),
            required: common + ["taskType", "fieldStation", "team"], annotations: unmogipAnnotations,
            nearestSite: "Baramulla"),
        ReportCase(
            mission: "UNMOGIP", type: "CEASEFIRE_VIOLATION_COMPLAINT",
            body: body(
                unmogip.0, unmogip.1,
                [
                    "complainant": "PAKISTAN", "receivedAt": "2026-11-20T10:00:00Z",
                    "allegedAt": "2026-11-19T22:15:00Z",
                    "allegedPlace": "village near the LoC", "weapons": ["mortar"],
                    "casualties": ["killed": 0, "injured": 2],
                ]),
            required: common + ["complainant", "receivedAt", "allegedAt", "allegedPlace"],
            annotations: unmogipAnnotations, nearestSite: "Baramulla"),
        ReportCase(
            mission: "UNMOGIP", type: "INVESTIGATION",
            body: body(
                unmogip.0, unmogip.1,
                [
                    "complaintId": "C-2026-141", "findings": "Impact craters consistent with mortar fire.",
                    "summaryForParties": "Investigation completed.", "fieldStation": "Kotli",
                ]),
            required: common + ["complaintId", "findings", "summaryForParties"], annotations: unmogipAnnotations,
            nearestSite: "Baramulla"),
        ReportCase(
            mission: "UNMOGIP", type: "PETITION",
            body: body(unmogip.0, unmogip.1, ["submittedBy": "district council", "subject": "shelling damage"]),
            required: common + ["submittedBy", "subject"], annotations: unmogipAnnotations, nearestSite: "Baramulla"),

        ReportCase(
            mission: "MINURSO", type: "PATROL",
            body: body(minurso.0, minurso.1, ["mode": "GROUND", "teamSite": "Tifariti", "unitsVisited": ["unit 4"]]),
            required: common + ["mode", "teamSite", "unitsVisited"], annotations: minursoAnnotations,
            nearestSite: "Tifariti"),
        ReportCase(
            mission: "MINURSO", type: "MILITARY_AGREEMENT_1_VIOLATION",
            body: body(
                minurso.0, minurso.1,
                [
                    "party": "FRENTE_POLISARIO", "zone": "RESTRICTED_AREA_EAST", "violationType": "CONSTRUCTION",
                    "status": "OPEN",
                ]),
            required: common + ["party", "zone", "violationType", "status"], annotations: minursoAnnotations,
            nearestSite: "Tifariti"),
        ReportCase(
            mission: "MINURSO", type: "MINE_UXO",
            body: body(
                minurso.0, minurso.1, ["action": "MONITORED_DESTRUCTION", "uxoType": "ANTI_TANK_MINE", "marked": true]),
            required: common + ["action", "uxoType", "marked"], annotations: minursoAnnotations,
            nearestSite: "Tifariti"),
        ReportCase(
            mission: "MINURSO", type: "MOVEMENT_RESTRICTION",
            body: body(
                minurso.0, minurso.1,
                ["restrictedBy": "ROYAL_MOROCCAN_ARMY", "teamSite": "Tifariti", "durationMinutes": 90]),
            required: common + ["restrictedBy", "teamSite"], annotations: minursoAnnotations,
            nearestSite: "Tifariti"),
    ]
}

@Suite struct ReportTests {
    @Test(arguments: ReportCase.all)
    func validReportIsAcceptedWithAnnotations(_ report: ReportCase) throws {
        let judgement = try Missions.judge(report.mission, report.type, report.body)
        guard case .accepted(let annotations, let warning) = judgement else {
            Issue.record("rejected: \(judgement)")
            return
        }
        #expect(warning == nil)
        for (key, value) in report.annotations {
            #expect(annotations[key] == value, "annotation \(key)")
        }
        #expect(annotations["nearestSite"]?["name"] == .string(report.nearestSite))
        #expect(annotations["distanceToLineKm"]?.numberValue != nil)
        #expect(annotations["sideOfLine"]?.stringValue != nil)
    }

    @Test(arguments: ReportCase.all)
    func eachRequiredFieldIsEnforced(_ report: ReportCase) throws {
        for field in report.required {
            let judgement = try Missions.judge(report.mission, report.type, report.body.setting(field, nil))
            guard case .rejected(let reason, let message) = judgement else {
                Issue.record("\(report.type) without '\(field)' was accepted")
                continue
            }
            #expect(reason == .missingField, "\(field): \(message)")
            #expect(message.contains("'\(field)'"), "\(message)")
        }
    }

    @Test(arguments: ReportCase.all)
    func precedenceAndSecurityLabelAreRequired(_ report: ReportCase) throws {
        let noPrecedence = try Missions.judge(report.mission, report.type, report.body, precedence: nil)
        #expect(
            noPrecedence
                == .rejected(
                    reason: .missingField,
                    message: "field 'precedence' is required (ROUTINE, PRIORITY, IMMEDIATE or FLASH)"))
        let noLabel = try Missions.judge(report.mission, report.type, report.body, securityLabel: nil)
        guard case .rejected(let reason, let message) = noLabel else {
            Issue.record("accepted without a security label")
            return
        }
        #expect(reason == .missingField)
        #expect(message.contains("'securityLabel'"))
    }

    /// A field set to a bad value, and the rejection expected.
    struct InvalidCase: Sendable, CustomTestStringConvertible {
        var mission: String
        var type: String
        var field: String
        var value: JSONValue?
        var reason: RejectReason
        var message: String
        var testDescription: String { "\(mission) \(type) \(field)" }
    }

    static func report(_ mission: String, _ type: String) -> JSONValue {
        ReportCase.all.first { $0.mission == mission && $0.type == type }!.body
    }

    static let invalid: [InvalidCase] = [
        InvalidCase(
            mission: "UNIFIL", type: "UXO", field: "location.lat", value: 91, reason: .invalidValue,
            message: "field 'location.lat' must be a number between -90 and 90"),
        InvalidCase(
            mission: "UNIFIL", type: "UXO", field: "location.lon", value: "35.6", reason: .invalidValue,
            message: "field 'location.lon' must be a number between -180 and 180"),
        InvalidCase(
            mission: "UNIFIL", type: "UXO", field: "location", value: "Ibl al-Saqi", reason: .invalidValue,
            message: "field 'location' must be an object"),
        InvalidCase(
            mission: "UNIFIL", type: "UXO", field: "occurredAt", value: "2026-11-20 08:30", reason: .invalidValue,
            message: "field 'occurredAt' must be an RFC 3339 date-time such as 2026-11-26T10:00:00Z or "
                + "2026-11-26T15:00:00+05:00"),
        InvalidCase(
            mission: "UNIFIL", type: "UXO", field: "narrative", value: "  ", reason: .invalidValue,
            message: "field 'narrative' must be a non-empty string"),
        InvalidCase(
            mission: "UNIFIL", type: "UXO", field: "marked", value: "yes", reason: .invalidValue,
            message: "field 'marked' must be true or false"),
        InvalidCase(
            mission: "UNIFIL", type: "BLUE_LINE_VIOLATION", field: "kind", value: "SPACE", reason: .invalidValue,
            message: "field 'kind' must be one of GROUND, AIR, SEA"),
        InvalidCase(
            mission: "UNIFIL", type: "WEAPON_POINTING", field: "count", value: 0, reason: .invalidValue,
            message: "field 'count' must be an integer of at least 1"),
        InvalidCase(
            mission: "UNIFIL", type: "WEAPONS_IN_AO", field: "armedPersons", value: 1.5, reason: .invalidValue,
            message: "field 'armedPersons' must be an integer of at least 0"),
        InvalidCase(
            mission: "UNIFIL", type: "WEAPONS_IN_AO", field: "armedPersons", value: 1e300, reason: .invalidValue,
            message: "field 'armedPersons' must be an integer of at most 9007199254740991 in magnitude"),
        InvalidCase(
            mission: "UNIFIL", type: "ATTACK_ON_UN", field: "casualties.unInjured", value: -1, reason: .invalidValue,
            message: "field 'casualties.unInjured' must be an integer of at least 0"),
        InvalidCase(
            mission: "UNFICYP", type: "CROSSING_POINT_EVENT", field: "crossingPoint", value: "Checkpoint Charlie",
            reason: .invalidValue,
            message: "field 'crossingPoint' must be the name of a CROSSING_POINT: Agios Dometios, Astromeritis-Zodia, "
                + "Deryneia, Ledra Palace, Ledra Street, Limnitis-Yesilirmak, Pergamos, Strovilia"),
        InvalidCase(
            mission: "UNFICYP", type: "CIVILIAN_ACTIVITY_IN_BZ", field: "permitRef", value: nil, reason: .missingField,
            message: "field 'permitRef' is required when 'authorisation' is PERMITTED"),
        InvalidCase(
            mission: "UNMOGIP", type: "FIELD_TASK", field: "team", value: [], reason: .invalidValue,
            message: "field 'team' must be an array of at least 1 item"),
        InvalidCase(
            mission: "UNMOGIP", type: "FIELD_TASK", field: "team", value: ["UNMO-1", 7], reason: .invalidValue,
            message: "field 'team[1]' must be a non-empty string"),
        InvalidCase(
            mission: "UNMOGIP", type: "CEASEFIRE_VIOLATION_COMPLAINT", field: "allegedAt",
            value: "2026-11-20T10:30:00Z", reason: .invalidValue,
            message: "field 'allegedAt' (2026-11-20T10:30:00Z) lies after field 'receivedAt' (2026-11-20T10:00:00Z)"),
        InvalidCase(
            mission: "UNMOGIP", type: "CEASEFIRE_VIOLATION_COMPLAINT", field: "receivedAt",
            value: "2026-12-20T10:00:00Z", reason: .invalidValue,
            message: "field 'receivedAt' lies in the future of the time the hub received the report"),
        InvalidCase(
            mission: "UNMOGIP", type: "CEASEFIRE_VIOLATION_COMPLAINT", field: "allegedAt",
            value: "1926-11-19T02:15:00Z", reason: .invalidValue,
            message: "field 'allegedAt' (1926-11-19) lies before UNMOGIP was established (1949-01-24)"),
        InvalidCase(
            mission: "UNMOGIP", type: "CEASEFIRE_VIOLATION_COMPLAINT", field: "complainant", value: "UNMOGIP",
            reason: .invalidValue, message: "field 'complainant' must be one of INDIA, PAKISTAN"),
        InvalidCase(
            mission: "UNMOGIP", type: "FIELD_TASK", field: "fieldStation", value: "Srinagar", reason: .invalidValue,
            message: "field 'fieldStation' must be the name of a FIELD_STATION: Baramulla, Bhimber, Jammu, Kotli, "
                + "Muzaffarabad, Poonch, Rajouri, Rawalakot, Sialkot, Skardu"),
        InvalidCase(
            mission: "MINURSO", type: "MILITARY_AGREEMENT_1_VIOLATION", field: "zone", value: "NO_MANS_LAND",
            reason: .invalidValue,
            message: "field 'zone' must be one of BUFFER_STRIP, RESTRICTED_AREA_EAST, RESTRICTED_AREA_WEST, "
                + "LIMITED_RESTRICTION_EAST, LIMITED_RESTRICTION_WEST"),
        InvalidCase(
            mission: "MINURSO", type: "PATROL", field: "unitsVisited", value: "unit 4", reason: .invalidValue,
            message: "field 'unitsVisited' must be an array"),
    ]

    @Test(arguments: invalid)
    func invalidValueIsRejectedNamingTheField(_ item: InvalidCase) throws {
        let body = Self.report(item.mission, item.type).setting(item.field, item.value)
        #expect(
            try Missions.judge(item.mission, item.type, body) == .rejected(reason: item.reason, message: item.message))
    }

    @Test func optionalFieldsMayBeLeftOut() throws {
        let complaint = Self.report("UNMOGIP", "CEASEFIRE_VIOLATION_COMPLAINT")
            .setting("weapons", nil).setting("casualties", nil)
        guard case .accepted = try Missions.judge("UNMOGIP", "CEASEFIRE_VIOLATION_COMPLAINT", complaint) else {
            Issue.record("optional fields were required")
            return
        }
        let unauthorised = Self.report("UNFICYP", "CIVILIAN_ACTIVITY_IN_BZ")
            .setting("authorisation", "UNAUTHORISED").setting("permitRef", nil)
        guard case .accepted = try Missions.judge("UNFICYP", "CIVILIAN_ACTIVITY_IN_BZ", unauthorised) else {
            Issue.record("permitRef was required for unauthorised activity")
            return
        }
    }

    @Test func unknownTypeAndNonObjectBodiesAreRejected() throws {
        let unknown = try Missions.judge("UNIFIL", "PARKING_TICKET", ReportTests.report("UNIFIL", "UXO"))
        guard case .rejected(let reason, let message) = unknown else {
            Issue.record("unknown type accepted")
            return
        }
        #expect(reason == .unknownType)
        #expect(
            message.hasPrefix("report type 'PARKING_TICKET' is not one of UNIFIL's: ATTACK_ON_UN, BLUE_LINE_VIOLATION"))
        #expect(
            try Missions.judge("UNFICYP", "HUMANITARIAN_TASK", payload: Array("[1, 2]".utf8))
                == .rejected(reason: .malformed, message: "the report body must be a JSON object"))
        #expect(
            try Missions.judge("MINURSO", "PATROL", payload: Array("{\"mode\": ".utf8))
                == .rejected(reason: .malformed, message: "the report body must be a JSON object"))
    }

    @Test func outsideTheAreaIsAcceptedWithAWarning() throws {
        // Kiryat Shmona: south of the Blue Line, outside the AO.
        let crossing = Self.report("UNIFIL", "BLUE_LINE_VIOLATION").setting("location", ["lat": 33.207, "lon": 35.57])
        guard
            case .accepted(let annotations, let warning) = try Missions.judge("UNIFIL", "BLUE_LINE_VIOLATION", crossing)
        else {
            Issue.record("rejected")
            return
        }
        #expect(annotations["insideArea"] == false)
        #expect(annotations["sideOfLine"] == "SOUTH")
        #expect(annotations["sector"] == nil)
        #expect(
            warning
                == "field 'location' (33.207, 35.57) lies outside UNIFIL's area of operations (approximate boundary)")

        // Islamabad lies 93 km from the LoC, outside the 20 km corridor.
        let task = Self.report("UNMOGIP", "FIELD_TASK").setting("location", ["lat": 33.69, "lon": 73.05])
        guard case .accepted(let taskAnnotations, let taskWarning) = try Missions.judge("UNMOGIP", "FIELD_TASK", task)
        else {
            Issue.record("rejected")
            return
        }
        #expect(taskAnnotations["insideArea"] == false)
        #expect(taskAnnotations["nearestSite"]?["name"] == "UNMOGIP HQ Islamabad (winter)")
        #expect(taskWarning?.contains("outside UNMOGIP's Line of Control corridor") == true)
    }

    @Test(arguments: [
        ("UNIFIL", "WEAPONS_IN_AO", 33.89, 35.50),  // Beirut
        ("UNFICYP", "CIVILIAN_ACTIVITY_IN_BZ", 34.68, 33.04),  // Limassol
        ("MINURSO", "MILITARY_AGREEMENT_1_VIOLATION", 27.67, -8.15),  // Tindouf, Algeria
    ])
    func typesThatRequireTheAreaRejectOutsideLocations(mission: String, type: String, lat: Double, lon: Double) throws {
        let body = Self.report(mission, type).setting("location", ["lat": .number(lat), "lon": .number(lon)])
        guard case .rejected(let reason, let message) = try Missions.judge(mission, type, body) else {
            Issue.record("accepted outside the area")
            return
        }
        #expect(reason == .outOfArea)
        #expect(message.hasPrefix("field 'location' (\(lat), \(lon)) lies outside \(mission)'s"))
        #expect(message.hasSuffix("\(type) reports must be located inside it"))
    }

    @Test func occurredAtInTheFutureIsRejected() throws {
        let body = Self.report("MINURSO", "PATROL").setting("occurredAt", "2026-11-28T09:00:00Z")
        #expect(
            try Missions.judge("MINURSO", "PATROL", body)
                == .rejected(
                    reason: .invalidValue,
                    message: "field 'occurredAt' lies in the future of the time the hub received the report"))
    }

    /// No mission reports from before it existed: 1926 for 2026 is refused. (UNIFIL's types all have phases, and
    /// before the first one the mission is NOT_ESTABLISHED: `MISSION_CLOSED`.)
    @Test(arguments: [
        ("MINURSO", "PATROL", "1991-04-29"), ("UNMOGIP", "PETITION", "1949-01-24"),
        ("UNFICYP", "MILITARY_VIOLATION", "1964-03-04"),
    ])
    func occurredAtBeforeTheMissionIsRejected(mission: String, type: String, established: String) throws {
        let body = Self.report(mission, type).setting("occurredAt", "1926-11-20T08:30:00Z")
        #expect(
            try Missions.judge(mission, type, body)
                == .rejected(
                    reason: .invalidValue,
                    message: "field 'occurredAt' (1926-11-20) lies before \(mission) was established (\(established))"))
        let first = Self.report(mission, type).setting("occurredAt", .string(established + "T00:00:00Z"))
        guard case .accepted = try Missions.judge(mission, type, first) else {
            Issue.record("\(mission) \(type) on the day it was established was refused")
            return
        }
    }

    @Test func unifilStopsTakingOperationalReportsAfterItsOperationsEnd() throws {
        let later = Date(timeIntervalSince1970: 1_801_000_000)  // 2027-01-26
        let violation = Self.report("UNIFIL", "BLUE_LINE_VIOLATION").setting("occurredAt", "2027-01-20T10:00:00Z")
        #expect(
            try Missions.judge("UNIFIL", "BLUE_LINE_VIOLATION", violation, receivedAt: later)
                == .rejected(
                    reason: .missionClosed,
                    message:
                        "UNIFIL takes BLUE_LINE_VIOLATION reports only in phase ACTIVE; on 2027-01-20 (field 'occurredAt') "
                        + "the mission is in phase DRAWDOWN"))
        // Operations cease at midnight in Lebanon (UTC+2 in winter), not at midnight UTC.
        let lateEvening = violation.setting("occurredAt", "2026-12-31T21:30:00Z")
        let beforeMidnight = try Missions.judge("UNIFIL", "BLUE_LINE_VIOLATION", lateEvening, receivedAt: later)
        guard case .accepted = beforeMidnight else {
            Issue.record("23:30 in Beirut on 31 December is still ACTIVE")
            return
        }
        let afterMidnight = violation.setting("occurredAt", "2026-12-31T22:30:00Z")
        #expect(
            try Missions.judge("UNIFIL", "BLUE_LINE_VIOLATION", afterMidnight, receivedAt: later)
                == .rejected(
                    reason: .missionClosed,
                    message:
                        "UNIFIL takes BLUE_LINE_VIOLATION reports only in phase ACTIVE; on 2027-01-01 "
                        + "(field 'occurredAt') the mission is in phase DRAWDOWN"))
        // The same two instants in Beirut's own time (RFC 3339 offset) are judged the same.
        let localEvening = violation.setting("occurredAt", "2026-12-31T23:30:00+02:00")
        guard case .accepted = try Missions.judge("UNIFIL", "BLUE_LINE_VIOLATION", localEvening, receivedAt: later)
        else {
            Issue.record("23:30+02:00 on 31 December is still ACTIVE")
            return
        }
        let localMorning = violation.setting("occurredAt", "2027-01-01T00:30:00+02:00")
        guard case .rejected(reason: .missionClosed, _) = try Missions.judge(
            "UNIFIL", "BLUE_LINE_VIOLATION", localMorning, receivedAt: later)
        else {
            Issue.record("00:30+02:00 on 1 January is in the drawdown")
            return
        }
        let attack = Self.report("UNIFIL", "ATTACK_ON_UN").setting("occurredAt", "2027-01-20T10:00:00Z")
        guard case .accepted = try Missions.judge("UNIFIL", "ATTACK_ON_UN", attack, receivedAt: later) else {
            Issue.record("attacks on UNIFIL during the drawdown must still be reported")
            return
        }
    }
}
