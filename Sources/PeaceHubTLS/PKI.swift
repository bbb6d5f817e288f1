import COpenSSL
import COpenSSLShim
import Foundation
import PeaceHubCore

/// The hub's certificate authority, kept in one directory (libcrypto only; no `openssl` CLI).
///
/// Layout (documented in docs/operations.md):
/// `ca.pem`, `ca.key`, `crl.pem`, `index.json`, `server/<host>.{pem,key}`,
/// `contingents/<CODE>[-<device>].{pem,key}`, `operators/<name>.{pem,key}`. Private keys are written 0600 and
/// never overwritten unless `force` is set. Not safe for concurrent use of one directory by several processes.
public struct PKI: Sendable {
    public enum KeyType: String, Sendable, CaseIterable, Codable {
        case ed25519
        case p256

        /// The type of a new key pair when none is named. ECDSA P-256 is TLS 1.3's mandatory-to-implement
        /// signature (RFC 8446 9.1), so every client stack verifies it; Ed25519 is optional there, and stacks such
        /// as Mbed TLS lack it. OpenSSL 3.0 also spends less CPU on a P-256 handshake (docs/performance.md).
        public static let `default`: KeyType = .p256
    }

    /// Where a certificate's public key comes from.
    public enum SubjectKey: Sendable {
        /// A new key pair of this type; its private key is written next to the certificate (0600).
        case generate(KeyType)
        /// The public key of a PKCS#10 certificate signing request (PEM or DER), made where the key was made so
        /// that the private key never reaches the hub. The request's signature must verify with that key (proof
        /// of possession) and the key must be one TLS 1.3 can use at 112 bits of security or more (RSA of 2048
        /// bits or more, EC P-256/P-384/P-521, Ed25519, Ed448). Only the key is taken: subject, subjectAltName,
        /// usage and validity come from the hub, never from the request.
        case signingRequest(Data)
    }

    /// Why a certificate was revoked: the CRL entry's reasonCode (RFC 5280 5.3.1), named as `openssl ca
    /// -crl_reason` names it. `unspecified` writes no reasonCode, as RFC 5280 asks. No certificateHold: a
    /// revocation here is final.
    public enum RevocationReason: String, Sendable, CaseIterable, Codable {
        case unspecified
        case keyCompromise
        case affiliationChanged
        case superseded
        case cessationOfOperation
        case privilegeWithdrawn

        /// The reason of CRLReason code `code`; nil for a code the hub does not write.
        init?(code: Int) {
            guard let reason = Self.allCases.first(where: { $0.code == code }) else { return nil }
            self = reason
        }

        /// The CRLReason code.
        var code: Int {
            switch self {
            case .unspecified: 0
            case .keyCompromise: 1
            case .affiliationChanged: 3
            case .superseded: 4
            case .cessationOfOperation: 5
            case .privilegeWithdrawn: 9
            }
        }
    }

    /// What a certificate is for: the extended key usage it carries.
    public enum Usage: Sendable {
        case clientAuth
        case serverAuth
    }

    /// Everything that goes into a leaf certificate. The convenience `issue…` methods fill it; tests use it
    /// directly to make bad certificates (past validity, no SAN, raw bytes with NULs or invalid UTF-8).
    public struct CertificateRequest: Sendable {
        /// Subject attributes in order, e.g. `("O", "PeaceHub")`, `("CN", "KAZ contingent")`; values are raw bytes.
        public var subject: [(attribute: String, value: [UInt8])]
        /// URI subjectAltNames as raw bytes.
        public var uris: [[UInt8]] = []
        public var dnsNames: [String] = []
        /// IP subjectAltNames: 4 or 16 bytes.
        public var ipAddresses: [[UInt8]] = []
        public var usage: Usage
        public var notBefore: Date
        public var notAfter: Date
        public var key: SubjectKey = .generate(.default)

        public init(subject: [(attribute: String, value: [UInt8])], usage: Usage, notBefore: Date, notAfter: Date) {
            self.subject = subject
            self.usage = usage
            self.notBefore = notBefore
            self.notAfter = notAfter
        }
    }

    /// Organisation name written into every subject.
    public static let organization = "PeaceHub"

    public let directory: URL
    /// The hub's record of the CRLs it has loaded (`RevocationRecord`, `crl-numbers.json`), when there is one: a new
    /// CRL takes a number above the record's and lists the certificates it records as revoked, so that a restored
    /// backup of this folder cannot write a CRL that takes a revocation back.
    public let revocationRecord: URL?

    public init(directory: URL, revocationRecord: URL? = nil) {
        self.directory = directory.standardizedFileURL
        self.revocationRecord = revocationRecord
    }

    public var caCertificateURL: URL { directory.appendingPathComponent("ca.pem") }
    public var caKeyURL: URL { directory.appendingPathComponent("ca.key") }
    public var crlURL: URL { directory.appendingPathComponent("crl.pem") }
    public var indexURL: URL { directory.appendingPathComponent("index.json") }

    /// Absolute path of a path stored in the index.
    public func url(_ relativePath: String) -> URL { directory.appendingPathComponent(relativePath) }

    /// Runs `body` holding an exclusive `flock` on `.lock` in the directory, waiting for any other holder. Each
    /// command reads `index.json`, changes it and writes it (and the CRL) back: two at once lost revocations and
    /// certificates, and gave two CRLs one number.
    public func exclusively<T>(_ body: () throws(PKIError) -> T) throws(PKIError) -> T {
        try createDirectory(directory)
        let path = directory.appendingPathComponent(".lock").path
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw PKIError(.fileSystem, "cannot open \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        while flock(descriptor, LOCK_EX) != 0 {
            guard errno == EINTR else {
                throw PKIError(.fileSystem, "cannot lock \(path): \(String(cString: strerror(errno)))")
            }
        }
        return try body()
    }

