import Foundation

/// A calendar date (`2026-12-31`), compared by value; parsed strictly, without a formatter, so
/// that judging stays allocation-light and thread-safe.
public struct CalendarDate: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var year: Int
    public var month: Int
    public var day: Int

    public init?(year: Int, month: Int, day: Int) {
        guard (1...9999).contains(year), (1...12).contains(month),
            (1...CalendarDate.daysIn(month: month, year: year)).contains(day)
        else { return nil }
        self.year = year
        self.month = month
        self.day = day
    }

    /// Parses `YYYY-MM-DD`.
    public init?(_ text: String) {
        let bytes = Array(text.utf8)
        guard bytes.count == 10, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"),
            let year = digits(bytes[0..<4]), let month = digits(bytes[5..<7]), let day = digits(bytes[8..<10])
        else { return nil }
        self.init(year: year, month: month, day: day)
    }

    /// The UTC calendar date of `date`.
    public init(_ date: Date) {
        let days = Int((date.timeIntervalSince1970 / 86_400).rounded(.down))
        (year, month, day) = CalendarDate.civil(fromDays: days)
    }

    /// Days since 1970-01-01.
    public var daysSinceEpoch: Int {
        // Howard Hinnant's days_from_civil.
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// Whole years from `self` to `later` (an age on a given day).
    public func wholeYears(until later: CalendarDate) -> Int {
        var years = later.year - year
        if (later.month, later.day) < (month, day) { years -= 1 }
        return years
    }

    public static func < (lhs: CalendarDate, rhs: CalendarDate) -> Bool {
        (lhs.year, lhs.month, lhs.day) < (rhs.year, rhs.month, rhs.day)
    }

    public var description: String {
        func pad(_ value: Int, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))"
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    static func civil(fromDays days: Int) -> (Int, Int, Int) {
        // Howard Hinnant's civil_from_days.
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}

/// Parses an RFC 3339 date-time: `2026-11-26T10:00:00Z`, with optional fractional seconds, or with the sender's
/// offset from UTC in place of `Z` (`2026-11-26T15:30:00+05:30`, Kazakhstan's and India's clocks); returns seconds
/// since the Unix epoch, or `nil` for anything else. Offsets are taken because the instant is exact either way, and
/// the hub's admin API reads them too.
public func parseDateTime(_ text: String) -> Double? {
    let bytes = Array(text.utf8)
    guard bytes.count >= 20, bytes[10] == UInt8(ascii: "T") || bytes[10] == UInt8(ascii: "t"),
        bytes[13] == UInt8(ascii: ":"), bytes[16] == UInt8(ascii: ":"),
        let date = CalendarDate(String(decoding: bytes[0..<10], as: UTF8.self)),
        let hour = digits(bytes[11..<13]), let minute = digits(bytes[14..<16]), let second = digits(bytes[17..<19]),
        hour < 24, minute < 60, second < 60,
        let (offsetStart, offset) = utcOffset(bytes)
    else { return nil }
    var fraction = 0.0
    let rest = bytes[19..<offsetStart]
    if !rest.isEmpty {
        guard rest.first == UInt8(ascii: "."), rest.count > 1, rest.count <= 10,
            let value = digits(rest.dropFirst())
        else { return nil }
        fraction = Double(value) / pow(10, Double(rest.count - 1))
    }
    return Double(date.daysSinceEpoch * 86_400 + hour * 3600 + minute * 60 + second - offset) + fraction
}

/// Where a date-time's zone starts and its offset east of UTC in seconds: `Z` (or `z`) is 0, `+hh:mm` and
/// `-hh:mm` are the sender's offset (`-00:00`, "UTC, local offset unknown", is 0).
private func utcOffset(_ bytes: [UInt8]) -> (start: Int, seconds: Int)? {
    if bytes.last == UInt8(ascii: "Z") || bytes.last == UInt8(ascii: "z") { return (bytes.count - 1, 0) }
    let start = bytes.count - 6
    guard start >= 19, bytes[start] == UInt8(ascii: "+") || bytes[start] == UInt8(ascii: "-"),
        bytes[start + 3] == UInt8(ascii: ":"),
        let hours = digits(bytes[(start + 1)..<(start + 3)]), let minutes = digits(bytes[(start + 4)...]),
        hours < 24, minutes < 60
    else { return nil }
    let seconds = hours * 3600 + minutes * 60
    return (start, bytes[start] == UInt8(ascii: "+") ? seconds : -seconds)
}

private func digits(_ bytes: ArraySlice<UInt8>) -> Int? {
    var value = 0
    for byte in bytes {
        guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
        value = value * 10 + Int(byte - UInt8(ascii: "0"))
    }
    return bytes.isEmpty ? nil : value
}

extension CalendarDate {
    /// The same day `months` later, clamped to the end of a shorter month.
    public func adding(months: Int) -> CalendarDate {
        let index = year * 12 + (month - 1) + months
        let newYear = index / 12
        let newMonth = index % 12 + 1
        let newDay = min(day, CalendarDate.daysIn(month: newMonth, year: newYear))
        return CalendarDate(year: newYear, month: newMonth, day: newDay) ?? self
    }

    /// The last day of a tour of `months` that starts on this day: registry end dates count their own day.
    public func lastDay(ofMonths months: Int) -> CalendarDate {
        let next = adding(months: months)
        if next.day > 1 { return CalendarDate(year: next.year, month: next.month, day: next.day - 1) ?? next }
        let month = next.month == 1 ? 12 : next.month - 1
        let year = next.month == 1 ? next.year - 1 : next.year
        return CalendarDate(year: year, month: month, day: CalendarDate.daysIn(month: month, year: year)) ?? next
    }
}
