import COpenSSL
import COpenSSLShim
import Foundation
import PeaceHubCore

/// An immutable OpenSSL `SSL_CTX` built from a `TLSConfiguration`.
///
/// Configured once, then shared read-only by every connection on every event loop (OpenSSL allows concurrent
/// `SSL_new` on a configured context). A CRL cannot be replaced inside a live context, so reloading builds a new
/// `TLSContext` (see `TLSContextStore`); each `TLSHandler` keeps a strong reference to the one it started with.
public final class TLSContext: @unchecked Sendable {
    public let configuration: TLSConfiguration
    /// The soonest nextUpdate among the loaded CRLs; nil without a CRL or when no CRL has one.
    public var crlNextUpdate: Date? { crlNextUpdates.values.min() }
    /// The nextUpdate of each CA's CRL that has one, by the keys of `crlNumbers`: past it, OpenSSL refuses the
    /// chains through that CA, not the other CAs' clients.
    public let crlNextUpdates: [String: Date]
    /// The certificates the loaded CRLs revoke.
    public let revoked: Set<CertificateID>
    /// The CRL number (RFC 5280 5.2.3) of each CA's CRL, by the CA's name and SPKI hash; a reload refuses a CRL
    /// older than the one loaded (`TLSContextStore`).
    public let crlNumbers: [String: Int]
    /// What each CA's CRL revokes, by the keys of `crlNumbers`, serial by serial: a CRL that keeps its number must
    /// keep its list.
    public let crlRevocations: [String: [String: CRLEntry]]
    /// The CAs of the CA file, named as `crlNumbers` names them (none without a CRL file).
    public let trustedAuthorities: Set<String>
    /// When this side's own certificate expires; nil without one (a client context may have none).
    public let certificateNotAfter: Date?
    /// When the first of the trusted CAs expires (during a CA rotation the CA file holds two).
    public let trustedCANotAfter: Date?
    let sslContext: OpaquePointer
    /// The client chains verified so far (server contexts only).
    let verifiedChains: VerifiedChains?

    /// Builds the context; throws `invalidConfiguration` with OpenSSL's reason when a file is missing or bad.
    public convenience init(configuration: TLSConfiguration) throws(TLSError) {
        try self.init(configuration: configuration, ownCertificate: true)
    }

    /// `ownCertificate` false builds a server context that can only verify (`clientVerifier`).
    private init(configuration: TLSConfiguration, ownCertificate: Bool) throws(TLSError) {
        ERR_clear_error()
        guard let method = configuration.role == .server ? TLS_server_method() : TLS_client_method(),
            let ctx = SSL_CTX_new(method)
        else {
            throw TLSError(.invalidConfiguration, OpenSSL.errorText("SSL_CTX_new failed"))
        }
        do {
            try Self.configure(ctx, configuration, ownCertificate: ownCertificate)
            let crl = try Self.loadCRLs(ctx, configuration)
            self.crlNextUpdates = crl.nextUpdates
            self.revoked = crl.revoked
            self.crlNumbers = crl.numbers
            self.crlRevocations = crl.revocations
            self.trustedAuthorities = crl.authorities
            if configuration.role == .server {
                let chains = VerifiedChains(crlNextUpdate: crl.nextUpdates.values.min())
                let argument = Unmanaged.passUnretained(chains).toOpaque()
                SSL_CTX_set_cert_verify_callback(ctx, certificateVerifyCallback, argument)
                self.verifiedChains = chains
            } else {
                self.verifiedChains = nil
            }
            self.certificateNotAfter = SSL_CTX_get0_certificate(ctx).flatMap { OpenSSL.date(X509_get0_notAfter($0)) }
            let cas = try Self.readPEMObjects(configuration.trustedCAFile, what: "CA file") {
                PEM_read_bio_X509($0, nil, nil, nil)
            }
            defer { cas.forEach { X509_free($0) } }
            self.trustedCANotAfter = cas.compactMap { OpenSSL.date(X509_get0_notAfter($0)) }.min()
        } catch {
            SSL_CTX_free(ctx)
            ERR_clear_error()
            throw error
        }
        self.configuration = configuration
        self.sslContext = ctx
    }

    deinit {
        SSL_CTX_free(sslContext)
    }

    /// The TLS 1.3 cipher suites this context accepts, in its order: what `tls.cipherSuites` or the system's
    /// `Ciphersuites` made of OpenSSL's list (a name OpenSSL does not know in openssl.cnf is skipped unsaid).
    public var tls13CipherSuites: [String] {
        (OpenSSL.take(phub_ssl_ctx_tls13_suites(sslContext)) ?? "").split(separator: ":").map(String.init)
    }

