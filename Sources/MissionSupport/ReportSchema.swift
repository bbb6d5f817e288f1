import Foundation
import PeaceHubCore

/// What a report field must hold. Read from `reports.json`, so that operators can correct a
/// schema without a rebuild.
public indirect enum FieldType: Sendable {
    case string(maxLength: Int?)
    case enumeration([String])
    case integer(minimum: Int?, maximum: Int?)
    case number(minimum: Double?, maximum: Double?)
    case boolean
    /// An RFC 3339 date-time (`Z` or an offset from UTC).
    case dateTime
    case object([FieldSpec])
    case array(of: FieldType, minItems: Int)
    /// The name of one of the mission's sites of `kind` (from the sites file).
    case site(kind: String, names: [String])
}

public struct FieldSpec: Sendable {
    public var name: String
    public var type: FieldType
    public var required: Bool
    /// Required only when the sibling field `field` holds one of `values`.
    public var requiredWhen: (field: String, values: [String])?
    /// A date-time that cannot follow the sibling date-time named here (an alleged event and the complaint of it).
    public var notAfter: String?
}

/// One report type of a mission: its fields (the common ones first) and its rules.
public struct ReportType: Sendable {
    public var name: String
    public var title: String
    /// Reject (OUT_OF_AREA) rather than warn when the location lies outside the area.
    public var requiresInsideArea: Bool
    /// The lifecycle phases, at the report's `occurredAt`, in which the mission takes this
    /// type; `nil` means all.
    public var phases: Set<String>?
    public var fields: [FieldSpec]
}

/// Why a report was refused: a reason code and a sentence that names the field.
public struct ReportProblem: Error, Sendable, Equatable {
    public var reason: RejectReason
    public var message: String

    public init(_ reason: RejectReason, _ message: String) {
        self.reason = reason
        self.message = message
    }
}

/// The report schemas of a mission, from `reports.json`.
public struct ReportSchemas: Sendable {
    public var provenance: DataProvenance
    public var types: [String: ReportType]

    /// - Parameter sites: the site names per site kind, for fields of type `site`.
    public init(_ root: DataObject, sites: [String: Set<String>]) throws(DataFileError) {
        provenance = try DataProvenance(root)
        let common = try root.objects("commonFields").map { field throws(DataFileError) in
            try Self.field(field, sites: sites)
        }
        let location = common.first { $0.name == "location" }
        let occurredAt = common.first { $0.name == "occurredAt" }
        guard location?.required == true, case .object = location?.type, occurredAt?.required == true,
            case .dateTime = occurredAt?.type
        else {
            throw root.failure(
                "commonFields", "must define 'location' (type location) and 'occurredAt' (type datetime), both required")
        }
        var types: [String: ReportType] = [:]
        for (name, type) in try root.namedObjects("types") {
            let phases = try type.members["phases"] == nil ? nil : Set(type.strings("phases"))
            let fields =
                try common
                + type.objects("fields").map { field throws(DataFileError) in
                    try Self.field(field, sites: sites)
                }
            for field in fields {
                if let condition = field.requiredWhen, !fields.contains(where: { $0.name == condition.field }) {
                    throw type.failure(
                        "fields", "field '\(field.name)' is required when '\(condition.field)', which is not a field")
                }
                if let later = field.notAfter {
                    guard case .dateTime = field.type, let other = fields.first(where: { $0.name == later }),
                        case .dateTime = other.type
                    else {
                        throw type.failure(
                            "fields", "field '\(field.name)' is not after '\(later)': both must be datetime fields")
                    }
                }
            }
            types[name] = ReportType(
                name: name, title: try type.string("title"),
                requiresInsideArea: try type.bool("requiresInsideArea", default: false), phases: phases, fields: fields)
        }
        guard !types.isEmpty else { throw root.failure("types", "must define at least one report type") }
        self.types = types
    }

    private static func field(_ object: DataObject, sites: [String: Set<String>]) throws(DataFileError) -> FieldSpec {
        var requiredWhen: (String, [String])?
        if let condition = try object.optionalObject("requiredWhen") {
            requiredWhen = (try condition.string("field"), try condition.strings("in"))
        }
        return FieldSpec(
            name: try object.string("name"), type: try fieldType(object, sites: sites),
            required: try object.bool("required", default: false), requiredWhen: requiredWhen,
            notAfter: try object.optionalString("notAfter"))
    }

