import CPeaceHubABI
import CoreMetrics
import Foundation
import Logging
import PeaceHubCore
import Synchronization

/// What the hub lends its modules through `phub_host_t`. Each service is a closure so that the
/// CLI, the server and tests can each plug in what they have.
public struct HostServices: Sendable {
    /// A message a module asks the hub to publish.
    public struct Publication: Sendable {
        public var moduleID: String
        public var mission: String
        public var topic: String
        public var payload: [UInt8]
        public var precedence: Precedence?
    }

    /// What became of a publication.
    public enum PublishOutcome: Sendable {
        case accepted, denied, unavailable
        /// Larger than the hub takes in one MQTT packet (`mqtt.maximumPacketSize`).
        case tooLarge
    }

    /// The answer to a module's registry lookup.
    public enum RegistryAnswer: Sendable {
        /// The record as a JSON object.
        case found(Data)
        case notFound
        case unknownKind
        case unavailable
    }

    public var logger: Logger
    /// The wall clock modules see.
    public var now: @Sendable () -> Date
    /// Publishes a module's message; the host has already checked the topic is the module's own.
    public var publish: @Sendable (Publication) -> PublishOutcome
    /// Looks up a registry record by kind and key.
    public var registry: @Sendable (_ kind: String, _ key: String) -> RegistryAnswer
    /// The configuration object of the module with this id.
    public var configuration: @Sendable (_ moduleID: String) -> JSONValue

    /// Services for a host without a broker or a registry (the CLI, module checks).
    public init(
        logger: Logger = Logger(label: "peacehub.plugins"),
        now: @escaping @Sendable () -> Date = { Date() },
        publish: @escaping @Sendable (Publication) -> PublishOutcome = { _ in .unavailable },
        registry: @escaping @Sendable (String, String) -> RegistryAnswer = { _, _ in .unavailable },
        configuration: @escaping @Sendable (String) -> JSONValue = { _ in [:] }
    ) {
        self.logger = logger
        self.now = now
        self.publish = publish
        self.registry = registry
        self.configuration = configuration
    }
}

/// One module instance's side of the host: what `phub_host_t.host_data` points at.
final class HostContext: @unchecked Sendable {
    let moduleID: String
    let mission: String
    let services: HostServices
    let logger: Logger
    /// Metric names this module was refused, each logged once.
    let refusedMetrics = Mutex<Set<String>>([])
    /// The C table handed to the module; owned here, freed after the instance is destroyed.
    let table: UnsafeMutablePointer<phub_host_t>

    init(moduleID: String, mission: String, services: HostServices) {
        self.moduleID = moduleID
        self.mission = mission
        self.services = services
        var logger = services.logger
        logger[metadataKey: "module"] = "\(moduleID)"
        self.logger = logger
        table = .allocate(capacity: 1)
        let header = structHeader(phub_host_t.self)
        table.initialize(
            to: phub_host_t(
                struct_size: header.size, abi_major: header.major, abi_minor: header.minor, reserved: 0,
                host_data: nil, name: HostStrings.shared.name, version: HostStrings.shared.version,
                log: hostLog, alloc: hostAlloc, free: hostFree, clock_unix_ns: hostClockUnix,
                clock_monotonic_ns: hostClockMonotonic, publish: hostPublish, registry_get: hostRegistryGet,
                get_config: hostGetConfig, get_extension: hostGetExtension))
        table.pointee.host_data = Unmanaged.passUnretained(self).toOpaque()
    }

    deinit {
        table.deinitialize(count: 1)
        table.deallocate()
    }

    static func from(_ host: UnsafePointer<phub_host_t>?) -> HostContext? {
        guard let data = host?.pointee.host_data else { return nil }
        return Unmanaged<HostContext>.fromOpaque(data).takeUnretainedValue()
    }
}

/// C strings and tables that live as long as the process.
private final class HostStrings: @unchecked Sendable {
    static let shared = HostStrings()
    let name = UnsafePointer(strdup(HostABI.hostName)!)
    let version = UnsafePointer(strdup(HostABI.hostVersion)!)
    let metrics: UnsafeMutablePointer<phub_host_metrics_t> = {
        let table = UnsafeMutablePointer<phub_host_metrics_t>.allocate(capacity: 1)
        let header = structHeader(phub_host_metrics_t.self)
        table.initialize(
            to: phub_host_metrics_t(
                struct_size: header.size, abi_major: header.major, abi_minor: header.minor, reserved: 0,
                counter_add: hostCounterAdd, timer_record_ns: hostTimerRecord))
        return table
    }()
}

