import ArgumentParser
import Foundation
import PeaceHubCore
import PeaceHubRegistry

struct RegistryContingentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "contingent", abstract: "Add and list contingents; record PCRS levels.",
        subcommands: [RegistryContingentAdd.self, RegistryContingentList.self, RegistryContingentPCRS.self])
}

struct RegistryContingentAdd: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "add", abstract: "Add a contingent (operators).")

    @OptionGroup var options: RegistryOptions
    @Argument(help: "ISO 3166 alpha-3 code.") var code: String
    @Option(help: "Country name.") var name: String
    @Option(help: "PCRS level: NONE, L1, L2, L3 or RDL.") var pcrs: PCRSLevel = .none
    @Option(help: "Evidence for the level (assessment visit report, SUR id).") var evidence: String?
    @Option(help: "Date of the evidence.") var evidenceDate: CalendarDate?

    func run() throws {
        let registry = try options.open(creating: true)
        let contingent = Contingent(
            code: code, name: name, pcrsLevel: pcrs, pcrsEvidence: evidence, pcrsEvidenceDate: evidenceDate)
        let actor = try options.parsedActor()
        try registryCall { try registry.addContingent(contingent, as: actor) }
        if options.json { try printJSON(contingent) } else { print("added contingent \(code)") }
    }
}

struct RegistryContingentList: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List contingents.")

    @OptionGroup var options: RegistryOptions

    func run() throws {
        let registry = try options.open(readingOnly: true)
        let list = try registryCall { try registry.contingents() }
        if options.json {
            try printJSON(list)
            return
        }
        printTable(
            headers: ["CODE", "NAME", "PCRS", "EVIDENCE", "DATE"],
            rows: list.map {
                [$0.code, $0.name, $0.pcrsLevel.rawValue, cell($0.pcrsEvidence), cell($0.pcrsEvidenceDate)]
            })
    }
}

struct RegistryContingentPCRS: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pcrs", abstract: "Record a contingent's PCRS level with its evidence (operators).")

    @OptionGroup var options: RegistryOptions
    @Argument(help: "ISO 3166 alpha-3 code.") var code: String
    @Option(help: "NONE, L1, L2, L3 or RDL.") var level: PCRSLevel
    @Option(help: "Evidence (assessment visit report, SUR id).") var evidence: String?
    @Option(help: "Date of the evidence (default: today).") var date: CalendarDate?

    func run() throws {
        let registry = try options.open()
        let actor = try options.parsedActor()
        try registryCall {
            try registry.setPCRSLevel(contingent: code, level: level, evidence: evidence, on: date ?? .today, as: actor)
        }
        if options.json {
            try printJSON(try registryCall { try registry.contingent(code: code) })
        } else {
            print("contingent \(code) is at PCRS \(level.rawValue)")
        }
    }
}

struct RegistryMissionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mission", abstract: "Add, list and show missions; record lifecycle phases.",
        subcommands: [
            RegistryMissionAdd.self, RegistryMissionList.self, RegistryMissionShow.self, RegistryMissionPhase.self,
        ])
}

struct RegistryMissionAdd: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "add", abstract: "Add a mission (operators).")

    @OptionGroup var options: RegistryOptions
    @Argument(help: "Mission code, e.g. UNIFIL.") var code: String
    @Option(help: "Full name.") var name: String
    @Option(help: "Date established (and active from).") var established: CalendarDate

    func run() throws {
        let registry = try options.open(creating: true)
        let actor = try options.parsedActor()
        try registryCall {
            try registry.addMission(
                Mission(code: code, name: name, establishedOn: established), activeSince: established, as: actor)
        }
        if options.json {
            try printJSON(try registryCall { try registry.mission(code: code, on: .today) })
        } else {
            print("added mission \(code)")
        }
    }
}

struct RegistryMissionList: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List missions with their lifecycle.")

    @OptionGroup var options: RegistryOptions
    @Option(help: "The day to report the lifecycle for (default: today).") var date: CalendarDate?

    func run() throws {
        let registry = try options.open(readingOnly: true)
        let list = try registryCall { try registry.missions(on: date ?? .today) }
        if options.json {
            try printJSON(list)
            return
        }
        printTable(
            headers: ["CODE", "NAME", "LIFECYCLE", "SINCE", "NEXT"],
            rows: list.map { status in
                let next = status.phases.first { $0.since > (date ?? .today) }
                return [
                    status.mission.code, status.mission.name, cell(status.lifecycle?.rawValue),
                    cell(status.lifecycleSince),
                    next.map { "\($0.lifecycle.rawValue) from \($0.since)" } ?? "-",
                ]
            })
    }
}

