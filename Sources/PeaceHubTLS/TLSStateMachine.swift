import NIOCore

/// The TLS connection's lifecycle, as a value: events in, actions out. `TLSHandler` performs the actions.
///
/// idle → handshaking → active → closing → closed. Any failure goes straight to closed.
struct TLSStateMachine {
    enum State {
        case idle
        case handshaking
        case active
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

    var isHandshaking: Bool {
        if case .handshaking = state { return true }
        return false
    }

    /// Writes are accepted (buffered) until a close starts.
    var acceptsWrites: Bool {
        switch state {
        case .idle, .handshaking, .active: true
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
        case .idle, .closed: .discard
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
        case .idle, .handshaking, .active:
            state = .closed
            return (true, nil)
        }
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
        case .idle, .closed:
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
        case .idle, .closed:
            state = .closed
            return .none
        }
    }
}
