#if canImport(Glibc)
import Glibc
#endif

/// A client identifier, topic name or topic filter, compared and hashed by its UTF-8 bytes. MQTT tells such strings
/// apart by their bytes [MQTT-4.7.3-4, MQTT-3.1.3-2], where Swift compares `String`s by canonical equivalence:
/// `"é"` equals `"e\u{301}"` and the Kelvin sign `"\u{212A}"` equals `"K"`, so a dictionary keyed by `String` would
/// take one client's session, subscription or retained message for another's.
public struct ExactString: Hashable, Sendable {
    public let string: String

    @inlinable
    public init(_ string: String) {
        self.string = string
    }

    @inlinable
    public static func == (lhs: ExactString, rhs: ExactString) -> Bool {
        sameUTF8(lhs.string, rhs.string)
    }

    @inlinable
    public func hash(into hasher: inout Hasher) {
        hashUTF8(of: string, into: &hasher)
    }
}

/// Ordered by the UTF-8 bytes too, so a list sorted and paged by client id keeps apart ids that differ only in
/// Unicode form (a `String` key made the second of two such sessions vanish from the next page).
extension ExactString: Comparable, LosslessStringConvertible {
    public var description: String { string }

    public static func < (lhs: ExactString, rhs: ExactString) -> Bool {
        lhs.string.utf8.lexicographicallyPrecedes(rhs.string.utf8)
    }
}

/// True when `a` and `b` have the same UTF-8 bytes; compared in place when both are contiguous (native strings),
/// with `memcmp`, and at once when they are the same bytes (a decoder gives a repeated topic as the same string).
@inlinable
public func sameUTF8(_ a: some StringProtocol, _ b: some StringProtocol) -> Bool {
    let inPlace = a.utf8.withContiguousStorageIfAvailable { x in
        b.utf8.withContiguousStorageIfAvailable { y in
            x.count == y.count
                && (x.isEmpty || x.baseAddress == y.baseAddress || memcmp(x.baseAddress!, y.baseAddress!, x.count) == 0)
        }
    }
    return (inPlace ?? nil) ?? a.utf8.elementsEqual(b.utf8)
}

/// Calls `body` with the UTF-8 bytes of `text`: in place for a native string, where `String.withUTF8` on a copy
/// would count the string up and down; a copy's bytes otherwise.
@inlinable
public func withUTF8<Result>(
    of text: String, _ body: (UnsafeBufferPointer<UInt8>) throws -> Result
) rethrows -> Result {
    if let result = try text.utf8.withContiguousStorageIfAvailable(body) { return result }
    var copy = text
    return try copy.withUTF8(body)
}

/// Feeds the UTF-8 bytes of `text` to `hasher`, in place when they are contiguous (a native string).
@inlinable
public func hashUTF8(of text: some StringProtocol, into hasher: inout Hasher) {
    let hashed: Void? = text.utf8.withContiguousStorageIfAvailable { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    if hashed == nil { Array(text.utf8).withUnsafeBytes { hasher.combine(bytes: $0) } }
}

/// A dictionary whose keys are told apart by their bytes (`ExactString`), used with plain strings.
public struct ExactDictionary<Value> {
    @usableFromInline var storage: [ExactString: Value]

    @inlinable
    public init() {
        storage = [:]
    }

    /// Room for `minimumCapacity` keys, for a dictionary whose size is known: it is not rehashed as it grows.
    @inlinable
    public init(minimumCapacity: Int) {
        storage = Dictionary(minimumCapacity: minimumCapacity)
    }

    @inlinable
    public subscript(key: String) -> Value? {
        get { storage[ExactString(key)] }
        _modify { yield &storage[ExactString(key)] }
    }

    @inlinable
    public subscript(key: String, default value: @autoclosure () -> Value) -> Value {
        get { storage[ExactString(key), default: value()] }
        _modify { yield &storage[ExactString(key), default: value()] }
    }

    @inlinable
    public var count: Int { storage.count }
    @inlinable
    public var isEmpty: Bool { storage.isEmpty }
    @inlinable
    public var keys: [String] { storage.keys.map(\.string) }
    @inlinable
    public var values: Dictionary<ExactString, Value>.Values { storage.values }

    @inlinable
    @discardableResult
    public mutating func removeValue(forKey key: String) -> Value? {
        storage.removeValue(forKey: ExactString(key))
    }

    @inlinable
    @discardableResult
    public mutating func updateValue(_ value: Value, forKey key: String) -> Value? {
        storage.updateValue(value, forKey: ExactString(key))
    }

    @inlinable
    public mutating func removeAll(keepingCapacity: Bool = false) {
        storage.removeAll(keepingCapacity: keepingCapacity)
    }
}

extension ExactDictionary: Sequence {
    @inlinable
    public func makeIterator() -> some IteratorProtocol<(key: String, value: Value)> {
        storage.lazy.map { (key: $0.key.string, value: $0.value) }.makeIterator()
    }
}

extension ExactDictionary: ExpressibleByDictionaryLiteral {
    @inlinable
    public init(dictionaryLiteral elements: (String, Value)...) {
        storage = Dictionary(elements.map { (ExactString($0.0), $0.1) }, uniquingKeysWith: { $1 })
    }
}

extension ExactDictionary: Equatable where Value: Equatable {}
extension ExactDictionary: Sendable where Value: Sendable {}
