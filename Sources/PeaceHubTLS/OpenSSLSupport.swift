import COpenSSL
import COpenSSLShim
import Foundation

/// Small helpers over OpenSSL's C API shared by the TLS and PKI code.
enum OpenSSL {
    /// Drains this thread's OpenSSL error queue into readable lines (OpenSSL's own reason strings).
    static func drainErrors() -> [String] {
        var lines: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            // The reason alone reads best ("certificate verify failed"); the full line is the fallback.
            lines.append(ERR_reason_error_string(code).map { String(cString: $0) } ?? string(fromNulTerminated: buffer))
        }
        return lines
    }

    /// The error queue as one line, or `fallback` when it is empty.
    static func errorText(_ fallback: String) -> String {
        let lines = drainErrors()
        return lines.isEmpty ? fallback : lines.joined(separator: "; ")
    }

    /// A PEM password callback that supplies none: an encrypted key fails to load instead of OpenSSL prompting on
    /// the terminal (which would hang a service).
    static let noPassword:
        @convention(c) (UnsafeMutablePointer<CChar>?, Int32, Int32, UnsafeMutableRawPointer?) -> Int32 = {
            _, _, _, _ in 0
        }

    /// X509_verify_cert_error_string for `result`.
    static func verifyErrorText(_ result: Int) -> String {
        String(cString: X509_verify_cert_error_string(result))
    }

    static func string(fromNulTerminated buffer: [CChar]) -> String {
        let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Takes a malloc'ed C string from the shim, frees it, and returns its text.
    static func take(_ pointer: UnsafeMutablePointer<CChar>?) -> String? {
        guard let pointer else { return nil }
        defer { free(pointer) }
        return String(cString: pointer)
    }

    /// Seconds since 1970 of an ASN1_TIME.
    static func date(_ time: UnsafePointer<ASN1_TIME>?) -> Date? {
        var seconds: Int64 = 0
        guard let time, phub_asn1_time_to_unix(time, &seconds) == 1 else { return nil }
        return Date(timeIntervalSince1970: TimeInterval(seconds))
    }

    /// Runs `body` with a read-only memory BIO over `data`.
    static func withMemoryBIO<T>(_ data: Data, _ body: (OpaquePointer) throws -> T) throws -> T {
        try data.withUnsafeBytes { raw in
            guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else {
                throw TLSError(.invalidConfiguration, "out of memory")
            }
            defer { BIO_free(bio) }
            return try body(bio)
        }
    }

    /// Writes PEM through `body` into a memory BIO and returns the bytes.
    static func pem(_ body: (OpaquePointer) -> Int32) -> Data? {
        guard let bio = BIO_new(BIO_s_mem()) else { return nil }
        defer { BIO_free(bio) }
        guard body(bio) == 1 else { return nil }
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = BIO_read(bio, &buffer, Int32(buffer.count))
            if count <= 0 { break }
            data.append(contentsOf: buffer[0..<Int(count)])
        }
        return data
    }
}