struct RegistryMissionShow: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Show a mission and its phases.")

    @OptionGroup var options: RegistryOptions
    @Argument(help: "Mission code.") var code: String

    func run() throws {
        let registry = try options.open(readingOnly: true)
        let status = try registryCall { try registry.mission(code: code, on: .today) }
        if options.json {
            try printJSON(status)
            return
        }
        print(loggableText("\(status.mission.code): \(status.mission.name)"))
        print("Established \(cell(status.mission.establishedOn)); today \(cell(status.lifecycle?.rawValue))")
        printTable(
            headers: ["LIFECYCLE", "SINCE"], rows: status.phases.map { [$0.lifecycle.rawValue, $0.since.description] })
    }
}

struct RegistryMissionPhase: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "phase", abstract: "Move a mission to a later lifecycle phase from a date (operators).")

    @OptionGroup var options: RegistryOptions
    @Argument(help: "Mission code.") var code: String
    @Option(help: "DRAWDOWN, LIQUIDATION or CLOSED.") var lifecycle: MissionLifecycle
    @Option(help: "From this date.") var since: CalendarDate

    func run() throws {
        let registry = try options.open()
        let actor = try options.parsedActor()
        try registryCall { try registry.addMissionPhase(mission: code, lifecycle: lifecycle, since: since, as: actor) }
        if options.json {
            try printJSON(try registryCall { try registry.mission(code: code, on: since) })
        } else {
            print("\(code) is \(lifecycle.rawValue) from \(since)")
        }
    }
}

struct RegistryEquipmentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "equipment",
        abstract: "Contingent-owned equipment (COE): add, list, show, status, update, remove, inspect.",
        subcommands: [
            RegistryEquipmentAdd.self, RegistryEquipmentList.self, RegistryEquipmentShow.self,
            RegistryEquipmentStatus.self, RegistryEquipmentUpdate.self, RegistryEquipmentRemove.self,
            RegistryEquipmentInspect.self,
        ])
}

struct RegistryEquipmentAdd: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "add", abstract: "Register a piece of equipment.")

    @OptionGroup var options: RegistryOptions
    @Argument(help: "Serial number.") var serial: String
    @Option(help: "Owning contingent.") var contingent: String
    @Option(name: .customLong("class"), help: "MAJOR_EQUIPMENT or SELF_SUSTAINMENT.") var coeClass: COEClass
    @Option(help: "COE category, e.g. 'APC (wheeled), armoured' or Catering.") var category: String
    @Option(help: "WET or DRY.") var lease: LeaseType
    @Option(help: "Description.") var description: String?
    @Option(help: "Status.") var status: EquipmentStatus = .serviceable

    func run() throws {
        let registry = try options.open()
        let actor = try options.parsedActor()
        let item = Equipment(
            contingent: contingent, coeClass: coeClass, category: category, description: description, serial: serial,
            leaseType: lease, status: status)
        let added = try registryCall { try registry.addEquipment(item, as: actor) }
        if options.json { try printJSON(added) } else { print("added equipment \(serial)") }
    }
}

struct RegistryEquipmentList: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List equipment.")

    @OptionGroup var options: RegistryOptions
    @Option(help: "Only this contingent.") var contingent: String?
    @Option(help: "Only this status.") var status: EquipmentStatus?
    @Option(name: .customLong("class"), help: "Only this class.") var coeClass: COEClass?

    func run() throws {
        let registry = try options.open(readingOnly: true)
        let list = try registryCall {
            try registry.equipment(contingent: contingent, status: status, coeClass: coeClass)
        }
        if options.json {
            try printJSON(list)
            return
        }
        printTable(
            headers: ["SERIAL", "CONTINGENT", "CLASS", "CATEGORY", "LEASE", "STATUS"],
            rows: list.map {
                [
                    $0.serial, $0.contingent, $0.coeClass.rawValue, $0.category, $0.leaseType.rawValue,
                    $0.status.rawValue,
                ]
            })
    }
}

