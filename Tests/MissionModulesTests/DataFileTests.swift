import Foundation
import PeaceHubCore
import PeaceHubPlugins
import PeaceHubTesting
import Testing

/// A missing or corrupt data file refuses only its own module, with a message naming the file.
@Suite struct DataFileTests {
    @Test func corruptAndMissingFilesRefuseOnlyTheirModules() throws {
        let folder = try MissionPluginsLayout.freshCopy()
        defer { try? FileManager.default.removeItem(at: folder) }
        try Data("{\"type\": \"FeatureCollection\", ".utf8)
            .write(to: folder.appendingPathComponent("org.peacehub.unifil.data/blue-line.geojson"))
        try FileManager.default.removeItem(
            at: folder.appendingPathComponent("org.peacehub.minurso.data/requirements.json"))

        let host = PluginHost()
        let refusals = host.loadDirectory(folder)
        #expect(refusals.count == 2)
        #expect(refusals.allSatisfy { $0.code == .createFailed })
        let reasons = refusals.map(\.reason).sorted()
        #expect(
            reasons[0].hasSuffix(
                "MINURSO module: data file 'requirements.json': is missing from \(folder.path)/org.peacehub.minurso.data"
            ))
        #expect(reasons[1].hasSuffix("UNIFIL module: data file 'blue-line.geojson': is not valid JSON"))
        #expect(host.module(forMission: "UNIFIL") == nil)
        #expect(host.module(forMission: "MINURSO") == nil)
        #expect(host.module(forMission: "UNFICYP") != nil)
        #expect(
            try host.module(forMission: "UNMOGIP")?.command("geocheck", arguments: ["lat": 33.52, "lon": 73.9])[
                "insideArea"] == true)
    }

    /// A Swift module's create error longer than the host's 1 KiB buffer is cut at a character's end by the kit
    /// (`phub_buffer_write_cut`): here a missing file under a data folder whose path is 1.6 KB of `ü`.
    @Test func aLongCreateErrorIsCutAtACharactersEnd() throws {
        let folder = try MissionPluginsLayout.freshCopy()
        defer { try? FileManager.default.removeItem(at: folder) }
        let deep = (1...8).map { _ in String(repeating: "ü", count: 100) }.joined(separator: "/")
        let data = folder.appendingPathComponent(deep)
        try FileManager.default.createDirectory(at: data.deletingLastPathComponent(), withIntermediateDirectories: true)
        try FileManager.default.moveItem(at: folder.appendingPathComponent("org.peacehub.minurso.data"), to: data)
        try FileManager.default.removeItem(at: data.appendingPathComponent("requirements.json"))
        let manifest = folder.appendingPathComponent("org.peacehub.minurso.plugin.json")
        var members = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: manifest)) as? [String: Any])
        members["data"] = deep
        try JSONSerialization.data(withJSONObject: members).write(to: manifest)

        let error = try #require(#expect(throws: PluginLoadError.self) { try PluginHost().load(manifest: manifest) })
        #expect(error.code == .createFailed)
        // The reason is `status N: ` and the module's text.
        let message = String(error.reason.drop { $0 != ":" }.dropFirst(2))
        #expect(message.hasPrefix("MINURSO module: data file 'requirements.json': is missing from"), "\(message)")
        #expect(message.hasSuffix("ü"), "cut after a whole character: \(message.suffix(20))")
        #expect(!message.contains("\u{FFFD}"))
        #expect((1023...1024).contains(message.utf8.count), "as much as fits: \(message.utf8.count) bytes")
    }

    /// A well-formed file that breaks the schema names the member at fault.
    @Test(arguments: [
        (
            "org.peacehub.unficyp.data/reports.json", "UNFICYP",
            #"{"source": "x", "version": "1", "validFrom": "2026-11-27", "commonFields": [{"name": "location", "type": "location", "required": true}, {"name": "occurredAt", "type": "datetime", "required": true}], "types": {"A": {"title": "a", "fields": [{"name": "when", "type": "date"}]}}}"#,
            "UNFICYP module: data file 'reports.json': member 'types.A.fields[0].type' 'date' is not a field type"
        ),
        (
            "org.peacehub.unficyp.data/reports.json", "UNFICYP",
            #"{"source": "x", "version": "1", "validFrom": "2026-11-27", "commonFields": [{"name": "location", "type": "location", "required": true}, {"name": "occurredAt", "type": "string"}], "types": {}}"#,
            "UNFICYP module: data file 'reports.json': member 'commonFields' must define 'location' (type location) "
                + "and 'occurredAt' (type datetime), both required"
        ),
        (
            "org.peacehub.unficyp.data/reports.json", "UNFICYP",
            #"{"source": "x", "version": "1", "validFrom": "2026-11-27", "commonFields": [{"name": "location", "type": "location", "required": true}, {"name": "occurredAt", "type": "datetime", "required": true, "notAfter": "narrative"}, {"name": "narrative", "type": "string"}], "types": {"A": {"title": "a", "fields": []}}}"#,
            "UNFICYP module: data file 'reports.json': member 'types.A.fields' field 'occurredAt' is not after "
                + "'narrative': both must be datetime fields"
        ),
        (
            "org.peacehub.unmogip.data/requirements.json", "UNMOGIP",
            #"{"source": "x", "version": "1", "validFrom": "2026-13-01", "categories": {}}"#,
            "UNMOGIP module: data file 'requirements.json': member 'validFrom' must be a date such as 2026-12-31"
        ),
        (
            "org.peacehub.minurso.data/territory.geojson", "MINURSO",
            #"{"type": "FeatureCollection", "source": "x", "version": "1", "validFrom": "2026-11-27", "approximate": true, "note": "n", "features": [{"type": "Feature", "properties": {"name": "T", "kind": "AREA"}, "geometry": {"type": "Polygon", "coordinates": [[[-13, 27], [-9, 27], [-9, 21]]]}}]}"#,
            "MINURSO module: data file 'territory.geojson': member 'features[0].geometry.coordinates' must be a Polygon (closed rings) of [lon, lat] positions in range"
        ),
        (
            "org.peacehub.unifil.data/mission.json", "UNIFIL",
            #"{"source": "x", "version": "1", "validFrom": "2026-11-27", "code": "UNDOF"}"#,
            "UNIFIL module: data file 'mission.json': member 'name' must be a non-empty string"
        ),
    ])
    func schemaErrorsNameTheMember(file: String, mission: String, content: String, message: String) throws {
        let folder = try MissionPluginsLayout.freshCopy()
        defer { try? FileManager.default.removeItem(at: folder) }
        try Data(content.utf8).write(to: folder.appendingPathComponent(file))
        let host = PluginHost()
        let refusals = host.loadDirectory(folder)
        #expect(refusals.count == 1)
        #expect(refusals.first?.reason.contains(message) == true, "\(refusals)")
        #expect(host.module(forMission: mission) == nil)
        #expect(host.modules.count == 3)
    }

    /// Phases change at midnight where the mission is: a zone the system does not know is refused at load.
    @Test func anUnknownTimeZoneIsRefused() throws {
        let folder = try MissionPluginsLayout.freshCopy()
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("org.peacehub.unifil.data/mission.json")
        let text = try String(contentsOf: file, encoding: .utf8)
        try text.replacingOccurrences(of: "Asia/Beirut", with: "Asia/Atlantis").write(
            to: file, atomically: true, encoding: .utf8)
        let host = PluginHost()
        let refusals = host.loadDirectory(folder)
        #expect(refusals.first?.reason.contains("member 'timezone' must be an IANA time zone") == true, "\(refusals)")
        #expect(host.module(forMission: "UNIFIL") == nil)
    }

    @Test func corridorWidthComesFromTheHostConfiguration() throws {
        let host = PluginHost(
            services: HostServices(configuration: { id in
                id == "org.peacehub.unmogip" ? ["corridorKm": 45] : [:]
            }))
        try Missions.loadModules(into: host)
        let unmogip = try #require(host.module(forMission: "UNMOGIP"))
        // Muzaffarabad lies about 42 km from the approximate LoC: outside 20 km, inside 45 km.
        let result = try unmogip.command("geocheck", arguments: ["lat": 34.37, "lon": 73.47])
        #expect(result["corridorKm"] == 45)
        #expect(result["insideArea"] == true)
        #expect(try Missions.geocheck("UNMOGIP", 34.37, 73.47)["insideArea"] == false)
    }
}
