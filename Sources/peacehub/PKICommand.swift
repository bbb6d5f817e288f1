import ArgumentParser
import Foundation
import PeaceHubCore
import PeaceHubTLS

/// `peacehub pki ...`: the hub CA, certificates for the listener, contingents and operators, revocation.
struct PKICommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pki",
        abstract: "Manage the hub's PKI: CA, server, contingent and operator certificates, CRL.",
        subcommands: [
            PKIInit.self, PKIIssueServer.self, PKIIssue.self, PKIRevoke.self, PKICRL.self, PKIList.self,
            PKIVerify.self,
        ]
    )
}

/// `--dir`, shared by every pki command.
struct PKIDirectoryOption: ParsableArguments {
    @Option(name: .customLong("dir"), help: "The PKI directory (default: the hub's, under PEACEHUB_DATA_DIRECTORY).")
    var directory: String?

    func validate() throws {
        if directory?.isEmpty == true { throw ValidationError("--dir is empty: name the PKI directory") }
    }

    var pki: PKI {
        let paths = HubPaths.fromEnvironment
        return PKI(
            directory: directory.map { URL(fileURLWithPath: $0) } ?? paths.pkiDirectory,
            revocationRecord: paths.crlRecordFile)
    }
}

extension PKI.KeyType: ExpressibleByArgument {}
extension PKI.RevocationReason: ExpressibleByArgument {}

/// Runs a PKI operation alone on its directory (`PKI.exclusively`), turning its error into one line on stderr and
/// a non-zero exit.
private func runPKI<T>(_ pki: PKI, writing: Bool = true, _ body: () throws(PKIError) -> T) throws -> T {
    // Root writing into the hub user's PKI (or the data directory it will be made in): the keys it writes are
    // root's, 0600, and the hub cannot read them (its next reload fails). Said before the files are written.
    var folder = stat()
    var nearest = pki.directory
    while stat(nearest.path, &folder) != 0, nearest.pathComponents.count > 1 { nearest.deleteLastPathComponent() }
    if writing, geteuid() == 0, stat(nearest.path, &folder) == 0, folder.st_uid != 0 {
        printError(
            "warning: running as root on \(nearest.path), which belongs to uid \(folder.st_uid): the files "
                + "written are root's, and a hub running as that user cannot read the keys among them; run "
                + "`runuser -u <user> -- peacehub pki ...` instead")
    }
    do {
        return try pki.exclusively(body)
    } catch {
        throw CLIError(error.reason)
    }
}

private func describe(_ entry: PKIIndex.Entry, in pki: PKI) -> String {
    "serial \(entry.serial), valid until \(ISO8601DateFormatter().string(from: entry.notAfter)): "
        + "\(pki.url(entry.certificatePath).path), "
        + (entry.keyPath.map { "key \(pki.url($0).path)" } ?? "key kept by the requester")
}

/// `--key-type` or `--csr`: where a new certificate's key comes from.
struct SubjectKeyOptions: ParsableArguments {
    @Option(help: "Key type of a new key pair: p256 (ECDSA P-256, the default) or ed25519.")
    var keyType: PKI.KeyType?

    @Option(
        help: ArgumentHelp(
            "A PKCS#10 signing request (PEM or DER) made where the key is kept: the certificate carries its "
                + "public key, no key is written, and the names come from this command, not the request.",
            valueName: "file"))
    var csr: String?

    func validate() throws {
        if keyType != nil && csr != nil { throw ValidationError("give --key-type or --csr, not both") }
    }

    func subjectKey() throws -> PKI.SubjectKey {
        guard let csr else { return .generate(keyType ?? .default) }
        guard let data = FileManager.default.contents(atPath: csr) else {
            throw CLIError("cannot read the signing request \(csr)")
        }
        return .signingRequest(data)
    }
}

struct PKIInit: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init", abstract: "Create the hub CA, an empty CRL and the index.")

    @OptionGroup var location: PKIDirectoryOption

    @Option(help: "CA key type: p256 (ECDSA P-256) or ed25519.")
    var keyType: PKI.KeyType = .default

    @Option(help: "The CA's common name.")
    var commonName = "PeaceHub CA"

    // `.unconditional`: `--days -1` is a bad number of days, refused as one, not a missing value.
    @Option(parsing: .unconditional, help: "Days the CA certificate is valid.")
    var days = 3650

    @Flag(help: "Replace an existing CA (every certificate it issued stops working).")
    var force = false

    func run() throws {
        let pki = location.pki
        let index = try runPKI(pki) { () throws(PKIError) in
            try pki.initialize(keyType: keyType, commonName: commonName, days: days, force: force)
        }
        print("hub CA created: serial \(index.caSerial) (\(keyType.rawValue)): \(pki.caCertificateURL.path)")
        print("CRL: \(pki.crlURL.path)")
    }
}

