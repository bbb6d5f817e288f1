/// Why the broker store refused to open, to read or to write. Tests compare `code`; `reason` is
/// for people and names the file, the table and the key involved.
public struct BrokerStoreError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        fileprivate enum Backing: String, Sendable {
            case cannotOpen = "cannot open"
            case schemaTooNew = "schema too new"
            case badRow = "bad row"
            case invalidOperation = "invalid operation"
            case writeFailed = "write failed"
            case readFailed = "read failed"
        }

        fileprivate let backing: Backing

        /// The file cannot be opened, is not an SQLite database (corrupt) or is not a broker store.
        public static let cannotOpen = Code(backing: .cannotOpen)
        /// The file was written by a newer PeaceHub whose schema this one does not know.
        public static let schemaTooNew = Code(backing: .schemaTooNew)
        /// A stored row cannot be turned back into broker state (found by `load()`).
        public static let badRow = Code(backing: .badRow)
        /// An operation SQLite refuses, e.g. a sequence stored twice for one session (a broker
        /// bug). Only the `commit` call that carried it fails, all of it.
        public static let invalidOperation = Code(backing: .invalidOperation)
        /// The transaction of a batch failed (I/O error, disk full, file locked by another
        /// process); every `commit` call of that batch fails.
        public static let writeFailed = Code(backing: .writeFailed)
        /// Reading the stored state failed in SQLite itself.
        public static let readFailed = Code(backing: .readFailed)

        public var description: String { backing.rawValue }
    }

    public let code: Code
    public let reason: String
    public let file: String
    public let line: UInt

    public init(_ code: Code, _ reason: String, file: String = #fileID, line: UInt = #line) {
        self.code = code
        self.reason = reason
        self.file = file
        self.line = line
    }

    public var description: String { "broker store: \(code): \(reason)" }

    // Equality ignores the source location so tests can compare whole errors if they wish.
    public static func == (lhs: BrokerStoreError, rhs: BrokerStoreError) -> Bool {
        lhs.code == rhs.code && lhs.reason == rhs.reason
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(code)
        hasher.combine(reason)
    }
}
