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

    /// Levels are split at the `/` byte and compared by their bytes [MQTT-4.7.3-4]: to Swift, `"/\u{301}"` is one
    /// `Character` (no separator), `"é"` equals `"e\u{301}"` and the Kelvin sign `"\u{212A}"` equals `"K"`.
    @Test func levelsAreBytesNotCharacters() {
        var tree = Tree()
        tree.insert("missions/UNFICYP/reports/+", subscriber: "reports", options: .atMostOnce)
        tree.insert("chat/é", subscriber: "composed", options: .atMostOnce)
        tree.insert("chat/+\u{301}", subscriber: "literal", options: .atMostOnce)
        #expect(subscribers(tree, "missions/UNFICYP/reports/INCIDENT/\u{301}x").isEmpty, "five levels")
        #expect(subscribers(tree, "chat/e\u{301}").isEmpty)
        #expect(Set(subscribers(tree, "chat/é").keys) == ["composed"])
        let fiveLevels = "missions/UNFICYP/reports/INCIDENT/\u{301}x"
        #expect(!TopicFilter.matches("missions/+/reports/+", topic: fiveLevels))
        #expect(TopicFilter.matches("missions/+/reports/+/+", topic: fiveLevels))
        #expect(!TopicFilter.matches("chat/é", topic: "chat/e\u{301}"))
        #expect(!TopicFilter.covers("contingents/KAZ/inbox", "contingents/\u{212A}AZ/inbox"))
        #expect(!TopicFilter.covers("missions/UNFICYP/reports/+", "missions/UNFICYP/reports/X/\u{301}x"))
        #expect(!TopicFilter.isValid("chat/+\u{301}") && !TopicFilter.isValid("chat/#\u{301}"))
        #expect(!TopicFilter.matches("#", topic: "$\u{301}SYS/x"), "a '$' byte first, whatever follows")
        let shared = SharedSubscription("$share/g/\u{301}x")
        #expect(shared?.group == "g" && shared?.filter.unicodeScalars.elementsEqual("\u{301}x".unicodeScalars) == true)
        #expect(SharedSubscription("$share/g+\u{301}/x") == nil)
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
