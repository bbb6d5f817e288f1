import Foundation
import PeaceHubCore
import PeaceHubPlugins
import PeaceHubTesting
import Testing

/// The four mission modules, built as .so files and loaded once through the real host, with the
/// host clock fixed so that readiness and lifecycle checks are reproducible.
enum Missions {
    /// The hub's "now" for every test: 2026-11-27T00:00:00Z (UNIFIL still ACTIVE).
    static let now = Date(timeIntervalSince1970: 1_795_737_600)

    static let loaded: Result<PluginHost, any Error> = Result {
        let host = PluginHost(services: HostServices(now: { now }))
        let refusals = try loadModules(into: host)
        for module in MissionPluginsLayout.modules where host.module(forMission: module.mission) == nil {
            throw FixtureError("\(module.mission) did not load: \(refusals.map(\.description))")
        }
        return host
    }

    /// Loads the four modules into `host`. A temporary layout is removed once loaded: the
    /// modules have read their data and Linux keeps the mapped libraries.
    @discardableResult
    static func loadModules(into host: PluginHost) throws -> [PluginLoadError] {
        let folder = try MissionPluginsLayout.directory()
        defer {
            if folder.path != ProcessInfo.processInfo.environment["PEACEHUB_PLUGINS_DIR"] {
                try? FileManager.default.removeItem(at: folder)
            }
        }
        return host.loadDirectory(folder)
    }

    static func module(_ mission: String) throws -> ModuleInstance {
        try #require(try loaded.get().module(forMission: mission))
    }

    /// Judges `body` as a report of `type` published on the mission's report topic.
    static func judge(
        _ mission: String, _ type: String, _ body: JSONValue, precedence: Precedence? = .routine,
        securityLabel: String? = "UN RESTRICTED", receivedAt: Date = now
    ) throws -> Judgement {
        try judge(
            mission, type, payload: Array(body.jsonData), precedence: precedence, securityLabel: securityLabel,
            receivedAt: receivedAt)
    }

    static func judge(
        _ mission: String, _ type: String, payload: [UInt8], precedence: Precedence? = .routine,
        securityLabel: String? = "UN RESTRICTED", receivedAt: Date = now
    ) throws -> Judgement {
        try module(mission).judge(
            MessageToJudge(
                topic: "missions/\(mission)/reports/\(type)", payload: payload, senderContingent: "KAZ",
                securityLabel: securityLabel, precedence: precedence, receivedAt: receivedAt))
    }

    /// The codes of the unmet requirements for a readiness request.
    static func readiness(_ mission: String, _ request: JSONValue) throws -> [UnmetRequirement] {
        try module(mission).readiness(request.jsonData)
    }

    static func geocheck(_ mission: String, _ lat: Double, _ lon: Double) throws -> JSONValue {
        try module(mission).command("geocheck", arguments: ["lat": .number(lat), "lon": .number(lon)])
    }
}

extension JSONValue {
    /// A copy of an object with `key` set (or removed, for `nil`); `key` may be a dotted path.
    func setting(_ key: String, _ value: JSONValue?) -> JSONValue {
        guard var members = objectValue else { return self }
        let parts = key.split(separator: ".", maxSplits: 1).map(String.init)
        if parts.count == 2 {
            members[parts[0]] = (members[parts[0]] ?? [:]).setting(parts[1], value)
        } else {
            members[key] = value
        }
        return .object(members)
    }
}
