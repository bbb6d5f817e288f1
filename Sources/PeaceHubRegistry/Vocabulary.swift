import GRDB

/// A closed set of upper-case names stored as text (enums of the domain model).
public protocol RegistryVocabulary: RawRepresentable, CaseIterable, Codable, Sendable, Hashable,
    DatabaseValueConvertible
where RawValue == String {}

extension RegistryVocabulary {
    /// Parses a name exactly as stored (`L2`, `IN_MISSION`); `nil` for anything else.
    public init?(name: String) { self.init(rawValue: name) }

    /// The accepted names, for error messages.
    public static var names: String { allCases.map(\.rawValue).joined(separator: ", ") }
}

/// PCRS readiness level of a contingent's pledge (UN Peacekeeping Capability Readiness System).
public enum PCRSLevel: String, RegistryVocabulary {
    case none = "NONE"
    case level1 = "L1"
    case level2 = "L2"
    case level3 = "L3"
    case rapidDeployment = "RDL"
}

/// Where a mission is in its life; phases only move forward.
public enum MissionLifecycle: String, RegistryVocabulary, Comparable {
    case active = "ACTIVE"
    case drawdown = "DRAWDOWN"
    case liquidation = "LIQUIDATION"
    case closed = "CLOSED"

    private var order: Int { Self.allCases.firstIndex(of: self)! }
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.order < rhs.order }
}

public enum Sex: String, RegistryVocabulary {
    case female = "F"
    case male = "M"
}

public enum PersonCategory: String, RegistryVocabulary {
    case militaryObserver = "MILITARY_OBSERVER"
    case staffOfficer = "STAFF_OFFICER"
    case troop = "TROOP"
    case police = "POLICE"
    case civilian = "CIVILIAN"
}

public enum QualificationKind: String, RegistryVocabulary {
    case training = "TRAINING"
    case language = "LANGUAGE"
    case medical = "MEDICAL"
    case driving = "DRIVING"
    case weapons = "WEAPONS"
    case firstAid = "FIRST_AID"
    case other = "OTHER"
}

/// CEFR language levels.
public enum LanguageLevel: String, RegistryVocabulary {
    case a1 = "A1"
    case a2 = "A2"
    case b1 = "B1"
    case b2 = "B2"
    case c1 = "C1"
    case c2 = "C2"
}

public enum DeploymentStatus: String, RegistryVocabulary {
    case planned = "PLANNED"
    case inTransit = "IN_TRANSIT"
    case inMission = "IN_MISSION"
    case extended = "EXTENDED"
    case ended = "ENDED"
    case repatriatedEarly = "REPATRIATED_EARLY"

    /// The statuses a deployment may move to from this one. `PLANNED → ENDED` cancels a plan.
    public var successors: [DeploymentStatus] {
        switch self {
        case .planned: [.inTransit, .ended]
        case .inTransit: [.inMission, .repatriatedEarly]
        case .inMission: [.extended, .ended, .repatriatedEarly]
        case .extended: [.extended, .ended, .repatriatedEarly]
        case .ended, .repatriatedEarly: []
        }
    }

    public var isFinished: Bool { self == .ended || self == .repatriatedEarly }
}

public enum COEClass: String, RegistryVocabulary {
    case majorEquipment = "MAJOR_EQUIPMENT"
    case selfSustainment = "SELF_SUSTAINMENT"
}

/// Wet lease: the contributing country provides and maintains; dry lease: the UN maintains.
public enum LeaseType: String, RegistryVocabulary {
    case wet = "WET"
    case dry = "DRY"
}

public enum EquipmentStatus: String, RegistryVocabulary {
    case serviceable = "SERVICEABLE"
    case unserviceable = "UNSERVICEABLE"
    case inTransit = "IN_TRANSIT"
    case lostDamaged = "LOST_DAMAGED"
}

public enum InspectionType: String, RegistryVocabulary {
    case arrival = "ARRIVAL"
    case periodic = "PERIODIC"
    case repatriation = "REPATRIATION"
}
