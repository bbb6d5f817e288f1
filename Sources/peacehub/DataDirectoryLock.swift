import Foundation
import PeaceHubCore

#if canImport(Glibc)
import Glibc
#endif

/// One hub per data directory. Two would share the broker store and the registry: each would load the same
/// offline sessions and deliver their queued messages again. `serve` takes an exclusive `flock` on the data
/// directory itself and keeps it until the process ends (the kernel lets it go on any exit, SIGKILL too). A lock
/// file could be deleted, as a stale one looks, and a second hub would lock a new file of the same name.
enum DataDirectoryLock {
    /// Takes the lock; throws a sentence naming the holder (from the kernel's list of locks) when another process
    /// has it.
    static func acquire(_ paths: HubPaths) throws(CLIError) {
        let path = paths.dataDirectory.path
        let descriptor = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw CLIError("cannot open the data directory \(path): \(String(cString: strerror(errno)))")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let failure = errno
            let holder = failure == EWOULDBLOCK ? holder(of: descriptor) : nil
            close(descriptor)
            guard failure == EWOULDBLOCK else {
                throw CLIError("cannot lock the data directory \(path): \(String(cString: strerror(failure)))")
            }
            // 0: a holder in another PID namespace (a container), which /proc/locks cannot name.
            let process = holder.flatMap { $0 > 0 ? "process \($0)" : nil } ?? "another process"
            throw CLIError(
                "another hub uses the data directory \(path) (\(process) holds its lock); stop it first, or give "
                    + "this one a data directory of its own")
        }
        // The descriptor stays open, and the lock held, for the life of the process. Versions before 6 December
        // 2026 locked `hub.lock`: held too, so that one of them and this one do not run on one directory.
        let legacy = paths.dataDirectory.appendingPathComponent("hub.lock").path
        let legacyDescriptor = open(legacy, O_RDONLY | O_CLOEXEC)
        if legacyDescriptor >= 0, flock(legacyDescriptor, LOCK_EX | LOCK_NB) != 0, errno == EWOULDBLOCK {
            close(legacyDescriptor)
            throw CLIError(
                "another hub (an earlier PeaceHub) uses the data directory \(path) (it holds \(legacy)); stop it "
                    + "first")
        }
    }

    /// The process holding a `flock` on what `descriptor` names, from /proc/locks (`1: FLOCK  ADVISORY  WRITE
    /// <pid> <major>:<minor>:<inode> 0 EOF`, the device numbers in hex): the holder now, never a stale record.
    private static func holder(of descriptor: Int32) -> Int32? {
        var status = stat()
        guard fstat(descriptor, &status) == 0,
            let text = try? String(contentsOfFile: "/proc/locks", encoding: .utf8)
        else { return nil }
        let device = UInt64(status.st_dev)
        let major = ((device >> 8) & 0xFFF) | ((device >> 32) & ~0xFFF)
        let minor = (device & 0xFF) | ((device >> 12) & ~0xFF)
        let key = String(format: "%02llx:%02llx:%llu", major, minor, UInt64(status.st_ino))
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            // Waiters are listed as `1: -> FLOCK ...`, after the holder.
            guard fields.count >= 6, fields[1] == "FLOCK", fields[5] == key else { continue }
            return Int32(fields[4])
        }
        return nil
    }
}
