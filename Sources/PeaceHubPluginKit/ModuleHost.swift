import CPeaceHubABI
import Foundation
import PeaceHubCore

/// The host's service table as seen from a Swift module.
///
/// The table is owned by the host and valid until the instance is destroyed, which is as long
/// as the module instance can hold this value.
public struct ModuleHost: @unchecked Sendable {
    /// Log levels of `phub_host_t.log`.
    public enum LogLevel: Int32, Sendable {
        case trace = 0, debug, info, warning, error
    }

    let table: UnsafePointer<phub_host_t>

    init(table: UnsafePointer<phub_host_t>) {
        self.table = table
    }

    /// Writes a log line attributed to the module.
    public func log(_ level: LogLevel, _ message: String) {
        table.pointee.log(table, level.rawValue, message)
    }

    /// The wall clock (a host under test may fix it).
    public func now() -> Date {
        Date(timeIntervalSince1970: Double(table.pointee.clock_unix_ns(table)) / 1e9)
    }

    /// A monotonic clock in nanoseconds.
    public func monotonicNanoseconds() -> Int64 {
        table.pointee.clock_monotonic_ns(table)
    }

    /// Publishes `payload` on `topic` (under the module's own mission) as the module.
    public func publish(topic: String, payload: [UInt8], precedence: Precedence = .routine) throws(ModuleError) {
        let status = payload.withUnsafeBufferPointer {
            table.pointee.publish(table, topic, $0.baseAddress, UInt64($0.count), precedence.rawValue)
        }
        guard status == PHUB_OK else { throw ModuleError.failed("publish on \(topic) failed with status \(status)") }
    }

    /// A registry record (`person`, `contingent` or `mission`) as JSON; `nil` when not found.
    public func registryRecord(kind: String, key: String) throws(ModuleError) -> JSONValue? {
        let (status, bytes) = Self.readBuffer { table.pointee.registry_get(table, kind, key, $0) }
        switch status {
        case PHUB_OK:
            guard let value = try? JSONValue(parsing: bytes) else {
                throw .failed("the registry returned invalid JSON for \(kind) \(key)")
            }
            return value
        case PHUB_ERR_NOT_FOUND:
            return nil
        default:
            throw .failed("registry lookup of \(kind) \(key) failed with status \(status)")
        }
    }

    /// The module's configuration object (`{}` when the hub has none for it).
    public func configuration() throws(ModuleError) -> JSONValue {
        let (status, bytes) = Self.readBuffer { table.pointee.get_config(table, $0) }
        guard status == PHUB_OK else { throw .failed("reading the configuration failed with status \(status)") }
        guard let value = try? JSONValue(parsing: bytes) else { throw .failed("the configuration is not valid JSON") }
        return value
    }

    /// Adds to a module counter through the host's `peacehub.metrics/1` extension, if offered.
    public func incrementCounter(_ name: String, by delta: Int64 = 1) {
        guard let raw = table.pointee.get_extension(table, PHUB_EXT_METRICS) else { return }
        let metrics = raw.assumingMemoryBound(to: phub_host_metrics_t.self)
        metrics.pointee.counter_add(table, name, delta)
    }

    /// Calls `fill` with a host buffer, growing it once when the host asks for more; returns the
    /// last status and the bytes written.
    private static func readBuffer(_ fill: (UnsafeMutablePointer<phub_buffer_t>) -> phub_status_t) -> (phub_status_t, Data) {
        var capacity = 4096
        for _ in 0..<2 {
            var storage = [UInt8](repeating: 0, count: capacity)
            let (status, length) = storage.withUnsafeMutableBufferPointer { bytes in
                var buffer = phub_buffer_t.make(data: bytes.baseAddress, capacity: bytes.count)
                let status = fill(&buffer)
                return (status, buffer.length)
            }
            if status == PHUB_ERR_BUFFER_TOO_SMALL, length > UInt64(capacity), length <= 16 << 20 {
                capacity = Int(length)
                continue
            }
            guard status == PHUB_OK, length <= UInt64(capacity) else { return (status == PHUB_OK ? PHUB_ERR_INTERNAL : status, Data()) }
            return (status, Data(storage.prefix(Int(length))))
        }
        return (PHUB_ERR_BUFFER_TOO_SMALL, Data())
    }
}

extension phub_buffer_t {
    /// A buffer header for ABI 1.0 over `capacity` bytes at `data`.
    static func make(data: UnsafeMutablePointer<UInt8>?, capacity: Int) -> phub_buffer_t {
        phub_buffer_t(
            struct_size: UInt32(MemoryLayout<phub_buffer_t>.size), abi_major: PHUB_ABI_MAJOR,
            abi_minor: PHUB_ABI_MINOR, reserved: 0, data: data, capacity: UInt64(capacity), length: 0)
    }
}
