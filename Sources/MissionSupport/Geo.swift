import Foundation

/// A WGS84 position in decimal degrees.
public struct GeoPoint: Sendable, Hashable {
    public var lat: Double
    public var lon: Double

    public init(lat: Double, lon: Double) {
        self.lat = lat
        self.lon = lon
    }
}

/// Which side of a directed line a point lies on, looking along the line's drawing direction.
public enum LineSide: String, Sendable {
    case left
    case right
}

/// Spherical geometry in kilometres: enough for geofences on approximate data, not for surveying.
public enum Geo {
    /// The mean Earth radius (IUGG), in km.
    public static let earthRadiusKm = 6371.0088

    /// The great-circle (haversine) distance between two points, in km.
    public static func distanceKm(_ a: GeoPoint, _ b: GeoPoint) -> Double {
        let lat1 = a.lat * .pi / 180
        let lat2 = b.lat * .pi / 180
        let dLat = lat2 - lat1
        let dLon = (b.lon - a.lon) * .pi / 180
        let h = sin(dLat / 2) * sin(dLat / 2) + cos(lat1) * cos(lat2) * sin(dLon / 2) * sin(dLon / 2)
        return 2 * earthRadiusKm * asin(min(1, sqrt(h)))
    }

    /// True when `point` lies inside `polygon`: inside its outer ring and outside its holes. The boundary belongs
    /// to the polygon (a hole's too), so a point exactly on an edge or a vertex is inside wherever it falls: ray
    /// casting alone put some vertices and edges inside and others outside. Rings are treated as planar in degrees,
    /// which is exact enough for mission-sized areas.
    public static func contains(_ polygon: GeoPolygon, _ point: GeoPoint) -> Bool {
        guard let outer = polygon.rings.first, ringContains(outer, point) || onBoundary(of: outer, point) else {
            return false
        }
        return !polygon.rings.dropFirst().contains { ringContains($0, point) && !onBoundary(of: $0, point) }
    }

    /// True when `point` lies on an edge of `ring`, within 1e-9 degrees (about 0.1 mm).
    static func onBoundary(of ring: [GeoPoint], _ point: GeoPoint) -> Bool {
        let tolerance = 1e-9
        var j = ring.count - 1
        for i in ring.indices {
            let a = ring[j]
            let b = ring[i]
            j = i
            guard point.lat >= min(a.lat, b.lat) - tolerance, point.lat <= max(a.lat, b.lat) + tolerance,
                point.lon >= min(a.lon, b.lon) - tolerance, point.lon <= max(a.lon, b.lon) + tolerance
            else { continue }
            // The distance from the edge's line is the cross product over the edge's length.
            let cross = (b.lon - a.lon) * (point.lat - a.lat) - (b.lat - a.lat) * (point.lon - a.lon)
            if abs(cross) <= tolerance * max(hypot(b.lon - a.lon, b.lat - a.lat), tolerance) { return true }
        }
        return false
    }

    /// Even-odd ray casting along the parallel through `point`.
    static func ringContains(_ ring: [GeoPoint], _ point: GeoPoint) -> Bool {
        var inside = false
        var j = ring.count - 1
        for i in ring.indices {
            let a = ring[i]
            let b = ring[j]
            if (a.lat > point.lat) != (b.lat > point.lat) {
                let crossingLon = a.lon + (point.lat - a.lat) / (b.lat - a.lat) * (b.lon - a.lon)
                if point.lon < crossingLon { inside.toggle() }
            }
            j = i
        }
        return inside
    }

