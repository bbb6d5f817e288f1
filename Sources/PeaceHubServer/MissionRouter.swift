import CoreMetrics
import Dispatch
import Foundation
import Logging
import NIOCore
import PeaceHubCore
import PeaceHubMQTT
import PeaceHubPlugins
import Synchronization

/// Keeps accepted and held mission reports (the registry's report archive in the hub).
public protocol ReportArchive: Sendable {
    /// Records a report; `status` is `ACCEPTED` or `HELD` (then `reason` says why). Calls `completion` once it is
    /// kept, or with the error that kept it out, on any thread.
    func archive(_ report: ArchivedMissionReport, then completion: @escaping @Sendable ((any Error)?) -> Void)
}

/// A report as the archive keeps it.
public struct ArchivedMissionReport: Sendable, Equatable {
    public var mission: String
    public var reportType: String
    public var sender: Principal
    public var receivedAt: Date
    public var precedence: Precedence?
    public var securityLabel: String?
    /// The report body, a JSON object.
    public var body: JSONValue
    public var annotations: [String: JSONValue]
    public var status: String
    public var reason: String?

    public init(
        mission: String, reportType: String, sender: Principal, receivedAt: Date, precedence: Precedence?,
        securityLabel: String?, body: JSONValue, annotations: [String: JSONValue], status: String, reason: String?
    ) {
        self.mission = mission
        self.reportType = reportType
        self.sender = sender
        self.receivedAt = receivedAt
        self.precedence = precedence
        self.securityLabel = securityLabel
        self.body = body
        self.annotations = annotations
        self.status = status
        self.reason = reason
    }

    /// The sender as the archive and the report's readers name it: a contingent's code, or `operator:<name>`.
    public var senderName: String {
        if case .contingent(let code) = sender { code } else { sender.description }
    }
}

/// Routes `missions/<CODE>/reports/<TYPE>` through the mission's module before anyone
/// receives the report (`PublishInterceptor`).
///
/// The payload is the envelope `{"precedence", "securityLabel", "body"}`, or for an MQTT 5 publisher the body
/// with the user properties `precedence` and `security-label` (which win over the envelope's fields); the
/// module judges the body. Accepted: the envelope is delivered with the module's `annotations` (and `warning`)
/// added and the report archived. Rejected: not delivered; the sender is told the
/// module's reason. A module that fails, or does not answer within the budget, never stalls an
/// event loop: the report is archived as held and the sender told so. A report is archived before it is delivered
/// (or its sender told that it is held), once, as the first of the verdict and the deadline settled it.
///
/// Metrics: `peacehub_module_verdicts_total{mission, verdict, reason}` counts each report once, as it was
/// settled: `accepted` (reason `none`), `rejected` (the module's reason code name, or `MALFORMED` for an envelope
/// the hub refused before the module), `held` (`timeout`, `failed`, `no_module`);
/// `peacehub_module_call_duration_seconds{mission}` times each `judge_message` call that returned.
public final class MissionRouter: PublishInterceptor {
    private let plugins: PluginHost
    private let archive: (any ReportArchive)?
    private let currentBudget: Mutex<DispatchTimeInterval>
    private let logger: Logger
    /// The reports' deadlines, on a queue apart from the calls: a hung call must not hold them back.
    let deadlines = Deadlines(queue: DispatchQueue(label: "peacehub.mission-router.deadlines"))

    public init(
        plugins: PluginHost, archive: (any ReportArchive)?, budget: DispatchTimeInterval = .seconds(2),
        logger: Logger = Logger(label: "peacehub.routing")
    ) {
        self.plugins = plugins
        self.archive = archive
        self.currentBudget = Mutex(budget)
        self.logger = logger
    }

    /// How long a module may take to judge a report before it is held; a reload may change it (read per report).
    public var budget: DispatchTimeInterval {
        get { currentBudget.withLock { $0 } }
        set { currentBudget.withLock { $0 = newValue } }
    }

    public func claims(topic: String) -> Bool {
        Self.reportTopic(topic) != nil
    }

