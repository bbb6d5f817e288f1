import COpenSSL
import COpenSSLShim
import NIOCore

/// One OpenSSL `SSL`: ciphertext in through `receive`, out through `takeCiphertext`. OpenSSL reads what was
/// received from the network buffer itself, through a window BIO (`phub_window_bio_new`) opened around each call
/// that may read; it writes into a memory BIO.
///
/// Not thread-safe: owned by one `TLSHandler` and used only on its channel's event loop. Every call that runs
/// OpenSSL clears the thread's error queue first and drains it before returning.
final class TLSConnection {
    /// Kept alive for as long as the `SSL` made from it.
    let context: TLSContext
    let serverHostname: String?
    private let ssl: OpaquePointer
    private let readBIO: OpaquePointer
    private var writeBIO: OpaquePointer
    /// Ciphertext received and not yet taken by OpenSSL (nil when all was): the network's buffer itself.
    private var inbound: ByteBuffer?
    private let verification: VerificationState

    enum HandshakeResult {
        case complete
        case wantsMore
        case failed(TLSError)
    }

    enum ReadResult {
        /// Everything available was decrypted; more ciphertext is needed.
        case wantsMore
        /// The peer sent close_notify.
        case closeNotify
        case failed(TLSError)
    }

    init(context: TLSContext, serverHostname: String?) throws(TLSError) {
        self.context = context
        self.serverHostname = serverHostname
        self.verification = VerificationState(role: context.configuration.role)
        ERR_clear_error()
        guard let ssl = SSL_new(context.sslContext) else {
            throw TLSError(.invalidConfiguration, OpenSSL.errorText("SSL_new failed"))
        }
        guard let readBIO = phub_window_bio_new() else {
            SSL_free(ssl)
            throw TLSError(.invalidConfiguration, "out of memory")
        }
        guard let writeBIO = BIO_new(BIO_s_mem()) else {
            BIO_free(readBIO)
            SSL_free(ssl)
            throw TLSError(.invalidConfiguration, "out of memory")
        }
        SSL_set_bio(ssl, readBIO, writeBIO)  // the SSL owns both BIOs now
        self.ssl = ssl
        self.readBIO = readBIO
        self.writeBIO = writeBIO
        SSL_set_ex_data(ssl, VerificationState.exDataIndex, Unmanaged.passUnretained(verification).toOpaque())
        switch context.configuration.role {
        case .server:
            SSL_set_accept_state(ssl)
        case .client:
            SSL_set_connect_state(ssl)
            if let serverHostname {
                guard phub_ssl_set_tlsext_host_name(ssl, serverHostname) == 1, SSL_set1_host(ssl, serverHostname) == 1
                else {
                    let reason = OpenSSL.errorText("cannot set server name \(serverHostname)")
                    SSL_free(ssl)
                    throw TLSError(.invalidConfiguration, reason)
                }
            }
        }
        ERR_clear_error()
    }

    deinit {
        SSL_free(ssl)
    }

    /// Keeps ciphertext from the network for the next call into OpenSSL (`handshake`, `read`). Held by reference:
    /// it is copied only when OpenSSL left part of the previous buffer untaken.
    func receive(_ buffer: ByteBuffer) {
        guard buffer.readableBytes > 0 else { return }
        if inbound == nil {
            inbound = buffer
        } else {
            inbound!.writeImmutableBuffer(buffer)
        }
    }

    /// Runs `body`, a call into the `SSL` that may read, with the ciphertext received so far open to it through
    /// the read BIO; then drops what it took.
    private func offeringInbound<Result>(_ body: () -> Result) -> Result {
        guard let chunk = inbound else { return body() }
        let (result, taken) = chunk.withUnsafeReadableBytes { bytes in
            phub_window_bio_set(readBIO, bytes.baseAddress, bytes.count)
            let result = body()
            return (result, phub_window_bio_clear(readBIO))
        }
        if taken >= chunk.readableBytes {
            inbound = nil
        } else {
            inbound!.moveReaderIndex(forwardBy: taken)
        }
        return result
    }

    /// Gives the `SSL` a new, empty write BIO when nothing waits in it or in the input, and says whether it did. A
    /// memory BIO keeps the largest buffer it ever held, and the handshake's certificates fill it: on the many
    /// connections that then sit idle, that memory would stay taken for nothing.
    func releaseBuffersIfEmpty() -> Bool {
        guard inbound == nil, BIO_ctrl_pending(writeBIO) == 0, let freshWrite = BIO_new(BIO_s_mem()) else {
            return false
        }
        // SSL_set0_wbio frees the BIO it held and owns the new one.
        SSL_set0_wbio(ssl, freshWrite)
        writeBIO = freshWrite
        return true
    }

    /// OpenSSL has produced bytes for the peer that are not taken yet.
    var hasCiphertext: Bool { BIO_ctrl_pending(writeBIO) > 0 }

