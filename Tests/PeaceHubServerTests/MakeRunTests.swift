import Foundation
import PeaceHubTesting
import Testing

/// What a new operator does: `make run` in the background, then the `mosquitto_sub` line it
/// prints receives what the printed `mosquitto_pub` line publishes, and the printed `curl` line gets an
/// answer from the admin API as the operator. The build step is skipped
/// (`SWIFT=:`, the tests run on a fresh build) and the data and plugins go to a temporary folder.
@Suite struct MakeRunTests {
    @Test func thePrintedMosquittoLinesWork() throws {
        let scratch = try TemporaryDirectory(prefix: "phub-make-run")
        defer { scratch.remove() }
        let (port, adminPort, monitoringPort) = (try freePort(), try freePort(), try freePort())
        let log = scratch.url.appendingPathComponent("make-run.log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        // Foundation starts the child as the leader of its own process group: a signal to the
        // group reaches make and the hub it started.
        let make = Process()
        make.executableURL = URL(fileURLWithPath: "/usr/bin/make")
        make.arguments = [
            "-C", TestEnvironment.packageRoot.path, "run", "SWIFT=:", "PORT=\(port)", "ADMIN_PORT=\(adminPort)",
            "MONITORING_PORT=\(monitoringPort)",
            "DATA_DIR=\(scratch.path("var"))", "PLUGINS_DIR=\(scratch.path("plugins"))",
            "EXAMPLES_DIR=\(scratch.path("examples"))",
        ]
        make.standardOutput = try FileHandle(forWritingTo: log)
        make.standardError = make.standardOutput
        try make.run()
        defer {
            // Ctrl-C, as an operator would: the whole process group.
            kill(-make.processIdentifier, SIGINT)
            make.waitUntilExit()
        }
        var text = ""
        let deadline = Date().addingTimeInterval(240)
        while Date() < deadline, !text.contains("Monitoring on http") {
            guard make.isRunning else { break }
            usleep(200_000)
            text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        }
        try #require(text.contains("PeaceHub listening on 127.0.0.1:\(port)"), "\(text)")
        #expect(text.contains("Admin API on https://127.0.0.1:\(adminPort)"))
        #expect(text.contains("Monitoring on http://127.0.0.1:\(monitoringPort)"))
        let lines = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        let subLine = try #require(lines.first { $0.hasPrefix("mosquitto_sub ") })
        let pubLine = try #require(lines.first { $0.hasPrefix("mosquitto_pub ") })
        let curlLine = try #require(lines.first { $0.hasPrefix("curl ") && $0.contains("https://") })
        let answer = try ProcessRunner.run("/bin/sh", ["-c", curlLine + " --fail --silent --show-error"], timeout: 30)
        #expect(answer.status == 0, "\(curlLine): \(answer.stderr)")
        #expect(answer.stdout.contains(#""serviceNumber":"KAZ-"#), "\(answer.stdout)")

        let received = scratch.url.appendingPathComponent("received.txt")
        _ = FileManager.default.createFile(atPath: received.path, contents: nil)
        let subscriber = Process()
        subscriber.executableURL = URL(fileURLWithPath: "/bin/sh")
        subscriber.arguments = ["-c", subLine + " -C 1 -W 30"]
        subscriber.standardOutput = try FileHandle(forWritingTo: received)
        try subscriber.run()
        let until = Date().addingTimeInterval(30)
        while subscriber.isRunning, Date() < until {
            _ = try ProcessRunner.run("/bin/sh", ["-c", pubLine], timeout: 20)
            usleep(300_000)
        }
        subscriber.waitUntilExit()
        #expect(try String(contentsOf: received, encoding: .utf8).contains("salem from IND"))
    }
}
