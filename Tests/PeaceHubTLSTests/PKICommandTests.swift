import Foundation
import PeaceHubTesting
import Synchronization
import Testing

/// `peacehub pki …` run as a real program (the built binary; PEACEHUB_BIN_DIR points to it).
@Suite struct PKICommandTests {
    private func peacehub(_ arguments: [String]) throws -> ProcessResult {
        try ProcessRunner.peacehub(["pki"] + arguments, timeout: 120)
    }

    /// Commands run at once take turns on the directory: eight issued and eight revoked in parallel kept 4 of the
    /// 8 certificates in the index and 3 of the 8 revocations in the CRL, under repeated CRL numbers.
    @Test func commandsRunAtOnceLoseNothing() throws {
        let directory = try TemporaryDirectory(prefix: "phub-pki-parallel")
        defer { directory.remove() }
        let dir = directory.path("pki")
        #expect(try peacehub(["init", "--dir", dir]).status == 0)
        func inParallel(_ commands: [[String]]) throws {
            let results = Mutex<[(status: Int32, stderr: String)]>([])
            DispatchQueue.concurrentPerform(iterations: commands.count) { index in
                let result = try? peacehub(commands[index])
                results.withLock { $0.append((result?.status ?? -1, result?.stderr ?? "did not run")) }
            }
            for result in results.withLock({ $0 }) { #expect(result.status == 0, "\(result.stderr)") }
        }
        let devices = (1...8).map { "d\($0)" }
        try inParallel(devices.map { ["issue", "--dir", dir, "--contingent", "KAZ", "--device", $0] })
        let listed = try peacehub(["list", "--dir", dir, "--json"])
        let index = try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [String: Any]
        let serials = (index?["certificates"] as? [[String: Any]] ?? []).compactMap { $0["serial"] as? String }
        #expect(serials.count == 8)
        try inParallel(serials.map { ["revoke", "--dir", dir, $0] })
        let crl = try ProcessRunner.run("openssl", ["crl", "-in", "\(dir)/crl.pem", "-noout", "-text"], timeout: 60)
        #expect(crl.stdout.components(separatedBy: "Serial Number:").count - 1 == 8, "\(crl.stdout)")
        let number = crl.stdout.components(separatedBy: "CRL Number:").dropFirst().first?
            .split(whereSeparator: \.isWhitespace).first
        #expect(number == "9", "one number per CRL written (init and eight revocations): \(crl.stdout)")
    }

    /// The commands find the data directory by the variable `serve` documents first, PEACEHUB_DATA_DIRECTORY, as
    /// well as by the older PEACEHUB_DATA_DIR: they looked in ./var, where `registry audit verify` then made an
    /// empty registry and called it intact.
    @Test func theDataDirectoryVariableOfTheConfigurationIsHonoured() throws {
        let directory = try TemporaryDirectory(prefix: "phub-pki-env")
        defer { directory.remove() }
        let data = directory.path("data")
        let created = try ProcessRunner.peacehub(
            ["pki", "init"], environment: ["PEACEHUB_DATA_DIRECTORY": data], currentDirectory: directory.url)
        #expect(created.status == 0, "\(created.stderr)")
        #expect(FileManager.default.fileExists(atPath: "\(data)/pki/ca.pem"))
        #expect(!FileManager.default.fileExists(atPath: directory.path("var")))
    }

    /// A key of no named type is ECDSA P-256, TLS 1.3's mandatory-to-implement signature; Ed25519 when asked.
    @Test func newKeysAreP256UnlessNamed() throws {
        let directory = try TemporaryDirectory(prefix: "phub-pki-keytype")
        defer { directory.remove() }
        let dir = directory.path("pki")
        let created = try peacehub(["init", "--dir", dir])
        #expect(created.status == 0 && created.stdout.contains("(p256)"), "\(created.stdout) \(created.stderr)")
        #expect(try peacehub(["issue-server", "--dir", dir, "--host", "localhost"]).status == 0)
        #expect(try peacehub(["issue", "--dir", dir, "--contingent", "KAZ"]).status == 0)
        #expect(try peacehub(["issue", "--dir", dir, "--contingent", "IND", "--key-type", "ed25519"]).status == 0)
        func publicKey(_ certificate: String) throws -> String {
            let text = try ProcessRunner.run("openssl", ["x509", "-in", "\(dir)/\(certificate)", "-noout", "-text"])
            return text.stdout.split(separator: "\n").first { $0.contains("Public Key Algorithm") }
                .map { String($0.split(separator: ":").last ?? "").trimmingCharacters(in: .whitespaces) } ?? ""
        }
        for certificate in ["ca.pem", "server/localhost.pem", "contingents/KAZ.pem"] {
            #expect(try publicKey(certificate) == "id-ecPublicKey", "\(certificate)")
        }
        #expect(try publicKey("contingents/IND.pem") == "ED25519")
    }

    @Test func fullWorkflowThroughTheCLI() throws {
        let directory = try TemporaryDirectory(prefix: "phub-pki-cli")
        defer { directory.remove() }
        let dir = directory.path("pki")

        let missing = try peacehub(["issue", "--dir", dir, "--contingent", "KAZ"])
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("no hub CA in \(dir): run `peacehub pki init --dir \(dir)` first"))
        #expect(missing.stderr.split(separator: "\n").count == 1)

        // A validity X.509 cannot write made a CA no certificate of which verified.
        let negative = try peacehub(["init", "--dir", dir, "--days", "-1"])
        #expect(negative.status != 0 && negative.stderr.contains("--days must be positive"), "\(negative.stderr)")
        let forever = try peacehub(["init", "--dir", dir, "--days", "3000000"])
        #expect(forever.status != 0 && forever.stderr.contains("past 9999-12-31"), "\(forever.stderr)")
        #expect(try peacehub(["init", "--dir", dir, "--key-type", "p256"]).status == 0)
        let again = try peacehub(["init", "--dir", dir])
        #expect(again.status != 0)
        #expect(again.stderr.contains("already exists: pass --force"))

        let server = try peacehub(["issue-server", "--dir", dir, "--host", "localhost", "--host", "127.0.0.1"])
        #expect(server.status == 0, "\(server.stderr)")
        let issued = try peacehub(["issue", "--dir", dir, "--contingent", "KAZ", "--device", "tablet", "--days", "10"])
        #expect(issued.status == 0, "\(issued.stderr)")
        #expect(issued.stdout.hasPrefix("contingent KAZ certificate: serial "))
        #expect(try peacehub(["issue", "--dir", dir, "--operator", "alice"]).status == 0)

        let overwrite = try peacehub(["issue", "--dir", dir, "--contingent", "KAZ", "--device", "tablet"])
        #expect(overwrite.status != 0)
        #expect(overwrite.stderr.contains("contingents/KAZ-tablet.key already exists: pass --force to replace it"))
        #expect(
            try peacehub(["issue", "--dir", dir, "--contingent", "KAZ", "--device", "tablet", "--force"]).status == 0)