    /// The distance from `point` to a polyline and the side of the line it lies on.
    ///
    /// The closest point is found in a local equirectangular projection centred on `point`;
    /// the distance reported is the great-circle distance to that closest point.
    public static func relation(of point: GeoPoint, to line: [GeoPoint]) -> LineRelation? {
        guard let first = line.first else { return nil }
        guard line.count > 1 else {
            return LineRelation(distanceKm: distanceKm(point, first), side: nil)
        }
        let projected = line.map { project($0, around: point) }
        var best: (distanceSquared: Double, segment: Int, t: Double) = (.infinity, 0, 0)
        for index in 0..<(projected.count - 1) {
            let (t, d2) = closest(from: (0, 0), toSegment: projected[index], projected[index + 1])
            if d2 < best.distanceSquared { best = (d2, index, t) }
        }
        let a = line[best.segment]
        let b = line[best.segment + 1]
        let nearest = GeoPoint(lat: a.lat + (b.lat - a.lat) * best.t, lon: a.lon + (b.lon - a.lon) * best.t)
        // Within a millimetre the point is on the line: no side.
        let side = best.distanceSquared < 1e-12 ? nil : sideOf(projected, segment: best.segment, t: best.t)
        return LineRelation(distanceKm: distanceKm(point, nearest), side: side)
    }

    /// Kilometres east and north of `origin`.
    static func project(_ p: GeoPoint, around origin: GeoPoint) -> (x: Double, y: Double) {
        let kmPerDegree = earthRadiusKm * .pi / 180
        return ((p.lon - origin.lon) * kmPerDegree * cos(origin.lat * .pi / 180), (p.lat - origin.lat) * kmPerDegree)
    }

    /// The parameter of the point of segment `a`–`b` closest to `p`, and the squared distance.
    static func closest(
        from p: (x: Double, y: Double), toSegment a: (x: Double, y: Double), _ b: (x: Double, y: Double)
    ) -> (t: Double, distanceSquared: Double) {
        let dx = b.x - a.x
        let dy = b.y - a.y
        let length2 = dx * dx + dy * dy
        let t = length2 == 0 ? 0 : max(0, min(1, ((p.x - a.x) * dx + (p.y - a.y) * dy) / length2))
        let cx = a.x + t * dx - p.x
        let cy = a.y + t * dy - p.y
        return (t, cx * cx + cy * cy)
    }

    /// The side of the origin (the query point) relative to the projected polyline, given its
    /// closest segment. At an interior vertex the two adjoining segments decide together: inside
    /// a left turn a point is left only when left of both, inside a right turn right only when
    /// right of both.
    static func sideOf(_ line: [(x: Double, y: Double)], segment: Int, t: Double) -> LineSide? {
        func cross(_ a: (x: Double, y: Double), _ b: (x: Double, y: Double)) -> Double {
            // Sign of the origin relative to a→b: positive means left.
            (b.x - a.x) * (0 - a.y) - (b.y - a.y) * (0 - a.x)
        }
        func side(_ value: Double) -> LineSide? { value > 0 ? .left : value < 0 ? .right : nil }
        let vertex: Int? =
            t >= 1 && segment + 2 < line.count ? segment + 1 : t <= 0 && segment > 0 ? segment : nil
        guard let vertex else { return side(cross(line[segment], line[segment + 1])) }
        let before = cross(line[vertex - 1], line[vertex])
        let after = cross(line[vertex], line[vertex + 1])
        let turn =
            (line[vertex].x - line[vertex - 1].x) * (line[vertex + 1].y - line[vertex].y)
            - (line[vertex].y - line[vertex - 1].y) * (line[vertex + 1].x - line[vertex].x)
        if turn > 0 { return before > 0 && after > 0 ? .left : .right }
        if turn < 0 { return before < 0 && after < 0 ? .right : .left }
        return side(before)
    }
}

/// A polygon: an outer ring followed by holes, each ring a closed list of points.
public struct GeoPolygon: Sendable {
    public var rings: [[GeoPoint]]

    public init(rings: [[GeoPoint]]) {
        self.rings = rings
    }
}

/// Where a point lies relative to a reference line.
public struct LineRelation: Sendable, Equatable {
    /// Great-circle distance to the closest point of the line, in km.
    public var distanceKm: Double
    /// `nil` when the point lies on the line (or the line is a single point).
    public var side: LineSide?
}
