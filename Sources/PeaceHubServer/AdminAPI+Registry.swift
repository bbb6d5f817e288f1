import Foundation
import PeaceHubCore
import PeaceHubHTTP
import PeaceHubRegistry

// The registry's routes: each one calls the registry function the `peacehub registry` CLI calls for the same
// thing, as the caller's principal.
extension AdminAPI {
    // MARK: - Persons and qualifications

    func addPersonRoutes(_ router: inout Router) {
        route(&router, .GET, "/persons", query: Self.paged(Self.personFilters)) { request, caller in
            let page = try PageRequest(request)
            let query = PersonQuery(
                contingent: try Self.countryCode(request, "contingent"),
                category: try request.queryValue("category", expected: Self.names(PersonCategory.self)) {
                    PersonCategory(name: $0)
                },
                nationality: try Self.countryCode(request, "nationality"),
                sex: try request.queryValue("sex", expected: "F or M") { Sex(name: $0) },
                mission: request.queryValue("mission"),
                deploymentStatus: try request.queryValue(
                    "deploymentStatus", expected: Self.names(DeploymentStatus.self)
                ) { DeploymentStatus(name: $0) })
            let persons = try registry.persons(matching: query, after: page.after, limit: page.limit + 1, as: caller)
            let views = persons.map { PersonView($0, restricted: !caller.mayChange(contingent: $0.contingent)) }
            return .json(Page(fetched: views, page: page, request: request) { $0.serviceNumber })
        }
        route(&router, .POST, "/persons") { request, caller in
            let person = try request.decode(PersonBody.self).person
            try registry.addPerson(person, as: caller)
            return created(
                PersonRecordView(try registry.person(serviceNumber: person.serviceNumber, as: caller)),
                at: "/persons/\(Self.escape(person.serviceNumber))")
        }
        route(&router, .GET, "/persons/{serviceNumber}") { request, caller in
            let record = try registry.person(serviceNumber: request.parameter("serviceNumber"), as: caller)
            return .json(PersonRecordView(record))
        }
        route(&router, .PATCH, "/persons/{serviceNumber}") { request, caller in
            let patch = try request.decode(PersonPatch.self)
            var serviceNumber = request.parameter("serviceNumber")
            try registry.updatePerson(serviceNumber: serviceNumber, as: caller) { person in
                try patch.apply(to: &person)
                serviceNumber = person.serviceNumber
            }
            return .json(PersonRecordView(try registry.person(serviceNumber: serviceNumber, as: caller)))
        }
        route(&router, .DELETE, "/persons/{serviceNumber}") { request, caller in
            try registry.removePerson(serviceNumber: request.parameter("serviceNumber"), as: caller)
            return .noContent
        }
        route(
            &router, .GET, "/persons/{serviceNumber}/qualifications", query: Self.paged(["validOn", "kind"])
        ) { request, caller in
            let validOn = try request.queryValue("validOn", expected: "a date YYYY-MM-DD") { CalendarDate($0) }
            let kind = try request.queryValue("kind", expected: Self.names(QualificationKind.self)) {
                QualificationKind(name: $0)
            }
            let list = try registry.qualifications(
                serviceNumber: request.parameter("serviceNumber"), validOn: validOn, as: caller)
            let views = list.filter { kind == nil || $0.kind == kind }.map(QualificationView.init)
            return .json(try Page(all: views, page: try PageRequest(request), request: request) { $0.id })
        }
        route(&router, .POST, "/persons/{serviceNumber}/qualifications") { request, caller in
            let serviceNumber = request.parameter("serviceNumber")
            let added = try registry.addQualification(
                try request.decode(QualificationBody.self).qualification, serviceNumber: serviceNumber, as: caller)
            return created(
                QualificationView(added),
                at: "/persons/\(Self.escape(serviceNumber))/qualifications/\(added.id ?? 0)")
        }
        route(&router, .PATCH, "/persons/{serviceNumber}/qualifications/{id}") { request, caller in
            let patch = try request.decode(QualificationPatch.self)
            let updated = try registry.updateQualification(
                id: try Self.id(request), serviceNumber: request.parameter("serviceNumber"), as: caller
            ) { qualification in try patch.apply(to: &qualification) }
            return .json(QualificationView(updated))
        }
        route(&router, .DELETE, "/persons/{serviceNumber}/qualifications/{id}") { request, caller in
            try registry.removeQualification(
                id: try Self.id(request), serviceNumber: request.parameter("serviceNumber"), as: caller)
            return .noContent
        }
        route(&router, .GET, "/persons/{serviceNumber}/readiness", query: ["mission", "asOf"]) { request, caller in
            let serviceNumber = request.parameter("serviceNumber")
            let (mission, asOf) = try Self.readinessQuery(request)
            let unmet = try registry.readiness(serviceNumber: serviceNumber, mission: mission, asOf: asOf, as: caller)
            return .json(
                ReadinessView(subject: serviceNumber, mission: mission, asOf: asOf, ready: unmet.isEmpty, unmet: unmet))
        }
    }

    static let personFilters: Set<String> = [
        "contingent", "category", "nationality", "sex", "mission", "deploymentStatus",
    ]

