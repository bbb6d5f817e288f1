import Foundation

/// One requirement a person or a contingent does not meet for a mission.
public struct UnmetRequirement: Sendable, Codable, Hashable {
    /// A stable code such as `TRAINING_MISSING`, for scripts and tests.
    public var code: String
    /// A sentence for people.
    public var message: String
    /// In a contingent's result, the member the item is about.
    public var serviceNumber: String?

    public init(code: String, message: String, serviceNumber: String? = nil) {
        self.code = code
        self.message = message
        self.serviceNumber = serviceNumber
    }
}

/// Judges readiness for a mission. The host implements it over the mission modules, so that
/// the registry can refuse a deployment without importing the plugin host.
public protocol ReadinessEvaluating: Sendable {
    /// Evaluates a readiness request (the JSON document of docs/abi.md) for `mission`.
    ///
    /// - Returns: the unmet requirements; empty means ready.
    /// - Throws: when no module serves the mission or the module failed.
    func evaluateReadiness(mission: String, request: Data) throws -> [UnmetRequirement]
}
