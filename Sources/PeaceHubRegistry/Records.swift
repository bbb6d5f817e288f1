import GRDB

/// A national contingent (troop- or police-contributing country), keyed by ISO 3166 alpha-3.
public struct Contingent: Codable, Sendable, Hashable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "contingent"
    public enum Columns {
        public static let code = Column(CodingKeys.code)
        public static let name = Column(CodingKeys.name)
    }

    public var code: String
    public var name: String
    public var pcrsLevel: PCRSLevel
    /// What backs the level: an assessment visit report or statement of unit requirement id.
    public var pcrsEvidence: String?
    public var pcrsEvidenceDate: CalendarDate?

    public init(
        code: String, name: String, pcrsLevel: PCRSLevel = .none, pcrsEvidence: String? = nil,
        pcrsEvidenceDate: CalendarDate? = nil
    ) {
        self.code = code
        self.name = name
        self.pcrsLevel = pcrsLevel
        self.pcrsEvidence = pcrsEvidence
        self.pcrsEvidenceDate = pcrsEvidenceDate
    }
}

/// A UN mission. Its lifecycle is a dated list of phases (`MissionPhase`).
public struct Mission: Codable, Sendable, Hashable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "mission"
    public enum Columns {
        public static let code = Column(CodingKeys.code)
    }

    public var code: String
    public var name: String
    public var establishedOn: CalendarDate?

    public init(code: String, name: String, establishedOn: CalendarDate? = nil) {
        self.code = code
        self.name = name
        self.establishedOn = establishedOn
    }
}

/// From `since` on, the mission is in `lifecycle` (until a later phase starts).
public struct MissionPhase: Codable, Sendable, Hashable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "missionPhase"
    public enum Columns {
        public static let mission = Column(CodingKeys.mission)
        public static let since = Column(CodingKeys.since)
    }

    public var mission: String
    public var lifecycle: MissionLifecycle
    public var since: CalendarDate

    public init(mission: String, lifecycle: MissionLifecycle, since: CalendarDate) {
        self.mission = mission
        self.lifecycle = lifecycle
        self.since = since
    }
}

public struct LanguageSkill: Codable, Sendable, Hashable {
    /// ISO 639-1 code, e.g. `en`.
    public var code: String
    public var level: LanguageLevel

    public init(code: String, level: LanguageLevel) {
        self.code = code
        self.level = level
    }
}

/// An observer, peacekeeper, staff officer, police officer or civilian. `dateOfBirth` and
/// `commissionedServiceYears` are `nil` in the shared view other contingents get.
public struct Person: Codable, Sendable, Hashable, FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "person"
    public enum Columns {
        public static let id = Column(CodingKeys.id)
        public static let serviceNumber = Column(CodingKeys.serviceNumber)
        public static let contingent = Column(CodingKeys.contingent)
        public static let category = Column(CodingKeys.category)
    }

    public var id: Int64?
    public var serviceNumber: String
    public var latinName: String
    public var cyrillicName: String?
    public var sex: Sex
    public var nationality: String
    public var contingent: String
    public var rank: String
    /// NATO rank code (`OF-2`, `OR-5`), when the national rank maps to one.
    public var rankCode: String?
    public var category: PersonCategory
    public var dateOfBirth: CalendarDate?
    public var commissionedServiceYears: Int?
    public var languages: [LanguageSkill]

    public init(
        id: Int64? = nil, serviceNumber: String, latinName: String, cyrillicName: String? = nil, sex: Sex,
        nationality: String, contingent: String, rank: String, rankCode: String? = nil, category: PersonCategory,
        dateOfBirth: CalendarDate?, commissionedServiceYears: Int? = nil, languages: [LanguageSkill] = []
    ) {
        self.id = id
        self.serviceNumber = serviceNumber
        self.latinName = latinName
        self.cyrillicName = cyrillicName
        self.sex = sex
        self.nationality = nationality
        self.contingent = contingent
        self.rank = rank
        self.rankCode = rankCode
        self.category = category
        self.dateOfBirth = dateOfBirth
        self.commissionedServiceYears = commissionedServiceYears
        self.languages = languages
    }

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

