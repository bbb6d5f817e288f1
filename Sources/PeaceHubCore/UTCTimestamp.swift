import Foundation

/// ISO 8601 timestamps in UTC, as the registry stores them (`2026-11-26T10:00:00Z`, or with milliseconds
/// `2026-11-26T10:00:00.250Z`), so text comparison orders instants.
///
/// Written by hand: `ISO8601DateFormatter` builds an ICU formatter each time it is made, about 0.2 ms, and the
/// hub writes two timestamps for every report it archives and one for every log line.
public enum UTCTimestamp {
    /// `date` to the whole second (`withMilliseconds` false) or the millisecond, rounded down.
    public static func string(_ date: Date, withMilliseconds: Bool) -> String {
        let milliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
        var seconds = time_t(milliseconds.floorDivided(by: 1000))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        var text = pad(Int(parts.tm_year) + 1900, 4) + "-" + pad(Int(parts.tm_mon) + 1, 2) + "-"
        text += pad(Int(parts.tm_mday), 2) + "T" + pad(Int(parts.tm_hour), 2) + ":"
        text += pad(Int(parts.tm_min), 2) + ":" + pad(Int(parts.tm_sec), 2)
        if withMilliseconds { text += "." + pad(Int(milliseconds - Int64(seconds) * 1000), 3) }
        return text + "Z"
    }

    private static func pad(_ value: Int, _ width: Int) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }
}

extension Int64 {
    /// Division rounding toward negative infinity (dates before 1970 too).
    fileprivate func floorDivided(by divisor: Int64) -> Int64 {
        let quotient = self / divisor
        return (self % divisor != 0 && (self < 0) != (divisor < 0)) ? quotient - 1 : quotient
    }
}
