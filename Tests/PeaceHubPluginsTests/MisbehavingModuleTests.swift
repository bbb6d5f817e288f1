import Foundation
import PeaceHubCore
@testable import PeaceHubPlugins
import PeaceHubTesting
import Testing

/// A module that returns garbage costs that call an error, never the host's life.
@Suite struct MisbehavingModuleTests {
    func garbageModule() throws -> (ModuleInstance, TemporaryDirectory) {
        let scratch = try TemporaryDirectory()
        let module = try PluginHost().load(manifest: try FixtureModules.build(.garbage, into: scratch.url))
        return (module, scratch)
    }

    @Test(arguments: [
        ("L", "reported a length larger than the buffer"),
        ("J", "the annotations are not a JSON object"),
        ("U", "the reason text is not valid UTF-8"),
        ("B", "asked for 1099511627776 bytes of output"),
        ("?", "unknown verdict decision 7"),
    ])
    func garbageVerdictsAreErrorsOfTheCall(payload: String, reason: String) throws {
        let (module, scratch) = try garbageModule()
        defer { scratch.remove() }
        let error = try #require(
            #expect(throws: PluginCallError.self) {
                try module.judge(MessageToJudge(topic: "missions/FIXTURE/reports/X", payload: Array(payload.utf8)))
            })
        #expect(error.code == .badOutput)
        #expect(error.reason == reason)
        #expect(error.function == "judge_message")
    }

    /// What a module logs through `host->log` cannot end the log line and forge the next, nor steer a terminal.
    @Test func moduleTextCannotForgeLogLines() {
        let forged = "first\n2026-12-03T00:00:00+0000 critical peacehub.broker: forged \u{1B}[31mred\u{1B}[0m\r\u{0}"
        let logged = loggableModuleText(forged)
        #expect(!logged.unicodeScalars.contains { $0.properties.generalCategory == .control })
        #expect(
            logged == #"first\n2026-12-03T00:00:00+0000 critical peacehub.broker: forged \u{1B}[31mred\u{1B}[0m\r\0"#)
        #expect(loggableModuleText("plain text, ünïcödé\ttab") == #"plain text, ünïcödé\ttab"#)
    }

    @Test func garbageReadinessAndCommandOutput() throws {
        let (module, scratch) = try garbageModule()
        defer { scratch.remove() }
        let readiness = try #require(#expect(throws: PluginCallError.self) { try module.readiness(Data("{}".utf8)) })
        #expect(readiness.code == .badOutput)
        #expect(readiness.reason.contains("lacks a string 'code'"))
        let command = try #require(#expect(throws: PluginCallError.self) { try module.command("json") })
        #expect(command.code == .badOutput)
        #expect(command.reason.contains("not valid JSON"))
        // A failure without a message says so; one with control characters in its message cannot forge lines.
        let quiet = try #require(#expect(throws: PluginCallError.self) { try module.command("fail-quietly") })
        #expect(quiet.code == .failed && quiet.reason.hasSuffix(": no message"), "\(quiet.reason)")
        let loud = try #require(#expect(throws: PluginCallError.self) { try module.command("fail-loudly") })
        #expect(loud.reason.hasSuffix(#": one line\nand a forged one \u{1B}[31m"#), "\(loud.reason)")
        // The module still answers afterwards.
        #expect(try module.command("describe") == ["mission": "FIXTURE"])
    }
}
