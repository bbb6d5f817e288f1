import MissionSupport
import PeaceHubPluginKit

/// The UNIFIL mission module. Its rules, report schemas and geography are the files in its data
/// directory (`Plugins/UNIFIL/data/`, installed as `org.peacehub.unifil.data/`); see docs/missions/unifil.md.
public final class UNIFILModule: EngineBackedModule {
    public static let descriptor = ModuleDescriptor(
        id: "org.peacehub.unifil", mission: "UNIFIL", version: "1.0.0",
        displayName: "UNIFIL (United Nations Interim Force in Lebanon)")

    public let engine: MissionEngine

    public init(context: ModuleContext) throws {
        engine = try MissionEngine(context: context, mission: Self.descriptor.mission)
    }
}

@_cdecl("phub_plugin_entry_v1")
public func peacehubEntry(_ hostMajor: UInt32, _ hostMinor: UInt32) -> UnsafeRawPointer? {
    PluginExport.entry(UNIFILModule.self, hostMajor: hostMajor, hostMinor: hostMinor)
}
