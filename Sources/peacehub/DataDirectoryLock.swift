import Foundation
import PeaceHubCore

#if canImport(Glibc)
import Glibc
#endif

/// One hub per data directory. Two would share the broker store and the registry: each would load the same
/// offline sessions and deliver their queued messages again. `serve` takes an exclusive `flock` on `hub.lock` in
/// the data directory and keeps it until the process ends (the kernel lets it go on any exit, SIGKILL too).
enum DataDirectoryLock {
    /// Takes the lock, writing this process's id into the file; throws a sentence naming the holder when another
    /// process has it.
    static func acquire(_ paths: HubPaths) throws(CLIError) {
        let path = paths.dataDirectory.appendingPathComponent("hub.lock").path
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw CLIError("cannot open \(path): \(String(cString: strerror(errno)))")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let failure = errno
            var bytes = [UInt8](repeating: 0, count: 32)
            let count = read(descriptor, &bytes, bytes.count)
            close(descriptor)
            guard failure == EWOULDBLOCK else {
                throw CLIError("cannot lock \(path): \(String(cString: strerror(failure)))")
            }
            let holder = String(decoding: bytes.prefix(max(count, 0)), as: UTF8.self)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            let process = holder.isEmpty ? "?" : holder
            throw CLIError(
                "another hub uses the data directory \(paths.dataDirectory.path) (process \(process) holds \(path)); "
                    + "stop it first, or give this one a data directory of its own")
        }
        let line = "\(getpid())\n"
        _ = ftruncate(descriptor, 0)
        _ = line.withCString { pwrite(descriptor, $0, strlen($0), 0) }
        // The descriptor stays open, and the lock held, for the life of the process.
    }
}