/// A training, language, medical, driving, weapons or first-aid qualification of a person.
public struct Qualification: Codable, Sendable, Hashable, FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "qualification"
    public enum Columns {
        public static let personId = Column(CodingKeys.personId)
        public static let kind = Column(CodingKeys.kind)
        public static let code = Column(CodingKeys.code)
        public static let issuedOn = Column(CodingKeys.issuedOn)
        public static let expiresOn = Column(CodingKeys.expiresOn)
    }

    public var id: Int64?
    public var personId: Int64
    public var kind: QualificationKind
    public var code: String
    public var provider: String?
    public var issuedOn: CalendarDate
    /// `nil`: does not expire. A qualification expired on a date counts as missing on it.
    public var expiresOn: CalendarDate?
    /// SHA-256 (hex) of the evidence document.
    public var evidenceHash: String?
    /// For languages: the CEFR level reached.
    public var level: String?

    public init(
        id: Int64? = nil, personId: Int64 = 0, kind: QualificationKind, code: String, provider: String? = nil,
        issuedOn: CalendarDate, expiresOn: CalendarDate? = nil, evidenceHash: String? = nil, level: String? = nil
    ) {
        self.id = id
        self.personId = personId
        self.kind = kind
        self.code = code
        self.provider = provider
        self.issuedOn = issuedOn
        self.expiresOn = expiresOn
        self.evidenceHash = evidenceHash
        self.level = level
    }

    /// Valid on `date`: issued by then and not yet expired.
    public func isValid(on date: CalendarDate) -> Bool {
        issuedOn <= date && (expiresOn.map { $0 >= date } ?? true)
    }

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

/// A tour of a person, or of a whole contingent, in a mission.
public struct Deployment: Codable, Sendable, Hashable, FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "deployment"
    public enum Columns {
        public static let id = Column(CodingKeys.id)
        public static let personId = Column(CodingKeys.personId)
        public static let contingent = Column(CodingKeys.contingent)
        public static let mission = Column(CodingKeys.mission)
        public static let status = Column(CodingKeys.status)
    }

    public var id: Int64?
    /// Set for a person's deployment; `contingent` is set instead for a formed unit's.
    public var personId: Int64?
    public var contingent: String?
    public var mission: String
    public var role: String
    public var post: String?
    /// A role kept for the drawdown (allowed to end after a mission's deadline).
    public var drawdownRole: Bool
    /// For a contingent serving inside another nation's unit: that nation, e.g. `IND` for KAZ in UNIFIL.
    public var leadNation: String?
    public var hostUnit: String?
    public var rotation: Int?
    public var plannedStart: CalendarDate
    public var plannedEnd: CalendarDate
    public var actualStart: CalendarDate?
    public var actualEnd: CalendarDate?
    public var status: DeploymentStatus
    public var repatriationReason: String?

    public init(
        id: Int64? = nil, personId: Int64? = nil, contingent: String? = nil, mission: String, role: String,
        post: String? = nil, drawdownRole: Bool = false, leadNation: String? = nil, hostUnit: String? = nil,
        rotation: Int? = nil, plannedStart: CalendarDate, plannedEnd: CalendarDate, actualStart: CalendarDate? = nil,
        actualEnd: CalendarDate? = nil, status: DeploymentStatus = .planned, repatriationReason: String? = nil
    ) {
        self.id = id
        self.personId = personId
        self.contingent = contingent
        self.mission = mission
        self.role = role
        self.post = post
        self.drawdownRole = drawdownRole
        self.leadNation = leadNation
        self.hostUnit = hostUnit
        self.rotation = rotation
        self.plannedStart = plannedStart
        self.plannedEnd = plannedEnd
        self.actualStart = actualStart
        self.actualEnd = actualEnd
        self.status = status
        self.repatriationReason = repatriationReason
    }

    /// The days the tour occupies: actual dates where known, planned otherwise.
    public var occupiedRange: ClosedRange<CalendarDate> {
        let start = actualStart ?? plannedStart
        return start...max(start, actualEnd ?? plannedEnd)
    }

    /// A plan ended before it started (cancelled) occupies no days.
    public var isCancelled: Bool { status == .ended && actualStart == nil }

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

