import Foundation
import PeaceHubCore

/// One feature of a GeoJSON file: its geometry and its `properties`.
public struct GeoFeature: Sendable {
    public enum Geometry: Sendable {
        case point(GeoPoint)
        /// A LineString, or the parts of a MultiLineString.
        case lines([[GeoPoint]])
        /// A Polygon, or the parts of a MultiPolygon.
        case polygons([GeoPolygon])
    }

    public var geometry: Geometry
    public var properties: DataObject

    /// The feature's `name` property.
    public var name: String { properties.members["name"]?.stringValue ?? "" }
    /// The feature's `kind` property (e.g. `AREA`, `SECTOR`, `TEAM_SITE`).
    public var kind: String { properties.members["kind"]?.stringValue ?? "" }
}

/// A versioned GeoJSON FeatureCollection with the provenance members PeaceHub requires.
///
/// Positions are GeoJSON order, `[lon, lat]`. Replacing a shipped file with official mission
/// GIS is a file swap as long as the features keep their `name` and `kind` properties.
public struct GeoDataFile: Sendable {
    public var provenance: DataProvenance
    public var features: [GeoFeature]

    public static func load(_ name: String, in directory: URL) throws(DataFileError) -> GeoDataFile {
        let root = try DataObject.load(name, in: directory)
        guard root.members["type"]?.stringValue == "FeatureCollection" else {
            throw root.failure("type", "must be \"FeatureCollection\"")
        }
        let provenance = try DataProvenance(root)
        var features: [GeoFeature] = []
        for feature in try root.objects("features") {
            let properties = try feature.object("properties")
            _ = try properties.string("name")
            _ = try properties.string("kind")
            features.append(GeoFeature(geometry: try geometry(feature.object("geometry")), properties: properties))
        }
        guard !features.isEmpty else { throw root.failure("features", "must hold at least one feature") }
        return GeoDataFile(provenance: provenance, features: features)
    }

    /// The features whose `kind` is `kind`.
    public func features(kind: String) -> [GeoFeature] {
        features.filter { $0.kind == kind }
    }

    private static func geometry(_ object: DataObject) throws(DataFileError) -> GeoFeature.Geometry {
        let type = try object.string("type")
        let coordinates = object.members["coordinates"] ?? .null
        func bad(_ shape: String) -> DataFileError {
            object.failure("coordinates", "must be \(shape) of [lon, lat] positions in range")
        }
        switch type {
        case "Point":
            guard let point = position(coordinates) else { throw bad("a Point") }
            return .point(point)
        case "LineString":
            guard let line = positions(coordinates, minimum: 2) else { throw bad("a LineString") }
            return .lines([line])
        case "MultiLineString":
            guard let parts = coordinates.arrayValue, !parts.isEmpty else { throw bad("a MultiLineString") }
            var lines: [[GeoPoint]] = []
            for part in parts {
                guard let line = positions(part, minimum: 2) else { throw bad("a MultiLineString") }
                lines.append(line)
            }
            return .lines(lines)
        case "Polygon":
            guard let polygon = polygon(coordinates) else { throw bad("a Polygon (closed rings)") }
            return .polygons([polygon])
        case "MultiPolygon":
            guard let parts = coordinates.arrayValue, !parts.isEmpty else { throw bad("a MultiPolygon") }
            var polygons: [GeoPolygon] = []
            for part in parts {
                guard let polygon = polygon(part) else { throw bad("a MultiPolygon (closed rings)") }
                polygons.append(polygon)
            }
            return .polygons(polygons)
        default:
            throw object.failure("type", "must be Point, LineString, MultiLineString, Polygon or MultiPolygon")
        }
    }

    private static func position(_ value: JSONValue) -> GeoPoint? {
        guard let pair = value.arrayValue, pair.count >= 2, let lon = pair[0].numberValue,
            let lat = pair[1].numberValue, (-180...180).contains(lon), (-90...90).contains(lat)
        else { return nil }
        return GeoPoint(lat: lat, lon: lon)
    }

    private static func positions(_ value: JSONValue, minimum: Int) -> [GeoPoint]? {
        guard let list = value.arrayValue, list.count >= minimum else { return nil }
        var points: [GeoPoint] = []
        for element in list {
            guard let point = position(element) else { return nil }
            points.append(point)
        }
        return points
    }

    private static func polygon(_ value: JSONValue) -> GeoPolygon? {
        guard let rings = value.arrayValue, !rings.isEmpty else { return nil }
        var result: [[GeoPoint]] = []
        for ring in rings {
            guard let points = positions(ring, minimum: 4), points.first == points.last else { return nil }
            result.append(points)
        }
        return GeoPolygon(rings: result)
    }
}
