import PeaceHubCore

/// Subscriptions by topic filter, matched against topic names level by level, so a PUBLISH costs
/// the depth of its topic rather than the number of subscriptions.
///
/// Not thread-safe: the broker owns one tree and serialises access to it.
public struct SubscriptionTree<Subscriber: Hashable, Options> {
    private final class Node {
        var children: [TopicLevel: Node] = [:]
        /// Subscriptions whose filter ends at this node.
        var exact: [Subscriber: Options] = [:]
        /// Subscriptions whose filter ends with `#` below this node.
        var multiLevel: [Subscriber: Options] = [:]

        var isEmpty: Bool { children.isEmpty && exact.isEmpty && multiLevel.isEmpty }
    }

    private var root = Node()
    /// The filters each subscriber holds, to remove them all at once.
    private var filtersBySubscriber: [Subscriber: Set<ExactString>] = [:]

    public init() {}

    /// The number of (subscriber, filter) pairs.
    public var count: Int { filtersBySubscriber.values.reduce(0) { $0 + $1.count } }

    /// The filters `subscriber` holds.
    public func filters(of subscriber: Subscriber) -> [String] { (filtersBySubscriber[subscriber] ?? []).map(\.string) }

    /// Adds or replaces `subscriber`'s subscription to `filter` (a valid filter).
    /// - Returns: true when the subscription is new, false when it replaced one.
    @discardableResult
    public mutating func insert(_ filter: String, subscriber: Subscriber, options: Options) -> Bool {
        var node = root
        let levels = TopicLevel.levels(of: filter)
        for (index, level) in levels.enumerated() {
            if level == .multiLevelWildcard, index == levels.count - 1 {
                return store(in: &node.multiLevel, filter: filter, subscriber: subscriber, options: options)
            }
            if let child = node.children[level] {
                node = child
            } else {
                let child = Node()
                node.children[level] = child
                node = child
            }
        }
        return store(in: &node.exact, filter: filter, subscriber: subscriber, options: options)
    }

    private mutating func store(
        in table: inout [Subscriber: Options], filter: String, subscriber: Subscriber, options: Options
    ) -> Bool {
        let isNew = table.updateValue(options, forKey: subscriber) == nil
        filtersBySubscriber[subscriber, default: []].insert(ExactString(filter))
        return isNew
    }

    /// Removes `subscriber`'s subscription to `filter`. Returns true when there was one.
    @discardableResult
    public mutating func remove(_ filter: String, subscriber: Subscriber) -> Bool {
        let levels = TopicLevel.levels(of: filter)
        var path: [(Node, TopicLevel)] = []
        var node = root
        var removed = false
        for (index, level) in levels.enumerated() {
            if level == .multiLevelWildcard, index == levels.count - 1 {
                removed = node.multiLevel.removeValue(forKey: subscriber) != nil
                break
            }
            guard let child = node.children[level] else { return false }
            path.append((node, level))
            node = child
            if index == levels.count - 1 { removed = node.exact.removeValue(forKey: subscriber) != nil }
        }
        guard removed else { return false }
        // Prune empty nodes so the tree does not grow with churn.
        var child = node
        while let (parent, level) = path.popLast(), child.isEmpty {
            parent.children[level] = nil
            child = parent
        }
        filtersBySubscriber[subscriber]?.remove(ExactString(filter))
        if filtersBySubscriber[subscriber]?.isEmpty == true { filtersBySubscriber[subscriber] = nil }
        return true
    }

    /// Removes every subscription of `subscriber`.
    public mutating func removeAll(of subscriber: Subscriber) {
        for filter in filters(of: subscriber) { remove(filter, subscriber: subscriber) }
    }

    /// Every subscription matching `topic`, with the filter that matched. A subscriber may appear
    /// once per matching filter; the caller merges (e.g. keeps the highest QoS).
    public func matches(_ topic: String) -> [(subscriber: Subscriber, options: Options)] {
        var result: [(Subscriber, Options)] = []
        // Wildcards at the first level do not match topics that start with '$' [MQTT-4.7.2-1].
        let dollar = topic.utf8.first == UInt8(ascii: "$")
        collect(root, rest: topic[...], atRoot: true, dollar: dollar, into: &result)
        return result
    }

    /// Walks the levels of `rest` (nil once the topic's last level is consumed) without splitting the topic into
    /// an array: a PUBLISH allocates nothing here but the result.
    private func collect(
        _ node: Node, rest: Substring?, atRoot: Bool, dollar: Bool, into result: inout [(Subscriber, Options)]
    ) {
        let wildcardsAllowed = !(atRoot && dollar)
        if wildcardsAllowed {
            // "a/#" matches "a" too.
            for (subscriber, options) in node.multiLevel { result.append((subscriber, options)) }
        }
        guard let rest else {
            for (subscriber, options) in node.exact { result.append((subscriber, options)) }
            return
        }
        let level: TopicLevel
        let tail: Substring?
        if let slash = rest.utf8.firstIndex(of: UInt8(ascii: "/")) {
            level = TopicLevel(rest[..<slash])
            tail = rest[rest.utf8.index(after: slash)...]
        } else {
            level = TopicLevel(rest)
            tail = nil
        }
        if let child = node.children[level] {
            collect(child, rest: tail, atRoot: false, dollar: dollar, into: &result)
        }
        if wildcardsAllowed, level != .singleLevelWildcard, let plus = node.children[.singleLevelWildcard] {
            collect(plus, rest: tail, atRoot: false, dollar: dollar, into: &result)
        }
    }
}
