import Foundation
import PeaceHubCore

/// Who a mission is, from `mission.json`: names, mandate, headquarters (seasonal where the
/// mission moves), lifecycle phases and the geography configuration.
public struct MissionProfile: Sendable {
    public struct Headquarters: Sendable {
        public var name: String
        public var point: GeoPoint
        /// `(month, day)` bounds, inclusive, possibly wrapping the year; `nil` means all year.
        public var season: (from: (Int, Int), to: (Int, Int))?

        func isSeat(on date: CalendarDate) -> Bool {
            guard let season else { return true }
            let day = (date.month, date.day)
            if season.from <= season.to { return season.from <= day && day <= season.to }
            return day >= season.from || day <= season.to
        }
    }

    public struct Phase: Sendable {
        public var name: String
        public var from: CalendarDate
        public var note: String?
    }

    public var provenance: DataProvenance
    public var code: String
    public var name: String
    public var mandate: String
    public var established: CalendarDate
    public var establishingResolution: String
    public var timezone: String
    /// `timezone` as read: phases and seats change at midnight where the mission is, not in UTC.
    public var timeZone: TimeZone
    public var headquarters: [Headquarters]
    /// Ordered by start date.
    public var lifecycle: [Phase]
    public var geography: DataObject

    public init(_ root: DataObject) throws(DataFileError) {
        provenance = try DataProvenance(root)
        code = try root.string("code")
        name = try root.string("name")
        mandate = try root.string("mandate")
        established = try root.date("established")
        establishingResolution = try root.string("establishingResolution")
        timezone = try root.string("timezone")
        guard let zone = TimeZone(identifier: timezone) else {
            throw root.failure("timezone", "must be an IANA time zone such as Asia/Beirut")
        }
        timeZone = zone
        headquarters = try root.objects("headquarters").map { object throws(DataFileError) in
            var season: (from: (Int, Int), to: (Int, Int))?
            if let range = try object.optionalObject("season") {
                season = (try Self.monthDay(range, "from"), try Self.monthDay(range, "to"))
            }
            return Headquarters(
                name: try object.string("name"),
                point: GeoPoint(lat: try object.number("lat"), lon: try object.number("lon")),
                season: season)
        }
        guard !headquarters.isEmpty else { throw root.failure("headquarters", "must name at least one seat") }
        lifecycle = try root.objects("lifecycle").map { object throws(DataFileError) in
            Phase(
                name: try object.string("phase"), from: try object.date("from"), note: try object.optionalString("note")
            )
        }.sorted { $0.from < $1.from }
        guard !lifecycle.isEmpty else { throw root.failure("lifecycle", "must list at least one phase") }
        geography = try root.object("geography")
    }

    /// The calendar date where the mission is, at `seconds` since 1970 (UTC).
    public func localDate(_ seconds: Double) -> CalendarDate {
        let date = Date(timeIntervalSince1970: seconds)
        return CalendarDate(date.addingTimeInterval(Double(timeZone.secondsFromGMT(for: date))))
    }

    /// The lifecycle phase on `date`; `nil` before the first phase.
    public func phase(on date: CalendarDate) -> Phase? {
        lifecycle.last { $0.from <= date }
    }

    /// The seat of the headquarters on `date`.
    public func headquarters(on date: CalendarDate) -> Headquarters {
        headquarters.first { $0.isSeat(on: date) } ?? headquarters[0]
    }

    private static func monthDay(_ object: DataObject, _ key: String) throws(DataFileError) -> (Int, Int) {
        let text = try object.string(key)
        guard let date = CalendarDate("2000-\(text)") else { throw object.failure(key, "must be a day such as 11-01") }
        return (date.month, date.day)
    }
}