struct RegistryEquipmentShow: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Show equipment and inspections.")

    @OptionGroup var options: RegistryOptions
    @Argument(help: "Serial number.") var serial: String

    func run() throws {
        let registry = try options.open(readingOnly: true)
        let inspections = try registryCall { try registry.inspections(serial: serial) }
        let item = try registryCall { try registry.equipment(serial: serial) }
        if options.json {
            try printJSON(Shown(equipment: item, inspections: inspections))
            return
        }
        print(
            loggableText(
                "\(item.serial): \(item.category) (\(item.coeClass.rawValue), \(item.leaseType.rawValue) lease), "
                    + "\(item.contingent), \(item.status.rawValue)"))
        printTable(
            headers: ["TYPE", "DATE", "RESULT"],
            rows: inspections.map { [$0.type.rawValue, $0.date.description, $0.result] })
    }

    struct Shown: Encodable {
        var equipment: Equipment
        var inspections: [EquipmentInspection]
    }
}

struct RegistryEquipmentStatus: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Change equipment status.")

    @OptionGroup var options: RegistryOptions
    @Argument(help: "Serial number.") var serial: String
    @Argument(help: "SERVICEABLE, UNSERVICEABLE, IN_TRANSIT or LOST_DAMAGED.") var status: EquipmentStatus

    func run() throws {
        let registry = try options.open()
        let actor = try options.parsedActor()
        try registryCall { try registry.setEquipmentStatus(serial: serial, status: status, as: actor) }
        if options.json {
            try printJSON(["serial": serial, "status": status.rawValue])
        } else {
            print("\(serial) is \(status.rawValue)")
        }
    }
}

struct RegistryEquipmentUpdate: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "update", abstract: "Change equipment fields.")

    @OptionGroup var options: RegistryOptions
    @Argument(help: "Serial number.") var serial: String
    @Option(help: "Owning contingent (operators).") var contingent: String?
    @Option(name: .customLong("class"), help: "MAJOR_EQUIPMENT or SELF_SUSTAINMENT.") var coeClass: COEClass?
    @Option(help: "COE category.") var category: String?
    @Option(help: "WET or DRY.") var lease: LeaseType?
    @Option(help: "Description (empty: none).") var description: String?
    @Option(help: "Status.") var status: EquipmentStatus?

    func run() throws {
        let registry = try options.open()
        let actor = try options.parsedActor()
        let updated = try registryCall {
            try registry.updateEquipment(serial: serial, as: actor) { item in
                if let contingent { item.contingent = contingent }
                if let coeClass { item.coeClass = coeClass }
                if let category { item.category = category }
                if let lease { item.leaseType = lease }
                if let description { item.description = description.isEmpty ? nil : description }
                if let status { item.status = status }
            }
        }
        if options.json { try printJSON(updated) } else { print("updated equipment \(serial)") }
    }
}

struct RegistryEquipmentRemove: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove", abstract: "Remove equipment registered in error (none with inspections on record).")

    @OptionGroup var options: RegistryOptions
    @Argument(help: "Serial number.") var serial: String

    func run() throws {
        let registry = try options.open()
        let actor = try options.parsedActor()
        try registryCall { try registry.removeEquipment(serial: serial, as: actor) }
        if options.json { try printJSON(["removed": serial]) } else { print("removed equipment \(serial)") }
    }
}

struct RegistryEquipmentInspect: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "inspect", abstract: "Record an inspection.")

    @OptionGroup var options: RegistryOptions
    @Argument(help: "Serial number.") var serial: String
    @Option(help: "ARRIVAL, PERIODIC or REPATRIATION.") var type: InspectionType
    @Option(help: "Date (default: today).") var date: CalendarDate?
    @Option(help: "Result, e.g. Serviceable.") var result: String

    func run() throws {
        let registry = try options.open()
        let actor = try options.parsedActor()
        let inspection = try registryCall {
            try registry.addInspection(serial: serial, type: type, date: date ?? .today, result: result, as: actor)
        }
        if options.json {
            try printJSON(inspection)
        } else {
            print("recorded \(type.rawValue) inspection of \(serial)")
        }
    }
}
