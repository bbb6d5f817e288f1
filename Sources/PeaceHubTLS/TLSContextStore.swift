import CoreMetrics
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// The current `TLSContext`, rebuilt from its files on `reload()`.
///
/// New connections take `current`; connections already up keep the context they started with. After a
/// successful reload the live sessions whose certificate the new CRL revokes are closed. A reload that fails
/// (missing or bad file) keeps the previous context and records why in `lastReloadError`. The server calls
/// `reload()` on SIGHUP; `TLSFileWatcher` calls it when a file changes.
///
/// Each context built sets the gauges `peacehub_tls_certificate_expiry_timestamp_seconds{certificate="server"|"ca"}`
/// and `peacehub_tls_crl_next_update_timestamp_seconds` (seconds since 1970), so an alert can fire before
/// the certificate, the CA or the CRL runs out.
public final class TLSContextStore: Sendable {
    /// The configuration of the current context (a reload may bring a new one).
    public var configuration: TLSConfiguration { current.configuration }
    /// Live sessions by certificate serial; pass it to each `TLSHandler` (as `makeHandler` does).
    public let sessions: TLSSessionRegistry
    private let logger: Logger
    private let state: Mutex<State>

    private struct State {
        var context: TLSContext
        var lastReloadError: TLSError?
        var reloadCount = 0
    }

    /// Builds the first context; throws when the files are not usable (the server cannot start without them).
    public init(configuration: TLSConfiguration, logger: Logger = Logger(label: "peacehub.tls")) throws(TLSError) {
        let context = try TLSContext(configuration: configuration)
        self.logger = logger
        self.sessions = TLSSessionRegistry()
        self.state = Mutex(State(context: context))
        sessions.applyRevocations(context.revokedSerials)
        logCRLStatus(context.crlStatus())
        Self.recordExpiry(of: context)
    }

    /// The context new connections use.
    public var current: TLSContext { state.withLock { $0.context } }

    /// Why the last reload failed, or nil when it succeeded (or none ran).
    public var lastReloadError: TLSError? { state.withLock { $0.lastReloadError } }

    /// How many reloads succeeded.
    public var reloadCount: Int { state.withLock { $0.reloadCount } }

    /// Where the current CRL stands: check `needsAttention` (an expired CRL refuses every client).
    public var crlStatus: CRLStatus { current.crlStatus() }

    /// A handler for a new connection on the current context, registered for revocation.
    public func makeHandler(serverHostname: String? = nil) throws(TLSError) -> TLSHandler {
        try TLSHandler(context: current, sessions: sessions, serverHostname: serverHostname, logger: logger)
    }

    /// Rebuilds the context from the files and swaps it in; on failure keeps the old one (and its configuration)
    /// and throws why. `configuration` replaces the current one (a configuration reload: another server
    /// certificate, TLS version or timeout); nil keeps it. Returns how many live sessions were closed because
    /// the new CRL revokes them.
    @discardableResult
    public func reload(configuration: TLSConfiguration? = nil) throws(TLSError) -> Int {
        let context: TLSContext
        do {
            context = try TLSContext(configuration: configuration ?? self.configuration)
            try Self.refuseOlderCRLs(context, loaded: current)
        } catch {
            state.withLock { $0.lastReloadError = error }
            logger.error("TLS reload failed; keeping the previous context", metadata: ["tls.reason": "\(error.reason)"])
            throw error
        }
        state.withLock { state in
            state.context = context
            state.lastReloadError = nil
            state.reloadCount += 1
        }
        let closed = sessions.applyRevocations(context.revokedSerials)
        logger.info(
            "TLS context reloaded",
            metadata: ["tls.revoked": "\(context.revokedSerials.count)", "tls.sessionsClosed": "\(closed)"])
        logCRLStatus(context.crlStatus())
        Self.recordExpiry(of: context)
        return closed
    }

    /// A CRL whose number is below the one loaded for the same CA is an older list (a restored backup, a stale
    /// copy): taking it would take revocations back, so the reload is refused (RFC 5280 5.2.3 numbers them for this).
    static func refuseOlderCRLs(_ context: TLSContext, loaded: TLSContext) throws(TLSError) {
        for (ca, number) in context.crlNumbers.sorted(by: { $0.key < $1.key }) {
            if let current = loaded.crlNumbers[ca], number < current {
                throw TLSError(
                    .invalidConfiguration,
                    "the CRL of \(ca) is number \(number), older than the loaded number \(current): it would take "
                        + "revocations back (write a new one with peacehub pki crl)")
            }
        }
    }

