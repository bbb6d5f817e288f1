import MissionSupport
import PeaceHubPluginKit

/// The MINURSO mission module. Its rules, report schemas and geography are the files in its data
/// directory (`Plugins/MINURSO/data/`, installed as `org.peacehub.minurso.data/`); see docs/missions/minurso.md.
public final class MINURSOModule: EngineBackedModule {
    public static let descriptor = ModuleDescriptor(
        id: "org.peacehub.minurso", mission: "MINURSO", version: "1.0.0",
        displayName: "MINURSO (United Nations Mission for the Referendum in Western Sahara)")

    public let engine: MissionEngine

    public init(context: ModuleContext) throws {
        engine = try MissionEngine(context: context, mission: Self.descriptor.mission)
    }
}

@_cdecl("phub_plugin_entry_v1")
public func peacehubEntry(_ hostMajor: UInt32, _ hostMinor: UInt32) -> UnsafeRawPointer? {
    PluginExport.entry(MINURSOModule.self, hostMajor: hostMajor, hostMinor: hostMinor)
}
