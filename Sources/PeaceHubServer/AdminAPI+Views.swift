import Foundation
import PeaceHubCore
import PeaceHubMQTT
import PeaceHubPlugins
import PeaceHubRegistry

// The JSON the admin API writes: registry records without their internal row ids, keyed the way the URLs are
// (service number, qualification id, deployment id, serial). `docs/admin-api.yaml` describes each.

/// A person as the registry let the caller see them: other contingents get the shared view (`restricted`, no date
/// of birth, withheld by the registry).
struct PersonView: Encodable, Sendable {
    var serviceNumber: String
    var latinName: String
    var cyrillicName: String?
    var sex: Sex
    var nationality: String
    var contingent: String
    var rank: String
    var rankCode: String?
    var category: PersonCategory
    var dateOfBirth: CalendarDate?
    var commissionedServiceYears: Int?
    var languages: [LanguageSkill]
    var restricted: Bool

    init(_ person: Person, restricted: Bool) {
        serviceNumber = person.serviceNumber
        latinName = person.latinName
        cyrillicName = person.cyrillicName
        sex = person.sex
        nationality = person.nationality
        contingent = person.contingent
        rank = person.rank
        rankCode = person.rankCode
        category = person.category
        dateOfBirth = person.dateOfBirth
        commissionedServiceYears = person.commissionedServiceYears
        languages = person.languages
        self.restricted = restricted
    }
}

/// `GET /persons/{serviceNumber}`: the person with qualifications and deployments.
struct PersonRecordView: Encodable, Sendable {
    var person: PersonView
    var qualifications: [QualificationView]
    var deployments: [DeploymentView]

    init(_ record: PersonRecord) {
        person = PersonView(record.person, restricted: record.restricted)
        qualifications = record.qualifications.map(QualificationView.init)
        deployments = record.deployments.map { DeploymentView($0, subject: record.person.serviceNumber) }
    }
}

struct QualificationView: Encodable, Sendable {
    var id: Int64
    var kind: QualificationKind
    var code: String
    var provider: String?
    var issuedOn: CalendarDate
    var expiresOn: CalendarDate?
    var evidenceHash: String?
    var level: String?

    init(_ qualification: Qualification) {
        id = qualification.id ?? 0
        kind = qualification.kind
        code = qualification.code
        provider = qualification.provider
        issuedOn = qualification.issuedOn
        expiresOn = qualification.expiresOn
        evidenceHash = qualification.evidenceHash
        level = qualification.level
    }
}

/// A deployment with its subject: a service number (`subjectKind` person) or a contingent code (a formed unit).
struct DeploymentView: Encodable, Sendable {
    var id: Int64
    var subject: String
    var subjectKind: String
    var mission: String
    var role: String
    var post: String?
    var drawdownRole: Bool
    var leadNation: String?
    var hostUnit: String?
    var rotation: Int?
    var plannedStart: CalendarDate
    var plannedEnd: CalendarDate
    var actualStart: CalendarDate?
    var actualEnd: CalendarDate?
    var status: DeploymentStatus
    var repatriationReason: String?

    init(_ deployment: Deployment, subject: String) {
        id = deployment.id ?? 0
        self.subject = subject
        subjectKind = deployment.contingent == nil ? "person" : "contingent"
        mission = deployment.mission
        role = deployment.role
        post = deployment.post
        drawdownRole = deployment.drawdownRole
        leadNation = deployment.leadNation
        hostUnit = deployment.hostUnit
        rotation = deployment.rotation
        plannedStart = deployment.plannedStart
        plannedEnd = deployment.plannedEnd
        actualStart = deployment.actualStart
        actualEnd = deployment.actualEnd
        status = deployment.status
        repatriationReason = deployment.repatriationReason
    }
}

struct EquipmentView: Encodable, Sendable {
    var serial: String
    var contingent: String
    var coeClass: COEClass
    var category: String
    var description: String?
    var leaseType: LeaseType
    var status: EquipmentStatus

    init(_ equipment: Equipment) {
        serial = equipment.serial
        contingent = equipment.contingent
        coeClass = equipment.coeClass
        category = equipment.category
        description = equipment.description
        leaseType = equipment.leaseType
        status = equipment.status
    }
}

/// `GET /equipment/{serial}`.
struct EquipmentRecordView: Encodable, Sendable {
    var equipment: EquipmentView
    var inspections: [InspectionView]
}

struct InspectionView: Encodable, Sendable {
    var type: InspectionType
    var date: CalendarDate
    var result: String

    init(_ inspection: EquipmentInspection) {
        type = inspection.type
        date = inspection.date
        result = inspection.result
    }
}

/// The mission module's verdict on a person or a contingent.
struct ReadinessView: Encodable, Sendable {
    var subject: String
    var mission: String
    var asOf: CalendarDate
    var ready: Bool
    var unmet: [UnmetRequirement]
}

/// An archived report with its body and annotations as JSON: what the admin API and `registry reports --json` give.
public struct ReportView: Encodable, Sendable {
    public struct Location: Encodable, Sendable {
        public var lat: Double
        public var lon: Double
    }

    public var id: Int64
    public var mission: String
    public var type: String
    public var sender: String
    public var receivedAt: String
    public var precedence: String
    public var securityLabel: String?
    public var location: Location?
    public var body: JSONValue
    public var annotations: JSONValue?
    public var status: String
    public var reason: String?

    public init(_ report: ArchivedReport) {
        id = report.id ?? 0
        mission = report.mission
        type = report.type
        sender = report.sender
        receivedAt = report.receivedAt
        precedence = report.precedence
        securityLabel = report.securityLabel
        if let lat = report.latitude, let lon = report.longitude { location = Location(lat: lat, lon: lon) }
        // The archive writes both as JSON text; text that no longer parses is shown as a string.
        body = (try? JSONValue(parsing: Data(report.body.utf8))) ?? .string(report.body)
        annotations = report.annotations.map { (try? JSONValue(parsing: Data($0.utf8))) ?? .string($0) }
        status = report.status
        reason = report.reason
    }
}

/// A loaded mission module.
struct ModuleView: Encodable, Sendable {
    var id: String
    var mission: String
    var version: String
    var displayName: String
    /// The ABI version the module's table declares (`major.minor`).
    var abi: String

    init(_ module: ModuleInstance) {
        id = module.id
        mission = module.mission
        version = module.version
        displayName = module.displayName
        abi = module.module.tableABI
    }
}

/// `GET /audit/verify`.
struct AuditVerificationView: Encodable, Sendable {
    var entries: Int
    var intact: Bool
    var firstBad: Int64?
    var reason: String?

    init(_ verification: AuditVerification) {
        entries = verification.entries
        intact = verification.isIntact
        firstBad = verification.problem?.seq
        reason = verification.problem?.reason
    }
}

/// `GET /me`: who the certificate says the caller is.
struct PrincipalView: Encodable, Sendable {
    var principal: String
    var kind: String
    var name: String

    init(_ principal: Principal) {
        self.principal = principal.description
        switch principal {
        case .contingent(let code): (kind, name) = ("contingent", code)
        case .operator(let name): (kind, self.name) = ("operator", name)
        }
    }
}
