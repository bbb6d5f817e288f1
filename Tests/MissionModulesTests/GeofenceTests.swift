import Foundation
import PeaceHubCore
import PeaceHubPlugins
import Testing

/// `geocheck` at known points, through the built modules. The shipped geometry is approximate
/// (missions.md APPROX), so expectations use generous margins.
@Suite struct GeofenceTests {
    struct Point: Sendable, CustomTestStringConvertible {
        var mission: String
        var name: String
        var lat: Double
        var lon: Double
        var inside: Bool
        var side: String
        /// Expected distance to the reference line, in km, and the tolerance.
        var distanceKm: ClosedRange<Double>
        var sector: String? = nil
        var zone: String? = nil
        var nearestSite: String? = nil
        var testDescription: String { "\(mission) \(name)" }
    }

    static let points: [Point] = [
        Point(
            mission: "UNIFIL", name: "Ibl al-Saqi (Sector East)", lat: 33.374, lon: 35.626, inside: true, side: "NORTH",
            distanceKm: 9...13, sector: "EAST", nearestSite: "INDBATT HQ Ibl al-Saqi"),
        Point(
            mission: "UNIFIL", name: "Sector West", lat: 33.2, lon: 35.3, inside: true, side: "NORTH",
            distanceKm: 12...16, sector: "WEST", nearestSite: "Sector West HQ Shama"),
        Point(
            mission: "UNIFIL", name: "Beirut", lat: 33.89, lon: 35.50, inside: false, side: "NORTH", distanceKm: 55...65
        ),
        Point(
            mission: "UNIFIL", name: "130 m south of the Blue Line", lat: 33.075, lon: 35.25, inside: false,
            side: "SOUTH",
            distanceKm: 0...0.5),
        Point(
            mission: "UNIFIL", name: "Kiryat Shmona", lat: 33.207, lon: 35.57, inside: false, side: "SOUTH",
            distanceKm: 2...4),
        // Places a probe of the 1.0.0 geometry found on the wrong side.
        Point(
            mission: "UNIFIL", name: "Tyre, on its peninsula", lat: 33.2705, lon: 35.2038, inside: true, side: "NORTH",
            distanceKm: 18...24, sector: "WEST"),
        Point(
            mission: "UNIFIL", name: "Metula (Israel)", lat: 33.278, lon: 35.578, inside: false, side: "SOUTH",
            distanceKm: 0.3...1.5),

        Point(
            mission: "UNFICYP", name: "Nicosia on the centreline", lat: 35.175, lon: 33.36, inside: true,
            side: "ON_LINE",
            distanceKm: 0...0.05, sector: "SECTOR 2", nearestSite: "Ledra Street"),
        Point(
            mission: "UNFICYP", name: "1 km north of the centreline", lat: 35.184, lon: 33.36, inside: true,
            side: "NORTH", distanceKm: 0.8...1.2, sector: "SECTOR 2"),
        Point(
            mission: "UNFICYP", name: "0.8 km south of the centreline", lat: 35.166, lon: 33.36, inside: true,
            side: "SOUTH", distanceKm: 0.6...1.0, sector: "SECTOR 2"),
        Point(
            mission: "UNFICYP", name: "Pyla", lat: 35.013, lon: 33.692, inside: true, side: "NORTH",
            distanceKm: 0...0.5, sector: "SECTOR 4", nearestSite: "Pyla"),
        Point(
            mission: "UNFICYP", name: "Skouriotissa", lat: 35.11, lon: 32.90, inside: true, side: "SOUTH",
            distanceKm: 0...1, sector: "SECTOR 1"),
        Point(
            mission: "UNFICYP", name: "north of the zone", lat: 35.27, lon: 33.36, inside: false, side: "NORTH",
            distanceKm: 9...12),
        Point(
            mission: "UNFICYP", name: "Limassol", lat: 34.68, lon: 33.04, inside: false, side: "SOUTH",
            distanceKm: 40...55),
        Point(
            mission: "UNFICYP", name: "Dherinia, the line's eastern end", lat: 35.06, lon: 33.96, inside: true,
            side: "ON_LINE", distanceKm: 0...0.05, sector: "SECTOR 4"),
        // The zone reaches 1.5 km past the line's eastern end, as the data's note says (1.1.0 stopped at 1.3 km).
        Point(
            mission: "UNFICYP", name: "1.45 km past Dherinia", lat: 35.06287, lon: 33.97552, inside: true,
            side: "SOUTH", distanceKm: 1.4...1.5, sector: "SECTOR 4"),
        Point(
            mission: "UNFICYP", name: "1.6 km past Dherinia", lat: 35.06317, lon: 33.97713, inside: false,
            side: "SOUTH", distanceKm: 1.55...1.65),
        Point(
            mission: "UNFICYP", name: "Pergamos crossing point", lat: 35.057, lon: 33.748, inside: true,
            side: "NORTH", distanceKm: 3...5, sector: "SECTOR 4", nearestSite: "Pergamos"),
        Point(
            mission: "UNFICYP", name: "Strovilia crossing point", lat: 35.09, lon: 33.89, inside: true,
            side: "NORTH", distanceKm: 4...5.5, sector: "SECTOR 4", nearestSite: "Strovilia"),
        Point(
            mission: "UNFICYP", name: "Astromeritis-Zodia crossing point", lat: 35.1545, lon: 33.044, inside: true,
            side: "NORTH", distanceKm: 4...5.5, sector: "SECTOR 1", nearestSite: "Astromeritis-Zodia"),
        Point(
            mission: "UNFICYP", name: "Kokkina, held by the Turkish forces", lat: 35.1706, lon: 32.6052, inside: true,
            side: "NORTH", distanceKm: 0...1.5, sector: "SECTOR 1"),
        Point(
            mission: "UNFICYP", name: "west of Kokkina", lat: 35.14, lon: 32.58, inside: false, side: "SOUTH",
            distanceKm: 2...4),

        Point(
            mission: "UNMOGIP", name: "Kotli, 19 km west of the LoC", lat: 33.52, lon: 73.90, inside: true,
            side: "PAKISTANI_ADMINISTERED", distanceKm: 17...21, nearestSite: "Kotli"),
        Point(
            mission: "UNMOGIP", name: "Rajouri", lat: 33.38, lon: 74.31, inside: true, side: "INDIAN_ADMINISTERED",
            distanceKm: 12...17, nearestSite: "Rajouri"),
        Point(
            mission: "UNMOGIP", name: "2.4 km east of the LoC", lat: 34.30, lon: 73.98, inside: true,
            side: "INDIAN_ADMINISTERED", distanceKm: 1.5...3.5),
        Point(
            mission: "UNMOGIP", name: "3 km west of the LoC", lat: 34.30, lon: 73.92, inside: true,
            side: "PAKISTANI_ADMINISTERED", distanceKm: 2...4),
        Point(
            mission: "UNMOGIP", name: "Srinagar", lat: 34.08, lon: 74.80, inside: false, side: "INDIAN_ADMINISTERED",
            distanceKm: 60...70, nearestSite: "UNMOGIP HQ Srinagar (summer)"),
        Point(
            mission: "UNMOGIP", name: "Islamabad", lat: 33.69, lon: 73.05, inside: false,
            side: "PAKISTANI_ADMINISTERED", distanceKm: 85...100),

        Point(
            mission: "MINURSO", name: "Tifariti", lat: 26.158, lon: -10.567, inside: true, side: "EAST",
            distanceKm: 13...18, zone: "RESTRICTED_AREA_EAST", nearestSite: "Tifariti"),
        Point(
            mission: "MINURSO", name: "buffer strip", lat: 24.2, lon: -12.65, inside: true, side: "EAST",
            distanceKm: 0...5, zone: "BUFFER_STRIP"),
        Point(
            mission: "MINURSO", name: "east, limited restriction", lat: 24.2, lon: -12.3, inside: true, side: "EAST",
            distanceKm: 30...35, zone: "LIMITED_RESTRICTION_EAST"),
        Point(
            mission: "MINURSO", name: "Guerguerat, on the berm", lat: 21.37, lon: -16.96, inside: true,
            side: "ON_LINE", distanceKm: 0...0.05, zone: "BUFFER_STRIP"),
        Point(
            mission: "MINURSO", name: "2 km west of the berm", lat: 24.2, lon: -12.7, inside: true, side: "WEST",
            distanceKm: 1...3, zone: "RESTRICTED_AREA_WEST"),
        Point(
            mission: "MINURSO", name: "Smara", lat: 26.74, lon: -11.68, inside: true, side: "WEST",
            distanceKm: 85...105,
            zone: "LIMITED_RESTRICTION_WEST", nearestSite: "Smara"),
        Point(
            mission: "MINURSO", name: "Tindouf (Algeria)", lat: 27.67, lon: -8.15, inside: false, side: "EAST",
            distanceKm: 50...60),
        Point(
            mission: "MINURSO", name: "Nouadhibou (Mauritania)", lat: 20.931, lon: -17.0347, inside: false,
            side: "EAST", distanceKm: 45...55),
        Point(
            mission: "MINURSO", name: "La Guera, south of the berm's end", lat: 20.8333, lon: -17.0833, inside: true,
            side: "EAST", distanceKm: 55...65, zone: "LIMITED_RESTRICTION_EAST"),
        Point(
            mission: "MINURSO", name: "Dakhla", lat: 23.6848, lon: -15.958, inside: true, side: "WEST",
            distanceKm: 200...240, zone: "LIMITED_RESTRICTION_WEST"),
    ]

