#if canImport(Glibc)
import Glibc
#endif

/// Whether `path` names an empty file, through symbolic links (a registry linked to a file elsewhere, as one moved
/// to a larger disk): SQLite opens an empty file as a new database, so a copy or restore cut short would become
/// an empty registry or broker store. False when there is no such file.
public func isEmptyFile(_ path: String) -> Bool {
    var status = stat()
    return stat(path, &status) == 0 && status.st_mode & S_IFMT == S_IFREG && status.st_size == 0
}
