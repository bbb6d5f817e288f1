import MissionSupport
import PeaceHubPluginKit

/// The UNFICYP mission module. Its rules, report schemas and geography are the files in its data
/// directory (`Plugins/UNFICYP/data/`, installed as `org.peacehub.unficyp.data/`); see docs/missions/unficyp.md.
public final class UNFICYPModule: EngineBackedModule {
    public static let descriptor = ModuleDescriptor(
        id: "org.peacehub.unficyp", mission: "UNFICYP", version: "1.0.0",
        displayName: "UNFICYP (United Nations Peacekeeping Force in Cyprus)")

    public let engine: MissionEngine

    public init(context: ModuleContext) throws {
        engine = try MissionEngine(context: context, mission: Self.descriptor.mission)
    }
}

@_cdecl("phub_plugin_entry_v1")
public func peacehubEntry(_ hostMajor: UInt32, _ hostMinor: UInt32) -> UnsafeRawPointer? {
    PluginExport.entry(UNFICYPModule.self, hostMajor: hostMajor, hostMinor: hostMinor)
}