    /// `(mission, type)` of `missions/<CODE>/reports/<TYPE>`, the type empty for a topic ending in `reports/`.
    /// Asked for every PUBLISH, so it looks at the bytes before it makes any string.
    static func reportTopic(_ topic: String) -> (String, String)? {
        withUTF8(of: topic) { bytes -> (String, String)? in
            let slash = UInt8(ascii: "/")
            guard bytes.starts(with: "missions/"), let missionEnd = bytes[9...].firstIndex(of: slash),
                missionEnd > 9, UnsafeBufferPointer(rebasing: bytes[(missionEnd + 1)...]).starts(with: "reports/")
            else { return nil }
            let type = bytes[(missionEnd + 9)...]
            guard !type.contains(slash) else { return nil }
            return (String(decoding: bytes[9..<missionEnd], as: UTF8.self), String(decoding: type, as: UTF8.self))
        }
    }

    public func intercept(
        _ message: BrokerMessage, principal: Principal, completion: @escaping @Sendable (InterceptDecision) -> Void
    ) {
        guard let (mission, type) = Self.reportTopic(message.topic) else { return completion(.deliver(message)) }
        // An empty retained PUBLISH is no report: it clears the topic's retained report [MQTT-3.3.1-10].
        if message.retain, message.payload.readableBytes == 0 { return completion(.deliver(message)) }
        /// Refuses the report before its module sees it, counted as the module's rejections are.
        func refuse(_ code: RejectReason, _ reason: String) {
            Self.countVerdict(mission: mission.uppercased(), "rejected", reason: code.name)
            completion(.reject(code: code.name, reason: reason))
        }
        // `reports/+` matches an empty level too: such a report would otherwise reach its readers unjudged.
        guard !type.isEmpty else {
            return refuse(.unknownType, "a report's topic names its type: \(message.topic)<TYPE>")
        }
        // MQTT 5 publishers may give the precedence and the label as user properties, and then the bare body.
        let precedenceProperty = message.properties.userProperty(Envelope.precedenceProperty)
        let labelProperty = message.properties.userProperty(Envelope.securityLabelProperty)
        let parsed = message.payload.withUnsafeReadableBytes { bytes in
            Result { () throws(JSONParseError) in try JSONValue(parsing: bytes) }
        }
        let payload = try? parsed.get()
        var fields = payload?.objectValue ?? [:]
        if fields["body"] == nil, precedenceProperty != nil || labelProperty != nil, let payload { fields = ["body": payload] }
        guard let body = fields["body"], body.objectValue != nil else {
            var reason = Self.shapes
            if case .failure(let error) = parsed { reason = "the report is not valid JSON: \(error); " + reason }
            return refuse(.malformed, reason)
        }
        if let precedenceProperty { fields["precedence"] = .string(precedenceProperty) }
        if let labelProperty { fields["securityLabel"] = .string(labelProperty) }
        let envelope = fields
        let precedence = fields["precedence"]?.stringValue.flatMap(Precedence.init(name:))
        // The C ABI carries a precedence or none: a name it has no value for is refused here, as what it is, rather
        // than reach the module as missing; `null` is missing, as the module's `validate-report` takes it.
        if let given = fields["precedence"], given != .null, precedence == nil {
            let name = given.stringValue ?? String(decoding: given.jsonData, as: UTF8.self)
            return refuse(.invalidValue, Precedence.unknownNameProblem(name))
        }
        let label = fields["securityLabel"]?.stringValue
        // The label crosses the C ABI and goes into the registry as a C string: a U+0000 would cut it short there.
        if let label, label.unicodeScalars.contains("\u{0}") {
            return refuse(.invalidValue, "field 'securityLabel' may not hold U+0000 (NUL)")
        }
        let receivedAt = Date()
        let report = ArchivedMissionReport(
            mission: mission, reportType: type, sender: principal, receivedAt: receivedAt, precedence: precedence,
            securityLabel: label, body: body, annotations: [:], status: "ACCEPTED", reason: nil)
        guard let module = plugins.module(forMission: mission) else {
            Self.countVerdict(mission: mission.uppercased(), "held", reason: "no_module")
            let (decision, held) = hold(report, reason: "no mission module serves \(mission)")
            return archive(held, deciding: decision, completion: completion)
        }
        var senderContingent: String?
        var senderOperator: String?
        switch principal {
        case .contingent(let code): senderContingent = code
        case .operator(let name): senderOperator = name
        }
        let input = MessageToJudge(
            topic: message.topic, payload: Array(body.jsonData), senderContingent: senderContingent,
            senderOperator: senderOperator, securityLabel: label, precedence: precedence, qos: Int(message.qos.rawValue),
            receivedAt: receivedAt)
        let missionCode = module.mission
        // Each module's calls run one at a time on its own lane (never an event loop): a module that hangs holds
        // one thread and its own reports, not the others'.
        let lane = module.lane
        // A module still in a call begun more than a budget ago is taken for hung: its reports are held at once
        // rather than queued behind that call.
        if lane.hasOutlived(budget) {
            Self.countVerdict(mission: missionCode, "held", reason: "timeout")
            let (decision, held) = hold(report, reason: "the \(mission) module was not asked: \(lane.stuckReason)")
            return archive(held, deciding: decision, completion: completion)
        }
        // The first of the verdict and the deadline decides, and archives the report as it decided.
        let settled = Atomic(false)
        let settle: @Sendable (InterceptDecision, ArchivedMissionReport?, String, String) -> Void = {
            [self] decision, archived, verdict, reason in
            guard settled.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
            else { return }
            Self.countVerdict(mission: missionCode, verdict, reason: reason)
            guard let archived else { return completion(decision) }
            archive(archived, deciding: decision, completion: completion)
        }
        let deadline = deadlines.add(after: budget) { [self, report] in
            if !settled.load(ordering: .acquiring) {
                let reason = "the \(mission) module did not answer within the time budget"
                let (decision, held) = hold(report, reason: reason)
                settle(decision, held, "held", "timeout")
            }
        }
        lane.queue.async { [self, report] in
            // Settled by its deadline while it waited: the module is not asked.
            guard !settled.load(ordering: .acquiring) else { return }
            defer { deadlines.cancel(deadline) }
            var report = report
            let (judgement, nanoseconds) = lane.call {
                Result { () throws(PluginCallError) in try module.judge(input) }
            }
            CoreMetrics.Timer(label: "peacehub_module_call_duration_seconds", dimensions: [("mission", missionCode)])
                .recordNanoseconds(Int64(nanoseconds))
            do throws(PluginCallError) {
                switch try judgement.get() {
                case .rejected(let reason, let text):
                    settle(.reject(code: reason.name, reason: text), nil, "rejected", reason.name)
                case .accepted(let annotations, let warning):
                    report.annotations = annotations
                    // What the hub vouches for replaces whatever the sender put under the same names.
                    var delivered = envelope
                    delivered["annotations"] = .object(annotations)
                    delivered["warning"] = warning.map(JSONValue.string)
                    delivered["sender"] = .string(report.senderName)
                    var copy = message
                    copy.payload = ByteBuffer(bytes: JSONValue.object(delivered).jsonData)
                    settle(.deliver(copy), report, "accepted", "none")
                }
            } catch {
                let (decision, held) = hold(report, reason: "the \(mission) module failed: \(error.reason)")
                settle(decision, held, "held", "failed")
            }
        }
    }

