import NIOCore
import PeaceHubCore
import PeaceHubMQTT
import Testing

@Suite struct EnvelopeTests {
    func header(_ text: String, after prefix: String = "") -> Envelope? {
        var buffer = ByteBuffer(string: prefix + text)
        buffer.moveReaderIndex(forwardBy: prefix.utf8.count)
        return Envelope.header(of: buffer)
    }

    @Test func readsTheHeaderOfAnEnvelope() {
        let envelope = header(#"{"body":{"a":1},"securityLabel":"UN RESTRICTED","precedence":"FLASH"}"#)
        #expect(envelope?.precedence == .flash)
        #expect(envelope?.securityLabel == "UN RESTRICTED")
        #expect(header(#"{"securityLabel":"UN RESTRICTED"}"#)?.securityLabel == "UN RESTRICTED")
        #expect(header(#"{"securityLabel":"UN RESTRICTED"}"#)?.precedence == nil)
        // Only the readable bytes count: a buffer read past its first bytes.
        #expect(header(#"{"precedence":"PRIORITY"}"#, after: "xx{\"precedence\":\"FLASH\"}")?.precedence == .priority)
    }

    /// No envelope: not an object, no header key (at the start, inside, at the very end, cut short), or no JSON.
    @Test func findsNoHeaderWhereThereIsNone() {
        for text in [
            "", "{", "[]", #"["precedence"]"#, #"{"body":{}}"#, #"{"preced":"FLASH"}"#, #"{"x":"precedence"}"#,
            #"{"precedence":"FLASH""#, #"{"precedence":"FLASH",}"#, #"{"precedence":"FLASH","precedence":"ROUTINE"}"#,
            #" {"precedence":"FLASH"}"#,
        ] {
            #expect(header(text)?.precedence == nil, "\(text)")
        }
        #expect(header(#"{"x":"precedence"}"#) != nil)
        #expect(header(#"{"body":{}}"#) == nil)
        #expect(header(#"{"body":"\"precedence\""}"#)?.precedence == nil)
    }

    /// The look for a header key before any parse: at the start, inside, at the very end, or cut short.
    @Test func findsBytesAnywhereInABuffer() {
        func has(_ text: String, _ needle: StaticString) -> Bool {
            Array(text.utf8).withUnsafeBytes { $0.contains(utf8: needle) }
        }
        #expect(has("abc", "abc") && has("xabc", "abc") && has("abcx", "abc") && has("aababc", "abc"))
        #expect(!has("ab", "abc") && !has("", "abc") && !has("abd", "abc") && !has("xab", "abc") && !has("aab", "abc"))
        #expect(has("abc", "") && has("", ""))
    }
}
