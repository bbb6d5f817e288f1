import ArgumentParser
import Foundation
import PeaceHubCore
import PeaceHubPlugins

/// `peacehub mission CODE COMMAND [ARGS...]`: runs a mission module's command through the host,
/// exactly as the admin API does.
struct MissionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mission",
        abstract: "Run a mission module's command (describe, requirements, geocheck LAT LON, validate-report FILE).",
        discussion: """
            Positional arguments are mapped per command: `geocheck LAT LON` becomes {"lat": LAT, "lon": LON}, \
            `validate-report FILE` passes the JSON document in FILE; any other command takes --args JSON.
            """
    )

    @Argument(help: "The mission code, e.g. UNIFIL.")
    var mission: String

    @Argument(help: "The module command.")
    var command: String

    /// Collected as they come, so that a negative number (MINURSO's longitudes: `geocheck 26.0 -11.0`) is a value,
    /// not an unknown option.
    @Argument(parsing: .allUnrecognized, help: "The command's positional arguments.")
    var values: [String] = []

    @Option(help: "The command's arguments as a JSON object.")
    var args: String?

    @Option(help: "The plugins directory (default: the hub's).")
    var plugins: String?

    @Flag(help: "Print the module's JSON result.")
    var json = false

    func run() throws {
        let folder = plugins.map { URL(fileURLWithPath: $0) } ?? HubPaths.fromEnvironment.pluginsDirectory
        let host = PluginHost(trying: HostServices())
        let refusals = host.loadDirectory(folder)
        guard let module = host.module(forMission: mission) else {
            let why = refusals.map(\.description).joined(separator: "\n")
            throw CLIError("no module for mission \(mission.uppercased()) in \(folder.path)\(why.isEmpty ? "" : "\n\(why)")")
        }
        let result = try module.command(command, arguments: try arguments())
        if json {
            print(String(decoding: result.jsonData, as: UTF8.self))
        } else {
            printHuman(result)
        }
    }

    /// The JSON arguments for the module, from `--args` or the positional values.
    private func arguments() throws -> JSONValue {
        if let args {
            guard let value = try? JSONValue(parsing: Data(args.utf8)), value.objectValue != nil else {
                throw CLIError("--args must be a JSON object")
            }
            return value
        }
        // `--` ends the options, as it does for other tools: what follows is a value whatever it starts with.
        let end = self.values.firstIndex(of: "--") ?? self.values.endIndex
        if let option = self.values[..<end].first(where: { $0.hasPrefix("-") && Double($0) == nil }) {
            throw CLIError("unknown option '\(option)'")
        }
        var values = self.values
        if end < values.endIndex { values.remove(at: end) }
        switch (command, values.count) {
        case ("geocheck", 2):
            guard let lat = Double(values[0]), let lon = Double(values[1]) else {
                throw CLIError("geocheck takes LAT LON in decimal degrees, e.g. 33.27 35.5")
            }
            return ["lat": .number(lat), "lon": .number(lon)]
        case ("geocheck", _):
            throw CLIError("geocheck takes LAT LON in decimal degrees, e.g. 33.27 35.5")
        case ("validate-report", 1):
            guard let data = FileManager.default.contents(atPath: values[0]) else {
                throw CLIError("cannot read \(values[0])")
            }
            do {
                return try JSONValue(parsing: data)
            } catch {
                throw CLIError("\(values[0]) is not valid JSON: \(error)")
            }
        case ("validate-report", _):
            throw CLIError("validate-report takes one FILE holding the report as JSON")
        case (_, 0):
            return [:]
        default:
            throw CLIError("'\(command)' takes no positional arguments; pass --args JSON")
        }
    }

    /// Prints a JSON result as indented `key: value` lines.
    private func printHuman(_ value: JSONValue, indent: String = "") {
        switch value {
        case .object(let members):
            for key in members.keys.sorted() {
                guard let member = members[key] else { continue }
                if member.objectValue != nil || member.arrayValue != nil {
                    print("\(indent)\(key):")
                    printHuman(member, indent: indent + "  ")
                } else {
                    print("\(indent)\(key): \(scalar(member))")
                }
            }
        case .array(let items):
            for item in items {
                if item.objectValue != nil || item.arrayValue != nil {
                    print("\(indent)-")
                    printHuman(item, indent: indent + "  ")
                } else {
                    print("\(indent)- \(scalar(item))")
                }
            }
        default:
            print("\(indent)\(scalar(value))")
        }
    }

    private func scalar(_ value: JSONValue) -> String {
        switch value {
        case .string(let text): text
        case .number(let number): number == number.rounded() && abs(number) < 1e15 ? String(Int(number)) : String(number)
        case .bool(let flag): flag ? "true" : "false"
        case .null: "null"
        default: String(decoding: value.jsonData, as: UTF8.self)
        }
    }
}