    // MARK: - Deployments

    func addDeploymentRoutes(_ router: inout Router) {
        route(&router, .GET, "/deployments", query: Self.paged(["mission", "contingent", "status"])) { request, _ in
            let page = try PageRequest(request)
            let status = try request.queryValue("status", expected: Self.names(DeploymentStatus.self)) {
                DeploymentStatus(name: $0)
            }
            let after = try Self.integerCursor(page)
            let list = try registry.deployments(
                mission: request.queryValue("mission"), contingent: try Self.countryCode(request, "contingent"),
                status: status, after: after, limit: page.limit + 1)
            let views = list.map { DeploymentView($0.deployment, subject: $0.subject) }
            return .json(Page(fetched: views, page: page, request: request) { String($0.id) })
        }
        route(&router, .POST, "/deployments") { request, caller in
            let plan = try request.decode(DeploymentPlanBody.self).plan()
            let deployment = try registry.planDeployment(plan, as: caller)
            let subject =
                switch plan.subject {
                case .person(let serviceNumber): serviceNumber
                case .contingent(let code): code
                }
            return created(DeploymentView(deployment, subject: subject), at: "/deployments/\(deployment.id ?? 0)")
        }
        route(&router, .GET, "/deployments/{id}") { request, _ in
            let found = try registry.deployment(id: try Self.id(request))
            return .json(DeploymentView(found.deployment, subject: found.subject))
        }
        route(&router, .POST, "/deployments/{id}/transitions") { request, caller in
            let body = try request.decode(TransitionBody.self)
            return try advance(
                request, to: body.to, on: body.on, newEnd: body.until, reason: body.reason, as: caller)
        }
        route(&router, .POST, "/deployments/{id}/end") { request, caller in
            let body = try request.decode(EndBody.self)
            return try advance(
                request, to: body.early == true ? .repatriatedEarly : .ended, on: body.on, newEnd: nil,
                reason: body.reason, as: caller)
        }
    }

    /// Moves a deployment on: the registry checks the transition, and asks the mission module for IN_TRANSIT.
    private func advance(
        _ request: Request, to status: DeploymentStatus, on date: CalendarDate?, newEnd: CalendarDate?,
        reason: String?, as caller: Principal
    ) throws -> Response {
        let id = try Self.id(request)
        let deployment = try registry.advanceDeployment(
            id: id, to: status, on: date ?? .today, newEnd: newEnd, reason: reason, as: caller)
        return .json(DeploymentView(deployment, subject: try registry.deployment(id: id).subject))
    }

    // MARK: - Equipment

    func addEquipmentRoutes(_ router: inout Router) {
        route(&router, .GET, "/equipment", query: Self.paged(["contingent", "status", "coeClass"])) { request, _ in
            let page = try PageRequest(request)
            let list = try registry.equipment(
                contingent: try Self.countryCode(request, "contingent"),
                status: try request.queryValue("status", expected: Self.names(EquipmentStatus.self)) {
                    EquipmentStatus(name: $0)
                },
                coeClass: try request.queryValue("coeClass", expected: Self.names(COEClass.self)) {
                    COEClass(name: $0)
                },
                after: page.after, limit: page.limit + 1)
            return .json(Page(fetched: list.map(EquipmentView.init), page: page, request: request) { $0.serial })
        }
        route(&router, .POST, "/equipment") { request, caller in
            let added = try registry.addEquipment(try request.decode(EquipmentBody.self).equipment, as: caller)
            return created(EquipmentView(added), at: "/equipment/\(Self.escape(added.serial))")
        }
        route(&router, .GET, "/equipment/{serial}") { request, _ in
            let serial = request.parameter("serial")
            let equipment = try registry.equipment(serial: serial)
            let inspections = try registry.inspections(serial: serial).map(InspectionView.init)
            return .json(EquipmentRecordView(equipment: EquipmentView(equipment), inspections: inspections))
        }
        route(&router, .PATCH, "/equipment/{serial}") { request, caller in
            let patch = try request.decode(EquipmentPatch.self)
            let updated = try registry.updateEquipment(serial: request.parameter("serial"), as: caller) { equipment in
                try patch.apply(to: &equipment)
            }
            return .json(EquipmentView(updated))
        }
        route(&router, .DELETE, "/equipment/{serial}") { request, caller in
            try registry.removeEquipment(serial: request.parameter("serial"), as: caller)
            return .noContent
        }
        route(&router, .POST, "/equipment/{serial}/inspections") { request, caller in
            let body = try request.decode(InspectionBody.self)
            let inspection = try registry.addInspection(
                serial: request.parameter("serial"), type: body.type, date: body.date ?? .today, result: body.result,
                as: caller)
            return created(InspectionView(inspection), at: "/equipment/\(Self.escape(request.parameter("serial")))")
        }
    }

    // MARK: - Contingents, missions, readiness, reports

