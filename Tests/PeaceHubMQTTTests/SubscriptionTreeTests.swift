import PeaceHubMQTT
import Testing

@Suite struct SubscriptionTreeTests {
    typealias Tree = SubscriptionTree<String, QoS>

    func subscribers(_ tree: Tree, _ topic: String) -> [String: QoS] {
        // Merge as the broker does: one delivery per subscriber at the highest matching QoS.
        tree.matches(topic).reduce(into: [:]) { result, match in
            result[match.subscriber] = max(result[match.subscriber] ?? .atMostOnce, match.options)
        }
    }

    @Test func matchesExactPlusAndHash() {
        var tree = Tree()
        tree.insert("missions/UNIFIL/reports/UXO", subscriber: "exact", options: .exactlyOnce)
        tree.insert("missions/+/reports/#", subscriber: "wild", options: .atLeastOnce)
        tree.insert("missions/UNIFIL/#", subscriber: "mission", options: .atMostOnce)
        tree.insert("#", subscriber: "all", options: .atMostOnce)
        tree.insert("contingents/KAZ/inbox", subscriber: "kaz", options: .atLeastOnce)
        #expect(
            subscribers(tree, "missions/UNIFIL/reports/UXO")
                == ["exact": .exactlyOnce, "wild": .atLeastOnce, "mission": .atMostOnce, "all": .atMostOnce])
        #expect(subscribers(tree, "missions/UNFICYP/reports/X") == ["wild": .atLeastOnce, "all": .atMostOnce])
        #expect(subscribers(tree, "missions/UNIFIL") == ["mission": .atMostOnce, "all": .atMostOnce])
        #expect(subscribers(tree, "contingents/KAZ/inbox") == ["kaz": .atLeastOnce, "all": .atMostOnce])
        #expect(subscribers(tree, "contingents/KAZ/inbox/x") == ["all": .atMostOnce])
    }

    @Test func dollarTopicsAreNotMatchedByFirstLevelWildcards() {
        var tree = Tree()
        tree.insert("#", subscriber: "all", options: .atMostOnce)
        tree.insert("+/broker/uptime", subscriber: "plus", options: .atMostOnce)
        tree.insert("$SYS/#", subscriber: "sys", options: .atMostOnce)
        tree.insert("$SYS/+/uptime", subscriber: "sysplus", options: .atMostOnce)
        #expect(Set(subscribers(tree, "$SYS/broker/uptime").keys) == ["sys", "sysplus"])
        #expect(Set(subscribers(tree, "hub/broker/uptime").keys) == ["all", "plus"])
    }

    @Test func overlappingSubscriptionsOfOneClientMergeToTheHighestQoS() {
        var tree = Tree()
        tree.insert("a/+", subscriber: "c", options: .atMostOnce)
        tree.insert("a/b", subscriber: "c", options: .exactlyOnce)
        #expect(tree.matches("a/b").count == 2)
        #expect(subscribers(tree, "a/b") == ["c": .exactlyOnce])
    }

    @Test func replaceRemoveAndPrune() {
        var tree = Tree()
        let inserted = tree.insert("a/b", subscriber: "c", options: .atMostOnce)
        let replaced = !tree.insert("a/b", subscriber: "c", options: .atLeastOnce)
        #expect(inserted && replaced)
        #expect(subscribers(tree, "a/b") == ["c": .atLeastOnce])
        tree.insert("a/#", subscriber: "c", options: .atMostOnce)
        tree.insert("x/y/z", subscriber: "d", options: .atMostOnce)
        #expect(tree.count == 3)
        let removed = tree.remove("a/b", subscriber: "c")
        let removedAgain = tree.remove("a/b", subscriber: "c")
        let removedUnknown = tree.remove("never/subscribed", subscriber: "c")
        #expect(removed && !removedAgain && !removedUnknown)
        #expect(subscribers(tree, "a/b") == ["c": .atMostOnce])
        tree.removeAll(of: "c")
        #expect(tree.matches("a/b").isEmpty)
        #expect(tree.filters(of: "c").isEmpty)
        #expect(tree.count == 1)
        #expect(subscribers(tree, "x/y/z") == ["d": .atMostOnce])
    }

    @Test func emptyLevelsAreLevels() {
        var tree = Tree()
        tree.insert("/+", subscriber: "lead", options: .atMostOnce)
        tree.insert("a//b", subscriber: "double", options: .atMostOnce)
        #expect(Set(subscribers(tree, "/finance").keys) == ["lead"])
        #expect(Set(subscribers(tree, "a//b").keys) == ["double"])
        #expect(subscribers(tree, "a/b").isEmpty)
    }

    /// The tree agrees with the reference matcher on every filter/topic pair of a small universe.
    @Test func agreesWithTheReferenceMatcher() {
        let filters = ["#", "+", "a", "a/#", "a/+", "+/b", "a/b", "a/b/#", "+/+", "/+", "$SYS/#", "+/#", "a/+/c", ""]
            .filter(TopicFilter.isValid)
        let topics = ["a", "a/b", "a/b/c", "/b", "b", "a/", "$SYS/x", "$SYS", "x/b", "a/x/c", "/"]
        var tree = Tree()
        for filter in filters { tree.insert(filter, subscriber: filter, options: .atMostOnce) }
        for topic in topics {
            let expected = Set(filters.filter { TopicFilter.matches($0, topic: topic) })
            #expect(Set(tree.matches(topic).map(\.subscriber)) == expected, "\(topic)")
        }
    }
}
