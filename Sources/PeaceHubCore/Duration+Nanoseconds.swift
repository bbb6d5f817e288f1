extension Duration {
    /// Whole nanoseconds, for comparisons with a monotonic clock read in nanoseconds; 0 for a negative duration.
    public var wholeNanoseconds: UInt64 {
        let (seconds, attoseconds) = components
        guard seconds >= 0, attoseconds >= 0 else { return 0 }
        return UInt64(seconds) &* 1_000_000_000 &+ UInt64(attoseconds / 1_000_000_000)
    }
}
