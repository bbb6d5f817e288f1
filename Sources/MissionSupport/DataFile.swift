import Foundation
import PeaceHubCore

/// A data file that is missing, unreadable or does not say what the module needs.
public struct DataFileError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file name inside the module's data directory, e.g. `area.geojson`.
    public var file: String
    /// What is wrong, e.g. "member 'version' must be a string".
    public var problem: String

    public init(file: String, problem: String) {
        self.file = file
        self.problem = problem
    }

    public var description: String { "data file '\(file)': \(problem)" }
}

/// A JSON object read from a data file, that remembers where it came from so that every
/// complaint names the file and the member path.
public struct DataObject: Sendable {
    public let file: String
    public let path: String
    public let members: [String: JSONValue]

    /// Reads and parses `name` in `directory`; it must hold a JSON object.
    public static func load(_ name: String, in directory: URL) throws(DataFileError) -> DataObject {
        let url = directory.appendingPathComponent(name)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw DataFileError(file: name, problem: "is missing from \(directory.path)")
        }
        let json: JSONValue
        do {
            json = try JSONValue(parsing: try Data(contentsOf: url))
        } catch {
            throw DataFileError(file: name, problem: "is not valid JSON")
        }
        guard let members = json.objectValue else {
            throw DataFileError(file: name, problem: "must hold a JSON object")
        }
        return DataObject(file: name, path: "", members: members)
    }

    public init(file: String, path: String, members: [String: JSONValue]) {
        self.file = file
        self.path = path
        self.members = members
    }

    /// The JSON value of the whole object.
    public var json: JSONValue { .object(members) }

    func memberPath(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    public func failure(_ key: String, _ problem: String) -> DataFileError {
        DataFileError(file: file, problem: "member '\(memberPath(key))' \(problem)")
    }

    public func string(_ key: String) throws(DataFileError) -> String {
        guard let value = members[key]?.stringValue, !value.isEmpty else {
            throw failure(key, "must be a non-empty string")
        }
        return value
    }

    public func optionalString(_ key: String) throws(DataFileError) -> String? {
        guard let value = members[key], value != .null else { return nil }
        return try string(key)
    }

    public func number(_ key: String) throws(DataFileError) -> Double {
        guard let value = members[key]?.numberValue, value.isFinite else { throw failure(key, "must be a number") }
        return value
    }

    public func optionalNumber(_ key: String) throws(DataFileError) -> Double? {
        guard let value = members[key], value != .null else { return nil }
        return try number(key)
    }

    public func bool(_ key: String, default fallback: Bool) throws(DataFileError) -> Bool {
        guard let value = members[key], value != .null else { return fallback }
        guard let flag = value.boolValue else { throw failure(key, "must be true or false") }
        return flag
    }

    public func date(_ key: String) throws(DataFileError) -> CalendarDate {
        let text = try string(key)
        guard let date = CalendarDate(text) else { throw failure(key, "must be a date such as 2026-12-31") }
        return date
    }

    public func optionalDate(_ key: String) throws(DataFileError) -> CalendarDate? {
        guard let value = members[key], value != .null else { return nil }
        return try date(key)
    }

    public func object(_ key: String) throws(DataFileError) -> DataObject {
        guard let value = members[key]?.objectValue else { throw failure(key, "must be an object") }
        return DataObject(file: file, path: memberPath(key), members: value)
    }

    public func optionalObject(_ key: String) throws(DataFileError) -> DataObject? {
        guard let value = members[key], value != .null else { return nil }
        return try object(key)
    }

    public func array(_ key: String) throws(DataFileError) -> [JSONValue] {
        guard let value = members[key]?.arrayValue else { throw failure(key, "must be an array") }
        return value
    }

    public func objects(_ key: String) throws(DataFileError) -> [DataObject] {
        var result: [DataObject] = []
        for (index, element) in try array(key).enumerated() {
            guard let value = element.objectValue else { throw failure("\(key)[\(index)]", "must be an object") }
            result.append(DataObject(file: file, path: memberPath("\(key)[\(index)]"), members: value))
        }
        return result
    }

    /// Like ``objects(_:)``, but an absent member is an empty list.
    public func optionalObjects(_ key: String) throws(DataFileError) -> [DataObject] {
        guard let value = members[key], value != .null else { return [] }
        return try objects(key)
    }

    public func strings(_ key: String) throws(DataFileError) -> [String] {
        var result: [String] = []
        for (index, element) in try array(key).enumerated() {
            guard let value = element.stringValue, !value.isEmpty else {
                throw failure("\(key)[\(index)]", "must be a non-empty string")
            }
            result.append(value)
        }
        return result
    }

    /// The members of an object member `key` whose values are all objects, in key order.
    public func namedObjects(_ key: String) throws(DataFileError) -> [(name: String, object: DataObject)] {
        let parent = try object(key)
        var result: [(name: String, object: DataObject)] = []
        for name in parent.members.keys.sorted() {
            result.append((name, try parent.object(name)))
        }
        return result
    }
}

/// The provenance every data file carries: where it comes from, which version, since when.
public struct DataProvenance: Sendable {
    public var file: String
    public var source: String
    public var version: String
    public var validFrom: CalendarDate
    public var approximate: Bool
    public var note: String?

    /// Reads the top-level `source`, `version`, `validFrom`, `approximate` and `note` members.
    public init(_ object: DataObject) throws(DataFileError) {
        file = object.file
        source = try object.string("source")
        version = try object.string("version")
        validFrom = try object.date("validFrom")
        approximate = try object.bool("approximate", default: false)
        note = try object.optionalString("note")
        if approximate && note == nil {
            throw object.failure("note", "must say how approximate the data is when 'approximate' is true")
        }
    }

    public var json: JSONValue {
        var members: [String: JSONValue] = [
            "file": .string(file), "source": .string(source), "version": .string(version),
            "validFrom": .string(validFrom.description), "approximate": .bool(approximate),
        ]
        if let note { members["note"] = .string(note) }
        return .object(members)
    }
}
