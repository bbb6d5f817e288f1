extension Unicode.Scalar {
    /// A control character (general category Cc): U+0000 to U+001F and U+007F to U+009F. Unicode's stability
    /// policy fixes that set for good, so the ranges answer without the property's table search, which took 2 %
    /// of an import's samples on names in Cyrillic.
    public var isControl: Bool { value < 0x20 || (0x7F...0x9F).contains(value) }
}
