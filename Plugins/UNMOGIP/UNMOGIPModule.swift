import MissionSupport
import PeaceHubPluginKit

/// The UNMOGIP mission module. Its rules, report schemas and geography are the files in its data
/// directory (`Plugins/UNMOGIP/data/`, installed as `org.peacehub.unmogip.data/`); see docs/missions/unmogip.md.
public final class UNMOGIPModule: EngineBackedModule {
    public static let descriptor = ModuleDescriptor(
        id: "org.peacehub.unmogip", mission: "UNMOGIP", version: "1.0.0",
        displayName: "UNMOGIP (United Nations Military Observer Group in India and Pakistan)")

    public let engine: MissionEngine

    public init(context: ModuleContext) throws {
        engine = try MissionEngine(context: context, mission: Self.descriptor.mission)
    }
}

@_cdecl("phub_plugin_entry_v1")
public func peacehubEntry(_ hostMajor: UInt32, _ hostMinor: UInt32) -> UnsafeRawPointer? {
    PluginExport.entry(UNMOGIPModule.self, hostMajor: hostMajor, hostMinor: hostMinor)
}
