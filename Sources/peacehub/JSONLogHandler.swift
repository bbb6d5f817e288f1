import Foundation
import Logging
import PeaceHubCore
import PeaceHubServer

/// One JSON object per line on standard error (`log.format: json`), for log shippers.
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var fields: [String: JSONValue] = [
            "time": .string(ISO8601DateFormatter().string(from: Date())), "level": .string(event.level.rawValue),
            "label": .string(label), "message": .string("\(event.message)"),
        ]
        for (key, value) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { _, new in new }) {
            fields[key] = .string("\(value)")
        }
        FileHandle.standardError.write(JSONValue.object(fields).jsonData + Data("\n".utf8))
    }
}

/// Any handler, with the hub's shared level (`SharedLogLevel`, which a configuration reload changes) unless a
/// logger sets its own. For text lines it escapes control characters in the message and the metadata (`\n`,
/// `\u{1B}`): a client's identifier or topic could otherwise end a line and forge the next one.
struct SharedLevelLogHandler<Base: LogHandler>: LogHandler {
    var base: Base
    let shared: SharedLogLevel
    let escapesControlCharacters: Bool
    private var ownLevel: Logger.Level?

    init(_ base: Base, level shared: SharedLogLevel, escapesControlCharacters: Bool) {
        self.base = base
        self.base.logLevel = .trace  // the level is checked here
        self.shared = shared
        self.escapesControlCharacters = escapesControlCharacters
    }

    var logLevel: Logger.Level {
        get { ownLevel ?? shared.level }
        set { ownLevel = newValue }
    }

    var metadata: Logger.Metadata {
        get { base.metadata }
        set { base.metadata = escapesControlCharacters ? newValue.mapValues(Self.escaped) : newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { base[metadataKey: key] }
        set { base[metadataKey: key] = escapesControlCharacters ? newValue.map(Self.escaped) : newValue }
    }

    func log(event: LogEvent) {
        guard escapesControlCharacters else { return base.log(event: event) }
        var event = event
        event.message = "\(loggableText("\(event.message)"))"
        event.metadata = event.metadata?.mapValues(Self.escaped)
        base.log(event: event)
    }

    private static func escaped(_ value: Logger.Metadata.Value) -> Logger.Metadata.Value {
        .string(loggableText("\(value)"))
    }
}

extension LoggingSystem {
    /// `serve`'s logging: text or JSON lines on standard error, at a level a reload may change.
    static func bootstrap(format: HubConfiguration.Log.Format, level: SharedLogLevel) {
        bootstrap { label in
            switch format {
            case .text:
                SharedLevelLogHandler(
                    StreamLogHandler.standardError(label: label), level: level, escapesControlCharacters: true)
            case .json:
                SharedLevelLogHandler(
                    JSONLogHandler(label: label, logLevel: .trace), level: level, escapesControlCharacters: false)
            }
        }
    }

    /// Human lines on standard error.
    static func bootstrapText(level: Logger.Level) {
        bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }

}
