import Foundation
import PeaceHubCore
import PeaceHubPluginKit

/// A mission's readiness requirements, from `requirements.json`: what each personnel category
/// must hold, the deployment deadline and the contingent-level rules. Values that the research
/// marks uncertain live there, not in code.
public struct ReadinessRules: Sendable {
    public struct Qualification: Sendable {
        public var kind: String
        public var code: String
        public var title: String
    }

    public struct Language: Sendable {
        public var code: String
        public var name: String
        public var minimumLevel: String
    }

    public struct Category: Sendable {
        public var name: String
        public var title: String
        public var defaultTourMonths: Int
        public var qualifications: [Qualification]
        public var languages: [Language]
        public var minimumRankCode: String?
        public var minimumCommissionedServiceYears: Double?
        public var minimumAge: Int?
        public var nationalityMustMatchContingent: Bool
    }

    public struct Deadline: Sendable {
        public var latestEnd: CalendarDate
        public var reason: String
    }

    public struct JointDeployment: Sendable {
        public var contingent: String
        public var leadNation: String
        public var hostUnit: String
    }

    public var provenance: DataProvenance
    /// The allowed categories, sorted by name.
    public var categories: [Category]
    public var deadline: Deadline?
    public var minimumPcrsLevel: String?
    public var jointDeployments: [JointDeployment]
    /// The file as read, for the `requirements` command.
    public var document: JSONValue

    static let cefrLevels = ["A1", "A2", "B1", "B2", "C1", "C2"]
    static let pcrsLevels = ["NONE", "L1", "L2", "L3", "RDL"]
    static let qualificationKinds: Set = [
        "TRAINING", "LANGUAGE", "MEDICAL", "DRIVING", "WEAPONS", "FIRST_AID", "OTHER",
    ]

    public init(_ root: DataObject) throws(DataFileError) {
        provenance = try DataProvenance(root)
        document = root.json
        categories = try root.namedObjects("categories").map { name, object throws(DataFileError) in
            let qualifications = try object.objects("qualifications").map { item throws(DataFileError) in
                let kind = try item.string("kind")
                guard Self.qualificationKinds.contains(kind) else {
                    throw item.failure(
                        "kind", "must be one of \(Self.qualificationKinds.sorted().joined(separator: ", "))")
                }
                return Qualification(kind: kind, code: try item.string("code"), title: try item.string("title"))
            }
            let languages = try object.objects("languages").map { item throws(DataFileError) in
                let level = try item.string("minimumLevel")
                guard Self.cefrLevels.contains(level) else {
                    throw item.failure("minimumLevel", "must be a CEFR level A1..C2")
                }
                return Language(code: try item.string("code"), name: try item.string("name"), minimumLevel: level)
            }
            let rank = try object.optionalString("minimumRankCode")
            if let rank, RankCode(rank) == nil {
                throw object.failure("minimumRankCode", "must be a NATO code such as OF-2")
            }
            return Category(
                name: name, title: try object.string("title"),
                defaultTourMonths: Int(try object.number("defaultTourMonths")), qualifications: qualifications,
                languages: languages, minimumRankCode: rank,
                minimumCommissionedServiceYears: try object.optionalNumber("minimumCommissionedServiceYears"),
                minimumAge: try object.optionalNumber("minimumAge").map { Int($0) },
                nationalityMustMatchContingent: try object.bool("nationalityMustMatchContingent", default: false))
        }
        guard !categories.isEmpty else { throw root.failure("categories", "must allow at least one category") }
        if let deadline = try root.optionalObject("deploymentDeadline") {
            self.deadline = Deadline(latestEnd: try deadline.date("latestEnd"), reason: try deadline.string("reason"))
        }
        let contingent = try root.optionalObject("contingent")
        minimumPcrsLevel = try contingent?.optionalString("minimumPcrsLevel")
        if let level = minimumPcrsLevel, !Self.pcrsLevels.contains(level) {
            throw contingent!.failure("minimumPcrsLevel", "must be one of \(Self.pcrsLevels.joined(separator: ", "))")
        }
        jointDeployments = try (contingent?.optionalObjects("jointDeployments") ?? []).map {
            item throws(DataFileError) in
            JointDeployment(
                contingent: try item.string("contingent"), leadNation: try item.string("leadNation"),
                hostUnit: try item.string("hostUnit"))
        }
    }

