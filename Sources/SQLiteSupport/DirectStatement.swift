import GRDB
import GRDBSQLite

/// A cached statement run with its values bound and its rows read straight through SQLite's API.
///
/// On hot paths (the broker store's QoS 1 statements, a registry import's inserts) GRDB's
/// `StatementArguments` (an array of boxed values per call, then checked against the statement)
/// cost more than SQLite's own work, and so did GRDB's `Row`, read by column name, where the broker
/// store is loaded at start. Only those statements go this way; each of their SQL strings is used
/// nowhere else, so GRDB never finds one of them half bound.
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
        defer { sqlite3_clear_bindings(handle) }
        var first: Int64?
        while try next() {
            if first == nil { first = integer(0) }
        }
        return first
    }

    /// Steps to the next row: false once there are no more, and the statement is reset for the next use (also
    /// when the step fails).
    public func next() throws -> Bool {
        let code = sqlite3_step(handle)
        if code == SQLITE_ROW { return true }
        sqlite3_reset(handle)
        guard code == SQLITE_DONE else {
            let message = String(cString: sqlite3_errmsg(db.sqliteConnection))
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: message, sql: statement.sql)
        }
        return false
    }

    /// Resets the statement for the next use, for a caller that stops before the last row (`next()` resets it
    /// after the last one).
    public func reset() {
        sqlite3_reset(handle)
    }

    // The current row's columns, by position. Each answers nil when the column holds another type, so that a
    // caller can name the row and the column that are wrong. Loading the broker store at start read each column
    // through GRDB's `Row` by its name: 1.4-1.9 s for 250,000 queued messages (release build), where SQLite's own
    // stepping through the rows took 0.08 s; 0.38-0.56 s this way.

    public func isNull(_ column: Int32) -> Bool {
        sqlite3_column_type(handle, column) == SQLITE_NULL
    }

    public func integer(_ column: Int32) -> Int64? {
        sqlite3_column_type(handle, column) == SQLITE_INTEGER ? sqlite3_column_int64(handle, column) : nil
    }

    public func text(_ column: Int32) -> String? {
        guard sqlite3_column_type(handle, column) == SQLITE_TEXT else { return nil }
        guard let start = sqlite3_column_text(handle, column) else { return "" }
        let count = Int(sqlite3_column_bytes(handle, column))
        return String(decoding: UnsafeBufferPointer(start: start, count: count), as: UTF8.self)
    }

    /// Passes the bytes of a BLOB column to `body` (valid only during the call).
    public func blob<Result>(_ column: Int32, _ body: (UnsafeRawBufferPointer) -> Result) -> Result? {
        guard sqlite3_column_type(handle, column) == SQLITE_BLOB else { return nil }
        // A zero-length BLOB has no address.
        let count = Int(sqlite3_column_bytes(handle, column))
        return body(UnsafeRawBufferPointer(start: sqlite3_column_blob(handle, column), count: count))
    }

    /// What `column` holds, for an error message: NULL, a number, a quoted text or the size of a BLOB.
    public func describe(_ column: Int32) -> String {
        switch sqlite3_column_type(handle, column) {
        case SQLITE_NULL: "NULL"
        case SQLITE_INTEGER: "\(sqlite3_column_int64(handle, column))"
        case SQLITE_FLOAT: "\(sqlite3_column_double(handle, column))"
        case SQLITE_TEXT: (text(column) ?? "").debugDescription
        default: "a BLOB of \(sqlite3_column_bytes(handle, column)) bytes"
        }
    }
}
