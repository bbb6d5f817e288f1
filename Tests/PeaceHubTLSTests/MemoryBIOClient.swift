import COpenSSL
import COpenSSLShim
import Foundation

/// A TLS peer driven by hand over OpenSSL memory BIOs, configured with OpenSSL directly (not through
/// PeaceHubTLS), so handler tests do not test the handler against itself.
final class MemoryBIOClient {
    enum Step: Equatable {
        case done
        case wantsMore
        case closed
        case failed(String)
    }

    private let ctx: OpaquePointer
    private let ssl: OpaquePointer
    private let readBIO: OpaquePointer
    private let writeBIO: OpaquePointer

    init(caFile: String, certificateFile: String?, keyFile: String?, maxVersion: Int32? = nil) throws {
        ctx = SSL_CTX_new(TLS_client_method())!
        _ = phub_ssl_ctx_set_min_proto_version(ctx, TLS1_2_VERSION)
        if let maxVersion { _ = phub_ssl_ctx_set_max_proto_version(ctx, maxVersion) }
        guard SSL_CTX_load_verify_locations(ctx, caFile, nil) == 1 else { throw ClientError("bad CA file") }
        if let certificateFile, let keyFile {
            guard SSL_CTX_use_certificate_chain_file(ctx, certificateFile) == 1,
                SSL_CTX_use_PrivateKey_file(ctx, keyFile, SSL_FILETYPE_PEM) == 1
            else { throw ClientError("bad client certificate") }
        }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nil)
        ssl = SSL_new(ctx)!
        readBIO = BIO_new(BIO_s_mem())!
        writeBIO = BIO_new(BIO_s_mem())!
        SSL_set_bio(ssl, readBIO, writeBIO)
        SSL_set_connect_state(ssl)
        _ = phub_ssl_set_tlsext_host_name(ssl, "localhost")
        _ = SSL_set1_host(ssl, "localhost")
    }

    deinit {
        SSL_free(ssl)
        SSL_CTX_free(ctx)
    }

    struct ClientError: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    /// Ciphertext the client wants to send.
    func takeOutput() -> [UInt8] {
        let pending = BIO_ctrl_pending(writeBIO)
        guard pending > 0 else { return [] }
        var bytes = [UInt8](repeating: 0, count: pending)
        let count = BIO_read(writeBIO, &bytes, Int32(pending))
        return Array(bytes.prefix(Int(max(count, 0))))
    }

    /// Ciphertext from the server.
    func receive(_ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        _ = BIO_write(readBIO, bytes, Int32(bytes.count))
    }

    func handshake() -> Step {
        ERR_clear_error()
        let result = SSL_do_handshake(ssl)
        return result == 1 ? .done : step(result)
    }

    func write(_ bytes: [UInt8]) -> Step {
        ERR_clear_error()
        let result = SSL_write(ssl, bytes, Int32(bytes.count))
        return result > 0 ? .done : step(result)
    }

    /// Sends a TLS 1.3 KeyUpdate that asks the server for one in return (RFC 8446 4.6.3).
    func requestKeyUpdate() -> Step {
        ERR_clear_error()
        guard SSL_key_update(ssl, SSL_KEY_UPDATE_REQUESTED) == 1 else { return .failed("SSL_key_update") }
        let result = SSL_do_handshake(ssl)
        return result == 1 ? .done : step(result)
    }

    /// Reads all plaintext available; the step says what ended the read.
    func read() -> (bytes: [UInt8], step: Step) {
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16384)
        while true {
            ERR_clear_error()
            let result = SSL_read(ssl, &buffer, Int32(buffer.count))
            if result > 0 {
                output += buffer.prefix(Int(result))
                continue
            }
            return (output, step(result))
        }
    }

    /// Sends close_notify.
    func shutdown() {
        ERR_clear_error()
        _ = SSL_shutdown(ssl)
    }

    var receivedCloseNotify: Bool { (SSL_get_shutdown(ssl) & SSL_RECEIVED_SHUTDOWN) != 0 }

    var version: String { String(cString: SSL_get_version(ssl)) }

    private func step(_ result: Int32) -> Step {
        let error = SSL_get_error(ssl, result)
        switch error {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE: return .wantsMore
        case SSL_ERROR_ZERO_RETURN: return .closed
        default:
            var reasons: [String] = []
            while case let code = ERR_get_error(), code != 0 {
                reasons.append(ERR_reason_error_string(code).map { String(cString: $0) } ?? "error \(code)")
            }
            return .failed(reasons.joined(separator: "; "))
        }
    }
}
