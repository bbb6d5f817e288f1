import Foundation
import Glibc

/// Where a server under test listens.
struct ServerEndpoint: Sendable {
    let name: String
    let wire: Wire
    let port: Int
}

/// A server under test, the hub or a peer, run as a child process with its output in a log file.
final class ServerProcess: @unchecked Sendable {
    let endpoint: ServerEndpoint
    private let executable: String
    private let arguments: [String]
    private let environment: [String: String]
    private let log: URL
    /// Run before each start (the hub's broker store is removed, so every start is fresh).
    private let prepare: () -> Void
    private var process: Process?

    init(
        endpoint: ServerEndpoint, executable: String, arguments: [String], environment: [String: String] = [:],
        log: URL, prepare: @escaping () -> Void = {}
    ) {
        self.endpoint = endpoint
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
        self.log = log
        self.prepare = prepare
    }

    var pid: Int32 { process?.processIdentifier ?? 0 }

    /// Starts the process afresh and waits until its port accepts TCP connections.
    func start() throws {
        prepare()
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        try launch()
    }

    /// Kills the process with SIGKILL, as a crash would (nothing flushed, no client told), and starts it again on
    /// the same port and files, its log continued.
    func crashAndRestart() throws {
        if let process, process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        process = nil
        try launch()
    }

    private func launch() throws {
        let handle = try FileHandle(forWritingTo: log)
        handle.seekToEndOfFile()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        self.process = process
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            guard process.isRunning else {
                throw BenchError("\(endpoint.name) exited at start: \((try? String(contentsOf: log, encoding: .utf8)) ?? "")")
            }
            if portAccepts(endpoint.port) {
                usleep(200_000)
                return
            }
            usleep(50_000)
        }
        throw BenchError("\(endpoint.name) did not open port \(endpoint.port)")
    }

    func stop() {
        guard let process, process.isRunning else { return }
        kill(process.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(15)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        self.process = nil
    }

    /// User plus system CPU seconds the process has used (/proc/<pid>/stat utime + stime).
    func cpuSeconds() -> Double { processCPUSeconds(pid) }

    /// Resident memory in bytes (VmRSS from /proc/<pid>/status).
    func residentBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
        else { return 0 }
        return (Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0) * 1024
    }
}

/// utime + stime of a process in seconds.
func processCPUSeconds(_ pid: Int32) -> Double {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
        let close = text.lastIndex(of: ")")
    else { return 0 }
    // Fields after "(comm)": state is field 3, utime 14, stime 15.
    let fields = text[text.index(after: close)...].split(separator: " ")
    guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
    return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
}

/// The one-minute load average (/proc/loadavg).
func loadAverage() -> Double {
    let text = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? ""
    return Double(text.split(separator: " ").first ?? "") ?? 0
}

/// True when something accepts a TCP connection on 127.0.0.1:port.
func portAccepts(_ port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
        }
    }
}

/// A port nothing listens on now.
func freePort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
    }
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Raises this process's open-file limit to its hard limit (children inherit it): 5,000 TLS connections need
/// 5,000 descriptors on each side.
func raiseOpenFileLimit() -> Int {
    var limit = rlimit()
    getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
    limit.rlim_cur = limit.rlim_max
    setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
    getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
    return Int(limit.rlim_cur)
}

/// The bench's three servers over one data directory made by `make bench` (PKI, seeded registry, modules).
struct ServerSet {
    let hub: ServerProcess
    let mosquitto: ServerProcess
    let nats: ServerProcess

    var all: [ServerProcess] { [hub, mosquitto, nats] }

    init(bench: BenchPaths, peacehub: String) throws {
        let pki = bench.data.appendingPathComponent("pki")
        let (ca, crl) = (pki.appendingPathComponent("ca.pem").path, pki.appendingPathComponent("crl.pem").path)
        let (certificate, key) = (
            pki.appendingPathComponent("server/localhost.pem").path, pki.appendingPathComponent("server/localhost.key").path
        )
        let hubPort = freePort()
        let hubConfig = bench.root.appendingPathComponent("bench.json")
        let config: [String: Any] = [
            "dataDirectory": bench.data.path, "pluginsDirectory": bench.plugins.path,
            "mqtt": [
                "host": "127.0.0.1", "port": hubPort, "maximumConnections": 10_000,
                "maximumConnectionsPerPrincipal": 10_000,
            ],
            // The peers have no HTTP side: the hub's listeners stay off, and so off the ports others use.
            "admin": ["enabled": false], "monitoring": ["enabled": false],
        ]
        try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys]).write(to: hubConfig)
        let store = bench.data.appendingPathComponent("broker.sqlite").path
        hub = ServerProcess(
            endpoint: ServerEndpoint(name: "peacehub", wire: .mqtt, port: hubPort), executable: peacehub,
            arguments: ["serve", "--config", hubConfig.path], log: bench.logs.appendingPathComponent("peacehub.log"),
            prepare: { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: store + suffix) } })

        let mosquittoPort = freePort()
        let mosquittoConfig = bench.root.appendingPathComponent("mosquitto.conf")
        // Persistence, queue and in-flight limits stay at mosquitto's defaults. `user root`: started by root, mosquitto
        // would otherwise switch to its own user, which cannot read the server key (mode 0600); as any other user
        // the line has no effect.
        try """
        user root
        listener \(mosquittoPort) 127.0.0.1
        cafile \(ca)
        certfile \(certificate)
        keyfile \(key)
        crlfile \(crl)
        tls_version tlsv1.3
        require_certificate true
        use_identity_as_username true

        """.write(to: mosquittoConfig, atomically: true, encoding: .utf8)
        mosquitto = ServerProcess(
            endpoint: ServerEndpoint(name: "mosquitto", wire: .mqtt, port: mosquittoPort),
            executable: "/usr/sbin/mosquitto", arguments: ["-c", mosquittoConfig.path],
            log: bench.logs.appendingPathComponent("mosquitto.log"))

        let natsPort = freePort()
        let natsConfig = bench.root.appendingPathComponent("nats.conf")
        try """
        listen: 127.0.0.1:\(natsPort)
        tls {
          cert_file: "\(certificate)"
          key_file: "\(key)"
          ca_file: "\(ca)"
          verify: true
          timeout: 5
        }

        """.write(to: natsConfig, atomically: true, encoding: .utf8)
        nats = ServerProcess(
            endpoint: ServerEndpoint(name: "nats-server", wire: .nats, port: natsPort),
            executable: "/usr/sbin/nats-server", arguments: ["-c", natsConfig.path],
            log: bench.logs.appendingPathComponent("nats-server.log"))
    }
}

/// The files of a bench run.
struct BenchPaths {
    let root: URL
    var data: URL { root.appendingPathComponent("data") }
    var plugins: URL { root.appendingPathComponent("plugins") }
    var logs: URL { root.appendingPathComponent("logs") }
}
