import Foundation
import Logging
import PeaceHubCore

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

extension LoggingSystem {
    /// Human lines on standard error.
    static func bootstrapText(level: Logger.Level) {
        bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }

    /// JSON lines on standard error.
    static func bootstrapJSON(level: Logger.Level) {
        bootstrap { label in JSONLogHandler(label: label, logLevel: level) }
    }
}
