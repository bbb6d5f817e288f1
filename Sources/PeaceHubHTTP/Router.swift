import NIOHTTP1

/// Routes by method and path pattern: literal segments and `{name}` parameters, e.g.
/// `/persons/{serviceNumber}/qualifications/{id}`. Built once before the server starts, then only read.
public struct Router: Sendable {
    /// Answers one request. Handlers run on the server's blocking thread pool, never on an event loop, so they
    /// may call the registry and the mission modules directly.
    public typealias Handler = @Sendable (Request, RequestContext) throws -> Response

    /// One registered route.
    public struct Route: Sendable {
        public var method: HTTPMethod
        public var pattern: String
        let segments: [Segment]
        let handler: Handler

        /// `METHOD pattern`, the route's name in metrics and logs.
        public var name: String { "\(method.rawValue) \(pattern)" }
    }

    enum Segment: Sendable, Equatable {
        case literal(String)
        case parameter(String)
    }

    /// What a path and method lead to.
    enum Match {
        case found(Route, parameters: [String: String])
        /// The path exists with other methods.
        case methodNotAllowed([HTTPMethod])
        case notFound
    }

    public private(set) var routes: [Route] = []

    public init() {}

    /// Adds a route. Registering the same method and pattern twice, or a malformed pattern, is a programming error.
    public mutating func on(_ method: HTTPMethod, _ pattern: String, _ handler: @escaping Handler) {
        let segments = Self.segments(of: pattern).map { text -> Segment in
            if text.hasPrefix("{") && text.hasSuffix("}") && text.count > 2 {
                return .parameter(String(text.dropFirst().dropLast()))
            }
            precondition(!text.contains("{") && !text.contains("}"), "malformed route pattern \(pattern)")
            return .literal(text)
        }
        precondition(
            !routes.contains { $0.method == method && $0.segments == segments }, "route \(method) \(pattern) twice")
        routes.append(Route(method: method, pattern: pattern, segments: segments, handler: handler))
    }

    public mutating func get(_ pattern: String, _ handler: @escaping Handler) { on(.GET, pattern, handler) }
    public mutating func post(_ pattern: String, _ handler: @escaping Handler) { on(.POST, pattern, handler) }
    public mutating func patch(_ pattern: String, _ handler: @escaping Handler) { on(.PATCH, pattern, handler) }
    public mutating func delete(_ pattern: String, _ handler: @escaping Handler) { on(.DELETE, pattern, handler) }

    func match(method: HTTPMethod, path: String) -> Match {
        let parts = Self.segments(of: path).map { Request.decodeComponent($0, plusIsSpace: false) }
        var allowed: [HTTPMethod] = []
        // Literal segments win over parameters (`/audit/verify` before `/audit/{seq}`).
        let candidates = routes.compactMap { route in parameters(of: route, for: parts).map { (route, $0) } }
            .sorted { specificity($0.0) > specificity($1.0) }
        // HEAD is GET without the body [RFC 9110 9.3.2]: the server writes the head alone.
        for (route, parameters) in candidates {
            if route.method == method || (method == .HEAD && route.method == .GET) {
                return .found(route, parameters: parameters)
            }
            allowed.append(route.method)
            if route.method == .GET { allowed.append(.HEAD) }
        }
        return allowed.isEmpty ? .notFound : .methodNotAllowed(allowed)
    }

    private func parameters(of route: Route, for parts: [String]) -> [String: String]? {
        guard route.segments.count == parts.count else { return nil }
        var parameters: [String: String] = [:]
        for (segment, part) in zip(route.segments, parts) {
            switch segment {
            case .literal(let text): guard text == part else { return nil }
            case .parameter(let name):
                // A decoded `%00` would reach SQLite as the end of the id and name another record. Other control
                // characters are the handler's to judge: an MQTT client id may hold them, and its session must be
                // one an operator can end.
                guard !part.isEmpty, !part.unicodeScalars.contains("\u{0}") else { return nil }
                parameters[name] = part
            }
        }
        return parameters
    }

    private func specificity(_ route: Route) -> Int {
        route.segments.filter { if case .literal = $0 { true } else { false } }.count
    }

    /// The path's segments; a trailing slash is ignored.
    private static func segments(of path: String) -> [String] {
        var parts = path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        if parts.first == "" { parts.removeFirst() }
        if parts.last == "" { parts.removeLast() }
        return parts
    }
}
