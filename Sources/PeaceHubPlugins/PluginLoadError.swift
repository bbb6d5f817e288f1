import Foundation

/// Why the host refused a mission module. Refusals are checked in the order of the codes below.
///
/// `Equatable` compares only `code`, so tests can match on the kind of refusal.
public struct PluginLoadError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        fileprivate enum Backing: String, Sendable {
            case manifestInvalid = "manifest missing or invalid"
            case abiMismatch = "ABI major mismatch"
            case checksumMismatch = "library checksum mismatch"
            case openFailed = "dlopen failed"
            case noEntrySymbol = "no entry symbol"
            case entryReturnedNull = "entry returned NULL"
            case tableInvalid = "plugin table invalid"
            case createFailed = "create failed"
            case duplicate = "duplicate module"
        }

        fileprivate let backing: Backing

        /// The manifest is missing, unreadable, not JSON, or has a missing or wrong key.
        public static let manifestInvalid = Code(backing: .manifestInvalid)
        /// The manifest, or the module's table, declares an ABI major the host does not speak.
        public static let abiMismatch = Code(backing: .abiMismatch)
        /// The library's SHA-256 differs from the manifest's.
        public static let checksumMismatch = Code(backing: .checksumMismatch)
        /// `dlopen` refused the library.
        public static let openFailed = Code(backing: .openFailed)
        /// The library does not export `phub_plugin_entry_v1`.
        public static let noEntrySymbol = Code(backing: .noEntrySymbol)
        /// The entry function returned NULL: the module cannot serve this host.
        public static let entryReturnedNull = Code(backing: .entryReturnedNull)
        /// The table is too small, a required function is NULL, or its strings are bad.
        public static let tableInvalid = Code(backing: .tableInvalid)
        /// The module's `create` failed.
        public static let createFailed = Code(backing: .createFailed)
        /// Another loaded module already has this id or mission.
        public static let duplicate = Code(backing: .duplicate)

        public var description: String { backing.rawValue }
    }

    public let code: Code
    /// The manifest or library the refusal is about.
    public let file: String
    /// The ABI the module declares (`a.b`), or `unknown` before the manifest is read.
    public let moduleABI: String
    /// What exactly was wrong.
    public let reason: String

    init(_ code: Code, file: String, moduleABI: String = "unknown", reason: String) {
        self.code = code
        self.file = file
        self.moduleABI = moduleABI
        self.reason = reason
    }

    /// One line naming the file, both ABI versions and the reason, e.g.
    /// `refused /p/x.plugin.json (module ABI 2.0, host ABI 1.0): ABI major mismatch: ...`.
    public var description: String {
        "refused \(file) (module ABI \(moduleABI), host ABI \(HostABI.versionString)): \(code): \(reason)"
    }

    public static func == (lhs: PluginLoadError, rhs: PluginLoadError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
}

/// Why a call into a loaded module failed. The module's misbehaviour is an error of that call,
/// never a crash of the host.
public struct PluginCallError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        fileprivate enum Backing: String, Sendable {
            case invalidArgument = "invalid argument"
            case unsupported = "unsupported"
            case failed = "module failed"
            case badOutput = "module returned invalid output"
            case timedOut = "module did not answer in time"
        }

        fileprivate let backing: Backing

        /// The module said the input was malformed (`PHUB_ERR_INVALID_ARGUMENT`).
        public static let invalidArgument = Code(backing: .invalidArgument)
        /// The module does not offer the command (`PHUB_ERR_UNSUPPORTED`).
        public static let unsupported = Code(backing: .unsupported)
        /// The module returned another error status.
        public static let failed = Code(backing: .failed)
        /// The module broke the contract: invalid JSON, lengths beyond the buffer, an unknown verdict.
        public static let badOutput = Code(backing: .badOutput)
        /// The module did not answer within the host's budget (`PluginHost.callBudget`), or is still in a call
        /// begun before it.
        public static let timedOut = Code(backing: .timedOut)

        public var description: String { backing.rawValue }
    }

    public let code: Code
    /// The module's id.
    public let module: String
    /// The ABI function called, e.g. `judge_message`.
    public let function: String
    /// The module's own message, or what was wrong with its output.
    public let reason: String

    init(_ code: Code, module: String, function: String, reason: String) {
        self.code = code
        self.module = module
        self.function = function
        self.reason = reason
    }

    public var description: String { "\(module) \(function): \(code): \(reason)" }

    public static func == (lhs: PluginCallError, rhs: PluginCallError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
}
