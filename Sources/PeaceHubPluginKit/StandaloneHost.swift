import CPeaceHubABI
import Foundation
import PeaceHubCore

extension ModuleContext {
    /// A context backed by a small in-process host, for unit tests of a module's Swift type:
    /// logs go to standard error, the clock is `now`, publishing and the registry are
    /// unavailable, and the configuration is `configuration`.
    ///
    /// The host table lives until the process exits. Tests of the real binary boundary should
    /// load the built library through the PeaceHub host (`peacehub plugins check`).
    public static func standalone(
        dataDirectory: URL, configuration: JSONValue = [:], now: Date? = nil
    ) -> ModuleContext {
        let state = Unmanaged.passRetained(StandaloneState(configuration: configuration.jsonData, now: now)).toOpaque()
        let table = UnsafeMutablePointer<phub_host_t>.allocate(capacity: 1)
        table.initialize(
            to: phub_host_t(
                struct_size: UInt32(MemoryLayout<phub_host_t>.size), abi_major: PHUB_ABI_MAJOR,
                abi_minor: PHUB_ABI_MINOR, reserved: 0, host_data: state, name: standaloneName,
                version: standaloneName,
                log: { _, level, message in
                    FileHandle.standardError.write(Data("[module log \(level)] \(String(cString: message!))\n".utf8))
                },
                alloc: { _, size in malloc(Int(max(size, 1))) },
                free: { _, block in free(block) },
                clock_unix_ns: { host in
                    let state = Unmanaged<StandaloneState>.fromOpaque(host!.pointee.host_data!).takeUnretainedValue()
                    return Int64(((state.now ?? Date()).timeIntervalSince1970 * 1e9).rounded())
                },
                clock_monotonic_ns: { _ in Int64(DispatchTime.now().uptimeNanoseconds) },
                publish: { _, _, _, _, _ in PHUB_ERR_UNAVAILABLE },
                registry_get: { _, _, _, _ in PHUB_ERR_UNAVAILABLE },
                get_config: { host, out in
                    let state = Unmanaged<StandaloneState>.fromOpaque(host!.pointee.host_data!).takeUnretainedValue()
                    return state.configuration.withUnsafeBytes { phub_buffer_write(out, $0.baseAddress, UInt64($0.count)) }
                },
                get_extension: { _, _ in nil }))
        return ModuleContext(host: ModuleHost(table: table), dataDirectory: dataDirectory, libraryPath: "")
    }
}

private final class StandaloneState: Sendable {
    let configuration: Data
    let now: Date?
    init(configuration: Data, now: Date?) {
        self.configuration = configuration
        self.now = now
    }
}

nonisolated(unsafe) private let standaloneName = UnsafePointer(strdup("standalone")!)
