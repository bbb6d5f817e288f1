import GRDB
import GRDBSQLite

extension DatabaseError {
    /// SQLite's message, or its text for the result code when the message says nothing: an online backup's error
    /// is read from the copy's connection, whose message is "not an error" when the disk was full.
    public var reason: String {
        if let message, message != "not an error" { return message }
        return String(cString: sqlite3_errstr(extendedResultCode.rawValue))
    }
}
