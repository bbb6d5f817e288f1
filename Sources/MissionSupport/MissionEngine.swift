import Foundation
import PeaceHubCore
import PeaceHubPluginKit

/// Everything a mission module does, driven by its data files: judging reports, readiness and
/// the CLI commands. Built once in `init`; immutable afterwards, so it is safe to share across
/// the host's threads.
public struct MissionEngine: Sendable {
    public let profile: MissionProfile
    public let geography: MissionGeography
    public let reports: ReportSchemas
    public let rules: ReadinessRules
    private let clock: @Sendable () -> Date

    /// How far in the future an `occurredAt` may lie (clock skew between sender and hub).
    static let allowedClockSkew: Double = 300

    /// Loads `mission.json`, `reports.json`, `requirements.json` and the GeoJSON files they
    /// name from `directory`. `configuration` is the module's host configuration (`corridorKm`
    /// overrides the corridor width).
    public init(
        directory: URL, mission: String, configuration: JSONValue, clock: @escaping @Sendable () -> Date
    ) throws(DataFileError) {
        profile = try MissionProfile(try DataObject.load("mission.json", in: directory))
        guard profile.code == mission else {
            throw DataFileError(file: "mission.json", problem: "describes \(profile.code), not \(mission)")
        }
        var corridor: Double?
        if let value = configuration["corridorKm"] {
            guard let km = value.numberValue, km > 0 else {
                throw DataFileError(file: "configuration", problem: "member 'corridorKm' must be a positive number")
            }
            corridor = km
        }
        geography = try MissionGeography(profile.geography, in: directory, corridorOverride: corridor)
        let sites = Dictionary(grouping: geography.sites, by: \.kind).mapValues { Set($0.map(\.name)) }
        reports = try ReportSchemas(try DataObject.load("reports.json", in: directory), sites: sites)
        rules = try ReadinessRules(try DataObject.load("requirements.json", in: directory))
        self.clock = clock
    }

    /// Loads the engine for a module being created; a bad data file refuses the module with a
    /// message naming the file.
    public init(context: ModuleContext, mission: String) throws(ModuleError) {
        let host = context.host
        do {
            try self.init(
                directory: context.dataDirectory, mission: mission, configuration: try host.configuration(),
                clock: { host.now() })
        } catch let error as DataFileError {
            throw .failed("\(mission) module: \(error.description)")
        } catch let error as ModuleError {
            throw error
        } catch {
            throw .failed("\(mission) module: \(error)")
        }
    }

    // MARK: Reports

    /// Judges a message on `missions/<CODE>/reports/<TYPE>`; the payload is the report body.
    public func judge(_ message: Message) -> Verdict {
        let received = message.receivedUnixNanoseconds > 0 ? Double(message.receivedUnixNanoseconds) / 1e9 : nil
        return judge(
            type: message.reportType, body: message.json, precedence: message.precedence.map { .valid($0) },
            securityLabel: message.securityLabel, receivedAt: received)
    }

    /// The precedence as given: a known one, or a name that is not one.
    public enum GivenPrecedence: Sendable {
        case valid(Precedence)
        case invalid(String)
    }

    public func judge(
        type: String?, body: JSONValue?, precedence: GivenPrecedence?, securityLabel: String?, receivedAt: Double?
    ) -> Verdict {
        do {
            return try judgeOrThrow(
                type: type, body: body, precedence: precedence, securityLabel: securityLabel, receivedAt: receivedAt)
        } catch {
            return .reject(error.reason, message: error.message)
        }
    }

    private func judgeOrThrow(
        type: String?, body: JSONValue?, precedence: GivenPrecedence?, securityLabel: String?, receivedAt: Double?
    ) throws(ReportProblem) -> Verdict {
        let code = profile.code
        guard let type else {
            throw ReportProblem(.unknownType, "reports are published on missions/\(code)/reports/<TYPE>")
        }
        guard let schema = reports.types[type] else {
            let known = reports.types.keys.sorted().joined(separator: ", ")
            throw ReportProblem(.unknownType, "report type '\(type)' is not one of \(code)'s: \(known)")
        }
        switch precedence {
        case nil:
            throw ReportProblem(.missingField, "field 'precedence' is required (ROUTINE, PRIORITY, IMMEDIATE or FLASH)")
        case .invalid(let name):
            throw ReportProblem(.invalidValue, Precedence.unknownNameProblem(name))
        case .valid: break
        }
        guard let securityLabel, !securityLabel.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw ReportProblem(.missingField, "field 'securityLabel' is required (e.g. UN RESTRICTED)")
        }
        // The hub refuses it before a module (it crosses the C ABI as a C string); `validate-report` answers as it.
        if securityLabel.unicodeScalars.contains("\u{0}") {
            throw ReportProblem(.invalidValue, "field 'securityLabel' may not hold U+0000 (NUL)")
        }
        guard let members = body?.objectValue else {
            throw ReportProblem(.malformed, "the report body must be a JSON object")
        }
        if let problem = schema.validate(members) { throw problem }

