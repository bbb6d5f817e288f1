import ArgumentParser
import Foundation
import Logging
import PeaceHubCore
import PeaceHubPlugins
import PeaceHubRegistry

/// The mission modules, loaded for commands that judge readiness. Modules may look registry records
/// up while judging, so the host answers from the registry it serves.
final class RegistryModules: Sendable {
    let host: PluginHost
    private let services = ModuleServices()

    init(directory: String?) {
        var logger = Logger(label: "peacehub.plugins")
        logger.logLevel = .warning
        host = PluginHost(trying: services.hostServices(logger: logger))
        let folder = directory.map { URL(fileURLWithPath: $0) } ?? HubPaths.fromEnvironment.pluginsDirectory
        for refusal in host.loadDirectory(folder) { printError("plugins: \(refusal)") }
    }

    /// Opens the registry with these modules as its readiness evaluator.
    func openRegistry(
        _ options: RegistryOptions, creating: Bool = false, readingOnly: Bool = false
    ) throws -> Registry {
        let opened = try options.open(evaluator: host, creating: creating, readingOnly: readingOnly)
        services.bind(opened)
        return opened
    }
}

struct RegistryReadiness: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "readiness",
        abstract: "Ask the mission module whether a person or a contingent is ready (exit 3 when not).")

    @OptionGroup var options: RegistryOptions
    @Option(help: "A person's service number.") var person: String?
    @Option(help: "A contingent code.") var contingent: String?
    @Option(help: "The mission code.") var mission: String
    @Option(help: "The date to judge for (default: today).") var asOf: CalendarDate?
    @Option(help: "The mission modules' directory (default: the hub's).") var plugins: String?

    func validate() throws {
        guard (person == nil) != (contingent == nil) else {
            throw ValidationError("give exactly one of --person and --contingent")
        }
    }

    func run() throws {
        let modules = RegistryModules(directory: plugins)
        let registry = try modules.openRegistry(options, readingOnly: true)
        let actor = try options.parsedActor()
        let date = asOf ?? .today
        let unmet = try registryCall {
            if let person {
                return try registry.readiness(serviceNumber: person, mission: mission, asOf: date, as: actor)
            }
            return try registry.readiness(contingent: contingent!, mission: mission, asOf: date, as: actor)
        }
        let subject = person ?? contingent!
        if options.json {
            try printJSON(
                Report(subject: subject, mission: mission, asOf: date.description, ready: unmet.isEmpty, unmet: unmet))
        } else if unmet.isEmpty {
            print("\(subject) is ready for \(mission) on \(date)")
        } else {
            print("\(subject) is NOT ready for \(mission) on \(date):")
            printTable(headers: ["CODE", "MESSAGE"], rows: unmet.map { [$0.code, $0.message] })
        }
        if !unmet.isEmpty { throw ExitCode(3) }
    }

    struct Report: Encodable {
        var subject: String
        var mission: String
        var asOf: String
        var ready: Bool
        var unmet: [UnmetRequirement]
    }
}

struct RegistryDeployCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deploy", abstract: "Plan, advance, end and list deployments.",
        subcommands: [
            RegistryDeployPlan.self, RegistryDeployAdvance.self, RegistryDeployEnd.self, RegistryDeployList.self,
        ])
}

