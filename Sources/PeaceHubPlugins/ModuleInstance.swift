import CPeaceHubABI
import Foundation
import PeaceHubCore

/// A message handed to a module for judgement.
public struct MessageToJudge: Sendable {
    public var topic: String
    /// The report body (MQTT 3.1.1 envelopes are unwrapped before this point).
    public var payload: [UInt8]
    public var senderContingent: String?
    public var senderOperator: String?
    public var securityLabel: String?
    public var precedence: Precedence?
    public var qos: Int
    public var receivedAt: Date

    public init(
        topic: String, payload: [UInt8], senderContingent: String? = nil, senderOperator: String? = nil,
        securityLabel: String? = nil, precedence: Precedence? = nil, qos: Int = 0, receivedAt: Date = Date()
    ) {
        self.topic = topic
        self.payload = payload
        self.senderContingent = senderContingent
        self.senderOperator = senderOperator
        self.securityLabel = securityLabel
        self.precedence = precedence
        self.qos = qos
        self.receivedAt = receivedAt
    }

    /// The last topic level of `missions/<CODE>/reports/<TYPE>`; `nil` for other topics.
    public var reportType: String? {
        // Split at the `/` byte, as MQTT does: `"/\u{301}"` is one Swift `Character`.
        let levels = topic.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
            .map(Substring.init)
        guard levels.count == 4, levels[0] == "missions", levels[2] == "reports", !levels[3].isEmpty else { return nil }
        return String(levels[3])
    }
}

/// A module's verdict on a message.
public enum Judgement: Sendable, Equatable {
    /// Deliver with these annotations; `warning` is for the sender (e.g. outside the area).
    case accepted(annotations: [String: JSONValue], warning: String?)
    /// Do not deliver; `message` names the offending field.
    case rejected(reason: RejectReason, message: String)
}

/// A created module instance. Calls may come from any thread; the module promised
/// `[thread-safe]` for judge, readiness and commands.
public final class ModuleInstance: @unchecked Sendable {
    public let module: OpenedModule
    public var manifest: PluginManifest { module.manifest }
    public let id: String
    public let mission: String
    public let version: String
    public let displayName: String
    /// Where the hub's services call the module from (`PluginHost.evaluateReadiness`, `PluginHost.command`, the
    /// mission router).
    public let lane: ModuleLane

    private let instance: UnsafeMutableRawPointer
    private let context: HostContext
    private var table: UnsafePointer<phub_plugin_t> { module.table }

    /// Largest output the host accepts from a module in one buffer.
    static let maximumOutput: UInt64 = 16 << 20
    static let beyondTheCap = "more than the 16 MiB a call may return"

    /// Creates an instance of an opened module; refuses with the module's own message.
    public init(_ module: OpenedModule, services: HostServices) throws(PluginLoadError) {
        self.module = module
        id = module.id
        mission = module.mission
        version = module.version
        displayName = module.displayName
        lane = ModuleLane(mission: module.mission)
        let context = HostContext(moduleID: module.id, mission: module.mission, services: services)
        self.context = context
        let header = structHeader(phub_create_info_t.self)
        var created: UnsafeMutableRawPointer?
        var errorBytes = [UInt8](repeating: 0, count: 1024)
        let (status, errorLength) = module.libraryPath.withCString { library in
            module.dataDirectory.withCString { data in
                var info = phub_create_info_t(
                    struct_size: header.size, abi_major: header.major, abi_minor: header.minor, reserved: 0,
                    library_path: library, data_dir: data)
                return errorBytes.withUnsafeMutableBufferPointer { bytes in
                    var error = makeBuffer(bytes)
                    let status = module.table.pointee.create(module.table, context.table, &info, &created, &error)
                    return (status, error.length)
                }
            }
        }
        guard status == PHUB_OK, let created else {
            // What the module wrote: a length beyond the buffer (a text cut to fit) leaves zeros after it.
            let written = errorBytes.prefix(Int(min(errorLength, UInt64(errorBytes.count)))).reversed()
                .drop { $0 == 0 }.reversed()
            var message = loggableText(String(decoding: written, as: UTF8.self))
            if message.isEmpty {
                // `phub_buffer_write` copies nothing that does not fit; create is never asked again.
                message =
                    errorLength > UInt64(errorBytes.count)
                    ? "no message: its \(errorLength) bytes were not cut to the \(errorBytes.count) given "
                        + "(phub_buffer_write_cut)"
                    : "no message"
            }
            throw PluginLoadError(
                .createFailed, file: module.manifestPath, moduleABI: module.tableABI,
                reason: status == PHUB_OK ? "create returned no instance" : "status \(status): \(message)")
        }
        instance = created
    }

    deinit {
        table.pointee.destroy(table, instance)
    }