        // Every date-time of the report (`occurredAt` first), as the seconds it names.
        let times = schema.fields.compactMap { field -> (field: FieldSpec, time: Double, text: String)? in
            guard case .dateTime = field.type, let text = members[field.name]?.stringValue,
                let time = parseDateTime(text)
            else { return nil }
            return (field, time, text)
        }
        // reports.json is checked at load to require both; this guard only keeps a bad edit from crashing.
        guard let occurredAt = times.first(where: { $0.field.name == "occurredAt" })?.time,
            let lat = members["location"]?["lat"]?.numberValue, let lon = members["location"]?["lon"]?.numberValue
        else { throw ReportProblem(.missingField, "fields 'location' and 'occurredAt' are required") }
        if let receivedAt, let late = times.first(where: { $0.time > receivedAt + Self.allowedClockSkew }) {
            throw ReportProblem(
                .invalidValue, "field '\(late.field.name)' lies in the future of the time the hub received the report")
        }
        let day = profile.localDate(occurredAt)
        if let phases = schema.phases {
            let phase = profile.phase(on: day)?.name ?? "NOT_ESTABLISHED"
            if !phases.contains(phase) {
                throw ReportProblem(
                    .missionClosed,
                    "\(code) takes \(type) reports only in phase \(phases.sorted().joined(separator: " or ")); "
                        + "on \(day) (field 'occurredAt') the mission is in phase \(phase)")
            }
        }
        // A mission reports nothing from before it existed: such a date is a typo (1926 for 2026) or a default.
        for (field, time, text) in times {
            let day = profile.localDate(time)
            if day < profile.established {
                throw ReportProblem(
                    .invalidValue,
                    "field '\(field.name)' (\(day)) lies before \(code) was established (\(profile.established))")
            }
            if let later = field.notAfter, let limit = times.first(where: { $0.field.name == later }),
                time > limit.time
            {
                throw ReportProblem(
                    .invalidValue, "field '\(field.name)' (\(text)) lies after field '\(later)' (\(limit.text))")
            }
        }

