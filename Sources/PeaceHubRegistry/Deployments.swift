import Foundation
import GRDB
import PeaceHubCore

/// A request to deploy a person or a whole contingent.
public struct DeploymentPlan: Sendable, Hashable {
    public enum Subject: Sendable, Hashable {
        case person(serviceNumber: String)
        case contingent(code: String)
    }

    public var subject: Subject
    public var mission: String
    public var role: String
    public var post: String?
    public var drawdownRole: Bool
    public var leadNation: String?
    public var hostUnit: String?
    public var rotation: Int?
    public var start: CalendarDate
    public var end: CalendarDate

    public init(
        subject: Subject, mission: String, role: String, post: String? = nil, drawdownRole: Bool = false,
        leadNation: String? = nil, hostUnit: String? = nil, rotation: Int? = nil, start: CalendarDate,
        end: CalendarDate
    ) {
        self.subject = subject
        self.mission = mission
        self.role = role
        self.post = post
        self.drawdownRole = drawdownRole
        self.leadNation = leadNation
        self.hostUnit = hostUnit
        self.rotation = rotation
        self.start = start
        self.end = end
    }
}

extension Registry {
    /// Records a planned deployment. Refused when it overlaps another tour of the same person, when the
    /// mission is closed or in liquidation on the start date, or when the actor does not own the subject.
    @discardableResult
    public func planDeployment(_ plan: DeploymentPlan, as actor: Actor) throws -> Deployment {
        guard plan.start < plan.end else {
            throw RegistryError(.invalidInput, "the deployment must end after it starts (\(plan.start)..\(plan.end))")
        }
        guard !plan.role.isEmpty else { throw RegistryError(.invalidInput, "the deployment needs a role") }
        try Self.refuseBadText(
            in: [("role", plan.role), ("post", plan.post), ("hostUnit", plan.hostUnit)], of: "deployment")
        if let lead = plan.leadNation, !Self.isCountryCode(lead) {
            throw RegistryError(.invalidInput, "lead nation '\(cut(lead))' is not an ISO 3166 alpha-3 code")
        }
        return try write(actor) { db, audit in
            guard try Mission.exists(db, key: plan.mission) else {
                throw RegistryError(.notFound, "no mission \(plan.mission)")
            }
            if let phase = try Self.phase(db, mission: plan.mission, on: plan.start),
                phase.lifecycle >= .liquidation
            {
                throw RegistryError(
                    .invariantViolated,
                    "\(plan.mission) is \(phase.lifecycle.rawValue) from \(phase.since): no new deployments")
            }
            var deployment = Deployment(
                mission: plan.mission, role: plan.role, post: plan.post, drawdownRole: plan.drawdownRole,
                leadNation: plan.leadNation, hostUnit: plan.hostUnit, rotation: plan.rotation,
                plannedStart: plan.start, plannedEnd: plan.end)
            let entityId: String
            switch plan.subject {
            case .person(let serviceNumber):
                let person = try requirePerson(db, serviceNumber)
                try requireChange(actor, contingent: person.contingent, "deployments")
                deployment.personId = person.id
                try requireNoOverlap(db, person: person, range: plan.start...plan.end, except: nil)
                entityId = serviceNumber
            case .contingent(let code):
                try requireChange(actor, contingent: code, "deployments")
                try requireContingent(db, code)
                deployment.contingent = code
                entityId = code
            }
            try deployment.insert(db)
            try audit.record(
                db, entity: "deployment", id: "\(deployment.id!)", action: "create",
                after: AuditedDeployment(subject: entityId, deployment: deployment))
            return deployment
        }
    }

