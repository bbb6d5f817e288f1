import GRDB

extension SQLiteBrokerStore {
    /// Runs a trivial read on the store's connection; throws when the database does not answer (readiness checks).
    public func probe() throws {
        _ = try database.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM sqlite_master") }
    }
}
