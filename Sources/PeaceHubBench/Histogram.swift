import Glibc

/// Nanoseconds on the monotonic clock: publishers and subscribers live in one process, so a send timestamp in the
/// payload and the receive time compare directly.
@inline(__always)
func monotonicNanoseconds() -> UInt64 {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
}

/// A log-linear latency histogram (HdrHistogram's layout, 64 sub-buckets per power of two: within 1.6 %), fixed
/// size, so recording never allocates.
struct Histogram: Sendable {
    private static let bucketCount = 128 + 40 * 64
    private(set) var counts = [UInt64](repeating: 0, count: Histogram.bucketCount)
    private(set) var total: UInt64 = 0
    private(set) var maximum: UInt64 = 0

    @inline(__always)
    static func index(_ value: UInt64) -> Int {
        if value < 128 { return Int(value) }
        let shift = (63 - value.leadingZeroBitCount) - 6
        return min(128 + (shift - 1) * 64 + Int(value >> UInt64(shift)) - 64, bucketCount - 1)
    }

    /// The upper bound of a bucket (what a percentile reports).
    static func upperBound(_ index: Int) -> UInt64 {
        if index < 128 { return UInt64(index) }
        let shift = (index - 128) / 64 + 1
        let mantissa = UInt64((index - 128) % 64 + 64)
        return ((mantissa + 1) << UInt64(shift)) - 1
    }

    @inline(__always)
    mutating func record(_ nanoseconds: UInt64) {
        counts[Self.index(nanoseconds)] &+= 1
        total &+= 1
        if nanoseconds > maximum { maximum = nanoseconds }
    }

    mutating func merge(_ other: Histogram) {
        for index in counts.indices { counts[index] &+= other.counts[index] }
        total += other.total
        maximum = max(maximum, other.maximum)
    }

    /// The value below which `fraction` of the samples lie, in nanoseconds (0 without samples).
    func percentile(_ fraction: Double) -> UInt64 {
        guard total > 0 else { return 0 }
        let rank = UInt64((Double(total) * fraction).rounded(.up))
        var seen: UInt64 = 0
        for (index, count) in counts.enumerated() where count > 0 {
            seen += count
            if seen >= max(rank, 1) { return min(Self.upperBound(index), maximum) }
        }
        return maximum
    }
}
