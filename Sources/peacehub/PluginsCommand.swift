import ArgumentParser
import Foundation
import PeaceHubCore
import PeaceHubPlugins

/// `peacehub plugins ...`: tools for module authors and operators.
struct PluginsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plugins",
        abstract: "List, inspect, check and scaffold mission modules.",
        subcommands: [
            PluginsList.self, PluginsInspect.self, PluginsCheck.self, PluginsNew.self, PluginsManifest.self,
            PluginsProbe.self, PluginsOpen.self,
        ]
    )
}

/// Finds the manifest for `path`: the path itself when it is a manifest, else the manifest in
/// the same folder whose `library` is that file.
func manifestURL(for path: String) throws -> URL {
    let url = URL(fileURLWithPath: path).standardizedFileURL
    if path.hasSuffix(PluginManifest.fileSuffix) { return url }
    let folder = url.deletingLastPathComponent()
    let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
    var unreadable: [String] = []
    for name in names.sorted() where name.hasSuffix(PluginManifest.fileSuffix) {
        let candidate = folder.appendingPathComponent(name)
        do {
            if try PluginManifest.read(from: candidate).library == url.lastPathComponent { return candidate }
        } catch {
            unreadable.append("\(name): \(error.reason)")
        }
    }
    // A manifest the host refuses may well be the one meant: say why, rather than only that none was found.
    let refused = unreadable.isEmpty ? "" : "; refused beside it: " + unreadable.joined(separator: "; ")
    throw CLIError("no manifest (*\(PluginManifest.fileSuffix)) beside \(path) names it as its library" + refused)
}

struct PluginsList: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List the modules in a plugins directory (manifests and checksums; no code runs).")

    @Argument(help: "The plugins directory (default: the hub's).")
    var directory: String?

    @Flag(help: "Print JSON for scripts.")
    var json = false

    func run() throws {
        let folder = directory.map { URL(fileURLWithPath: $0) } ?? HubPaths.fromEnvironment.pluginsDirectory
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder.path) else {
            throw CLIError("cannot read the plugins directory \(folder.path)")
        }
        var rows: [[String: JSONValue]] = []
        // The host loads manifests in this order and keeps the first module of each mission and id.
        var first: [String: String] = [:]
        for name in names.sorted() where name.hasSuffix(PluginManifest.fileSuffix) {
            let url = folder.appendingPathComponent(name)
            do {
                let manifest = try PluginManifest.read(from: url)
                let status: String
                do {
                    _ = try PluginLoader.checkBeforeOpening(manifest: url)
                    if let earlier = first["mission " + manifest.mission] ?? first["id " + manifest.id] {
                        status = "duplicate: \(earlier) loads first"
                    } else {
                        status = "ok"
                        first["mission " + manifest.mission] = name
                        first["id " + manifest.id] = name
                    }
                } catch {
                    switch error.code {
                    case .abiMismatch: status = "ABI \(manifest.abiMajor).x: the host speaks \(HostABI.major).x"
                    case .checksumMismatch: status = "checksum mismatch"
                    case .openFailed: status = "library missing"
                    default: status = "invalid: \(error.reason)"
                    }
                }
                rows.append([
                    "manifest": .string(name), "id": .string(manifest.id), "mission": .string(manifest.mission),
                    "abi": .string("\(manifest.abiMajor).\(manifest.abiMinor)"), "library": .string(manifest.library),
                    "status": .string(status),
                ])
            } catch {
                // Unreadable: no id or mission to tell it by, so the status names the file.
                rows.append(["manifest": .string(name), "status": .string("invalid: \(name): \(error.reason)")])
            }
        }
        if json {
            print(String(decoding: JSONValue.array(rows.map(JSONValue.object)).jsonData, as: UTF8.self))
            return
        }
        printTable(
            headers: ["MISSION", "ID", "ABI", "LIBRARY", "STATUS"],
            rows: rows.map { row in
                ["mission", "id", "abi", "library", "status"].map { row[$0]?.stringValue ?? "-" }
            })
    }
}

/// `plugins inspect`: opening a library runs its code (initializers and the entry point), so the library is
/// opened in a child process (`plugins open`) and a module that crashes or hangs there gets a verdict.
struct PluginsInspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show a module's manifest, ABI and table functions (opened in a child process; no instance is made).")

    @Argument(help: "The module's manifest or library file.")
    var file: String

    @Flag(help: "Print JSON for scripts.")
    var json = false

    @Option(help: "Seconds the library may take to open before the module counts as hung.")
    var timeout: Double = 10

    func run() throws {
        let manifest = try manifestURL(for: file)
        var (described, refused) = (false, false)
        let end = try ChildCommand.run(
            ["plugins", "open", manifest.path] + (json ? ["--json"] : []), silenceLimit: timeout,
            standardError: .standardError
        ) { line in
            if line == PluginsOpen.refusal {
                refused = true
            } else {
                described = true
                print(line)
            }
        }
        let place =
            "while its library was opened (its initializers, phub_plugin_entry_v1, or the host reading its table)"
        switch end {
        case .exited(0) where !described:
            throw CLIError("the module ended the process (exit status 0) \(place)")
        case .exited(0): return
        // The child printed why on stderr.
        case .exited(1) where refused: throw ExitCode(1)
        case .exited(let status): throw CLIError("the module ended the process (exit status \(status)) \(place)")
        case .crashed(let signal):
            throw CLIError("the module crashed with signal \(signal) (\(signalName(signal))) \(place)")
        case .silent: throw CLIError("the module hung for more than \(formatSeconds(timeout)) \(place)")
        }
    }
}

