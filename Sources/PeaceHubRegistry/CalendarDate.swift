import Foundation
import GRDB

/// An ISO 8601 calendar date (`2026-11-26`), stored as text so that SQL comparisons order correctly.
public struct CalendarDate: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    public let year: Int
    public let month: Int
    public let day: Int

    /// Parses `YYYY-MM-DD` (ASCII digits only); `nil` for anything else, including impossible days such
    /// as `2026-02-30` and the year 0000, which the mission modules (and most date libraries) do not take.
    public init?(_ text: String) {
        guard let date = Self(reading: text), date.year >= 1 else { return nil }
        self = date
    }

    /// `init?(_:)` with the year 0000 too: what an older hub stored stays readable. Read from the UTF-8 bytes:
    /// an import parses a few hundred thousand of them.
    init?(reading text: String) {
        var text = text
        let parts: (year: Int, month: Int, day: Int)? = text.withUTF8 { bytes in
            guard bytes.count == 10, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-") else { return nil }
            func number(_ range: Range<Int>) -> Int? {
                var value = 0
                for index in range {
                    let digit = bytes[index] &- UInt8(ascii: "0")
                    guard digit < 10 else { return nil }
                    value = value * 10 + Int(digit)
                }
                return value
            }
            guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10) else { return nil }
            return (year, month, day)
        }
        guard let parts, (1...12).contains(parts.month), parts.day >= 1,
            parts.day <= Self.daysIn(month: parts.month, year: parts.year)
        else { return nil }
        self.year = parts.year
        self.month = parts.month
        self.day = parts.day
    }

    public init(year: Int, month: Int, day: Int) {
        precondition((1...12).contains(month) && day >= 1 && day <= Self.daysIn(month: month, year: year))
        self.year = year
        self.month = month
        self.day = day
    }

    /// The UTC calendar date of `date`.
    public init(_ date: Date) {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let parts = calendar.dateComponents([.year, .month, .day], from: date)
        self.init(year: parts.year!, month: parts.month!, day: parts.day!)
    }

    public static var today: CalendarDate { CalendarDate(Date()) }

    public var description: String {
        guard (0...9999).contains(year) else {
            return "\(year)-\(Self.twoDigits(month))-\(Self.twoDigits(day))"
        }
        func digit(_ value: Int) -> UInt8 { UInt8(ascii: "0") + UInt8(value % 10) }
        return String(unsafeUninitializedCapacity: 10) { text in
            (text[0], text[1], text[2], text[3]) = (digit(year / 1000), digit(year / 100), digit(year / 10), digit(year))
            (text[4], text[5], text[6]) = (UInt8(ascii: "-"), digit(month / 10), digit(month))
            (text[7], text[8], text[9]) = (UInt8(ascii: "-"), digit(day / 10), digit(day))
            return 10
        }
    }

    private static func twoDigits(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }

    /// The date `months` calendar months later (clamped to the month's last day).
    public func adding(months: Int) -> CalendarDate {
        let total = year * 12 + (month - 1) + months
        let newYear = total / 12
        let newMonth = total % 12 + 1
        return CalendarDate(year: newYear, month: newMonth, day: min(day, Self.daysIn(month: newMonth, year: newYear)))
    }

    /// Whole years from `self` to `other` (an age on `other` for a date of birth).
    public func years(until other: CalendarDate) -> Int {
        var years = other.year - year
        if (other.month, other.day) < (month, day) { years -= 1 }
        return years
    }

    public static func < (lhs: CalendarDate, rhs: CalendarDate) -> Bool {
        (lhs.year, lhs.month, lhs.day) < (rhs.year, rhs.month, rhs.day)
    }

    private static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let date = CalendarDate(text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not a YYYY-MM-DD date: '\(text)'")
        }
        self = date
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

extension CalendarDate: DatabaseValueConvertible {
    public var databaseValue: DatabaseValue { description.databaseValue }

    public static func fromDatabaseValue(_ dbValue: DatabaseValue) -> CalendarDate? {
        String.fromDatabaseValue(dbValue).flatMap { CalendarDate(reading: $0) }
    }
}