    // MARK: CA and CRL

    /// Creates the hub CA (self-signed, `days` valid), an empty index and an empty CRL.
    @discardableResult
    public func initialize(
        keyType: KeyType = .default, commonName: String = "PeaceHub CA", days: Int = 3650, crlDays: Int = 30,
        force: Bool = false, now: Date = Date()
    ) throws(PKIError) -> PKIIndex {
        guard days > 0, crlDays > 0 else { throw PKIError(.invalidArgument, "--days must be positive") }
        guard Self.fitsCommonName(Array(commonName.utf8)) else {
            throw PKIError(.invalidArgument, "--common-name takes 1 to 64 characters (RFC 5280, ub-common-name)")
        }
        // X.509 writes dates up to 9999-12-31 (RFC 5280 4.1.2.5); a CA beyond it could not be read back.
        let lastWritable = Date(timeIntervalSince1970: 253_402_300_799)
        guard Double(days) * 86400 <= lastWritable.timeIntervalSince(now) else {
            throw PKIError(
                .invalidArgument,
                "--days \(days) would take the CA past 9999-12-31, the last date a certificate can hold")
        }
        try createDirectory(directory)
        if !force {
            for url in [caKeyURL, caCertificateURL] where FileManager.default.fileExists(atPath: url.path) {
                throw PKIError(.alreadyExists, "\(url.path) already exists: pass --force to replace the hub CA")
            }
        }
        let key = try Key(type: keyType)
        let cert = try CertificateBuilder(subjectKey: key)
        try cert.setSubject([("O", Array(Self.organization.utf8)), ("CN", Array(commonName.utf8))])
        try cert.setIssuer(nil)
        try cert.setValidity(
            notBefore: now.addingTimeInterval(-300), notAfter: now.addingTimeInterval(Double(days) * 86400))
        try cert.addExtension(NID_basic_constraints, "critical,CA:TRUE,pathlen:0", issuer: nil)
        try cert.addExtension(NID_key_usage, "critical,keyCertSign,cRLSign", issuer: nil)
        try cert.addExtension(NID_subject_key_identifier, "hash", issuer: nil)
        try cert.addExtension(NID_authority_key_identifier, "keyid:always", issuer: nil)
        try cert.sign(with: key)

        try writeFile(caKeyURL, key.pem(), mode: 0o600)
        try writeFile(caCertificateURL, cert.pem(), mode: 0o644)
        var index = PKIIndex(caSerial: cert.serial, caKeyType: keyType.rawValue)
        index.crlDays = crlDays
        try writeCRL(
            index: &index, ca: CertificateAuthority(certificate: cert.x509, key: key, retain: true), days: crlDays,
            now: now)
        try saveIndex(index)
        return index
    }

    /// What `writeCRL(days:now:)` published.
    public struct PublishedCRL: Sendable {
        public var number: Int
        public var nextUpdate: Date
        /// The revocations listed: those of the index and those only the hub's record knew (a restored backup).
        public var revocations: Int
    }

    /// Writes a new CRL (all revoked certificates, nextUpdate `days` from `now`) and remembers `days`.
    @discardableResult
    public func writeCRL(days: Int? = nil, now: Date = Date()) throws(PKIError) -> PublishedCRL {
        if let days, days <= 0 { throw PKIError(.invalidArgument, "--days must be positive") }
        var index = try loadIndex()
        let ca = try loadCA()
        if let days {
            let nextUpdate = now.addingTimeInterval(Double(days) * 86400)
            if let caNotAfter = OpenSSL.date(X509_get0_notAfter(ca.certificate)), nextUpdate > caNotAfter {
                throw PKIError(
                    .invalidArgument,
                    "the CRL would be current until \(Self.day(nextUpdate)), after its CA (valid until "
                        + "\(Self.day(caNotAfter))): give fewer --days")
            }
            index.crlDays = days
        }
        let revocations = try writeCRL(index: &index, ca: ca, days: index.crlDays, now: now)
        try saveIndex(index)
        return PublishedCRL(number: index.crlNumber, nextUpdate: index.crlNextUpdate ?? now, revocations: revocations)
    }