    private static func fieldType(
        _ object: DataObject, sites: [String: Set<String>]
    ) throws(DataFileError)
        -> FieldType
    {
        switch try object.string("type") {
        case "string":
            return .string(maxLength: try object.optionalNumber("maxLength").map { Int($0) })
        case "enum":
            let values = try object.strings("values")
            guard !values.isEmpty else { throw object.failure("values", "must list at least one value") }
            return .enumeration(values)
        case "integer":
            return .integer(
                minimum: try object.optionalNumber("minimum").map { Int($0) },
                maximum: try object.optionalNumber("maximum").map { Int($0) })
        case "number":
            return .number(minimum: try object.optionalNumber("minimum"), maximum: try object.optionalNumber("maximum"))
        case "boolean":
            return .boolean
        case "datetime":
            return .dateTime
        case "location":
            return .object([
                FieldSpec(name: "lat", type: .number(minimum: -90, maximum: 90), required: true),
                FieldSpec(name: "lon", type: .number(minimum: -180, maximum: 180), required: true),
            ])
        case "object":
            return .object(
                try object.objects("fields").map { field throws(DataFileError) in
                    try Self.field(field, sites: sites)
                })
        case "array":
            return .array(
                of: try fieldType(try object.object("items"), sites: sites),
                minItems: Int(try object.optionalNumber("minItems") ?? 0))
        case "site":
            let kind = try object.string("siteKind")
            guard let names = sites[kind], !names.isEmpty else {
                throw object.failure("siteKind", "names no site kind of the sites file ('\(kind)')")
            }
            return .site(kind: kind, names: names.sorted())
        case let other:
            throw object.failure(
                "type",
                "'\(other)' is not a field type (string, enum, integer, number, boolean, datetime, "
                    + "location, object, array, site)")
        }
    }
}

extension ReportType {
    /// Checks `body` against the fields; the first problem found, in field order.
    public func validate(_ body: [String: JSONValue]) -> ReportProblem? {
        Self.validate(body, fields: fields, path: "")
    }

    static func validate(_ members: [String: JSONValue], fields: [FieldSpec], path: String) -> ReportProblem? {
        for field in fields {
            let fieldPath = path.isEmpty ? field.name : "\(path).\(field.name)"
            guard let value = members[field.name], value != .null else {
                if field.required { return ReportProblem(.missingField, "field '\(fieldPath)' is required") }
                if let (other, values) = field.requiredWhen, let actual = members[other]?.stringValue,
                    values.contains(actual)
                {
                    return ReportProblem(.missingField, "field '\(fieldPath)' is required when '\(other)' is \(actual)")
                }
                continue
            }
            if let problem = validate(value, as: field.type, path: fieldPath) { return problem }
        }
        return nil
    }

    static func validate(_ value: JSONValue, as type: FieldType, path: String) -> ReportProblem? {
        func invalid(_ expectation: String) -> ReportProblem {
            ReportProblem(.invalidValue, "field '\(path)' must be \(expectation)")
        }
        switch type {
        case .string(let maxLength):
            guard let text = value.stringValue, !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
                return invalid("a non-empty string")
            }
            if let maxLength, text.count > maxLength { return invalid("a string of at most \(maxLength) characters") }
        case .enumeration(let values):
            guard let text = value.stringValue, values.contains(text) else {
                return invalid("one of \(values.joined(separator: ", "))")
            }
        case .integer(let minimum, let maximum):
            guard let number = value.numberValue, number.rounded() == number,
                minimum.map({ number >= Double($0) }) ?? true, maximum.map({ number <= Double($0) }) ?? true
            else { return invalid("an integer" + Self.range(minimum.map(Double.init), maximum.map(Double.init))) }
            // Beyond 2^53 a JSON number is no longer one exact integer to every reader (I-JSON, RFC 7493 2.2).
            guard abs(number) <= Self.largestExactInteger else {
                return invalid("an integer of at most \(Int(Self.largestExactInteger)) in magnitude")
            }
        case .number(let minimum, let maximum):
            guard let number = value.numberValue, number.isFinite, minimum.map({ number >= $0 }) ?? true,
                maximum.map({ number <= $0 }) ?? true
            else { return invalid("a number" + Self.range(minimum, maximum)) }
        case .boolean:
            guard value.boolValue != nil else { return invalid("true or false") }
        case .dateTime:
            guard let text = value.stringValue, parseDateTime(text) != nil else {
                return invalid("an RFC 3339 date-time such as 2026-11-26T10:00:00Z or 2026-11-26T15:00:00+05:00")
            }
        case .object(let fields):
            guard let members = value.objectValue else { return invalid("an object") }
            return validate(members, fields: fields, path: path)
        case .array(let element, let minItems):
            guard let items = value.arrayValue else { return invalid("an array") }
            if items.count < minItems {
                return invalid("an array of at least \(minItems) item\(minItems == 1 ? "" : "s")")
            }
            for (index, item) in items.enumerated() {
                if let problem = validate(item, as: element, path: "\(path)[\(index)]") { return problem }
            }
        case .site(let kind, let names):
            guard let text = value.stringValue, names.contains(text) else {
                return invalid("the name of a \(kind): \(names.joined(separator: ", "))")
            }
        }
        return nil
    }

    /// 2^53 - 1: the largest integer every JSON reader holds exactly.
    static let largestExactInteger = 9_007_199_254_740_991.0

    private static func range(_ minimum: Double?, _ maximum: Double?) -> String {
        func text(_ value: Double) -> String {
            value.rounded() == value ? String(Int(value)) : String(value)
        }
        switch (minimum, maximum) {
        case (let low?, let high?): return " between \(text(low)) and \(text(high))"
        case (let low?, nil): return " of at least \(text(low))"
        case (nil, let high?): return " of at most \(text(high))"
        case (nil, nil): return ""
        }
    }
}
