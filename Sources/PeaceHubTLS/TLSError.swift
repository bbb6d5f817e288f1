import COpenSSL

/// Why a TLS connection or context failed.
///
/// Compare `code` in code and tests; `reason` carries OpenSSL's own text (error queue and verify result) for
/// logs and people.
public struct TLSError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The kind of failure.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate enum Backing: String, Hashable, Sendable {
            case handshakeFailed
            case certificateRejected
            case identityRejected
            case handshakeTimeout
            case uncleanShutdown
            case protocolError
            case sessionRevoked
            case invalidConfiguration
            case closed
        }

        fileprivate var backing: Backing

        /// The handshake failed for a reason other than the peer's certificate (protocol version, no shared cipher…).
        public static let handshakeFailed = Code(backing: .handshakeFailed)
        /// Certificate verification failed (unknown CA, revoked, expired, wrong purpose, no certificate…).
        public static let certificateRejected = Code(backing: .certificateRejected)
        /// The certificate verified but does not name a PeaceHub principal correctly (missing SAN, NUL, bad UTF-8).
        public static let identityRejected = Code(backing: .identityRejected)
        /// The peer did not finish the handshake in time.
        public static let handshakeTimeout = Code(backing: .handshakeTimeout)
        /// The TCP connection ended without a close_notify (possible truncation attack).
        public static let uncleanShutdown = Code(backing: .uncleanShutdown)
        /// OpenSSL reported an error on an established connection (bad record, unexpected alert…).
        public static let protocolError = Code(backing: .protocolError)
        /// The session was closed because a reload revoked the peer's certificate.
        public static let sessionRevoked = Code(backing: .sessionRevoked)
        /// A certificate, key, CA or CRL file could not be used to build a context.
        public static let invalidConfiguration = Code(backing: .invalidConfiguration)
        /// A write or close arrived after the TLS session ended.
        public static let closed = Code(backing: .closed)

        public var description: String { backing.rawValue }
    }

    public var code: Code
    /// OpenSSL's reason text, or ours.
    public var reason: String
    /// The X.509 verify result (`X509_V_ERR_*`) when the peer's certificate was refused, else nil.
    public var verifyResult: Int?
    public var file: String
    public var line: Int

    public init(_ code: Code, _ reason: String, verifyResult: Int? = nil, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.reason = reason
        self.verifyResult = verifyResult
        self.file = file
        self.line = line
    }

    public var description: String { reason }

    /// Errors are equal when their code and reason are; where they were raised does not matter.
    public static func == (lhs: TLSError, rhs: TLSError) -> Bool {
        lhs.code == rhs.code && lhs.reason == rhs.reason && lhs.verifyResult == rhs.verifyResult
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(code)
        hasher.combine(reason)
        hasher.combine(verifyResult)
    }
}

extension TLSError {
    /// A small, closed set of words for why a handshake failed, for the `reason` dimension of
    /// `peacehub_tls_handshake_failures_total`: `no_certificate`, `unknown_ca` (the peer's chain does not
    /// lead to a trusted CA, or the peer says so of ours), `certificate_revoked`, `certificate_expired`,
    /// `crl_expired` (every client is refused until a fresh CRL is published), `bad_certificate` (another
    /// verification failure, or a certificate that names no PeaceHub principal), `protocol_version`, `timeout`,
    /// `peer_closed` (the connection ended mid-handshake, e.g. a TCP probe) and `other`.
    public static let handshakeFailureReasons = [
        "no_certificate", "unknown_ca", "certificate_revoked", "certificate_expired", "crl_expired", "bad_certificate",
        "protocol_version", "timeout", "peer_closed", "other",
    ]

    /// One of `handshakeFailureReasons`.
    public var handshakeFailureReason: String {
        if code == .handshakeTimeout { return "timeout" }
        if code == .uncleanShutdown { return "peer_closed" }
        if code == .identityRejected { return "bad_certificate" }
        if let verifyResult {
            switch Int32(truncatingIfNeeded: verifyResult) {
            case X509_V_ERR_CERT_REVOKED: return "certificate_revoked"
            case X509_V_ERR_CERT_HAS_EXPIRED: return "certificate_expired"
            case X509_V_ERR_CRL_HAS_EXPIRED: return "crl_expired"
            case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY,
                X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN,
                X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE, X509_V_ERR_CERT_SIGNATURE_FAILURE:
                return "unknown_ca"
            default: return "bad_certificate"
            }
        }
        // OpenSSL's own reason strings (the error queue), which name alerts from the peer too.
        let text = reason.lowercased()
        let byText = [
            ("peer did not return a certificate", "no_certificate"), ("certificate required", "no_certificate"),
            ("unknown ca", "unknown_ca"), ("certificate revoked", "certificate_revoked"),
            ("certificate expired", "certificate_expired"), ("bad certificate", "bad_certificate"),
            ("unsupported protocol", "protocol_version"), ("wrong version number", "protocol_version"),
            ("protocol version", "protocol_version"), ("no protocols available", "protocol_version"),
            ("version too low", "protocol_version"),
        ]
        return byText.first { text.contains($0.0) }?.1 ?? "other"
    }
}
