import COpenSSL
import COpenSSLShim
import NIOCore
import PeaceHubCore

/// One OpenSSL `SSL`: ciphertext in through `receive`, out through `takeCiphertext`. Through one BIO of our own
/// (`phub_connection_bio_new`), OpenSSL reads what was received from the network's buffer itself, through a window
/// opened around each call that may read, and writes records into the buffer they leave in, whose free end is
/// lent around each `SSL_write`. No memory BIO holds a copy in between.
///
/// Not thread-safe: owned by one `TLSHandler` and used only on its channel's event loop. Every call that runs
/// OpenSSL clears the thread's error queue first and drains it before returning.
final class TLSConnection {
    /// Kept alive for as long as the `SSL` made from it.
    let context: TLSContext
    let serverHostname: String?
    /// Read outside this type only by tests of what a connection keeps (`SessionReleaseTests`).
    let ssl: OpaquePointer
    private let bio: OpaquePointer
    /// Ciphertext received and not yet taken by OpenSSL (nil when all was): the network's buffer itself.
    private var inbound: ByteBuffer?
    /// Ciphertext OpenSSL produced and nobody took yet (nil when there is none).
    private var outbound: ByteBuffer?
    private static let allocator = ByteBufferAllocator()
    /// Room lent per record beyond its plaintext: TLS 1.3 adds 22 bytes, TLS 1.2 with AES-GCM 29. A suite that
    /// adds more still works: what does not fit goes to the sink's spill buffer.
    private static let recordOverhead = 32
    /// What the handshake's verify callback found; nil once `peerIdentity()` took it (renegotiation is off, so
    /// nothing consults it after the handshake).
    private var verification: VerificationState?

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
        let verification = VerificationState(role: context.configuration.role)
        self.verification = verification
        ERR_clear_error()
        guard let ssl = SSL_new(context.sslContext) else {
            throw TLSError(.invalidConfiguration, OpenSSL.errorText("SSL_new failed"))
        }
        guard let bio = phub_connection_bio_new() else {
            SSL_free(ssl)
            throw TLSError(.invalidConfiguration, "out of memory")
        }
        SSL_set_bio(ssl, bio, bio)  // the SSL owns the BIO now (one reference, for both directions)
        self.ssl = ssl
        self.bio = bio
        SSL_set_ex_data(ssl, VerificationState.exDataIndex, Unmanaged.passUnretained(verification).toOpaque())
        switch context.configuration.role {
        case .server:
            SSL_set_accept_state(ssl)
        case .client:
            SSL_set_connect_state(ssl)
            if let serverHostname {
                // An address is checked against the certificate's IP addresses, but not sent: SNI names hosts only
                // [RFC 6066 3].
                let sendsName = ipAddressBytes(serverHostname) == nil
                guard !sendsName || phub_ssl_set_tlsext_host_name(ssl, serverHostname) == 1,
                    SSL_set1_host(ssl, serverHostname) == 1
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
    /// the BIO's window; then drops what it took.
    private func offeringInbound<Result>(_ body: () -> Result) -> Result {
        guard let chunk = inbound else { return body() }
        let (result, taken) = chunk.withUnsafeReadableBytes { bytes in
            phub_window_bio_set(bio, bytes.baseAddress, bytes.count)
            let result = body()
            return (result, phub_window_bio_clear(bio))
        }
        if taken >= chunk.readableBytes {
            inbound = nil
        } else {
            inbound!.moveReaderIndex(forwardBy: taken)
        }
        return result
    }

    /// OpenSSL has produced bytes for the peer that are not taken yet.
    var hasCiphertext: Bool { outbound != nil || phub_sink_bio_spill_length(bio) > 0 }

    /// Ciphertext OpenSSL produced (handshake messages, records, alerts), or nil when there is none.
    func takeCiphertext() -> ByteBuffer? {
        takeSpill()
        defer { outbound = nil }
        return outbound
    }

    /// Moves what OpenSSL wrote with no room lent (or beyond it) to the end of `outbound`, freeing the spill buffer.
    private func takeSpill() {
        let count = phub_sink_bio_spill_length(bio)
        guard count > 0 else { return }
        appendToOutbound(minimumWritableBytes: count) { room in
            phub_sink_bio_drain_spill(bio, room.baseAddress)
            return count
        }
    }

    /// Runs `body` on at least `minimumWritableBytes` of room at the end of `outbound`; it returns how many it wrote.
    private func appendToOutbound(
        minimumWritableBytes: Int, _ body: (UnsafeMutableRawBufferPointer) -> Int
    ) {
        // Taken out first, so the buffer is uniquely referenced and written in place.
        var buffer = outbound ?? Self.allocator.buffer(capacity: minimumWritableBytes)
        outbound = nil
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: minimumWritableBytes, body)
        outbound = buffer
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
        // Records are longer than their plaintext, so room for the offered ones is made once. A record's worth
        // before each SSL_read grew the buffer, copying it, up to three times for a 64 KiB read.
        plaintext.reserveCapacity(minimumWritableBytes: max(inbound?.readableBytes ?? 0, 256))
        return offeringInbound { readRecords(into: &plaintext) }
    }

    private func readRecords(into plaintext: inout ByteBuffer) -> ReadResult {
        while true {
            emptyErrorQueue()
            var result: Int32 = 0
            // SSL_read takes what fits and keeps the rest of a record for the next call.
            plaintext.writeWithUnsafeMutableBytes(minimumWritableBytes: 1) { bytes in
                result = SSL_read(ssl, bytes.baseAddress, Int32(min(bytes.count, Int(Int32.max))))
                return result > 0 ? Int(result) : 0
            }
            if result > 0 { continue }
            let error = SSL_get_error(ssl, result)
            switch error {
            case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
                emptyErrorQueue()
                return .wantsMore
            case SSL_ERROR_ZERO_RETURN:
                ERR_clear_error()
                return .closeNotify
            default:
                return .failed(TLSError(.protocolError, OpenSSL.errorText("SSL_read failed (SSL error \(error))")))
            }
        }
    }

    /// Encrypts all of `buffer` (the sink never pushes back, so SSL_write takes it whole) into `outbound`.
    func write(_ buffer: ByteBuffer) -> TLSError? {
        guard buffer.readableBytes > 0 else { return nil }
        takeSpill()
        let records = buffer.readableBytes / 16384 + 1
        var result: Int32 = 0
        appendToOutbound(minimumWritableBytes: buffer.readableBytes + records * Self.recordOverhead) { room in
            phub_sink_bio_lend(bio, room.baseAddress, room.count)
            buffer.withUnsafeReadableBytes { bytes in
                emptyErrorQueue()
                result = SSL_write(ssl, bytes.baseAddress, Int32(bytes.count))
            }
            return phub_sink_bio_recall(bio)
        }
        takeSpill()
        if outbound?.readableBytes == 0 { outbound = nil }
        if result > 0 { return nil }
        let error = SSL_get_error(ssl, result)
        return TLSError(.protocolError, OpenSSL.errorText("SSL_write failed (SSL error \(error))"))
    }

    /// Empties the thread's error queue before a record is read or written, as `SSL_get_error` needs. It is nearly
    /// always empty already, and `ERR_clear_error` walks all sixteen of its slots, freeing two pointers in each.
    private func emptyErrorQueue() {
        if ERR_peek_error() != 0 { ERR_clear_error() }
    }

    /// Whether the session is TLS 1.3 (once the handshake is complete).
    var isTLS13: Bool { SSL_version(ssl) == TLS1_3_VERSION }

    /// Queues our close_notify.
    func shutdown() {
        ERR_clear_error()
        _ = SSL_shutdown(ssl)
        ERR_clear_error()
    }

    /// The verified peer's identity and its chain below the root (`VerificationState.chain`); call once, after
    /// `handshake()` returned `.complete`. Lets go of the verification state and, on a server's TLS 1.3
    /// connection, of the session with the client's parsed certificate (`phub_ssl_release_session`), which an
    /// idle connection would otherwise keep.
    func peerIdentity() -> Result<(identity: TLSPeerIdentity, chain: [CertificateID]), TLSError> {
        let verification = self.verification
        self.verification = nil
        SSL_set_ex_data(ssl, VerificationState.exDataIndex, nil)
        guard let cert = SSL_get0_peer_certificate(ssl), SSL_get_verify_result(ssl) == X509_V_OK else {
            return .failure(TLSError(.certificateRejected, "peer presented no verified certificate"))
        }
        let principal: TLSPeerIdentity.Principal
        switch context.configuration.role {
        case .server:
            guard let found = verification?.principal else {
                return .failure(TLSError(.identityRejected, verification?.identityFailure ?? "no PeaceHub principal"))
            }
            principal = found
        case .client:
            let peername = SSL_get0_peername(ssl).map { String(cString: $0) }
            principal = .server(peername ?? serverHostname ?? "")
        }
        let cipher = SSL_get_current_cipher(ssl).flatMap { SSL_CIPHER_get_name($0) }.map { String(cString: $0) } ?? ""
        let identity = TLSPeerIdentity(
            principal: principal, subject: CertificateInfo.subject(cert), serial: CertificateInfo.serial(cert),
            issuer: OpenSSL.take(phub_x509_name_rfc2253(X509_get_issuer_name(cert))) ?? "?",
            spkiSHA256: CertificateInfo.spkiSHA256(cert), tlsVersion: String(cString: SSL_get_version(ssl)),
            cipher: cipher)
        _ = phub_ssl_release_session(ssl)
        return .success((identity, verification?.chain ?? []))
    }

    /// Maps a failed handshake to a TLSError: identity, then chain verification, then OpenSSL's queue.
    private func handshakeError(sslError: Int32) -> TLSError {
        let queue = OpenSSL.drainErrors()
        let queueText = queue.isEmpty ? "handshake failed (SSL error \(sslError))" : queue.joined(separator: "; ")
        if let identityFailure = verification?.identityFailure {
            return TLSError(.identityRejected, identityFailure, verifyResult: Int(X509_V_ERR_APPLICATION_VERIFICATION))
        }
        let verifyResult = Int(SSL_get_verify_result(ssl))
        if verifyResult != Int(X509_V_OK) {
            var reason =
                "certificate verify failed: \(OpenSSL.verifyErrorText(verifyResult)) (verify error \(verifyResult))"
            if let failure = verification?.chainFailure, !failure.subject.isEmpty {
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