    public func category(_ name: String) -> Category? { categories.first { $0.name == name } }
}

/// A NATO rank code: `OF-2` (officer), `WO-1` (warrant officer), `OR-4` (other rank).
struct RankCode: Comparable {
    var grade: Int
    var level: Int

    init?(_ text: String) {
        let parts = text.uppercased().split(separator: "-")
        guard parts.count == 2, let level = Int(parts[1]), (1...10).contains(level),
            let grade = ["OR": 0, "WO": 1, "OF": 2][String(parts[0])]
        else { return nil }
        self.grade = grade
        self.level = level
    }

    /// English rank names of STANAG 2116 for officers, as a fallback when a record has no code.
    init?(rankName: String) {
        let codes = [
            "second lieutenant": "OF-1", "lieutenant": "OF-1", "first lieutenant": "OF-1", "captain": "OF-2",
            "major": "OF-3", "lieutenant colonel": "OF-4", "colonel": "OF-5", "brigadier": "OF-6",
            "brigadier general": "OF-6", "major general": "OF-7", "lieutenant general": "OF-8", "general": "OF-9",
        ]
        guard let code = codes[rankName.lowercased()] else { return nil }
        self.init(code)
    }

    static func < (lhs: RankCode, rhs: RankCode) -> Bool { (lhs.grade, lhs.level) < (rhs.grade, rhs.level) }
}

/// Reads the parts of a readiness request; malformed input throws naming the field.
private struct RequestReader {
    static func object(_ value: JSONValue?, _ path: String) throws(ModuleError) -> [String: JSONValue] {
        guard let members = value?.objectValue else { throw .invalidArgument("field '\(path)' must be an object") }
        return members
    }

    static func optionalString(_ value: JSONValue?, _ path: String) throws(ModuleError) -> String? {
        guard let value, value != .null else { return nil }
        guard let text = value.stringValue else { throw .invalidArgument("field '\(path)' must be a string") }
        return text
    }

    static func optionalDate(_ value: JSONValue?, _ path: String) throws(ModuleError) -> CalendarDate? {
        guard let text = try optionalString(value, path) else { return nil }
        guard let date = CalendarDate(text) else {
            throw .invalidArgument("field '\(path)' must be a date such as 2027-01-10")
        }
        return date
    }

    static func optionalArray(_ value: JSONValue?, _ path: String) throws(ModuleError) -> [JSONValue] {
        guard let value, value != .null else { return [] }
        guard let items = value.arrayValue else { throw .invalidArgument("field '\(path)' must be an array") }
        return items
    }
}

extension ReadinessRules {
    /// Evaluates a readiness request (docs/abi.md) for `mission`; `today` stands in for
    /// a missing `asOf`.
    public func evaluate(
        _ request: JSONValue, mission: String, today: CalendarDate
    ) throws(ModuleError)
        -> [UnmetRequirement]
    {
        guard let root = request.objectValue else {
            throw .invalidArgument("the readiness request must be a JSON object")
        }
        if let named = try RequestReader.optionalString(root["mission"], "mission"), named != mission {
            throw .invalidArgument("field 'mission' is \(named), but this module judges \(mission)")
        }
        let asOf = try RequestReader.optionalDate(root["asOf"], "asOf") ?? today
        var unmet: [UnmetRequirement] = []
        switch try RequestReader.optionalString(root["subject"], "subject") {
        case "person":
            let person = try RequestReader.object(root["person"], "person")
            unmet += try evaluate(person: person, path: "person", asOf: asOf)
            // A category the mission does not take skips every other check, the deployment's too (as documented).
            if unmet.contains(where: { $0.code == "CATEGORY_NOT_ALLOWED" }) { break }
            unmet += try evaluateDeployment(
                root["deployment"], categories: [person["category"]?.stringValue].compactMap { $0 }, mission: mission)
        case "contingent":
            let contingent = try RequestReader.object(root["contingent"], "contingent")
            unmet += try evaluate(contingent: contingent, mission: mission)
            // Without an end date, the tour is as long as its longest-serving members'.
            let categories = (contingent["members"]?.arrayValue ?? []).compactMap { $0["category"]?.stringValue }
            unmet += try evaluateDeployment(root["deployment"], categories: categories, mission: mission)
            for (index, item) in try RequestReader.optionalArray(contingent["members"], "contingent.members")
                .enumerated()
            {
                let path = "contingent.members[\(index)]"
                let member = try RequestReader.object(item, path)
                let serviceNumber =
                    try RequestReader.optionalString(member["serviceNumber"], "\(path).serviceNumber")
                    ?? "member \(index + 1)"
                unmet += try evaluate(person: member, path: path, asOf: asOf).map {
                    UnmetRequirement(code: $0.code, message: "\(serviceNumber): \($0.message)", serviceNumber: serviceNumber)
                }
            }
        default:
            throw .invalidArgument("field 'subject' must be \"person\" or \"contingent\"")
        }
        return unmet
    }

