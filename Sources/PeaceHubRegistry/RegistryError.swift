/// Why the registry refused a request. Tests and callers compare `code`; `reason` is for people.
public struct RegistryError: Error, Hashable, CustomStringConvertible, Sendable {
    fileprivate enum BackingCode: Hashable, Sendable {
        case notFound
        case accessDenied
        case invariantViolated
        case invalidInput
        case schemaTooNew
        case notReady
        case readinessUnavailable
        case alreadyExists
        case busy
        case damaged
    }

    /// The kind of refusal, comparable with `==`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate let backing: BackingCode

        /// The entity does not exist (or the actor may not know about it).
        public static let notFound = Code(backing: .notFound)
        /// The actor may not make this change.
        public static let accessDenied = Code(backing: .accessDenied)
        /// The change would break a registry invariant (overlap, illegal transition, closed mission...).
        public static let invariantViolated = Code(backing: .invariantViolated)
        /// The input is malformed or incomplete.
        public static let invalidInput = Code(backing: .invalidInput)
        /// The database was written by a newer PeaceHub (unknown schema versions).
        public static let schemaTooNew = Code(backing: .schemaTooNew)
        /// The mission module found unmet requirements.
        public static let notReady = Code(backing: .notReady)
        /// No readiness evaluator, or it failed (no module serves the mission).
        public static let readinessUnavailable = Code(backing: .readinessUnavailable)
        /// A record with the same key exists.
        public static let alreadyExists = Code(backing: .alreadyExists)
        /// Another writer (an import, another process) held the registry past a write's wait (30 s).
        public static let busy = Code(backing: .busy)
        /// The file holds what no write of the hub leaves (an audit head that is not its newest entry's): it was
        /// edited.
        public static let damaged = Code(backing: .damaged)

        public var description: String {
            switch backing {
            case .notFound: "not found"
            case .accessDenied: "access denied"
            case .invariantViolated: "invariant violated"
            case .invalidInput: "invalid input"
            case .schemaTooNew: "schema too new"
            case .notReady: "not ready"
            case .readinessUnavailable: "readiness unavailable"
            case .alreadyExists: "already exists"
            case .busy: "registry busy"
            case .damaged: "registry damaged"
            }
        }
    }

    public var code: Code
    public var reason: String
    /// Itemised problems, e.g. every bad import row as `file:line: field: reason`.
    public var details: [String]
    public var file: String
    public var line: UInt

    public init(_ code: Code, _ reason: String, details: [String] = [], file: String = #fileID, line: UInt = #line) {
        self.code = code
        self.reason = reason
        self.details = details
        self.file = file
        self.line = line
    }

    public var description: String { "\(code): \(reason)" }

    // Equality ignores the source location so tests can compare whole errors if they wish.
    public static func == (lhs: RegistryError, rhs: RegistryError) -> Bool {
        lhs.code == rhs.code && lhs.reason == rhs.reason && lhs.details == rhs.details
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(code)
        hasher.combine(reason)
    }
}
