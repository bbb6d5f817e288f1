import Foundation
import NIOCore

/// What a `TLSContext` is built from: files and policy.
///
/// The defaults are the hub's policy: TLS 1.3 only, the peer verified against the hub CA file alone (never the
/// system trust store), CRL checking on, no session resumption.
public struct TLSConfiguration: Sendable {
    /// Which side of the handshake this context serves.
    public enum Role: Sendable, Hashable {
        /// The hub's listener: requires and verifies a client certificate with the clientAuth purpose.
        case server
        /// The hub-to-hub client: verifies the other hub's server certificate and host name.
        case client
    }

    /// The lowest protocol version accepted.
    public enum ProtocolVersion: Sendable, Hashable {
        case tlsv1_2
        case tlsv1_3
    }

    public var role: Role
    /// PEM certificate (chain) presented to the peer; required for servers.
    public var certificateFile: String?
    /// PEM private key of `certificateFile`.
    public var privateKeyFile: String?
    /// PEM file of the CA certificates trusted for peers (the hub CA; during a CA rotation, old and new).
    public var trustedCAFile: String
    /// PEM file with the CRL of every trusted CA. Required for servers: CRL checking is always on there.
    public var crlFile: String?
    /// TLS 1.3 unless a partner stack forces 1.2.
    public var minimumVersion: ProtocolVersion = .tlsv1_3
    /// The TLS 1.3 cipher suites this side offers (a client) or accepts (a server), colon-separated in OpenSSL's
    /// names, e.g. `TLS_AES_128_GCM_SHA256`; nil keeps OpenSSL's list (its built-in one, or `Ciphersuites` in
    /// the system's openssl.cnf).
    public var cipherSuites: String?
    /// How long a peer may take to finish the handshake before the connection is dropped.
    public var handshakeTimeout: TimeAmount = .seconds(5)
    /// How long a close waits for the peer's close_notify before closing the socket anyway.
    public var closeNotifyTimeout: TimeAmount = .seconds(1)
    /// How long before the CRL's nextUpdate the hub starts warning (an expired CRL locks everyone out).
    public var crlWarningWindow: TimeInterval = 7 * 24 * 3600

    public init(
        role: Role, certificateFile: String?, privateKeyFile: String?, trustedCAFile: String, crlFile: String?
    ) {
        self.role = role
        self.certificateFile = certificateFile
        self.privateKeyFile = privateKeyFile
        self.trustedCAFile = trustedCAFile
        self.crlFile = crlFile
    }

    /// The hub listener's configuration.
    public static func server(
        certificateFile: String, privateKeyFile: String, trustedCAFile: String, crlFile: String
    ) -> TLSConfiguration {
        TLSConfiguration(
            role: .server, certificateFile: certificateFile, privateKeyFile: privateKeyFile,
            trustedCAFile: trustedCAFile, crlFile: crlFile)
    }

    /// A hub-to-hub client configuration; the client certificate and CRL are optional.
    public static func client(
        trustedCAFile: String, certificateFile: String? = nil, privateKeyFile: String? = nil, crlFile: String? = nil
    ) -> TLSConfiguration {
        TLSConfiguration(
            role: .client, certificateFile: certificateFile, privateKeyFile: privateKeyFile,
            trustedCAFile: trustedCAFile, crlFile: crlFile)
    }

    /// The files a reload depends on (the watcher polls them).
    public var watchedFiles: [String] {
        [trustedCAFile, crlFile, certificateFile, privateKeyFile].compactMap { $0 }
    }
}

/// Where the CRL stands relative to its nextUpdate.
public enum CRLStatus: Sendable, Hashable, CustomStringConvertible {
    /// No CRL configured (client contexts only).
    case notConfigured
    /// The CRL is valid beyond the warning window.
    case current(nextUpdate: Date)
    /// The nextUpdate of the CRL of `ca` (its name and key) is within the warning window: run `peacehub pki crl`
    /// for that CA soon.
    case expiresSoon(nextUpdate: Date, ca: String)
    /// The nextUpdate of the CRL of `ca` has passed: OpenSSL now refuses the chains through that CA (every client,
    /// when it is the only one).
    case expired(nextUpdate: Date, ca: String)
    /// The CRL has no nextUpdate (never expires in OpenSSL's view).
    case noNextUpdate

    public var description: String {
        switch self {
        case .notConfigured: "no CRL configured"
        case .current(let date): "CRL current until \(date)"
        case .expiresSoon(let date, let ca): "CRL expires soon (nextUpdate \(date)) for \(ca): run `peacehub pki crl`"
        case .expired(let date, let ca):
            "CRL of \(ca) expired at \(date): its clients are refused until it publishes a new CRL (`peacehub pki crl`)"
        case .noNextUpdate: "CRL has no nextUpdate"
        }
    }

    /// True for the states that deserve a warning.
    public var needsAttention: Bool {
        switch self {
        case .expiresSoon, .expired: true
        default: false
        }
    }
}
