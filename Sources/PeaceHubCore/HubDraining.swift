/// The hub is shutting down: a connection that receives this (as an inbound user event in its
/// channel pipeline) finishes what it has already started, accepts no new work and closes.
///
/// The server fires it through every live connection's pipeline once it has stopped accepting;
/// connections still open when the drain bound (`shutdownTimeoutSeconds`) has passed are closed.
public struct HubDraining: Sendable, Hashable {
    public init() {}
}
