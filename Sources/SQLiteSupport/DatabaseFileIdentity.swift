#if canImport(Glibc)
import Glibc
#endif

/// The file a database path named when it was opened. SQLite keeps writing to the file it opened: one removed
/// or replaced under a running hub (a restore copied over it, a cleanup that deleted it) takes every later commit
/// with it when the hub stops, so the readiness check compares the path with this identity.
public struct DatabaseFileIdentity: Sendable {
    public let path: String
    private let device: UInt64
    private let inode: UInt64

    /// The file `path` names now; nil when it names none.
    public init?(path: String) {
        var status = stat()
        guard stat(path, &status) == 0 else { return nil }
        self.path = path
        device = UInt64(status.st_dev)
        inode = UInt64(status.st_ino)
    }

    /// Throws unless `path` still names the file opened.
    public func verify() throws(DatabaseFileChanged) {
        var status = stat()
        guard stat(path, &status) == 0 else {
            // A data directory moved while the hub runs lands here too: the file is whole, elsewhere.
            throw DatabaseFileChanged(
                "\(path) no longer names the file opened (removed, or moved with its folder): the hub writes to the "
                    + "file it opened, which is lost at the stop if it was removed; restart the hub where the file is")
        }
        guard UInt64(status.st_dev) == device, UInt64(status.st_ino) == inode else {
            throw DatabaseFileChanged(
                "\(path) was replaced by another file while open: the hub writes to the file it opened, and the next "
                    + "start reads the other")
        }
    }
}

public struct DatabaseFileChanged: Error, CustomStringConvertible {
    public let description: String

    init(_ description: String) {
        self.description = description
    }
}