    @Test(arguments: points)
    func geocheckAtKnownPoint(_ point: Point) throws {
        let result = try Missions.geocheck(point.mission, point.lat, point.lon)
        #expect(result["insideArea"] == .bool(point.inside))
        #expect(result["sideOfLine"] == .string(point.side))
        let distance = try #require(result["distanceToLineKm"]?.numberValue)
        #expect(point.distanceKm.contains(distance), "distance \(distance) km")
        #expect(result["sector"] == point.sector.map(JSONValue.string))
        #expect(result["zone"] == point.zone.map(JSONValue.string))
        if let site = point.nearestSite {
            #expect(result["nearestSite"]?["name"] == .string(site))
        }
        #expect(result["approximate"] == true)
        #expect(result["mission"] == .string(point.mission))
    }

    @Test func badCoordinatesAreInvalidArguments() throws {
        let module = try Missions.module("UNIFIL")
        #expect(throws: PluginCallError.self) { try module.command("geocheck", arguments: ["lat": 95, "lon": 35]) }
        do {
            _ = try module.command("geocheck", arguments: ["lat": 33.2])
            Issue.record("accepted a missing lon")
        } catch {
            #expect(error.code == .invalidArgument)
            #expect(error.reason == "argument 'lon' must be a number between -180 and 180")
        }
    }
}
