import Foundation
import NIOCore
import NIOHTTP1
import PeaceHubCore

/// One HTTP request, body collected (up to the server's limit), with the path parameters of the route it
/// matched.
public struct Request: Sendable {
    public var method: HTTPMethod
    /// The path without the query, as sent (percent-encoded).
    public var path: String
    /// The query's name-value pairs in order, percent-decoded (`+` is a space).
    public var query: [(name: String, value: String)]
    public var headers: HTTPHeaders
    public var body: ByteBuffer
    /// The values of the route's `{name}` segments, percent-decoded.
    public var parameters: [String: String] = [:]

    public init(method: HTTPMethod, uri: String, headers: HTTPHeaders = [:], body: ByteBuffer = ByteBuffer()) {
        self.method = method
        let parts = Self.originForm(of: uri).split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        path = parts.first.map(String.init) ?? "/"
        query = parts.count > 1 ? Self.parseQuery(String(parts[1])) : []
        self.headers = headers
        self.body = body
    }

    /// The path and query of an absolute-form target (`https://host:port/me?x=1`), which a server must accept
    /// [RFC 9112 3.2.2]; any other target as it is.
    static func originForm(of uri: String) -> Substring {
        let lowered = uri.prefix(8).lowercased()
        guard lowered.hasPrefix("http://") || lowered.hasPrefix("https://") else { return uri[...] }
        let afterScheme = uri[uri.index(uri.firstIndex(of: ":")!, offsetBy: 3)...]
        guard let start = afterScheme.firstIndex(where: { $0 == "/" || $0 == "?" }) else { return "/" }
        return afterScheme[start] == "?" ? "/" + afterScheme[start...] : afterScheme[start...]
    }

    /// A path parameter of the matched route; the router guarantees the names its patterns declare.
    public func parameter(_ name: String) -> String {
        parameters[name] ?? ""
    }

    /// The last value of query parameter `name`, or nil when absent.
    public func queryValue(_ name: String) -> String? {
        query.last { $0.name == name }?.value
    }

    /// Query parameter `name` read with `parse`; a value that does not parse is a 400 naming the parameter.
    public func queryValue<T>(_ name: String, expected: String, _ parse: (String) -> T?) throws(HTTPError) -> T? {
        guard let text = queryValue(name) else { return nil }
        guard let value = parse(text) else {
            throw HTTPError(.badRequest, "query parameter '\(name)' must be \(expected), not '\(text)'")
        }
        return value
    }

    /// Refuses query parameters other than `allowed`, so a misspelt filter is an error rather than ignored, and
    /// one given twice, which one reader takes as the first value, another as the last, a third as both.
    public func requireQuery(only allowed: Set<String>) throws(HTTPError) {
        if let unknown = query.first(where: { !allowed.contains($0.name) }) {
            let names = allowed.sorted().joined(separator: ", ")
            let hint = names.isEmpty ? " (this path takes none)" : " (allowed: \(names))"
            throw HTTPError(.badRequest, "unknown query parameter '\(unknown.name)'" + hint)
        }
        var seen: Set<String> = []
        if let repeated = query.first(where: { !seen.insert($0.name).inserted }) {
            throw HTTPError(.badRequest, "query parameter '\(repeated.name)' is given more than once")
        }
        // A decoded `%00` would reach SQLite as the end of the value and filter on what comes before it.
        if let bad = query.first(where: { $0.value.unicodeScalars.contains(where: \.isControl) }) {
            throw HTTPError(.badRequest, "query parameter '\(bad.name)' holds a control character")
        }
    }

    /// Decodes the JSON body. Malformed JSON, a member of the wrong type, a missing member or one the type does
    /// not know are 400s that name the member.
    public func decode<T: RequestBody>(_ type: T.Type) throws(HTTPError) -> T {
        let data = Data(body.readableBytesView)
        // Read by our parser first: it names what is wrong and where, and refuses a member given twice, which
        // JSONDecoder would settle one way and another reader the other.
        let parsed: JSONValue
        do {
            parsed = try JSONValue(parsing: data)
        } catch {
            throw HTTPError(.badRequest, "the body is not valid JSON: \(error)")
        }
        guard let object = parsed.objectValue else { throw HTTPError(.badRequest, "the body must be a JSON object") }
        if let unknown = object.keys.sorted().first(where: { !T.members.contains($0) }) {
            throw HTTPError(
                .badRequest,
                "unknown member '\(unknown)' (allowed: \(T.members.sorted().joined(separator: ", ")))")
        }
        if let null = object.keys.sorted().first(where: { object[$0] == .null && !T.nullableMembers.contains($0) }) {
            throw HTTPError(.badRequest, "member '\(null)' may not be null")
        }
        for (name, allowed) in T.elementMembers {
            for (index, element) in (object[name]?.arrayValue ?? []).enumerated() {
                if let unknown = element.objectValue?.keys.sorted().first(where: { !allowed.contains($0) }) {
                    let names = allowed.sorted().joined(separator: ", ")
                    throw HTTPError(.badRequest, "unknown member '\(name)[\(index)].\(unknown)' (allowed: \(names))")
                }
            }
        }
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch let error as DecodingError {
            // Foundation's decoder reports a number that does not fit an integer member as corrupt data at no
            // path; the body is valid JSON and has no other number type, so that number is the one.
            if case .dataCorrupted(let context) = error, context.codingPath.isEmpty,
                let (path, number) = Self.firstFractionalOrHugeNumber(in: parsed, at: "")
            {
                throw HTTPError(.badRequest, "member '\(path)' must be a whole number, not \(number)")
            }
            throw HTTPError(.badRequest, Self.describe(error))
        } catch {
            throw HTTPError(.badRequest, "the body cannot be read: \(error)")
        }
    }