    /// Ciphertext OpenSSL produced (handshake messages, records, alerts), or nil when there is none.
    func takeCiphertext(allocator: ByteBufferAllocator) -> ByteBuffer? {
        let pending = BIO_ctrl_pending(writeBIO)
        guard pending > 0 else { return nil }
        var buffer = allocator.buffer(capacity: pending)
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: pending) { bytes in
            Int(max(0, BIO_read(writeBIO, bytes.baseAddress, Int32(pending))))
        }
        return buffer
    }

    func handshake() -> HandshakeResult {
        ERR_clear_error()
        let result = offeringInbound { SSL_do_handshake(ssl) }
        if result == 1 {
            ERR_clear_error()
            return .complete
        }
        let error = SSL_get_error(ssl, result)
        if error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE {
            ERR_clear_error()
            return .wantsMore
        }
        return .failed(handshakeError(sslError: error))
    }

    /// Decrypts every complete record into `plaintext`.
    func read(into plaintext: inout ByteBuffer) -> ReadResult {
        offeringInbound { readRecords(into: &plaintext) }
    }

    private func readRecords(into plaintext: inout ByteBuffer) -> ReadResult {
        while true {
            ERR_clear_error()
            var result: Int32 = 0
            plaintext.writeWithUnsafeMutableBytes(minimumWritableBytes: 16384) { bytes in
                result = SSL_read(ssl, bytes.baseAddress, Int32(min(bytes.count, Int(Int32.max))))
                return result > 0 ? Int(result) : 0
            }
            if result > 0 { continue }
            let error = SSL_get_error(ssl, result)
            switch error {
            case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
                ERR_clear_error()
                return .wantsMore
            case SSL_ERROR_ZERO_RETURN:
                ERR_clear_error()
                return .closeNotify
            default:
                return .failed(TLSError(.protocolError, OpenSSL.errorText("SSL_read failed (SSL error \(error))")))
            }
        }
    }

    /// Encrypts all of `buffer` (memory BIOs never push back, so SSL_write takes it whole).
    func write(_ buffer: ByteBuffer) -> TLSError? {
        buffer.withUnsafeReadableBytes { bytes in
            guard bytes.count > 0 else { return nil }
            ERR_clear_error()
            let result = SSL_write(ssl, bytes.baseAddress, Int32(bytes.count))
            if result > 0 { return nil }
            let error = SSL_get_error(ssl, result)
            return TLSError(.protocolError, OpenSSL.errorText("SSL_write failed (SSL error \(error))"))
        }
    }

    /// Queues our close_notify.
    func shutdown() {
        ERR_clear_error()
        _ = SSL_shutdown(ssl)
        ERR_clear_error()
    }

    /// The verified peer's identity; call after `handshake()` returned `.complete`.
    func peerIdentity() -> Result<TLSPeerIdentity, TLSError> {
        guard let cert = SSL_get0_peer_certificate(ssl), SSL_get_verify_result(ssl) == X509_V_OK else {
            return .failure(TLSError(.certificateRejected, "peer presented no verified certificate"))
        }
        let principal: TLSPeerIdentity.Principal
        switch context.configuration.role {
        case .server:
            guard let found = verification.principal else {
                return .failure(TLSError(.identityRejected, verification.identityFailure ?? "no PeaceHub principal"))
            }
            principal = found
        case .client:
            let peername = SSL_get0_peername(ssl).map { String(cString: $0) }
            principal = .server(peername ?? serverHostname ?? "")
        }
        let cipher = SSL_get_current_cipher(ssl).flatMap { SSL_CIPHER_get_name($0) }.map { String(cString: $0) } ?? ""
        return .success(
            TLSPeerIdentity(
                principal: principal, subject: CertificateInfo.subject(cert), serial: CertificateInfo.serial(cert),
                spkiSHA256: CertificateInfo.spkiSHA256(cert), tlsVersion: String(cString: SSL_get_version(ssl)),
                cipher: cipher))
    }

    /// Maps a failed handshake to a TLSError: identity, then chain verification, then OpenSSL's queue.
    private func handshakeError(sslError: Int32) -> TLSError {
        let queue = OpenSSL.drainErrors()
        let queueText = queue.isEmpty ? "handshake failed (SSL error \(sslError))" : queue.joined(separator: "; ")
        if let identityFailure = verification.identityFailure {
            return TLSError(.identityRejected, identityFailure, verifyResult: Int(X509_V_ERR_APPLICATION_VERIFICATION))
        }
        let verifyResult = Int(SSL_get_verify_result(ssl))
        if verifyResult != Int(X509_V_OK) {
            var reason =
                "certificate verify failed: \(OpenSSL.verifyErrorText(verifyResult)) (verify error \(verifyResult))"
            if let failure = verification.chainFailure, !failure.subject.isEmpty {
                reason += " at depth \(failure.depth) for \(failure.subject)"
            }
            return TLSError(.certificateRejected, reason, verifyResult: verifyResult)
        }
        if queue.contains(where: { $0.contains("peer did not return a certificate") }) {
            return TLSError(.certificateRejected, queueText)
        }
        return TLSError(.handshakeFailed, queueText)
    }
}
