import NIOHTTP1

/// A refusal that chooses its own HTTP status and is written as
/// `{"error": {"code": "...", "message": "...", "details": [...]}}`.
///
/// Any other error a handler throws becomes a 500 with the code `internal` and no detail (the error is logged).
public struct HTTPError: Error, Sendable, CustomStringConvertible {
    /// A stable, machine-readable name for the refusal (`not_found`, `not_ready`...), for scripts and tests.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        public let name: String

        public init(_ name: String) {
            self.name = name
        }

        public var description: String { name }

        /// The request is malformed: bad JSON, a member of the wrong type, a bad query parameter.
        public static let badRequest = Code("bad_request")
        /// The connection carries no client identity.
        public static let unauthorized = Code("unauthorized")
        /// The caller may not do this.
        public static let forbidden = Code("forbidden")
        /// No such path, or no such record.
        public static let notFound = Code("not_found")
        /// The path exists, the method does not (the `Allow` header lists those that do).
        public static let methodNotAllowed = Code("method_not_allowed")
        /// The change conflicts with the current state.
        public static let conflict = Code("conflict")
        /// The body is larger than the listener accepts.
        public static let payloadTooLarge = Code("payload_too_large")
        /// The request is well formed but its content is refused.
        public static let unprocessable = Code("unprocessable")
        /// The request needs what the server does not do (a transfer coding, CONNECT, an unknown method).
        public static let notImplemented = Code("not_implemented")
        /// The request target is longer than the server takes.
        public static let uriTooLong = Code("uri_too_long")
        /// The request line and header fields are larger than the server reads.
        public static let headerTooLarge = Code("header_too_large")
        /// Something failed inside the hub.
        public static let `internal` = Code("internal")
    }

    public var status: HTTPResponseStatus
    public var code: Code
    /// A sentence for people.
    public var message: String
    /// Itemised problems (each unmet requirement, each bad field).
    public var details: [String]
    /// Extra response headers (`Allow` for a 405).
    public var headers: HTTPHeaders

    public init(
        _ status: HTTPResponseStatus, code: Code? = nil, _ message: String, details: [String] = [],
        headers: HTTPHeaders = [:]
    ) {
        self.status = status
        self.code = code ?? Self.defaultCode(for: status)
        self.message = message
        self.details = details
        self.headers = headers
    }

    public var description: String { "\(status.code) \(code): \(message)" }

    private static func defaultCode(for status: HTTPResponseStatus) -> Code {
        switch status {
        case .badRequest: .badRequest
        case .unauthorized: .unauthorized
        case .forbidden: .forbidden
        case .notFound: .notFound
        case .methodNotAllowed: .methodNotAllowed
        case .conflict: .conflict
        case .payloadTooLarge: .payloadTooLarge
        case .unprocessableEntity: .unprocessable
        case .notImplemented: .notImplemented
        case .uriTooLong: .uriTooLong
        case .requestHeaderFieldsTooLarge: .headerTooLarge
        default: .internal
        }
    }

    /// The JSON response for this error.
    public var response: Response {
        let body = Body(error: .init(code: code.name, message: message, details: details))
        var response = Response.json(body, status: status)
        response.headers.add(contentsOf: headers)
        return response
    }

    private struct Body: Encodable {
        struct Detail: Encodable {
            var code: String
            var message: String
            var details: [String]

            func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: CodingKeys.self)
                try container.encode(code, forKey: .code)
                try container.encode(message, forKey: .message)
                if !details.isEmpty { try container.encode(details, forKey: .details) }
            }

            enum CodingKeys: String, CodingKey { case code, message, details }
        }

        var error: Detail
    }
}
