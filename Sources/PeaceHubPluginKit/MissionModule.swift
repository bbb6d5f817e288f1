import CPeaceHubABI
import Foundation
import PeaceHubCore

/// Who a module is: the strings of its C table.
public struct ModuleDescriptor: Sendable {
    /// Unique, stable, lower-case, reverse-domain style: `kz.peacehub.unifil`.
    public var id: String
    /// The UN mission code in capitals: `UNIFIL`.
    public var mission: String
    /// Semantic version: `1.0.0`.
    public var version: String
    /// For people: `UNIFIL (United Nations Interim Force in Lebanon)`.
    public var displayName: String

    public init(id: String, mission: String, version: String, displayName: String) {
        self.id = id
        self.mission = mission
        self.version = version
        self.displayName = displayName
    }
}

/// A mission module written in Swift.
///
/// Conform one final class, then export it with one function:
/// ```swift
/// @_cdecl("phub_plugin_entry_v1")
/// public func entry(_ hostMajor: UInt32, _ hostMinor: UInt32) -> UnsafeRawPointer? {
///     PluginExport.entry(MyModule.self, hostMajor: hostMajor, hostMinor: hostMinor)
/// }
/// ```
/// The kit does the C bridging, the JSON, the buffers and the error mapping. The host may call
/// `judge`, `readiness` and `run` from several threads at once: keep the instance immutable
/// after `init`, or protect what changes.
public protocol MissionModule: AnyObject, Sendable {
    static var descriptor: ModuleDescriptor { get }

    /// Creates the instance: read data files from `context.dataDirectory` and configuration
    /// from `context.host.configuration()`. Throw to refuse; the message reaches the operator.
    init(context: ModuleContext) throws

    /// Judges a message published on one of the mission's topics.
    func judge(_ message: Message) -> Verdict

    /// Evaluates readiness (request schema in docs/abi.md); returns unmet requirements, empty
    /// when ready. Throw ``ModuleError/invalidArgument(_:)`` for a malformed request.
    func readiness(_ request: JSONValue) throws -> [UnmetRequirement]

    /// Runs a named command; throw ``ModuleError/unsupported(_:)`` for an unknown one.
    func run(command: String, arguments: JSONValue) throws -> JSONValue

    /// The module extension with this versioned ID (a module-owned C table valid until the
    /// instance is destroyed); the default implementation has none.
    func extensionTable(id: String) -> UnsafeRawPointer?
}

/// What a module is given when it is created.
public struct ModuleContext: Sendable {
    /// The host's services.
    public let host: ModuleHost
    /// The absolute path of the module's data directory.
    public let dataDirectory: URL
    /// The absolute path of the module's library file.
    public let libraryPath: String
}

/// A message to judge. Its payload is borrowed for the duration of `judge`: copy what you keep.
public struct Message: @unchecked Sendable {
    public let topic: String
    /// The last topic level after `reports/`, or `nil` when the topic is not a report topic.
    public let reportType: String?
    public let payload: UnsafeRawBufferPointer
    public let senderContingent: String?
    public let senderOperator: String?
    public let securityLabel: String?
    public let precedence: Precedence?
    public let qos: Int
    /// When the hub received the message, in nanoseconds since the Unix epoch.
    public let receivedUnixNanoseconds: Int64

    public init(
        topic: String, reportType: String?, payload: UnsafeRawBufferPointer, senderContingent: String?,
        senderOperator: String?, securityLabel: String?, precedence: Precedence?, qos: Int,
        receivedUnixNanoseconds: Int64
    ) {
        self.topic = topic
        self.reportType = reportType
        self.payload = payload
        self.senderContingent = senderContingent
        self.senderOperator = senderOperator
        self.securityLabel = securityLabel
        self.precedence = precedence
        self.qos = qos
        self.receivedUnixNanoseconds = receivedUnixNanoseconds
    }

    /// The payload parsed as JSON; `nil` when it is not valid JSON.
    public var json: JSONValue? { try? JSONValue(parsing: payload) }
}

/// A module's judgement of a message.
public enum Verdict: Sendable, Equatable {
    /// Deliver, with these annotations attached (and an optional warning for the sender).
    case accept(annotations: [String: JSONValue], warning: String? = nil)
    /// Do not deliver; `message` names the offending field.
    case reject(RejectReason, message: String)
}

/// An error a module throws from `init`, `readiness` or `run`; mapped to an ABI status.
public enum ModuleError: Error, Sendable, Equatable {
    /// The input was malformed (`PHUB_ERR_INVALID_ARGUMENT`).
    case invalidArgument(String)
    /// The command or request is not offered (`PHUB_ERR_UNSUPPORTED`).
    case unsupported(String)
    /// Anything else (`PHUB_ERR_INTERNAL`).
    case failed(String)
}