/// Reads a C string from a module, which may be NULL or invalid UTF-8.
func moduleString(_ pointer: UnsafePointer<CChar>?) -> String? {
    guard let pointer else { return nil }
    return String(validatingCString: pointer)
}

/// Copies `bytes` into a module's buffer by the ABI's rules.
func writeBuffer(_ bytes: some Collection<UInt8>, into buffer: UnsafeMutablePointer<phub_buffer_t>?) -> phub_status_t {
    guard let buffer else { return PHUB_ERR_INVALID_ARGUMENT }
    let array = Array(bytes)
    return array.withUnsafeBytes { phub_buffer_write(buffer, $0.baseAddress, UInt64($0.count)) }
}

private func isMetricName(_ name: String) -> Bool {
    !name.isEmpty && name.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7a) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5f }
}

/// What each `peacehub_module_<name>` is, fixed by its first use. Prometheus keeps one type per name, and the
/// exporter stops the process when a name comes back as another type: a counter `patrols` then a timer
/// `patrols` (one module or two), or a module counter named like the hub's own module metrics.
private enum ModuleMetricKind {
    case hub, counter, timer
}

private let moduleMetricKinds = Mutex<[String: ModuleMetricKind]>([
    "verdicts_total": .hub, "call_duration_seconds": .hub,
])

/// Whether the module may record `name` as `kind`: a valid name not yet taken as anything else. A refusal is
/// logged once per module and name, since the module cannot be told (the calls return nothing).
private func admitsMetric(_ name: String, as kind: ModuleMetricKind, _ context: HostContext) -> Bool {
    guard isMetricName(name) else { return false }
    let taken = moduleMetricKinds.withLock { kinds in
        if let known = kinds[name] { return known }
        kinds[name] = kind
        return kind
    }
    guard taken != kind else { return true }
    if context.refusedMetrics.withLock({ $0.insert(name).inserted }) {
        let owner = taken == .hub ? "the hub's own" : "already a \(taken)"
        context.logger.warning(
            "module metric refused: peacehub_module_\(name) is \(owner), not a \(kind)",
            metadata: ["metric": "\(name)"])
    }
    return false
}

private let hostLog: @convention(c) (UnsafePointer<phub_host_t>?, phub_log_level_t, UnsafePointer<CChar>?) -> Void = {
    host, level, message in
    guard let context = HostContext.from(host) else { return }
    let text = moduleString(message).map(loggableText) ?? "<log message that is not valid UTF-8>"
    let logLevel: Logger.Level =
        switch level {
        case PHUB_LOG_TRACE: .trace
        case PHUB_LOG_DEBUG: .debug
        case PHUB_LOG_INFO: .info
        case PHUB_LOG_WARNING: .warning
        default: .error
        }
    context.logger.log(level: logLevel, "\(text)")
}

private let hostAlloc: @convention(c) (UnsafePointer<phub_host_t>?, UInt64) -> UnsafeMutableRawPointer? = { _, size in
    guard size <= UInt64(Int.max) else { return nil }
    return malloc(Int(max(size, 1)))
}

private let hostFree: @convention(c) (UnsafePointer<phub_host_t>?, UnsafeMutableRawPointer?) -> Void = { _, block in
    free(block)
}

private let hostClockUnix: @convention(c) (UnsafePointer<phub_host_t>?) -> Int64 = { host in
    let now = HostContext.from(host)?.services.now() ?? Date()
    return Int64((now.timeIntervalSince1970 * 1e9).rounded())
}

private let hostClockMonotonic: @convention(c) (UnsafePointer<phub_host_t>?) -> Int64 = { _ in
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec)
}

