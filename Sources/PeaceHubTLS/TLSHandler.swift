import CoreMetrics
import Logging
import NIOCore
import PeaceHubCore

/// TLS over OpenSSL for one channel, server or client side (`TLSConnection`: OpenSSL reads and writes the
/// network's buffers through BIOs of our own).
///
/// Inbound it takes ciphertext and passes plaintext on, one `channelRead` per read burst; outbound it takes
/// plaintext, buffers it until `flush`, and writes the ciphertext with one `writeAndFlush` per flush. After the
/// handshake it fires `TLSPeerIdentity` as an inbound user event; failures are fired as `TLSError` and close the
/// channel. The peer's close_notify closes the session, except under TLS 1.3 on a channel that allows remote
/// half-closure, where it is passed on as `ChannelEvent.inputClosed` and answers still go out. Create one per
/// channel inside the channel initializer; it keeps its `TLSContext` alive.
public final class TLSHandler: ChannelDuplexHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    private let connection: TLSConnection
    private let sessions: TLSSessionRegistry?
    private let logger: Logger
    private var machine = TLSStateMachine()
    private var pendingWrites: [(data: ByteBuffer, promise: EventLoopPromise<Void>?)] = []
    /// How many of `pendingWrites` a flush has covered.
    private var flushedWriteCount = 0
    /// Plaintext decrypted during the current read burst, delivered at channelReadComplete.
    private var plaintext: ByteBuffer?
    /// The next handler asked for data (read()) and has not been given any yet.
    private var readRequested = false
    /// A read on the next handler's behalf waits for the channel to be writable when the last one made OpenSSL
    /// write and brought no plaintext (each KeyUpdate that asks for one is answered): a client that sent them
    /// without reading had the hub queue its answers without bound. Part of a record read on: it writes nothing.
    private var readHeld = false
    /// OpenSSL wrote while reading in the current read burst.
    private var answeredWhileReading = false
    private var handshakeTimer: Scheduled<Void>?
    private var closeNotifyTimer: Scheduled<Void>?
    /// A refused handshake's alert is out and the socket's sending side is closing: a close asked for now (the
    /// handlers above hear of the error first) waits for the linger's, or the client's unread bytes would turn it
    /// into a TCP reset that overtakes the alert.
    private var lingering = false
    private var sessionToken: TLSSessionRegistry.Token?
    /// Whether the peer sent any byte: a connection closed before that is a port probe (a load balancer's, a
    /// monitor's), logged at debug rather than as a truncated session.
    private var peerSentBytes = false
    private var channelContext: ChannelHandlerContext?

    /// The context this connection was created with (a reload does not change it).
    public var tlsContext: TLSContext { connection.context }

    /// - Parameters:
    ///   - context: the server or client context.
    ///   - sessions: where live sessions are registered by certificate, so a CRL reload can close revoked ones.
    ///   - serverHostname: the other hub's name (client side only): sent as SNI and verified against its certificate.
    public init(
        context: TLSContext, sessions: TLSSessionRegistry? = nil, serverHostname: String? = nil,
        logger: Logger = Logger(label: "peacehub.tls")
    ) throws(TLSError) {
        if context.configuration.role == .client && serverHostname == nil {
            throw TLSError(.invalidConfiguration, "a client connection needs the server's host name to verify")
        }
        self.connection = try TLSConnection(context: context, serverHostname: serverHostname)
        self.sessions = sessions
        self.logger = logger
    }

    // MARK: Lifecycle

    public func handlerAdded(context: ChannelHandlerContext) {
        channelContext = context
        if context.channel.isActive { startHandshake(context: context) }
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        stopTimers()
        endSession()
        failPendingWrites(TLSError(.closed, "the TLS handler was removed"))
        channelContext = nil
    }

    public func channelActive(context: ChannelHandlerContext) {
        // Pass activity on first, so a handshake that fails at once still reaches handlers in a consistent order.
        context.fireChannelActive()
        startHandshake(context: context)
    }

    public func channelInactive(context: ChannelHandlerContext) {
        stopTimers()
        endSession()
        switch machine.channelInactive() {
        case .fireUncleanShutdown(let duringHandshake):
            deliverPlaintext(context: context)
            peerLeft(
                context: context, duringHandshake: duringHandshake,
                TLSError(
                    .uncleanShutdown,
                    duringHandshake
                        ? "peer closed the connection during the handshake"
                        : "peer closed the connection without close_notify (possible truncation)"))
        case .completeClose(let promise):
            promise?.succeed()
        case .none:
            break
        }
        failPendingWrites(TLSError(.closed, "the TLS session has ended"))
        context.fireChannelInactive()
    }

    /// A client that closes with the hub's flight unread resets the connection: it left mid-handshake all the
    /// same, and is counted and logged as one that closed it (the error went up, and the handler that closed on it
    /// left nothing to count).
    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard machine.isHandshaking, error is IOError else { return context.fireErrorCaught(error) }
        _ = machine.failed()
        stopTimers()
        peerLeft(
            context: context, duringHandshake: true,
            TLSError(.uncleanShutdown, "peer reset the connection during the handshake"))
        context.close(promise: nil)
    }

    /// The peer went without close_notify: logged (at debug when it sent nothing: a port probe), counted when it
    /// left mid-handshake, fired.
    private func peerLeft(context: ChannelHandlerContext, duringHandshake: Bool, _ error: TLSError) {
        if peerSentBytes {
            logger.warning("TLS connection truncated", metadata: metadata(context, error: error))
        } else {
            logger.debug("connection closed before any TLS byte (a port probe?)", metadata: metadata(context))
        }
        if duringHandshake { countHandshakeFailure(error) }
        failPendingWrites(error)
        context.fireErrorCaught(error)
    }

    // MARK: Inbound

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let ciphertext = unwrapInboundIn(data)
        peerSentBytes = true
        switch machine.inboundCiphertext() {
        case .continueHandshake:
            connection.receive(ciphertext)
            runHandshake(context: context)
        case .decrypt:
            connection.receive(ciphertext)
            decrypt(context: context)
        case .discard:
            break
        }
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        let delivered = deliverPlaintext(context: context)
        if !delivered && (machine.isHandshaking || readRequested) {
            // The next handler is still waiting (or the handshake needs bytes): ask the channel for more, once
            // what OpenSSL wrote has gone.
            if context.channel.isWritable || !answeredWhileReading {
                context.read()
            } else {
                readHeld = true
            }
        }
        answeredWhileReading = false
        context.fireChannelReadComplete()
    }

    public func channelWritabilityChanged(context: ChannelHandlerContext) {
        if readHeld, context.channel.isWritable {
            readHeld = false
            context.read()
        }
        context.fireChannelWritabilityChanged()
    }

    // MARK: Outbound

    public func read(context: ChannelHandlerContext) {
        readRequested = true
        context.read()
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard machine.acceptsWrites else {
            promise?.fail(TLSError(.closed, "write after the TLS session was closed"))
            return
        }
        pendingWrites.append((unwrapOutboundIn(data), promise))
    }

    public func flush(context: ChannelHandlerContext) {
        flushedWriteCount = pendingWrites.count
        if machine.sendsData { encryptFlushedWrites(context: context) }
    }

    public func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        guard mode == .all else {
            promise?.fail(ChannelError.operationUnsupported)
            return
        }
        if lingering {
            if let promise { context.channel.closeFuture.cascade(to: promise) }
            return
        }
        switch machine.closeRequested(promise: promise) {
        case .closeChannel(let promise):
            stopTimers()
            failPendingWrites(TLSError(.closed, "the TLS session was closed"))
            context.close(promise: promise)
        case .sendCloseNotify:
            encryptFlushedWrites(context: context)
            failPendingWrites(TLSError(.closed, "the TLS session was closed before this write was flushed"))
            connection.shutdown()
            flushCiphertext(context: context)
            let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
            closeNotifyTimer = context.eventLoop.scheduleTask(in: connection.context.configuration.closeNotifyTimeout) {
                bound.value.closeNotifyTimedOut()
            }
        case .sendCloseNotifyAndClose(let promise):
            stopTimers()
            encryptFlushedWrites(context: context)
            failPendingWrites(TLSError(.closed, "the TLS session was closed before this write was flushed"))
            connection.shutdown()
            if let promise { context.channel.closeFuture.cascade(to: promise) }
            closeAfter(flushCiphertextBeforeClosing(context: context), context: context, promise: nil)
            // A peer that reads nothing more would hold the connection for good: as long as for a close_notify.
            closeWithinTimeout(context)
        case .chain(let promise, _):
            if let promise { context.channel.closeFuture.cascade(to: promise) }
        }
    }

    /// The socket's own half-closure comes after the peer's close_notify, which was passed on as one already.
    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event, machine.isInputClosed { return }
        context.fireUserInboundEventTriggered(event)
    }

    // MARK: Handshake

    private func startHandshake(context: ChannelHandlerContext) {
        guard machine.channelActive() else { return }
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let timeout = connection.context.configuration.handshakeTimeout
        handshakeTimer = context.eventLoop.scheduleTask(in: timeout) {
            bound.value.handshakeTimedOut(after: timeout)
        }
        runHandshake(context: context)
        context.read()
    }

    private func runHandshake(context: ChannelHandlerContext) {
        switch connection.handshake() {
        case .wantsMore:
            flushCiphertext(context: context)
        case .failed(let error):
            countHandshakeFailure(error)
            fail(context: context, error: error, linger: true)
        case .complete:
            handshakeTimer?.cancel()
            handshakeTimer = nil
            flushCiphertext(context: context)
            guard machine.handshakeCompleted() else { return }
            let identity: TLSPeerIdentity
            let chain: [CertificateID]
            switch connection.peerIdentity() {
            case .success(let found): (identity, chain) = found
            case .failure(let error):
                countHandshakeFailure(error)
                fail(context: context, error: error)
                return
            }
            logger.info(
                "TLS handshake complete",
                metadata: metadata(context).merging(
                    [
                        "tls.principal": "\(identity.principal)", "tls.serial": "\(identity.serial)",
                        "tls.version": "\(identity.tlsVersion)", "tls.cipher": "\(identity.cipher)",
                    ], uniquingKeysWith: { $1 }))
            registerSession(context: context, chain: chain)
            context.fireUserInboundEventTriggered(identity)
            context.fireUserInboundEventTriggered(PeerCredentials(certificates: chain.map(\.credential)))
            // Records that arrived with the peer's last flight, then writes queued during the handshake.
            if machine.isActive { decrypt(context: context) }
            if machine.sendsData { encryptFlushedWrites(context: context) }
        }
    }

    private func handshakeTimedOut(after timeout: TimeAmount) {
        handshakeTimer = nil
        guard machine.isHandshaking, let context = channelContext else { return }
        let seconds = Double(timeout.nanoseconds) / 1e9
        let error = TLSError(.handshakeTimeout, "peer did not complete the handshake within \(seconds) s")
        countHandshakeFailure(error)
        fail(context: context, error: error)
    }

    /// `peacehub_tls_handshake_failures_total{reason}`: see `TLSError.handshakeFailureReason`.
    private func countHandshakeFailure(_ error: TLSError) {
        Counter(label: "peacehub_tls_handshake_failures_total", dimensions: [("reason", error.handshakeFailureReason)])
            .increment()
    }

    // MARK: Data

    private func decrypt(context: ChannelHandlerContext) {
        // Taken out of `plaintext` first: a second reference would make every read copy what was gathered so far.
        var buffer = plaintext ?? context.channel.allocator.buffer(capacity: 0)
        plaintext = nil
        let result = connection.read(into: &buffer)
        plaintext = buffer.readableBytes > 0 ? buffer : nil
        // SSL_read can produce output too (alerts, KeyUpdate answers).
        if connection.hasCiphertext { answeredWhileReading = true }
        flushCiphertext(context: context)
        switch result {
        case .wantsMore:
            break
        case .closeNotify:
            if connection.isTLS13, allowsHalfClosure(context), machine.peerClosedInput() {
                // TLS 1.3 closes each direction on its own [RFC 8446 6.1]: an HTTP client may send its request,
                // then close_notify, and still read the answer.
                deliverPlaintext(context: context)
                context.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
            } else {
                peerClosed(context: context)
            }
        case .failed(let error):
            deliverPlaintext(context: context)
            fail(context: context, error: error)
        }
    }

    /// Fires the plaintext gathered so far as one channelRead. Returns true when there was some.
    @discardableResult
    private func deliverPlaintext(context: ChannelHandlerContext) -> Bool {
        guard let buffer = plaintext else { return false }
        plaintext = nil
        readRequested = false
        context.fireChannelRead(wrapInboundOut(buffer))
        return true
    }

    private func encryptFlushedWrites(context: ChannelHandlerContext) {
        guard flushedWriteCount > 0 else { return }
        // Taken whole when the flush covers every write (the usual case), so an idle connection keeps no array.
        let batch: [(data: ByteBuffer, promise: EventLoopPromise<Void>?)]
        if flushedWriteCount == pendingWrites.count {
            batch = pendingWrites
            pendingWrites = []
        } else {
            batch = Array(pendingWrites.prefix(flushedWriteCount))
            pendingWrites.removeFirst(flushedWriteCount)
        }
        flushedWriteCount = 0
        var promises: [EventLoopPromise<Void>] = []
        for (data, promise) in batch {
            if let error = connection.write(data) {
                for (_, other) in batch { other?.fail(error) }
                fail(context: context, error: error)
                return
            }
            if let promise { promises.append(promise) }
        }
        var combined: EventLoopPromise<Void>?
        if !promises.isEmpty {
            let promise = context.eventLoop.makePromise(of: Void.self)
            for other in promises { promise.futureResult.cascade(to: other) }
            combined = promise
        }
        flushCiphertext(context: context, promise: combined)
    }

    /// Writes whatever OpenSSL produced as one writeAndFlush; `promise` completes once it is written (at once when
    /// there was nothing). Plain flushes pass none: a promise per flush would cost allocations on every message.
    private func flushCiphertext(context: ChannelHandlerContext, promise: EventLoopPromise<Void>? = nil) {
        guard let data = connection.takeCiphertext() else {
            promise?.succeed()
            return
        }
        context.writeAndFlush(wrapOutboundOut(data), promise: promise)
    }

    /// `flushCiphertext` for an ending that closes once the last bytes are out: their future, nil when there
    /// were none.
    private func flushCiphertextBeforeClosing(context: ChannelHandlerContext) -> EventLoopFuture<Void>? {
        guard connection.hasCiphertext else { return nil }
        let promise = context.eventLoop.makePromise(of: Void.self)
        flushCiphertext(context: context, promise: promise)
        return promise.futureResult
    }

    // MARK: Endings

    /// Ends the session on an error: sends what OpenSSL queued (the alert), fires the error, closes.
    /// `linger` (refused handshakes): close our side of the socket after the alert but keep reading for a moment,
    /// so a client that already wrote its first data gets the alert instead of a TCP reset.
    private func fail(
        context: ChannelHandlerContext, error: TLSError, sendCloseNotify: Bool = false, linger: Bool = false
    ) {
        let (wasOpen, closePromise) = machine.failed()
        guard wasOpen else { return }
        stopTimers()
        endSession()
        if sendCloseNotify { connection.shutdown() }
        let flushed = flushCiphertextBeforeClosing(context: context)
        logger.warning("TLS session failed", metadata: metadata(context, error: error))
        failPendingWrites(error)
        lingering = linger && closePromise == nil
        context.fireErrorCaught(error)
        if lingering {
            lingerThenClose(after: flushed, context: context)
        } else {
            closeAfter(flushed, context: context, promise: closePromise)
        }
    }

    private func lingerThenClose(after flushed: EventLoopFuture<Void>?, context: ChannelHandlerContext) {
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let closeOutput: @Sendable () -> Void = {
            let handler = bound.value
            guard let context = handler.channelContext else { return }
            handler.closeWithinTimeout(context)
            let outputClosed = context.eventLoop.makePromise(of: Void.self)
            context.close(mode: .output, promise: outputClosed)
            outputClosed.futureResult.whenFailure { _ in bound.value.channelContext?.close(promise: nil) }
        }
        if let flushed {
            flushed.whenComplete { _ in closeOutput() }
        } else {
            closeOutput()
        }
    }

    /// Closes the channel `closeNotifyTimeout` from now, whatever is still unsent then.
    private func closeWithinTimeout(_ context: ChannelHandlerContext) {
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        closeNotifyTimer = context.eventLoop.scheduleTask(in: connection.context.configuration.closeNotifyTimeout) {
            bound.value.channelContext?.close(promise: nil)
        }
    }

    private func peerClosed(context: ChannelHandlerContext) {
        deliverPlaintext(context: context)
        let (reply, closePromise) = machine.peerClosed()
        stopTimers()
        endSession()
        if reply { connection.shutdown() }
        let flushed = flushCiphertextBeforeClosing(context: context)
        failPendingWrites(TLSError(.closed, "the peer closed the TLS session"))
        closeAfter(flushed, context: context, promise: closePromise)
    }

    private func allowsHalfClosure(_ context: ChannelHandlerContext) -> Bool {
        (try? context.channel.syncOptions?.getOption(.allowRemoteHalfClosure)) ?? false
    }

    private func closeNotifyTimedOut() {
        closeNotifyTimer = nil
        let (fire, closePromise) = machine.closeNotifyTimedOut()
        guard fire, let context = channelContext else { return }
        context.close(promise: closePromise)
    }

    /// Closes the session at once because a certificate of its chain was revoked (called on the event loop).
    private func revoke(reason: String) {
        guard let context = channelContext else { return }
        // The protocol above may still write its last words (MQTT 5: DISCONNECT 0x98) before close_notify.
        context.fireUserInboundEventTriggered(CredentialRevoked(reason: reason))
        fail(context: context, error: TLSError(.sessionRevoked, reason), sendCloseNotify: true)
    }

    private func closeAfter(
        _ flushed: EventLoopFuture<Void>?, context: ChannelHandlerContext, promise: EventLoopPromise<Void>?
    ) {
        guard let flushed else {
            context.close(promise: promise)
            return
        }
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        flushed.whenComplete { _ in bound.value.close(promise: promise) }
    }

    private func failPendingWrites(_ error: TLSError) {
        let writes = pendingWrites
        pendingWrites = []
        flushedWriteCount = 0
        for (_, promise) in writes { promise?.fail(error) }
    }

    private func stopTimers() {
        handshakeTimer?.cancel()
        handshakeTimer = nil
        closeNotifyTimer?.cancel()
        closeNotifyTimer = nil
    }

    /// Registers the session under each certificate of its chain below the root (leaf first).
    private func registerSession(context: ChannelHandlerContext, chain: [CertificateID]) {
        guard let sessions else { return }
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let eventLoop = context.eventLoop
        let leaf = chain.first
        sessionToken = sessions.register(chain) { revoked in
            let reason =
                revoked == leaf
                ? "certificate serial \(revoked.serial) has been revoked"
                : "the CA certificate serial \(revoked.serial) of its chain has been revoked"
            eventLoop.execute { bound.value.revoke(reason: reason) }
        }
    }

    private func endSession() {
        if let sessionToken { sessions?.unregister(sessionToken) }
        sessionToken = nil
    }

    private func metadata(_ context: ChannelHandlerContext, error: TLSError? = nil) -> Logger.Metadata {
        var metadata: Logger.Metadata = ["tls.peer": "\(context.channel.remoteAddress.map { "\($0)" } ?? "?")"]
        if let error {
            metadata["tls.error"] = "\(error.code)"
            metadata["tls.reason"] = "\(error.reason)"
        }
        return metadata
    }
}

@available(*, unavailable)
extension TLSHandler: Sendable {}
