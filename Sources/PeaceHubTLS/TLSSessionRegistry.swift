import Synchronization

/// A certificate as a CRL names it: its issuer, told by key, and its serial number. A serial is unique only per
/// issuer (RFC 5280 4.1.2.2), and two trusted CAs may share a name (a rotation between two CAs of `pki init`'s
/// default name): by serial or name, one CA's revocation would close the other's certificate of the same number.
public struct CertificateID: Hashable, Sendable {
    /// SHA-256 of the issuer's DER SubjectPublicKeyInfo, lower-case hex: for a CRL's entry, the key of the CA
    /// whose signature on it verified.
    public let issuerKey: String
    /// Upper-case hex without leading zeros, as in `peacehub pki list` and CRLs.
    public let serial: String

    public init(issuerKey: String, serial: String) {
        self.issuerKey = issuerKey
        self.serial = serial
    }

    /// `<issuerKey>:<serial>`, as `PeerCredentials` names it.
    public var credential: String { "\(issuerKey):\(serial)" }
}

/// The live TLS sessions by certificate, so that a CRL reload can close the ones it revokes. A session is
/// registered under every certificate of its chain below the root: revoking an intermediate CA closes its branch.
///
/// OpenSSL checks the CRL only during the handshake; without this, a revoked contingent would stay connected
/// until it reconnects. Thread-safe: handlers register from their event loops, reloads run anywhere.
public final class TLSSessionRegistry: Sendable {
    /// A registration, to be handed back on unregister.
    public struct Token: Hashable, Sendable {
        fileprivate let id: UInt64
        fileprivate let certificates: [CertificateID]
    }

    private struct State {
        var nextID: UInt64 = 0
        var sessions: [CertificateID: [UInt64: @Sendable (CertificateID) -> Void]] = [:]
        var revoked: Set<CertificateID> = []
        var observers: [@Sendable (Set<CertificateID>) -> Void] = []
    }

    private let state = Mutex(State())

    public init() {}

    /// Registers a live session under the certificates of its chain (leaf first, root left out). `revoke` must
    /// close it promptly (it is called from any thread) and is told which certificate was revoked. When one is
    /// already revoked (the handshake ran on an older context), `revoke` is called at once.
    public func register(
        _ certificates: [CertificateID], revoke: @escaping @Sendable (CertificateID) -> Void
    ) -> Token {
        let (token, alreadyRevoked) = state.withLock { state in
            state.nextID += 1
            for certificate in certificates { state.sessions[certificate, default: [:]][state.nextID] = revoke }
            let token = Token(id: state.nextID, certificates: certificates)
            return (token, certificates.first { state.revoked.contains($0) })
        }
        if let alreadyRevoked { revoke(alreadyRevoked) }
        return token
    }

    public func unregister(_ token: Token) {
        state.withLock { state in
            for certificate in token.certificates {
                state.sessions[certificate]?[token.id] = nil
                if state.sessions[certificate]?.isEmpty == true { state.sessions[certificate] = nil }
            }
        }
    }

    /// Calls `observer` with every set of revocations applied from now on (what a protocol checks the state its
    /// closed sessions left behind against).
    public func onRevocations(_ observer: @escaping @Sendable (Set<CertificateID>) -> Void) {
        state.withLock { $0.observers.append(observer) }
    }

    /// Records the certificates a newly loaded CRL revokes and closes the live sessions they cover, each once, then
    /// tells the observers. Returns how many sessions were told to close.
    @discardableResult
    public func applyRevocations(_ revoked: Set<CertificateID>) -> Int {
        let (closers, observers) = state.withLock { state in
            state.revoked = revoked
            var closers: [UInt64: () -> Void] = [:]
            for certificate in revoked {
                for (id, revoke) in state.sessions[certificate] ?? [:] where closers[id] == nil {
                    closers[id] = { revoke(certificate) }
                }
            }
            return (closers, state.observers)
        }
        for close in closers.values { close() }
        for observer in observers { observer(revoked) }
        return closers.count
    }
}
