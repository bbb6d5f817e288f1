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
            "time": .string(UTCTimestamp.string(Date(), withMilliseconds: true)),
            "level": .string(event.level.rawValue), "label": .string(label), "message": .string("\(event.message)"),
        ]
        for (key, value) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { _, new in new }) {
            fields[key] = .string("\(value)")
        }
        StandardStreams.error(JSONValue.object(fields).jsonData + Data("\n".utf8))
    }
}

/// One line per event on standard error (`log.format: text`, and the other commands' lines), as swift-log's
/// `StreamLogHandler` writes it (`<time> <level> <label>: <key=value...> [<source>] <message>`), made safe for
/// text from outside the hub (a client's identifier or topic, a module's message): control characters, line
/// separators and bidirectional controls are escaped (`loggableText`), so that it can neither end the line and
/// forge the next one nor send a terminal escape sequence, and a value holding a space, `=`, `"` or `\` is quoted
/// (`client="a b=c"`, with `\"` and `\\` inside), so that it cannot pass for another field. The time is UTC to
/// the millisecond, as in JSON lines.
struct TextLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .trace
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let all = metadata.merging(event.metadata ?? [:], uniquingKeysWith: { _, new in new })
        let fields = all.sorted { $0.key < $1.key }.map {
            "\($0.key)=\(loggableText(Self.quotedIfNeeded("\($0.value)")))"
        }
        var line = "\(UTCTimestamp.string(Date(), withMilliseconds: true)) \(event.level) \(label):"
        if !fields.isEmpty { line += " " + fields.joined(separator: " ") }
        line += " [\(event.source)] \(loggableText("\(event.message)"))\n"
        StandardStreams.error(Data(line.utf8))
    }

    private static func quotedIfNeeded(_ value: String) -> String {
        let needsQuotes = value.isEmpty || value.utf8.contains { $0 == 0x20 || $0 == 0x3D || $0 == 0x22 || $0 == 0x5C }
        guard needsQuotes else { return value }
        var quoted = "\""
        for scalar in value.unicodeScalars {
            if scalar == "\"" || scalar == "\\" { quoted.unicodeScalars.append("\\") }
            quoted.unicodeScalars.append(scalar)
        }
        return quoted + "\""
    }
}

/// Any handler, with the hub's shared level (`SharedLogLevel`, which a configuration reload changes) unless a
/// logger sets its own.
struct SharedLevelLogHandler<Base: LogHandler>: LogHandler {
    var base: Base
    let shared: SharedLogLevel
    private var ownLevel: Logger.Level?

    init(_ base: Base, level shared: SharedLogLevel) {
        self.base = base
        self.base.logLevel = .trace  // the level is checked here
        self.shared = shared
    }

    var logLevel: Logger.Level {
        get { ownLevel ?? shared.level }
        set { ownLevel = newValue }
    }

    var metadata: Logger.Metadata {
        get { base.metadata }
        set { base.metadata = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { base[metadataKey: key] }
        set { base[metadataKey: key] = newValue }
    }

    func log(event: LogEvent) {
        base.log(event: event)
    }
}

extension LoggingSystem {
    /// `serve`'s logging: text or JSON lines on standard error, at a level a reload may change.
    static func bootstrap(format: HubConfiguration.Log.Format, level: SharedLogLevel) {
        bootstrap { label in
            switch format {
            case .text:
                SharedLevelLogHandler(TextLogHandler(label: label), level: level)
            case .json:
                SharedLevelLogHandler(JSONLogHandler(label: label, logLevel: .trace), level: level)
            }
        }
    }

    /// Human lines on standard error.
    static func bootstrapText(level: Logger.Level) {
        bootstrap { label in TextLogHandler(label: label, logLevel: level) }
    }

}