    private func evaluate(
        person: [String: JSONValue], path: String, asOf: CalendarDate
    ) throws(ModuleError)
        -> [UnmetRequirement]
    {
        guard let categoryName = try RequestReader.optionalString(person["category"], "\(path).category") else {
            throw .invalidArgument("field '\(path).category' is required")
        }
        guard let category = category(categoryName) else {
            let allowed = categories.map(\.name).joined(separator: ", ")
            return [
                UnmetRequirement(
                    code: "CATEGORY_NOT_ALLOWED",
                    message: "category \(categoryName) is not deployed to this mission, which takes \(allowed)")
            ]
        }
        var unmet: [UnmetRequirement] = []
        let recorded = try recordedQualifications(person, path: path)
        for requirement in category.qualifications {
            let label = "\(requirement.code) (\(requirement.title))"
            let missing = "\(requirement.kind)_MISSING"
            let sameCode = recorded.filter { $0.code == requirement.code }
            // A record of another kind (a medical clearance filed as training) does not meet the requirement.
            let ofKind = sameCode.filter { $0.kind.map { $0 == requirement.kind } ?? true }
            // A course not yet taken on the day judged is not held, whatever its record says.
            let held = ofKind.filter { $0.issuedOn.map { $0 <= asOf } ?? true }
            if sameCode.isEmpty {
                unmet.append(UnmetRequirement(code: missing, message: "\(label) is required and not recorded"))
            } else if ofKind.isEmpty {
                let kinds = Set(sameCode.compactMap(\.kind)).sorted().joined(separator: ", ")
                unmet.append(
                    UnmetRequirement(
                        code: missing, message: "\(label) is recorded as \(kinds), not as \(requirement.kind)"))
            } else if held.isEmpty {
                let first = ofKind.compactMap(\.issuedOn).min()!
                unmet.append(
                    UnmetRequirement(
                        code: missing, message: "\(label) is recorded as issued on \(first), after \(asOf)"))
            } else if !held.contains(where: { $0.expiresOn.map { $0 >= asOf } ?? true }) {
                let latest = held.compactMap(\.expiresOn).max()!
                unmet.append(
                    UnmetRequirement(
                        code: "\(requirement.kind)_EXPIRED", message: "\(label) expired on \(latest), before \(asOf)"))
            }
        }
        unmet += try evaluateLanguages(person, category: category, path: path)
        unmet += try evaluateService(person, category: category, path: path, asOf: asOf)
        return unmet
    }

    /// The qualifications recorded for `person`; `kind` and the dates are optional in a request.
    private func recordedQualifications(_ person: [String: JSONValue], path: String) throws(ModuleError)
        -> [(code: String, kind: String?, issuedOn: CalendarDate?, expiresOn: CalendarDate?)]
    {
        var recorded: [(code: String, kind: String?, issuedOn: CalendarDate?, expiresOn: CalendarDate?)] = []
        for (index, item) in try RequestReader.optionalArray(person["qualifications"], "\(path).qualifications")
            .enumerated()
        {
            let itemPath = "\(path).qualifications[\(index)]"
            let qualification = try RequestReader.object(item, itemPath)
            guard let code = try RequestReader.optionalString(qualification["code"], "\(itemPath).code") else {
                throw .invalidArgument("field '\(itemPath).code' is required")
            }
            recorded.append(
                (
                    code, try RequestReader.optionalString(qualification["kind"], "\(itemPath).kind"),
                    try RequestReader.optionalDate(qualification["issuedOn"], "\(itemPath).issuedOn"),
                    try RequestReader.optionalDate(qualification["expiresOn"], "\(itemPath).expiresOn")
                ))
        }
        return recorded
    }

