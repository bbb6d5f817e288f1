import Foundation

/// A blocking HTTP/1.1 client over a plain socket that writes exactly the bytes a test gives it, so tests can
/// pipeline requests, send oversized or chunked bodies, and see when the server closes.
final class RawHTTPClient {
    struct Response {
        /// The status line's version, `HTTP/1.1`.
        var version: String
        var status: Int
        var headers: [String: String]
        var body: Data

        var text: String { String(decoding: body, as: UTF8.self) }
        var json: [String: Any]? { try? JSONSerialization.jsonObject(with: body) as? [String: Any] }
        /// `error.code` of a JSON error body.
        var errorCode: String? { (json?["error"] as? [String: Any])?["code"] as? String }
    }

    struct ClientError: Error, CustomStringConvertible {
        var description: String
    }

    private let fd: Int32
    private var buffer = Data()

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
        guard connected else {
            close(fd)
            throw ClientError(description: "cannot connect to port \(port)")
        }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    func send(_ text: String) throws {
        try send(Data(text.utf8))
    }

    func send(_ data: Data) throws {
        let written = data.withUnsafeBytes { bytes in
            Foundation.send(fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL))
        }
        guard written == data.count else { throw ClientError(description: "send failed") }
    }

    /// Half-closes the connection: the server reads the end of the input, and may still answer.
    func finishSending() {
        shutdown(fd, Int32(SHUT_WR))
    }

    /// A request with a JSON or text body and a Content-Length.
    func request(_ method: String, _ path: String, body: String? = nil, headers: [String: String] = [:]) throws {
        var text = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        for (name, value) in headers { text += "\(name): \(value)\r\n" }
        if let body { text += "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n" }
        text += "\r\n" + (body ?? "")
        try send(text)
    }

    /// Reads one response (Content-Length framed; an answer to HEAD has no body whatever its length says).
    func response(toHead: Bool = false) throws -> Response {
        let separator = Data("\r\n\r\n".utf8)
        while buffer.range(of: separator) == nil { try fill() }
        let headEnd = buffer.range(of: separator)!
        let head = String(decoding: buffer[buffer.startIndex..<headEnd.lowerBound], as: UTF8.self)
        var lines = head.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst().split(separator: " ")
        guard statusLine.count >= 2, let status = Int(statusLine[1]) else {
            throw ClientError(description: "bad status line in \(head)")
        }
        var headers: [String: String] = [:]
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let length = toHead ? 0 : Int(headers["content-length"] ?? "0") ?? 0
        buffer.removeSubrange(buffer.startIndex..<headEnd.upperBound)
        while buffer.count < length { try fill() }
        let body = Data(buffer.prefix(length))
        buffer.removeFirst(length)
        return Response(version: String(statusLine[0]), status: status, headers: headers, body: body)
    }

    /// True when the server has closed the connection (reads end) with nothing more to read, waiting up to the
    /// read timeout.
    func isClosedByServer() -> Bool {
        guard buffer.isEmpty else { return false }
        do {
            try fill()
            return false
        } catch {
            return true
        }
    }

    /// Reads `count` bytes a megabyte at a time with `pause` between reads, as a slow link would; returns how many
    /// came before the server closed (or the read timeout passed).
    func readSlowly(_ count: Int, pause: useconds_t) -> Int {
        var received = buffer.count
        buffer.removeAll()
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while received < count {
            usleep(pause)
            let read = recv(fd, &chunk, min(chunk.count, count - received), 0)
            guard read > 0 else { break }
            received += read
        }
        return received
    }

    /// Reads until the server closes (or the read timeout passes): how many bytes came, and whether it closed.
    func readToEnd() -> (bytes: Int, closed: Bool) {
        var count = buffer.count
        buffer.removeAll()
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let read = recv(fd, &chunk, chunk.count, 0)
            guard read > 0 else { return (count, read == 0 || errno == ECONNRESET) }
            count += read
        }
    }

    private func fill() throws {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let count = recv(fd, &chunk, chunk.count, 0)
        guard count > 0 else { throw ClientError(description: "connection closed (\(count))") }
        buffer.append(contentsOf: chunk[0..<count])
    }
}
