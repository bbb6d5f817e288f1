import ArgumentParser

/// `peacehub pki ...` (being written: TLS issue).
struct PKICommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "pki", abstract: "Manage the hub's PKI.")
}
