import Foundation
import NIOHTTP1
import PeaceHubCore
import PeaceHubHTTP
import PeaceHubMQTT
import PeaceHubPlugins
import PeaceHubRegistry

/// The admin and registry API (`docs/admin-api.md`, `docs/admin-api.yaml`), served over HTTPS with mutual TLS.
///
/// Every route acts as the caller's certificate principal and asks the registry, which enforces its own access
/// rules (the same functions the `peacehub registry` CLI calls). Only what the registry does not own is decided
/// here: MQTT sessions are for operators, and module commands other than the read-only ones every module offers
/// are for operators.
public struct AdminAPI: Sendable {
    public let registry: Registry
    public let plugins: PluginHost
    /// The broker whose sessions operators list and disconnect; nil when the hub runs without MQTT (tests).
    public let broker: Broker?

    /// Commands every mission module answers without side effects (docs/abi.md): open to every principal.
    static let readOnlyCommands: Set<String> = ["describe", "requirements", "geocheck", "validate-report"]

    public init(registry: Registry, plugins: PluginHost, broker: Broker?) {
        self.registry = registry
        self.plugins = plugins
        self.broker = broker
    }

    /// Every route of the API.
    public var router: Router {
        var router = Router()
        route(&router, .GET, "/me") { _, caller in .json(PrincipalView(caller)) }
        addPersonRoutes(&router)
        addDeploymentRoutes(&router)
        addEquipmentRoutes(&router)
        addMissionRoutes(&router)
        addHubRoutes(&router)
        return router
    }

    /// A handler that needs the caller's principal (401 without one) and whose registry and module refusals
    /// become their HTTP statuses.
    typealias Handler = @Sendable (Request, Principal) throws -> Response

    /// Adds a route taking the query parameters `query` (any other is a 400, so a misspelt filter never passes
    /// unnoticed).
    func route(
        _ router: inout Router, _ method: HTTPMethod, _ pattern: String, query: Set<String> = [],
        _ handler: @escaping Handler
    ) {
        router.on(method, pattern) { request, context in
            let caller = try context.requirePrincipal()
            try request.requireQuery(only: query)
            do {
                return try handler(request, caller)
            } catch let error as RegistryError where error.code != .damaged {
                throw Self.httpError(error)
            } catch let error as PluginCallError {
                throw Self.httpError(error)
            }
        }
    }

    // MARK: - Modules, sessions, audit

    private func addHubRoutes(_ router: inout Router) {
        route(&router, .GET, "/modules", query: Self.paged([])) { request, _ in
            let modules = plugins.modules.map(ModuleView.init)
            return .json(try Page(all: modules, page: try PageRequest(request), request: request) { $0.mission })
        }
        route(&router, .POST, "/modules/{mission}/commands/{name}") { request, caller in
            let (mission, name) = (request.parameter("mission"), request.parameter("name"))
            if !Self.readOnlyCommands.contains(name) {
                let open = Self.readOnlyCommands.sorted().joined(separator: ", ")
                try Self.requireOperator(caller, "run module command '\(name)' (open to all: \(open))")
            }
            guard let module = plugins.module(forMission: mission) else {
                throw HTTPError(.notFound, "no module serves mission \(mission.uppercased())")
            }
            return .json(try plugins.command(module, name, arguments: try request.decodeObject()))
        }
        route(&router, .GET, "/sessions", query: Self.paged([])) { request, caller in
            try Self.requireOperator(caller, "list MQTT sessions")
            let broker = try requireBroker()
            let page = try PageRequest(request)
            let sessions = broker.sessionSummaries(after: page.after, limit: page.limit + 1)
            return .json(Page(fetched: sessions, page: page, request: request) { $0.clientID })
        }
        route(&router, .DELETE, "/sessions/{clientID}") { request, caller in
            try Self.requireOperator(caller, "end MQTT sessions")
            let clientID = request.parameter("clientID")
            let reason = "session ended by \(caller) (admin API)"
            guard try requireBroker().endSession(clientID: clientID, reason: reason) else {
                throw HTTPError(.notFound, "no session with client id \(clientID)")
            }
            return .noContent
        }
        route(&router, .GET, "/audit", query: Self.paged([])) { request, caller in
            let page = try PageRequest(request)
            let before = try Self.integerCursor(page)
            let entries = try registry.auditEntries(before: before, limit: page.limit + 1, as: caller)
            return .json(Page(fetched: entries, page: page, request: request) { String($0.seq) })
        }
        route(&router, .GET, "/audit/verify") { request, caller in
            return .json(AuditVerificationView(try registry.verifyAudit(as: caller)))
        }
    }

    /// The query parameters of a list: `limit`, `cursor` and its `filters`.
    static func paged(_ filters: Set<String>) -> Set<String> {
        PageRequest.queryNames.union(filters)
    }

    private func requireBroker() throws(HTTPError) -> Broker {
        guard let broker else { throw HTTPError(.notFound, "this hub runs no MQTT broker") }
        return broker
    }

    static func requireOperator(_ caller: Principal, _ action: String) throws(HTTPError) {
        guard case .operator = caller else {
            throw HTTPError(.forbidden, code: .init("access_denied"), "\(caller) may not \(action): operators only")
        }
    }

    // MARK: - Errors

    /// The registry's refusals as HTTP: the code keeps the registry's name in snake case. A damaged registry is
    /// no refusal: it goes on as an internal error, logged, its reason not shown.
    static func httpError(_ error: RegistryError) -> HTTPError {
        let (status, code): (HTTPResponseStatus, String) =
            switch error.code {
            case .notFound: (.notFound, "not_found")
            case .accessDenied: (.forbidden, "access_denied")
            case .invariantViolated: (.conflict, "invariant_violated")
            case .alreadyExists: (.conflict, "already_exists")
            case .invalidInput: (.unprocessableEntity, "invalid_input")
            case .notReady: (.unprocessableEntity, "not_ready")
            case .readinessUnavailable: (.serviceUnavailable, "readiness_unavailable")
            case .busy: (.serviceUnavailable, "registry_busy")
            default: (.internalServerError, "internal")
            }
        // A busy registry is a wait, not a failure: the client may try again [RFC 9110 10.2.3].
        let headers: HTTPHeaders = error.code == .busy ? ["Retry-After": "5"] : [:]
        return HTTPError(status, code: .init(code), error.reason, details: error.details, headers: headers)
    }

    /// A module's refusal or failure as HTTP.
    static func httpError(_ error: PluginCallError) -> HTTPError {
        let (status, code): (HTTPResponseStatus, String) =
            switch error.code {
            case .invalidArgument: (.unprocessableEntity, "module_invalid_argument")
            case .unsupported: (.notFound, "module_unsupported")
            case .timedOut: (.serviceUnavailable, "module_timeout")
            default: (.internalServerError, "module_failed")
            }
        return HTTPError(status, code: .init(code), error.reason)
    }
}
