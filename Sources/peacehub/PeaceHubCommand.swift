import ArgumentParser

/// `peacehub`: the PeaceHub host service and its tools.
@main
struct PeaceHubCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "peacehub",
        abstract: "The PeaceHub regional peacekeeping hub: mission modules, secure messaging and the shared registry.",
        version: "0.1.0",
        subcommands: [PluginsCommand.self, MissionCommand.self, PKICommand.self, RegistryCommand.self]
    )
}