    /// A server context without a certificate of its own, which verifies client certificates as the listener
    /// would (`verifyClientCertificate`) and serves no handshake.
    public static func clientVerifier(trustedCAFile: String, crlFile: String) throws(TLSError) -> TLSContext {
        let configuration = TLSConfiguration(
            role: .server, certificateFile: nil, privateKeyFile: nil, trustedCAFile: trustedCAFile, crlFile: crlFile)
        return try TLSContext(configuration: configuration, ownCertificate: false)
    }

    /// The standing at `now` of the CRL that expires first.
    public func crlStatus(now: Date = Date()) -> CRLStatus {
        guard configuration.crlFile != nil else { return .notConfigured }
        guard let (ca, nextUpdate) = crlNextUpdates.min(by: { $0.value < $1.value }) else { return .noNextUpdate }
        if nextUpdate <= now { return .expired(nextUpdate: nextUpdate, ca: ca) }
        if nextUpdate.timeIntervalSince(now) <= configuration.crlWarningWindow {
            return .expiresSoon(nextUpdate: nextUpdate, ca: ca)
        }
        return .current(nextUpdate: nextUpdate)
    }

    /// What has lapsed at `now` and stops clients from connecting: this side's certificate, or a CA's CRL (OpenSSL
    /// refuses the chains through that CA while it is past its nextUpdate). Empty while all are current; the hub's
    /// readiness check reports them. (An expired CA is not among them: during a rotation the old one lapses
    /// harmlessly.)
    public func expiryProblems(now: Date = Date()) -> [String] {
        var problems: [String] = []
        if let notAfter = certificateNotAfter, notAfter <= now {
            problems.append(
                "the certificate \(configuration.certificateFile ?? "") expired on \(notAfter.ISO8601Format()): "
                    + "issue a new one (peacehub pki issue-server --force)")
        }
        for (ca, nextUpdate) in crlNextUpdates.sorted(by: { $0.value < $1.value }) where nextUpdate <= now {
            problems.append(
                "the CRL of \(ca) in \(configuration.crlFile ?? "") is past its nextUpdate "
                    + "\(nextUpdate.ISO8601Format()): the clients of that CA are refused until it writes a new one "
                    + "(peacehub pki crl)")
        }
        return problems
    }

    /// Why a context would refuse `suites` as its TLS 1.3 cipher suites (`TLSConfiguration.cipherSuites`); nil
    /// when it takes them. For configuration checks that run before a context is built.
    public static func cipherSuitesProblem(_ suites: String) -> String? {
        guard let ctx = SSL_CTX_new(TLS_server_method()) else { return "cannot be checked (out of memory)" }
        defer {
            SSL_CTX_free(ctx)
            ERR_clear_error()
        }
        return setCipherSuites(ctx, suites)
    }

    /// Sets the TLS 1.3 cipher suites; returns what is wrong with them, if anything. OpenSSL skips names it does
    /// not know, or that name a TLS 1.2 suite, so each name is looked for in the list it made. The name refused is
    /// given by its position, never shown (errors reach the log).
    private static func setCipherSuites(_ ctx: OpaquePointer, _ suites: String) -> String? {
        let names = suites.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        // OpenSSL refuses a list of which it knows no name at all ("no cipher match"): the first name is unknown.
        let accepted = SSL_CTX_set_ciphersuites(ctx, suites) == 1
        if !accepted { ERR_clear_error() }
        guard let unknown = accepted ? names.firstIndex(where: { phub_ssl_ctx_has_tls13_suite(ctx, $0) == 0 }) : 0
        else { return nil }
        return "has an entry that is no TLS 1.3 suite of this OpenSSL, the \((unknown + 1).ordinal) "
            + "(suites are separated by colons)"
    }

    private static func versionName(_ version: Int32) -> String {
        switch version {
        case TLS1_3_VERSION: "TLS 1.3"
        case TLS1_2_VERSION: "TLS 1.2"
        case TLS1_1_VERSION: "TLS 1.1"
        case TLS1_VERSION: "TLS 1.0"
        default: "version \(version)"
        }
    }

