import Foundation
import PeaceHubCore
import PeaceHubHTTP
import PeaceHubRegistry

// The JSON the admin API reads: one type per request body, checked member by member (`RequestBody` refuses
// members it does not know). `docs/admin-api.yaml` describes each.

/// A member of a PATCH body: absent (unchanged), null (cleared, where the field may be empty) or a value.
enum Patch<Value: Decodable & Sendable>: Decodable, Sendable {
    case absent
    case null
    case value(Value)

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        self = container.decodeNil() ? .null : .value(try container.decode(Value.self))
    }

    /// Applies the member to a field that may be empty.
    func apply(to field: inout Value?) {
        switch self {
        case .absent: break
        case .null: field = nil
        case .value(let value): field = value
        }
    }

    /// Applies the member to a required field; null is refused.
    func apply(to field: inout Value, name: String) throws(HTTPError) {
        switch self {
        case .absent: break
        case .null: throw HTTPError(.badRequest, "member '\(name)' may not be null")
        case .value(let value): field = value
        }
    }
}

extension KeyedDecodingContainer {
    /// A missing member decodes as `.absent` instead of failing.
    func decode<Value>(_ type: Patch<Value>.Type, forKey key: Key) throws -> Patch<Value> {
        contains(key) ? try decodeIfPresent(type, forKey: key) ?? .null : .absent
    }
}

/// `POST /persons`.
struct PersonBody: RequestBody {
    static let members: Set<String> = [
        "serviceNumber", "latinName", "cyrillicName", "sex", "nationality", "contingent", "rank", "rankCode",
        "category", "dateOfBirth", "commissionedServiceYears", "languages",
    ]
    static let elementMembers: [String: Set<String>] = ["languages": ["code", "level"]]

    var serviceNumber: String
    var latinName: String
    var cyrillicName: String?
    var sex: Sex
    /// Defaults to the contingent.
    var nationality: String?
    var contingent: String
    var rank: String
    var rankCode: String?
    var category: PersonCategory
    var dateOfBirth: CalendarDate
    var commissionedServiceYears: Int?
    var languages: [LanguageSkill]?

    var person: Person {
        Person(
            serviceNumber: serviceNumber, latinName: latinName, cyrillicName: cyrillicName, sex: sex,
            nationality: nationality ?? contingent, contingent: contingent, rank: rank, rankCode: rankCode,
            category: category, dateOfBirth: dateOfBirth, commissionedServiceYears: commissionedServiceYears,
            languages: languages ?? [])
    }
}

/// `PATCH /persons/{serviceNumber}`: the members to change.
struct PersonPatch: RequestBody {
    static let members = PersonBody.members
    /// Null clears a field (or is refused, naming the member, where the field is required).
    static var nullableMembers: Set<String> { members }
    static let elementMembers = PersonBody.elementMembers

    var serviceNumber: Patch<String>
    var latinName: Patch<String>
    var cyrillicName: Patch<String>
    var sex: Patch<Sex>
    var nationality: Patch<String>
    var contingent: Patch<String>
    var rank: Patch<String>
    var rankCode: Patch<String>
    var category: Patch<PersonCategory>
    var dateOfBirth: Patch<CalendarDate>
    var commissionedServiceYears: Patch<Int>
    var languages: Patch<[LanguageSkill]>

    func apply(to person: inout Person) throws(HTTPError) {
        try serviceNumber.apply(to: &person.serviceNumber, name: "serviceNumber")
        try latinName.apply(to: &person.latinName, name: "latinName")
        cyrillicName.apply(to: &person.cyrillicName)
        try sex.apply(to: &person.sex, name: "sex")
        try nationality.apply(to: &person.nationality, name: "nationality")
        try contingent.apply(to: &person.contingent, name: "contingent")
        try rank.apply(to: &person.rank, name: "rank")
        rankCode.apply(to: &person.rankCode)
        try category.apply(to: &person.category, name: "category")
        if case .null = dateOfBirth { throw HTTPError(.badRequest, "member 'dateOfBirth' may not be null") }
        dateOfBirth.apply(to: &person.dateOfBirth)
        commissionedServiceYears.apply(to: &person.commissionedServiceYears)
        try languages.apply(to: &person.languages, name: "languages")
    }
}

/// `POST /persons/{serviceNumber}/qualifications`.
struct QualificationBody: RequestBody {
    static let members: Set<String> = ["kind", "code", "provider", "issuedOn", "expiresOn", "evidenceHash", "level"]

    var kind: QualificationKind
    var code: String
    var provider: String?
    var issuedOn: CalendarDate
    var expiresOn: CalendarDate?
    var evidenceHash: String?
    var level: String?

    var qualification: Qualification {
        Qualification(
            kind: kind, code: code, provider: provider, issuedOn: issuedOn, expiresOn: expiresOn,
            evidenceHash: evidenceHash, level: level)
    }
}