    func addMissionRoutes(_ router: inout Router) {
        route(&router, .GET, "/contingents", query: Self.paged([])) { request, _ in
            let contingents = try registry.contingents()
            return .json(try Page(all: contingents, page: try PageRequest(request), request: request) { $0.code })
        }
        route(&router, .GET, "/missions", query: Self.paged(["date"])) { request, _ in
            let date = try request.queryValue("date", expected: "a date YYYY-MM-DD") { CalendarDate($0) } ?? .today
            let missions = try registry.missions(on: date)
            return .json(try Page(all: missions, page: try PageRequest(request), request: request) { $0.mission.code })
        }
        route(&router, .GET, "/missions/{mission}", query: ["date"]) { request, _ in
            let date = try request.queryValue("date", expected: "a date YYYY-MM-DD") { CalendarDate($0) } ?? .today
            return .json(try registry.mission(code: request.parameter("mission"), on: date))
        }
        route(
            &router, .GET, "/missions/{mission}/readiness", query: Self.paged(["contingent", "asOf"])
        ) { request, caller in
            let mission = request.parameter("mission")
            let asOf = try request.queryValue("asOf", expected: "a date YYYY-MM-DD") { CalendarDate($0) } ?? .today
            _ = try registry.mission(code: mission, on: asOf)
            let contingents: [String]
            if let contingent = try Self.countryCode(request, "contingent") {
                contingents = [contingent]
            } else if case .contingent(let own) = caller {
                contingents = [own]
            } else {
                contingents = try registry.contingents().map(\.code).filter { code in
                    try registry.deployments(mission: mission, contingent: code).contains {
                        !$0.deployment.status.isFinished
                    }
                }
            }
            let views = try contingents.map { code in
                let unmet = try registry.readiness(contingent: code, mission: mission, asOf: asOf, as: caller)
                return ReadinessView(subject: code, mission: mission, asOf: asOf, ready: unmet.isEmpty, unmet: unmet)
            }
            return .json(try Page(all: views, page: try PageRequest(request), request: request) { $0.subject })
        }
        route(&router, .GET, "/reports", query: Self.paged(Self.reportFilters)) { request, caller in
            let page = try PageRequest(request)
            let query = ReportQuery(
                mission: request.queryValue("mission"), type: request.queryValue("type"),
                status: try request.queryValue("status", expected: ReportQuery.statuses.joined(separator: " or ")) {
                    ReportQuery.statuses.contains($0) ? $0 : nil
                },
                sender: request.queryValue("sender"),
                receivedFrom: try request.queryValue("from", expected: Self.instantFormat, ReportQuery.instant),
                receivedBefore: try request.queryValue("to", expected: Self.instantFormat, ReportQuery.instant),
                area: try request.queryValue("bbox", expected: "minLon,minLat,maxLon,maxLat in degrees") {
                    BoundingBox(parsing: $0)
                })
            let reports = try registry.archivedReports(
                matching: query, after: try Self.integerCursor(page), limit: page.limit + 1, as: caller)
            return .json(Page(fetched: reports.map(ReportView.init), page: page, request: request) { String($0.id) })
        }
    }

    static let reportFilters: Set<String> = ["mission", "type", "status", "sender", "from", "to", "bbox"]

    // MARK: - Helpers

    /// 201 with the new resource and its `Location`.
    func created(_ value: some Encodable, at location: String) -> Response {
        var response = Response.json(value, status: .created)
        response.headers.add(name: "location", value: location)
        return response
    }

    /// The `{id}` parameter as a positive integer; anything else names no record (404).
    static func id(_ request: Request) throws(HTTPError) -> Int64 {
        guard let id = Int64(request.parameter("id")), id > 0 else {
            throw HTTPError(.notFound, code: .init("not_found"), "no record \(request.parameter("id"))")
        }
        return id
    }

    static func integerCursor(_ page: PageRequest) throws(HTTPError) -> Int64? {
        try page.after.map { text throws(HTTPError) -> Int64 in
            guard let value = Int64(text) else {
                throw HTTPError(.badRequest, "the cursor does not come from this list")
            }
            return value
        }
    }

    /// `mission` (required) and `asOf` (default today) of a readiness query.
    static func readinessQuery(_ request: Request) throws(HTTPError) -> (String, CalendarDate) {
        guard let mission = request.queryValue("mission"), !mission.isEmpty else {
            throw HTTPError(.badRequest, "query parameter 'mission' is required, e.g. ?mission=UNIFIL")
        }
        let asOf = try request.queryValue("asOf", expected: "a date YYYY-MM-DD") { CalendarDate($0) } ?? .today
        return (mission, asOf)
    }

    /// A `contingent` or `nationality` filter: three capital letters (ISO 3166 alpha-3), as the schema says; `kaz`
    /// would otherwise match nothing and look like an empty answer.
    static func countryCode(_ request: Request, _ name: String) throws(HTTPError) -> String? {
        try request.queryValue(name, expected: "a country code of three capital letters, e.g. KAZ") { code in
            code.utf8.count == 3 && code.utf8.allSatisfy { (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) }
                ? code : nil
        }
    }

    static let instantFormat = "an ISO 8601 date-time such as 2026-11-20T08:00:00Z, or a date"

    static func names<T: RegistryVocabulary>(_ type: T.Type) -> String {
        "one of " + T.names
    }

    static func escape(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(["/"])) ?? text
    }
}
