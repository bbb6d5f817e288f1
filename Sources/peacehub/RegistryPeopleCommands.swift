import ArgumentParser
import Foundation
import PeaceHubCore
import PeaceHubRegistry

struct RegistryPersonCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "person", abstract: "Add, show, list, update and remove people.",
        subcommands: [
            RegistryPersonAdd.self, RegistryPersonShow.self, RegistryPersonList.self, RegistryPersonUpdate.self,
            RegistryPersonRemove.self,
        ])
}

/// The person fields `add` requires and `update` may change.
struct PersonFields: ParsableArguments {
    @Option(help: "Full name in Latin script.") var latinName: String?
    @Option(help: "Full name in Cyrillic script.") var cyrillicName: String?
    @Option(help: "F or M.") var sex: Sex?
    @Option(help: "ISO 3166 alpha-3 nationality (default: the contingent).") var nationality: String?
    @Option(help: "ISO 3166 alpha-3 contingent code.") var contingent: String?
    @Option(help: "National rank.") var rank: String?
    @Option(help: "NATO rank code, e.g. OF-2.") var rankCode: String?
    @Option(help: "MILITARY_OBSERVER, STAFF_OFFICER, TROOP, POLICE or CIVILIAN.") var category: PersonCategory?
    @Option(help: "Date of birth, YYYY-MM-DD.") var born: CalendarDate?
    @Option(help: "Years of commissioned service.") var serviceYears: Int?
    @Option(help: "Languages with CEFR levels, e.g. 'en:B2;ru:C2'.") var languages: String?

    func apply(to person: inout Person) throws {
        if let latinName { person.latinName = latinName }
        if let cyrillicName { person.cyrillicName = cyrillicName.isEmpty ? nil : cyrillicName }
        if let sex { person.sex = sex }
        if let contingent { person.contingent = contingent }
        if let nationality { person.nationality = nationality }
        if let rank { person.rank = rank }
        if let rankCode { person.rankCode = rankCode.isEmpty ? nil : rankCode }
        if let category { person.category = category }
        if let born { person.dateOfBirth = born }
        if let serviceYears { person.commissionedServiceYears = serviceYears }
        if let languages { person.languages = try parseLanguages(languages) }
    }
}

struct RegistryPersonAdd: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "add", abstract: "Register a person.")

    @OptionGroup var options: RegistryOptions
    @Argument(help: "Service number.") var serviceNumber: String
    @OptionGroup var fields: PersonFields

    func run() throws {
        guard let latinName = fields.latinName, let sex = fields.sex, let contingent = fields.contingent,
            let rank = fields.rank, let category = fields.category, let born = fields.born
        else {
            throw ValidationError("person add needs --latin-name, --sex, --contingent, --rank, --category and --born")
        }
        var person = Person(
            serviceNumber: serviceNumber, latinName: latinName, sex: sex, nationality: contingent,
            contingent: contingent, rank: rank, category: category, dateOfBirth: born)
        try fields.apply(to: &person)
        let registry = try options.open()
        let actor = try options.parsedActor()
        try registryCall { try registry.addPerson(person, as: actor) }
        let added = try registryCall { try registry.person(serviceNumber: serviceNumber, as: actor) }
        if options.json { try printJSON(added.person) } else { print("added \(serviceNumber)") }
    }
}

struct RegistryPersonShow: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show", abstract: "Show a person with qualifications and deployments.")

    @OptionGroup var options: RegistryOptions
    @Argument(help: "Service number.") var serviceNumber: String

    func run() throws {
        let registry = try options.open(readingOnly: true)
        let actor = try options.parsedActor()
        let record = try registryCall { try registry.person(serviceNumber: serviceNumber, as: actor) }
        if options.json {
            try printJSON(record)
            return
        }
        let person = record.person
        let today = CalendarDate.today
        let lines: [(String, String)] = [
            ("Service number", person.serviceNumber), ("Name", person.latinName),
            ("Cyrillic", cell(person.cyrillicName)),
            ("Sex", person.sex.rawValue), ("Nationality", person.nationality), ("Contingent", person.contingent),
            ("Rank", person.rank + (person.rankCode.map { " (\($0))" } ?? "")), ("Category", person.category.rawValue),
            ("Born", record.restricted ? "(withheld)" : cell(person.dateOfBirth)),
            ("Service years", cell(person.commissionedServiceYears)),
            ("Languages", person.languages.map { "\($0.code) \($0.level.rawValue)" }.joined(separator: ", ")),
        ]
        for (label, value) in lines {
            print(label.padding(toLength: 16, withPad: " ", startingAt: 0) + loggableText(value))
        }
        print("")
        printTable(
            headers: ["KIND", "CODE", "PROVIDER", "ISSUED", "EXPIRES", "LEVEL", "VALID TODAY"],
            rows: record.qualifications.map { q in
                [
                    q.kind.rawValue, q.code, cell(q.provider), q.issuedOn.description, cell(q.expiresOn), cell(q.level),
                    q.isValid(on: today) ? "yes" : "no (expired)",
                ]
            })
        if record.restricted { print("(medical qualifications withheld: another contingent's person)") }
        print("")
        printDeployments(record.deployments.map { ($0, person.serviceNumber) })
    }
}

