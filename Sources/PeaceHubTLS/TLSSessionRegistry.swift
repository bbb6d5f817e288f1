import Synchronization

/// The live TLS sessions by certificate serial, so that a CRL reload can close the ones it revokes.
///
/// OpenSSL checks the CRL only during the handshake; without this, a revoked contingent would stay connected
/// until it reconnects. Thread-safe: handlers register from their event loops, reloads run anywhere.
public final class TLSSessionRegistry: Sendable {
    /// A registration, to be handed back on unregister.
    public struct Token: Hashable, Sendable {
        fileprivate let id: UInt64
        fileprivate let serial: String
    }

    private struct State {
        var nextID: UInt64 = 0
        var sessions: [String: [UInt64: @Sendable () -> Void]] = [:]
        var revoked: Set<String> = []
    }

    private let state = Mutex(State())

    public init() {}

    /// Registers a live session. `revoke` must close it promptly (it is called from any thread). When the serial
    /// is already revoked (the handshake ran on an older context), `revoke` is called at once.
    public func register(serial: String, revoke: @escaping @Sendable () -> Void) -> Token {
        let (token, alreadyRevoked) = state.withLock { state in
            state.nextID += 1
            state.sessions[serial, default: [:]][state.nextID] = revoke
            return (Token(id: state.nextID, serial: serial), state.revoked.contains(serial))
        }
        if alreadyRevoked { revoke() }
        return token
    }

    public func unregister(_ token: Token) {
        state.withLock { state in
            state.sessions[token.serial]?[token.id] = nil
            if state.sessions[token.serial]?.isEmpty == true { state.sessions[token.serial] = nil }
        }
    }

    /// Records the revoked serials of a newly loaded CRL and closes the live sessions they cover.
    /// Returns how many sessions were told to close.
    @discardableResult
    public func applyRevocations(_ revoked: Set<String>) -> Int {
        let closers = state.withLock { state in
            state.revoked = revoked
            return revoked.flatMap { state.sessions[$0]?.values.map { $0 } ?? [] }
        }
        for close in closers { close() }
        return closers.count
    }

    /// The serials of the live sessions (one entry per session).
    public var liveSerials: [String] {
        state.withLock { state in
            state.sessions.flatMap { serial, sessions in Array(repeating: serial, count: sessions.count) }
        }
    }
}
