import Glibc

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

extension UnsafeRawBufferPointer {
    /// True when `needle` occurs in the bytes: `memchr` finds each place its first byte is, and the rest is compared
    /// there. The generic `firstRange(of:)` over a `ByteBufferView` cost a quarter of reading a report's envelope.
    public func contains(utf8 needle: StaticString) -> Bool {
        let length = needle.utf8CodeUnitCount
        guard let base = baseAddress, length > 0, count >= length else { return length == 0 }
        let first = Int32(needle.utf8Start[0])
        var offset = 0
        while let found = memchr(base + offset, first, count - length - offset + 1) {
            if memcmp(found, needle.utf8Start, length) == 0 { return true }
            offset = base.distance(to: UnsafeRawPointer(found)) + 1
            if offset > count - length { return false }
        }
        return false
    }
}