/// `PATCH /persons/{serviceNumber}/qualifications/{id}`.
struct QualificationPatch: RequestBody {
    static let members = QualificationBody.members
    /// Null clears a field (or is refused, naming the member, where the field is required).
    static var nullableMembers: Set<String> { members }

    var kind: Patch<QualificationKind>
    var code: Patch<String>
    var provider: Patch<String>
    var issuedOn: Patch<CalendarDate>
    var expiresOn: Patch<CalendarDate>
    var evidenceHash: Patch<String>
    var level: Patch<String>

    func apply(to qualification: inout Qualification) throws(HTTPError) {
        try kind.apply(to: &qualification.kind, name: "kind")
        try code.apply(to: &qualification.code, name: "code")
        provider.apply(to: &qualification.provider)
        try issuedOn.apply(to: &qualification.issuedOn, name: "issuedOn")
        expiresOn.apply(to: &qualification.expiresOn)
        evidenceHash.apply(to: &qualification.evidenceHash)
        level.apply(to: &qualification.level)
    }
}

/// `POST /deployments`: a plan for a person (`person`) or a formed unit (`contingent`), exactly one.
struct DeploymentPlanBody: RequestBody {
    static let members: Set<String> = [
        "person", "contingent", "mission", "role", "post", "drawdownRole", "leadNation", "hostUnit", "rotation",
        "start", "end",
    ]

    var person: String?
    var contingent: String?
    var mission: String
    var role: String
    var post: String?
    var drawdownRole: Bool?
    var leadNation: String?
    var hostUnit: String?
    var rotation: Int?
    var start: CalendarDate
    var end: CalendarDate

    func plan() throws(HTTPError) -> DeploymentPlan {
        let subject: DeploymentPlan.Subject
        switch (person, contingent) {
        case (let serviceNumber?, nil): subject = .person(serviceNumber: serviceNumber)
        case (nil, let code?): subject = .contingent(code: code)
        default: throw HTTPError(.badRequest, "give exactly one of 'person' and 'contingent'")
        }
        return DeploymentPlan(
            subject: subject, mission: mission, role: role, post: post, drawdownRole: drawdownRole ?? false,
            leadNation: leadNation, hostUnit: hostUnit, rotation: rotation, start: start, end: end)
    }
}

/// `POST /deployments/{id}/transitions`: move along the registry's legal transitions.
struct TransitionBody: RequestBody {
    static let members: Set<String> = ["to", "on", "until", "reason"]

    var to: DeploymentStatus
    /// The date of the change; today when absent.
    var on: CalendarDate?
    /// The new end, for EXTENDED.
    var until: CalendarDate?
    var reason: String?
}

/// `POST /deployments/{id}/end`: end a tour (or cancel a plan); `early` for a repatriation.
struct EndBody: RequestBody {
    static let members: Set<String> = ["on", "early", "reason"]

    var on: CalendarDate?
    var early: Bool?
    var reason: String?
}

/// `POST /equipment`.
struct EquipmentBody: RequestBody {
    static let members: Set<String> = [
        "serial", "contingent", "coeClass", "category", "description", "leaseType", "status",
    ]

    var serial: String
    var contingent: String
    var coeClass: COEClass
    var category: String
    var description: String?
    var leaseType: LeaseType
    var status: EquipmentStatus?

    var equipment: Equipment {
        Equipment(
            contingent: contingent, coeClass: coeClass, category: category, description: description, serial: serial,
            leaseType: leaseType, status: status ?? .serviceable)
    }
}

/// `PATCH /equipment/{serial}` (the serial stays).
struct EquipmentPatch: RequestBody {
    static let members: Set<String> = ["contingent", "coeClass", "category", "description", "leaseType", "status"]
    /// Null clears a field (or is refused, naming the member, where the field is required).
    static var nullableMembers: Set<String> { members }

    var contingent: Patch<String>
    var coeClass: Patch<COEClass>
    var category: Patch<String>
    var description: Patch<String>
    var leaseType: Patch<LeaseType>
    var status: Patch<EquipmentStatus>

    func apply(to equipment: inout Equipment) throws(HTTPError) {
        try contingent.apply(to: &equipment.contingent, name: "contingent")
        try coeClass.apply(to: &equipment.coeClass, name: "coeClass")
        try category.apply(to: &equipment.category, name: "category")
        description.apply(to: &equipment.description)
        try leaseType.apply(to: &equipment.leaseType, name: "leaseType")
        try status.apply(to: &equipment.status, name: "status")
    }
}

/// `POST /equipment/{serial}/inspections`.
struct InspectionBody: RequestBody {
    static let members: Set<String> = ["type", "date", "result"]

    var type: InspectionType
    /// Today when absent.
    var date: CalendarDate?
    var result: String
}
