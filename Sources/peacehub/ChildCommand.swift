import Foundation
import PeaceHubPlugins

/// This executable run again as a child process, for work that calls into a module that may crash or hang:
/// the child dies instead of the command that judges the module.
enum ChildCommand {
    /// How a child ended.
    enum End: Equatable {
        case exited(Int32)
        case crashed(signal: Int32)
        /// Printed no line for longer than the silence limit, and was killed.
        case silent
    }

    /// Runs `peacehub ARGUMENTS`, hands `onLine` each line it prints on stdout as it comes, and kills it once it
    /// has printed nothing for `silenceLimit` seconds. Its stderr goes to `standardError`.
    static func run(
        _ arguments: [String], silenceLimit: Double, standardError: FileHandle = .nullDevice,
        onLine: (String) -> Void
    ) throws -> End {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL
        if !FileManager.default.isExecutableFile(atPath: process.executableURL!.path) {
            process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        }
        process.arguments = arguments
        // Die by the signal at once: the Swift backtracer would take seconds and hide it.
        var environment = ProcessInfo.processInfo.environment
        environment["SWIFT_BACKTRACE"] = "enable=no"
        process.environment = environment
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = standardError
        try process.run()
        let reader = pipe.fileHandleForReading
        var pending = Data()
        var lastLine = Date()
        readLoop: while true {
            var descriptor = pollfd(fd: reader.fileDescriptor, events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, 100)
            if ready > 0 {
                let chunk = reader.availableData
                if chunk.isEmpty { break readLoop }
                pending.append(chunk)
                while let newline = pending.firstIndex(of: 0x0a) {
                    onLine(String(decoding: pending[pending.startIndex..<newline], as: UTF8.self))
                    pending.removeSubrange(pending.startIndex...newline)
                    lastLine = Date()
                }
            } else if ready == 0, Date().timeIntervalSince(lastLine) > silenceLimit {
                process.terminate()
                usleep(200_000)
                if process.isRunning { kill(process.processIdentifier, SIGKILL) }
                process.waitUntilExit()
                return .silent
            } else if ready < 0, errno != EINTR {
                break readLoop
            }
        }
        if !pending.isEmpty { onLine(String(decoding: pending, as: UTF8.self)) }
        process.waitUntilExit()
        if process.terminationReason == .uncaughtSignal { return .crashed(signal: process.terminationStatus) }
        return .exited(process.terminationStatus)
    }
}

/// The child's side of `ChildCommand`: the channel its report goes to, which a module's own output cannot reach.
/// The report keeps the pipe the parent reads; what the process writes to stdout from then on (a module's
/// `printf`) goes to its stderr, so it can neither forge a line of the report nor pass for a sign of life.
final class ChildReport {
    private let handle: FileHandle

    init() {
        fflush(nil)
        handle = FileHandle(fileDescriptor: dup(STDOUT_FILENO), closeOnDealloc: true)
        dup2(STDERR_FILENO, STDOUT_FILENO)
    }

    func line(_ text: String) {
        handle.write(Data((text + "\n").utf8))
    }
}

/// `SIGSEGV` for 11 and so on; the number when the signal is not a usual one.
func signalName(_ signal: Int32) -> String {
    let names: [Int32: String] = [
        SIGSEGV: "SIGSEGV", SIGABRT: "SIGABRT", SIGILL: "SIGILL", SIGTRAP: "SIGTRAP", SIGBUS: "SIGBUS",
        SIGFPE: "SIGFPE", SIGKILL: "SIGKILL", SIGTERM: "SIGTERM",
    ]
    return names[signal] ?? "signal \(signal)"
}

/// "3 s", or "0.5 s".
func formatSeconds(_ seconds: Double) -> String {
    seconds == seconds.rounded() ? "\(Int(seconds)) s" : "\(seconds) s"
}

extension PluginHost {
    /// A host whose modules are opened in a child process (`plugins open`) before this one opens them, so that a
    /// library that crashes or hangs while it opens is refused without harm to the process.
    convenience init(trying services: HostServices = HostServices()) {
        self.init(services: services) { manifest, budget in
            let seconds = Double(budget.components.seconds) + Double(budget.components.attoseconds) / 1e18
            var described = false
            let end = try? ChildCommand.run(["plugins", "open", manifest.path], silenceLimit: seconds) { _ in
                described = true
            }
            let place = "while its library was opened in a child process (its initializers or phub_plugin_entry_v1)"
            switch end {
            case .crashed(let signal)?:
                return "it crashed with signal \(signal) (\(signalName(signal))) \(place): refused, not opened here"
            case .silent?:
                return "it did not finish opening within \(budget) \(place): refused, not opened here"
            case .exited(0)? where !described:
                // The library ended the process itself (`exit` in an initializer): here it would end the hub.
                return "it ended the process (exit status 0) \(place): refused, not opened here"
            case .exited(1)?, .exited(0)?, nil:
                // Opened, or refused for a reason that opening it here gives as well (and safely).
                return nil
            case .exited(let status)?:
                return "it ended the process (exit status \(status)) \(place): refused, not opened here"
            }
        }
    }
}
