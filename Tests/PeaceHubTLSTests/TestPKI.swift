import Foundation
import PeaceHubTLS
import PeaceHubTesting

/// A throwaway hub PKI in its own temporary directory: CA, server certificate for localhost/127.0.0.1 and a
/// KAZ contingent certificate. Made with the project's own PKI code.
struct TestPKI {
    let directory: TemporaryDirectory
    let pki: PKI
    let server: PKIIndex.Entry
    let contingent: PKIIndex.Entry

    init(keyType: PKI.KeyType = .default, caName: String = "PeaceHub CA") throws {
        directory = try TemporaryDirectory(prefix: "phub-tls")
        pki = PKI(directory: directory.url.appendingPathComponent("pki"))
        try pki.initialize(keyType: keyType, commonName: caName)
        server = try pki.issueServer(hosts: ["localhost", "127.0.0.1"], key: .generate(keyType))
        contingent = try pki.issueContingent("KAZ", key: .generate(keyType))
    }

    var caFile: String { pki.caCertificateURL.path }
    var crlFile: String { pki.crlURL.path }

    func path(_ relative: String) -> String { pki.url(relative).path }

    func serverConfiguration() -> TLSConfiguration {
        .server(
            certificateFile: path(server.certificatePath), privateKeyFile: path(server.keyPath!), trustedCAFile: caFile,
            crlFile: crlFile)
    }

    func serverContext() throws -> TLSContext { try TLSContext(configuration: serverConfiguration()) }

    /// A client certificate with arbitrary contents (no PeaceHub SAN, raw bytes, past validity…).
    func issueCustom(
        name: String, subjectCN: [UInt8], uris: [[UInt8]] = [], usage: PKI.Usage = .clientAuth,
        notBefore: Date = Date().addingTimeInterval(-60), notAfter: Date = Date().addingTimeInterval(86400)
    ) throws -> PKIIndex.Entry {
        var request = PKI.CertificateRequest(
            subject: [("O", Array("PeaceHub".utf8)), ("CN", subjectCN)], usage: usage, notBefore: notBefore,
            notAfter: notAfter)
        request.uris = uris
        return try pki.issue(request, name: name)
    }

    func remove() { directory.remove() }
}

/// A private key and a PKCS#10 signing request for it, made by the real `openssl req` as a contingent would make
/// them where the key is to stay: `<stem>.key` and `<stem>.csr` in `directory`. `newKey` is what follows
/// `-newkey` (`["ed25519"]`, `["rsa:2048"]`, `["ec", "-pkeyopt", "ec_paramgen_curve:P-384"]`).
func opensslSigningRequest(
    in directory: URL, stem: String, newKey: [String], extra: [String] = []
) throws -> (key: String, request: String) {
    let key = directory.appendingPathComponent("\(stem).key").path
    let request = directory.appendingPathComponent("\(stem).csr").path
    let result = try ProcessRunner.run(
        "openssl",
        ["req", "-new", "-newkey"] + newKey + ["-nodes", "-keyout", key, "-out", request, "-subj", "/CN=requester"]
            + extra,
        timeout: 60)
    guard result.status == 0 else { throw Clients.ScriptError(description: "openssl req: \(result.stderr)") }
    return (key, request)
}
