import Foundation
import PeaceHubRegistry
import PeaceHubServer
import PeaceHubTesting
import Testing

/// `RegistryMembership` caches answers per registry data version: a change, through this registry or another
/// connection to the file (another process), still applies to the next question.
@Suite struct RegistryMembershipTests {
    @Test func aChangeByAnyConnectionAppliesToTheNextQuestion() throws {
        let folder = try TemporaryDirectory(prefix: "phub-membership")
        defer { folder.remove() }
        let registry = try Registry(path: folder.path("registry.sqlite"))
        try SeedData.load(into: registry)
        let membership = RegistryMembership(registry: registry)
        #expect(membership.activeMissions(of: "KAZ").contains("UNIFIL"))
        #expect(membership.activeMissions(of: "NPL").isEmpty)

        // Asked twice (the second answer from the cache), then added through the same registry.
        #expect(!membership.isActive(contingent: "NPL"))
        #expect(!membership.isActive(contingent: "NPL"))
        try registry.addContingent(Contingent(code: "NPL", name: "Nepal", pcrsLevel: .none), as: .operator("test"))
        #expect(membership.isActive(contingent: "NPL"))

        // Added through another connection to the file, as `peacehub registry contingent add` would.
        #expect(!membership.isActive(contingent: "GHA"))
        let other = try Registry(path: folder.path("registry.sqlite"))
        try other.addContingent(Contingent(code: "GHA", name: "Ghana", pcrsLevel: .none), as: .operator("test"))
        #expect(membership.isActive(contingent: "GHA"))
        #expect(membership.activeMissions(of: "KAZ").contains("UNIFIL"))
    }
}
