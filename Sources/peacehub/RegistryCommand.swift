import ArgumentParser
import Foundation
import Logging
import PeaceHubCore
import PeaceHubRegistry

/// `peacehub registry ...`: the shared registry of observers and peacekeepers.
struct RegistryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "registry",
        abstract: "The shared registry of observers and peacekeepers.",
        discussion: """
            Writes act as --as (operator:<name> or a contingent code such as KAZ; default operator:cli). A \
            contingent changes only its own people, equipment and deployments, and sees other contingents' \
            people without date of birth or medical details.
            """,
        subcommands: [
            RegistryPersonCommand.self, RegistryContingentCommand.self, RegistryMissionCommand.self,
            RegistryQualificationCommand.self, RegistryDeployCommand.self, RegistryEquipmentCommand.self,
            RegistryReadiness.self, RegistryReports.self, RegistryImport.self, RegistryExportCommand.self,
            RegistryStats.self,
            RegistryAuditCommand.self, RegistryBackup.self, RegistrySeed.self, RegistryBenchmark.self,
        ]
    )
}

/// Options every registry command takes.
struct RegistryOptions: ParsableArguments {
    @Option(help: "The registry database (default: registry.sqlite in the hub's data directory).")
    var db: String?

    @Option(name: .customLong("as"), help: "Who acts: operator:<name> or a contingent code such as KAZ.")
    var actor = "operator:cli"

    @Flag(help: "Print JSON for scripts.")
    var json = false

    var databasePath: String { db ?? HubPaths.fromEnvironment.registryDatabase.path }

    func parsedActor() throws -> Registry.Actor {
        guard let actor = Registry.Actor(parsing: actor) else {
            throw ValidationError("--as '\(actor)' is neither operator:<name> nor an ISO 3166 alpha-3 contingent code")
        }
        return actor
    }

    /// Opens the registry (migrating it), reporting a migration backup on stderr. The registry, whether named with
    /// `--db` or found in the data directory, must exist unless the command makes one (`creating`: seed,
    /// contingent and mission add), so that a mistyped path is an error, not an empty registry that answers every
    /// read (`audit verify` on a mistyped data directory said "intact").
    /// `readingOnly`: for commands that only read (lists, shows, readiness, export, stats, reports, audit), a file
    /// of the current schema is left byte for byte as it was (`audit verify` on a backup changed its header and
    /// checksum); one of an older schema is migrated first, as by any command.
    func open(
        evaluator: (any ReadinessEvaluating)? = nil, creating: Bool = false, readingOnly: Bool = false
    ) throws -> Registry {
        let path = databasePath
        if !creating, !FileManager.default.fileExists(atPath: path) {
            throw CLIError(
                "no registry at \(path) (registry seed, contingent add and mission add create one)")
        }
        // An empty file (a backup cut short, a `touch`) would become an empty registry, and `audit verify` call it
        // intact.
        if !creating, isEmptyFile(path) {
            throw CLIError("\(path) is empty: not a registry")
        }
        // The migration notice is printed below; the library's log line would repeat it.
        var logger = Logger(label: "peacehub.registry")
        logger.logLevel = .warning
        // An older schema is migrated (a copy kept), as by every command: what the upgrade asks of the first one.
        if readingOnly, try registryCall({ try Registry.check(path: path) }).isEmpty {
            return try registryCall { try Registry(readingOnly: path, evaluator: evaluator, logger: logger) }
        }
        let registry = try registryCall { try Registry(path: path, evaluator: evaluator, logger: logger) }
        if let backup = registry.migrationBackup {
            printError(
                "registry: migrated \(databasePath) to schema \(RegistrySchema.current); "
                    + "the old one is at \(backup.path)")
        }
        return registry
    }
}

/// Runs a registry call, turning a `RegistryError` into one clear line on stderr (after its itemised
/// details, such as every bad import row) and a non-zero exit.
func registryCall<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as RegistryError {
        // The text may quote what a file or a caller sent.
        for detail in error.details { printError(loggableText(detail)) }
        throw CLIError(loggableText(error.description))
    }
}

func printError(_ line: String) {
    StandardStreams.error(Data((line + "\n").utf8))
}

/// Prints `value` as JSON (sorted keys, indented).
func printJSON(_ value: some Encodable) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

/// A dash for an absent value in tables.
func cell(_ value: CustomStringConvertible?) -> String { value.map(\.description) ?? "-" }

extension CalendarDate: ExpressibleByArgument {
    public init?(argument: String) { self.init(argument) }
}

extension PCRSLevel: ExpressibleByArgument {}
extension MissionLifecycle: ExpressibleByArgument {}
extension Sex: ExpressibleByArgument {}
extension PersonCategory: ExpressibleByArgument {}
extension QualificationKind: ExpressibleByArgument {}
extension DeploymentStatus: ExpressibleByArgument {}
extension COEClass: ExpressibleByArgument {}
extension LeaseType: ExpressibleByArgument {}
extension EquipmentStatus: ExpressibleByArgument {}
extension InspectionType: ExpressibleByArgument {}

/// Parses `en:B2;ru:C2`.
func parseLanguages(_ text: String) throws -> [LanguageSkill] {
    try text.split(separator: ";").map { item in
        let parts = item.split(separator: ":")
        guard parts.count == 2, let level = LanguageLevel(rawValue: String(parts[1])) else {
            throw ValidationError("--languages: '\(item)' is not code:LEVEL with a CEFR level (e.g. en:B2)")
        }
        return LanguageSkill(code: String(parts[0]), level: level)
    }
}