    /// Decodes a JSON object body of any shape (an empty body is `{}`).
    public func decodeObject() throws(HTTPError) -> JSONValue {
        guard body.readableBytes > 0 else { return [:] }
        let value: JSONValue
        do {
            value = try JSONValue(parsing: Data(body.readableBytesView))
        } catch {
            throw HTTPError(.badRequest, "the body is not valid JSON: \(error)")
        }
        guard value.objectValue != nil else { throw HTTPError(.badRequest, "the body must be a JSON object") }
        return value
    }

    /// The first number that no integer member takes (a fraction, or beyond 64 bits), with its path.
    static func firstFractionalOrHugeNumber(in value: JSONValue, at path: String) -> (String, Double)? {
        switch value {
        case .number(let number):
            return number.rounded() == number && abs(number) < 0x1p63 ? nil : (path, number)
        case .array(let items):
            return items.indices.lazy.compactMap { index in
                firstFractionalOrHugeNumber(in: items[index], at: "\(path)[\(index)]")
            }.first
        case .object(let members):
            return members.keys.sorted().lazy.compactMap { key in
                firstFractionalOrHugeNumber(in: members[key]!, at: path.isEmpty ? key : "\(path).\(key)")
            }.first
        default:
            return nil
        }
    }

    private static func describe(_ error: DecodingError) -> String {
        func path(_ keys: [any CodingKey]) -> String {
            keys.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined().drop { $0 == "." }
                .description
        }
        switch error {
        case .keyNotFound(let key, let context):
            return "missing member '\(path(context.codingPath + [key]))'"
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            return "member '\(path(context.codingPath))' has the wrong type: \(context.debugDescription)"
        case .dataCorrupted(let context):
            let at = path(context.codingPath)
            return (at.isEmpty ? "" : "member '\(at)': ") + context.debugDescription
        @unknown default:
            return "the body cannot be read: \(error)"
        }
    }

    static func parseQuery(_ text: String) -> [(name: String, value: String)] {
        text.split(separator: "&").map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = decodeComponent(String(parts[0]), plusIsSpace: true)
            let value = parts.count > 1 ? decodeComponent(String(parts[1]), plusIsSpace: true) : ""
            return (name, value)
        }
    }

    /// Percent-decodes `text`; an invalid escape is kept as written.
    static func decodeComponent(_ text: String, plusIsSpace: Bool) -> String {
        let spaced = plusIsSpace ? text.replacingOccurrences(of: "+", with: " ") : text
        return spaced.removingPercentEncoding ?? spaced
    }
}

/// A JSON request body: `members` lists the member names it accepts, so unknown ones are refused.
public protocol RequestBody: Decodable {
    static var members: Set<String> { get }
    /// The members that are arrays of objects, with the names those objects accept.
    static var elementMembers: [String: Set<String>] { get }
    /// The members that may be `null` (a PATCH clears a field with it); any other is refused as null, where
    /// Swift's decoder would read it as absent.
    static var nullableMembers: Set<String> { get }
}

extension RequestBody {
    public static var elementMembers: [String: Set<String>] { [:] }
    public static var nullableMembers: Set<String> { [] }
}

/// What a handler knows about the caller besides the request.
public struct RequestContext: Sendable {
    /// The principal of the verified client certificate; nil on a listener without mutual TLS.
    public var principal: Principal?
    /// The listener's name (`admin`, `monitoring`), as in logs and metrics.
    public var listener: String
    public var remoteAddress: SocketAddress?

    public init(principal: Principal?, listener: String, remoteAddress: SocketAddress? = nil) {
        self.principal = principal
        self.listener = listener
        self.remoteAddress = remoteAddress
    }

    /// The caller's principal, or a 401 when the connection carries none.
    public func requirePrincipal() throws(HTTPError) -> Principal {
        guard let principal else {
            throw HTTPError(
                .unauthorized, "this listener requires a client certificate naming a contingent or operator")
        }
        return principal
    }
}
