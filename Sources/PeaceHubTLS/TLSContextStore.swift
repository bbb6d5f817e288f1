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

    /// Where the highest CRL number loaded per CA is kept across restarts; nil keeps it in memory only.
    private let crlNumbersFile: String?

    private struct State {
        var context: TLSContext
        /// The highest CRL number loaded so far per CA (`TLSContext.crlNumbers` keys): no older CRL is taken again.
        var highestCRLNumbers: [String: Int]
        var lastReloadError: TLSError?
        var reloadCount = 0
    }

    /// Builds the first context; throws when the files are not usable (the server cannot start without them).
    /// With `crlNumbersFile`, a CRL older than one an earlier run loaded (a restored backup, a stale copy) is refused
    /// at start as on reload, and each CRL's number is recorded there.
    public init(
        configuration: TLSConfiguration, crlNumbersFile: String? = nil, logger: Logger = Logger(label: "peacehub.tls")
    ) throws(TLSError) {
        let (context, recorded) = try Self.load(configuration, crlNumbersFile: crlNumbersFile)
        self.logger = logger
        self.crlNumbersFile = crlNumbersFile
        self.sessions = TLSSessionRegistry()
        let highest = recorded.merging(context.crlNumbers, uniquingKeysWith: max)
        self.state = Mutex(State(context: context, highestCRLNumbers: highest))
        if highest != recorded { recordCRLNumbers(highest) }
        sessions.applyRevocations(context.revoked)
        logCRLStatus(context.crlStatus())
        Self.recordExpiry(of: context)
    }

    /// What a start would refuse, without starting or recording anything (`serve --check-config`).
    public static func check(configuration: TLSConfiguration, crlNumbersFile: String?) throws(TLSError) {
        _ = try load(configuration, crlNumbersFile: crlNumbersFile)
    }

    /// The first context, and the CRL numbers an earlier run recorded, none of which it may go below.
    private static func load(
        _ configuration: TLSConfiguration, crlNumbersFile: String?
    ) throws(TLSError) -> (TLSContext, [String: Int]) {
        let context = try TLSContext(configuration: configuration)
        let recorded = try crlNumbersFile.map(readCRLNumbers) ?? [:]
        try refuseOlderCRLs(context, highest: recorded)
        return (context, recorded)
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
            let (highest, current) = state.withLock { ($0.highestCRLNumbers, $0.context) }
            try Self.refuseOlderCRLs(context, highest: highest)
            try Self.refuseChangedCRLs(context, loaded: current)
        } catch {
            state.withLock { $0.lastReloadError = error }
            logger.error("TLS reload failed; keeping the previous context", metadata: ["tls.reason": "\(error.reason)"])
            throw error
        }
        let (before, highest) = state.withLock { state in
            let before = state.highestCRLNumbers
            state.highestCRLNumbers.merge(context.crlNumbers, uniquingKeysWith: max)
            state.context = context
            state.lastReloadError = nil
            state.reloadCount += 1
            return (before, state.highestCRLNumbers)
        }
        if highest != before { recordCRLNumbers(highest) }
        let closed = sessions.applyRevocations(context.revoked)
        logger.info(
            "TLS context reloaded",
            metadata: ["tls.revoked": "\(context.revoked.count)", "tls.sessionsClosed": "\(closed)"])
        logCRLStatus(context.crlStatus())
        Self.recordExpiry(of: context)
        return closed
    }

    /// A CRL whose number is below one loaded before for the same CA is an older list (a restored backup, a stale
    /// copy): taking it would take revocations back, so it is refused (RFC 5280 5.2.3 numbers them for this).
    static func refuseOlderCRLs(_ context: TLSContext, highest: [String: Int]) throws(TLSError) {
        for (ca, number) in context.crlNumbers.sorted(by: { $0.key < $1.key }) {
            if let loaded = highest[ca], number < loaded {
                throw TLSError(
                    .invalidConfiguration,
                    "the CRL of \(ca) is number \(number), older than the loaded number \(loaded): it would take "
                        + "revocations back (write a new one with peacehub pki crl)")
            }
        }
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

    /// The numbers an earlier run recorded; none when the file does not exist yet.
    private static func readCRLNumbers(_ path: String) throws(TLSError) -> [String: Int] {
        guard FileManager.default.fileExists(atPath: path) else { return [:] }
        guard let data = FileManager.default.contents(atPath: path),
            let object = try? JSONDecoder().decode([String: Int].self, from: data)
        else {
            throw TLSError(
                .invalidConfiguration,
                "\(path) is unreadable or not a JSON object of CRL numbers; it records the newest CRL each CA has "
                    + "issued: restore it, or remove it to accept any CRL again")
        }
        return object
    }

    /// Written through a temporary file and a rename. A failure is logged, not thrown: the hub keeps serving with
    /// the protection of the numbers in memory.
    private func recordCRLNumbers(_ numbers: [String: Int]) {
        guard let crlNumbersFile else { return }
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
            let data = try encoder.encode(numbers)
            try data.write(to: URL(fileURLWithPath: crlNumbersFile), options: .atomic)
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