struct PKIIssueServer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "issue-server", abstract: "Issue the hub listener's certificate (serverAuth).")

    @OptionGroup var location: PKIDirectoryOption

    @Option(name: .customLong("host"), help: "A DNS name or IP address of the hub (repeat for more).")
    var hosts: [String] = []

    @OptionGroup var key: SubjectKeyOptions

    @Option(parsing: .unconditional, help: "Days the certificate is valid.")
    var days = 825

    @Flag(help: "Replace an existing certificate and key of that name.")
    var force = false

    func run() throws {
        let pki = location.pki
        let key = try key.subjectKey()
        let entry = try runPKI(pki) { () throws(PKIError) in
            try pki.issueServer(hosts: hosts, key: key, days: days, force: force)
        }
        print("server certificate for \(hosts.joined(separator: ", ")): \(describe(entry, in: pki))")
        if entry.name != "localhost" {
            print("the hub serves it with tls.serverName \"\(entry.name)\" (PEACEHUB_TLS_SERVER_NAME=\(entry.name))")
        }
    }
}

struct PKIIssue: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "issue", abstract: "Issue a contingent's or an operator's client certificate (clientAuth).")

    @OptionGroup var location: PKIDirectoryOption

    @Option(help: "The contingent's ISO 3166 alpha-3 code, e.g. KAZ.")
    var contingent: String?

    @Option(help: "A device name, for several certificates per contingent.")
    var device: String?

    @Option(name: .customLong("operator"), help: "An operator's name (instead of --contingent).")
    var operatorName: String?

    @OptionGroup var key: SubjectKeyOptions

    @Option(parsing: .unconditional, help: "Days the certificate is valid.")
    var days = 365

    @Flag(help: "Replace an existing certificate and key of that name.")
    var force = false

    func validate() throws {
        guard (contingent == nil) != (operatorName == nil) else {
            throw ValidationError("give exactly one of --contingent CODE or --operator NAME")
        }
        if device != nil && contingent == nil { throw ValidationError("--device goes with --contingent") }
    }

    func run() throws {
        let pki = location.pki
        let key = try key.subjectKey()
        if let contingent {
            let entry = try runPKI(pki) { () throws(PKIError) in
                try pki.issueContingent(contingent, device: device, key: key, days: days, force: force)
            }
            print("contingent \(contingent) certificate: \(describe(entry, in: pki))")
        } else if let operatorName {
            let entry = try runPKI(pki) { () throws(PKIError) in
                try pki.issueOperator(operatorName, key: key, days: days, force: force)
            }
            print("operator \(operatorName) certificate: \(describe(entry, in: pki))")
        }
    }
}

struct PKIRevoke: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "revoke", abstract: "Revoke a certificate (or all of a contingent's) and rewrite the CRL.")

    @OptionGroup var location: PKIDirectoryOption

    @Argument(help: "The serial number (hex) to revoke.")
    var serial: String?

    @Option(help: "Revoke every certificate of this contingent instead.")
    var contingent: String?

    @Option(help: "The reason the CRL gives (RFC 5280 CRLReason).")
    var reason: PKI.RevocationReason = .unspecified

    func validate() throws {
        guard (serial == nil) != (contingent == nil) else {
            throw ValidationError("give exactly one of SERIAL or --contingent CODE")
        }
    }

    func run() throws {
        let pki = location.pki
        let revoked = try runPKI(pki) { () throws(PKIError) in
            if let contingent { return try pki.revoke(contingent: contingent, reason: reason) }
            return try pki.revoke(serial: serial ?? "", reason: reason)
        }
        if revoked.isEmpty {
            print("already revoked (its first date and reason are kept); CRL rewritten: \(pki.crlURL.path)")
        }
        for entry in revoked {
            print("revoked \(entry.serial) (\(entry.kind.rawValue) \(entry.name))")
            // The hub's record knew it revoked (a restored backup of the index): its first date and reason stand.
            let first = entry.revokedAt.map { Date().timeIntervalSince($0) > 60 } ?? false
            if first || entry.revocationReason != reason {
                let date = entry.revokedAt.map { ISO8601DateFormatter().string(from: $0) } ?? "?"
                let why = entry.revocationReason?.rawValue ?? "unspecified"
                print("  as first published on \(date), reason \(why): a revocation keeps its first date and reason")
            }
        }
        if !revoked.isEmpty {
            print(
                "CRL rewritten: \(pki.crlURL.path) (a hub watching it reloads it within a second, otherwise at "
                    + "SIGHUP, and closes those sessions)")
        }
    }
}

