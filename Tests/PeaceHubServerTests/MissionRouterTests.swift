import Foundation
import NIOCore
import PeaceHubCore
import PeaceHubMQTT
import PeaceHubPlugins
import PeaceHubServer
import PeaceHubTesting
import Synchronization
import Testing

final class MemoryArchive: ReportArchive {
    let reports = Mutex<[ArchivedMissionReport]>([])
    func archive(_ report: ArchivedMissionReport, then completion: @escaping @Sendable ((any Error)?) -> Void) {
        reports.withLock { $0.append(report) }
        completion(nil)
    }
}

/// An archive that cannot write, as a registry on a full disk.
final class FailingArchive: ReportArchive {
    struct Full: Error {}
    func archive(_ report: ArchivedMissionReport, then completion: @escaping @Sendable ((any Error)?) -> Void) {
        completion(Full())
    }
}

/// Waits for a decision from the router, which answers from its own queue.
func decide(_ router: MissionRouter, _ message: BrokerMessage) throws -> InterceptDecision {
    let result = Mutex<InterceptDecision?>(nil)
    let done = DispatchSemaphore(value: 0)
    router.intercept(message, principal: .contingent("KAZ")) { decision in
        result.withLock { $0 = decision }
        done.signal()
    }
    #expect(done.wait(timeout: .now() + 30) == .success)
    return try #require(result.withLock { $0 })
}

func report(_ topic: String, _ envelope: JSONValue) -> BrokerMessage {
    BrokerMessage(topic: topic, payload: ByteBuffer(bytes: envelope.jsonData), qos: .atLeastOnce, publisher: .contingent("KAZ"))
}

/// Reports routed through the real UNIFIL module built by `make plugins`.
@Suite struct MissionRouterTests {
    let plugins: PluginHost = {
        let host = PluginHost()
        host.loadDirectory(TestEnvironment.pluginsDirectory)
        return host
    }()

    static let validUXO: JSONValue = [
        "precedence": "IMMEDIATE", "securityLabel": "UN RESTRICTED",
        "body": [
            "location": ["lat": 33.2, "lon": 35.4], "occurredAt": "2026-11-20T08:00:00Z", "narrative": "cluster munition found",
            "uxoType": "CLUSTER_MUNITION", "marked": true, "eodTasked": false,
        ],
    ]

    @Test func claimsOnlyReportTopics() {
        let router = MissionRouter(plugins: plugins, archive: nil)
        #expect(router.claims(topic: "missions/UNIFIL/reports/UXO"))
        #expect(!router.claims(topic: "missions/UNIFIL/chat/general"))
        #expect(!router.claims(topic: "missions/UNIFIL/reports/UXO/x"))
        #expect(!router.claims(topic: "contingents/KAZ/inbox"))
        for topic in ["missions//reports/UXO", "missions/UNIFIL", "missions/", "missions",
                      "missions/UNIFIL/reportsX/UXO", "mission/UNIFIL/reports/UXO", "missions/UNIFIL/reports/UXO/",
                      "missions/Ü/chat/reports/x"] {
            #expect(!router.claims(topic: topic), "\(topic)")
        }
        #expect(router.claims(topic: "missions/MINURSO/reports/CEASEFIRE_VIOLATION"))
        // Parsed on UTF-8 bytes: a multi-byte character on either side of a slash is no trouble.
        #expect(router.claims(topic: "missions/ÜNİ/reports/Ä"))
    }

    @Test func aValidReportIsDeliveredWithAnnotationsAndArchived() throws {
        let archive = MemoryArchive()
        let router = MissionRouter(plugins: plugins, archive: archive)
        let unifil = try #require(plugins.module(forMission: "UNIFIL"))
        // Take a report type and a valid body straight from the module's own schema check.
        let check = try unifil.command(
            "validate-report", arguments: ["type": "UXO", "precedence": "IMMEDIATE", "securityLabel": "UN RESTRICTED",
                                           "body": Self.validUXO["body"]!])
        try #require(check["accepted"] == true, "adjust the test body to the UXO schema: \(check)")
        // The sender's own `sender`, `warning` and `annotations` are the hub's to write.
        var forged = Self.validUXO.objectValue!
        forged["sender"] = "contingent:IND"
        forged["warning"] = "hub: verified sender IND"
        forged["annotations"] = ["insideArea": false]
        let decision = try decide(router, report("missions/UNIFIL/reports/UXO", .object(forged)))
        guard case .deliver(let delivered) = decision else {
            Issue.record("not delivered: \(decision)")
            return
        }
        let envelope = try JSONValue(parsing: Data(delivered.payload.readableBytesView))
        #expect(envelope["annotations"]?["insideArea"] == true)
        #expect(envelope["sender"] == "KAZ")
        #expect(envelope["warning"] == nil)
        #expect(envelope["body"] == Self.validUXO["body"])
        #expect(envelope["precedence"] == "IMMEDIATE")
        let archived = archive.reports.withLock { $0 }
        #expect(archived.count == 1)
        #expect(archived.first?.status == "ACCEPTED")
        #expect(archived.first?.reportType == "UXO")
    }

