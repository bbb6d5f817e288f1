import GRDB

extension SQLiteBrokerStore {
    /// Runs a trivial read on the store's connection; throws when the database does not answer, or when its path
    /// no longer names the file opened (readiness checks).
    public func probe() throws {
        try file?.verify()
        _ = try database.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM sqlite_master") }
    }
}