    /// Returns how many revocations the CRL lists.
    @discardableResult
    private func writeCRL(index: inout PKIIndex, ca: CertificateAuthority, days: Int, now: Date) throws(PKIError)
        -> Int
    {
        let recorded = try recordedRevocations(of: ca)
        index.crlNumber = max(index.crlNumber, recorded?.number ?? 0) + 1
        // Revocations the hub has loaded that the index lacks (a restored backup): revoked again with the date and
        // reason a loaded CRL gave them, also when the restored index was just revoked again (a revocation keeps
        // its first date and reason); as of now, unspecified, when the record is an older hub's. A serial the index
        // does not know at all is listed all the same.
        var unknown: [(serial: String, date: Date, reason: RevocationReason)] = []
        for serial in (recorded?.revoked ?? []).sorted() {
            let listed = recorded?.entries[serial]
            let date = listed?.revokedAt ?? now
            let reason = listed?.reasonCode.flatMap(RevocationReason.init(code:))
            let normalized = Self.normalizedSerial(serial)
            if let entry = index.certificates.firstIndex(where: { Self.normalizedSerial($0.serial) == normalized }) {
                if listed != nil || !index.certificates[entry].isRevoked {
                    index.certificates[entry].revokedAt = date
                    index.certificates[entry].revocationReason = reason
                }
            } else {
                unknown.append((normalized, date, reason ?? .unspecified))
            }
        }
        // A revocation must always publish: near the CA's end the period is cut to it rather than refused.
        var nextUpdate = now.addingTimeInterval(Double(days) * 86400)
        if let caNotAfter = OpenSSL.date(X509_get0_notAfter(ca.certificate)) {
            nextUpdate = min(nextUpdate, caNotAfter)
        }
        let revoked = unknown + index.certificates.compactMap { entry in
            entry.revokedAt.map { (entry.serial, $0, entry.revocationReason ?? .unspecified) }
        }
        // Dated five minutes back, as certificates are: a hub whose clock runs a little behind still takes it.
        let pem = try CRLBuilder.make(
            ca: ca, revoked: revoked, number: index.crlNumber, lastUpdate: now.addingTimeInterval(-300),
            nextUpdate: nextUpdate)
        try writeFile(crlURL, pem + otherAuthoritiesCRLs(besides: ca), mode: 0o644)
        index.crlNextUpdate = nextUpdate
        return revoked.count
    }

    /// The CRLs of other CAs in the CRL file, as PEM: during a CA rotation the file holds both CAs' CRLs, and the
    /// hub refuses every client of a trusted CA whose CRL is missing; a new CRL replaces this CA's alone.
    private func otherAuthoritiesCRLs(besides ca: CertificateAuthority) -> Data {
        let crls =
            (try? TLSContext.readPEMObjects(crlURL.path, what: "CRL file") { PEM_read_bio_X509_CRL($0, nil, nil, nil) })
            ?? []
        defer { crls.forEach { X509_CRL_free($0) } }
        let others = crls.filter { X509_CRL_verify($0, X509_get0_pubkey(ca.certificate)) != 1 }
        ERR_clear_error()
        return others.compactMap { crl in OpenSSL.pem { PEM_write_bio_X509_CRL($0, crl) } }.reduce(Data(), +)
    }

    /// What the hub's record says of `ca`'s CRLs, if there is a record.
    private func recordedRevocations(of ca: CertificateAuthority) throws(PKIError) -> RevocationRecord.Authority? {
        guard let revocationRecord else { return nil }
        do throws(TLSError) {
            return try RevocationRecord.read(from: revocationRecord.path)
                .authorities[CertificateInfo.crlAuthorityName(ca.certificate)]
        } catch {
            throw PKIError(.invalidArgument, error.reason)
        }
    }

    // MARK: Issuing

