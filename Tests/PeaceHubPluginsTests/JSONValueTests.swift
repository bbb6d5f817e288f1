import Foundation
import PeaceHubCore
import Testing

/// `JSONValue.jsonData` is written by hand; its text must stay what `JSONEncoder` writes.
@Suite struct JSONValueTests {
    static let values: [JSONValue] = [
        .null, true, false, 0, -1, 3, 2.5, 0.1, -273.15, 1e20, 1e-7, 123_456_789_012, 1_234_567_890_123_456,
        "", "plain", "quote \" backslash \\ slash / tab \t newline \n return \r", "\u{01}\u{08}\u{0C}\u{1F}\u{7F}",
        "Қазақстан · भारत · 🇰🇿", [], [1, "two", [3], ["four": 4]], [:],
        ["b": 2, "a": 1, "B": 3, "a10": 4, "a9": 5, "_": 6, "Ω": 7, "z": ["y": [true, .null]]],
    ]

    @Test(arguments: values) func textIsWhatJSONEncoderWrites(_ value: JSONValue) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let expected = try encoder.encode(value)
        #expect(String(decoding: value.jsonData, as: UTF8.self) == String(decoding: expected, as: UTF8.self))
        #expect(try JSONValue(parsing: value.jsonData) == value)
    }

    @Test func nonFiniteNumbersAreNull() {
        let value: JSONValue = [.number(.infinity), .number(-.infinity), .number(.nan)]
        #expect(String(decoding: value.jsonData, as: UTF8.self) == "[null,null,null]")
    }
}

/// `JSONParser`, hand-written: it must read what `JSONDecoder` read, refuse what RFC 8259 refuses, and say where.
@Suite struct JSONParserTests {
    private func parse(_ text: String) throws(JSONParseError) -> JSONValue { try JSONValue(parsing: Data(text.utf8)) }

    private func failure(_ bytes: [UInt8]) -> JSONParseError? {
        do {
            _ = try JSONValue(parsing: Data(bytes))
            return nil
        } catch {
            return error
        }
    }

    static let valid = [
        "null", "true", "false", "0", "-0", "12", "-3.25", "1e3", "1E+2", "2.5e-3", "1.7976931348623157e308",
        "123456789012345678901234567890", #""""#, #""plain""#, #""\"\\\/\b\f\n\r\t""#, #""\u00e9\u20AC\uD83C\uDDF0""#,
        #""\u0000x""#, "\"Қазақстан भारत 🇰🇿\"", "[]", "{}",
        " \t\r\n[ 1 , \"a\" , [ ] , { } ] \n",
        #"{"a":{"b":[1,{"c":null}]},"d":"e","f":true}"#, #"{"":0}"#, "[[[[[[[[[[1]]]]]]]]]]",
    ]

    @Test(arguments: valid) func readsWhatJSONDecoderReads(_ text: String) throws {
        let expected = try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
        #expect(try parse(text) == expected)
    }

    static let invalid: [(text: String, reason: String)] = [
        ("", "unexpected end of text, a value was expected (line 1, column 1)"),
        ("  ", "unexpected end of text, a value was expected (line 1, column 3)"),
        ("[1,]", "unexpected character ']', a value was expected (line 1, column 4)"),
        (#"{"a":1,}"#, "a member name in quotes was expected (line 1, column 8)"),
        ("[1 2]", "',' or ']' was expected (line 1, column 4)"),
        (#"{"a" 1}"#, "':' was expected after the member name (line 1, column 6)"),
        ("{a:1}", "a member name in quotes was expected (line 1, column 2)"),
        ("01", "unexpected text after the value (line 1, column 2)"),
        ("-", "a digit was expected (line 1, column 2)"),
        ("1.", "a digit was expected after '.' (line 1, column 3)"),
        (".5", "unexpected character '.', a value was expected (line 1, column 1)"),
        ("+1", "unexpected character '+', a value was expected (line 1, column 1)"),
        ("1e", "a digit was expected in the exponent (line 1, column 3)"),
        ("1e400", "the number is too large for a double (line 1, column 1)"),
        ("NaN", "unexpected character 'N', a value was expected (line 1, column 1)"),
        ("tru", "unexpected character 't', a value was expected (line 1, column 1)"),
        ("nul1", "unexpected character 'n', a value was expected (line 1, column 1)"),
        ("[1] // note", "unexpected text after the value (line 1, column 5)"),
        ("\"open", "unterminated string (line 1, column 6)"),
        ("\"a\u{01}b\"", "control character 0x1 in a string (escape it) (line 1, column 3)"),
        ("\"tab\there\"", "control character 0x9 in a string (escape it) (line 1, column 5)"),
        (#""\x""#, #"unknown escape \'x' (line 1, column 3)"#),
        (#""\u12""#, "a \\u escape needs four hex digits (line 1, column 4)"),
        (#""\uD800""#, "a high surrogate escape without its low surrogate (line 1, column 8)"),
        (#""\uD800\u0041""#, "a high surrogate escape without its low surrogate (line 1, column 14)"),
        (#""\uDC00""#, "a low surrogate escape without its high surrogate (line 1, column 8)"),
        ("{\n  \"a\": [1,\n  x]\n}", "unexpected character 'x', a value was expected (line 3, column 3)"),
    ]

    @Test(arguments: invalid) func refusesWhatRFC8259RefusesAndSaysWhere(_ text: String, _ reason: String) {
        #expect(failure(Array(text.utf8))?.description == reason)
    }

    @Test func bytesThatAreNotUTF8AreRefused() {
        #expect(failure([0x22, 0xFF, 0x22])?.reason == "the string is not valid UTF-8")
        #expect(failure([0x22, 0xC3, 0x22])?.reason == "the string is not valid UTF-8")
        #expect(failure([0x22, 0xED, 0xA0, 0x80, 0x22])?.reason == "the string is not valid UTF-8")  // a surrogate
        #expect(failure([0xFF]) != nil)
    }

    /// A repeated name would be read as its first value by some parsers and its last by others (the hub's check and
    /// a subscriber's would disagree): it is refused, at the repeat. The same name in another object is no repeat.
    @Test func aByteOrderMarkIsSkippedAndARepeatedNameRefused() throws {
        #expect(try JSONValue(parsing: Data([0xEF, 0xBB, 0xBF] + Array("[1]".utf8))) == [1])
        #expect(failure(Array(#"{"a":1,"a":2}"#.utf8))?.description
            == #"the member name "a" appears twice in one object (line 1, column 8)"#)
        #expect(failure(Array("{\"b\":{\"c\":1},\n \"b\":[]}".utf8))?.reason.hasPrefix(#"the member name "b""#) == true)
        #expect(try parse(#"{"a":{"a":1},"b":[{"a":2},{"a":3}]}"#) == ["a": ["a": 1], "b": [["a": 2], ["a": 3]]])
    }

    @Test func nestingStopsAt512Levels() throws {
        let deepest = String(repeating: "[", count: 512) + String(repeating: "]", count: 512)
        #expect(throws: Never.self) { try parse(deepest) }
        let deeper = String(repeating: "[", count: 513) + String(repeating: "]", count: 513)
        #expect(failure(Array(deeper.utf8))?.reason == "nested more than 512 levels deep")
        // Far deeper input is refused the same way, without exhausting the stack.
        let millionDeep = Array(String(repeating: "[", count: 1_000_000).utf8)
        #expect(failure(millionDeep)?.reason == "nested more than 512 levels deep")
    }
}