    private static func configure(
        _ ctx: OpaquePointer, _ configuration: TLSConfiguration, ownCertificate: Bool
    ) throws(TLSError) {
        // `tls.minimumVersion` raises the system's `MinProtocol` (openssl.cnf), never lowers it; a `MaxProtocol`
        // below the result leaves no version, which would refuse every client: said here, at start.
        let configured = configuration.minimumVersion == .tlsv1_3 ? TLS1_3_VERSION : TLS1_2_VERSION
        let minimum = max(configured, phub_ssl_ctx_get_min_proto_version(ctx))
        let maximum = phub_ssl_ctx_get_max_proto_version(ctx)
        guard maximum == 0 || maximum >= minimum else {
            throw TLSError(
                .invalidConfiguration,
                "no TLS version is left: the system's openssl.cnf allows at most \(versionName(maximum)) "
                    + "(MaxProtocol), the hub needs \(versionName(minimum)) or later (tls.minimumVersion)")
        }
        guard phub_ssl_ctx_set_min_proto_version(ctx, minimum) == 1 else {
            throw TLSError(.invalidConfiguration, OpenSSL.errorText("cannot set the minimum TLS version"))
        }
        if let suites = configuration.cipherSuites, let problem = setCipherSuites(ctx, suites) {
            throw TLSError(.invalidConfiguration, "the TLS 1.3 cipher suites \(problem)")
        }
        // When TLS 1.2 is allowed: forward secrecy and AEAD only (RFC 9325 4.2), no CBC or SHA-1 suites.
        guard SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20") == 1 else {
            throw TLSError(.invalidConfiguration, OpenSSL.errorText("cannot set the TLS 1.2 cipher list"))
        }
        phub_ssl_ctx_disable_resumption(ctx)
        phub_ssl_ctx_disable_renegotiation(ctx)
        phub_ssl_ctx_release_buffers(ctx)

        if let certificateFile = configuration.certificateFile {
            guard let keyFile = configuration.privateKeyFile else {
                throw TLSError(.invalidConfiguration, "certificate \(certificateFile) given without its private key")
            }
            try requireReadable(certificateFile, "certificate")
            try requireReadable(keyFile, "private key")
            guard SSL_CTX_use_certificate_chain_file(ctx, certificateFile) == 1 else {
                throw TLSError(
                    .invalidConfiguration, "certificate \(certificateFile): \(OpenSSL.errorText("unusable"))")
            }
            if configuration.role == .server, let certificate = SSL_CTX_get0_certificate(ctx) {
                try requireCurrent(certificate, certificateFile)
            }
            SSL_CTX_set_default_passwd_cb(ctx, OpenSSL.noPassword)
            // Loading the key also checks that it belongs to the certificate.
            guard SSL_CTX_use_PrivateKey_file(ctx, keyFile, SSL_FILETYPE_PEM) == 1 else {
                let errors = OpenSSL.errorText("unusable")
                let reason =
                    errors.contains("key values mismatch")
                    ? "private key \(keyFile) does not match certificate \(certificateFile): \(errors)"
                    : "private key \(keyFile): \(errors)"
                throw TLSError(.invalidConfiguration, reason)
            }
        } else if configuration.role == .server && ownCertificate {
            throw TLSError(.invalidConfiguration, "a server context needs a certificate and private key")
        }

