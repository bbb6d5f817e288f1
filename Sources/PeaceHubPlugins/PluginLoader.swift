import CPeaceHubABI
import Foundation

/// A module library that passed every check up to, but not including, `create`.
public struct OpenedModule: @unchecked Sendable {
    public let manifest: PluginManifest
    public let manifestPath: String
    public let libraryPath: String
    /// The module's data folder (the manifest's `data`, else the manifest's folder).
    public let dataDirectory: String
    let table: UnsafePointer<phub_plugin_t>

    /// The module's own description from its table.
    public var id: String { moduleString(table.pointee.id) ?? "" }
    public var mission: String { moduleString(table.pointee.mission) ?? "" }
    public var version: String { moduleString(table.pointee.version) ?? "" }
    public var displayName: String { moduleString(table.pointee.display_name) ?? "" }
    /// The ABI the module's table declares, `major.minor`.
    public var tableABI: String { "\(table.pointee.abi_major).\(table.pointee.abi_minor)" }
    public var tableSize: UInt32 { table.pointee.struct_size }

    /// Which table functions the module provides, in table order.
    public var functions: [(name: String, present: Bool)] {
        let t = table.pointee
        return [
            ("create", t.create != nil), ("destroy", t.destroy != nil), ("judge_message", t.judge_message != nil),
            ("evaluate_readiness", t.evaluate_readiness != nil), ("run_command", t.run_command != nil),
            ("get_extension", t.get_extension != nil),
        ]
    }
}

/// Opens mission modules: manifest first, then `dlopen`, then the table. Never unloads.
public enum PluginLoader {
    /// The checks that run no module code: the manifest, the ABI major, the library's presence and checksum
    /// (`open` makes them first; `plugins list` shows their verdict). Returns the manifest and the library's path.
    public static func checkBeforeOpening(
        manifest url: URL
    ) throws(PluginLoadError) -> (manifest: PluginManifest, libraryPath: String) {
        let manifest = try PluginManifest.read(from: url)
        let abi = "\(manifest.abiMajor).\(manifest.abiMinor)"
        func refuse(_ code: PluginLoadError.Code, _ reason: String) -> PluginLoadError {
            PluginLoadError(code, file: url.standardizedFileURL.path, moduleABI: abi, reason: reason)
        }
        guard manifest.abiMajor == HostABI.major else {
            throw refuse(.abiMismatch, "module built for ABI \(abi), host speaks ABI \(HostABI.major).x")
        }
        let folder = url.standardizedFileURL.deletingLastPathComponent()
        let libraryPath = folder.appendingPathComponent(manifest.library).path
        guard FileManager.default.fileExists(atPath: libraryPath) else {
            throw refuse(.openFailed, "library \(libraryPath) does not exist")
        }
        guard let digest = FileDigest.sha256Hex(ofFileAt: libraryPath) else {
            throw refuse(.checksumMismatch, "cannot read library \(libraryPath) to check its SHA-256")
        }
        guard digest == manifest.sha256 else {
            throw refuse(
                .checksumMismatch, "library \(libraryPath) has SHA-256 \(digest), manifest says \(manifest.sha256)")
        }
        return (manifest, libraryPath)
    }

    /// Reads the manifest and opens its library, refusing at the first failed check: manifest,
    /// ABI major, checksum, `dlopen`, entry symbol, entry result, table. `libraryOpened` runs once `dlopen` has
    /// returned (the library's initializers are done; the entry point is next).
    public static func open(
        manifest url: URL, libraryOpened: () -> Void = {}
    ) throws(PluginLoadError) -> OpenedModule {
        let (manifest, libraryPath) = try checkBeforeOpening(manifest: url)
        let manifestPath = url.standardizedFileURL.path
        let abi = "\(manifest.abiMajor).\(manifest.abiMinor)"
        func refuse(_ code: PluginLoadError.Code, _ reason: String) -> PluginLoadError {
            PluginLoadError(code, file: manifestPath, moduleABI: abi, reason: reason)
        }
        let folder = url.standardizedFileURL.deletingLastPathComponent()
        // RTLD_NODELETE: a Swift library must never be unmapped (the runtime keeps pointers into it).
        guard let handle = dlopen(libraryPath, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE) else {
            throw refuse(.openFailed, String(cString: dlerror()))
        }
        libraryOpened()
        guard let symbol = dlsym(handle, PHUB_PLUGIN_ENTRY_SYMBOL) else {
            throw refuse(.noEntrySymbol, "\(libraryPath) does not export \(PHUB_PLUGIN_ENTRY_SYMBOL)")
        }
        let entry = unsafeBitCast(symbol, to: phub_plugin_entry_fn.self)
        guard let table = entry(HostABI.major, HostABI.minor) else {
            throw refuse(.entryReturnedNull, "\(PHUB_PLUGIN_ENTRY_SYMBOL)(\(HostABI.versionString)) returned NULL: the module cannot serve this host")
        }
        try check(table, manifest: manifest, refuse: refuse)
        let dataDirectory = manifest.data.map { folder.appendingPathComponent($0).path } ?? folder.path
        return OpenedModule(
            manifest: manifest, manifestPath: manifestPath, libraryPath: libraryPath, dataDirectory: dataDirectory,
            table: table)
    }

    /// Checks what the host will rely on: size, ABI, strings matching the manifest, required functions.
    private static func check(
        _ table: UnsafePointer<phub_plugin_t>, manifest: PluginManifest,
        refuse: (PluginLoadError.Code, String) -> PluginLoadError
    ) throws(PluginLoadError) {
        let t = table.pointee
        guard t.abi_major == HostABI.major else {
            throw refuse(.abiMismatch, "the module's table declares ABI \(t.abi_major).\(t.abi_minor), host speaks ABI \(HostABI.major).x")
        }
        // The manifest names the headers the library was built with; a table that says otherwise is a packaging
        // mistake, and the host would rely on fields by the wrong version.
        guard t.abi_minor == manifest.abiMinor else {
            let declared = "\(t.abi_major).\(t.abi_minor)", named = "\(manifest.abiMajor).\(manifest.abiMinor)"
            throw refuse(.tableInvalid, "the table declares ABI \(declared), the manifest \(named)")
        }
        let minimum = UInt32(MemoryLayout<phub_plugin_t>.size)
        guard t.struct_size >= minimum else {
            throw refuse(.tableInvalid, "table too small (\(t.struct_size) < \(minimum) bytes)")
        }
        let strings: [(String, UnsafePointer<CChar>?)] = [
            ("id", t.id), ("mission", t.mission), ("version", t.version), ("display_name", t.display_name),
        ]
        for (name, pointer) in strings where moduleString(pointer).map({ $0.isEmpty }) ?? true {
            throw refuse(.tableInvalid, "table field '\(name)' is NULL, empty or not UTF-8")
        }
        guard moduleString(t.id) == manifest.id, moduleString(t.mission) == manifest.mission else {
            throw refuse(
                .tableInvalid,
                "the table says id '\(moduleString(t.id) ?? "")' mission '\(moduleString(t.mission) ?? "")', the manifest '\(manifest.id)' '\(manifest.mission)'")
        }
        let required: [(String, Bool)] = [
            ("create", t.create != nil), ("destroy", t.destroy != nil), ("judge_message", t.judge_message != nil),
            ("evaluate_readiness", t.evaluate_readiness != nil), ("run_command", t.run_command != nil),
        ]
        if let missing = required.first(where: { !$0.1 }) {
            throw refuse(.tableInvalid, "required function '\(missing.0)' is NULL")
        }
    }
}