/// Contingent-owned equipment (COE) under a UN memorandum of understanding.
public struct Equipment: Codable, Sendable, Hashable, FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "equipment"
    public enum Columns {
        public static let id = Column(CodingKeys.id)
        public static let contingent = Column(CodingKeys.contingent)
        public static let serial = Column(CodingKeys.serial)
    }

    public var id: Int64?
    public var contingent: String
    public var coeClass: COEClass
    /// COE Manual category, e.g. `APC (wheeled)` or `Catering`.
    public var category: String
    public var description: String?
    public var serial: String
    public var leaseType: LeaseType
    public var status: EquipmentStatus

    public init(
        id: Int64? = nil, contingent: String, coeClass: COEClass, category: String, description: String? = nil,
        serial: String, leaseType: LeaseType, status: EquipmentStatus = .serviceable
    ) {
        self.id = id
        self.contingent = contingent
        self.coeClass = coeClass
        self.category = category
        self.description = description
        self.serial = serial
        self.leaseType = leaseType
        self.status = status
    }

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

/// An arrival, periodic or repatriation inspection of one piece of equipment.
public struct EquipmentInspection: Codable, Sendable, Hashable, FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "equipmentInspection"
    public enum Columns {
        public static let equipmentId = Column(CodingKeys.equipmentId)
        public static let date = Column(CodingKeys.date)
    }

    public var id: Int64?
    public var equipmentId: Int64
    public var type: InspectionType
    public var date: CalendarDate
    public var result: String

    public init(id: Int64? = nil, equipmentId: Int64, type: InspectionType, date: CalendarDate, result: String) {
        self.id = id
        self.equipmentId = equipmentId
        self.type = type
        self.date = date
        self.result = result
    }

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

/// A mission report the messaging side accepted (or held, when its module could not judge it),
/// kept for the record. `Registry.archiveReports` writes it through a statement of its own (docs/performance.md,
/// item 31); it is read as a record.
public struct ArchivedReport: Codable, Sendable, Hashable, FetchableRecord, TableRecord {
    public static let databaseTableName = "archivedReport"
    public enum Columns {
        public static let mission = Column(CodingKeys.mission)
        public static let receivedAt = Column(CodingKeys.receivedAt)
    }

    public var id: Int64?
    public var mission: String
    public var type: String
    public var sender: String
    /// UTC date-time, ISO 8601 (`2026-11-26T10:00:00Z`).
    public var receivedAt: String
    public var precedence: String
    public var securityLabel: String?
    public var latitude: Double?
    public var longitude: Double?
    /// The report body, JSON text.
    public var body: String
    /// The module's annotations (geo checks and the like), JSON text.
    public var annotations: String?
    /// `ACCEPTED`, or `HELD` when the module failed or ran out of time (then `reason` says why).
    public var status: String
    public var reason: String?

    public init(
        id: Int64? = nil, mission: String, type: String, sender: String, receivedAt: String, precedence: String,
        securityLabel: String? = nil, latitude: Double? = nil, longitude: Double? = nil, body: String,
        annotations: String? = nil, status: String = "ACCEPTED", reason: String? = nil
    ) {
        self.id = id
        self.mission = mission
        self.type = type
        self.sender = sender
        self.receivedAt = receivedAt
        self.precedence = precedence
        self.securityLabel = securityLabel
        self.latitude = latitude
        self.longitude = longitude
        self.body = body
        self.annotations = annotations
        self.status = status
        self.reason = reason
    }
}

/// One link of the audit hash chain.
public struct AuditEntry: Codable, Sendable, Hashable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "auditEntry"
    public enum Columns {
        public static let seq = Column(CodingKeys.seq)
    }

    /// 1, 2, 3... with no gaps.
    public var seq: Int64
    public var actor: String
    /// UTC date-time, ISO 8601 with milliseconds.
    public var time: String
    public var entity: String
    public var entityId: String
    /// `create`, `update`, `delete` or a domain verb such as `advance` or `import`.
    public var action: String
    /// The record before the write, JSON text; `nil` for a creation.
    public var before: String?
    /// The record after the write, JSON text; `nil` for a deletion.
    public var after: String?
    /// SHA-256 (hex) of the previous entry's hash followed by this entry's canonical bytes.
    public var hash: String
}

// Empty optional text is no value: one way to say "none", so that an export imports again unchanged (CSV, and so
// the import, cannot tell empty text from none; the admin API and the CLI stored either).
extension Person {
    mutating func dropEmptyText() {
        if cyrillicName?.isEmpty == true { cyrillicName = nil }
        if rankCode?.isEmpty == true { rankCode = nil }
    }
}

extension Qualification {
    mutating func dropEmptyText() {
        if provider?.isEmpty == true { provider = nil }
        if evidenceHash?.isEmpty == true { evidenceHash = nil }
        if level?.isEmpty == true { level = nil }
    }
}
