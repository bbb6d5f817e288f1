import ArgumentParser

/// `peacehub registry ...` (being written: registry issue).
struct RegistryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "registry", abstract: "The shared registry.")
}
