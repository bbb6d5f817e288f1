import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// SQLite files that hold personal records or message contents: readable by their owner only, whatever the umask.
public enum PrivateDatabaseFile {
    /// Creates `path` empty and 0600 unless it exists (SQLite gives the `-wal` and `-shm` files it makes the
    /// database's mode), and brings an existing database and its `-wal` and `-shm` files to 0600: those an earlier
    /// version made under a wider umask stay readable by anyone otherwise. Missing folders above it are made 0755
    /// (less under a narrower umask), as `pki init` makes them: under umask 000 they were writable by anyone.
    public static func prepare(_ path: String) throws(FileModeError) {
        try createFolders(above: path)
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if descriptor >= 0 {
            close(descriptor)
            return
        }
        guard errno == EEXIST else { throw FileModeError("cannot create \(path): \(String(cString: strerror(errno)))") }
        // Only a file that is not private yet is changed: a read-only data directory (a backup mounted for reading)
        // then still opens.
        for file in [path, path + "-wal", path + "-shm"] {
            var status = stat()
            guard stat(file, &status) == 0 else { continue }
            // A folder named as the database (`--db data/`) is not one: made 0600, its owner could not open it.
            guard status.st_mode & S_IFMT == S_IFREG else {
                throw FileModeError("\(file) is not a file (a folder?): name the database file itself")
            }
            guard status.st_mode & 0o777 != 0o600, chmod(file, 0o600) != 0 else { continue }
            throw FileModeError("cannot make \(file) private (0600): \(String(cString: strerror(errno)))")
        }
        if let problem = accessProblem(path, writing: true) { throw FileModeError(problem) }
    }

    /// Why this process may not read (and write) `path`, naming its owner, or nil when it may: SQLite says only
    /// "unable to open database file" for a file of another user (a command run as root beside the hub's user).
    public static func accessProblem(_ path: String, writing: Bool) -> String? {
        // EACCES only: a file that cannot be changed (immutable, a read-only mount) is opened for reading by SQLite.
        guard access(path, writing ? R_OK | W_OK : R_OK) != 0, errno == EACCES else { return nil }
        let reason = String(cString: strerror(errno))
        var status = stat()
        let owner = stat(path, &status) == 0 ? "it belongs to uid \(status.st_uid); " : ""
        let action = writing ? "read and write" : "read"
        return "cannot \(action) \(path): \(reason) (\(owner)this runs as uid \(geteuid()))"
    }
}

extension PrivateDatabaseFile {
    /// `mkdir -p` of the folder holding `path`, each new folder 0755 before the umask.
    static func createFolders(above path: String) throws(FileModeError) {
        var folder = ""
        for component in URL(fileURLWithPath: path).deletingLastPathComponent().standardizedFileURL.pathComponents {
            folder = folder.isEmpty || folder == "/" ? folder + component : folder + "/" + component
            guard mkdir(folder, 0o755) != 0, errno != EEXIST else { continue }
            throw FileModeError("cannot create \(folder): \(String(cString: strerror(errno)))")
        }
    }
}

public struct FileModeError: Error, CustomStringConvertible {
    public let description: String

    init(_ description: String) {
        self.description = description
    }
}
