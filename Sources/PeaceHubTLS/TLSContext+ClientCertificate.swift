import COpenSSL
import COpenSSLShim
import Foundation

/// A client certificate the listener would accept, and what it names.
public struct ClientCertificate: Sendable, Hashable {
    public var principal: TLSPeerIdentity.Principal
    /// The subject in RFC 2253 form.
    public var subject: String
    /// Upper-case hex without leading zeros, as in `peacehub pki list` and CRLs.
    public var serial: String
    /// SHA-256 of the DER SubjectPublicKeyInfo, lower-case hex.
    public var spkiSHA256: String
    public var notBefore: Date?
    public var notAfter: Date?
}

extension TLSContext {
    /// What the listener's handshake would decide about a client certificate, without a handshake: the same
    /// store (CA file, CRLs), purpose, chain depth and names. `data` is PEM (the certificate first, then any
    /// intermediates) or one DER certificate; `date` replaces the clock for validity and CRL times.
    public func verifyClientCertificate(_ data: Data, at date: Date? = nil) -> Result<ClientCertificate, TLSError> {
        guard configuration.role == .server else {
            return .failure(TLSError(.invalidConfiguration, "only a server context verifies client certificates"))
        }
        let certificates = Self.readCertificates(data)
        defer { certificates.forEach { X509_free($0) } }
        guard let leaf = certificates.first else {
            return .failure(TLSError(.certificateRejected, "not a certificate (PEM or DER)"))
        }
        let intermediates: [OpaquePointer?] = certificates.dropFirst().map { $0 }
        guard let storeContext = X509_STORE_CTX_new(),
            let untrusted = intermediates.withUnsafeBufferPointer({
                phub_x509_stack_new($0.baseAddress, Int32($0.count))
            })
        else {
            return .failure(TLSError(.certificateRejected, "out of memory"))
        }
        defer {
            X509_STORE_CTX_free(storeContext)
            phub_x509_stack_free(untrusted)
            ERR_clear_error()
        }
        // As libssl sets up a server's check of its client: the "ssl_client" defaults, then the context's
        // parameters (purpose, depth) over them.
        guard X509_STORE_CTX_init(storeContext, SSL_CTX_get_cert_store(sslContext), leaf, untrusted) == 1,
            X509_STORE_CTX_set_default(storeContext, "ssl_client") == 1,
            X509_VERIFY_PARAM_set1(X509_STORE_CTX_get0_param(storeContext), SSL_CTX_get0_param(sslContext)) == 1
        else {
            return .failure(TLSError(.certificateRejected, OpenSSL.errorText("cannot set up the verification")))
        }
        // libssl checks key sizes and digests at the context's security level (`EE key too weak`); so does this.
        let parameters = X509_STORE_CTX_get0_param(storeContext)
        X509_VERIFY_PARAM_set_auth_level(parameters, SSL_CTX_get_security_level(sslContext))
        if let date { X509_STORE_CTX_set_time(storeContext, 0, time_t(date.timeIntervalSince1970)) }
        guard X509_verify_cert(storeContext) == 1 else {
            let error = Int(X509_STORE_CTX_get_error(storeContext))
            var reason = "certificate verify failed: \(OpenSSL.verifyErrorText(error)) (verify error \(error))"
            if let failing = X509_STORE_CTX_get_current_cert(storeContext) {
                let depth = X509_STORE_CTX_get_error_depth(storeContext)
                reason += " at depth \(depth) for \(CertificateInfo.subject(failing))"
            }
            return .failure(TLSError(.certificateRejected, reason, verifyResult: error))
        }
        let principal: TLSPeerIdentity.Principal
        do {
            principal = try CertificateInfo.clientPrincipal(leaf)
        } catch {
            return .failure(TLSError(.identityRejected, error.reason))
        }
        return .success(
            ClientCertificate(
                principal: principal, subject: CertificateInfo.subject(leaf), serial: CertificateInfo.serial(leaf),
                spkiSHA256: CertificateInfo.spkiSHA256(leaf), notBefore: OpenSSL.date(X509_get0_notBefore(leaf)),
                notAfter: OpenSSL.date(X509_get0_notAfter(leaf))))
    }

    /// Every PEM certificate in `data`, else the one DER certificate it is; empty when neither.
    private static func readCertificates(_ data: Data) -> [OpaquePointer] {
        ERR_clear_error()
        defer { ERR_clear_error() }
        let pem: [OpaquePointer] =
            (try? OpenSSL.withMemoryBIO(data) { bio -> [OpaquePointer] in
                var certificates: [OpaquePointer] = []
                while let certificate = PEM_read_bio_X509(bio, nil, nil, nil) { certificates.append(certificate) }
                return certificates
            }) ?? []
        if !pem.isEmpty { return pem }
        let der: OpaquePointer? = (try? OpenSSL.withMemoryBIO(data) { d2i_X509_bio($0, nil) }) ?? nil
        guard let der else { return [] }
        return [der]
    }
}
