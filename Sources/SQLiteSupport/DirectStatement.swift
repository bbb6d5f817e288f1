import GRDB
import GRDBSQLite

/// A cached statement run with its values bound straight through SQLite's API.
///
/// On hot paths (the broker store's QoS 1 statements, a registry import's inserts) GRDB's
/// `StatementArguments` (an array of boxed values per call, then checked against the statement)
/// cost more than SQLite's own work. Only those statements go this way; each of their SQL strings
/// is used nowhere else, so GRDB never finds one of them half bound.
public struct DirectStatement {
    private let statement: Statement
    private let db: Database

    public init(_ sql: String, _ db: Database) throws {
        statement = try db.cachedStatement(sql: sql)
        self.db = db
    }

    private var handle: SQLiteStatement { statement.sqliteStatement }

    /// SQLite copies what it binds before the call returns (`SQLITE_TRANSIENT`).
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    public func bind(_ index: Int32, _ value: Int64) {
        sqlite3_bind_int64(handle, index, value)
    }

    public func bind(_ index: Int32, _ value: Int64?) {
        if let value { sqlite3_bind_int64(handle, index, value) } else { sqlite3_bind_null(handle, index) }
    }

    public func bind(_ index: Int32, _ value: String?) {
        guard var text = value else {
            sqlite3_bind_null(handle, index)
            return
        }
        text.withUTF8 { bytes in
            // An empty string may have no address, and a null pointer would bind NULL.
            guard let start = bytes.baseAddress else {
                _ = sqlite3_bind_text(handle, index, "", 0, Self.transient)
                return
            }
            _ = sqlite3_bind_text(handle, index, start, Int32(bytes.count), Self.transient)
        }
    }

    /// A blob from `bytes` (SQLite binds an empty one as NULL); `nil` binds NULL.
    public func bind(_ index: Int32, _ bytes: UnsafeRawBufferPointer?) {
        guard let bytes else {
            sqlite3_bind_null(handle, index)
            return
        }
        _ = sqlite3_bind_blob(handle, index, bytes.baseAddress, Int32(bytes.count), Self.transient)
    }

    /// Steps through every row and returns the first column of the first one, if any, as an integer;
    /// then resets the statement and clears its values for the next call.
    @discardableResult
    public func run() throws -> Int64? {
        defer {
            sqlite3_reset(handle)
            sqlite3_clear_bindings(handle)
        }
        var first: Int64?
        while true {
            let code = sqlite3_step(handle)
            switch code {
            case SQLITE_DONE:
                return first
            case SQLITE_ROW:
                if first == nil, sqlite3_column_type(handle, 0) == SQLITE_INTEGER {
                    first = sqlite3_column_int64(handle, 0)
                }
            default:
                let message = String(cString: sqlite3_errmsg(db.sqliteConnection))
                throw DatabaseError(resultCode: ResultCode(rawValue: code), message: message, sql: statement.sql)
            }
        }
    }
}