    /// Asks the module to judge a message.
    public func judge(_ message: MessageToJudge) throws(PluginCallError) -> Judgement {
        var reasonCapacity = 1024
        var annotationsCapacity = 4096
        for _ in 0..<2 {
            var reasonBytes = [UInt8](repeating: 0, count: reasonCapacity)
            var annotationBytes = [UInt8](repeating: 0, count: annotationsCapacity)
            var decision: phub_decision_t = 0
            var reasonCode: phub_reason_t = 0
            var reasonLength: UInt64 = 0
            var annotationsLength: UInt64 = 0
            let status = reasonBytes.withUnsafeMutableBufferPointer { reasonBuffer in
                annotationBytes.withUnsafeMutableBufferPointer { annotationBuffer in
                    var reason = makeBuffer(reasonBuffer)
                    var annotations = makeBuffer(annotationBuffer)
                    let status = withMessage(message) { input in
                        withUnsafeMutablePointer(to: &reason) { reasonPointer in
                            withUnsafeMutablePointer(to: &annotations) { annotationsPointer in
                                let header = structHeader(phub_verdict_t.self)
                                var verdict = phub_verdict_t(
                                    struct_size: header.size, abi_major: header.major, abi_minor: header.minor,
                                    reserved: 0, decision: 0, reason_code: 0, reason: reasonPointer,
                                    annotations: annotationsPointer)
                                let status = table.pointee.judge_message(instance, input, &verdict)
                                decision = verdict.decision
                                reasonCode = verdict.reason_code
                                return status
                            }
                        }
                    }
                    reasonLength = reason.length
                    annotationsLength = annotations.length
                    return status
                }
            }
            if status == PHUB_ERR_BUFFER_TOO_SMALL {
                guard reasonLength <= Self.maximumOutput, annotationsLength <= Self.maximumOutput else {
                    throw fault(
                        "judge_message",
                        "asked for \(max(reasonLength, annotationsLength)) bytes of output, \(Self.beyondTheCap)")
                }
                reasonCapacity = max(reasonCapacity, Int(reasonLength))
                annotationsCapacity = max(annotationsCapacity, Int(annotationsLength))
                continue
            }
            try checkStatus(status, function: "judge_message", output: reasonBytes, length: reasonLength)
            guard reasonLength <= UInt64(reasonCapacity), annotationsLength <= UInt64(annotationsCapacity) else {
                throw fault("judge_message", "reported a length larger than the buffer")
            }
            guard let text = String(validating: reasonBytes.prefix(Int(reasonLength)), as: UTF8.self) else {
                throw fault("judge_message", "the reason text is not valid UTF-8")
            }
            switch decision {
            case PHUB_DECISION_ACCEPT:
                var annotations: [String: JSONValue] = [:]
                if annotationsLength > 0 {
                    let parsed: JSONValue
                    do {
                        parsed = try JSONValue(parsing: Data(annotationBytes.prefix(Int(annotationsLength))))
                    } catch {
                        throw fault(
                            "judge_message",
                            "the annotations are not valid JSON (\(error.reason), column \(error.column))")
                    }
                    guard let object = parsed.objectValue else {
                        throw fault("judge_message", "the annotations are not a JSON object")
                    }
                    annotations = object
                }
                return .accepted(annotations: annotations, warning: text.isEmpty ? nil : text)
            case PHUB_DECISION_REJECT:
                guard !text.isEmpty else { throw fault("judge_message", "rejected without a reason text") }
                return .rejected(reason: RejectReason(rawValue: reasonCode), message: text)
            default:
                throw fault("judge_message", "unknown verdict decision \(decision)")
            }
        }
        throw fault("judge_message", "still asked for a larger buffer after it was given the size it asked for")
    }

    /// Asks the module whether a person or a contingent is ready; `request` is the JSON document
    /// of docs/abi.md.
    public func readiness(_ request: Data) throws(PluginCallError) -> [UnmetRequirement] {
        let output = try callWithOutput("evaluate_readiness") { out in
            request.withUnsafeBytes { bytes in
                table.pointee.evaluate_readiness(
                    instance, bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(bytes.count), out)
            }
        }
        guard let items = (try? JSONValue(parsing: output))?.arrayValue else {
            throw fault("evaluate_readiness", "the result is not a JSON array")
        }
        var unmet: [UnmetRequirement] = []
        for item in items {
            guard let code = item["code"]?.stringValue, let message = item["message"]?.stringValue else {
                throw fault("evaluate_readiness", "an unmet requirement lacks a string 'code' or 'message'")
            }
            unmet.append(UnmetRequirement(code: code, message: message, serviceNumber: item["serviceNumber"]?.stringValue))
        }
        return unmet
    }

    /// Runs a module command with JSON arguments and returns its JSON result.
    public func command(_ name: String, arguments: JSONValue = [:]) throws(PluginCallError) -> JSONValue {
        let argumentData = arguments.jsonData
        let output = try callWithOutput("run_command") { out in
            argumentData.withUnsafeBytes { bytes in
                table.pointee.run_command(
                    instance, name, bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(bytes.count), out)
            }
        }
        guard let result = try? JSONValue(parsing: output) else {
            throw fault("run_command", "the result of '\(name)' is not valid JSON")
        }
        return result
    }