    /// A server certificate (serverAuth) for the hub's listener, with DNS and IP subjectAltNames.
    @discardableResult
    public func issueServer(
        hosts: [String], key: SubjectKey = .generate(.default), days: Int = 825, force: Bool = false,
        now: Date = Date()
    ) throws(PKIError) -> PKIIndex.Entry {
        guard let first = hosts.first else { throw PKIError(.invalidArgument, "give at least one --host") }
        var request = CertificateRequest(
            subject: [("O", Array(Self.organization.utf8)), ("CN", Array(Self.commonName(first).utf8))],
            usage: .serverAuth,
            notBefore: now.addingTimeInterval(-300), notAfter: try expiry(days, now))
        request.key = key
        // One name each, however written (`::1` and `0:0:0:0:0:0:0:1`, `hub` and `HUB`).
        var names: Set<String> = []
        for host in hosts {
            if var address = ipAddressBytes(host) {
                // An IPv4-mapped IPv6 address (`::ffff:127.0.0.1`) is the IPv4 address a client connects to.
                if address.count == 16, address.prefix(12).elementsEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF]) {
                    address = Array(address.suffix(4))
                }
                if !request.ipAddresses.contains(address) { request.ipAddresses.append(address) }
            } else if !host.isEmpty, host.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }) {
                // Digits and dots mean an IPv4 address, mistyped; as a DNS name it would never match.
                throw PKIError(.invalidArgument, "'\(host)' is not a valid IPv4 address")
            } else if Self.isHostName(host) {
                if names.insert(host.lowercased()).inserted { request.dnsNames.append(host) }
            } else {
                throw PKIError(.invalidArgument, "'\(host)' is neither a host name nor an IP address")
            }
        }
        // IPv6 literals name files with "_" for ":".
        let stem = first.replacingOccurrences(of: ":", with: "_")
        return try issue(request, kind: .server, name: stem, folder: "server", force: force) { $0.hosts = hosts }
    }

    /// A contingent's client certificate: SAN `urn:peacehub:contingent:<CODE>`, CN `<CODE> contingent[ <device>]`.
    @discardableResult
    public func issueContingent(
        _ code: String, device: String? = nil, key: SubjectKey = .generate(.default), days: Int = 365,
        force: Bool = false, now: Date = Date()
    ) throws(PKIError) -> PKIIndex.Entry {
        guard PeaceHubURI.isContingentCode(code) else {
            throw PKIError(.invalidArgument, "contingent '\(code)' is not an ISO 3166 alpha-3 code (e.g. KAZ)")
        }
        if let device, !Principal.isSimpleName(device) {
            throw PKIError(.invalidArgument, "device '\(device)' must be 1-64 letters, digits, '.', '_' or '-'")
        }
        let commonName = Self.commonName("\(code) contingent" + (device.map { " \($0)" } ?? ""))
        var request = CertificateRequest(
            subject: [("O", Array(Self.organization.utf8)), ("CN", Array(commonName.utf8))], usage: .clientAuth,
            notBefore: now.addingTimeInterval(-300), notAfter: try expiry(days, now))
        request.uris = [Array(PeaceHubURI.contingent(code).utf8)]
        request.key = key
        let name = code + (device.map { "-\($0)" } ?? "")
        return try issue(request, kind: .contingent, name: name, folder: "contingents", force: force) { entry in
            entry.contingent = code
            entry.device = device
        }
    }

    /// An operator's client certificate: SAN `urn:peacehub:operator:<name>`, CN `operator <name>`.
    @discardableResult
    public func issueOperator(
        _ name: String, key: SubjectKey = .generate(.default), days: Int = 365, force: Bool = false,
        now: Date = Date()
    ) throws(PKIError) -> PKIIndex.Entry {
        guard Principal.isSimpleName(name) else {
            throw PKIError(.invalidArgument, "operator '\(name)' must be 1-64 letters, digits, '.', '_' or '-'")
        }
        var request = CertificateRequest(
            subject: [("O", Array(Self.organization.utf8)), ("CN", Array(Self.commonName("operator \(name)").utf8))],
            usage: .clientAuth,
            notBefore: now.addingTimeInterval(-300), notAfter: try expiry(days, now))
        request.uris = [Array(PeaceHubURI.operator(name).utf8)]
        request.key = key
        return try issue(request, kind: .operator, name: name, folder: "operators", force: force)
    }

    /// Issues any certificate described by `request` into `<folder>/<name>.pem` (with its new key in
    /// `<folder>/<name>.key`, unless the key came with a signing request) and records it, with what `describe`
    /// adds to its entry.
    @discardableResult
    public func issue(
        _ request: CertificateRequest, kind: PKIIndex.Entry.Kind = .custom, name: String, folder: String = "custom",
        force: Bool = false, describe: (inout PKIIndex.Entry) -> Void = { _ in }
    ) throws(PKIError) -> PKIIndex.Entry {
        // The stem of `<name>.pem` and `<name>.key`: a host name or `<CODE>-<device>` may be longer than the 64
        // characters of a simple name (a device of 61 to 64 was refused), never than a file name.
        guard Principal.isSimpleName(name, maximumLength: 250) else {
            throw PKIError(.invalidArgument, "'\(name)' is not a usable file name")
        }
        guard request.subject.allSatisfy({ $0.attribute != "CN" || Self.fitsCommonName($0.value) }) else {
            throw PKIError(.invalidArgument, "a commonName takes 1 to 64 characters (RFC 5280, ub-common-name)")
        }
        var index = try loadIndex()
        let ca = try loadCA()
        // A certificate cannot outlive the CA that vouches for it: past the CA's notAfter no chain verifies.
        if let caNotAfter = OpenSSL.date(X509_get0_notAfter(ca.certificate)), request.notAfter > caNotAfter {
            throw PKIError(
                .invalidArgument,
                "the certificate would be valid until \(Self.day(request.notAfter)), after its CA "
                    + "(valid until \(Self.day(caNotAfter))): give fewer --days")
        }
        let certificatePath = "\(folder)/\(name).pem"
        let keyPath = "\(folder)/\(name).key"
        if !force {
            for path in [keyPath, certificatePath] where FileManager.default.fileExists(atPath: url(path).path) {
                throw PKIError(.alreadyExists, "\(url(path).path) already exists: pass --force to replace it")
            }
        }
        let key: Key
        let privateKey: Data?
        switch request.key {
        case .generate(let type):
            key = try Key(type: type)
            privateKey = try key.pem()
        case .signingRequest(let data):
            key = try Key(signingRequest: data)
            privateKey = nil
        }
        let cert = try CertificateBuilder(subjectKey: key)
        try cert.setSubject(request.subject)
        try cert.setIssuer(ca.certificate)
        try cert.setValidity(notBefore: request.notBefore, notAfter: request.notAfter)
        try cert.addExtension(NID_basic_constraints, "critical,CA:FALSE", issuer: ca.certificate)
        try cert.addExtension(NID_key_usage, "critical,digitalSignature", issuer: ca.certificate)
        let usage = request.usage == .clientAuth ? "clientAuth" : "serverAuth"
        try cert.addExtension(NID_ext_key_usage, usage, issuer: ca.certificate)
        try cert.addExtension(NID_subject_key_identifier, "hash", issuer: ca.certificate)
        try cert.addExtension(NID_authority_key_identifier, "keyid:always", issuer: ca.certificate)
        try cert.addAlternativeNames(uris: request.uris, dnsNames: request.dnsNames, ipAddresses: request.ipAddresses)
        try cert.sign(with: ca.key)

        var entry = PKIIndex.Entry(
            serial: cert.serial, kind: kind, name: name, subject: CertificateInfo.subject(cert.x509),
            notBefore: request.notBefore, notAfter: request.notAfter, certificatePath: certificatePath,
            keyPath: privateKey == nil ? nil : keyPath)
        describe(&entry)
        // Recorded before its files are written: a certificate the index does not know could never be revoked
        // (a full disk failed the index after the key and certificate were written). An entry whose files a
        // failure then leaves out is harmless, and revocable all the same.
        index.certificates.append(entry)
        try saveIndex(index)
        try createDirectory(url(folder))
        if let privateKey {
            try writeFile(url(keyPath), privateKey, mode: 0o600)
        } else {
            try removeFile(url(keyPath))  // the replaced certificate's key: it no longer matches
        }
        try writeFile(url(certificatePath), cert.pem(), mode: 0o644)
        return entry
    }

    // MARK: Revocation and listing

    /// Revokes one certificate by serial (hex, any case, `:` allowed) and rewrites the CRL.
    @discardableResult
    public func revoke(
        serial: String, reason: RevocationReason = .unspecified, now: Date = Date()
    ) throws(PKIError) -> [PKIIndex.Entry] {
        guard !serial.isEmpty, serial.allSatisfy({ $0.isHexDigit || $0 == ":" }) else {
            throw PKIError(.invalidArgument, "'\(serial)' is not a serial number in hexadecimal (e.g. 5C:A1 or 5CA1)")
        }
        let wanted = Self.normalizedSerial(serial)
        return try revoke(reason: reason, now: now, description: "serial \(serial)") { $0.serial == wanted }
    }

    /// Revokes every certificate of a contingent (all devices) and rewrites the CRL.
    @discardableResult
    public func revoke(
        contingent code: String, reason: RevocationReason = .unspecified, now: Date = Date()
    ) throws(PKIError) -> [PKIIndex.Entry] {
        try revoke(reason: reason, now: now, description: "contingent \(code)") { $0.contingent == code }
    }

    /// Certificates already revoked keep their date and reason.
    private func revoke(
        reason: RevocationReason, now: Date, description: String, matching: (PKIIndex.Entry) -> Bool
    ) throws(PKIError) -> [PKIIndex.Entry] {
        var index = try loadIndex()
        let ca = try loadCA()
        let matches = index.certificates.indices.filter { matching(index.certificates[$0]) }
        guard !matches.isEmpty else {
            throw PKIError(.notFound, "no certificate with \(description) in \(directory.path)")
        }
        var revoked: [Int] = []
        for position in matches where index.certificates[position].revokedAt == nil {
            index.certificates[position].revokedAt = now
            index.certificates[position].revocationReason = reason
            revoked.append(position)
        }
        try writeCRL(index: &index, ca: ca, days: index.crlDays, now: now)
        try saveIndex(index)
        // As the CRL lists them: the hub's record may hold an earlier date and reason.
        return revoked.map { index.certificates[$0] }
    }

    /// The index (issued and revoked certificates, CRL state): readable without the CA's key, which may be kept
    /// offline.
    public func list() throws(PKIError) -> PKIIndex {
        try loadIndex()
    }

    // MARK: Files

    func loadIndex() throws(PKIError) -> PKIIndex {
        guard FileManager.default.fileExists(atPath: caCertificateURL.path) else { throw missingCA() }
        guard let data = FileManager.default.contents(atPath: indexURL.path) else {
            throw PKIError(.fileSystem, "cannot read \(indexURL.path)")
        }
        do {
            return try PKIIndex.decoder.decode(PKIIndex.self, from: data)
        } catch {
            throw PKIError(.fileSystem, "\(indexURL.path) is not a valid PKI index: \(error)")
        }
    }

    private func saveIndex(_ index: PKIIndex) throws(PKIError) {
        let data: Data
        do {
            data = try PKIIndex.encoder.encode(index)
        } catch {
            throw PKIError(.fileSystem, "cannot encode the PKI index: \(error)")
        }
        try writeFile(indexURL, data + Data("\n".utf8), mode: 0o644)
    }

    private func missingCA() -> PKIError {
        PKIError(.missingCA, "no hub CA in \(directory.path): run `peacehub pki init --dir \(directory.path)` first")
    }

    func loadCA() throws(PKIError) -> CertificateAuthority {
        let fm = FileManager.default
        guard fm.fileExists(atPath: caCertificateURL.path) else { throw missingCA() }
        // Kept offline (operations.md): `pki init` would make a new CA, which is not what is missing.
        guard fm.fileExists(atPath: caKeyURL.path) else {
            throw PKIError(
                .missingCA,
                "the hub CA's key \(caKeyURL.path) is missing (kept offline?): issuing, revoking and CRLs need it; "
                    + "put it back for the command, or restore it from its backup")
        }
        // During a CA rotation `ca.pem` holds two CAs in either order: the CA is the one whose key `ca.key` is (the
        // first was taken, and certificates and CRLs signed with the other key named it as their issuer).
        guard let keyData = fm.contents(atPath: caKeyURL.path),
            let certificates = try? TLSContext.readPEMObjects(caCertificateURL.path, what: "CA file", {
                PEM_read_bio_X509($0, nil, nil, nil)
            })
        else { throw PKIError(.fileSystem, "cannot read the hub CA in \(directory.path)") }
        let key = try? OpenSSL.withMemoryBIO(keyData) { PEM_read_bio_PrivateKey($0, nil, OpenSSL.noPassword, nil) }
        ERR_clear_error()
        guard let key = key ?? nil, !certificates.isEmpty else {
            certificates.forEach { X509_free($0) }
            (key ?? nil).map { EVP_PKEY_free($0) }
            throw PKIError(.openSSL, "the hub CA in \(directory.path) is not a readable PEM certificate and key")
        }
        let matching = certificates.first { X509_check_private_key($0, key) == 1 }
        ERR_clear_error()
        certificates.filter { $0 != matching }.forEach { X509_free($0) }
        guard let matching else {
            EVP_PKEY_free(key)
            throw PKIError(.openSSL, "\(caKeyURL.path) is the key of no certificate in \(caCertificateURL.path)")
        }
        return CertificateAuthority(certificate: matching, key: Key(owning: key), retain: false)
    }

    /// Creates `url` and its parents, naming the system's reason on failure (`mkdir -p`).
    private func createDirectory(_ url: URL) throws(PKIError) {
        var path = ""
        for component in url.standardizedFileURL.pathComponents {
            path = path.isEmpty || path == "/" ? path + component : path + "/" + component
            guard mkdir(path, 0o755) != 0, errno != EEXIST else { continue }
            throw PKIError(.fileSystem, "cannot create \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// Writes through a temporary file created with `mode`, then renames: readers never see a partial file and a
    /// key is never readable by others, even for a moment.
    private func writeFile(_ url: URL, _ data: Data, mode: mode_t) throws(PKIError) {
        if let problem = writeWhole(data, to: url.path, mode: mode) { throw PKIError(.fileSystem, problem) }
    }

    private func removeFile(_ url: URL) throws(PKIError) {
        guard unlink(url.path) == 0 || errno == ENOENT else {
            throw PKIError(.fileSystem, "cannot remove \(url.path): \(String(cString: strerror(errno)))")
        }
    }

    private func expiry(_ days: Int, _ now: Date) throws(PKIError) -> Date {
        guard days > 0 else { throw PKIError(.invalidArgument, "--days must be positive") }
        return now.addingTimeInterval(Double(days) * 86400)
    }

    /// `text` cut to the 64 characters X.520 allows a commonName (RFC 5280 appendix A, ub-common-name): the
    /// names that matter are in the subjectAltName, and a longer CN made certificates other tools refuse to read.
    static func commonName(_ text: String) -> String { String(text.prefix(64)) }

    /// Whether a commonName's bytes are 1 to 64 characters.
    static func fitsCommonName(_ value: [UInt8]) -> Bool {
        let characters = String(decoding: value, as: UTF8.self).count
        return (1...64).contains(characters)
    }

    /// `2027-12-04`, in UTC.
    static func day(_ date: Date) -> String { date.formatted(Date.ISO8601FormatStyle().year().month().day()) }

    /// The serial as OpenSSL's BN_bn2hex writes it (and the index stores it): upper-case hex, no separators,
    /// whole bytes (so at most one leading zero).
    public static func normalizedSerial(_ serial: String) -> String {
        let hex = serial.uppercased().filter { $0 != ":" }
        let trimmed = String(hex.drop { $0 == "0" })
        if trimmed.isEmpty { return "00" }
        return trimmed.count % 2 == 1 ? "0" + trimmed : trimmed
    }

    static func isHostName(_ text: String) -> Bool {
        let labels = text.split(separator: ".", omittingEmptySubsequences: false)
        guard text.utf8.count <= 253, !labels.isEmpty else { return false }
        return labels.allSatisfy { label in
            (1...63).contains(label.utf8.count) && label.first != "-" && label.last != "-"
                && label.utf8.allSatisfy { byte in
                    (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
                        || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                        || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: "-")
                }
        }
    }
}

/// A loaded CA certificate and key.
final class CertificateAuthority {
    let certificate: OpaquePointer
    let key: Key

    /// - Parameter retain: true to share a certificate owned elsewhere; false to take over one just read.
    init(certificate: OpaquePointer, key: Key, retain: Bool) {
        if retain { X509_up_ref(certificate) }
        self.certificate = certificate
        self.key = key
    }

    deinit { X509_free(certificate) }
}

/// An EVP_PKEY.
final class Key {
    let pkey: OpaquePointer

    init(type: PKI.KeyType) throws(PKIError) {
        ERR_clear_error()
        guard let pkey = type == .ed25519 ? phub_keygen_ed25519() : phub_keygen_p256() else {
            throw PKIError(.openSSL, OpenSSL.errorText("key generation failed"))
        }
        self.pkey = pkey
    }

    init(owning pkey: OpaquePointer) { self.pkey = pkey }

    /// The public key of a PKCS#10 request (PEM or DER), once the request's signature verifies with it and it is
    /// a key TLS 1.3 can use at 112 bits of security or more (`PKI.SubjectKey.signingRequest`).
    init(signingRequest data: Data) throws(PKIError) {
        ERR_clear_error()
        let pem = (try? OpenSSL.withMemoryBIO(data) { PEM_read_bio_X509_REQ($0, nil, nil, nil) }) ?? nil
        let parsed = pem ?? ((try? OpenSSL.withMemoryBIO(data) { d2i_X509_REQ_bio($0, nil) }) ?? nil)
        ERR_clear_error()
        guard let request = parsed else {
            throw PKIError(.invalidArgument, "not a PKCS#10 certificate signing request (PEM or DER)")
        }
        defer { X509_REQ_free(request) }
        guard let pkey = X509_REQ_get_pubkey(request) else {
            throw PKIError(
                .invalidArgument,
                "the signing request's key cannot be read (\(OpenSSL.errorText("unknown algorithm"))): an algorithm "
                    + "no active provider reads; use \(Self.acceptedKeys)")
        }
        guard X509_REQ_verify(request, pkey) == 1 else {
            EVP_PKEY_free(pkey)
            ERR_clear_error()
            throw PKIError(
                .invalidArgument,
                "the signing request's signature does not verify with its own key: it was altered, or not made "
                    + "with the private key")
        }
        guard let refusal = Self.refusal(of: pkey) else {
            self.pkey = pkey
            return
        }
        EVP_PKEY_free(pkey)
        throw PKIError(
            .invalidArgument,
            "the signing request's key (\(refusal)) is not accepted: use \(Self.acceptedKeys)")
    }

    private static let acceptedKeys = "RSA of 2048 bits or more, EC P-256, P-384 or P-521, Ed25519 or Ed448"

    /// Why TLS 1.3 at 112 bits of security could not use `pkey`, or nil when it can.
    private static func refusal(of pkey: OpaquePointer) -> String? {
        let type = EVP_PKEY_get0_type_name(pkey).map { String(cString: $0) } ?? "unknown type"
        if EVP_PKEY_is_a(pkey, "EC") == 1 {
            var name = [CChar](repeating: 0, count: 64)
            var length = 0
            guard EVP_PKEY_get_group_name(pkey, &name, name.count, &length) == 1 else { return "EC, unnamed curve" }
            let curve = OpenSSL.string(fromNulTerminated: name)
            // A key that spells out its curve's parameters is refused by every verifier (RFC 5480 2.1.1: PKIX
            // names the curve), though OpenSSL reports the curve's name for it.
            var encoding = [CChar](repeating: 0, count: 32)
            if EVP_PKEY_get_utf8_string_param(pkey, "encoding", &encoding, encoding.count, &length) == 1,
                OpenSSL.string(fromNulTerminated: encoding) != "named_curve"
            {
                return "EC \(curve) with explicit curve parameters; make the key with -pkeyopt ec_param_enc:named_curve"
            }
            return ["prime256v1", "secp384r1", "secp521r1"].contains(curve) ? nil : "EC \(curve)"
        }
        if EVP_PKEY_is_a(pkey, "RSA") == 1 {
            let bits = EVP_PKEY_get_bits(pkey)
            return bits >= 2048 ? nil : "RSA \(bits) bits"
        }
        return EVP_PKEY_is_a(pkey, "ED25519") == 1 || EVP_PKEY_is_a(pkey, "ED448") == 1 ? nil : type
    }

    deinit { EVP_PKEY_free(pkey) }

    /// Ed25519 signs without a separate digest.
    var digest: OpaquePointer? { EVP_PKEY_get_id(pkey) == EVP_PKEY_ED25519 ? nil : EVP_sha256() }

    func pem() throws(PKIError) -> Data {
        guard let data = OpenSSL.pem({ PEM_write_bio_PrivateKey($0, pkey, nil, nil, 0, nil, nil) }) else {
            throw PKIError(.openSSL, OpenSSL.errorText("cannot encode the private key"))
        }
        return data
    }
}

/// An X509 under construction.
final class CertificateBuilder {
    let x509: OpaquePointer
    private let subjectKey: Key

    init(subjectKey: Key) throws(PKIError) {
        guard let x509 = X509_new() else { throw PKIError(.openSSL, "out of memory") }
        self.x509 = x509
        self.subjectKey = subjectKey
        guard X509_set_version(x509, 2) == 1, phub_x509_set_random_serial(x509) == 1,
            X509_set_pubkey(x509, subjectKey.pkey) == 1
        else { throw PKIError(.openSSL, OpenSSL.errorText("cannot start a certificate")) }
    }

    deinit { X509_free(x509) }

    var serial: String { CertificateInfo.serial(x509) }

    func setSubject(_ attributes: [(attribute: String, value: [UInt8])]) throws(PKIError) {
        guard let name = X509_get_subject_name(x509) else { throw PKIError(.openSSL, "certificate has no subject") }
        for (attribute, value) in attributes {
            let added = value.withUnsafeBufferPointer { bytes in
                X509_NAME_add_entry_by_txt(
                    name, attribute, V_ASN1_UTF8STRING, bytes.baseAddress, Int32(bytes.count), -1, 0)
            }
            guard added == 1 else { throw PKIError(.openSSL, OpenSSL.errorText("cannot set subject \(attribute)")) }
        }
    }

    /// The issuer's subject, or our own (self-signed) when `issuer` is nil.
    func setIssuer(_ issuer: OpaquePointer?) throws(PKIError) {
        guard X509_set_issuer_name(x509, X509_get_subject_name(issuer ?? x509)) == 1 else {
            throw PKIError(.openSSL, OpenSSL.errorText("cannot set the issuer"))
        }
    }

    func setValidity(notBefore: Date, notAfter: Date) throws(PKIError) {
        guard let start = ASN1_TIME_set(nil, time_t(notBefore.timeIntervalSince1970)) else {
            throw PKIError(.openSSL, "out of memory")
        }
        defer { ASN1_TIME_free(start) }
        guard let end = ASN1_TIME_set(nil, time_t(notAfter.timeIntervalSince1970)) else {
            throw PKIError(.openSSL, "out of memory")
        }
        defer { ASN1_TIME_free(end) }
        guard X509_set1_notBefore(x509, start) == 1, X509_set1_notAfter(x509, end) == 1 else {
            throw PKIError(.openSSL, OpenSSL.errorText("cannot set the validity"))
        }
    }

    func addExtension(_ nid: Int32, _ value: String, issuer: OpaquePointer?) throws(PKIError) {
        guard phub_x509_add_ext(issuer ?? x509, x509, nid, value) == 1 else {
            throw PKIError(.openSSL, OpenSSL.errorText("cannot add extension \(value)"))
        }
    }

    func addAlternativeNames(uris: [[UInt8]], dnsNames: [String], ipAddresses: [[UInt8]]) throws(PKIError) {
        let entries =
            uris.map { (GEN_URI, $0) } + dnsNames.map { (GEN_DNS, Array($0.utf8)) }
            + ipAddresses.map { (GEN_IPADD, $0) }
        guard !entries.isEmpty else { return }
        guard let names = GENERAL_NAMES_new() else { throw PKIError(.openSSL, "out of memory") }
        defer { GENERAL_NAMES_free(names) }
        for (type, bytes) in entries {
            let added = bytes.withUnsafeBufferPointer {
                phub_general_names_add(names, type, $0.baseAddress, Int32($0.count))
            }
            guard added == 1 else { throw PKIError(.openSSL, OpenSSL.errorText("cannot add a subjectAltName")) }
        }
        guard X509_add1_ext_i2d(x509, NID_subject_alt_name, UnsafeMutableRawPointer(names), 0, 0) == 1 else {
            throw PKIError(.openSSL, OpenSSL.errorText("cannot add the subjectAltName extension"))
        }
    }

    func sign(with key: Key) throws(PKIError) {
        guard X509_sign(x509, key.pkey, key.digest) > 0 else {
            throw PKIError(.openSSL, OpenSSL.errorText("cannot sign the certificate"))
        }
    }

    func pem() throws(PKIError) -> Data {
        guard let data = OpenSSL.pem({ PEM_write_bio_X509($0, x509) }) else {
            throw PKIError(.openSSL, OpenSSL.errorText("cannot encode the certificate"))
        }
        return data
    }
}

/// Builds and signs a v2 CRL.
enum CRLBuilder {
    static func make(
        ca: CertificateAuthority, revoked: [(serial: String, date: Date, reason: PKI.RevocationReason)], number: Int,
        lastUpdate: Date, nextUpdate: Date?
    ) throws(PKIError) -> Data {
        ERR_clear_error()
        guard let crl = X509_CRL_new() else { throw PKIError(.openSSL, "out of memory") }
        defer { X509_CRL_free(crl) }
        guard X509_CRL_set_version(crl, 1) == 1,
            X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca.certificate)) == 1,
            setTime(lastUpdate, { X509_CRL_set1_lastUpdate(crl, $0) }),
            nextUpdate.map({ setTime($0, { X509_CRL_set1_nextUpdate(crl, $0) }) }) ?? true
        else { throw PKIError(.openSSL, OpenSSL.errorText("cannot start the CRL")) }
        for (serial, date, reason) in revoked {
            guard let number = integer(hex: serial) else { throw PKIError(.invalidArgument, "bad serial \(serial)") }
            defer { ASN1_INTEGER_free(number) }
            guard let entry = X509_REVOKED_new() else { throw PKIError(.openSSL, "out of memory") }
            guard X509_REVOKED_set_serialNumber(entry, number) == 1,
                setTime(date, { X509_REVOKED_set_revocationDate(entry, $0) }), addReason(reason, to: entry),
                X509_CRL_add0_revoked(crl, entry) == 1
            else {
                X509_REVOKED_free(entry)
                throw PKIError(.openSSL, OpenSSL.errorText("cannot add serial \(serial) to the CRL"))
            }
        }
        guard let crlNumber = integer(hex: String(number, radix: 16)) else { throw PKIError(.openSSL, "out of memory") }
        defer { ASN1_INTEGER_free(crlNumber) }
        // The authority key identifier names the signing key, not only the issuer's name (RFC 5280 5.2.1: MUST):
        // during a CA rotation two CAs may share a name, and a verifier then tells their CRLs apart by it.
        guard X509_CRL_add1_ext_i2d(crl, NID_crl_number, UnsafeMutableRawPointer(crlNumber), 0, 0) == 1,
            phub_crl_add_ext(ca.certificate, crl, NID_authority_key_identifier, "keyid:always") == 1,
            X509_CRL_sort(crl) == 1, X509_CRL_sign(crl, ca.key.pkey, ca.key.digest) > 0
        else { throw PKIError(.openSSL, OpenSSL.errorText("cannot sign the CRL")) }
        guard let data = OpenSSL.pem({ PEM_write_bio_X509_CRL($0, crl) }) else {
            throw PKIError(.openSSL, OpenSSL.errorText("cannot encode the CRL"))
        }
        return data
    }

    /// The entry's reasonCode extension; none for `unspecified` (RFC 5280 5.3.1).
    private static func addReason(_ reason: PKI.RevocationReason, to entry: OpaquePointer) -> Bool {
        guard reason != .unspecified else { return true }
        guard let code = ASN1_ENUMERATED_new() else { return false }
        defer { ASN1_ENUMERATED_free(code) }
        return ASN1_ENUMERATED_set(code, reason.code) == 1
            && X509_REVOKED_add1_ext_i2d(entry, NID_crl_reason, UnsafeMutableRawPointer(code), 0, 0) == 1
    }

    private static func setTime(_ date: Date, _ body: (UnsafeMutablePointer<ASN1_TIME>) -> Int32) -> Bool {
        guard let time = ASN1_TIME_set(nil, time_t(date.timeIntervalSince1970)) else { return false }
        defer { ASN1_TIME_free(time) }
        return body(time) == 1
    }

    private static func integer(hex: String) -> UnsafeMutablePointer<ASN1_INTEGER>? {
        var number: OpaquePointer?
        guard BN_hex2bn(&number, hex) > 0, let number else { return nil }
        defer { BN_free(number) }
        return BN_to_ASN1_INTEGER(number, nil)
    }
}
