import Foundation
import PeaceHubTLS
import PeaceHubTesting
import Testing

/// The PKI library: what it writes verifies with the real `openssl verify`, and it guards keys.
@Suite struct PKITests {
    private func verify(_ pki: PKI, _ entry: PKIIndex.Entry, crl: Bool = true) throws -> ProcessResult {
        var arguments = ["verify", "-CAfile", pki.caCertificateURL.path]
        if crl { arguments += ["-crl_check", "-CRLfile", pki.crlURL.path] }
        if entry.kind == .server {
            arguments += ["-purpose", "sslserver"]
        } else {
            arguments += ["-purpose", "sslclient"]
        }
        return try ProcessRunner.run("openssl", arguments + [pki.url(entry.certificatePath).path], timeout: 60)
    }

    private func text(_ pki: PKI, _ entry: PKIIndex.Entry) throws -> String {
        try ProcessRunner.run(
            "openssl", ["x509", "-noout", "-text", "-in", pki.url(entry.certificatePath).path], timeout: 60
        ).stdout
    }

    @Test(arguments: PKI.KeyType.allCases)
    func issuedCertificatesVerifyWithOpenSSL(keyType: PKI.KeyType) throws {
        let directory = try TemporaryDirectory(prefix: "phub-pki")
        defer { directory.remove() }
        let pki = PKI(directory: directory.url)
        try pki.initialize(keyType: keyType)
        let server = try pki.issueServer(hosts: ["hub.example.org", "192.0.2.7"], key: .generate(keyType))
        let device = try pki.issueContingent("KAZ", device: "laptop-1", key: .generate(keyType), days: 30)
        let operatorEntry = try pki.issueOperator("duty-officer", key: .generate(keyType))
        for entry in [server, device, operatorEntry] {
            let result = try verify(pki, entry)
            #expect(result.status == 0, "\(result.stdout) \(result.stderr)")
            #expect(result.stdout.hasSuffix(": OK\n"))
        }
        let serverText = try text(pki, server)
        #expect(serverText.contains("TLS Web Server Authentication"))
        #expect(serverText.contains("DNS:hub.example.org, IP Address:192.0.2.7"))
        let deviceText = try text(pki, device)
        #expect(deviceText.contains("TLS Web Client Authentication"))
        #expect(deviceText.contains("URI:urn:peacehub:contingent:KAZ"))
        #expect(deviceText.contains("CN = KAZ contingent laptop-1"))
        #expect(try text(pki, operatorEntry).contains("URI:urn:peacehub:operator:duty-officer"))
        // One name each, however written; an IPv4-mapped address is the IPv4 address clients connect to (it was
        // kept as 16 bytes, which curl and openssl refuse for 127.0.0.1).
        let spelled = try pki.issueServer(
            hosts: ["::1", "0:0:0:0:0:0:0:1", "hub.example.org", "HUB.example.org", "::ffff:127.0.0.1", "127.0.0.1"],
            key: .generate(keyType))
        #expect(
            try text(pki, spelled).contains(
                "DNS:hub.example.org, IP Address:0:0:0:0:0:0:0:1, IP Address:127.0.0.1\n"))
        #expect(device.notAfter.timeIntervalSince(device.notBefore) > 29 * 86400)
        #expect(device.notAfter.timeIntervalSince(device.notBefore) < 31 * 86400)
    }

    @Test func revokedCertificatesFailOpenSSLVerifyWithTheCRL() throws {
        let directory = try TemporaryDirectory(prefix: "phub-pki")
        defer { directory.remove() }
        let pki = PKI(directory: directory.url)
        try pki.initialize()
        let laptop = try pki.issueContingent("KAZ", device: "laptop")
        let phone = try pki.issueContingent("KAZ", device: "phone")
        let other = try pki.issueContingent("FRA")
        let revoked = try pki.revoke(contingent: "KAZ", reason: .keyCompromise)
        #expect(Set(revoked.map(\.serial)) == [laptop.serial, phone.serial])
        for entry in [laptop, phone] {
            let result = try verify(pki, entry)
            #expect(result.status != 0)
            #expect(result.stderr.contains("certificate revoked") || result.stdout.contains("certificate revoked"))
        }
        #expect(try verify(pki, other).status == 0)
        let index = try pki.list()
        #expect(index.certificates.filter(\.isRevoked).count == 2)
        #expect(index.crlNumber == 2)
        // Serials are accepted in OpenSSL's colon form and any case.
        let colon = stride(from: 0, to: other.serial.count, by: 2).map { offset in
            let start = other.serial.index(other.serial.startIndex, offsetBy: offset)
            return String(other.serial[start..<other.serial.index(start, offsetBy: 2)])
        }.joined(separator: ":").lowercased()
        #expect(try pki.revoke(serial: colon).map(\.serial) == [other.serial])
        // The reason goes into the CRL entry (none for unspecified) and the index, and a second revocation
        // keeps the first one's reason.
        #expect(try pki.revoke(serial: laptop.serial, reason: .superseded).isEmpty)
        let crl = try ProcessRunner.run("openssl", ["crl", "-noout", "-text", "-in", pki.crlURL.path], timeout: 60)
        #expect(crl.stdout.components(separatedBy: "X509v3 CRL Reason Code:").count - 1 == 2, "\(crl.stdout)")
        #expect(crl.stdout.components(separatedBy: "Key Compromise").count - 1 == 2)
        #expect(!crl.stdout.contains("Superseded"))
        let reasons = try pki.list().certificates.map(\.revocationReason)
        #expect(reasons == [.keyCompromise, .keyCompromise, .unspecified])
        let context = try TLSContext(
            configuration: .client(trustedCAFile: pki.caCertificateURL.path, crlFile: pki.crlURL.path))
        #expect(context.revokedSerials == [laptop.serial, phone.serial, other.serial])
    }

    @Test func keysAreWrittenOwnerOnlyAndNeverOverwrittenUnlessForced() throws {
        let directory = try TemporaryDirectory(prefix: "phub-pki")
        defer { directory.remove() }
        let pki = PKI(directory: directory.url)
        try pki.initialize()
        let first = try pki.issueContingent("KAZ")
        for path in [pki.caKeyURL.path, pki.url(first.keyPath!).path] {
            let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
            #expect(mode == 0o600)
        }
        let keyBefore = try Data(contentsOf: pki.url(first.keyPath!))
        #expect {
            try pki.issueContingent("KAZ")
        } throws: { ($0 as? PKIError)?.code == .alreadyExists }
        #expect(try Data(contentsOf: pki.url(first.keyPath!)) == keyBefore)
        #expect { try pki.initialize() } throws: { ($0 as? PKIError)?.code == .alreadyExists }

        let renewed = try pki.issueContingent("KAZ", force: true)
        #expect(renewed.serial != first.serial)
        #expect(try Data(contentsOf: pki.url(first.keyPath!)) != keyBefore)
        #expect(try pki.list().certificates.map(\.serial) == [first.serial, renewed.serial])
    }

    /// An issue that fails part way (a full disk) leaves no certificate the index does not know: one it left
    /// behind, signed by the CA, was accepted by the hub and could never be revoked.
    @Test func aFailedIssueLeavesNoCertificateTheIndexDoesNotKnow() throws {
        let directory = try TemporaryDirectory(prefix: "phub-pki")
        defer { directory.remove() }
        let pki = PKI(directory: directory.url)
        try pki.initialize()
        _ = try pki.issueContingent("KAZ")
        // The index cannot be written: its temporary file's name is taken by a folder.
        let blocker = pki.indexURL.path + ".tmp-\(getpid())"
        try FileManager.default.createDirectory(atPath: blocker, withIntermediateDirectories: false)
        #expect(throws: PKIError.self) { try pki.issueContingent("TJK", device: "gw") }
        try FileManager.default.removeItem(atPath: blocker)
        let known = try pki.list().certificates.map(\.certificatePath)
        for path in ["contingents/TJK-gw.pem", "contingents/TJK-gw.key"] {
            #expect(!FileManager.default.fileExists(atPath: pki.url(path).path) || known.contains(path), "\(path)")
        }
        // The certificate files cannot be written: the index knows the certificate, which can be revoked.
        let certificateBlocker = pki.url("contingents/UZB.pem").path + ".tmp-\(getpid())"
        try FileManager.default.createDirectory(atPath: certificateBlocker, withIntermediateDirectories: false)
        #expect(throws: PKIError.self) { try pki.issueContingent("UZB") }
        try FileManager.default.removeItem(atPath: certificateBlocker)
        let revoked = try pki.revoke(contingent: "UZB")
        #expect(revoked.map(\.contingent) == ["UZB"])
    }

    /// A contingent keeps its private key and sends a signing request: the certificate carries the request's key
    /// and the hub's names (never the request's), no key is written, and a request that is altered, not a
    /// request, or for a key TLS 1.3 cannot use at 112 bits is refused with a reason.
    @Test func signingRequestsGiveTheirKeyAndNothingElse() throws {
        let directory = try TemporaryDirectory(prefix: "phub-pki")
        defer { directory.remove() }
        let pki = PKI(directory: directory.url.appendingPathComponent("pki"))
        try pki.initialize()
        let previous = try pki.issueContingent("KAZ")
        let made = try opensslSigningRequest(
            in: directory.url, stem: "kaz", newKey: ["ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
            extra: ["-addext", "subjectAltName=URI:urn:peacehub:operator:root", "-addext", "basicConstraints=CA:TRUE"])
        let request = try Data(contentsOf: URL(fileURLWithPath: made.request))

        let entry = try pki.issueContingent("KAZ", key: .signingRequest(request), force: true)
        #expect(entry.keyPath == nil)
        let recorded = try #require(try pki.list().certificates.last)
        #expect(recorded.serial == entry.serial && recorded.keyPath == nil && recorded.contingent == "KAZ")
        #expect(!FileManager.default.fileExists(atPath: pki.url(previous.keyPath!).path), "the replaced key stays")
        let verified = try verify(pki, entry)
        #expect(verified.status == 0, "\(verified.stdout) \(verified.stderr)")
        let certificateText = try text(pki, entry)
        #expect(certificateText.contains("URI:urn:peacehub:contingent:KAZ"))
        #expect(certificateText.contains("CN = KAZ contingent"))
        #expect(!certificateText.contains("operator:root"))
        #expect(!certificateText.contains("requester"))
        #expect(certificateText.contains("CA:FALSE"))
        let certificateKey = try ProcessRunner.run(
            "openssl", ["x509", "-pubkey", "-noout", "-in", pki.url(entry.certificatePath).path], timeout: 60)
        let requestKey = try ProcessRunner.run(
            "openssl", ["req", "-pubkey", "-noout", "-in", made.request], timeout: 60)
        #expect(certificateKey.stdout.contains("BEGIN PUBLIC KEY") && certificateKey.stdout == requestKey.stdout)

        // DER is read as well as PEM.
        let der = try ProcessRunner.run(
            "openssl", ["req", "-in", made.request, "-outform", "DER", "-out", directory.path("kaz.der")], timeout: 60)
        #expect(der.status == 0)
        let derRequest = try Data(contentsOf: directory.url.appendingPathComponent("kaz.der"))
        #expect(try pki.issueOperator("duty", key: .signingRequest(derRequest)).keyPath == nil)

        func refusal(_ data: Data) -> String? {
            do {
                _ = try pki.issueContingent("UZB", key: .signingRequest(data), force: true)
                return nil
            } catch {
                return error.code == .invalidArgument ? error.reason : "\(error.code): \(error.reason)"
            }
        }
        var altered = derRequest
        altered[altered.count - 1] ^= 0x01  // the last byte of the signature
        #expect(refusal(altered)?.contains("signature does not verify with its own key") == true)
        #expect(refusal(Data("not a request".utf8)) == "not a PKCS#10 certificate signing request (PEM or DER)")
        // A key of an algorithm no active provider reads (a GOST key without the GOST engine): named as such and
        // with what is accepted (it was OpenSSL's "decode error" alone).
        let ecPublicKey: [UInt8] = [0x06, 0x07, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01]
        let oid = try #require(derRequest.firstRange(of: ecPublicKey))
        var unknownAlgorithm = derRequest
        unknownAlgorithm[oid.upperBound - 1] = 0x7F
        let unreadable = refusal(unknownAlgorithm) ?? ""
        #expect(unreadable.hasPrefix("the signing request's key cannot be read ("), "\(unreadable)")
        #expect(unreadable.hasSuffix("use RSA of 2048 bits or more, EC P-256, P-384 or P-521, Ed25519 or Ed448"))
        let certificate = try Data(contentsOf: pki.url(entry.certificatePath))
        #expect(refusal(certificate)?.hasPrefix("not a PKCS#10") == true)
        for (stem, newKey, named) in [
            ("rsa1024", ["rsa:1024"], "RSA 1024 bits"),
            ("p224", ["ec", "-pkeyopt", "ec_paramgen_curve:P-224"], "EC secp224r1"),
        ] {
            let weak = try opensslSigningRequest(in: directory.url, stem: stem, newKey: newKey)
            let reason = refusal(try Data(contentsOf: URL(fileURLWithPath: weak.request)))
            let expected = "the signing request's key (\(named)) is not accepted"
            #expect(reason?.hasPrefix(expected) == true, "\(reason ?? "")")
        }
        #expect(!FileManager.default.fileExists(atPath: pki.url("contingents/UZB.pem").path))
    }

    @Test func missingCAIsAClearError() throws {
        let directory = try TemporaryDirectory(prefix: "phub-pki")
        defer { directory.remove() }
        let pki = PKI(directory: directory.url.appendingPathComponent("empty"))
        #expect {
            try pki.issueContingent("KAZ")
        } throws: { error in
            let error = error as? PKIError
            return error?.code == .missingCA
                && error?.reason
                    == "no hub CA in \(pki.directory.path): run `peacehub pki init --dir \(pki.directory.path)` first"
        }
    }

    /// The CA's key kept offline, as operations.md advises: the list still reads, and what needs the key says
    /// that the key is missing (it said there was no CA and to run `pki init`, which makes a new one).
    @Test func theCAKeyKeptOfflineIsNamed() throws {
        let directory = try TemporaryDirectory(prefix: "phub-pki")
        defer { directory.remove() }
        let pki = PKI(directory: directory.url)
        try pki.initialize()
        try pki.issueContingent("KAZ")
        try FileManager.default.removeItem(at: pki.caKeyURL)
        #expect(try pki.list().certificates.contains { $0.contingent == "KAZ" })
        let operations: [() throws -> Void] = [{ try pki.issueContingent("KGZ") }, { _ = try pki.writeCRL() }]
        for operation in operations {
            #expect {
                try operation()
            } throws: { error in
                (error as? PKIError)?.reason.hasPrefix("the hub CA's key \(pki.caKeyURL.path) is missing") == true
            }
        }
    }

    @Test func badNamesAreRefused() throws {
        let directory = try TemporaryDirectory(prefix: "phub-pki")
        defer { directory.remove() }
        let pki = PKI(directory: directory.url)
        try pki.initialize()
        for code in ["KZ", "kaz", "KAZA", "K4Z", ""] {
            #expect { try pki.issueContingent(code) } throws: { ($0 as? PKIError)?.code == .invalidArgument }
        }
        #expect { try pki.issueContingent("KAZ", device: "../x") } throws: {
            ($0 as? PKIError)?.code == .invalidArgument
        }
        #expect { try pki.issueOperator("a b") } throws: { ($0 as? PKIError)?.code == .invalidArgument }
        #expect { try pki.issueServer(hosts: ["bad_host!"]) } throws: { ($0 as? PKIError)?.code == .invalidArgument }
        #expect { try pki.issueServer(hosts: []) } throws: { ($0 as? PKIError)?.code == .invalidArgument }
        #expect { try pki.revoke(serial: "ABCDEF") } throws: { ($0 as? PKIError)?.code == .notFound }
        #expect { try pki.writeCRL(days: 0) } throws: { ($0 as? PKIError)?.code == .invalidArgument }
    }

    /// Names as long as the rules allow make certificates: a device of 64 characters (its file stem `KAZ-<device>`
    /// was refused as no file name) and a 67-character host; every commonName stays within the 64 characters
    /// RFC 5280 allows (an operator's `operator <name>` reached 73), and a CA's own name of more is refused.
    @Test func longNamesMakeCertificatesWithinTheCommonNameBound() throws {
        let directory = try TemporaryDirectory(prefix: "phub-pki")
        defer { directory.remove() }
        let pki = PKI(directory: directory.url)
        #expect { try pki.initialize(commonName: String(repeating: "C", count: 65)) } throws: {
            ($0 as? PKIError)?.reason.contains("--common-name takes 1 to 64 characters") == true
        }
        #expect { try pki.initialize(commonName: "") } throws: { ($0 as? PKIError)?.code == .invalidArgument }
        try pki.initialize()
        let name = String(repeating: "d", count: 64)
        let host = String(repeating: "h", count: 63) + ".org"
        let entries = [
            try pki.issueContingent("KAZ", device: name), try pki.issueOperator(name),
            try pki.issueServer(hosts: [host]),
        ]
        for entry in entries {
            let file = pki.url(entry.certificatePath).path
            let subject = try ProcessRunner.run(
                "openssl", ["x509", "-in", file, "-noout", "-subject", "-nameopt", "multiline"])
            let commonName = try #require(subject.stdout.split(separator: "\n").first { $0.contains("commonName") })
            let value = commonName.split(separator: "=", maxSplits: 1).last?.trimmingCharacters(in: .whitespaces) ?? ""
            #expect((1...64).contains(value.count), "\(entry.name): \(value)")
        }
    }

    /// During a CA rotation the old CA's folder holds both CAs in `ca.pem` (in either order) and both CRLs in
    /// `crl.pem`, which the hub reads. `pki` signs as the CA whose key `ca.key` is (the first CA of the file was
    /// taken: with the new one first, certificates and CRLs named it and were signed with the old key), and a new
    /// CRL replaces this CA's alone (the other CA's went, and the hub refused all its clients).
    @Test func aRotationsCombinedFilesAreKept() throws {
        let directory = try TemporaryDirectory(prefix: "phub-pki")
        defer { directory.remove() }
        let old = PKI(directory: directory.url.appendingPathComponent("old"))
        let new = PKI(directory: directory.url.appendingPathComponent("new"))
        try old.initialize()
        try new.initialize(commonName: "PeaceHub CA 2027")
        let newCRL = try Data(contentsOf: new.crlURL)
        let bothCAs = try Data(contentsOf: new.caCertificateURL) + Data(contentsOf: old.caCertificateURL)
        try bothCAs.write(to: old.caCertificateURL)
        try (Data(contentsOf: old.crlURL) + newCRL).write(to: old.crlURL)

        let entry = try old.issueContingent("KAZ")
        try old.writeCRL()
        let crls = try String(contentsOf: old.crlURL, encoding: .utf8)
        #expect(crls.components(separatedBy: "-----BEGIN X509 CRL-----").count - 1 == 2)
        #expect(crls.contains(String(decoding: newCRL, as: UTF8.self)), "the new CA's CRL is kept as it was")
        let verifier = try TLSContext.clientVerifier(trustedCAFile: old.caCertificateURL.path, crlFile: old.crlURL.path)
        let issued = try Data(contentsOf: old.url(entry.certificatePath))
        #expect(try verifier.verifyClientCertificate(issued).get().principal == .contingent("KAZ"))
    }

    /// Nothing the CA signs outlives it: a certificate or a CRL asked to is refused, and a revocation near the CA's
    /// end still publishes, with the CRL's period cut to the CA's.
    @Test func nothingOutlivesTheCA() throws {
        let directory = try TemporaryDirectory(prefix: "phub-pki")
        defer { directory.remove() }
        let pki = PKI(directory: directory.url)
        try pki.initialize(days: 10, crlDays: 30)
        #expect {
            try pki.issueContingent("KAZ", days: 365)
        } throws: { error in
            (error as? PKIError)?.reason.hasSuffix("give fewer --days") == true
        }
        #expect {
            try pki.writeCRL(days: 100)
        } throws: { error in
            let reason = (error as? PKIError)?.reason ?? ""
            return reason.hasPrefix("the CRL would be current until ") && reason.hasSuffix("give fewer --days")
        }
        try pki.issueContingent("KAZ", days: 5)
        #expect(try pki.revoke(contingent: "KAZ").count == 1)
        let published = try TLSContext.clientVerifier(
            trustedCAFile: pki.caCertificateURL.path, crlFile: pki.crlURL.path)
        let nextUpdate = try #require(published.crlNextUpdate)
        let caNotAfter = try #require(published.trustedCANotAfter)
        #expect(abs(nextUpdate.timeIntervalSince(caNotAfter)) < 2, "\(nextUpdate) vs \(caNotAfter)")
    }

    @Test func contextConfigurationErrorsAreClear() throws {
        let fixture = try TestPKI()
        defer { fixture.remove() }
        var missing = fixture.serverConfiguration()
        missing.trustedCAFile = fixture.directory.path("nope.pem")
        #expect {
            try TLSContext(configuration: missing)
        } throws: {
            ($0 as? TLSError)?.reason == "CA file \(fixture.directory.path("nope.pem")) is missing or unreadable"
        }

        var mismatched = fixture.serverConfiguration()
        mismatched.privateKeyFile = fixture.path(fixture.contingent.keyPath!)
        #expect {
            try TLSContext(configuration: mismatched)
        } throws: { error in
            (error as? TLSError)?.reason
                == "private key \(fixture.path(fixture.contingent.keyPath!)) does not match certificate "
                + "\(fixture.path(fixture.server.certificatePath)): key values mismatch"
        }

        // An encrypted key fails with a reason instead of a passphrase prompt.
        let encrypted = fixture.directory.path("encrypted.key")
        let converted = try ProcessRunner.run(
            "openssl",
            [
                "pkey", "-in", fixture.path(fixture.server.keyPath!), "-aes256", "-passout", "pass:secret", "-out",
                encrypted,
            ],
            timeout: 60)
        #expect(converted.status == 0)
        var locked = fixture.serverConfiguration()
        locked.privateKeyFile = encrypted
        #expect {
            try TLSContext(configuration: locked)
        } throws: { ($0 as? TLSError)?.reason.hasPrefix("private key \(encrypted): ") == true }

        var noCRL = fixture.serverConfiguration()
        noCRL.crlFile = nil
        #expect { try TLSContext(configuration: noCRL) } throws: { ($0 as? TLSError)?.code == .invalidConfiguration }
    }
}