        for key in ["ca.key", "server/localhost.key", "contingents/KAZ-tablet.key", "operators/alice.key"] {
            let mode = try FileManager.default.attributesOfItem(atPath: "\(dir)/\(key)")[.posixPermissions] as? Int
            #expect(mode == 0o600, "\(key)")
        }
        let verified = try ProcessRunner.run(
            "openssl",
            [
                "verify", "-CAfile", "\(dir)/ca.pem", "-crl_check", "-CRLfile", "\(dir)/crl.pem",
                "\(dir)/contingents/KAZ-tablet.pem", "\(dir)/operators/alice.pem", "\(dir)/server/localhost.pem",
            ],
            timeout: 60)
        #expect(verified.status == 0, "\(verified.stdout) \(verified.stderr)")

        let list = try peacehub(["list", "--dir", dir, "--json"])
        #expect(list.status == 0)
        let index = try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [String: Any]
        let certificates = index?["certificates"] as? [[String: Any]] ?? []
        #expect(certificates.count == 4)  // server, tablet, alice, re-issued tablet

        let revoke = try peacehub(["revoke", "--dir", dir, "--contingent", "KAZ", "--reason", "cessationOfOperation"])
        #expect(revoke.status == 0)
        #expect(revoke.stdout.components(separatedBy: "revoked ").count - 1 == 2)
        let refused = try ProcessRunner.run(
            "openssl",
            [
                "verify", "-CAfile", "\(dir)/ca.pem", "-crl_check", "-CRLfile", "\(dir)/crl.pem",
                "\(dir)/contingents/KAZ-tablet.pem",
            ], timeout: 60)
        #expect(refused.status != 0)

        let crl = try peacehub(["crl", "--dir", dir, "--days", "3"])
        #expect(crl.status == 0)
        #expect(crl.stdout.contains("2 revoked"))
        let table = try peacehub(["list", "--dir", dir])
        #expect(table.stdout.contains("revoked (cessationOfOperation)"))
        let badReason = try peacehub(["revoke", "--dir", dir, "--contingent", "KAZ", "--reason", "lost"])
        #expect(badReason.status != 0)
        #expect(badReason.stderr.contains("keyCompromise"), "\(badReason.stderr)")
        #expect(table.stdout.contains("alice"))

