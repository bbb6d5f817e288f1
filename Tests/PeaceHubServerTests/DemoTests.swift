import Foundation
import PeaceHubTesting
import Testing

/// `make demo` end to end, against a real hub prepared and started as `make run` does.
@Suite struct DemoTests {
    @Test func theDemoPassesEveryStep() throws {
        let hub = try HubProcess()
        defer { hub.remove() }
        let script = TestEnvironment.packageRoot.appendingPathComponent("Tests/Demo/demo.py").path
        // `make demo` runs it from a shell that has no PEACEHUB_PLUGINS_DIR: the script must name the modules itself.
        let result = try ProcessRunner.run(
            "python3",
            [
                script, "--port", String(hub.port), "--data", hub.data.url.path,
                "--plugins", TestEnvironment.pluginsDirectory.path,
                "--peacehub", TestEnvironment.peacehubExecutable.path,
            ],
            environment: ["PEACEHUB_PLUGINS_DIR": hub.data.url.appendingPathComponent("no-plugins-here").path],
            timeout: 300)
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)\n--- hub log ---\n\(hub.logText.suffix(3000))")
        #expect(result.stdout.contains("demo: all 6 steps passed"))
    }
}