private let hostPublish:
    @convention(c) (UnsafePointer<phub_host_t>?, UnsafePointer<CChar>?, UnsafePointer<UInt8>?, UInt64, phub_precedence_t)
        -> phub_status_t = { host, topicPointer, payload, size, precedence in
        guard let context = HostContext.from(host), let topic = moduleString(topicPointer) else {
            return PHUB_ERR_INVALID_ARGUMENT
        }
        // An MQTT topic is 1 to 65,535 bytes [MQTT-4.7.3-1, 1.5.4]: a longer one could not be sent (the hub
        // stopped at the delivery, and again at every start while it was queued). A payload past what the hub
        // could ever send is refused before it is copied (SIZE_MAX stopped the hub).
        guard !topic.isEmpty, topic.utf8.count <= 65_535, !topic.contains("+"), !topic.contains("#"),
            !topic.contains("\0"), payload != nil || size == 0, size <= ModuleInstance.maximumOutput
        else {
            return PHUB_ERR_INVALID_ARGUMENT
        }
        guard topic.hasPrefix("missions/\(context.mission)/") else {
            context.logger.warning("module tried to publish outside its mission", metadata: ["topic": "\(topic)"])
            return PHUB_ERR_DENIED
        }
        // A report topic carries contingents' reports, enveloped, judged and archived: a module's bytes there would
        // reach subscribers as a report no contingent sent and no module judged.
        guard !topic.hasPrefix("missions/\(context.mission)/reports/") else {
            context.logger.warning("module tried to publish on a report topic", metadata: ["topic": "\(topic)"])
            return PHUB_ERR_DENIED
        }
        let bytes = size == 0 ? [] : Array(UnsafeBufferPointer(start: payload, count: Int(clamping: size)))
        let publication = HostServices.Publication(
            moduleID: context.moduleID, mission: context.mission, topic: topic, payload: bytes,
            precedence: Precedence(rawValue: precedence))
        switch context.services.publish(publication) {
        case .accepted: return PHUB_OK
        case .denied: return PHUB_ERR_DENIED
        case .unavailable: return PHUB_ERR_UNAVAILABLE
        case .tooLarge:
            context.logger.warning(
                "module published a message larger than the hub's maximum packet size",
                metadata: ["topic": "\(topic)", "bytes": "\(size)"])
            return PHUB_ERR_INVALID_ARGUMENT
        }
    }

private let hostRegistryGet:
    @convention(c) (
        UnsafePointer<phub_host_t>?, UnsafePointer<CChar>?, UnsafePointer<CChar>?, UnsafeMutablePointer<phub_buffer_t>?
    ) -> phub_status_t = { host, kindPointer, keyPointer, out in
        guard let context = HostContext.from(host), let kind = moduleString(kindPointer),
            let key = moduleString(keyPointer), out != nil
        else { return PHUB_ERR_INVALID_ARGUMENT }
        switch context.services.registry(kind, key) {
        case .found(let data): return writeBuffer(data, into: out)
        case .notFound: return PHUB_ERR_NOT_FOUND
        case .unknownKind: return PHUB_ERR_INVALID_ARGUMENT
        case .unavailable: return PHUB_ERR_UNAVAILABLE
        }
    }

private let hostGetConfig:
    @convention(c) (UnsafePointer<phub_host_t>?, UnsafeMutablePointer<phub_buffer_t>?) -> phub_status_t = { host, out in
        guard let context = HostContext.from(host) else { return PHUB_ERR_INVALID_ARGUMENT }
        return writeBuffer(context.services.configuration(context.moduleID).jsonData, into: out)
    }

private let hostGetExtension: @convention(c) (UnsafePointer<phub_host_t>?, UnsafePointer<CChar>?) -> UnsafeRawPointer? = {
    _, id in
    guard let id = moduleString(id) else { return nil }
    return id == PHUB_EXT_METRICS ? UnsafeRawPointer(HostStrings.shared.metrics) : nil
}

private let hostCounterAdd: @convention(c) (UnsafePointer<phub_host_t>?, UnsafePointer<CChar>?, Int64) -> Void = {
    host, namePointer, delta in
    guard let context = HostContext.from(host), let name = moduleString(namePointer), delta >= 0,
        admitsMetric(name, as: .counter, context)
    else { return }
    // Counted in floating point: a sum past Int64.max would wrap to a negative value, which no counter may show.
    FloatingPointCounter(label: "peacehub_module_\(name)", dimensions: [("module", context.moduleID)])
        .increment(by: Double(delta))
}

private let hostTimerRecord: @convention(c) (UnsafePointer<phub_host_t>?, UnsafePointer<CChar>?, Int64) -> Void = {
    host, namePointer, nanoseconds in
    // A negative duration is ignored as a negative delta is: the exporter traps on it at the next scrape.
    guard let context = HostContext.from(host), let name = moduleString(namePointer), nanoseconds >= 0,
        admitsMetric(name, as: .timer, context)
    else { return }
    Timer(label: "peacehub_module_\(name)", dimensions: [("module", context.moduleID)]).recordNanoseconds(nanoseconds)
}
