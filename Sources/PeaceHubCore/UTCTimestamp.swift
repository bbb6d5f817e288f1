import Foundation

/// ISO 8601 timestamps in UTC, as the registry stores them (`2026-11-26T10:00:00Z`, or with milliseconds
/// `2026-11-26T10:00:00.250Z`), so text comparison orders instants.
///
/// Written by hand: `ISO8601DateFormatter` builds an ICU formatter each time it is made, about 0.2 ms, and the
/// hub writes two timestamps for every report it archives and one for every log line.
public enum UTCTimestamp {
    /// `date` to the whole second (`withMilliseconds` false) or the millisecond, rounded down.
    ///
    /// The digits go straight into the string's storage, one allocation, where joining a dozen small strings made
    /// several for each log line and each archived report.
    public static func string(_ date: Date, withMilliseconds: Bool) -> String {
        let milliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
        var seconds = time_t(milliseconds.floorDivided(by: 1000))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        let year = Int(parts.tm_year) + 1900
        // Four digits from year 0 to 9999; beyond, the year's own digits (and its sign), as `String` writes them.
        let yearText = (0...9999).contains(year) ? nil : String(year)
        return String(unsafeUninitializedCapacity: 32 + (yearText?.utf8.count ?? 0)) { text in
            var count = 0
            func put(_ byte: UInt8) {
                text[count] = byte
                count += 1
            }
            func put(_ value: Int, digits: Int) {
                var divisor = 1
                for _ in 1..<digits { divisor *= 10 }
                while divisor > 0 {
                    put(UInt8(ascii: "0") + UInt8(value / divisor % 10))
                    divisor /= 10
                }
            }
            if let yearText { yearText.utf8.forEach { put($0) } } else { put(year, digits: 4) }
            put(UInt8(ascii: "-"))
            put(Int(parts.tm_mon) + 1, digits: 2)
            put(UInt8(ascii: "-"))
            put(Int(parts.tm_mday), digits: 2)
            put(UInt8(ascii: "T"))
            put(Int(parts.tm_hour), digits: 2)
            put(UInt8(ascii: ":"))
            put(Int(parts.tm_min), digits: 2)
            put(UInt8(ascii: ":"))
            put(Int(parts.tm_sec), digits: 2)
            if withMilliseconds {
                put(UInt8(ascii: "."))
                put(Int(milliseconds - Int64(seconds) * 1000), digits: 3)
            }
            put(UInt8(ascii: "Z"))
            return count
        }
    }
}

extension Int64 {
    /// Division rounding toward negative infinity (dates before 1970 too).
    fileprivate func floorDivided(by divisor: Int64) -> Int64 {
        let quotient = self / divisor
        return (self % divisor != 0 && (self < 0) != (divisor < 0)) ? quotient - 1 : quotient
    }
}
