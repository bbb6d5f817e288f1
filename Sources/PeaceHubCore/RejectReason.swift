/// Why a mission module rejected a message: the ABI's `PHUB_REASON_*` codes (tested equal to
/// the C header's). Modules may define their own codes from 1000 up; unknown codes are kept.
public struct RejectReason: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public var rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    public static let malformed = RejectReason(rawValue: 1)
    public static let missingField = RejectReason(rawValue: 2)
    public static let invalidValue = RejectReason(rawValue: 3)
    public static let unknownType = RejectReason(rawValue: 4)
    public static let outOfArea = RejectReason(rawValue: 5)
    public static let notPermitted = RejectReason(rawValue: 6)
    public static let missionClosed = RejectReason(rawValue: 7)
    public static let other = RejectReason(rawValue: 999)

    /// The name used in notices and MQTT 5 reason strings, e.g. `MISSING_FIELD`; module-defined
    /// codes read `MODULE_<code>`.
    public var name: String {
        switch self {
        case .malformed: "MALFORMED"
        case .missingField: "MISSING_FIELD"
        case .invalidValue: "INVALID_VALUE"
        case .unknownType: "UNKNOWN_TYPE"
        case .outOfArea: "OUT_OF_AREA"
        case .notPermitted: "NOT_PERMITTED"
        case .missionClosed: "MISSION_CLOSED"
        case .other: "OTHER"
        default: rawValue >= 1000 ? "MODULE_\(rawValue)" : "OTHER"
        }
    }

    public var description: String { name }
}
