import CoreMetrics
import Logging
import NIOHTTP1

/// Turns a request into a response through the router: 404 and 405 for paths and methods it does not know,
/// `HTTPError`s as they choose, anything else a logged 500. Records the `peacehub_http_*` metrics.
struct Responder: Sendable {
    let router: Router
    let listener: String
    let logger: Logger

    /// The route label for requests that match no route (keeps the label set small).
    static let unmatched = "unmatched"

    func respond(to request: Request, context: RequestContext) -> (response: Response, route: String) {
        var request = request
        switch router.match(method: request.method, path: request.path) {
        case .found(let route, let parameters):
            request.parameters = parameters
            do {
                return (try route.handler(request, context), route.name)
            } catch let error as HTTPError {
                return (error.response, route.name)
            } catch {
                logger.error(
                    "request failed",
                    metadata: ["route": "\(route.name)", "listener": "\(listener)", "error": "\(error)"])
                return (HTTPError(.internalServerError, "the request failed inside the hub").response, route.name)
            }
        case .methodNotAllowed(let methods):
            let allow = methods.map(\.rawValue).joined(separator: ", ")
            let error = HTTPError(
                .methodNotAllowed, "\(request.method.rawValue) is not allowed on \(request.path) (allowed: \(allow))",
                headers: ["allow": allow])
            return (error.response, Self.unmatched)
        case .notFound:
            return (HTTPError(.notFound, "no route for \(request.path)").response, Self.unmatched)
        }
    }

    /// The route label of a request refused before it was routed (a body too large).
    func routeName(method: HTTPMethod, path: String) -> String {
        if case .found(let route, _) = router.match(method: method, path: path) { return route.name }
        return Self.unmatched
    }

    func record(route: String, status: HTTPResponseStatus, nanoseconds: Int64) {
        Counter(
            label: "peacehub_http_requests_total",
            dimensions: [("listener", listener), ("route", route), ("status", String(status.code))]
        ).increment()
        CoreMetrics.Timer(
            label: "peacehub_http_request_duration_seconds", dimensions: [("listener", listener), ("route", route)]
        ).recordNanoseconds(nanoseconds)
    }
}
