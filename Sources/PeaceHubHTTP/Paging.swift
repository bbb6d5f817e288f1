import Foundation

/// `?limit=&cursor=` of a list request. The cursor is opaque to clients: they pass back the one a page's
/// `next` link carries.
public struct PageRequest: Sendable, Equatable {
    public static let defaultLimit = 50
    public static let maximumLimit = 500

    public var limit: Int
    /// The decoded cursor: the key of the last item of the previous page, or nil for the first page.
    public var after: String?

    public init(limit: Int = defaultLimit, after: String? = nil) {
        self.limit = limit
        self.after = after
    }

    /// Reads `limit` (1...500, default 50) and `cursor` from the request; bad values are 400s.
    public init(_ request: Request) throws(HTTPError) {
        let limit = try request.queryValue("limit", expected: "an integer from 1 to \(Self.maximumLimit)") { text in
            Int(text).flatMap { (1...Self.maximumLimit).contains($0) ? $0 : nil }
        }
        self.limit = limit ?? Self.defaultLimit
        after = try request.queryValue("cursor", expected: "a cursor from a previous page's next link") {
            Self.decodeCursor($0)
        }
    }

    /// The query parameters every list takes.
    public static let queryNames: Set<String> = ["limit", "cursor"]

    static func encodeCursor(_ key: String) -> String {
        Data(key.utf8).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    static func decodeCursor(_ text: String) -> String? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        guard let data = Data(base64Encoded: base64), !data.isEmpty else { return nil }
        return String(data: data, encoding: .utf8)
    }
}

/// One page of a list: `items` and, when more follow, the relative URL of the next page (the same query with
/// the next cursor).
public struct Page<Item: Encodable & Sendable>: Encodable, Sendable {
    public var items: [Item]
    public var next: String?

    /// The page from `fetched`, which holds up to `page.limit + 1` items starting after the cursor: the extra
    /// one only says that a next page exists. `key` gives an item's cursor key.
    public init(fetched: [Item], page: PageRequest, request: Request, key: (Item) -> String) {
        let items = Array(fetched.prefix(page.limit))
        let nextKey = fetched.count > page.limit ? items.last.map(key) : nil
        self.init(items: items, nextKey: nextKey, page: page, request: request)
    }

    /// A page of a list held in memory (a few dozen items: modules, contingents, qualifications), in the order of
    /// `key`, unique per item. As for the lists paged in SQL, the cursor is the last item's key, so an item added
    /// or removed between two pages never makes the next one repeat or skip another.
    public init<Key: Comparable & LosslessStringConvertible>(
        all: [Item], page: PageRequest, request: Request, key: (Item) -> Key
    ) throws(HTTPError) {
        var remaining = all.sorted { key($0) < key($1) }[...]
        if let after = page.after {
            guard let last = Key(after) else {
                throw HTTPError(.badRequest, "query parameter 'cursor' does not come from this list")
            }
            remaining = remaining.drop { key($0) <= last }
        }
        let items = Array(remaining.prefix(page.limit))
        let nextKey = remaining.count > page.limit ? items.last.map { String(key($0)) } : nil
        self.init(items: items, nextKey: nextKey, page: page, request: request)
    }

    private init(items: [Item], nextKey: String?, page: PageRequest, request: Request) {
        self.items = items
        guard let nextKey else {
            next = nil
            return
        }
        var query = request.query.filter { $0.name != "cursor" && $0.name != "limit" }
        query.append(("limit", String(page.limit)))
        query.append(("cursor", PageRequest.encodeCursor(nextKey)))
        next = request.path + "?" + query.map { "\(Self.escape($0.name))=\(Self.escape($0.value))" }
            .joined(separator: "&")
    }

    /// `next` is written as null on the last page, so clients can test it.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(items, forKey: .items)
        try container.encode(next, forKey: .next)
    }

    enum CodingKeys: String, CodingKey { case items, next }

    private static func escape(_ text: String) -> String {
        var allowed = CharacterSet.urlQueryAllowed
        allowed.remove(charactersIn: "&=+?#")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }
}
