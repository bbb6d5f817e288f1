import Foundation
import PeaceHubCore
import PeaceHubPlugins
import PeaceHubTesting
import Testing

/// The ABI depends on no language: a module written in Rust from the header's layout alone
/// loads, works, exports only the entry point and passes the conformance checks.
@Suite struct OtherLanguageTests {
    @Test func aRustModuleLoadsAndWorks() throws {
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let manifest = try FixtureModules.buildRust(into: scratch.url)
        let module = try PluginHost(services: HostServices(now: { Date(timeIntervalSince1970: 1_800_000_000) }))
            .load(manifest: manifest)
        #expect(module.id == "org.peacehub.rust")
        #expect(module.displayName == "A module written in Rust")
        let accepted = try module.judge(MessageToJudge(topic: "missions/RUST/reports/X", payload: Array("{}".utf8)))
        #expect(accepted == .accepted(annotations: ["language": "rust", "hostSeconds": 1_800_000_000], warning: nil))
        let rejected = try module.judge(MessageToJudge(topic: "missions/RUST/reports/X", payload: Array("[]".utf8)))
        #expect(rejected == .rejected(reason: .malformed, message: "the payload is not a JSON object"))
        let request: JSONValue = ["subject": "person", "person": ["qualifications": [["code": "UN-CPTM"]]]]
        #expect(try module.readiness(request.jsonData).isEmpty)
        #expect(try module.command("describe") == ["mission": "RUST", "language": "rust"])
        #expect(module.extensionTable("peacehub.metrics/1") == nil)

        let symbols = try ProcessRunner.run(
            "nm", ["-D", "--defined-only", scratch.url.appendingPathComponent("libpeacehub_rust.so").path])
        #expect(symbols.stdout.split(separator: "\n").compactMap { $0.split(separator: " ").last } == ["phub_plugin_entry_v1"])

        let check = try ProcessRunner.peacehub(["plugins", "check", manifest.path])
        #expect(check.status == 0, "\(check.stdout)")
        #expect(check.stdout.contains("all 14 checks passed"))
    }
}
