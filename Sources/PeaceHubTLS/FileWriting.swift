import Foundation

/// Writes `data` to `path` through a temporary file and a rename, synced and with exactly `mode` (whatever the
/// umask): readers never see a partial file. Returns why it failed, if it did.
func writeWhole(_ data: Data, to path: String, mode: mode_t) -> String? {
    let temporary = path + ".tmp-\(getpid())"
    let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
    guard descriptor >= 0 else { return "cannot write \(temporary): \(String(cString: strerror(errno)))" }
    let written = data.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
    let synced = fsync(descriptor)
    close(descriptor)
    guard written == data.count, synced == 0, chmod(temporary, mode) == 0, rename(temporary, path) == 0 else {
        let reason = String(cString: strerror(errno))
        unlink(temporary)
        return "cannot write \(path): \(reason)"
    }
    return nil
}
