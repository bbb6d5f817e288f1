import Foundation
import MissionSupport
import PeaceHubCore
import Testing

/// The shared geometry and parsing of MissionSupport, without a module.
@Suite struct GeoTests {
    @Test func haversineDistances() {
        // One degree of latitude is 111.2 km on the mean sphere.
        #expect(abs(Geo.distanceKm(GeoPoint(lat: 0, lon: 0), GeoPoint(lat: 1, lon: 0)) - 111.195) < 0.01)
        let naqouraToMarjayoun = Geo.distanceKm(GeoPoint(lat: 33.118, lon: 35.139), GeoPoint(lat: 33.36, lon: 35.59))
        #expect(abs(naqouraToMarjayoun - 49.4) < 1)
        #expect(Geo.distanceKm(GeoPoint(lat: 10, lon: 10), GeoPoint(lat: 10, lon: 10)) == 0)
    }

    @Test func pointInPolygonWithAHole() {
        let outer = [
            GeoPoint(lat: 0, lon: 0), GeoPoint(lat: 0, lon: 4), GeoPoint(lat: 4, lon: 4), GeoPoint(lat: 4, lon: 0),
            GeoPoint(lat: 0, lon: 0),
        ]
        let hole = [
            GeoPoint(lat: 1, lon: 1), GeoPoint(lat: 1, lon: 2), GeoPoint(lat: 2, lon: 2), GeoPoint(lat: 2, lon: 1),
            GeoPoint(lat: 1, lon: 1),
        ]
        let polygon = GeoPolygon(rings: [outer, hole])
        #expect(Geo.contains(polygon, GeoPoint(lat: 3, lon: 3)))
        #expect(!Geo.contains(polygon, GeoPoint(lat: 1.5, lon: 1.5)))
        #expect(!Geo.contains(polygon, GeoPoint(lat: 5, lon: 1)))
        #expect(!Geo.contains(polygon, GeoPoint(lat: -0.1, lon: 2)))
        // The boundary is inside, on every edge and vertex alike (ray casting took two vertices and one edge of
        // the four in, the others out), and on the hole's edges too.
        let boundary = [
            (0.0, 0.0), (0.0, 4.0), (4.0, 4.0), (4.0, 0.0), (0.0, 2.0), (2.0, 4.0), (4.0, 2.0), (2.0, 0.0), (1.0, 1.5),
            (2.0, 2.0), (1.5, 1.0),
        ]
        for (lat, lon) in boundary {
            #expect(Geo.contains(polygon, GeoPoint(lat: lat, lon: lon)), "(\(lat), \(lon))")
        }
        #expect(!Geo.contains(polygon, GeoPoint(lat: 4.000001, lon: 2)))
    }

    @Test func distanceAndSideOfASegment() throws {
        // A line drawn west to east along the equator: north is on its left.
        let line = [GeoPoint(lat: 0, lon: 0), GeoPoint(lat: 0, lon: 1)]
        let north = try #require(Geo.relation(of: GeoPoint(lat: 0.1, lon: 0.5), to: line))
        #expect(north.side == .left)
        #expect(abs(north.distanceKm - 11.12) < 0.05)
        #expect(Geo.relation(of: GeoPoint(lat: -0.1, lon: 0.5), to: line)?.side == .right)
        // Beyond the end the distance is to the end point.
        let beyond = try #require(Geo.relation(of: GeoPoint(lat: 0, lon: 1.1), to: line))
        #expect(abs(beyond.distanceKm - 11.12) < 0.05)
        #expect(Geo.relation(of: GeoPoint(lat: 0, lon: 0.5), to: line)?.side == nil)
    }