        let point = GeoPoint(lat: lat, lon: lon)
        let check = geography.check(point)
        guard check.insideArea else {
            let where_ = "field 'location' (\(point.lat), \(point.lon)) lies outside \(code)'s \(geography.areaName)"
            if schema.requiresInsideArea {
                throw ReportProblem(.outOfArea, "\(where_); \(type) reports must be located inside it")
            }
            return .accept(annotations: check.annotations, warning: "\(where_) (approximate boundary)")
        }
        return .accept(annotations: check.annotations)
    }

    // MARK: Readiness

    public func readiness(_ request: JSONValue) throws(ModuleError) -> [UnmetRequirement] {
        try rules.evaluate(request, mission: profile.code, today: CalendarDate(clock()))
    }

    // MARK: Commands

    public func run(command: String, arguments: JSONValue) throws(ModuleError) -> JSONValue {
        switch command {
        case "describe": return describe()
        case "geocheck": return try geocheck(arguments)
        case "validate-report": return try validateReport(arguments)
        case "requirements": return rules.document
        default:
            throw .unsupported(
                "unknown command '\(command)' (describe, geocheck, validate-report, requirements)")
        }
    }

    private func describe() -> JSONValue {
        let today = profile.localDate(clock().timeIntervalSince1970)
        func seat(_ hq: MissionProfile.Headquarters) -> JSONValue {
            var members: [String: JSONValue] = [
                "name": .string(hq.name), "lat": .number(hq.point.lat), "lon": .number(hq.point.lon),
            ]
            if let season = hq.season {
                func text(_ monthDay: (Int, Int)) -> JSONValue {
                    .string(String(format: "%02d-%02d", monthDay.0, monthDay.1))
                }
                members["season"] = ["from": text(season.from), "to": text(season.to)]
            }
            return .object(members)
        }
        let phases: [JSONValue] = profile.lifecycle.map { phase in
            var members: [String: JSONValue] = ["phase": .string(phase.name), "from": .string(phase.from.description)]
            if let note = phase.note { members["note"] = .string(note) }
            return .object(members)
        }
        let tours = Dictionary(
            uniqueKeysWithValues: rules.categories.map { ($0.name, JSONValue.number(Double($0.defaultTourMonths))) })
        let files = [profile.provenance] + geography.files + [reports.provenance, rules.provenance]
        return [
            "mission": .string(profile.code),
            "name": .string(profile.name),
            "mandate": .string(profile.mandate),
            "established": .string(profile.established.description),
            "establishingResolution": .string(profile.establishingResolution),
            "timezone": .string(profile.timezone),
            "headquarters": [
                "current": seat(profile.headquarters(on: today)), "seats": .array(profile.headquarters.map(seat)),
            ],
            "lifecycle": [
                "phase": .string(profile.phase(on: today)?.name ?? "NOT_ESTABLISHED"), "phases": .array(phases),
            ],
            "allowedCategories": .array(rules.categories.map { .string($0.name) }),
            "defaultTourMonths": .object(tours),
            "reportTypes": .array(reports.types.keys.sorted().map { .string($0) }),
            "area": .string(geography.areaName),
            "referenceLine": .string(geography.lineName),
            "dataFiles": .array(files.map(\.json)),
        ]
    }

    private func geocheck(_ arguments: JSONValue) throws(ModuleError) -> JSONValue {
        guard let lat = arguments["lat"]?.numberValue, (-90...90).contains(lat) else {
            throw .invalidArgument("argument 'lat' must be a number between -90 and 90")
        }
        guard let lon = arguments["lon"]?.numberValue, (-180...180).contains(lon) else {
            throw .invalidArgument("argument 'lon' must be a number between -180 and 180")
        }
        var members = geography.check(GeoPoint(lat: lat, lon: lon)).annotations
        members["mission"] = .string(profile.code)
        members["lat"] = .number(lat)
        members["lon"] = .number(lon)
        members["area"] = .string(geography.areaName)
        members["approximate"] = .bool(geography.files.contains { $0.approximate })
        return .object(members)
    }

    private func validateReport(_ arguments: JSONValue) throws(ModuleError) -> JSONValue {
        guard arguments.objectValue != nil else { throw .invalidArgument("the arguments must be a JSON object") }
        guard let type = arguments["type"]?.stringValue else {
            throw .invalidArgument(
                "argument 'type' is required (the report type, e.g. \(reports.types.keys.sorted()[0]))")
        }
        var precedence: GivenPrecedence?
        if let given = arguments["precedence"], given != .null {
            let name = given.stringValue ?? String(decoding: given.jsonData, as: UTF8.self)
            precedence = Precedence(name: name).map { .valid($0) } ?? .invalid(name)
        }
        let verdict = judge(
            type: type, body: arguments["body"], precedence: precedence,
            securityLabel: arguments["securityLabel"]?.stringValue, receivedAt: clock().timeIntervalSince1970)
        switch verdict {
        case .accept(let annotations, let warning):
            return [
                "accepted": true, "annotations": .object(annotations), "warning": warning.map { .string($0) } ?? .null,
            ]
        case .reject(let reason, let message):
            return ["accepted": false, "reason": .string(reason.name), "message": .string(message)]
        }
    }
}

/// A module whose behaviour is its ``MissionEngine``: conform, store the engine, done.
public protocol EngineBackedModule: MissionModule {
    var engine: MissionEngine { get }
}

extension EngineBackedModule {
    public func judge(_ message: Message) -> Verdict { engine.judge(message) }

    public func readiness(_ request: JSONValue) throws -> [UnmetRequirement] { try engine.readiness(request) }

    public func run(command: String, arguments: JSONValue) throws -> JSONValue {
        try engine.run(command: command, arguments: arguments)
    }
}
