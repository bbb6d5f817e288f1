import Foundation
import PeaceHubTesting
import Testing

/// `make install` lays out what an operator needs, and the installed binary serves with the installed
/// configuration and modules. A debug install (`CONFIGURATION=debug`) of what the tests already built
/// (`SWIFT=:`: a nested `swift build` would wait for the lock `swift test` holds).
@Suite struct InstallTests {
    @Test func theInstalledHubServesWithItsDefaultConfiguration() throws {
        let prefix = try TemporaryDirectory(prefix: "phub-install")
        defer { prefix.remove() }
        let root = prefix.url
        let make = try ProcessRunner.run(
            "make",
            ["-C", TestEnvironment.packageRoot.path, "install", "PREFIX=\(root.path)", "CONFIGURATION=debug", "SWIFT=:"],
            timeout: 300)
        try #require(make.status == 0, "\(make.stdout)\(make.stderr)")

        let binary = root.appendingPathComponent("bin/peacehub").path
        let plugins = root.appendingPathComponent("lib/peacehub/plugins")
        let data = root.appendingPathComponent("var/lib/peacehub")
        let configuration = root.appendingPathComponent("etc/peacehub/peacehub.json")
        let unit = root.appendingPathComponent("lib/systemd/system/peacehub.service")
        #expect(FileManager.default.isExecutableFile(atPath: binary))
        for mission in ["UNIFIL", "UNFICYP", "UNMOGIP", "MINURSO"] {
            let id = "org.peacehub.\(mission.lowercased())"
            for file in ["libPeaceHub\(mission).so", "\(id).plugin.json", "\(id).data/mission.json"] {
                #expect(FileManager.default.fileExists(atPath: plugins.appendingPathComponent(file).path), "\(file)")
            }
        }
        var isDirectory: ObjCBool = false
        #expect(FileManager.default.fileExists(atPath: data.path, isDirectory: &isDirectory) && isDirectory.boolValue)
        let settings = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: configuration)) as? [String: Any])
        #expect(settings["dataDirectory"] as? String == data.path)
        #expect(settings["pluginsDirectory"] as? String == plugins.path)
        let unitText = try String(contentsOf: unit, encoding: .utf8)
        #expect(unitText.contains("ExecStart=\(binary) serve --config \(configuration.path)\n"))
        #expect(unitText.contains("ExecReload=/bin/kill -HUP $MAINPID"))
        #expect(unitText.contains("ReadWritePaths=\(data.path)\n"))
        #expect(!unitText.contains("/usr/local"))

        // The installed tools only: a PKI in the installed data directory, then the hub with its configuration.
        // Without the variables the tests run with, which would override the file.
        func installed(_ arguments: [String], timeout: TimeInterval = 120) throws -> ProcessResult {
            try ProcessRunner.run(
                "env", ["-u", "PEACEHUB_PLUGINS_DIR", "-u", "PEACEHUB_DATA_DIR", binary] + arguments, timeout: timeout)
        }
        let pki = data.appendingPathComponent("pki").path
        for step in [["pki", "init", "--dir", pki], ["pki", "issue-server", "--host", "localhost", "--dir", pki]] {
            let result = try installed(step)
            try #require(result.status == 0, "\(step): \(result.stderr)")
        }
        // A command run as docs/operations.md says (the data directory in PEACEHUB_DATA_DIR) finds the modules.
        let modules = try ProcessRunner.run(
            "env", ["-u", "PEACEHUB_PLUGINS_DIR", "PEACEHUB_DATA_DIR=\(data.path)", binary, "plugins", "list"])
        #expect(
            modules.status == 0 && modules.stdout.contains("org.peacehub.unifil"), "\(modules.stdout)\(modules.stderr)")
        let check = try installed(["serve", "--config", configuration.path, "--check-config"])
        #expect(check.status == 0, "\(check.stderr)")
        #expect(check.stdout.contains("configuration OK"), "\(check.stdout)")

        let log = root.appendingPathComponent("serve.log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        let serve = Process()
        serve.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        serve.arguments = [
            "-u", "PEACEHUB_PLUGINS_DIR", "-u", "PEACEHUB_DATA_DIR", binary, "serve", "--config", configuration.path,
            "--port", "0",
        ]
        serve.standardOutput = try FileHandle(forWritingTo: log)
        serve.standardError = serve.standardOutput
        try serve.run()
        defer { if serve.isRunning { kill(serve.processIdentifier, SIGKILL) } }
        var text = ""
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, serve.isRunning, !text.contains("PeaceHub listening on") {
            usleep(100_000)
            text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        }
        try #require(text.contains("PeaceHub listening on 127.0.0.1:"), "\(text)")
        #expect(text.contains("modules: MINURSO, UNFICYP, UNIFIL, UNMOGIP"), "\(text)")
        #expect(FileManager.default.fileExists(atPath: data.appendingPathComponent("broker.sqlite").path))
        kill(serve.processIdentifier, SIGTERM)
        serve.waitUntilExit()
        #expect(serve.terminationStatus == 0)
    }
}
