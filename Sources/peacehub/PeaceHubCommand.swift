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
        do {
            var command = try parseAsRoot()
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
            }
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            if PluginHost.libraryLoaderHeld {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                endWithoutExitHandlers(exitCode(for: error).rawValue)
            }
            exit(withError: error)
        }
        if PluginHost.libraryLoaderHeld { endWithoutExitHandlers(0) }
    }

    /// `exit` runs the libraries' finalizers, which wait for the system's loader lock: a library hung in its
    /// initializers holds it for ever. `_exit` ends the process all the same, once the output is flushed.
    private static func endWithoutExitHandlers(_ status: Int32) -> Never {
        fflush(nil)
        _exit(status)
    }
}
