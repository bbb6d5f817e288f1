extension UnsafeBufferPointer<UInt8> {
    /// True when the bytes begin with `prefix`, compared in place: a generic `starts(with: "...".utf8)` walks the
    /// literal through `String.UTF8View`'s iterator, which cost more than the rest of a topic check.
    @inlinable
    public func starts(with prefix: StaticString) -> Bool {
        let length = prefix.utf8CodeUnitCount
        guard count >= length else { return false }
        let expected = prefix.utf8Start
        for index in 0..<length where self[index] != expected[index] { return false }
        return true
    }
}
