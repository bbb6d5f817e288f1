import ArgumentParser

struct PluginsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "plugins", abstract: "Mission modules.")
}
struct MissionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "mission", abstract: "Run a mission module command.")
}
