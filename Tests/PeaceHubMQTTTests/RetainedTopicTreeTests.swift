import PeaceHubCore
import Testing

@testable import PeaceHubMQTT

@Suite struct RetainedTopicTreeTests {
    /// The tree finds exactly the topics `TopicFilter.matches` accepts, for random topics and filters over a small
    /// alphabet (empty levels, `$` topics, look-alike Unicode forms and removals included).
    @Test(arguments: [1, 2, 3, 4] as [UInt64])
    func findsWhatMatchingEveryTopicFinds(seed: UInt64) {
        var random = SplitMix64(seed: seed)
        let words = ["a", "b", "", "$SYS", "caf\u{E9}", "cafe\u{301}", "x"]
        func topic() -> String {
            (0..<Int.random(in: 1...4, using: &random)).map { _ in words.randomElement(using: &random)! }
                .joined(separator: "/")
        }
        var tree = RetainedTopicTree()
        var topics = Set<ExactString>()
        for _ in 0..<200 {
            let name = topic()
            if topics.contains(ExactString(name)), Bool.random(using: &random) {
                tree.remove(name)
                topics.remove(ExactString(name))
            } else if !topics.contains(ExactString(name)) {
                tree.insert(name)
                topics.insert(ExactString(name))
            }
        }
        for _ in 0..<300 {
            var levels = topic().split(separator: "/", omittingEmptySubsequences: false).map(String.init)
            for index in levels.indices where Int.random(in: 0..<4, using: &random) == 0 { levels[index] = "+" }
            if Bool.random(using: &random) { levels.append("#") }
            let filter = levels.joined(separator: "/")
            let expected = Set(topics.filter { TopicFilter.matches(filter, topic: $0.string) })
            let found = tree.topics(matching: filter).map(ExactString.init)
            #expect(Set(found) == expected, "\(filter)")
            #expect(found.count == expected.count, "\(filter): a topic found twice")
        }
    }

    @Test func aRemovedTopicLeavesNoLevelBehind() {
        var tree = RetainedTopicTree()
        tree.insert("a/b/c")
        tree.insert("a")
        tree.remove("a/b/c")
        #expect(tree.topics(matching: "#") == ["a"])
        tree.remove("a")
        tree.remove("never/set")
        #expect(tree.topics(matching: "#").isEmpty)
    }
}
