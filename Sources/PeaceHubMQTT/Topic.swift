import PeaceHubCore

/// Topic names (what PUBLISH carries) and topic filters (what SUBSCRIBE carries), section 4.7.
public enum TopicName {
    /// Checks a topic name: not empty [MQTT-4.7.3-1], no wildcards [MQTT-3.3.2-2].
    public static func validate(_ topic: String, field: String) throws(MQTTError) {
        guard !topic.isEmpty else { throw MQTTError(.protocolViolation, "an empty \(field) [MQTT-4.7.3-1]") }
        let hasWildcard = withUTF8(of: topic) { bytes in
            bytes.contains { $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "#") }
        }
        guard !hasWildcard else {
            throw MQTTError(.protocolViolation, "wildcards in the \(field) '\(topic)' [MQTT-3.3.2-2]")
        }
    }
}

/// One level of a topic name or filter, compared and hashed by its UTF-8 bytes. MQTT matches topics without any
/// normalization [MQTT-4.7.3-4], where Swift compares strings by canonical equivalence (`"é"` equals `"e\u{301}"`)
/// and splits them by grapheme cluster (`"/\u{301}"` is one `Character`, not a separator and a mark).
public struct TopicLevel: Hashable, Sendable {
    public let text: Substring

    public init(_ text: Substring) {
        self.text = text
    }

    public static let singleLevelWildcard = TopicLevel("+")
    public static let multiLevelWildcard = TopicLevel("#")

    /// The levels of a topic or filter, split at each `/` byte; empty levels are levels too (`/a` has two).
    public static func levels(of text: String) -> [TopicLevel] {
        text.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false).map {
            TopicLevel(Substring($0))
        }
    }

    public static func == (lhs: TopicLevel, rhs: TopicLevel) -> Bool {
        sameUTF8(lhs.text, rhs.text)
    }

    public func hash(into hasher: inout Hasher) {
        hashUTF8(of: text, into: &hasher)
    }

    /// True when the level holds `byte` (a wildcard character outside a level of its own).
    func contains(_ byte: Unicode.Scalar) -> Bool {
        text.utf8.contains(UInt8(ascii: byte))
    }
}

extension StringProtocol {
    /// True when the first byte is `$`: topics the hub and the server keep apart [MQTT-4.7.2-1].
    var startsWithDollar: Bool { utf8.first == UInt8(ascii: "$") }
}

public enum TopicFilter {
    /// True for a well-formed filter: not empty; `#` only as the whole last level; `+` only as
    /// a whole level [MQTT-4.7.1-1, MQTT-4.7.1-2, MQTT-4.7.1-3].
    public static func isValid(_ filter: String) -> Bool {
        guard !filter.isEmpty else { return false }
        let levels = TopicLevel.levels(of: filter)
        for (index, level) in levels.enumerated() {
            if level.contains("#") && (level != .multiLevelWildcard || index != levels.count - 1) { return false }
            if level.contains("+") && level != .singleLevelWildcard { return false }
        }
        return true
    }

    /// True when `filter` matches `topic`. Filters starting with a wildcard do not match topics
    /// starting with `$` [MQTT-4.7.2-1].
    public static func matches(_ filter: String, topic: String) -> Bool {
        if topic.startsWithDollar, startsWithWildcard(filter) { return false }
        var filterLevels = TopicLevel.levels(of: filter)[...]
        var topicLevels = TopicLevel.levels(of: topic)[...]
        while let level = filterLevels.popFirst() {
            if level == .multiLevelWildcard { return true }  // also matches the parent level: "a/#" matches "a"
            guard let topicLevel = topicLevels.popFirst() else { return false }
            if level != .singleLevelWildcard && level != topicLevel { return false }
        }
        return topicLevels.isEmpty
    }

    static func startsWithWildcard(_ filter: String) -> Bool {
        filter.utf8.first == UInt8(ascii: "+") || filter.utf8.first == UInt8(ascii: "#")
    }
}

extension TopicFilter {
    /// True when every topic `filter` can match is also matched by `pattern` (both valid
    /// filters): `missions/UNIFIL/chat/#` covers `missions/UNIFIL/chat/+`, not the reverse.
    public static func covers(_ pattern: String, _ filter: String) -> Bool {
        // A pattern that starts with a wildcard reaches no '$' topic [MQTT-4.7.2-1].
        if filter.startsWithDollar, startsWithWildcard(pattern) { return false }
        let patternLevels = TopicLevel.levels(of: pattern)
        let filterLevels = TopicLevel.levels(of: filter)
        for (index, level) in filterLevels.enumerated() {
            guard index < patternLevels.count else { return false }
            let allowed = patternLevels[index]
            if allowed == .multiLevelWildcard { return true }
            switch level {
            case .multiLevelWildcard:
                // "a/#" also matches the parent "a": the pattern must end in '#' here.
                return false
            case .singleLevelWildcard:
                guard allowed == .singleLevelWildcard else { return false }
            default:
                guard allowed == .singleLevelWildcard || allowed == level else { return false }
            }
        }
        // The filter ended: the pattern must end too (or continue only with a '#' that also
        // matches the parent level).
        return patternLevels.count == filterLevels.count
            || (patternLevels.count == filterLevels.count + 1 && patternLevels.last == .multiLevelWildcard)
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
        guard text.utf8.starts(with: Self.prefix.utf8) else { return nil }
        let levels = TopicLevel.levels(of: text)
        guard levels.count > 2 else { return nil }
        let group = levels[1]
        let filter = String(text.utf8.dropFirst(Self.prefix.utf8.count + group.text.utf8.count + 1))!
        guard !group.text.isEmpty, !group.contains("+"), !group.contains("#"), TopicFilter.isValid(filter) else {
            return nil
        }
        self.group = String(group.text)
        self.filter = filter
    }

    /// The filter a subscription is authorized as: a shared subscription's own filter, without `$share/<group>/`;
    /// nil for a malformed shared subscription.
    public static func authorizedFilter(of filter: String) -> String? {
        filter.utf8.starts(with: prefix.utf8) ? SharedSubscription(filter)?.filter : filter
    }
}