struct RegistryDeployPlan: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan", abstract: "Plan a deployment of a person or a contingent.")

    @OptionGroup var options: RegistryOptions
    @Option(help: "A person's service number.") var person: String?
    @Option(help: "A contingent code (a formed unit).") var contingent: String?
    @Option(help: "The mission code.") var mission: String
    @Option(help: "Role or appointment.") var role: String
    @Option(help: "Post: sector, team site, position.") var post: String?
    @Option(help: "Planned start, YYYY-MM-DD.") var start: CalendarDate
    @Option(help: "Planned end, YYYY-MM-DD.") var end: CalendarDate
    @Flag(help: "A drawdown role (may end after the mission's deadline).") var drawdownRole = false
    @Option(help: "Lead nation of the host unit, for an embedded contingent (e.g. IND).") var leadNation: String?
    @Option(help: "Host unit, e.g. INDBATT.") var hostUnit: String?
    @Option(help: "Rotation number.") var rotation: Int?

    func validate() throws {
        guard (person == nil) != (contingent == nil) else {
            throw ValidationError("give exactly one of --person and --contingent")
        }
    }

    func run() throws {
        let registry = try options.open()
        let actor = try options.parsedActor()
        let subject: DeploymentPlan.Subject =
            person.map { .person(serviceNumber: $0) } ?? .contingent(code: contingent!)
        let plan = DeploymentPlan(
            subject: subject, mission: mission, role: role, post: post, drawdownRole: drawdownRole,
            leadNation: leadNation, hostUnit: hostUnit, rotation: rotation, start: start, end: end)
        let deployment = try registryCall { try registry.planDeployment(plan, as: actor) }
        if options.json { try printJSON(deployment) } else { print("planned deployment \(deployment.id!)") }
    }
}

struct RegistryDeployAdvance: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "advance",
        abstract: "Move a deployment on: IN_TRANSIT (needs readiness), IN_MISSION, EXTENDED (--until).")

    @OptionGroup var options: RegistryOptions
    @Argument(help: "Deployment id.") var id: Int64
    @Option(help: "The new status.") var to: DeploymentStatus
    @Option(help: "The date of the change (default: today).") var on: CalendarDate?
    @Option(help: "New end date for EXTENDED.") var until: CalendarDate?
    @Option(help: "Reason (for REPATRIATED_EARLY).") var reason: String?
    @Option(help: "The mission modules' directory (default: the hub's).") var plugins: String?

    func run() throws {
        let registry: Registry
        if to == .inTransit {
            registry = try RegistryModules(directory: plugins).openRegistry(options)
        } else {
            registry = try options.open()
        }
        let actor = try options.parsedActor()
        let deployment = try registryCall {
            try registry.advanceDeployment(id: id, to: to, on: on ?? .today, newEnd: until, reason: reason, as: actor)
        }
        if options.json {
            try printJSON(deployment)
        } else {
            print("deployment \(id) is \(deployment.status.rawValue)")
        }
    }
}

struct RegistryDeployEnd: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "end", abstract: "End a deployment (or cancel a plan); --early for a repatriation.")

    @OptionGroup var options: RegistryOptions
    @Argument(help: "Deployment id.") var id: Int64
    @Option(help: "The end date (default: today).") var on: CalendarDate?
    @Flag(help: "Repatriated before the planned end.") var early = false
    @Option(help: "Why (for an early repatriation).") var reason: String?

    func run() throws {
        let registry = try options.open()
        let actor = try options.parsedActor()
        let deployment = try registryCall {
            try registry.advanceDeployment(
                id: id, to: early ? .repatriatedEarly : .ended, on: on ?? .today, reason: reason, as: actor)
        }
        if options.json {
            try printJSON(deployment)
        } else {
            print("deployment \(id) is \(deployment.status.rawValue)")
        }
    }
}

struct RegistryDeployList: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List deployments.")

    @OptionGroup var options: RegistryOptions
    @Option(help: "Only this mission.") var mission: String?
    @Option(help: "Only this contingent (its people and its unit).") var contingent: String?
    @Option(help: "Only this status.") var status: DeploymentStatus?

    func run() throws {
        let registry = try options.open(readingOnly: true)
        let list = try registryCall {
            try registry.deployments(mission: mission, contingent: contingent, status: status)
        }
        if options.json {
            try printJSON(list.map { Listed(subject: $0.subject, deployment: $0.deployment) })
            return
        }
        printDeployments(list)
    }

    struct Listed: Encodable {
        var subject: String
        var deployment: Deployment
    }
}
