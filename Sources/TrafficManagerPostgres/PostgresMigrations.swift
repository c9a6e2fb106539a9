/// The schema, as versioned migrations shipped in the module.
///
/// ``script(schema:)`` wraps them in one `DO` block that takes a transaction-scoped advisory
/// lock, creates the `tm_schema_migrations` table if needed, applies each migration whose
/// version is not recorded yet, and records it — one transaction, safe to run twice or from two
/// processes at once.
enum PostgresMigrations {
    struct Migration {
        var version: Int
        var name: String
        var sql: String
    }

    /// The advisory lock key migrations hold ("tmmigr" in ASCII).
    static let lockKey: Int64 = 0x746D_6D69_6772

    static let all: [Migration] = [
        Migration(version: 1, name: "routes, events, idempotency keys, tm_apply", sql: Migration0001.sql),
        Migration(
            version: 2, name: "audit log",
            sql: """
                CREATE TABLE audit_log (
                    event_id    uuid        PRIMARY KEY,
                    action      text        NOT NULL,
                    tenant      text        NOT NULL,
                    service     text        NOT NULL,
                    env         text        NOT NULL,
                    version     text        NOT NULL,
                    url         text        NOT NULL,
                    revision    bigint      NOT NULL,
                    occurred_at timestamptz NOT NULL,
                    recorded_at timestamptz NOT NULL DEFAULT now()
                );
                """),
        Migration(
            version: 3, name: "compare-and-set, per-tenant idempotency keys with retention, pruning indexes",
            sql: Migration0003.sql),
        Migration(version: 4, name: "tm_apply_batch", sql: Migration0004.sql),
        Migration(
            version: 5, name: "leases",
            sql: """
                CREATE TABLE tm_leases (
                    name       text        PRIMARY KEY,
                    holder     text        NOT NULL,
                    expires_at timestamptz NOT NULL
                );
                """),
        Migration(version: 6, name: "idempotency keys in use refused at once", sql: Migration0006.sql),
        Migration(
            version: 7, name: "change positions: the writing transaction id on every event, and the pruned horizon",
            sql: """
                -- Evaluated in each inserting transaction (and once for the rows already here, all
                -- of them committed): the event's transaction id, which with the row id orders the
                -- history so that no change appears behind a position already handed out.
                ALTER TABLE route_events ADD COLUMN txid xid8 NOT NULL DEFAULT pg_current_xact_id();
                CREATE INDEX route_events_txid_id ON route_events (txid, id);
                -- The newest position the retention prune deleted: a reader behind it missed changes.
                CREATE TABLE tm_change_horizon (
                    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
                    txid      xid8    NOT NULL,
                    id        bigint  NOT NULL
                );
                """),
    ]

    /// The migration script; `version` stops it after that migration (for upgrade tests).
    ///
    /// With a `statementTimeout`, the script starts with `SET LOCAL statement_timeout`: the
    /// message is one implicit transaction, so the setting covers the `DO` block that follows
    /// (the server times each statement of a message on its own) and ends with the transaction,
    /// committed or not, leaving the connection's own timeout in place.
    static func script(schema: String?, through version: Int = .max, statementTimeout: Duration? = nil) -> String {
        var prefix = ""
        if let statementTimeout {
            prefix = "SET LOCAL statement_timeout = \(max(1, statementTimeout.wholeMilliseconds)); "
        }
        var body = "BEGIN\n"
        body += "PERFORM pg_advisory_xact_lock(\(lockKey));\n"
        if let schema { body += "CREATE SCHEMA IF NOT EXISTS \(schema);\n" }
        body += """
            CREATE TABLE IF NOT EXISTS tm_schema_migrations (
                version integer PRIMARY KEY,
                name text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            );

            """
        for migration in all where migration.version <= version {
            precondition(!migration.sql.contains("$migration$"), "a migration may not contain the $migration$ quote")
            body += """
                IF NOT EXISTS (SELECT 1 FROM tm_schema_migrations WHERE version = \(migration.version)) THEN
                    EXECUTE $migration$\(migration.sql)$migration$;
                    INSERT INTO tm_schema_migrations (version, name) VALUES (\(migration.version), '\(migration.name)');
                END IF;

                """
        }
        body += "END"
        return prefix + "DO $do$\(body)$do$"
    }

    /// The versions recorded, comma-separated.
    static let recordedVersions = "SELECT string_agg(version::text, ',' ORDER BY version) FROM tm_schema_migrations"

    static func isValidIdentifier(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, name.unicodeScalars.count <= 63 else { return false }
        let lower = { (c: Unicode.Scalar) in (c >= "a" && c <= "z") || c == "_" }
        return lower(first) && name.unicodeScalars.allSatisfy { lower($0) || ($0 >= "0" && $0 <= "9") }
    }
}