func printDeployments(_ deployments: [(deployment: Deployment, subject: String)]) {
    printTable(
        headers: ["ID", "SUBJECT", "MISSION", "ROLE", "STATUS", "PLANNED", "ACTUAL", "LEAD/HOST"],
        rows: deployments.map { item in
            let d = item.deployment
            let lead = d.leadNation.map { "\($0)/\(d.hostUnit ?? "-")" } ?? "-"
            return [
                cell(d.id), item.subject, d.mission, d.role + (d.drawdownRole ? " [drawdown]" : ""), d.status.rawValue,
                "\(d.plannedStart)..\(d.plannedEnd)", "\(cell(d.actualStart))..\(cell(d.actualEnd))", lead,
            ]
        })
}

struct RegistryPersonList: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List people.")

    @OptionGroup var options: RegistryOptions
    @Option(help: "Only this contingent.") var contingent: String?
    @Option(help: "Only this category.") var category: PersonCategory?
    @Option(help: "Only this nationality (ISO 3166 alpha-3).") var nationality: String?
    @Option(help: "Only F or M.") var sex: Sex?
    @Option(help: "Only people with a deployment to this mission.") var mission: String?
    @Option(help: "Only people with a deployment in this status.") var status: DeploymentStatus?

    func run() throws {
        let registry = try options.open(readingOnly: true)
        let actor = try options.parsedActor()
        let query = PersonQuery(
            contingent: contingent, category: category, nationality: nationality, sex: sex, mission: mission,
            deploymentStatus: status)
        let persons = try registryCall { try registry.persons(matching: query, as: actor) }
        if options.json {
            try printJSON(persons)
            return
        }
        printTable(
            headers: ["SERVICE NUMBER", "NAME", "CONTINGENT", "CATEGORY", "RANK", "SEX"],
            rows: persons.map {
                [$0.serviceNumber, $0.latinName, $0.contingent, $0.category.rawValue, $0.rank, $0.sex.rawValue]
            })
    }
}

struct RegistryPersonUpdate: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "update", abstract: "Change a person's fields.")

    @OptionGroup var options: RegistryOptions
    @Argument(help: "Service number.") var serviceNumber: String
    @OptionGroup var fields: PersonFields

    func run() throws {
        let registry = try options.open()
        let actor = try options.parsedActor()
        try registryCall {
            try registry.updatePerson(serviceNumber: serviceNumber, as: actor) { person in
                try fields.apply(to: &person)
            }
        }
        if options.json {
            try printJSON(try registryCall { try registry.person(serviceNumber: serviceNumber, as: actor).person })
        } else {
            print("updated \(serviceNumber)")
        }
    }
}

struct RegistryPersonRemove: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove", abstract: "Remove a person who never deployed.")

    @OptionGroup var options: RegistryOptions
    @Argument(help: "Service number.") var serviceNumber: String

    func run() throws {
        let registry = try options.open()
        let actor = try options.parsedActor()
        try registryCall { try registry.removePerson(serviceNumber: serviceNumber, as: actor) }
        if options.json { try printJSON(["removed": serviceNumber]) } else { print("removed \(serviceNumber)") }
    }
}

struct RegistryQualificationCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "qualification", abstract: "Add, list, update and remove qualifications.",
        subcommands: [
            RegistryQualificationAdd.self, RegistryQualificationList.self, RegistryQualificationUpdate.self,
            RegistryQualificationRemove.self,
        ])
}

