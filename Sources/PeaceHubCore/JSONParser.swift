/// Why a text is not JSON, and where.
public struct JSONParseError: Error, Hashable, Sendable, CustomStringConvertible {
    public let reason: String
    /// Where the problem is: the line, and the column in bytes.
    public let line: Int
    public let column: Int

    public var description: String { "\(reason) (line \(line), column \(column))" }
}

/// RFC 8259 JSON text to `JSONValue`, written by hand: `JSONDecoder` decoding `JSONValue` through `Codable` tried
/// each kind in turn and built an error for each miss, a large part of the hub's CPU per routed report.
///
/// Strict where the RFC is: no trailing commas, comments, leading zeros, `NaN` or unescaped control characters;
/// strings must be UTF-8 and their `\u` escapes whole surrogate pairs. A leading UTF-8 byte order mark is
/// skipped (RFC 8259, 8.1); a member name repeated in one object is refused (I-JSON, RFC 7493 2.3: parsers that keep
/// the first or the last value would read two different documents); numbers are `Double`, and one too large for it
/// is refused; nesting stops at 512 levels.
struct JSONParser {
    static let maximumDepth = 512

    private let bytes: UnsafeRawBufferPointer
    private var index = 0
    private var depth = 0

    private init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    static func parse(_ bytes: UnsafeRawBufferPointer) throws(JSONParseError) -> JSONValue {
        var parser = JSONParser(bytes)
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { parser.index = 3 }
        parser.skipWhitespace()
        let value = try parser.value()
        parser.skipWhitespace()
        guard parser.index == bytes.count else { throw parser.failure("unexpected text after the value") }
        return value
    }

    private func failure(_ reason: String) -> JSONParseError {
        let before = bytes[..<min(index, bytes.count)]
        let lastNewline = before.lastIndex(of: UInt8(ascii: "\n"))
        return JSONParseError(
            reason: reason, line: before.count { $0 == UInt8(ascii: "\n") } + 1,
            column: index - (lastNewline.map { $0 + 1 } ?? 0) + 1)
    }

    private var current: UInt8? { index < bytes.count ? bytes[index] : nil }

    private mutating func skipWhitespace() {
        while let byte = current,
            byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r")
                || byte == UInt8(ascii: "\t")
        {
            index += 1
        }
    }

