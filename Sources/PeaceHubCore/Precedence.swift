/// How urgently a message must be handled, from military message handling (lowest first).
///
/// Queued messages are delivered in precedence order, then in arrival order. The raw values
/// are the ABI's `PHUB_PRECEDENCE_*` constants.
public enum Precedence: Int32, Sendable, Codable, CaseIterable, Comparable {
    case routine = 1
    case priority = 2
    case immediate = 3
    case flash = 4

    /// The name used in JSON envelopes and MQTT 5 user properties, e.g. `FLASH`.
    public var name: String {
        switch self {
        case .routine: "ROUTINE"
        case .priority: "PRIORITY"
        case .immediate: "IMMEDIATE"
        case .flash: "FLASH"
        }
    }

    /// Why `name` is no precedence, as the report checks say it (INVALID_VALUE).
    public static func unknownNameProblem(_ name: String) -> String {
        "field 'precedence' must be one of \(allCases.map(\.name).joined(separator: ", ")), not '\(name)'"
    }

    /// Parses a name such as `FLASH` (exact, upper case); `nil` for anything else.
    public init?(name: String) {
        guard let match = Self.allCases.first(where: { $0.name == name }) else { return nil }
        self = match
    }

    public static func < (lhs: Precedence, rhs: Precedence) -> Bool { lhs.rawValue < rhs.rawValue }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let name = try container.decode(String.self)
        guard let value = Precedence(name: name) else {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "unknown precedence '\(name)' (ROUTINE, PRIORITY, IMMEDIATE, FLASH)")
        }
        self = value
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(name)
    }
}
