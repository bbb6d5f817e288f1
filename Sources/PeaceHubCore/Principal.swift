/// Who is on the other end of a connection or a write: known by a certificate, never by a
/// name the client chose.
public enum Principal: Sendable, Hashable, CustomStringConvertible {
    /// A contingent, by its ISO 3166 alpha-3 code (`KAZ`).
    case contingent(String)
    /// A hub operator, by name.
    case `operator`(String)

    /// `contingent:KAZ` or `operator:<name>`: the form the audit trail, logs and the CLI use.
    public var description: String {
        switch self {
        case .contingent(let code): "contingent:\(code)"
        case .operator(let name): "operator:\(name)"
        }
    }

    /// True for an operator or device name: 1–64 (or `maximumLength`) of ASCII letters, digits, `.`, `_` and `-`,
    /// not starting with `.`. What a certificate may name, and so what the audit trail and the logs show.
    public static func isSimpleName(_ name: String, maximumLength: Int = 64) -> Bool {
        guard (1...maximumLength).contains(name.utf8.count), name.first != "." else { return false }
        return name.utf8.allSatisfy { byte in
            (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
                || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: ".")
                || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
        }
    }
}

/// A connection's credential was withdrawn while it was up (its certificate revoked by a new CRL). The TLS layer
/// sends it up the pipeline just before it closes the connection, so a protocol above can say why first.
public struct CredentialRevoked: Sendable, Hashable {
    public let reason: String

    public init(reason: String) {
        self.reason = reason
    }
}

/// The certificates a connection's peer was verified with (its chain below the root, leaf first), each as
/// `<SHA-256 of the issuer's key>:<serial>`, what a CRL revokes. The TLS layer sends it up after the peer's identity,
/// so that what a client leaves behind (an MQTT will, published after a delay) can be held to the certificates it
/// came with.
public struct PeerCredentials: Sendable, Hashable {
    public let certificates: [String]

    public init(certificates: [String]) {
        self.certificates = certificates
    }
}
