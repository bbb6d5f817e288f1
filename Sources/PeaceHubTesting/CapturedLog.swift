import Logging
import Synchronization

/// The lines a logger wrote, with their levels (to check what reaches an operator's log and at which level).
public final class CapturedLog: Sendable {
    private let lines = Mutex<[(level: Logger.Level, message: String)]>([])

    public var entries: [(level: Logger.Level, message: String)] { lines.withLock { $0 } }

    public init() {}

    public func logger(level: Logger.Level = .trace) -> Logger {
        var logger = Logger(label: "peacehub.test") { _ in Handler(log: self) }
        logger.logLevel = level
        return logger
    }

    private struct Handler: LogHandler {
        let log: CapturedLog
        var metadata: Logger.Metadata = [:]
        var logLevel = Logger.Level.trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            log.lines.withLock { $0.append((event.level, "\(event.message)")) }
        }
    }
}
