import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Standard output and error written with write(2). `FileHandle.write` traps when a write fails, so a log reader
/// that went away (a closed pipe), a full disk or a closed stream stopped the hub at its next line.
enum StandardStreams {
    /// Before anything else: a write to a pipe whose reader left fails with EPIPE instead of ending the process,
    /// and a stream the process was started without (`2>&-`) is /dev/null, so that no descriptor opened later
    /// (an eventfd, a socket) takes its number and receives log lines.
    static func prepare() {
        signal(SIGPIPE, SIG_IGN)
        outputWasClosed = fcntl(STDOUT_FILENO, F_GETFD) == -1
        for descriptor in [STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO] where fcntl(descriptor, F_GETFD) == -1 {
            let null = open("/dev/null", O_RDWR)
            if null >= 0, null != descriptor {
                dup2(null, descriptor)
                close(null)
            }
        }
    }

    /// Standard output was closed at the start (`>&-`): what a command writes there (an export, messages) goes
    /// nowhere, so writing it fails, as it did to the closed stream, rather than succeeding into /dev/null.
    nonisolated(unsafe) private static var outputWasClosed = false

    /// Writes all of `data` to standard error; what cannot be written is dropped (a log line is not worth the hub).
    static func error(_ data: Data) {
        _ = write(data, to: STDERR_FILENO)
    }

    /// Writes all of `data` to standard output; false when it could not be (errno says why).
    @discardableResult
    static func output(_ data: Data) -> Bool {
        guard !outputWasClosed else {
            errno = EBADF
            return false
        }
        return write(data, to: STDOUT_FILENO)
    }

    private static func write(_ data: Data, to descriptor: Int32) -> Bool {
        data.withUnsafeBytes { raw in
            guard var next = raw.baseAddress else { return true }
            var left = raw.count
            while left > 0 {
                let written = Glibc.write(descriptor, next, left)
                if written < 0 {
                    if errno == EINTR { continue }
                    return false
                }
                next += written
                left -= written
            }
            return true
        }
    }
}