        // Trust anchors: the hub CA file only. SSL_CTX_set_default_verify_paths is never called.
        try requireReadable(configuration.trustedCAFile, "CA file")
        guard SSL_CTX_load_verify_locations(ctx, configuration.trustedCAFile, nil) == 1 else {
            throw TLSError(
                .invalidConfiguration, "CA file \(configuration.trustedCAFile): \(OpenSSL.errorText("unusable"))")
        }
        SSL_CTX_set_verify_depth(ctx, 4)
        if configuration.certificateFile != nil, phub_ssl_ctx_build_cert_chain(ctx) == 0 {
            throw TLSError(.invalidConfiguration, OpenSSL.errorText("cannot build the certificate chain"))
        }
        if configuration.role == .server {
            if let names = SSL_load_client_CA_file(configuration.trustedCAFile) {
                SSL_CTX_set_client_CA_list(ctx, names)
            }
            // Enforce the clientAuth extended key usage (OpenSSL's default for servers, made explicit).
            SSL_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT)
            SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, verifyCallback)
        } else {
            SSL_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER)
            SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, verifyCallback)
        }
        ERR_clear_error()
    }

    /// A server certificate outside its validity period would have every client refuse the hub: such a context
    /// is refused, so that a start fails and a reload keeps the certificate in use.
    private static func requireCurrent(_ certificate: OpaquePointer, _ path: String) throws(TLSError) {
        let now = Date()
        if let notBefore = OpenSSL.date(X509_get0_notBefore(certificate)), notBefore > now {
            throw TLSError(
                .invalidConfiguration, "certificate \(path) is not valid before \(notBefore.ISO8601Format())")
        }
        if let notAfter = OpenSSL.date(X509_get0_notAfter(certificate)), notAfter < now {
            throw TLSError(
                .invalidConfiguration,
                "certificate \(path) expired on \(notAfter.ISO8601Format()): clients would refuse it; issue a new one "
                    + "(`peacehub pki issue-server --force`)")
        }
    }

    private static func requireReadable(_ path: String, _ what: String) throws(TLSError) {
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw TLSError(.invalidConfiguration, "\(what) \(path) is missing or unreadable")
        }
    }

    /// Loads every CRL of the CRL file into the context's store and turns CRL checking on, for every certificate of
    /// a chain below its root. Each CRL must be signed by a CA of the CA file: a foreign CRL would lock every client
    /// out, so it is refused here instead.
    private static func loadCRLs(
        _ ctx: OpaquePointer, _ configuration: TLSConfiguration
    ) throws(TLSError) -> (
        nextUpdates: [String: Date], revoked: Set<CertificateID>, numbers: [String: Int],
        revocations: [String: [String: CRLEntry]], authorities: Set<String>
    ) {
        guard let crlFile = configuration.crlFile else {
            if configuration.role == .server {
                throw TLSError(.invalidConfiguration, "a server context needs a CRL file (CRL checking is always on)")
            }
            return ([:], [], [:], [:], [])
        }
        let cas = try readPEMObjects(configuration.trustedCAFile, what: "CA file") {
            PEM_read_bio_X509($0, nil, nil, nil)
        }
        defer { cas.forEach { X509_free($0) } }
        let crls = try readPEMObjects(crlFile, what: "CRL file") { PEM_read_bio_X509_CRL($0, nil, nil, nil) }
        defer { crls.forEach { X509_CRL_free($0) } }
        guard !crls.isEmpty else { throw TLSError(.invalidConfiguration, "CRL file \(crlFile) holds no CRL") }

        guard let store = SSL_CTX_get_cert_store(ctx) else {
            throw TLSError(.invalidConfiguration, "context has no certificate store")
        }
        var nextUpdates: [String: Date] = [:]
        var revoked: Set<CertificateID> = []
        var numbers: [String: Int] = [:]
        var revocations: [String: [String: CRLEntry]] = [:]
        for crl in crls {
            let issuer = X509_CRL_get_issuer(crl)
            let issuerName = OpenSSL.take(phub_x509_name_rfc2253(issuer)) ?? "?"
            let signer = cas.first { ca in
                X509_NAME_cmp(X509_get_subject_name(ca), issuer) == 0 && X509_CRL_verify(crl, X509_get0_pubkey(ca)) == 1
            }
            ERR_clear_error()
            guard let signer else {
                throw TLSError(
                    .invalidConfiguration,
                    "CRL file \(crlFile): the CRL of \(issuerName) is not signed by any CA in "
                        + configuration.trustedCAFile)
            }
            // OpenSSL refuses every client while the CRL's lastUpdate lies ahead (a CA machine's clock running
            // fast): refused here, as a server certificate not yet valid is, rather than lock everyone out.
            if let lastUpdate = OpenSSL.date(X509_CRL_get0_lastUpdate(crl)), lastUpdate > Date() {
                throw TLSError(
                    .invalidConfiguration,
                    "CRL file \(crlFile): the CRL of \(issuerName) is not valid before "
                        + "\(lastUpdate.ISO8601Format()) (its lastUpdate): every client would be refused until then; "
                        + "check the clock of the machine that wrote it")
            }
            guard X509_STORE_add_crl(store, crl) == 1 else {
                throw TLSError(.invalidConfiguration, "CRL file \(crlFile): \(OpenSSL.errorText("cannot add CRL"))")
            }
            let signerKey = CertificateInfo.keyDigest(signer)
            let ca = CertificateInfo.crlAuthorityName(signer)
            if let date = OpenSSL.date(X509_CRL_get0_nextUpdate(crl)) {
                nextUpdates[ca] = min(nextUpdates[ca] ?? date, date)
            }
            var listed: [String: CRLEntry] = [:]
            for index in 0..<phub_crl_revoked_count(crl) {
                if let entry = phub_crl_revoked_get(crl, index),
                    let serial = OpenSSL.take(phub_asn1_integer_hex(X509_REVOKED_get0_serialNumber(entry)))
                {
                    let reason = phub_revoked_reason(entry)
                    let date = OpenSSL.date(X509_REVOKED_get0_revocationDate(entry))
                    listed[serial] = CRLEntry(
                        revokedAt: date ?? Date(timeIntervalSince1970: 0), reasonCode: reason >= 0 ? Int(reason) : nil)
                }
            }
            revoked.formUnion(listed.keys.map { CertificateID(issuerKey: signerKey, serial: $0) })
            let number = phub_crl_number(crl)
            if number >= 0 {
                if number >= numbers[ca] ?? 0 {
                    numbers[ca] = number
                    revocations[ca] = listed
                }
            }
        }
        // Every CA certificate below the root too, against its issuer's CRL: a revoked intermediate ends its branch.
        X509_STORE_set_flags(store, UInt(X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL))
        return (nextUpdates, revoked, numbers, revocations, Set(cas.map(CertificateInfo.crlAuthorityName)))
    }

    /// Every PEM object `read` finds in the file, in order.
    static func readPEMObjects(
        _ path: String, what: String, _ read: (OpaquePointer) -> OpaquePointer?
    ) throws(TLSError) -> [OpaquePointer] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TLSError(.invalidConfiguration, "\(what) \(path) is missing or unreadable")
        }
        ERR_clear_error()
        let objects: [OpaquePointer]
        do {
            objects = try OpenSSL.withMemoryBIO(data) { bio in
                var objects: [OpaquePointer] = []
                while let object = read(bio) { objects.append(object) }
                return objects
            }
        } catch {
            throw TLSError(.invalidConfiguration, "\(what) \(path): out of memory")
        }
        // The read that ends the loop leaves "no start line" in the queue.
        ERR_clear_error()
        return objects
    }
}

