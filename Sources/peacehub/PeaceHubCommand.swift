import ArgumentParser
import Foundation
import Logging
import PeaceHubCore
import PeaceHubPlugins
import PeaceHubTLS

/// `peacehub`: the PeaceHub host service and its tools.
@main
struct PeaceHubCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "peacehub",
        abstract: "The PeaceHub regional peacekeeping hub: mission modules, secure messaging and the shared registry.",
        version: ProductVersion.current,
        subcommands: [
            ServeCommand.self, PubCommand.self, SubCommand.self, PluginsCommand.self, MissionCommand.self,
            PKICommand.self, RegistryCommand.self,
        ]
    )

    /// Logs go to standard error. Tools print only warnings unless `PEACEHUB_LOG_LEVEL` says
    /// otherwise (trace, debug, info, notice, warning, error, critical); `serve` sets up its
    /// own logging from its configuration (level and text or JSON lines).
    static func main() async {
        StandardStreams.prepare()
        // A SIGHUP while the hub starts (`systemctl reload` right after `start`) must not end it: ignored before
        // the arguments are even parsed, until the reloader's handler is in place (`ServeCommand`).
        // A SIGQUIT before the drain's handler is in place ends the hub at once, as SIGTERM and SIGINT do: the
        // Swift runtime's own handler let it start and serve as if nothing had been asked. SIGUSR1 and SIGUSR2 mean
        // nothing to the hub, at any time (`UserSignalNotices`).
        if CommandLine.arguments.dropFirst().first == "serve" {
            signal(SIGHUP, SIG_IGN)
            signal(SIGQUIT, SIG_DFL)
            signal(SIGUSR1, SIG_IGN)
            signal(SIGUSR2, SIG_IGN)
        }
        var parsed: any ParsableCommand.Type = Self.self
        do {
            let arguments = CommandLine.arguments.dropFirst()
            if arguments.first == "help", let unknown = unknownCommand(in: arguments.dropFirst()) {
                // The parser printed the top-level help and exited 0, where `peacehub nosuch` is an error.
                throw ValidationError("help: no command '\(unknown)'")
            }
            var command = try parseAsRoot()
            parsed = type(of: command)
            // Every command of ours hashes, signs or speaks TLS through the system OpenSSL; the parser's own (help)
            // needs none, and must work while an operator mends openssl.cnf.
            if String(reflecting: type(of: command)).hasPrefix("peacehub.") { try CryptoLibrary.checkUsable() }
            if !(command is ServeCommand) {
                var level = Logger.Level.warning
                if let text = ProcessInfo.processInfo.environment["PEACEHUB_LOG_LEVEL"] {
                    // Refused as `serve` refuses it, rather than silently ignored.
                    guard let named = Logger.Level(rawValue: text) else {
                        let levels = Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")
                        throw CLIError("PEACEHUB_LOG_LEVEL is '\(text)', not one of \(levels)")
                    }
                    level = named
                }
                LoggingSystem.bootstrapText(level: level)
                // An empty directory would be the working directory here, where `serve` refuses it.
                let directories = [
                    "PEACEHUB_DATA_DIRECTORY", "PEACEHUB_DATA_DIR", "PEACEHUB_PLUGINS_DIRECTORY",
                    "PEACEHUB_PLUGINS_DIR",
                ]
                for name in directories where ProcessInfo.processInfo.environment[name] == "" {
                    throw CLIError("\(name) is empty: name the directory, or unset the variable")
                }
            }
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            if PluginHost.libraryLoaderHeld {
                StandardStreams.error(Data((fullMessage(for: error) + "\n").utf8))
                endWithoutExitHandlers(exitCode(for: error).rawValue)
            }
            // A value refused in `run()`: the parser would print the top level's usage, not the command's.
            if let refused = error as? ValidationError, ObjectIdentifier(parsed) != ObjectIdentifier(Self.self) {
                let usage = usageString(for: parsed)
                StandardStreams.error(Data("Error: \(refused.message)\nUsage: \(usage)\n".utf8))
                Foundation.exit(ExitCode.validationFailure.rawValue)
            }
            exit(withError: error)
        }
        if PluginHost.libraryLoaderHeld { endWithoutExitHandlers(0) }
    }

    /// The first name in `path` that is not a subcommand of the command named before it, if any.
    private static func unknownCommand(in path: ArraySlice<String>) -> String? {
        var command: any ParsableCommand.Type = PeaceHubCommand.self
        // `help help` is the parser's own command, as `git help help` is git's.
        for name in path where !name.hasPrefix("-") && !(name == "help" && command == PeaceHubCommand.self) {
            guard let next = command.configuration.subcommands.first(where: { $0._commandName == name }) else {
                return name
            }
            command = next
        }
        return nil
    }

    /// `exit` runs the libraries' finalizers, which wait for the system's loader lock: a library hung in its
    /// initializers holds it for ever. `_exit` ends the process all the same, once the output is flushed.
    private static func endWithoutExitHandlers(_ status: Int32) -> Never {
        fflush(nil)
        _exit(status)
    }
}
