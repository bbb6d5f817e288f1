import Foundation
import PeaceHubCore
import PeaceHubPlugins
import PeaceHubTesting
import Synchronization
import Testing

/// The C template and the Swift example, loaded from `make plugins`'s output through the host
/// and called through every table function.
@Suite struct PluginHostTests {
    let examples = TestEnvironment.examplesDirectory

    @Test func loadsTheCTemplateAndTheSwiftExampleTogether() throws {
        let host = PluginHost()
        let refusals = host.loadDirectory(examples)
        #expect(refusals.isEmpty, "\(refusals)")
        #expect(Set(host.modules.map(\.mission)) == ["EXAMPLE", "TEMPLATE"])
        let template = try #require(host.module(forMission: "template"))
        #expect(template.id == "org.peacehub.template-c")
        #expect(template.version == "1.0.0")
        #expect(template.displayName == "Template mission module (C)")
    }

    @Test(arguments: ["EXAMPLE", "TEMPLATE"])
    func callsEveryTableFunction(mission: String) throws {
        let host = PluginHost()
        host.loadDirectory(examples)
        let module = try #require(host.module(forMission: mission))

        let valid = MessageToJudge(
            topic: "missions/\(mission)/reports/PATROL", payload: Array(#"{"summary":"quiet night"}"#.utf8),
            senderContingent: "KAZ", securityLabel: "UN RESTRICTED", precedence: .priority, qos: 1)
        guard case .accepted(let annotations, let warning) = try module.judge(valid) else {
            Issue.record("a valid report was rejected")
            return
        }
        #expect(!annotations.isEmpty)
        #expect(warning == nil)

        let invalid = MessageToJudge(topic: "missions/\(mission)/reports/PATROL", payload: Array("not json".utf8))
        guard case .rejected(let reason, let message) = try module.judge(invalid) else {
            Issue.record("a payload that is not JSON was accepted")
            return
        }
        #expect(reason == .malformed)
        #expect(message.contains("JSON"))

        let trained: JSONValue = [
            "subject": "person", "mission": .string(mission), "asOf": "2027-01-10",
            "person": ["serviceNumber": "KAZ-1", "qualifications": [["kind": "TRAINING", "code": "UN-CPTM"]]],
        ]
        #expect(try module.readiness(trained.jsonData).isEmpty)
        let untrained: JSONValue = [
            "subject": "person", "mission": .string(mission), "asOf": "2027-01-10",
            "person": ["serviceNumber": "KAZ-2", "qualifications": []],
        ]
        let unmet = try module.readiness(untrained.jsonData)
        #expect(unmet.count == 1)
        #expect(unmet.first?.code.hasPrefix("TRAINING") == true)
        // A contingent is judged member by member (`deploy advance` asks before anyone is assigned: no members).
        let contingent: JSONValue = [
            "subject": "contingent", "mission": .string(mission), "asOf": "2027-01-10",
            "contingent": ["code": "KGZ", "name": "Kyrgyz company", "pcrsLevel": "L1", "members": []],
        ]
        #expect(try module.readiness(contingent.jsonData).isEmpty)
        let staffed: JSONValue = [
            "subject": "contingent", "mission": .string(mission), "asOf": "2027-01-10",
            "contingent": [
                "code": "KGZ", "name": "Kyrgyz company",
                "members": [
                    ["serviceNumber": "KGZ-1", "qualifications": [["kind": "TRAINING", "code": "UN-CPTM"]]],
                    ["serviceNumber": "KGZ-\"2\"", "qualifications": [["kind": "TRAINING", "code": "POC"]]],
                ],
            ],
        ]
        let members = try module.readiness(staffed.jsonData)
        #expect(members.map(\.serviceNumber) == ["KGZ-\"2\""])
        #expect(#expect(throws: PluginCallError.self) {
            try module.readiness(JSONValue.object(["subject": "unit"]).jsonData)
        }?.code == .invalidArgument)

