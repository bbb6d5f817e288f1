import CPeaceHubABI
import Foundation
import PeaceHubCore
import Synchronization

/// Builds the C table for a ``MissionModule`` and answers the entry function.
public enum PluginExport {
    /// The body of a module's `phub_plugin_entry_v1`: the module's table, or `nil` when the
    /// host speaks another ABI major.
    public static func entry<M: MissionModule>(_ type: M.Type, hostMajor: UInt32, hostMinor: UInt32)
        -> UnsafeRawPointer?
    {
        guard phub_abi_is_compatible(hostMajor, hostMinor) == 1 else { return nil }
        return UnsafeRawPointer(table(for: type))
    }

    /// One table per module type, built on first use and kept until process exit.
    private static let tables = Mutex<[ObjectIdentifier: UnsafeMutablePointer<phub_plugin_t>]>([:])

    private static func table<M: MissionModule>(for type: M.Type) -> UnsafeMutablePointer<phub_plugin_t> {
        tables.withLock { tables in
            if let table = tables[ObjectIdentifier(type)] { return table }
            let table = makeTable(type)
            tables[ObjectIdentifier(type)] = table
            return table
        }
    }

    private static func makeTable<M: MissionModule>(_ type: M.Type) -> UnsafeMutablePointer<phub_plugin_t> {
        let descriptor = M.descriptor
        let factory = Unmanaged.passRetained(ModuleFactory(type: type)).toOpaque()
        let table = UnsafeMutablePointer<phub_plugin_t>.allocate(capacity: 1)
        table.initialize(
            to: phub_plugin_t(
                struct_size: UInt32(MemoryLayout<phub_plugin_t>.size),
                abi_major: PHUB_ABI_MAJOR, abi_minor: PHUB_ABI_MINOR, reserved: 0,
                id: strdup(descriptor.id), mission: strdup(descriptor.mission),
                version: strdup(descriptor.version), display_name: strdup(descriptor.displayName),
                plugin_data: factory,
                create: createThunk, destroy: destroyThunk, judge_message: judgeThunk,
                evaluate_readiness: readinessThunk, run_command: commandThunk, get_extension: extensionThunk))
        return table
    }
}

/// What `plugin_data` points at: the module type behind a table.
private final class ModuleFactory: Sendable {
    let type: any MissionModule.Type
    init(type: any MissionModule.Type) { self.type = type }
}

/// What an instance pointer points at.
private final class InstanceBox: Sendable {
    let module: any MissionModule
    init(module: any MissionModule) { self.module = module }
}

/// Runs `body` on the instance behind `pointer` without retain/release traffic.
@inline(__always)
private func withInstance<R>(_ pointer: UnsafeMutableRawPointer, _ body: (any MissionModule) throws -> R) rethrows -> R {
    try Unmanaged<InstanceBox>.fromOpaque(pointer)._withUnsafeGuaranteedRef { try body($0.module) }
}

private func status(for error: any Error) -> (phub_status_t, String) {
    switch error {
    case ModuleError.invalidArgument(let message): (PHUB_ERR_INVALID_ARGUMENT, message)
    case ModuleError.unsupported(let message): (PHUB_ERR_UNSUPPORTED, message)
    case ModuleError.failed(let message): (PHUB_ERR_INTERNAL, message)
    default: (PHUB_ERR_INTERNAL, String(describing: error))
    }
}

/// Writes `bytes` into a host buffer by the ABI's rules.
private func write(_ bytes: Data, into buffer: UnsafeMutablePointer<phub_buffer_t>) -> phub_status_t {
    bytes.withUnsafeBytes { phub_buffer_write(buffer, $0.baseAddress, UInt64($0.count)) }
}

/// Writes `{"error": message}` into `buffer` and returns `status`.
private func fail(_ status: phub_status_t, _ message: String, into buffer: UnsafeMutablePointer<phub_buffer_t>)
    -> phub_status_t
{
    _ = write(JSONValue.object(["error": .string(message)]).jsonData, into: buffer)
    return status
}

private func optionalString(_ pointer: UnsafePointer<CChar>?) -> String? {
    pointer.map { String(cString: $0) }
}

private let createThunk:
    @convention(c) (
        UnsafePointer<phub_plugin_t>?, UnsafePointer<phub_host_t>?, UnsafePointer<phub_create_info_t>?,
        UnsafeMutablePointer<UnsafeMutableRawPointer?>?, UnsafeMutablePointer<phub_buffer_t>?
    ) -> phub_status_t = { plugin, host, info, outInstance, errorBuffer in
        guard let plugin, let host, let info, let outInstance, let factory = plugin.pointee.plugin_data else {
            return PHUB_ERR_INVALID_ARGUMENT
        }
        let type = Unmanaged<ModuleFactory>.fromOpaque(factory).takeUnretainedValue().type
        let context = ModuleContext(
            host: ModuleHost(table: host),
            dataDirectory: URL(fileURLWithPath: optionalString(info.pointee.data_dir) ?? "."),
            libraryPath: optionalString(info.pointee.library_path) ?? "")
        do {
            let module = try type.init(context: context)
            outInstance.pointee = Unmanaged.passRetained(InstanceBox(module: module)).toOpaque()
            return PHUB_OK
        } catch {
            let (code, message) = status(for: error)
            if let errorBuffer {
                // A create error is cut to the buffer at a character's end (`phub_buffer_write_cut`), never retried.
                let bytes = Array(message.utf8).map { CChar(bitPattern: $0) }
                bytes.withUnsafeBufferPointer { phub_buffer_write_cut(errorBuffer, $0.baseAddress, UInt64($0.count)) }
            }
            return code
        }
    }