    private func evaluateLanguages(
        _ person: [String: JSONValue], category: Category, path: String
    ) throws(ModuleError)
        -> [UnmetRequirement]
    {
        var levels: [String: Int] = [:]
        for (index, item) in try RequestReader.optionalArray(person["languages"], "\(path).languages").enumerated() {
            let itemPath = "\(path).languages[\(index)]"
            let language = try RequestReader.object(item, itemPath)
            guard let code = try RequestReader.optionalString(language["code"], "\(itemPath).code") else {
                throw .invalidArgument("field '\(itemPath).code' is required")
            }
            let level = try RequestReader.optionalString(language["level"], "\(itemPath).level")
            guard let rank = level.flatMap({ Self.cefrLevels.firstIndex(of: $0) }) else {
                throw .invalidArgument("field '\(itemPath).level' must be a CEFR level A1..C2")
            }
            levels[code.lowercased()] = max(levels[code.lowercased()] ?? 0, rank)
        }
        return category.languages.compactMap { requirement in
            let needed = Self.cefrLevels.firstIndex(of: requirement.minimumLevel)!
            guard let level = levels[requirement.code.lowercased()] else {
                return UnmetRequirement(
                    code: "LANGUAGE_MISSING",
                    message: "\(requirement.name) (\(requirement.code)) at CEFR \(requirement.minimumLevel) or above "
                        + "is required and not recorded")
            }
            guard level < needed else { return nil }
            return UnmetRequirement(
                code: "LANGUAGE_MISSING",
                message: "\(requirement.name) (\(requirement.code)) at CEFR \(requirement.minimumLevel) or above is "
                    + "required; recorded level: \(Self.cefrLevels[level])")
        }
    }

    private func evaluateService(
        _ person: [String: JSONValue], category: Category, path: String, asOf: CalendarDate
    ) throws(ModuleError) -> [UnmetRequirement] {
        var unmet: [UnmetRequirement] = []
        let title = category.title
        if let minimum = category.minimumRankCode, let required = RankCode(minimum) {
            let code = try RequestReader.optionalString(person["rankCode"], "\(path).rankCode")
            let name = try RequestReader.optionalString(person["rank"], "\(path).rank")
            let held = code.flatMap { RankCode($0) } ?? name.flatMap { RankCode(rankName: $0) }
            if held == nil {
                unmet.append(
                    UnmetRequirement(
                        code: "RANK_TOO_LOW",
                        message: "\(title) must hold rank \(minimum) or above; the record has no recognisable rank code"
                    ))
            } else if held! < required {
                unmet.append(
                    UnmetRequirement(
                        code: "RANK_TOO_LOW",
                        message: "\(title) must hold rank \(minimum) or above; recorded: \(code ?? name ?? "")"))
            }
        }
        if let minimum = category.minimumCommissionedServiceYears {
            let value = person["commissionedServiceYears"]
            guard value == nil || value == .null || value?.numberValue != nil else {
                throw .invalidArgument("field '\(path).commissionedServiceYears' must be a number")
            }
            let years = value?.numberValue
            if years.map({ $0 < minimum }) ?? true {
                let recorded = years.map { $0.rounded() == $0 ? String(Int($0)) : String($0) } ?? "none"
                unmet.append(
                    UnmetRequirement(
                        code: "SERVICE_TOO_SHORT",
                        message:
                            "\(title) need at least \(Int(minimum)) years of commissioned service; recorded: \(recorded)"
                    ))
            }
        }
        if let minimum = category.minimumAge {
            let birth = try RequestReader.optionalDate(person["dateOfBirth"], "\(path).dateOfBirth")
            if let birth {
                let age = birth.wholeYears(until: asOf)
                if age < minimum {
                    unmet.append(
                        UnmetRequirement(
                            code: "AGE_TOO_LOW",
                            message: "\(title) must be at least \(minimum) years old on \(asOf); age then: \(age)"))
                }
            } else {
                unmet.append(
                    UnmetRequirement(
                        code: "AGE_TOO_LOW",
                        message: "\(title) must be at least \(minimum) years old; the record has no date of birth"))
            }
        }
        if category.nationalityMustMatchContingent {
            let nationality = try RequestReader.optionalString(person["nationality"], "\(path).nationality")
            let contingent = try RequestReader.optionalString(person["contingent"], "\(path).contingent")
            if nationality == nil || nationality != contingent {
                unmet.append(
                    UnmetRequirement(
                        code: "NATIONALITY_MISMATCH",
                        message:
                            "\(title) must be nationals of the contributing country (\(contingent ?? "not recorded")); "
                            + "recorded nationality: \(nationality ?? "none")"))
            }
        }
        return unmet
    }

