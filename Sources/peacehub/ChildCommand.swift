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
    /// has printed nothing for `silenceLimit` seconds. Its stderr goes to `standardError`, or nowhere.
    ///
    /// Spawned and reaped here rather than by Foundation's `Process`: the child starts with no signal blocked
    /// (a thread of `serve` blocks SIGTERM, and its children inherited the mask, so a hung one outlived the hub),
    /// and its end is seen when it exits, not when its stdout closes (a process a module forks keeps that open).
    static func run(
        _ arguments: [String], silenceLimit: Double, standardError: FileHandle? = nil,
        onLine: (String) -> Void
    ) throws -> End {
        var executable = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.path
        if !FileManager.default.isExecutableFile(atPath: executable) {
            executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        }
        // Die by the signal at once: the Swift backtracer would take seconds and hide it.
        var environment = ProcessInfo.processInfo.environment
        environment["SWIFT_BACKTRACE"] = "enable=no"
        var output: [Int32] = [0, 0]
        guard pipe(&output) == 0 else { throw CLIError("cannot make a pipe: \(String(cString: strerror(errno)))") }
        // Neither end may stay open in another child this process starts meanwhile: its end would never come.
        for end in output { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        defer { close(output[0]) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, output[1], 1)
        // Not `FileHandle.nullDevice`: on Linux its descriptor is -1, the dup failed, and the child wrote on ours.
        if let standardError {
            posix_spawn_file_actions_adddup2(&actions, standardError.fileDescriptor, 2)
        } else {
            posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        close(output[1])
        guard spawned == 0 else { throw CLIError("cannot start \(executable): \(String(cString: strerror(spawned)))") }

        var pending = Data()
        var lastLine = Date()
        var buffer = [UInt8](repeating: 0, count: 65536)
        var open = true
        func readAvailable() {
            let count = read(output[0], &buffer, buffer.count)
            guard count > 0 else {
                if count == 0 { open = false }
                return
            }
            pending.append(contentsOf: buffer[0..<count])
            while let newline = pending.firstIndex(of: 0x0a) {
                onLine(String(decoding: pending[pending.startIndex..<newline], as: UTF8.self))
                pending.removeSubrange(pending.startIndex...newline)
                lastLine = Date()
            }
        }
        var status: Int32 = 0
        while true {
            if open {
                var descriptor = pollfd(fd: output[0], events: Int16(POLLIN), revents: 0)
                if poll(&descriptor, 1, 100) > 0 { readAvailable() }
            } else {
                usleep(20_000)
            }
            if waitpid(pid, &status, WNOHANG) == pid {
                // What it wrote before it ended is still in the pipe (a process it left may go on writing: a few
                // reads take what it wrote, not what that one writes for ever).
                var descriptor = pollfd(fd: output[0], events: Int16(POLLIN), revents: 0)
                for _ in 0..<16 where open && poll(&descriptor, 1, 0) > 0 { readAvailable() }
                break
            }
            if Date().timeIntervalSince(lastLine) > silenceLimit {
                kill(pid, SIGTERM)
                usleep(200_000)
                kill(pid, SIGKILL)
                waitpid(pid, &status, 0)
                return .silent
            }
        }
        if !pending.isEmpty { onLine(String(decoding: pending, as: UTF8.self)) }
        // Killed by a signal: the low seven bits; otherwise the exit status in the next byte.
        let signal = status & 0x7F
        return signal == 0 ? .exited((status >> 8) & 0xFF) : .crashed(signal: signal)
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
        // A parent that ends (killed while this child hangs in a module) leaves nobody to end the child: it ends
        // itself once it has another parent, whatever its module is doing on the main thread.
        let parent = getppid()
        Thread.detachNewThread {
            while getppid() == parent { usleep(200_000) }
            _exit(1)
        }
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
            var (described, refused) = (false, false)
            let end = try? ChildCommand.run(["plugins", "open", manifest.path], silenceLimit: seconds) { line in
                if line == PluginsOpen.refusal { refused = true } else { described = true }
            }
            let place =
                "while its library was opened in a child process (its initializers, phub_plugin_entry_v1, or the "
                + "host reading its table)"
            switch end {
            case .crashed(let signal)?:
                return "it crashed with signal \(signal) (\(signalName(signal))) \(place): refused, not opened here"
            case .silent?:
                return "it did not finish opening within \(budget) \(place): refused, not opened here"
            case .exited(0)? where !described:
                // The library ended the process itself (`exit` in an initializer): here it would end the hub.
                return "it ended the process (exit status 0) \(place): refused, not opened here"
            case .exited(1)? where refused, .exited(0)?, nil:
                // Opened, or refused for a reason that opening it here gives as well (and safely): the child said
                // so, which a library that ends the process with status 1 in its initializer does not.
                return nil
            case .exited(let status)?:
                return "it ended the process (exit status \(status)) \(place): refused, not opened here"
            }
        }
    }
}