/// Per-connection verification state, reachable from OpenSSL's verify callback through SSL ex-data.
final class VerificationState {
    let role: TLSConfiguration.Role
    /// The client principal found at depth 0 (server role).
    var principal: TLSPeerIdentity.Principal?
    /// Why the peer's names were refused, when they were.
    var identityFailure: String?
    /// The first chain failure OpenSSL reported: depth, subject, verify error.
    var chainFailure: (depth: Int32, subject: String, error: Int32)?
    /// The verified chain below its root (`CertificateInfo.chainBelowRoot`): revoking any of them ends the session.
    var chain: [CertificateID] = []

    init(role: TLSConfiguration.Role) {
        self.role = role
    }

    /// The SSL ex-data slot holding an unretained pointer to the connection's VerificationState.
    static let exDataIndex: Int32 = phub_ssl_get_ex_new_index()

    /// The state of the connection whose chain `storeContext` verifies.
    static func of(_ storeContext: OpaquePointer) -> VerificationState? {
        guard let ssl = phub_store_ctx_get_ssl(storeContext), let raw = SSL_get_ex_data(ssl, exDataIndex) else {
            return nil
        }
        return Unmanaged<VerificationState>.fromOpaque(raw).takeUnretainedValue()
    }

    /// Keeps OpenSSL's verdict for the chain; at depth 0 also checks the peer's names.
    func verify(preverify: Int32, storeContext: OpaquePointer) -> Int32 {
        let depth = X509_STORE_CTX_get_error_depth(storeContext)
        let cert = X509_STORE_CTX_get_current_cert(storeContext)
        guard preverify == 1 else {
            if chainFailure == nil {
                chainFailure = (depth, cert.map(CertificateInfo.subject) ?? "", X509_STORE_CTX_get_error(storeContext))
            }
            return 0
        }
        guard depth == 0, let cert else { return 1 }
        chain = CertificateInfo.chainBelowRoot(storeContext)
        do {
            switch role {
            case .server:
                principal = try CertificateInfo.clientPrincipal(cert)
            case .client:
                try CertificateInfo.checkSubject(cert)
                _ = try CertificateInfo.alternativeNames(cert)
            }
            return 1
        } catch {
            identityFailure = error.reason
            X509_STORE_CTX_set_error(storeContext, X509_V_ERR_APPLICATION_VERIFICATION)
            return 0
        }
    }
}

/// OpenSSL's verify callback: finds the connection's VerificationState and delegates to it.
private let verifyCallback: @convention(c) (Int32, OpaquePointer?) -> Int32 = { preverify, storeContext in
    guard let storeContext, let state = VerificationState.of(storeContext) else { return preverify }
    return state.verify(preverify: preverify, storeContext: storeContext)
}