struct RegistryQualificationAdd: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "add", abstract: "Record a qualification.")

    @OptionGroup var options: RegistryOptions
    @Argument(help: "Service number.") var serviceNumber: String
    @Option(help: "TRAINING, LANGUAGE, MEDICAL, DRIVING, WEAPONS, FIRST_AID or OTHER.") var kind: QualificationKind
    @Option(help: "Code, e.g. UN-CPTM, MEDICAL-CLEARANCE, ENGLISH-TEST.") var code: String
    @Option(help: "Who issued it, e.g. KAZCENT.") var provider: String?
    @Option(help: "Issue date, YYYY-MM-DD.") var issued: CalendarDate
    @Option(help: "Expiry date, YYYY-MM-DD (omit: does not expire).") var expires: CalendarDate?
    @Option(help: "SHA-256 (hex) of the evidence document.") var evidenceHash: String?
    @Option(help: "Level, e.g. a CEFR level for languages.") var level: String?

    func run() throws {
        let registry = try options.open()
        let qualification = Qualification(
            kind: kind, code: code, provider: provider, issuedOn: issued, expiresOn: expires,
            evidenceHash: evidenceHash, level: level)
        let actor = try options.parsedActor()
        let added = try registryCall {
            try registry.addQualification(qualification, serviceNumber: serviceNumber, as: actor)
        }
        if options.json { try printJSON(added) } else { print("added \(code) to \(serviceNumber)") }
    }
}

struct RegistryQualificationList: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List a person's qualifications.")

    @OptionGroup var options: RegistryOptions
    @Argument(help: "Service number.") var serviceNumber: String
    @Option(help: "Only those valid on this date (expired ones count as missing).") var validOn: CalendarDate?

    func run() throws {
        let registry = try options.open(readingOnly: true)
        let actor = try options.parsedActor()
        let list = try registryCall {
            try registry.qualifications(serviceNumber: serviceNumber, validOn: validOn, as: actor)
        }
        if options.json {
            try printJSON(list)
            return
        }
        printTable(
            headers: ["KIND", "CODE", "PROVIDER", "ISSUED", "EXPIRES", "LEVEL"],
            rows: list.map {
                [
                    $0.kind.rawValue, $0.code, cell($0.provider), $0.issuedOn.description, cell($0.expiresOn),
                    cell($0.level),
                ]
            })
    }
}

struct RegistryQualificationUpdate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "update", abstract: "Change a qualification (its id is in `qualification list --json`).")

    @OptionGroup var options: RegistryOptions
    @Argument(help: "Service number.") var serviceNumber: String
    @Argument(help: "Qualification id.") var id: Int64
    @Option(help: "TRAINING, LANGUAGE, MEDICAL, DRIVING, WEAPONS, FIRST_AID or OTHER.") var kind: QualificationKind?
    @Option(help: "Code.") var code: String?
    @Option(help: "Who issued it (empty: none).") var provider: String?
    @Option(help: "Issue date, YYYY-MM-DD.") var issued: CalendarDate?
    @Option(help: "Expiry date, YYYY-MM-DD.") var expires: CalendarDate?
    @Flag(help: "It does not expire.") var noExpiry = false
    @Option(help: "SHA-256 (hex) of the evidence document (empty: none).") var evidenceHash: String?
    @Option(help: "Level (empty: none).") var level: String?

    func run() throws {
        let registry = try options.open()
        let actor = try options.parsedActor()
        let updated = try registryCall {
            try registry.updateQualification(id: id, serviceNumber: serviceNumber, as: actor) { qualification in
                if let kind { qualification.kind = kind }
                if let code { qualification.code = code }
                if let provider { qualification.provider = provider.isEmpty ? nil : provider }
                if let issued { qualification.issuedOn = issued }
                if let expires { qualification.expiresOn = expires }
                if noExpiry { qualification.expiresOn = nil }
                if let evidenceHash { qualification.evidenceHash = evidenceHash.isEmpty ? nil : evidenceHash }
                if let level { qualification.level = level.isEmpty ? nil : level }
            }
        }
        if options.json { try printJSON(updated) } else { print("updated qualification \(id) of \(serviceNumber)") }
    }
}

struct RegistryQualificationRemove: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "remove", abstract: "Remove a qualification.")

    @OptionGroup var options: RegistryOptions
    @Argument(help: "Service number.") var serviceNumber: String
    @Argument(help: "Qualification id.") var id: Int64

    func run() throws {
        let registry = try options.open()
        let actor = try options.parsedActor()
        try registryCall { try registry.removeQualification(id: id, serviceNumber: serviceNumber, as: actor) }
        if options.json {
            try printJSON(["removed": id])
        } else {
            print("removed qualification \(id) of \(serviceNumber)")
        }
    }
}
