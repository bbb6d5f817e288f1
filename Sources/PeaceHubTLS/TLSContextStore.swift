import CoreMetrics
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

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
    /// Live sessions by certificate; pass it to each `TLSHandler` (as `makeHandler` does).
    public let sessions: TLSSessionRegistry
    private let logger: Logger
    private let state: Mutex<State>

    /// Where the CRL numbers and revocations loaded per CA are kept across restarts (`RevocationRecord`); nil keeps
    /// them in memory only.
    private let crlNumbersFile: String?

    private struct State {
        var context: TLSContext
        /// The highest CRL number and the revocations loaded so far per CA: no CRL that takes one back is taken.
        var record: RevocationRecord
        var lastReloadError: TLSError?
        var reloadCount = 0
        /// The watched files as they were just before the current context read them.
        var loadedFiles: [String: TLSFileWatcher.FileSignature]
    }

    /// Builds the first context; throws when the files are not usable (the server cannot start without them).
    /// With `crlNumbersFile`, a CRL older than one an earlier run loaded (a restored backup, a stale copy), or one that
    /// leaves out a certificate an earlier one revoked, is refused at start as on reload, and each CRL's number and
    /// revocations are recorded there.
    public init(
        configuration: TLSConfiguration, crlNumbersFile: String? = nil, logger: Logger = Logger(label: "peacehub.tls")
    ) throws(TLSError) {
        let files = TLSFileWatcher.signatures(of: configuration)
        let (context, recorded) = try Self.load(configuration, crlNumbersFile: crlNumbersFile)
        self.logger = logger
        self.crlNumbersFile = crlNumbersFile
        self.sessions = TLSSessionRegistry()
        var record = recorded
        record.add(context)
        self.state = Mutex(State(context: context, record: record, loadedFiles: files))
        if record != recorded { save(record) }
        sessions.applyRevocations(context.revoked)
        logCRLStatus(context.crlStatus())
        Self.recordExpiry(of: context)
    }

    /// What a start would refuse, without starting or recording anything (`serve --check-config`).
    public static func check(configuration: TLSConfiguration, crlNumbersFile: String?) throws(TLSError) {
        _ = try load(configuration, crlNumbersFile: crlNumbersFile)
    }

    /// The first context, and what an earlier run recorded, which it may not take back.
    private static func load(
        _ configuration: TLSConfiguration, crlNumbersFile: String?
    ) throws(TLSError) -> (TLSContext, RevocationRecord) {
        let context = try TLSContext(configuration: configuration)
        let recorded = try crlNumbersFile.map { path throws(TLSError) in try RevocationRecord.read(from: path) }
            ?? RevocationRecord()
        if let refusal = recorded.refusal(of: context) { throw TLSError(.invalidConfiguration, refusal) }
        return (context, recorded)
    }

    /// The context new connections use.
    public var current: TLSContext { state.withLock { $0.context } }

    /// Why the last reload failed, or nil when it succeeded (or none ran).
    public var lastReloadError: TLSError? { state.withLock { $0.lastReloadError } }

    /// How many reloads succeeded.
    public var reloadCount: Int { state.withLock { $0.reloadCount } }

    /// The successful reloads so far, and the watched files as the current context found them: the watcher's
    /// baseline after a reload it did not make (SIGHUP), so that it does not load the same files again.
    var loaded: (reloadCount: Int, files: [String: TLSFileWatcher.FileSignature]) {
        state.withLock { ($0.reloadCount, $0.loadedFiles) }
    }

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
        let files = TLSFileWatcher.signatures(of: configuration ?? self.configuration)
        do throws(TLSError) {
            context = try TLSContext(configuration: configuration ?? self.configuration)
            let (record, current) = state.withLock { ($0.record, $0.context) }
            try Self.refuseChangedCRLs(context, loaded: current)
            if let refusal = record.refusal(of: context) { throw TLSError(.invalidConfiguration, refusal) }
        } catch {
            state.withLock { $0.lastReloadError = error }
            logger.error("TLS reload failed; keeping the previous context", metadata: ["tls.reason": "\(error.reason)"])
            throw error
        }
        let (before, record) = state.withLock { state in
            let before = state.record
            state.record.add(context)
            state.context = context
            state.lastReloadError = nil
            state.reloadCount += 1
            state.loadedFiles = files
            return (before, state.record)
        }
        if record != before { save(record) }
        let closed = sessions.applyRevocations(context.revoked)
        logger.info(
            "TLS context reloaded",
            metadata: [
                "tls.revoked": "\(context.revoked.count)", "tls.sessionsClosed": "\(closed)",
                "tls.tls13Suites": "\(context.tls13CipherSuites.joined(separator: ":"))",
            ])
        logCRLStatus(context.crlStatus())
        Self.recordExpiry(of: context)
        return closed
    }

    /// A CRL that keeps the loaded number must list the same certificates: one that lists fewer would take a
    /// revocation back unnoticed (two `pki` runs at once wrote such pairs), and one that lists more must take a new
    /// number for relying parties to prefer it (RFC 5280 5.2.3).
    static func refuseChangedCRLs(_ context: TLSContext, loaded: TLSContext) throws(TLSError) {
        for (ca, number) in context.crlNumbers.sorted(by: { $0.key < $1.key })
        where loaded.crlNumbers[ca] == number && loaded.crlRevocations[ca] != context.crlRevocations[ca] {
            throw TLSError(
                .invalidConfiguration,
                "the CRL of \(ca) is number \(number), as the loaded one, but lists other certificates: a changed CRL "
                    + "takes a new number (write one with peacehub pki crl)")
        }
    }

    /// A failure is logged, not thrown: the hub keeps serving with the protection of the record in memory.
    private func save(_ record: RevocationRecord) {
        guard let crlNumbersFile else { return }
        do {
            try record.write(to: crlNumbersFile)
        } catch {
            logger.error(
                "cannot record the CRL numbers; an older CRL would be refused only until a restart",
                metadata: ["tls.file": "\(crlNumbersFile)", "tls.reason": "\(error)"])
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
        // A CRL without nextUpdate never lapses: +Inf, which no "expires soon" alert takes for a date (the gauge
        // kept the date of the CRL it replaced).
        let nextUpdate = context.crlNextUpdate?.timeIntervalSince1970 ?? .infinity
        Gauge(label: "peacehub_tls_crl_next_update_timestamp_seconds").record(nextUpdate)
    }

    func logCRLStatus(_ status: CRLStatus) {
        switch status {
        case .expired: logger.error("\(status)")
        case .expiresSoon: logger.warning("\(status)")
        case .noNextUpdate:
            // RFC 5280 5.1.2.5: an issuer MUST give one. Without it a CRL never lapses, so a stale copy stays trusted.
            logger.warning("\(status): it never lapses, and a stale copy would stay trusted; have its CA give one")
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
        /// The store's reload count at the last poll: a reload made elsewhere (SIGHUP) resets the baseline.
        var reloadCount: Int
        var crlStatus: CRLStatus?
    }

    /// What identifies a version of a file: modification time, size and inode; all nil when stat fails (no file).
    /// From stat(2) alone: FileManager's attributes also name the owner and group, which reads /etc/passwd and
    /// /etc/group on every poll of every file.
    struct FileSignature: Equatable {
        /// Nanoseconds since 1970.
        var modified: Int?
        var size: Int?
        var inode: UInt64?

        init(path: String) {
            var info = stat()
            guard stat(path, &info) == 0 else { return }
            modified = Int(info.st_mtim.tv_sec) * 1_000_000_000 + Int(info.st_mtim.tv_nsec)
            size = Int(info.st_size)
            inode = UInt64(info.st_ino)
        }
    }

    public init(store: TLSContextStore, interval: Duration = .seconds(1), logger: Logger = Logger(label: "peacehub.tls")) {
        self.store = store
        self.interval = interval
        self.logger = logger
        let loaded = store.loaded
        self.state = Mutex(
            WatchState(signatures: loaded.files, reloadCount: loaded.reloadCount, crlStatus: store.crlStatus))
    }

    /// Polls until graceful shutdown or cancellation. The files as the store's context read them are the
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

    /// One poll: reload when any file changed since the last poll or the last reload; log when the CRL status
    /// changed without a reload (a reload logs it).
    func poll() {
        let loaded = store.loaded
        let current = Self.signatures(of: store.configuration)
        let (changed, reloadedElsewhere) = state.withLock { state in
            let reloadedElsewhere = state.reloadCount != loaded.reloadCount
            if reloadedElsewhere { state.signatures = loaded.files }
            defer { state.signatures = current }
            return (state.signatures != current, reloadedElsewhere)
        }
        if changed {
            logger.info("TLS files changed; reloading")
            _ = try? store.reload()
        }
        let status = store.crlStatus
        let reloadCount = store.reloadCount
        let statusChanged = state.withLock { state in
            defer { (state.crlStatus, state.reloadCount) = (status, reloadCount) }
            return state.crlStatus.map { !sameKind($0, status) } ?? true
        }
        if statusChanged && !changed && !reloadedElsewhere { store.logCRLStatus(status) }
    }

    static func signatures(of configuration: TLSConfiguration) -> [String: FileSignature] {
        Dictionary(uniqueKeysWithValues: configuration.watchedFiles.map { ($0, FileSignature(path: $0)) })
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