    /// The module extension with this versioned ID, or `nil`.
    public func extensionTable(_ id: String) -> UnsafeRawPointer? {
        guard let getExtension = table.pointee.get_extension else { return nil }
        return getExtension(instance, id)
    }

    /// Calls a function that writes into one output buffer, growing it once on request, and
    /// checks the status and lengths it reports.
    private func callWithOutput(
        _ function: String, _ call: (UnsafeMutablePointer<phub_buffer_t>) -> phub_status_t
    ) throws(PluginCallError) -> Data {
        var capacity = 16 * 1024
        for _ in 0..<2 {
            var bytes = [UInt8](repeating: 0, count: capacity)
            let (status, length) = bytes.withUnsafeMutableBufferPointer { storage in
                var buffer = makeBuffer(storage)
                let status = call(&buffer)
                return (status, buffer.length)
            }
            if status == PHUB_ERR_BUFFER_TOO_SMALL {
                guard length <= Self.maximumOutput else {
                    throw fault(function, "asked for a buffer of \(length) bytes, \(Self.beyondTheCap)")
                }
                guard length > UInt64(capacity) else {
                    throw fault(
                        function, "asked for a larger buffer but named \(length) bytes, no more than its \(capacity)")
                }
                capacity = Int(length)
                continue
            }
            try checkStatus(status, function: function, output: bytes, length: length)
            guard length <= UInt64(capacity) else {
                throw fault(function, "reported \(length) bytes in a buffer of \(capacity)")
            }
            return Data(bytes.prefix(Int(length)))
        }
        throw fault(function, "still asked for a larger buffer after it was given the size it asked for")
    }

    /// Maps a non-OK status to an error carrying the module's `{"error": ...}` text when it gave one.
    private func checkStatus(_ status: phub_status_t, function: String, output: [UInt8], length: UInt64)
        throws(PluginCallError)
    {
        guard status != PHUB_OK else { return }
        let text = length <= UInt64(output.count) ? Data(output.prefix(Int(length))) : Data()
        let message = loggableText(
            (try? JSONValue(parsing: text))?["error"]?.stringValue ?? String(decoding: text, as: UTF8.self))
        let reason = message.isEmpty ? "status \(status)" : message
        switch status {
        case PHUB_ERR_INVALID_ARGUMENT: throw PluginCallError(.invalidArgument, module: id, function: function, reason: reason)
        case PHUB_ERR_UNSUPPORTED: throw PluginCallError(.unsupported, module: id, function: function, reason: reason)
        default:
            throw PluginCallError(
                .failed, module: id, function: function,
                reason: "status \(status): \(message.isEmpty ? "no message" : message)")
        }
    }

    private func fault(_ function: String, _ reason: String) -> PluginCallError {
        context.logger.error("module misbehaved", metadata: ["function": "\(function)", "reason": "\(reason)"])
        return PluginCallError(.badOutput, module: id, function: function, reason: reason)
    }

    /// Lays `message` out as a `phub_message_t` whose pointers live for the duration of `body`.
    private func withMessage<R>(_ message: MessageToJudge, _ body: (UnsafePointer<phub_message_t>) -> R) -> R {
        let header = structHeader(phub_message_t.self)
        return withOptionalCString(message.reportType) { reportType in
            withOptionalCString(message.senderContingent) { contingent in
                withOptionalCString(message.senderOperator) { operatorName in
                    withOptionalCString(message.securityLabel) { label in
                        message.topic.withCString { topic in
                            message.payload.withUnsafeBufferPointer { payload in
                                var input = phub_message_t(
                                    struct_size: header.size, abi_major: header.major, abi_minor: header.minor,
                                    reserved: 0, topic: topic, report_type: reportType, payload: payload.baseAddress,
                                    payload_size: UInt64(payload.count), sender_contingent: contingent,
                                    sender_operator: operatorName, security_label: label,
                                    received_unix_ns: Int64((message.receivedAt.timeIntervalSince1970 * 1e9).rounded()),
                                    precedence: message.precedence?.rawValue ?? PHUB_PRECEDENCE_NONE,
                                    qos: Int32(message.qos))
                                return body(&input)
                            }
                        }
                    }
                }
            }
        }
    }
}

private func withOptionalCString<R>(_ string: String?, _ body: (UnsafePointer<CChar>?) -> R) -> R {
    guard let string else { return body(nil) }
    return string.withCString { body($0) }
}

/// A buffer header over host-owned bytes.
func makeBuffer(_ bytes: UnsafeMutableBufferPointer<UInt8>) -> phub_buffer_t {
    let header = structHeader(phub_buffer_t.self)
    return phub_buffer_t(
        struct_size: header.size, abi_major: header.major, abi_minor: header.minor, reserved: 0,
        data: bytes.baseAddress, capacity: UInt64(bytes.count), length: 0)
}