    /// Sets the expiry gauges from a new context.
    static func recordExpiry(of context: TLSContext) {
        guard context.configuration.role == .server else { return }
        let expiry = "peacehub_tls_certificate_expiry_timestamp_seconds"
        if let date = context.certificateNotAfter {
            Gauge(label: expiry, dimensions: [("certificate", "server")]).record(date.timeIntervalSince1970)
        }
        if let date = context.trustedCANotAfter {
            Gauge(label: expiry, dimensions: [("certificate", "ca")]).record(date.timeIntervalSince1970)
        }
        if let date = context.crlNextUpdate {
            Gauge(label: "peacehub_tls_crl_next_update_timestamp_seconds").record(date.timeIntervalSince1970)
        }
    }

    func logCRLStatus(_ status: CRLStatus) {
        switch status {
        case .expired: logger.error("\(status)")
        case .expiresSoon: logger.warning("\(status)")
        default: break
        }
    }
}

/// Polls the CA, CRL, certificate and key files of a `TLSContextStore` and reloads it when one changes: a
/// `Service` that runs until graceful shutdown or cancellation.
///
/// Polling (every second by default) works on every file system and catches files replaced by rename. It also
/// re-logs the CRL status whenever it changes (for example when nextUpdate comes into the warning window).
public final class TLSFileWatcher: Service, Sendable {
    private let store: TLSContextStore
    private let interval: Duration
    private let logger: Logger
    private let state: Mutex<WatchState>

    private struct WatchState {
        var signatures: [String: FileSignature]
        var crlStatus: CRLStatus?
    }

    /// What identifies a version of a file: modification time, size and inode.
    struct FileSignature: Equatable {
        var modified: Date?
        var size: Int?
        var inode: Int?

        init(path: String) {
            let attributes = try? FileManager.default.attributesOfItem(atPath: path)
            modified = attributes?[.modificationDate] as? Date
            size = (attributes?[.size] as? NSNumber)?.intValue
            inode = (attributes?[.systemFileNumber] as? NSNumber)?.intValue
        }
    }

    public init(store: TLSContextStore, interval: Duration = .seconds(1), logger: Logger = Logger(label: "peacehub.tls")) {
        self.store = store
        self.interval = interval
        self.logger = logger
        self.state = Mutex(WatchState(signatures: Self.signatures(of: store), crlStatus: store.crlStatus))
    }

    /// Polls until graceful shutdown or cancellation. The files as they were when the watcher was made are the
    /// baseline, so a change made before the first poll still reloads.
    public func run() async {
        let interval = interval
        try? await cancelWhenGracefulShutdown { [self] in
            while true {
                try await Task.sleep(for: interval)
                poll()
            }
        }
    }

    /// One poll: reload when any file changed; log when the CRL status changed.
    func poll() {
        let current = Self.signatures(of: store)
        let changed = state.withLock { state in
            defer { state.signatures = current }
            return state.signatures != current
        }
        if changed {
            logger.info("TLS files changed; reloading")
            _ = try? store.reload()
        }
        let status = store.crlStatus
        let statusChanged = state.withLock { state in
            defer { state.crlStatus = status }
            return state.crlStatus.map { !sameKind($0, status) } ?? true
        }
        if statusChanged && !changed { store.logCRLStatus(status) }
    }

    private static func signatures(of store: TLSContextStore) -> [String: FileSignature] {
        Dictionary(uniqueKeysWithValues: store.configuration.watchedFiles.map { ($0, FileSignature(path: $0)) })
    }

    private func sameKind(_ lhs: CRLStatus, _ rhs: CRLStatus) -> Bool {
        switch (lhs, rhs) {
        case (.current, .current), (.expiresSoon, .expiresSoon), (.expired, .expired), (.notConfigured, .notConfigured),
            (.noNextUpdate, .noNextUpdate):
            true
        default: false
        }
    }
}
