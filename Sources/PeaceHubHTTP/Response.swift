import Foundation
import NIOCore
import NIOHTTP1

/// An HTTP response with its whole body. `Content-Length` and `Connection` are set by the server.
public struct Response: Sendable {
    public var status: HTTPResponseStatus
    public var headers: HTTPHeaders
    public var body: ByteBuffer

    public init(status: HTTPResponseStatus = .ok, headers: HTTPHeaders = [:], body: ByteBuffer = ByteBuffer()) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// `value` as JSON (sorted keys). A value that cannot be encoded (a non-finite number) gives a 500.
    public static func json(_ value: some Encodable, status: HTTPResponseStatus = .ok) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(value) else {
            return text(
                #"{"error":{"code":"internal","message":"the response could not be encoded as JSON"}}"#,
                contentType: jsonContentType, status: .internalServerError)
        }
        return Response(
            status: status, headers: ["content-type": jsonContentType], body: ByteBuffer(bytes: data))
    }

    /// A text body with its content type.
    public static func text(
        _ text: String, contentType: String = "text/plain; charset=utf-8", status: HTTPResponseStatus = .ok
    ) -> Response {
        Response(status: status, headers: ["content-type": contentType], body: ByteBuffer(string: text))
    }

    /// 204, no body.
    public static var noContent: Response { Response(status: .noContent) }

    public static let jsonContentType = "application/json"
}
