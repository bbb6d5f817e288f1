/// Topic names (what PUBLISH carries) and topic filters (what SUBSCRIBE carries), section 4.7.
public enum TopicName {
    /// Checks a topic name: not empty [MQTT-4.7.3-1], no wildcards [MQTT-3.3.2-2].
    public static func validate(_ topic: String, field: String) throws(MQTTError) {
        guard !topic.isEmpty else { throw MQTTError(.protocolViolation, "an empty \(field) [MQTT-4.7.3-1]") }
        var topic = topic  // `withUTF8` reads a native string's bytes in place
        let hasWildcard = topic.withUTF8 { bytes in
            bytes.contains { $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "#") }
        }
        guard !hasWildcard else {
            throw MQTTError(.protocolViolation, "wildcards in the \(field) '\(topic)' [MQTT-3.3.2-2]")
        }
    }
}

public enum TopicFilter {
    /// True for a well-formed filter: not empty; `#` only as the whole last level; `+` only as
    /// a whole level [MQTT-4.7.1-1, MQTT-4.7.1-2, MQTT-4.7.1-3].
    public static func isValid(_ filter: String) -> Bool {
        guard !filter.isEmpty else { return false }
        let levels = filter.split(separator: "/", omittingEmptySubsequences: false)
        for (index, level) in levels.enumerated() {
            if level.contains("#") && (level != "#" || index != levels.count - 1) { return false }
            if level.contains("+") && level != "+" { return false }
        }
        return true
    }

    /// True when `filter` matches `topic`. Filters starting with a wildcard do not match topics
    /// starting with `$` [MQTT-4.7.2-1].
    public static func matches(_ filter: String, topic: String) -> Bool {
        if topic.hasPrefix("$"), filter.hasPrefix("+") || filter.hasPrefix("#") { return false }
        var filterLevels = filter.split(separator: "/", omittingEmptySubsequences: false)[...]
        var topicLevels = topic.split(separator: "/", omittingEmptySubsequences: false)[...]
        while let level = filterLevels.popFirst() {
            if level == "#" { return true }  // also matches the parent level: "a/#" matches "a"
            guard let topicLevel = topicLevels.popFirst() else { return false }
            if level != "+" && level != topicLevel { return false }
        }
        return topicLevels.isEmpty
    }
}

extension TopicFilter {
    /// True when every topic `filter` can match is also matched by `pattern` (both valid
    /// filters): `missions/UNIFIL/chat/#` covers `missions/UNIFIL/chat/+`, not the reverse.
    public static func covers(_ pattern: String, _ filter: String) -> Bool {
        // A pattern that starts with a wildcard reaches no '$' topic [MQTT-4.7.2-1].
        if filter.hasPrefix("$"), pattern.hasPrefix("+") || pattern.hasPrefix("#") { return false }
        let patternLevels = pattern.split(separator: "/", omittingEmptySubsequences: false)
        let filterLevels = filter.split(separator: "/", omittingEmptySubsequences: false)
        for (index, level) in filterLevels.enumerated() {
            guard index < patternLevels.count else { return false }
            let allowed = patternLevels[index]
            if allowed == "#" { return true }
            switch level {
            case "#":
                // "a/#" also matches the parent "a": the pattern must end in '#' here.
                return false
            case "+":
                guard allowed == "+" else { return false }
            default:
                guard allowed == "+" || allowed == level else { return false }
            }
        }
        // The filter ended: the pattern must end too (or continue only with a '#' that also
        // matches the parent level).
        return patternLevels.count == filterLevels.count
            || (patternLevels.count == filterLevels.count + 1 && patternLevels.last == "#")
    }
}

/// A shared subscription's filter, `$share/<ShareName>/<filter>` (MQTT 5.0 section 4.8.2): each message matching
/// `filter` goes to one member of the group.
public struct SharedSubscription: Sendable, Hashable {
    public static let prefix = "$share/"

    public let group: String
    public let filter: String

    /// Nil when `text` is not a shared subscription, or a malformed one: an empty share name, or one holding
    /// `/`, `+` or `#`, or no valid filter after it [MQTT-4.8.2-1, MQTT-4.8.2-2].
    public init?(_ text: String) {
        guard text.hasPrefix(Self.prefix) else { return nil }
        let rest = text.dropFirst(Self.prefix.count)
        guard let slash = rest.firstIndex(of: "/") else { return nil }
        let group = rest[..<slash]
        let filter = String(rest[rest.index(after: slash)...])
        guard !group.isEmpty, !group.contains("+"), !group.contains("#"), TopicFilter.isValid(filter) else { return nil }
        self.group = String(group)
        self.filter = filter
    }

    /// The filter a subscription is authorized as: a shared subscription's own filter, without `$share/<group>/`;
    /// nil for a malformed shared subscription.
    public static func authorizedFilter(of filter: String) -> String? {
        filter.hasPrefix(prefix) ? SharedSubscription(filter)?.filter : filter
    }
}
