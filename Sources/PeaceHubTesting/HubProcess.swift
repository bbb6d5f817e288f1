import Foundation

/// A real `peacehub serve` in a child process, over a data directory prepared with the CLI
/// itself (PKI, seeded registry): what an operator runs, on 127.0.0.1 and a free port.
public final class HubProcess: @unchecked Sendable {
    public let data: TemporaryDirectory
    /// The MQTT port.
    public private(set) var port = 0
    /// The admin API's HTTPS port (mutual TLS).
    public private(set) var adminPort = 0
    /// The monitoring listener's HTTP port.
    public private(set) var monitoringPort = 0
    private var process: Process?
    /// `serve` arguments and variables every start uses (the configuration file, when there is one).
    private var serveArguments: [String] = []
    private var serveEnvironment: [String: String] = [:]
    /// What starts the hub: its executable, or a launcher before it (`setpriv` for another user).
    public var command = [TestEnvironment.peacehubExecutable.path]
    private var log: URL { data.url.appendingPathComponent("hub.log") }

    public static let contingents = ["KAZ", "KGZ", "TJK", "UZB", "IND"]

    /// Prepares the data directory and starts the hub. `configuration` (e.g. `["mqtt": ["maximumPacketSize": 1024]]`,
    /// keys as in docs/configuration.md) becomes `configurationFile`, which `serve --config` reads at every start;
    /// `environment` adds variables to every start.
    public init(
        configuration: [String: Any] = [:], extraArguments: [String] = [], environment extra: [String: String] = [:]
    ) throws {
        data = try TemporaryDirectory(prefix: "phub-hub")
        serveEnvironment = extra
        // A hub that does not start (a test may expect it) leaves no process and no folder behind.
        do {
            if !configuration.isEmpty {
                try JSONSerialization.data(withJSONObject: configuration, options: [.sortedKeys])
                    .write(to: configurationFile)
                serveArguments = ["--config", configurationFile.path]
            }
            let steps: [[String]] = [
                ["pki", "init"], ["pki", "issue-server", "--host", "localhost", "--host", "127.0.0.1"],
                ["pki", "issue", "--operator", "duty"], ["registry", "seed"],
            ] + Self.contingents.map { ["pki", "issue", "--contingent", $0] }
            for step in steps {
                let result = try ProcessRunner.peacehub(step, environment: environment)
                guard result.status == 0 else {
                    throw FixtureError("peacehub \(step.joined(separator: " ")): \(result.stderr)")
                }
            }
            try start(port: 0, extraArguments: extraArguments)
        } catch {
            remove()
            throw error
        }
    }

    /// The configuration file `serve` reads when the hub was made with a configuration.
    public var configurationFile: URL { data.url.appendingPathComponent("peacehub.json") }

    /// The environment every `peacehub` call of this hub runs with.
    public var environment: [String: String] {
        ["PEACEHUB_DATA_DIR": data.url.path, "PEACEHUB_PLUGINS_DIR": TestEnvironment.pluginsDirectory.path]
    }

    public var pkiDirectory: URL { data.url.appendingPathComponent("pki") }

    /// Starts `peacehub serve` and waits for its "listening" lines. The admin and monitoring listeners take free
    /// ports unless the hub's environment says otherwise.
    public func start(port: Int, extraArguments: [String] = []) throws {
        if !FileManager.default.fileExists(atPath: log.path) { FileManager.default.createFile(atPath: log.path, contents: nil) }
        let handle = try FileHandle(forWritingTo: log)
        // Only what this run writes counts: an earlier run's "listening" line must not.
        let start = handle.seekToEndOfFile()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: command[0])
        process.arguments =
            command.dropFirst() + ["serve", "--host", "127.0.0.1", "--port", String(port)] + serveArguments
            + extraArguments
        process.environment = ProcessInfo.processInfo.environment
            .merging(["PEACEHUB_ADMIN_PORT": "0", "PEACEHUB_MONITORING_PORT": "0"]) { _, new in new }
            .merging(environment) { _, new in new }.merging(serveEnvironment) { _, new in new }
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        self.process = process
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            let text = String(decoding: ((try? Data(contentsOf: log)) ?? Data()).dropFirst(Int(start)), as: UTF8.self)
            let lines = text.split(separator: "\n")
            if let bound = Self.port(in: lines, after: "PeaceHub listening on "), bound > 0,
                port == 0 || bound == port
            {
                self.port = bound
                // serve prints its listener lines in one write, right after the first.
                adminPort = Self.port(in: lines, after: "Admin API on https://") ?? 0
                monitoringPort = Self.port(in: lines, after: "Monitoring on http://") ?? 0
                return
            }
            guard process.isRunning else { throw FixtureError("peacehub serve exited: \(text)") }
            usleep(50_000)
        }
        let text = logText
        stop(signal: SIGKILL)
        throw FixtureError("peacehub serve did not start: \(text)")
    }

    /// The port of the address after `prefix` on the last line starting with it (`HOST:PORT`, then a space or
    /// the end).
    static func port(in lines: [Substring], after prefix: String) -> Int? {
        guard let line = lines.last(where: { $0.hasPrefix(prefix) }) else { return nil }
        let address = line.dropFirst(prefix.count).prefix { $0 != " " }
        return address.split(separator: ":").last.flatMap { Int($0) }
    }

    /// Everything the hub logged.
    public var logText: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

    /// Sends `signal` without waiting.
    public func send(signal: Int32) {
        guard let process, process.isRunning else { return }
        kill(process.processIdentifier, signal)
    }

    /// Waits up to `seconds` for the hub to exit; its exit status, or nil if it is still running.
    public func waitForExit(seconds: TimeInterval) -> Int32? {
        guard let process else { return nil }
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning, Date() < deadline { usleep(20_000) }
        return process.isRunning ? nil : process.terminationStatus
    }

    public var isRunning: Bool { process?.isRunning ?? false }

    /// The running hub's process id (e.g. for `prlimit`).
    public var processIdentifier: Int32? { process.flatMap { $0.isRunning ? $0.processIdentifier : nil } }

    /// Waits up to `seconds` until the log holds `count` lines containing `text`; true when it does.
    public func waitForLog(_ text: String, count: Int = 1, seconds: TimeInterval = 30) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        repeat {
            if logText.components(separatedBy: "\n").filter({ $0.contains(text) }).count >= count { return true }
            usleep(50_000)
        } while Date() < deadline
        return false
    }

    /// Sends `signal` and waits for the process to end.
    public func stop(signal: Int32 = SIGTERM) {
        guard let process, process.isRunning else { return }
        kill(process.processIdentifier, signal)
        process.waitUntilExit()
    }

    /// Kills the hub with SIGKILL and starts it again on the same port and files.
    public func crashAndRestart() throws {
        stop(signal: SIGKILL)
        try start(port: port)
    }

    public func remove() {
        stop()
        data.remove()
    }
}
