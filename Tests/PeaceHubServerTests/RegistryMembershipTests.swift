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

        // A deployment ended through another connection: the cached missions are not answered again.
        try other.database.write { db in
            try db.execute(
                sql: """
                    UPDATE deployment SET status = 'ENDED' WHERE mission = 'UNIFIL' AND (contingent = 'KAZ'
                        OR personId IN (SELECT id FROM person WHERE contingent = 'KAZ'))
                    """)
        }
        #expect(!membership.activeMissions(of: "KAZ").contains("UNIFIL"))
    }
}

/// `RegistryChangeMonitor` reads the WAL-index header (one `pread`) and, after a commit, the count of membership
/// changes: a commit that changes the membership changes its value, by any connection; other commits do not.
@Suite struct RegistryChangeMonitorTests {
    @Test func theVersionChangesWithEveryMembershipCommitAndOnlyThen() throws {
        let folder = try TemporaryDirectory(prefix: "phub-monitor")
        defer { folder.remove() }
        let registry = try Registry(path: folder.path("registry.sqlite"))
        try SeedData.load(into: registry)
        let monitor = try #require(RegistryChangeMonitor(registry: registry, freshness: .zero))
        let first = try monitor.version()
        #expect(try monitor.version() == first)
        _ = try registry.contingents()
        #expect(try monitor.version() == first, "a read is not a change")
        try registry.archiveReport(
            ArchivedReport(
                mission: "UNIFIL", type: "UXO", sender: "KAZ", receivedAt: "2026-12-04T00:00:00Z",
                precedence: "ROUTINE", body: "{}"))
        try registry.updatePerson(serviceNumber: "KAZ-100101", as: .operator("test")) { $0.rank = "Major" }
        #expect(try monitor.version() == first, "archiving a report or promoting a person changes no membership")

        try registry.addContingent(Contingent(code: "NPL", name: "Nepal", pcrsLevel: .none), as: .operator("test"))
        let second = try monitor.version()
        #expect(second != first)
        let other = try Registry(path: folder.path("registry.sqlite"))
        try other.addContingent(Contingent(code: "GHA", name: "Ghana", pcrsLevel: .none), as: .operator("test"))
        let third = try monitor.version()
        #expect(third != second, "another connection's commit is seen too")

        // Each trigger, through another connection's SQL, as another process would write.
        var seen = [third]
        for statement in [
            "UPDATE person SET contingent = 'NPL' WHERE serviceNumber = 'KAZ-100101'",
            "UPDATE deployment SET status = 'ENDED' WHERE id = (SELECT min(id) FROM deployment)",
            "UPDATE deployment SET mission = 'UNFICYP' WHERE id = (SELECT min(id) FROM deployment)",
            "DELETE FROM deployment WHERE id = (SELECT min(id) FROM deployment)",
            "DELETE FROM contingent WHERE code = 'GHA'",
        ] {
            try other.database.write { db in try db.execute(sql: statement) }
            let version = try monitor.version()
            #expect(!seen.contains(version), "\(statement)")
            seen.append(version)
        }
        try other.database.write { db in
            try db.execute(sql: "UPDATE deployment SET post = 'Naqoura' WHERE id = (SELECT min(id) FROM deployment)")
        }
        #expect(try monitor.version() == seen.last, "a deployment's post is not its membership")
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
