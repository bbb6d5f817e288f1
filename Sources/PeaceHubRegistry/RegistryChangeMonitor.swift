import GRDB

/// Tells whether the registry database changed, for caches of what was read from it.
///
/// SQLite's `PRAGMA data_version` on a read-only connection of the monitor's own: its value changes after every
/// commit by any other connection, the registry's own pool in this process as well as a `peacehub registry` command
/// in another. One pragma is far cheaper than the queries it lets a cache skip.
public final class RegistryChangeMonitor: Sendable {
    private let connection: DatabaseQueue

    /// A monitor of the registry's file; nil for an in-memory registry, whose changes it could not see.
    public init?(registry: Registry) {
        guard registry.database is DatabasePool else { return nil }
        var configuration = Configuration()
        configuration.readonly = true
        configuration.label = "peacehub.registry-changes"
        guard let connection = try? DatabaseQueue(path: registry.database.path, configuration: configuration) else {
            return nil
        }
        self.connection = connection
    }

    /// A value that differs from the last one read whenever the registry changed in between.
    public func version() throws -> Int {
        try connection.inDatabase { db in
            try Int.fetchOne(db.cachedStatement(sql: "PRAGMA data_version")) ?? 0
        }
    }
}