        #expect(try module.command("describe")["mission"]?.stringValue == mission)
        #expect(#expect(throws: PluginCallError.self) {
            try module.command("no-such-command")
        }?.code == .unsupported)
        #expect(module.extensionTable("org.peacehub.none/1") == nil)
    }

    @Test func theSwiftKitMapsErrorsAndConfiguration() throws {
        let host = PluginHost(services: HostServices(configuration: { _ in ["greeting": "salem"] }))
        host.loadDirectory(examples)
        let module = try #require(host.module(forMission: "EXAMPLE"))
        #expect(try module.command("describe")["greeting"]?.stringValue == "salem")
        #expect(try module.command("echo", arguments: ["a": [1, 2]]) == ["a": [1, 2]])
        #expect(#expect(throws: PluginCallError.self) {
            try module.readiness(Data("{\"subject\":\"person\"}".utf8))
        }?.code == .invalidArgument)
        #expect(#expect(throws: PluginCallError.self) {
            try module.readiness(Data("[1, 2".utf8))
        }?.code == .invalidArgument)
    }

    /// The C template built against a newer minor of the header (a host table with a field more) loads in this
    /// host, as abi.md promises: it compared the table with its own sizeof and refused every older host.
    @Test func theCTemplateBuiltForANewerMinorLoadsInThisHost() throws {
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let include = scratch.url.appendingPathComponent("include")
        try FileManager.default.copyItem(at: TestEnvironment.abiIncludeDirectory, to: include)
        func edit(_ file: String, replacing old: String, with new: String) throws {
            let url = include.appendingPathComponent(file)
            let text = try String(contentsOf: url, encoding: .utf8)
            #expect(text.contains(old), "\(file)")
            try text.replacingOccurrences(of: old, with: new).write(to: url, atomically: true, encoding: .utf8)
        }
        try edit(
            "peacehub/host.h", replacing: "const char *id);\n};",
            with: "const char *id);\n    void *(*added_in_a_newer_minor)(void);\n};")
        // Its table says 1.1, as the manifest does.
        try edit("peacehub/version.h", replacing: "#define PHUB_ABI_MINOR 0u", with: "#define PHUB_ABI_MINOR 1u")
        let library = scratch.url.appendingPathComponent("libtemplate_newer.so")
        let source = TestEnvironment.packageRoot.appendingPathComponent("Plugins/template-c/template.c")
        let built = try ProcessRunner.run(
            "cc", ["-std=c11", "-shared", "-fPIC", "-I", include.path, source.path, "-o", library.path])
        try #require(built.status == 0, "\(built.stderr)")
        let manifest = try FixtureModules.writeManifest(
            library: library, id: "org.peacehub.template-c", mission: "TEMPLATE", abiMinor: 1)
        let module = try PluginHost().load(manifest: manifest)
        let verdict = try module.judge(
            MessageToJudge(
                topic: "missions/TEMPLATE/reports/UXO", payload: Array("{}".utf8), senderContingent: "KAZ",
                securityLabel: "UN UNCLASSIFIED", precedence: .routine, qos: 1))
        guard case .accepted = verdict else {
            Issue.record("\(verdict)")
            return
        }
    }

    @Test func hostServicesReachTheModule() throws {
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let manifest = try FixtureModules.build(.services, into: scratch.url)
        let published = Mutex<[HostServices.Publication]>([])
        let services = HostServices(
            now: { Date(timeIntervalSince1970: 1_800_000_000) },
            publish: { publication in
                published.withLock { $0.append(publication) }
                return .accepted
            },
            registry: { kind, key in
                kind == "person" && key == "KAZ-1" ? .found(Data(#"{"serviceNumber":"KAZ-1"}"#.utf8)) : .notFound
            },
            configuration: { id in id == "org.peacehub.fixture" ? ["teamSites": 12] : [:] })
        let host = PluginHost(services: services)
        let module = try host.load(manifest: manifest)
        let report = try module.command("services")
        #expect(report["host"]?.stringValue == "peacehub")
        #expect(report["alloc"] == 1)
        #expect(report["unixSeconds"] == 1_800_000_000)
        #expect(report["monotonicPositive"] == 1)
        #expect(report["configStatus"] == 0)
        #expect(report["config"] == ["teamSites": 12])
        #expect(report["registryStatus"] == 0)
        #expect(report["record"] == ["serviceNumber": "KAZ-1"])
        #expect(report["missingStatus"] == .number(Double(4)))  // PHUB_ERR_NOT_FOUND
        #expect(report["ownPublish"] == 0)
        #expect(report["foreignPublish"] == .number(Double(5)))  // PHUB_ERR_DENIED: outside its mission
        // PHUB_ERR_INVALID_ARGUMENT: a topic MQTT cannot carry (the hub stopped when it was delivered), an empty
        // one, a size no message can have (the hub stopped allocating it).
        let invalid = JSONValue.number(1)
        #expect(report["longTopicPublish"] == invalid && report["emptyTopicPublish"] == invalid)
        #expect(report["hugePublish"] == invalid)
        #expect(report["metrics"] == 1)
        #expect(report["unknownExtension"] == 0)
        let seen = published.withLock { $0 }
        #expect(seen.count == 1)
        #expect(seen.first?.topic == "missions/FIXTURE/notices")
        #expect(seen.first?.precedence == .flash)
        #expect(seen.first?.moduleID == "org.peacehub.fixture")
    }

    @Test func theMessageStructCarriesEveryField() throws {
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let module = try PluginHost().load(manifest: try FixtureModules.build(.plain, into: scratch.url))
        let verdict = try module.judge(
            MessageToJudge(
                topic: "missions/FIXTURE/reports/UXO", payload: Array("{}".utf8), senderContingent: "TJK",
                securityLabel: "UN CONFIDENTIAL", precedence: .immediate, qos: 2))
        #expect(
            verdict
                == .accepted(
                    annotations: [
                        "topic": "missions/FIXTURE/reports/UXO", "reportType": "UXO", "sender": "TJK",
                        "label": "UN CONFIDENTIAL", "precedence": 3, "qos": 2,
                    ], warning: nil))
        // A 40 KB readiness answer is larger than the host's first buffer: the host grows it once.
        let unmet = try module.readiness(Data("{}".utf8))
        #expect(unmet.first?.message.count ?? 0 > 30_000)
    }

    @Test func aRefusedModuleDoesNotStopTheOthers() throws {
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        try FixtureModules.build(.plain, into: scratch.url, id: "org.peacehub.good", mission: "GOOD")
        try FixtureModules.build(.createFails, into: scratch.url, id: "org.peacehub.bad", mission: "BAD")
        try FixtureModules.build(.noEntry, into: scratch.url, id: "org.peacehub.empty", mission: "EMPTY")
        try "not json".write(toFile: scratch.path("broken.plugin.json"), atomically: true, encoding: .utf8)
        let host = PluginHost()
        let refusals = host.loadDirectory(scratch.url)
        #expect(host.modules.map(\.mission) == ["GOOD"])
        #expect(Set(refusals.map(\.code)) == [.createFailed, .noEntrySymbol, .manifestInvalid])
    }

    @Test func oneModulePerMission() throws {
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let first = try FixtureModules.build(.plain, into: scratch.url, id: "org.peacehub.one", mission: "SAME")
        let second = try FixtureModules.build(.plain, into: scratch.url, id: "org.peacehub.two", mission: "SAME")
        let host = PluginHost()
        try host.load(manifest: first)
        let refused = #expect(throws: PluginLoadError.self) { try host.load(manifest: second) }
        #expect(refused?.code == .duplicate && refused?.reason == "module org.peacehub.one already serves mission SAME")
        // One id for two missions is named as the id (it read "already serves mission SAME").
        let other = try TemporaryDirectory()
        defer { other.remove() }
        let twin = try FixtureModules.build(.plain, into: other.url, id: "org.peacehub.one", mission: "OTHER")
        let sameID = #expect(throws: PluginLoadError.self) { try host.load(manifest: twin) }
        #expect(
            sameID?.reason == "a module with the id org.peacehub.one is loaded already (it serves mission SAME)",
            "\(sameID?.reason ?? "")")
    }

    @Test func readinessThroughTheProtocolTheRegistryUses() throws {
        let host = PluginHost()
        host.loadDirectory(examples)
        let evaluator: any ReadinessEvaluating = host
        let request: JSONValue = ["subject": "person", "person": ["qualifications": []]]
        #expect(try evaluator.evaluateReadiness(mission: "EXAMPLE", request: request.jsonData).count == 1)
        #expect(throws: PluginCallError.self) {
            try evaluator.evaluateReadiness(mission: "NOWHERE", request: request.jsonData)
        }
    }
}