    private mutating func value() throws(JSONParseError) -> JSONValue {
        guard let byte = current else { throw failure("unexpected end of text, a value was expected") }
        switch byte {
        case UInt8(ascii: "{"): return try object()
        case UInt8(ascii: "["): return try array()
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): return try literal("true", .bool(true))
        case UInt8(ascii: "f"): return try literal("false", .bool(false))
        case UInt8(ascii: "n"): return try literal("null", .null)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
        default: throw failure("unexpected character \(Self.shown(byte)), a value was expected")
        }
    }

    private mutating func literal(_ word: StaticString, _ value: JSONValue) throws(JSONParseError) -> JSONValue {
        let text = UnsafeRawBufferPointer(start: word.utf8Start, count: word.utf8CodeUnitCount)
        guard bytes.count - index >= text.count, bytes[index..<index + text.count].elementsEqual(text) else {
            throw failure("unexpected character \(Self.shown(bytes[index])), a value was expected")
        }
        index += text.count
        return value
    }

    /// Steps into an object or array at its opening bracket; true when `closer` ends it at once (consumed).
    private mutating func enter(closedBy closer: UInt8) throws(JSONParseError) -> Bool {
        depth += 1
        guard depth <= Self.maximumDepth else { throw failure("nested more than \(Self.maximumDepth) levels deep") }
        index += 1
        skipWhitespace()
        return closes(closer)
    }

    /// After a member or an item: true at `closer` (consumed, the container left), false after a comma.
    private mutating func next(closedBy closer: UInt8) throws(JSONParseError) -> Bool {
        skipWhitespace()
        guard current == UInt8(ascii: ",") else {
            guard closes(closer) else { throw failure("',' or '\(Character(Unicode.Scalar(closer)))' was expected") }
            return true
        }
        index += 1
        skipWhitespace()
        return false
    }

    private mutating func closes(_ closer: UInt8) -> Bool {
        guard current == closer else { return false }
        index += 1
        depth -= 1
        return true
    }

    private mutating func object() throws(JSONParseError) -> JSONValue {
        var members: [String: JSONValue] = [:]
        var done = try enter(closedBy: UInt8(ascii: "}"))
        while !done {
            guard current == UInt8(ascii: "\"") else { throw failure("a member name in quotes was expected") }
            let keyStart = index
            let key = try string()
            if members[key] != nil {
                index = keyStart
                throw failure("the member name \"\(key)\" appears twice in one object")
            }
            skipWhitespace()
            guard current == UInt8(ascii: ":") else { throw failure("':' was expected after the member name") }
            index += 1
            skipWhitespace()
            let member = try value()
            members[key] = member
            done = try next(closedBy: UInt8(ascii: "}"))
        }
        return .object(members)
    }

    private mutating func array() throws(JSONParseError) -> JSONValue {
        var items: [JSONValue] = []
        var done = try enter(closedBy: UInt8(ascii: "]"))
        while !done {
            items.append(try value())
            done = try next(closedBy: UInt8(ascii: "]"))
        }
        return .array(items)
    }

    /// A string from its opening quote; the text between quotes is made into the string in place when it has no
    /// escapes (most strings), without an array of its bytes first.
    private mutating func string() throws(JSONParseError) -> String {
        index += 1
        let start = index
        while let byte = current, byte != UInt8(ascii: "\""), byte != UInt8(ascii: "\\"), byte >= 0x20 { index += 1 }
        if current == UInt8(ascii: "\"") {
            guard let string = String(validating: UnsafeRawBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
            else {
                index = start
                throw failure("the string is not valid UTF-8")
            }
            index += 1
            return string
        }
        var text = [UInt8](bytes[start..<index])
        while true {
            guard let byte = current else { throw failure("unterminated string") }
            switch byte {
            case UInt8(ascii: "\""):
                guard let string = String(validating: text, as: UTF8.self) else {
                    index = start
                    throw failure("the string is not valid UTF-8")
                }
                index += 1
                return string
            case UInt8(ascii: "\\"):
                try escape(into: &text)
            case ..<0x20:
                throw failure("control character \(Self.shown(byte)) in a string (escape it)")
            default:
                text.append(byte)
                index += 1
            }
        }
    }

    private mutating func escape(into text: inout [UInt8]) throws(JSONParseError) {
        index += 1
        guard let byte = current else { throw failure("unterminated string") }
        index += 1
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): text.append(byte)
        case UInt8(ascii: "b"): text.append(0x08)
        case UInt8(ascii: "f"): text.append(0x0C)
        case UInt8(ascii: "n"): text.append(0x0A)
        case UInt8(ascii: "r"): text.append(0x0D)
        case UInt8(ascii: "t"): text.append(0x09)
        case UInt8(ascii: "u"):
            var scalar = UInt32(try hexQuad())
            if (0xD800...0xDBFF).contains(scalar) {
                guard bytes.count - index >= 2, bytes[index] == UInt8(ascii: "\\"),
                    bytes[index + 1] == UInt8(ascii: "u")
                else { throw failure("a high surrogate escape without its low surrogate") }
                index += 2
                let low = UInt32(try hexQuad())
                guard (0xDC00...0xDFFF).contains(low) else {
                    throw failure("a high surrogate escape without its low surrogate")
                }
                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
            } else if (0xDC00...0xDFFF).contains(scalar) {
                throw failure("a low surrogate escape without its high surrogate")
            }
            // Not a surrogate, so a scalar.
            UTF8.encode(Unicode.Scalar(scalar)!) { text.append($0) }
        default:
            index -= 1
            throw failure("unknown escape \\\(Self.shown(byte))")
        }
    }

    private mutating func hexQuad() throws(JSONParseError) -> UInt16 {
        guard bytes.count - index >= 4 else { throw failure("a \\u escape needs four hex digits") }
        var value: UInt16 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw failure("a \\u escape needs four hex digits")
            }
            value = value << 4 | UInt16(digit)
            index += 1
        }
        return value
    }

    private mutating func number() throws(JSONParseError) -> Double {
        let start = index
        if current == UInt8(ascii: "-") { index += 1 }
        if current == UInt8(ascii: "0") {
            index += 1
        } else {
            guard digits() > 0 else { throw failure("a digit was expected") }
        }
        if current == UInt8(ascii: ".") {
            index += 1
            guard digits() > 0 else { throw failure("a digit was expected after '.'") }
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            index += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { index += 1 }
            guard digits() > 0 else { throw failure("a digit was expected in the exponent") }
        }
        guard let value = Double(String(decoding: bytes[start..<index], as: UTF8.self)), value.isFinite else {
            index = start
            throw failure("the number is too large for a double")
        }
        return value
    }

    /// Skips the digits at the current position and returns how many there were. (A digit after a leading zero
    /// is left for the caller, which finds it where a value cannot go on.)
    private mutating func digits() -> Int {
        let start = index
        while let byte = current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) { index += 1 }
        return index - start
    }

    private static func shown(_ byte: UInt8) -> String {
        (0x21...0x7E).contains(byte) ? "'\(Character(Unicode.Scalar(byte)))'" : "0x" + String(byte, radix: 16)
    }
}
