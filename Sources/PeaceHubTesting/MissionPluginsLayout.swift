import Foundation

/// Lays out the four built mission modules (UNIFIL, UNFICYP, UNMOGIP, MINURSO) as `make plugins`
/// does: `lib<Product>.so`, `<id>.plugin.json` and the `<id>.data/` folder.
///
/// Uses `PEACEHUB_PLUGINS_DIR` when it holds them; otherwise copies the libraries from the build
/// folder (`PEACEHUB_BIN_DIR`, the running test binary's folder, `.build-missions/debug` or
/// `.build/debug`) and the data from `Plugins/<CODE>/data/`.
public enum MissionPluginsLayout {
    public struct Module: Sendable {
        public var mission: String
        public var id: String
        public var product: String
        public var libraryName: String { "lib\(product).so" }
        public var manifestName: String { "\(id).plugin.json" }
        public var dataName: String { "\(id).data" }
    }

    public static let modules: [Module] = ["UNIFIL", "UNFICYP", "UNMOGIP", "MINURSO"].map {
        Module(mission: $0, id: "org.peacehub.\($0.lowercased())", product: "PeaceHub\($0)")
    }

    /// A plugins folder holding all four modules, ready to load. When it is not
    /// `PEACEHUB_PLUGINS_DIR`, it is a fresh temporary folder the caller may change and remove.
    public static func directory() throws -> URL {
        if let path = ProcessInfo.processInfo.environment["PEACEHUB_PLUGINS_DIR"] {
            let url = URL(fileURLWithPath: path)
            if modules.allSatisfy({
                FileManager.default.fileExists(atPath: url.appendingPathComponent($0.manifestName).path)
            }) {
                return url
            }
        }
        return try freshCopy()
    }

    /// A new temporary plugins folder with its own copies of the libraries and data folders,
    /// safe to corrupt.
    public static func freshCopy() throws -> URL {
        let folder = try TemporaryDirectory(prefix: "peacehub-missions").url
        let manager = FileManager.default
        for module in modules {
            let (library, data) = try sources(of: module)
            let target = folder.appendingPathComponent(module.libraryName)
            try manager.copyItem(at: library, to: target)
            try manager.copyItem(at: data, to: folder.appendingPathComponent(module.dataName))
            try FixtureModules.writeManifest(
                library: target, id: module.id, mission: module.mission, data: module.dataName)
        }
        return folder
    }

    /// The built library and the data folder of `module`.
    static func sources(of module: Module) throws -> (library: URL, data: URL) {
        if let path = ProcessInfo.processInfo.environment["PEACEHUB_PLUGINS_DIR"] {
            let folder = URL(fileURLWithPath: path)
            let library = folder.appendingPathComponent(module.libraryName)
            let data = folder.appendingPathComponent(module.dataName)
            if FileManager.default.fileExists(atPath: library.path), FileManager.default.fileExists(atPath: data.path) {
                return (library, data)
            }
        }
        let data = TestEnvironment.packageRoot.appendingPathComponent("Plugins/\(module.mission)/data")
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        var candidates = [
            executable, TestEnvironment.packageRoot.appendingPathComponent(".build-missions/debug"),
            TestEnvironment.packageRoot.appendingPathComponent(".build/debug"),
        ]
        if let path = ProcessInfo.processInfo.environment["PEACEHUB_BIN_DIR"] {
            candidates.insert(URL(fileURLWithPath: path), at: 0)
        }
        for folder in candidates {
            let library = folder.appendingPathComponent(module.libraryName)
            if FileManager.default.fileExists(atPath: library.path) { return (library, data) }
        }
        throw FixtureError(
            "\(module.libraryName) is not built (looked in \(candidates.map(\.path).joined(separator: ", "))); "
                + "run swift build first")
    }
}