/// `plugins open`: the child side of `plugins inspect`, which opens the library in this process.
struct PluginsOpen: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "open", abstract: "Open a module and describe it in this process (used by 'plugins inspect').",
        shouldDisplay: false)

    @Argument var manifest: String
    @Flag var json = false

    /// The line that tells the parent the host refused the module (the reason follows on stderr): an exit status
    /// alone could come from the library's own `exit`.
    static let refusal = "refused"

    func run() throws {
        let report = ChildReport()
        let opened: OpenedModule
        do {
            opened = try PluginLoader.open(manifest: URL(fileURLWithPath: manifest))
        } catch {
            report.line(Self.refusal)
            throw error
        }
        let functions = opened.functions
        if json {
            let result: JSONValue = [
                "manifest": .string(opened.manifestPath), "library": .string(opened.libraryPath),
                "dataDirectory": .string(opened.dataDirectory), "id": .string(opened.id),
                "mission": .string(opened.mission), "version": .string(opened.version),
                "displayName": .string(opened.displayName),
                "manifestABI": .string("\(opened.manifest.abiMajor).\(opened.manifest.abiMinor)"),
                "tableABI": .string(opened.tableABI), "hostABI": .string(HostABI.versionString),
                "tableSize": .number(Double(opened.tableSize)), "sha256": .string(opened.manifest.sha256),
                "functions": .object(Dictionary(uniqueKeysWithValues: functions.map { ($0.name, .bool($0.present)) })),
            ]
            report.line(String(decoding: result.jsonData, as: UTF8.self))
            return
        }
        // The module's own texts may hold control characters: escaped, never sent to the operator's terminal.
        report.line("module       \(opened.id) \(loggableText(opened.version)) (\(loggableText(opened.displayName)))")
        report.line("mission      \(opened.mission)")
        report.line("manifest     \(opened.manifestPath)")
        report.line("library      \(opened.libraryPath)")
        report.line("data         \(opened.dataDirectory)")
        report.line("sha256       \(opened.manifest.sha256) (verified)")
        report.line(
            "ABI          manifest \(opened.manifest.abiMajor).\(opened.manifest.abiMinor), table \(opened.tableABI), "
                + "host \(HostABI.versionString); table \(opened.tableSize) bytes")
        report.line("functions")
        for function in functions {
            report.line("  \(function.present ? "present" : "absent ")  \(function.name)")
        }
    }
}

struct PluginsManifest: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "manifest",
        abstract: "Write the manifest <id>.plugin.json beside a module library, with its SHA-256.")

    @Argument(help: "The module's library file.")
    var library: String

    @Option(help: "The module's id (as in its table), e.g. org.peacehub.unifil.")
    var id: String

    @Option(help: "The mission code (as in its table), e.g. UNIFIL.")
    var mission: String

    @Option(help: "The module's data folder, relative to the library's folder.")
    var data: String?

    @Option(help: "The ABI the module was built for, MAJOR.MINOR (default: this host's).")
    var abi: String = HostABI.versionString

    func run() throws {
        let url = URL(fileURLWithPath: library).standardizedFileURL
        let parts = abi.split(separator: ".").compactMap { UInt32($0) }
        guard parts.count == 2 else { throw CLIError("--abi must be MAJOR.MINOR, e.g. 1.0") }
        guard let digest = PluginManifest.checksum(ofLibraryAt: url.path) else {
            throw CLIError("cannot read the library \(url.path)")
        }
        let manifest = PluginManifest(
            id: id, mission: mission, abiMajor: parts[0], abiMinor: parts[1], library: url.lastPathComponent,
            sha256: digest, data: data)
        let folder = url.deletingLastPathComponent()
        let target = folder.appendingPathComponent(id + PluginManifest.fileSuffix)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        // Read back through the host's own checks before it takes the manifest's name, so a bad id, mission or
        // data folder fails here and leaves no manifest the host would refuse.
        let draft = folder.appendingPathComponent(".\(UUID().uuidString).plugin.json.tmp")
        try encoder.encode(manifest).write(to: draft)
        do {
            _ = try PluginManifest.read(from: draft)
            guard rename(draft.path, target.path) == 0 else {
                throw CLIError("cannot write \(target.path): \(String(cString: strerror(errno)))")
            }
        } catch let error as PluginLoadError {
            try? FileManager.default.removeItem(at: draft)
            throw CLIError("the host would refuse \(target.path): \(error.reason); nothing was written")
        } catch {
            try? FileManager.default.removeItem(at: draft)
            throw error
        }
        print(target.path)
    }
}
