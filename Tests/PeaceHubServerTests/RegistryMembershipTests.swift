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
        let membership = RegistryMembership(registry: registry, freshness: .zero)
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

/// `RegistryChangeMonitor` reads the WAL-index header (one `pread`), not a query, and still sees every commit.
@Suite struct RegistryChangeMonitorTests {
    @Test func theHeaderChangesWithEveryCommitAndOnlyThen() throws {
        let folder = try TemporaryDirectory(prefix: "phub-monitor")
        defer { folder.remove() }
        let registry = try Registry(path: folder.path("registry.sqlite"))
        let monitor = try #require(RegistryChangeMonitor(registry: registry, freshness: .zero))
        let first = try monitor.version()
        #expect(first >= 0, "the WAL-index header was read (a query's answer is negative)")
        #expect(try monitor.version() == first)
        _ = try registry.contingents()
        #expect(try monitor.version() == first, "a read is not a change")
        try registry.addContingent(Contingent(code: "NPL", name: "Nepal", pcrsLevel: .none), as: .operator("test"))
        let second = try monitor.version()
        #expect(second != first)
        let other = try Registry(path: folder.path("registry.sqlite"))
        try other.addContingent(Contingent(code: "GHA", name: "Ghana", pcrsLevel: .none), as: .operator("test"))
        #expect(try monitor.version() != second, "another connection's commit is seen too")
    }

    /// A version read less than `freshness` ago is answered without reading: a change shows after that window.
    @Test func aFreshVersionIsAnsweredWithoutReading() throws {
        let folder = try TemporaryDirectory(prefix: "phub-monitor")
        defer { folder.remove() }
        let registry = try Registry(path: folder.path("registry.sqlite"))
        let monitor = try #require(RegistryChangeMonitor(registry: registry, freshness: .seconds(30)))
        let first = try monitor.version()
        try registry.addContingent(Contingent(code: "NPL", name: "Nepal", pcrsLevel: .none), as: .operator("test"))
        #expect(try monitor.version() == first, "within the window the value read is kept")
        let short = try #require(RegistryChangeMonitor(registry: registry, freshness: .milliseconds(1)))
        let before = try short.version()
        try registry.addContingent(Contingent(code: "GHA", name: "Ghana", pcrsLevel: .none), as: .operator("test"))
        usleep(2000)
        #expect(try short.version() != before, "after the window the change is seen")
    }
}