    static let shapes =
        "a report must be the JSON envelope {\"precedence\", \"securityLabel\", \"body\": {...}}, or (MQTT 5) the body "
        + "object with the user properties precedence and security-label"

    private static func countVerdict(mission: String, _ verdict: String, reason: String) {
        Counter(
            label: "peacehub_module_verdicts_total",
            dimensions: [("mission", mission), ("verdict", verdict), ("reason", reason)]
        ).increment()
    }

    /// The decision that holds a report, and the report as the archive keeps it then.
    private func hold(
        _ report: ArchivedMissionReport, reason: String
    ) -> (InterceptDecision, ArchivedMissionReport) {
        var held = report
        held.status = "HELD"
        held.reason = reason
        logger.warning("report held", metadata: ["mission": "\(report.mission)", "reason": "\(reason)"])
        return (.hold(reason: reason), held)
    }

    /// Archives a report, then completes with `decision`. A report the archive could not keep completes as
    /// `InterceptDecision.failed` (and the failure is logged): a PUBLISH is then neither delivered nor acknowledged,
    /// and its sender sends it again, where an acknowledgement would have lost it, a held one wholly.
    private func archive(
        _ report: ArchivedMissionReport, deciding decision: InterceptDecision,
        completion: @escaping @Sendable (InterceptDecision) -> Void
    ) {
        guard let archive else { return completion(decision) }
        archive.archive(report) { [logger] error in
            guard let error else { return completion(decision) }
            logger.error(
                "could not archive a report",
                metadata: ["mission": "\(report.mission)", "status": "\(report.status)", "error": "\(error)"])
            completion(.failed(reason: "the report archive could not keep the report: \(error)", decided: decision))
        }
    }
}