struct PKICRL: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crl", abstract: "Write a new CRL; run it before nextUpdate or every client is refused.")

    @OptionGroup var location: PKIDirectoryOption

    @Option(
        parsing: .unconditional, help: "Days until the CRL's nextUpdate (default: the last value used, initially 30).")
    var days: Int?

    func run() throws {
        let pki = location.pki
        let crl = try runPKI(pki) { () throws(PKIError) in try pki.writeCRL(days: days) }
        let next = ISO8601DateFormatter().string(from: crl.nextUpdate)
        print("CRL \(crl.number) written: \(pki.crlURL.path), \(crl.revocations) revoked, nextUpdate \(next)")
    }
}

struct PKIList: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List issued and revoked certificates with their expiry.")

    @OptionGroup var location: PKIDirectoryOption

    @Flag(help: "Print the index as JSON.")
    var json = false

    func run() throws {
        let pki = location.pki
        let index = try runPKI(pki, writing: false) { () throws(PKIError) in try pki.list() }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            encoder.dateEncodingStrategy = .iso8601
            print(String(decoding: try encoder.encode(index), as: UTF8.self))
            return
        }
        let formatter = ISO8601DateFormatter()
        let now = Date()
        let rows = index.certificates.map { entry in
            let reason = entry.revocationReason.flatMap { $0 == .unspecified ? nil : " (\($0.rawValue))" } ?? ""
            let status = entry.isRevoked ? "revoked" + reason : entry.notAfter < now ? "expired" : "valid"
            return [entry.serial, entry.kind.rawValue, entry.name, formatter.string(from: entry.notAfter), status]
        }
        printTable(headers: ["SERIAL", "KIND", "NAME", "EXPIRES", "STATUS"], rows: rows)
        let next = index.crlNextUpdate.map { formatter.string(from: $0) } ?? "?"
        print("CA serial \(index.caSerial); CRL \(index.crlNumber), nextUpdate \(next)")
    }
}

/// `pki verify`: what the listener would decide about a client certificate, with the same checks (chain to the hub
/// CA, validity, CRL, clientAuth purpose, the principal it names), for an operator asking why a client is refused.
struct PKIVerify: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check a client certificate as the hub's listener would; exit 1 when it would be refused.")

    @OptionGroup var location: PKIDirectoryOption

    @Argument(
        help: ArgumentHelp(
            "The certificate (PEM, with any intermediates after it, or DER); a path not found here is looked for in "
                + "the PKI directory (contingents/KAZ.pem)."))
    var certificate: String

    @Option(help: "Check at this time instead of now (ISO 8601: 2027-06-01 or 2027-06-01T12:00:00Z).")
    var at: String?

    func run() throws {
        let pki = location.pki
        var date: Date?
        if let at {
            let full = ISO8601DateFormatter()
            let day = ISO8601DateFormatter()
            day.formatOptions = [.withFullDate]
            guard let parsed = full.date(from: at) ?? day.date(from: at) else {
                throw CLIError("--at \(at) is not an ISO 8601 date (2027-06-01 or 2027-06-01T12:00:00Z)")
            }
            date = parsed
        }
        // A relative path is also looked for in the PKI directory (`contingents/KAZ.pem`); an absolute one is not.
        let inPKI = certificate.hasPrefix("/") ? nil : pki.url(certificate).path
        let files = FileManager.default
        guard let data = files.contents(atPath: certificate) ?? inPKI.flatMap(files.contents(atPath:)) else {
            throw CLIError("cannot read the certificate \(certificate)" + (inPKI.map { " (nor \($0))" } ?? ""))
        }
        let verifier: TLSContext
        do {
            verifier = try TLSContext.clientVerifier(trustedCAFile: pki.caCertificateURL.path, crlFile: pki.crlURL.path)
        } catch {
            throw CLIError(error.reason)
        }
        switch verifier.verifyClientCertificate(data, at: date) {
        case .failure(let error):
            throw CLIError("refused: \(error.reason)")
        case .success(let accepted):
            let formatter = ISO8601DateFormatter()
            let validity = [accepted.notBefore, accepted.notAfter].map { $0.map(formatter.string) ?? "?" }
            print("accepted: \(accepted.principal)")
            print("subject   \(accepted.subject)")
            print("serial    \(accepted.serial)")
            print("valid     \(validity[0]) to \(validity[1])")
            print("spki      sha256:\(accepted.spkiSHA256)")
        }
    }
}
