/// The topics that hold a retained message, as a tree of their levels, so that a SUBSCRIBE finds those its filter
/// matches by walking the filter's levels: matched against every retained topic under the broker's lock, a
/// SUBSCRIBE of 100 filters beside 1,000 retained messages held every other client up for most of a second.
///
/// Not thread-safe: the broker keeps it in its state, beside the retained messages.
struct RetainedTopicTree {
    private struct Node {
        var children: [TopicLevel: Node] = [:]
        /// The topic that ends at this level, when it holds a retained message.
        var topic: String?

        var isEmpty: Bool { children.isEmpty && topic == nil }
    }

    private var root = Node()

    /// Adds `topic` (a valid topic name).
    mutating func insert(_ topic: String) {
        Self.insert(topic, TopicLevel.levels(of: topic)[...], into: &root)
    }

    /// Removes `topic`, and the levels only it used.
    mutating func remove(_ topic: String) {
        Self.remove(TopicLevel.levels(of: topic)[...], from: &root)
    }

    /// The topics `filter` (a valid filter) matches, as `TopicFilter.matches(_:topic:)` decides: `#` matches its
    /// parent level too, and a filter that starts with a wildcard no `$` topic [MQTT-4.7.2-1].
    func topics(matching filter: String) -> [String] {
        var found: [String] = []
        Self.collect(TopicLevel.levels(of: filter)[...], in: root, atRoot: true, into: &found)
        return found
    }

    private static func insert(_ topic: String, _ levels: ArraySlice<TopicLevel>, into node: inout Node) {
        guard let level = levels.first else {
            node.topic = topic
            return
        }
        insert(topic, levels.dropFirst(), into: &node.children[level, default: Node()])
    }

    private static func remove(_ levels: ArraySlice<TopicLevel>, from node: inout Node) {
        guard let level = levels.first else {
            node.topic = nil
            return
        }
        // Taken out and put back: the dictionary holds no second reference while the child changes.
        guard var child = node.children.removeValue(forKey: level) else { return }
        remove(levels.dropFirst(), from: &child)
        if !child.isEmpty { node.children[level] = child }
    }

    private static func collect(
        _ levels: ArraySlice<TopicLevel>, in node: Node, atRoot: Bool, into found: inout [String]
    ) {
        guard let level = levels.first else {
            if let topic = node.topic { found.append(topic) }
            return
        }
        switch level {
        case .multiLevelWildcard:
            if let topic = node.topic { found.append(topic) }
            for (key, child) in node.children where !(atRoot && key.text.utf8.first == UInt8(ascii: "$")) {
                everything(in: child, into: &found)
            }
        case .singleLevelWildcard:
            for (key, child) in node.children where !(atRoot && key.text.utf8.first == UInt8(ascii: "$")) {
                collect(levels.dropFirst(), in: child, atRoot: false, into: &found)
            }
        default:
            if let child = node.children[level] { collect(levels.dropFirst(), in: child, atRoot: false, into: &found) }
        }
    }

    private static func everything(in node: Node, into found: inout [String]) {
        if let topic = node.topic { found.append(topic) }
        for child in node.children.values { everything(in: child, into: &found) }
    }
}
