/// Why a PKI operation failed. `reason` is one line meant for the operator.
public struct PKIError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate enum Backing: String, Hashable, Sendable {
            case missingCA
            case alreadyExists
            case invalidArgument
            case notFound
            case fileSystem
            case openSSL
        }

        fileprivate var backing: Backing

        /// The directory holds no hub CA (run `peacehub pki init`).
        public static let missingCA = Code(backing: .missingCA)
        /// A key or certificate exists and overwriting was not requested.
        public static let alreadyExists = Code(backing: .alreadyExists)
        /// A name, code, host or number is not acceptable.
        public static let invalidArgument = Code(backing: .invalidArgument)
        /// No certificate matches the serial or contingent given.
        public static let notFound = Code(backing: .notFound)
        /// Reading or writing a file failed.
        public static let fileSystem = Code(backing: .fileSystem)
        /// libcrypto refused an operation.
        public static let openSSL = Code(backing: .openSSL)

        public var description: String { backing.rawValue }
    }

    public var code: Code
    public var reason: String
    public var file: String
    public var line: Int

    public init(_ code: Code, _ reason: String, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.reason = reason
        self.file = file
        self.line = line
    }

    public var description: String { reason }

    public static func == (lhs: PKIError, rhs: PKIError) -> Bool { lhs.code == rhs.code && lhs.reason == rhs.reason }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(code)
        hasher.combine(reason)
    }
}