    /// Moves a deployment to `status` on `date`, if the transition is legal:
    /// PLANNED → IN_TRANSIT (only if the mission module finds the subject ready) → IN_MISSION →
    /// EXTENDED (with `newEnd`) → ENDED, or REPATRIATED_EARLY from IN_TRANSIT, IN_MISSION or EXTENDED.
    /// PLANNED → ENDED cancels a plan.
    @discardableResult
    public func advanceDeployment(
        id: Int64, to status: DeploymentStatus, on date: CalendarDate, newEnd: CalendarDate? = nil,
        reason: String? = nil, as actor: Actor
    ) throws -> Deployment {
        // Moving a deployment into progress makes its contingent part of the mission (its report topics, chat
        // and archive follow): the UN's decision, so an operator's. A contingent plans and ends its own.
        if case .contingent(let code) = actor, status.isInProgress {
            throw RegistryError(
                .accessDenied, "contingent:\(code) may not move a deployment to \(status.rawValue): an operator does")
        }
        try Self.refuseBadText(in: [("reason", reason)], of: "deployment")
        // Dropped silently, either would look recorded to whoever gave it.
        if newEnd != nil, status != .extended {
            throw RegistryError(.invalidInput, "a new end date goes only with EXTENDED, not \(status.rawValue)")
        }
        if reason != nil, status != .ended, status != .repatriatedEarly {
            throw RegistryError(
                .invalidInput, "a reason goes only with ENDED or REPATRIATED_EARLY, not \(status.rawValue)")
        }
        var evaluatedRequest: Data?
        if status == .inTransit {
            // Judge readiness before taking the writer (the module may read the registry meanwhile),
            // then check inside the transaction that nothing it saw has changed.
            // The actor's right is checked first: the answer would reveal another contingent's medical status.
            let request = try database.read { db in
                if let deployment = try Deployment.fetchOne(db, key: id) {
                    try requireChange(actor, contingent: try subjectName(db, deployment).contingent, "deployments")
                }
                return try self.transitRequest(db, deploymentId: id, on: date)
            }
            let unmet = try evaluate(mission: request.mission, request: request.data)
            if !unmet.isEmpty {
                throw RegistryError(
                    .notReady,
                    "deployment \(id) is not ready for \(request.mission): \(unmet.count) unmet requirement(s)",
                    details: unmet.map { "\($0.code): \($0.message)" })
            }
            evaluatedRequest = request.data
        }
        return try write(actor) { db, audit in
            guard let before = try Deployment.fetchOne(db, key: id) else {
                throw RegistryError(.notFound, "no deployment \(id)")
            }
            let subject = try subjectName(db, before)
            try requireChange(actor, contingent: subject.contingent, "deployments")
            guard before.status.successors.contains(status) else {
                let successors = before.status.successors.map(\.rawValue).joined(separator: ", ")
                throw RegistryError(
                    .invariantViolated,
                    "deployment \(id) cannot go from \(before.status.rawValue) to \(status.rawValue) "
                        + (successors.isEmpty ? "(\(before.status.rawValue) is final)" : "(allowed: \(successors))"))
            }
            if let evaluatedRequest, try transitRequest(db, deploymentId: id, on: date).data != evaluatedRequest {
                throw RegistryError(
                    .invariantViolated, "deployment \(id) changed while readiness was being evaluated; try again")
            }
            var after = before
            after.status = status
            switch status {
            case .planned, .inTransit:
                break
            case .inMission:
                after.actualStart = date
            case .extended:
                guard let newEnd, newEnd > before.plannedEnd else {
                    throw RegistryError(
                        .invalidInput, "an extension needs a new end date after \(before.plannedEnd)")
                }
                after.plannedEnd = newEnd
                if let personId = before.personId, let person = try Person.fetchOne(db, key: personId) {
                    try requireNoOverlap(db, person: person, range: after.occupiedRange, except: id)
                }
            case .ended, .repatriatedEarly:
                if before.status != .planned {
                    guard date >= (before.actualStart ?? before.plannedStart) else {
                        throw RegistryError(.invalidInput, "the end date \(date) is before the deployment started")
                    }
                    after.actualEnd = date
                }
                after.repatriationReason = reason
            }
            try after.update(db)
            try audit.record(
                db, entity: "deployment", id: "\(id)", action: "advance",
                before: AuditedDeployment(subject: subject.name, deployment: before),
                after: AuditedDeployment(subject: subject.name, deployment: after))
            return after
        }
    }

    func requireNoOverlap(
        _ db: Database, person: Person, range: ClosedRange<CalendarDate>, except: Int64?
    ) throws {
        let others = try Deployment.filter(Deployment.Columns.personId == person.id).fetchAll(db)
        for other in others where other.id != except && !other.isCancelled && other.occupiedRange.overlaps(range) {
            throw RegistryError(
                .invariantViolated,
                "\(person.serviceNumber) already has deployment \(other.id!) to \(other.mission) "
                    + "(\(other.occupiedRange.lowerBound)..\(other.occupiedRange.upperBound), "
                    + "\(other.status.rawValue)) overlapping \(range.lowerBound)..\(range.upperBound)")
        }
    }

    /// The name for audit entries and the contingent that owns a deployment.
    func subjectName(_ db: Database, _ deployment: Deployment) throws -> (name: String, contingent: String) {
        if let code = deployment.contingent { return (code, code) }
        guard let personId = deployment.personId, let person = try Person.fetchOne(db, key: personId) else {
            throw RegistryError(.notFound, "deployment \(deployment.id ?? 0) has no subject")
        }
        return (person.serviceNumber, person.contingent)
    }

    static func phase(_ db: Database, mission: String, on date: CalendarDate) throws -> MissionPhase? {
        try MissionPhase.filter(MissionPhase.Columns.mission == mission && MissionPhase.Columns.since <= date)
            .order(MissionPhase.Columns.since.desc).fetchOne(db)
    }
}

/// A deployment as written to the audit trail: with its subject's service number or contingent code.
struct AuditedDeployment: Encodable {
    var subject: String
    var deployment: Deployment
}
