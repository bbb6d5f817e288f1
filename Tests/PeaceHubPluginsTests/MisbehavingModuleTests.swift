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

    /// A module that hangs while it loads (here in its entry point) is refused after the load budget, and the
    /// modules after it load: it kept the hub from starting, naming nothing.
    @Test func aModuleThatHangsWhileLoadingIsRefusedAndTheOthersLoad() throws {
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        _ = try FixtureModules.build(.entryHang, into: scratch.url, id: "org.peacehub.a-hang", mission: "HANG")
        _ = try FixtureModules.build(.plain, into: scratch.url, id: "org.peacehub.b-plain", mission: "PLAIN")
        let host = PluginHost(loadBudget: .seconds(1))
        let start = ContinuousClock.now
        let refusals = host.loadDirectory(scratch.url)
        #expect(ContinuousClock.now - start < .seconds(5))
        #expect(refusals.count == 1)
        #expect(refusals.first?.reason.contains("did not finish loading") == true, "\(refusals)")
        #expect(refusals.first?.moduleABI == "1.0", "the manifest's, read before")
        #expect(host.modules.map(\.mission) == ["PLAIN"])
    }

    @Test(arguments: [
        ("L", "reported a length larger than the buffer"),
        ("J", "the annotations are not valid JSON (a member name in quotes was expected, column 2)"),
        ("D", #"the annotations are not valid JSON (the member name "a" appears twice in one object, column 8)"#),
        ("A", "the annotations are not a JSON object"),
        ("U", "the reason text is not valid UTF-8"),
        ("B", "asked for 1099511627776 bytes of output, more than the 16 MiB a call may return"),
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

    /// A readiness question or a command that hangs costs its caller the host's budget, and the module's next
    /// callers nothing: they are told at once while the call is stuck. Before, each held one of the admin API's
    /// two threads for good (two requests took the API down for everyone) and SIGTERM never finished.
    @Test func aHungReadinessOrCommandCostsTheBudgetOnly() throws {
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let host = PluginHost(callBudget: .milliseconds(300))
        let module = try host.load(manifest: try FixtureModules.build(.plain, into: scratch.url))
        let other = try host.load(
            manifest: try FixtureModules.build(.plain, into: scratch.url, id: "org.peacehub.other", mission: "OTHER"))
        let clock = ContinuousClock()
        let started = clock.now
        let hung = try #require(#expect(throws: PluginCallError.self) { try host.command(module, "hang") })
        #expect(hung.code == .timedOut)
        #expect(hung.reason == "the module did not answer within 0.3 seconds")
        #expect(clock.now - started < .seconds(5))
        let fast = clock.now
        for ask in [
            { _ = try host.evaluateReadiness(mission: "FIXTURE", request: Data(#"{"subject":"person"}"#.utf8)) },
            { _ = try host.command(module, "describe") },
        ] as [() throws -> Void] {
            let error = try #require(#expect(throws: PluginCallError.self) { try ask() })
            #expect(error.code == .timedOut)
            // Not asked at all: saying it "did not answer within" the budget would be wrong.
            #expect(error.reason.hasPrefix("not asked: it is still in a call it began"), "\(error.reason)")
        }
        #expect(clock.now - fast < .milliseconds(250), "told at once, not after another budget")
        #expect(try host.command(other, "describe") == ["mission": "OTHER"])
        #expect(throws: PluginCallError.self) {
            _ = try host.evaluateReadiness(mission: "OTHER", request: Data(#"{"hang": true}"#.utf8))
        }
    }

    /// What a module logs through `host->log` cannot end the log line and forge the next, nor steer a terminal.
    @Test func moduleTextCannotForgeLogLines() {
        let forged = "first\n2026-12-03T00:00:00+0000 critical peacehub.broker: forged \u{1B}[31mred\u{1B}[0m\r\u{0}"
        let logged = loggableText(forged)
        #expect(!logged.unicodeScalars.contains { $0.properties.generalCategory == .control })
        #expect(
            logged == #"first\n2026-12-03T00:00:00+0000 critical peacehub.broker: forged \u{1B}[31mred\u{1B}[0m\r\0"#)
        #expect(loggableText("plain text, ünïcödé\ttab") == #"plain text, ünïcödé\ttab"#)
        // Printable ASCII passes as it is; DEL and the C1 controls (NEL) are controls too.
        #expect(loggableText("client=kaz-1 ~!") == "client=kaz-1 ~!")
        #expect(loggableText("a\u{7F}b\u{85}c") == #"a\u{7F}b\u{0085}c"#)
        // Separators and overrides are escaped too; the marks right-to-left text needs (RLM, LRM, ALM) are kept.
        #expect(loggableText("a\u{2028}b\u{202E}c") == #"a\u{2028}b\u{202E}c"#)
        #expect(loggableText("\u{627}\u{200F}1\u{61C}") == "\u{627}\u{200F}1\u{61C}")
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