        let unknown = try peacehub(["revoke", "--dir", dir, "DEADBEEF"])
        #expect(unknown.status != 0)
        #expect(unknown.stderr.contains("no certificate with serial DEADBEEF"))
        let badCode = try peacehub(["issue", "--dir", dir, "--contingent", "kz"])
        #expect(badCode.status != 0)
        #expect(badCode.stderr.contains("not an ISO 3166 alpha-3 code"))
        #expect(!badCode.stderr.contains("Stack dump"))
    }

    /// Mistakes that used to pass: a validity past the CA's, a mistyped IP address taken for a DNS name, a serial
    /// that is not hexadecimal reported as unknown.
    @Test func mistakesAreNamed() throws {
        let directory = try TemporaryDirectory(prefix: "phub-pki-cli")
        defer { directory.remove() }
        let dir = directory.path("pki")
        #expect(try peacehub(["init", "--dir", dir, "--days", "100"]).status == 0)
        let long = try peacehub(["issue", "--dir", dir, "--contingent", "KAZ"])
        #expect(long.status == 1)
        #expect(long.stderr.contains("would be valid until"), "\(long.stderr)")
        #expect(long.stderr.contains("after its CA (valid until"), "\(long.stderr)")
        #expect(try peacehub(["issue", "--dir", dir, "--contingent", "KAZ", "--days", "90"]).status == 0)
        let address = try peacehub(["issue-server", "--dir", dir, "--host", "300.1.1.1"])
        #expect(address.stderr.contains("'300.1.1.1' is not a valid IPv4 address"), "\(address.stderr)")
        let serial = try peacehub(["revoke", "--dir", dir, "xyz"])
        #expect(serial.stderr.contains("'xyz' is not a serial number in hexadecimal"), "\(serial.stderr)")
        #expect(try peacehub(["revoke", "--dir", dir, "--contingent", "KAZ"]).stdout.contains("otherwise at SIGHUP"))
        let twice = try peacehub(["revoke", "--dir", dir, "--contingent", "KAZ", "--reason", "superseded"])
        #expect(twice.stdout.hasPrefix("already revoked (its first date and reason are kept)"), "\(twice.stdout)")
    }

    @Test func issueForASigningRequest() throws {
        let directory = try TemporaryDirectory(prefix: "phub-pki-cli")
        defer { directory.remove() }
        let dir = directory.path("pki")
        #expect(try peacehub(["init", "--dir", dir]).status == 0)
        let made = try opensslSigningRequest(in: directory.url, stem: "tjk", newKey: ["ed25519"])

        let issued = try peacehub(["issue", "--dir", dir, "--contingent", "TJK", "--csr", made.request])
        #expect(issued.status == 0, "\(issued.stderr)")
        #expect(issued.stdout.hasSuffix("\(dir)/contingents/TJK.pem, key kept by the requester\n"), "\(issued.stdout)")
        #expect(!FileManager.default.fileExists(atPath: "\(dir)/contingents/TJK.key"))
        let server = try peacehub(["issue-server", "--dir", dir, "--host", "hub.example.org", "--csr", made.request])
        #expect(server.status == 0, "\(server.stderr)")
        // The hub looks for server/<tls.serverName>.pem: the name to give is said.
        #expect(server.stdout.hasSuffix(
            "the hub serves it with tls.serverName \"hub.example.org\" (PEACEHUB_TLS_SERVER_NAME=hub.example.org)\n"))

        let both = try peacehub(
            ["issue", "--dir", dir, "--operator", "duty", "--csr", made.request, "--key-type", "p256"])
        #expect(both.status != 0)
        #expect(both.stderr.contains("give --key-type or --csr, not both"))
        let missing = try peacehub(["issue", "--dir", dir, "--operator", "duty", "--csr", directory.path("none.csr")])
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("cannot read the signing request \(directory.path("none.csr"))"))
        let notARequest = try peacehub(["issue", "--dir", dir, "--operator", "duty", "--csr", made.key])
        #expect(notARequest.status != 0)
        #expect(notARequest.stderr.contains("not a PKCS#10 certificate signing request (PEM or DER)"))
        #expect(!FileManager.default.fileExists(atPath: "\(dir)/operators/duty.pem"))
        // A P-256 key that spells out its curve's parameters: signed, it made a certificate every verifier refuses
        // (RFC 5480 2.1.1), the hub's own listener first.
        let explicitKey = directory.path("explicit.key")
        let generated = try ProcessRunner.run(
            "openssl",
            ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-pkeyopt", "ec_param_enc:explicit",
             "-out", explicitKey])
        #expect(generated.status == 0, "\(generated.stderr)")
        let explicitRequest = directory.path("explicit.csr")
        _ = try ProcessRunner.run(
            "openssl", ["req", "-new", "-key", explicitKey, "-subj", "/CN=requester", "-out", explicitRequest])
        let explicit = try peacehub(["issue", "--dir", dir, "--operator", "duty", "--csr", explicitRequest])
        #expect(explicit.status == 1)
        #expect(explicit.stderr.contains("(EC prime256v1 with explicit curve parameters; make the key with -pkeyopt "
            + "ec_param_enc:named_curve) is not accepted"), "\(explicit.stderr)")
        #expect(!FileManager.default.fileExists(atPath: "\(dir)/operators/duty.pem"))
    }

    @Test func defaultDirectoryComesFromTheDataDirectory() throws {
        let directory = try TemporaryDirectory(prefix: "phub-pki-cli")
        defer { directory.remove() }
        let result = try ProcessRunner.peacehub(
            ["pki", "init"], environment: ["PEACEHUB_DATA_DIR": directory.url.path], timeout: 120)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(FileManager.default.fileExists(atPath: directory.path("pki/ca.pem")))
    }

    /// `pki verify` answers as the listener would (ClientCertificateCheckTests compares the two), with the reason.
    @Test func verifySaysWhetherTheListenerWouldAcceptACertificate() throws {
        let directory = try TemporaryDirectory(prefix: "phub-pki-verify")
        defer { directory.remove() }
        let dir = directory.path("pki")
        #expect(try peacehub(["init", "--dir", dir]).status == 0)
        #expect(try peacehub(["issue", "--dir", dir, "--contingent", "KAZ", "--days", "10"]).status == 0)
        let certificate = "\(dir)/contingents/KAZ.pem"

        let accepted = try peacehub(["verify", "--dir", dir, certificate])
        #expect(accepted.status == 0, "\(accepted.stderr)")
        #expect(accepted.stdout.hasPrefix("accepted: contingent KAZ\n"), "\(accepted.stdout)")
        #expect(accepted.stdout.contains("subject   CN=KAZ contingent,O=PeaceHub"))
        // As operations.md writes it: a path inside the PKI directory, from anywhere.
        #expect(try peacehub(["verify", "--dir", dir, "contingents/KAZ.pem"]).stdout == accepted.stdout)
        // An absolute path is not looked for in the PKI directory, nor said to be ("nor <dir>//abs/path").
        let missing = try peacehub(["verify", "--dir", dir, "/nonexistent/KAZ.pem"])
        #expect(missing.stderr.contains("cannot read the certificate /nonexistent/KAZ.pem\n"), "\(missing.stderr)")
        // The SPKI hash is the standard pin, as openssl computes it (it was the hash of the key's bits alone).
        let publicKey = try ProcessRunner.run("openssl", ["x509", "-in", certificate, "-pubkey", "-noout"])
        let der = try ProcessRunner.run(
            "openssl", ["pkey", "-pubin", "-outform", "DER", "-out", directory.path("spki.der")],
            stdin: Data(publicKey.stdout.utf8))
        #expect(der.status == 0, "\(der.stderr)")
        let pin = try ProcessRunner.run("openssl", ["dgst", "-sha256", "-r", directory.path("spki.der")])
        let expected = try #require(pin.stdout.split(separator: " ").first)
        #expect(accepted.stdout.contains("spki      sha256:\(expected)\n"), "\(accepted.stdout) \(pin.stdout)")

        let afterExpiry = ISO8601DateFormatter().string(from: Date().addingTimeInterval(11 * 86400))
        let later = try peacehub(["verify", "--dir", dir, certificate, "--at", afterExpiry])
        #expect(later.status == 1)
        #expect(later.stderr.contains("refused: certificate verify failed: certificate has expired"), "\(later.stderr)")
        let badDate = try peacehub(["verify", "--dir", dir, certificate, "--at", "next week"])
        #expect(badDate.status != 0)
        #expect(badDate.stderr.contains("--at next week is not an ISO 8601 date"))

        #expect(try peacehub(["revoke", "--dir", dir, "--contingent", "KAZ", "--reason", "keyCompromise"]).status == 0)
        let revoked = try peacehub(["verify", "--dir", dir, certificate])
        #expect(revoked.status == 1)
        #expect(revoked.stdout.isEmpty)
        #expect(
            revoked.stderr.contains(
                "refused: certificate verify failed: certificate revoked (verify error 23) at depth 0 for "
                    + "CN=KAZ contingent,O=PeaceHub"), "\(revoked.stderr)")
    }
}