    private func evaluateDeployment(
        _ value: JSONValue?, categories: [String], mission: String
    ) throws(ModuleError)
        -> [UnmetRequirement]
    {
        guard let deadline, let value, value != .null else { return [] }
        let deployment = try RequestReader.object(value, "deployment")
        if deployment["drawdownRole"]?.boolValue == true { return [] }
        let start = try RequestReader.optionalDate(deployment["start"], "deployment.start")
        let tour = categories.compactMap { self.category($0)?.defaultTourMonths }.max()
        let end =
            try RequestReader.optionalDate(deployment["end"], "deployment.end")
            ?? tour.flatMap { months in start?.lastDay(ofMonths: months) }
        guard let end, end > deadline.latestEnd else { return [] }
        return [
            UnmetRequirement(
                code: "TOUR_ENDS_AFTER_DEADLINE",
                message:
                    "the tour ends on \(end), after \(mission)'s deadline of \(deadline.latestEnd) (\(deadline.reason)); "
                    + "only a drawdown role may end later")
        ]
    }

    private func evaluate(contingent: [String: JSONValue], mission: String) throws(ModuleError) -> [UnmetRequirement] {
        var unmet: [UnmetRequirement] = []
        let code = try RequestReader.optionalString(contingent["code"], "contingent.code")
        // PCRS pledges are made for formed units: a contingent of individual officers has none to make.
        let formsUnits = (contingent["members"]?.arrayValue ?? []).contains {
            $0["category"]?.stringValue == "TROOP"
        }
        if let minimum = minimumPcrsLevel, formsUnits {
            let level = try RequestReader.optionalString(contingent["pcrsLevel"], "contingent.pcrsLevel")
            let rank = level.flatMap { Self.pcrsLevels.firstIndex(of: $0) } ?? 0
            if rank < Self.pcrsLevels.firstIndex(of: minimum)! {
                unmet.append(
                    UnmetRequirement(
                        code: "PCRS_LEVEL_TOO_LOW",
                        message:
                            "\(mission) takes formed units at PCRS level \(minimum) or above; recorded: \(level ?? "none")"
                    ))
            }
        }
        if let joint = jointDeployments.first(where: { $0.contingent == code }) {
            let lead = try RequestReader.optionalString(contingent["leadNation"], "contingent.leadNation")
            let host = try RequestReader.optionalString(contingent["hostUnit"], "contingent.hostUnit")
            if lead != joint.leadNation || host != joint.hostUnit {
                unmet.append(
                    UnmetRequirement(
                        code: "LEAD_NATION_MISSING",
                        message:
                            "\(joint.contingent) deploys inside \(joint.hostUnit) with lead nation \(joint.leadNation); "
                            + "recorded: lead nation \(lead ?? "none"), host unit \(host ?? "none")"))
            }
        }
        if (contingent["members"]?.arrayValue ?? []).isEmpty {
            unmet.append(UnmetRequirement(code: "MEMBERS_MISSING", message: "the contingent lists no members"))
        }
        return unmet
    }
}
