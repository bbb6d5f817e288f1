import COpenSSL
import COpenSSLShim
import Foundation
import Synchronization

/// The client chains a server context has verified, so that a contingent reconnecting with the same certificate
/// is not verified again.
///
/// A verdict depends on the exact certificates the client sent, on the context's CAs, CRLs and policy (fixed for
/// the context's life: a reload builds a new context, and with it an empty cache) and on the time. So a chain that
/// passed is kept, keyed by its DER bytes, with its principal, the chain OpenSSL built from it (which certificates a
/// revocation of the session may name) and the window in which the same verification would pass again: from the
/// latest notBefore of the verified chain to the first of its notAfters and the CRLs' nextUpdate. Failures are
/// never kept: each is verified in full and reported with its reason. In OpenSSL 3.0 the full verification (the
/// certificate's signature, the CRL's signature, the look-ups around them) costs about a sixth of the hub's CPU per
/// handshake (docs/performance.md, item 9).
final class VerifiedChains: Sendable {
    struct Verdict: Sendable, Equatable {
        let principal: TLSPeerIdentity.Principal
        /// `VerificationState.chain`: what the session is registered under, for a revocation to close it.
        let chain: [CertificateID]
        /// Seconds since 1970: the same verification passes from `validFrom` until before `validUntil`.
        let validFrom: Int64
        let validUntil: Int64
    }

    /// At most this many chains are kept; when full, the cache starts over (a contingent per certificate, a few
    /// thousand at most in one hub).
    static let capacity = 4096
    /// Chains longer than this are verified every time (a client sends one or two certificates of about 600 bytes).
    static let largestChain = 64 * 1024

    /// The soonest nextUpdate of the context's CRLs, in seconds since 1970.
    private let crlNextUpdate: Int64?
    private let verdicts = Mutex<[[UInt8]: Verdict]>([:])
    private let answeredFromCache = Atomic<Int>(0)

    init(crlNextUpdate: Date?) {
        self.crlNextUpdate = crlNextUpdate.map { Int64($0.timeIntervalSince1970.rounded(.down)) }
    }

    /// Chains kept now.
    var count: Int { verdicts.withLock { $0.count } }
    /// Verifications answered from the cache so far.
    var hits: Int { answeredFromCache.load(ordering: .relaxed) }

    /// The verdict kept for `chain` if it still holds at `now`.
    func verdict(for chain: [UInt8], now: Int64) -> Verdict? {
        verdicts.withLock { verdicts in
            guard let verdict = verdicts[chain], verdict.validFrom <= now, now < verdict.validUntil else { return nil }
            return verdict
        }
    }

    func remember(_ verdict: Verdict, for chain: [UInt8]) {
        verdicts.withLock { verdicts in
            if verdicts.count >= Self.capacity { verdicts.removeAll(keepingCapacity: true) }
            verdicts[chain] = verdict
        }
    }

    /// OpenSSL's certificate verification step for a server context: a kept verdict, or `X509_verify_cert` (which
    /// calls the verify callback, where the principal is found) and its success kept. The chain it built is let go
    /// of: OpenSSL would keep it on the connection for its whole life (`SSL_get0_verified_chain`), and with it the
    /// client's parsed certificate, which `phub_ssl_release_session` frees once the identity is taken.
    func verify(_ storeContext: OpaquePointer, now: Int64) -> Int32 {
        guard let state = VerificationState.of(storeContext), let chain = Self.sentChain(storeContext) else {
            return max(0, X509_verify_cert(storeContext))
        }
        if let verdict = verdict(for: chain, now: now) {
            state.principal = verdict.principal
            state.chain = verdict.chain
            answeredFromCache.add(1, ordering: .relaxed)
            return 1
        }
        guard X509_verify_cert(storeContext) == 1 else { return 0 }
        var notBefore: Int64 = 0
        var notAfter: Int64 = 0
        if let principal = state.principal,
            phub_store_ctx_chain_validity(storeContext, &notBefore, &notAfter) == 1
        {
            let validUntil = min(notAfter, crlNextUpdate ?? notAfter)
            remember(
                Verdict(principal: principal, chain: state.chain, validFrom: notBefore, validUntil: validUntil),
                for: chain)
        }
        X509_STORE_CTX_set0_verified_chain(storeContext, nil)
        return 1
    }

    /// The DER of the certificates the client sent, leaf first; nil when it cannot be encoded or is too long.
    private static func sentChain(_ storeContext: OpaquePointer) -> [UInt8]? {
        let length = phub_store_ctx_peer_chain_der(storeContext, nil, 0)
        guard length > 0, length <= largestChain else { return nil }
        let chain = [UInt8](unsafeUninitializedCapacity: length) { buffer, count in
            count = phub_store_ctx_peer_chain_der(storeContext, buffer.baseAddress, length) == length ? length : 0
        }
        return chain.count == length ? chain : nil
    }
}

/// OpenSSL's certificate verification callback of server contexts; `argument` is the context's VerifiedChains.
let certificateVerifyCallback: @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?) -> Int32 = {
    storeContext, argument in
    guard let storeContext, let argument else { return 0 }
    return Unmanaged<VerifiedChains>.fromOpaque(argument).takeUnretainedValue()
        .verify(storeContext, now: Int64(time(nil)))
}