    /// Near a vertex both segments decide: the outside of a turn belongs to the side away from it.
    @Test func sideAtAVertex() {
        // East, then north: a left turn at (0, 1).
        let leftTurn = [GeoPoint(lat: 0, lon: 0), GeoPoint(lat: 0, lon: 1), GeoPoint(lat: 1, lon: 1)]
        #expect(Geo.relation(of: GeoPoint(lat: -0.1, lon: 1.1), to: leftTurn)?.side == .right)  // outside corner
        #expect(Geo.relation(of: GeoPoint(lat: 0.05, lon: 0.95), to: leftTurn)?.side == .left)  // inside corner
        #expect(Geo.relation(of: GeoPoint(lat: -0.1, lon: 0.99), to: leftTurn)?.side == .right)
        #expect(Geo.relation(of: GeoPoint(lat: 0.01, lon: 1.1), to: leftTurn)?.side == .right)
        // East, then south: a right turn at (0, 1).
        let rightTurn = [GeoPoint(lat: 0, lon: 0), GeoPoint(lat: 0, lon: 1), GeoPoint(lat: -1, lon: 1)]
        #expect(Geo.relation(of: GeoPoint(lat: 0.1, lon: 1.1), to: rightTurn)?.side == .left)  // outside corner
        #expect(Geo.relation(of: GeoPoint(lat: -0.05, lon: 0.95), to: rightTurn)?.side == .right)  // inside corner
    }

    @Test func calendarDates() throws {
        let date = try #require(CalendarDate("2024-02-29"))
        #expect(date.description == "2024-02-29")
        #expect(CalendarDate("2025-02-29") == nil)
        #expect(CalendarDate("2025-1-01") == nil)
        #expect(date.adding(months: 12).description == "2025-02-28")
        #expect(try #require(CalendarDate("2026-08-31")).adding(months: 6).description == "2027-02-28")
        #expect(
            try #require(CalendarDate("1992-04-18")).wholeYears(until: try #require(CalendarDate("2017-04-17"))) == 24)
        #expect(
            try #require(CalendarDate("1992-04-18")).wholeYears(until: try #require(CalendarDate("2017-04-18"))) == 25)
        #expect(CalendarDate(Date(timeIntervalSince1970: 1_795_737_600)).description == "2026-11-27")
        #expect(try #require(CalendarDate("1970-01-02")).daysSinceEpoch == 1)
    }

    @Test func dateTimes() {
        #expect(parseDateTime("2026-11-27T00:00:00Z") == 1_795_737_600)
        #expect(parseDateTime("2026-11-27T00:00:00.250Z") == 1_795_737_600.25)
        #expect(parseDateTime("2026-11-27t00:00:00z") == 1_795_737_600)
    }

    /// RFC 3339 offsets name the same instant: a contingent may send its local time.
    @Test func dateTimesWithAnOffsetFromUTC() {
        #expect(parseDateTime("2026-11-27T00:00:00+00:00") == 1_795_737_600)
        #expect(parseDateTime("2026-11-27T00:00:00-00:00") == 1_795_737_600)
        #expect(parseDateTime("2026-11-27T05:30:00+05:30") == 1_795_737_600)
        #expect(parseDateTime("2026-11-27T05:30:00.500+05:30") == 1_795_737_600.5)
        #expect(parseDateTime("2026-11-26T19:00:00-05:00") == 1_795_737_600)
        #expect(parseDateTime("2026-11-27T00:00:00+0530") == nil)
        #expect(parseDateTime("2026-11-27T00:00:00+24:00") == nil)
        #expect(parseDateTime("2026-11-27T00:00:00+05:60") == nil)
        #expect(parseDateTime("2026-11-27T00:00:00+05:30Z") == nil)
        #expect(parseDateTime("2026-11-27T00:00:00 05:30") == nil)
        #expect(parseDateTime("2026-11-27T00:00:00") == nil)
    }

    @Test func malformedDateTimes() {
        #expect(parseDateTime("2026-11-27T24:00:00Z") == nil)
        #expect(parseDateTime("2026-11-27") == nil)
        #expect(parseDateTime("2026-11-27T00:00:00.Z") == nil)
    }
}