private let destroyThunk: @convention(c) (UnsafePointer<phub_plugin_t>?, UnsafeMutableRawPointer?) -> Void = {
    _, instance in
    guard let instance else { return }
    Unmanaged<InstanceBox>.fromOpaque(instance).release()
}

private let judgeThunk:
    @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<phub_message_t>?, UnsafeMutablePointer<phub_verdict_t>?)
        -> phub_status_t = { instance, message, verdict in
        guard let instance, let message, let verdict, let topic = message.pointee.topic,
            let reason = verdict.pointee.reason, let annotations = verdict.pointee.annotations
        else { return PHUB_ERR_INVALID_ARGUMENT }
        let m = message.pointee
        let input = Message(
            topic: String(cString: topic), reportType: optionalString(m.report_type),
            payload: UnsafeRawBufferPointer(start: m.payload, count: Int(clamping: m.payload_size)),
            senderContingent: optionalString(m.sender_contingent), senderOperator: optionalString(m.sender_operator),
            securityLabel: optionalString(m.security_label), precedence: Precedence(rawValue: m.precedence),
            qos: Int(m.qos), receivedUnixNanoseconds: m.received_unix_ns)
        let result = withInstance(instance) { $0.judge(input) }
        switch result {
        case .accept(let members, let warning):
            verdict.pointee.decision = PHUB_DECISION_ACCEPT
            verdict.pointee.reason_code = 0
            let first = write(members.isEmpty ? Data() : JSONValue.object(members).jsonData, into: annotations)
            let second = write(Data((warning ?? "").utf8), into: reason)
            return first == PHUB_OK ? second : first
        case .reject(let code, let message):
            verdict.pointee.decision = PHUB_DECISION_REJECT
            verdict.pointee.reason_code = code.rawValue
            annotations.pointee.length = 0
            return write(Data(message.utf8), into: reason)
        }
    }

private let readinessThunk:
    @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<UInt8>?, UInt64, UnsafeMutablePointer<phub_buffer_t>?)
        -> phub_status_t = { instance, request, size, out in
        guard let instance, let out else { return PHUB_ERR_INVALID_ARGUMENT }
        let document: JSONValue
        do {
            document = try JSONValue(parsing: UnsafeRawBufferPointer(start: request, count: Int(clamping: size)))
        } catch {
            return fail(PHUB_ERR_INVALID_ARGUMENT, "the readiness request is not valid JSON", into: out)
        }
        do {
            let unmet = try withInstance(instance) { try $0.readiness(document) }
            let items = unmet.map { item in
                var members: [String: JSONValue] = ["code": .string(item.code), "message": .string(item.message)]
                if let serviceNumber = item.serviceNumber { members["serviceNumber"] = .string(serviceNumber) }
                return JSONValue.object(members)
            }
            return write(JSONValue.array(items).jsonData, into: out)
        } catch {
            let (code, message) = status(for: error)
            return fail(code, message, into: out)
        }
    }

private let commandThunk:
    @convention(c) (
        UnsafeMutableRawPointer?, UnsafePointer<CChar>?, UnsafePointer<UInt8>?, UInt64,
        UnsafeMutablePointer<phub_buffer_t>?
    ) -> phub_status_t = { instance, name, arguments, size, out in
        guard let instance, let name, let out else { return PHUB_ERR_INVALID_ARGUMENT }
        let document: JSONValue
        if size == 0 {
            document = [:]
        } else {
            do {
                document = try JSONValue(parsing: UnsafeRawBufferPointer(start: arguments, count: Int(clamping: size)))
            } catch {
                return fail(PHUB_ERR_INVALID_ARGUMENT, "the command arguments are not valid JSON", into: out)
            }
        }
        do {
            let result = try withInstance(instance) { try $0.run(command: String(cString: name), arguments: document) }
            return write(result.jsonData, into: out)
        } catch {
            let (code, message) = status(for: error)
            return fail(code, message, into: out)
        }
    }

private let extensionThunk: @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<CChar>?) -> UnsafeRawPointer? = {
    instance, id in
    guard let instance, let id else { return nil }
    return withInstance(instance) { $0.extensionTable(id: String(cString: id)) }
}

extension MissionModule {
    public func extensionTable(id: String) -> UnsafeRawPointer? { nil }
}
