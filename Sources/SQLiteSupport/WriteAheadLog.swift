/// The size the write-ahead log of a hub database is cut back to once a checkpoint has emptied it (SQLite's
/// `journal_size_limit`): SQLite reuses the log and never shrinks it, so one large transaction (an import, a
/// backlog of queued messages) left it at its peak for good.
public let walSizeLimit = 4 << 20
