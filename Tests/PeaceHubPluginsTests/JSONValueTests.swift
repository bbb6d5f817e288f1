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
