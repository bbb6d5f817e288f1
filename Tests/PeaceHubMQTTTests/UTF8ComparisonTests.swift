import PeaceHubCore
import Testing

/// `sameUTF8` tells topics and client ids apart by their bytes, on every path it takes: the same bytes in place,
/// a `memcmp` of two copies, empty strings (which may have no address), and substrings.
@Suite struct UTF8ComparisonTests {
    @Test func theSameStringAndAnEqualCopyAreTheSame() {
        let topic = "missions/UNIFIL/chat/sector-west"
        let copy = String(decoding: Array(topic.utf8), as: UTF8.self)
        #expect(sameUTF8(topic, topic))
        #expect(sameUTF8(topic, copy))
        #expect(sameUTF8(ExactString(topic).string, copy))
    }

    @Test func differentBytesAreNotTheSame() {
        #expect(!sameUTF8("missions/UNIFIL/chat/sector-west", "missions/UNIFIL/chat/sector-east"))
        #expect(!sameUTF8("missions/UNIFIL/chat", "missions/UNIFIL/chat/"))
        #expect(!sameUTF8("a", ""))
        // Canonically equivalent, so equal as Swift strings, but different topics [MQTT-4.7.3-4].
        #expect("caf\u{E9}" == "cafe\u{301}")
        #expect(!sameUTF8("caf\u{E9}", "cafe\u{301}"))
    }

    @Test func emptyStringsAndSubstringsCompareByTheirBytes() {
        let long = "contingents/KAZ/inbox/with-a-long-tail"
        let empty = long.prefix(0)
        #expect(sameUTF8("", ""))
        #expect(sameUTF8(empty, ""))
        #expect(sameUTF8("", empty))
        #expect(sameUTF8(long.prefix(15), "contingents/KAZ"))
        #expect(!sameUTF8(long.dropFirst(12).prefix(3), "IND"))
    }

    @Test func withUTF8GivesTheBytesOfAnyString() {
        let long = "missions/UNFICYP/reports/patrol"
        #expect(withUTF8(of: long) { Array($0) } == Array(long.utf8))
        #expect(withUTF8(of: "") { $0.count } == 0)
        #expect(withUTF8(of: "KAZ") { Array($0) } == Array("KAZ".utf8))
    }
}