    @Test func anInvalidReportIsRejectedWithTheModulesReason() throws {
        let archive = MemoryArchive()
        let router = MissionRouter(plugins: plugins, archive: archive)
        var body = Self.validUXO["body"]!.objectValue!
        body["location"] = nil
        let envelope: JSONValue = ["precedence": "ROUTINE", "securityLabel": "UN RESTRICTED", "body": .object(body)]
        guard case .reject(let code, let reason) = try decide(router, report("missions/UNIFIL/reports/UXO", envelope)) else {
            Issue.record("not rejected")
            return
        }
        #expect(code == "MISSING_FIELD")
        #expect(reason.contains("location"))
        #expect(archive.reports.withLock { $0.isEmpty })
        guard case .reject(let malformed, _) = try decide(router, report("missions/UNIFIL/reports/UXO", ["no": "envelope"])) else {
            Issue.record("an envelope without a body was not rejected")
            return
        }
        #expect(malformed == "MALFORMED")
        // A name given twice would be read one way here and another by some subscriber: refused, and said why.
        let twice = Data(#"{"precedence":"ROUTINE","securityLabel":"UN RESTRICTED","body":{},"body":{}}"#.utf8)
        let message = BrokerMessage(
            topic: "missions/UNIFIL/reports/UXO", payload: ByteBuffer(bytes: twice), qos: .atLeastOnce,
            publisher: .contingent("KAZ"))
        guard case .reject(let code, let why) = try decide(router, message) else {
            Issue.record("a repeated name was not rejected")
            return
        }
        #expect(code == "MALFORMED")
        #expect(why.hasPrefix(#"the report is not valid JSON: the member name "body" appears twice in one object"#))
    }

    /// A precedence the ABI has no value for is refused as invalid (not taken for a missing one), and a label of
    /// blanks and line breaks is no label.
    @Test func anUnknownPrecedenceIsInvalidAndABlankLabelMissing() throws {
        let router = MissionRouter(plugins: plugins, archive: MemoryArchive())
        let topic = "missions/UNIFIL/reports/UXO"
        for (given, shown) in [("URGENT", "URGENT"), ("immediate", "immediate")] as [(JSONValue, String)] + [(7, "7")] {
            var envelope = Self.validUXO.objectValue!
            envelope["precedence"] = given
            guard case .reject(let code, let reason) = try decide(router, report(topic, .object(envelope))) else {
                Issue.record("precedence \(given) was not rejected")
                continue
            }
            #expect(code == "INVALID_VALUE")
            #expect(reason == "field 'precedence' must be one of ROUTINE, PRIORITY, IMMEDIATE, FLASH, not '\(shown)'")
        }
        var unlabelled = Self.validUXO.objectValue!
        unlabelled["securityLabel"] = " \n\t"
        guard case .reject(let code, let reason) = try decide(router, report(topic, .object(unlabelled))) else {
            Issue.record("a blank label was not rejected")
            return
        }
        #expect(code == "MISSING_FIELD")
        #expect(reason.contains("securityLabel"))
        // The ABI and the registry take C strings: "UN\0 RESTRICTED" would have reached both as "UN".
        var cut = Self.validUXO.objectValue!
        cut["securityLabel"] = "UN\u{0} RESTRICTED"
        guard case .reject(let cutCode, let cutReason) = try decide(router, report(topic, .object(cut))) else {
            Issue.record("a label with U+0000 was not rejected")
            return
        }
        #expect(cutCode == "INVALID_VALUE")
        #expect(cutReason == "field 'securityLabel' may not hold U+0000 (NUL)")
        // `validate-report` answers as the hub does: `null` is a missing precedence, and U+0000 is refused.
        let unifil = try #require(plugins.module(forMission: "UNIFIL"))
        var unranked = Self.validUXO.objectValue!
        unranked["precedence"] = .null
        guard case .reject(let nullCode, _) = try decide(router, report(topic, .object(unranked))) else {
            Issue.record("a null precedence was not rejected")
            return
        }
        #expect(nullCode == "MISSING_FIELD")
        for (envelope, code) in [(unranked, "MISSING_FIELD"), (cut, "INVALID_VALUE")] {
            var arguments = envelope
            arguments["type"] = "UXO"
            let check = try unifil.command("validate-report", arguments: .object(arguments))
            #expect(check["accepted"] == false && check["reason"] == .string(code), "\(check)")
        }
    }

    /// `reports/+` lets a contingent publish on `missions/UNIFIL/reports/`: that report reached its readers unjudged
    /// and unarchived. It is claimed and rejected.
    @Test func aReportTopicWithoutATypeIsRejected() throws {
        let router = MissionRouter(plugins: plugins, archive: MemoryArchive())
        #expect(router.claims(topic: "missions/UNIFIL/reports/"))
        guard case .reject(let code, let reason) = try decide(router, report("missions/UNIFIL/reports/", Self.validUXO))
        else {
            Issue.record("a report without a type was not rejected")
            return
        }
        #expect(code == "UNKNOWN_TYPE")
        #expect(reason == "a report's topic names its type: missions/UNIFIL/reports/<TYPE>")
    }

    /// An empty retained PUBLISH clears the topic's retained report [MQTT-3.3.1-10]: it passes unjudged and
    /// unarchived. An empty one that is not retained is a report, and malformed.
    @Test func anEmptyRetainedPublishClearsARetainedReport() throws {
        let archive = MemoryArchive()
        let router = MissionRouter(plugins: plugins, archive: archive)
        var clear = BrokerMessage(topic: "missions/UNIFIL/reports/UXO", payload: ByteBuffer(), qos: .atLeastOnce)
        clear.retain = true
        guard case .deliver(let delivered) = try decide(router, clear) else {
            Issue.record("the clearing PUBLISH was judged")
            return
        }
        #expect(delivered.payload.readableBytes == 0 && delivered.retain)
        clear.retain = false
        guard case .reject(let code, _) = try decide(router, clear) else {
            Issue.record("an empty report was not rejected")
            return
        }
        #expect(code == "MALFORMED")
        #expect(archive.reports.withLock { $0 }.isEmpty)
    }

    @Test func aModuleThatHangsHoldsTheReportAfterTheBudget() throws {
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let host = PluginHost()
        try host.load(manifest: try FixtureModules.build(.hang, into: scratch.url, id: "org.peacehub.slow", mission: "SLOW"))
        let archive = MemoryArchive()
        let router = MissionRouter(plugins: host, archive: archive, budget: .milliseconds(300))
        let decision = try decide(router, report("missions/SLOW/reports/X", ["body": ["a": 1]]))
        guard case .hold(let reason) = decision else {
            Issue.record("not held: \(decision)")
            return
        }
        #expect(reason.contains("did not answer within the time budget"))
        #expect(archive.reports.withLock { $0.map(\.status) } == ["HELD"])
    }

    /// A module that hangs keeps one thread and its own reports: each of them is held at its deadline (or at once,
    /// once the module is known to hang), and another mission's reports go on being judged.
    @Test func aHungModuleDelaysNoOtherMission() throws {
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let host = PluginHost()
        host.loadDirectory(TestEnvironment.pluginsDirectory)
        try host.load(
            manifest: try FixtureModules.build(.hang, into: scratch.url, id: "org.peacehub.stuck", mission: "STUCK"))
        let router = MissionRouter(plugins: host, archive: MemoryArchive(), budget: .milliseconds(300))
        let held = Atomic(0)
        let started = Date()
        for _ in 0..<16 {
            router.intercept(report("missions/STUCK/reports/X", ["body": ["a": 1]]), principal: .contingent("KAZ")) {
                if case .hold = $0 { held.add(1, ordering: .relaxed) }
            }
        }
        guard case .deliver = try decide(router, report("missions/UNIFIL/reports/UXO", Self.validUXO)) else {
            Issue.record("the UNIFIL report was not delivered")
            return
        }
        #expect(Date().timeIntervalSince(started) < 2)
        let deadline = Date().addingTimeInterval(5)
        while held.load(ordering: .relaxed) < 16, Date() < deadline { usleep(10_000) }
        #expect(held.load(ordering: .relaxed) == 16)
        #expect(Date().timeIntervalSince(started) < 2)
        // Known to hang now: held without waiting for another deadline, and without asking the module.
        let before = Date()
        guard case .hold(let reason) = try decide(router, report("missions/STUCK/reports/X", ["body": ["a": 1]])) else {
            Issue.record("not held")
            return
        }
        #expect(reason.hasPrefix("the STUCK module was not asked: it is still in a call it began"), "\(reason)")
        #expect(Date().timeIntervalSince(before) < 0.2)
    }

    /// A report the archive cannot keep, accepted or held, is not acknowledged (`failed`): it was acknowledged and
    /// delivered unarchived, and a held one, neither archived nor delivered, was lost.
    @Test(arguments: ["missions/UNIFIL/reports/UXO", "missions/UNDOF/reports/UXO"])
    func aReportTheArchiveCannotKeepFails(topic: String) throws {
        let router = MissionRouter(plugins: plugins, archive: FailingArchive())
        guard case .failed(let reason, _) = try decide(router, report(topic, Self.validUXO)) else {
            Issue.record("not failed")
            return
        }
        #expect(reason.hasPrefix("the report archive could not keep the report"))
    }

    @Test func aReportForAMissionWithoutAModuleIsHeld() throws {
        let archive = MemoryArchive()
        let router = MissionRouter(plugins: plugins, archive: archive)
        guard case .hold = try decide(router, report("missions/UNDOF/reports/X", ["body": ["a": 1]])) else {
            Issue.record("not held")
            return
        }
        #expect(archive.reports.withLock { $0.first?.reason } == "no mission module serves UNDOF")
    }
}
