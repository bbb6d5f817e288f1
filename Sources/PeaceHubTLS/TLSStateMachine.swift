import NIOCore

/// The TLS connection's lifecycle, as a value: events in, actions out. `TLSHandler` performs the actions.
///
/// idle → handshaking → active → closing → closed, or active → inputClosed → closed when the peer
/// half-closes. Any failure goes straight to closed.
struct TLSStateMachine {
    enum State {
        case idle
        case handshaking
        case active
        /// The peer's close_notify arrived and the session goes on one way (TLS 1.3 on a channel that allows
        /// half-closure): the peer sends nothing more, we may still answer; our close_notify goes with the close.
        case inputClosed
        /// Our close_notify is out; waiting for the peer's (or the timer). Holds the user's close promise.
        case closing(EventLoopPromise<Void>?)
        case closed
    }

    private(set) var state: State = .idle

    enum InboundAction {
        case continueHandshake
        case decrypt
        case discard
    }

    enum CloseAction {
        /// Close the socket now (no session to shut down), completing `promise` with the channel's close.
        case closeChannel(EventLoopPromise<Void>?)
        /// Send close_notify, start the close_notify timer, wait for the peer.
        case sendCloseNotify
        /// Send close_notify and close once it is written: the peer's came already.
        case sendCloseNotifyAndClose(EventLoopPromise<Void>?)
        /// A close is already under way: complete `promise` when it finishes.
        case chain(EventLoopPromise<Void>?, onto: EventLoopPromise<Void>?)
    }

    enum InactiveAction {
        /// The peer vanished without close_notify, mid-session or mid-handshake.
        case fireUncleanShutdown(duringHandshake: Bool)
        /// The close we started has finished.
        case completeClose(EventLoopPromise<Void>?)
        case none
    }

    var isActive: Bool {
        if case .active = state { return true }
        return false
    }

    /// Flushed writes are encrypted and sent.
    var sendsData: Bool {
        switch state {
        case .active, .inputClosed: true
        case .idle, .handshaking, .closing, .closed: false
        }
    }

    var isHandshaking: Bool {
        if case .handshaking = state { return true }
        return false
    }

    /// Writes are accepted (buffered) until a close starts.
    var acceptsWrites: Bool {
        switch state {
        case .idle, .handshaking, .active, .inputClosed: true
        case .closing, .closed: false
        }
    }

    /// The channel became active: true when the handshake should start now.
    mutating func channelActive() -> Bool {
        guard case .idle = state else { return false }
        state = .handshaking
        return true
    }

    func inboundCiphertext() -> InboundAction {
        switch state {
        case .handshaking: .continueHandshake
        case .active, .closing: .decrypt
        case .idle, .inputClosed, .closed: .discard
        }
    }

    /// The handshake finished: true when the session should go live (false if a close overtook it).
    mutating func handshakeCompleted() -> Bool {
        guard case .handshaking = state else { return false }
        state = .active
        return true
    }

    /// A fatal error: the session ends now. Returns the pending close promise, if a close was under way.
    mutating func failed() -> (wasOpen: Bool, closePromise: EventLoopPromise<Void>?) {
        switch state {
        case .closed:
            return (false, nil)
        case .closing(let promise):
            state = .closed
            return (true, promise)
        case .idle, .handshaking, .active, .inputClosed:
            state = .closed
            return (true, nil)
        }
    }

    /// The peer's close_notify arrived where half-closure is allowed: true when the session goes on one way
    /// (it was active), false when `peerClosed()` should end it.
    mutating func peerClosedInput() -> Bool {
        guard case .active = state else { return false }
        state = .inputClosed
        return true
    }

    /// Whether the peer has closed its side and been told about (a socket's own input-closed event is then news
    /// to no one).
    var isInputClosed: Bool {
        if case .inputClosed = state { return true }
        return false
    }

    /// The peer's close_notify arrived: true when we must answer with ours (we had not sent one yet).
    /// The pending close promise, if any, is returned for completion once the channel closes.
    mutating func peerClosed() -> (reply: Bool, closePromise: EventLoopPromise<Void>?) {
        switch state {
        case .active, .handshaking:
            state = .closed
            return (true, nil)
        case .closing(let promise):
            state = .closed
            return (false, promise)
        case .idle, .inputClosed, .closed:
            return (false, nil)
        }
    }

    mutating func closeRequested(promise: EventLoopPromise<Void>?) -> CloseAction {
        switch state {
        case .idle, .handshaking:
            state = .closed
            return .closeChannel(promise)
        case .active:
            state = .closing(promise)
            return .sendCloseNotify
        case .inputClosed:
            state = .closed
            return .sendCloseNotifyAndClose(promise)
        case .closing(let existing):
            return .chain(promise, onto: existing)
        case .closed:
            return .closeChannel(promise)
        }
    }

    /// The close_notify timer fired: the close promise to close with, or nil when the close already finished.
    mutating func closeNotifyTimedOut() -> (fire: Bool, closePromise: EventLoopPromise<Void>?) {
        guard case .closing(let promise) = state else { return (false, nil) }
        state = .closed
        return (true, promise)
    }

    mutating func channelInactive() -> InactiveAction {
        switch state {
        case .handshaking:
            state = .closed
            return .fireUncleanShutdown(duringHandshake: true)
        case .active:
            state = .closed
            return .fireUncleanShutdown(duringHandshake: false)
        case .closing(let promise):
            state = .closed
            return .completeClose(promise)
        case .idle, .inputClosed, .closed:
            state = .closed
            return .none
        }
    }
}
