import Foundation
import PeaceHubCore

/// A mission's geography, read once from its data files: the area (polygons, or a corridor
/// around the reference line), sectors, the reference line with named sides, sites, and zones
/// defined as distance bands on either side of the line.
public struct MissionGeography: Sendable {
    public enum Area: Sendable {
        case polygons([GeoPolygon])
        /// Inside means within this many km of the reference line.
        case corridor(km: Double)
    }

    public struct Sector: Sendable {
        public var name: String
        public var polygons: [GeoPolygon]
    }

    public struct Site: Sendable {
        public var name: String
        public var kind: String
        public var point: GeoPoint
    }

    /// A zone: the points on `side` of the line between `fromKm` and `toKm` (open-ended when nil).
    public struct ZoneBand: Sendable {
        public var zone: String
        public var side: String
        public var fromKm: Double
        public var toKm: Double?
    }

    public var areaName: String
    public var area: Area
    public var sectors: [Sector]
    public var lineName: String
    public var lineParts: [[GeoPoint]]
    public var leftSide: String
    public var rightSide: String
    public var sites: [Site]
    public var zones: [ZoneBand]
    /// Provenance of every geography file read.
    public var files: [DataProvenance]

    /// Reads the files named by the `geography` object of `mission.json`. A `corridorKm` in the
    /// module's host configuration overrides the file's.
    public init(_ config: DataObject, in directory: URL, corridorOverride: Double?) throws(DataFileError) {
        areaName = try config.string("areaName")
        files = []

        let lineFile = try GeoDataFile.load(try config.string("lineFile"), in: directory)
        files.append(lineFile.provenance)
        let lines = lineFile.features(kind: "REFERENCE_LINE")
        guard lines.count == 1, let line = lines.first, case .lines(let parts) = line.geometry else {
            throw DataFileError(
                file: lineFile.provenance.file,
                problem: "must hold exactly one LineString feature of kind REFERENCE_LINE")
        }
        lineName = line.name
        lineParts = parts
        leftSide = try line.properties.string("leftSide")
        rightSide = try line.properties.string("rightSide")

        if let areaFileName = try config.optionalString("areaFile") {
            let areaFile = try GeoDataFile.load(areaFileName, in: directory)
            files.append(areaFile.provenance)
            var polygons: [GeoPolygon] = []
            for feature in areaFile.features(kind: "AREA") {
                guard case .polygons(let parts) = feature.geometry else {
                    throw DataFileError(
                        file: areaFileName, problem: "area '\(feature.name)' must be a Polygon or MultiPolygon")
                }
                polygons += parts
            }
            guard !polygons.isEmpty else {
                throw DataFileError(
                    file: areaFileName, problem: "must hold a Polygon or MultiPolygon feature of kind AREA")
            }
            area = .polygons(polygons)
            sectors = try areaFile.features(kind: "SECTOR").map { feature throws(DataFileError) in
                guard case .polygons(let polygons) = feature.geometry else {
                    throw DataFileError(file: areaFileName, problem: "sector '\(feature.name)' must be a Polygon")
                }
                return Sector(name: feature.name, polygons: polygons)
            }
        } else {
            var km = corridorOverride ?? 0
            if corridorOverride == nil { km = try config.number("corridorKm") }
            guard km > 0 else { throw config.failure("corridorKm", "must be a positive number of km") }
            area = .corridor(km: km)
            sectors = []
        }

        let sitesFile = try GeoDataFile.load(try config.string("sitesFile"), in: directory)
        files.append(sitesFile.provenance)
        sites = try sitesFile.features.map { feature throws(DataFileError) in
            guard case .point(let point) = feature.geometry else {
                throw DataFileError(file: sitesFile.provenance.file, problem: "site '\(feature.name)' must be a Point")
            }
            return Site(name: feature.name, kind: feature.kind, point: point)
        }

        let sides = [leftSide, rightSide]
        zones = try config.optionalObjects("zones").map { band throws(DataFileError) in
            let side = try band.string("side")
            guard sides.contains(side) else {
                throw band.failure("side", "must name a side of the reference line: \(sides.joined(separator: " or "))")
            }
            return ZoneBand(
                zone: try band.string("zone"), side: side, fromKm: try band.number("fromKm"),
                toKm: try band.optionalNumber("toKm"))
        }
    }

    /// The names of the sites of `kind`.
    public func siteNames(kind: String) -> Set<String> {
        Set(sites.filter { $0.kind == kind }.map(\.name))
    }

    /// Where `point` lies: inside the area or not, sector, zone, side of and distance to the
    /// reference line, nearest site.
    public func check(_ point: GeoPoint) -> GeoCheck {
        var relation: LineRelation?
        for part in lineParts {
            guard let candidate = Geo.relation(of: point, to: part) else { continue }
            if relation == nil || candidate.distanceKm < relation!.distanceKm { relation = candidate }
        }
        let distance = relation?.distanceKm ?? .infinity
        let side = relation?.side.map { $0 == .left ? leftSide : rightSide }
        let inside: Bool
        switch area {
        case .polygons(let polygons): inside = polygons.contains { Geo.contains($0, point) }
        case .corridor(let km): inside = distance <= km
        }
        let sector = inside ? sectors.first { $0.polygons.contains { Geo.contains($0, point) } }?.name : nil
        // A point on the line itself lies in the first band that starts at the line (MINURSO: the buffer strip,
        // which begins at the berm), rather than in none.
        let zone =
            inside && relation != nil
            ? zones.first { band in
                (side.map { band.side == $0 } ?? (band.fromKm == 0)) && distance >= band.fromKm
                    && band.toKm.map { distance < $0 } ?? true
            }?.zone : nil
        let nearest = sites.map { ($0, Geo.distanceKm(point, $0.point)) }.min { $0.1 < $1.1 }
        return GeoCheck(
            insideArea: inside, sector: sector, zone: zone, referenceLine: lineName, sideOfLine: side,
            distanceToLineKm: distance,
            nearestSite: nearest.map { NearestSite(name: $0.0.name, kind: $0.0.kind, distanceKm: $0.1) },
            corridorKm: { if case .corridor(let km) = area { return km } else { return nil } }())
    }
}

public struct NearestSite: Sendable, Equatable {
    public var name: String
    public var kind: String
    public var distanceKm: Double
}

/// The result of ``MissionGeography/check(_:)``.
public struct GeoCheck: Sendable, Equatable {
    public var insideArea: Bool
    public var sector: String?
    public var zone: String?
    public var referenceLine: String
    /// The name of the side (e.g. `NORTH`); `nil` exactly on the line.
    public var sideOfLine: String?
    public var distanceToLineKm: Double
    public var nearestSite: NearestSite?
    public var corridorKm: Double?

    /// The annotations attached to a report, distances rounded to 10 m.
    public var annotations: [String: JSONValue] {
        var members: [String: JSONValue] = [
            "insideArea": .bool(insideArea),
            "referenceLine": .string(referenceLine),
            "sideOfLine": .string(sideOfLine ?? "ON_LINE"),
            "distanceToLineKm": .number(Self.rounded(distanceToLineKm)),
        ]
        if let sector { members["sector"] = .string(sector) }
        if let zone { members["zone"] = .string(zone) }
        if let corridorKm { members["corridorKm"] = .number(corridorKm) }
        if let nearestSite {
            members["nearestSite"] = [
                "name": .string(nearestSite.name), "kind": .string(nearestSite.kind),
                "distanceKm": .number(Self.rounded(nearestSite.distanceKm)),
            ]
        }
        return members
    }

    static func rounded(_ km: Double) -> Double { (km * 100).rounded() / 100 }
}
