/// A statement for a pool thread to run.
enum PostgresStatement: Sendable {
    /// A prepared statement, sent in the connection's pipeline with text parameters
    /// (`nil` is SQL NULL).
    case prepared(PreparedStatement, [String?])
    /// SQL in the simple query protocol, outside the pipeline; it may hold several statements.
    case simple(String)
}

/// The statements every connection prepares, by name.
enum PreparedStatement: String, Sendable, CaseIterable {
    /// A route's URL when active, and its revision even when not.
    case lookup = "tm_lookup"
    /// Many lookups in one query: four arrays of names in, one row per route, by position.
    case lookupMany = "tm_lookup_many"
    /// A route's whole record.
    case endpoint = "tm_endpoint"
    /// One write, as one transaction (`tm_apply_claimed` of migration 6, around `tm_apply`).
    case apply = "tm_apply_v6"
    /// Many writes in one transaction (the `tm_apply_batch` function of migration 4).
    case applyBatch = "tm_apply_batch"
    /// A page of routes, filtered, after a cursor, in byte order of the names.
    case list = "tm_list"
    /// Marks outbox events published.
    case markPublished = "tm_mark_published"
    /// The oldest outbox events not yet published.
    case unpublished = "tm_unpublished"
    /// Records an event in the audit log, once per event id.
    case audit = "tm_audit"
    /// Deletes a batch of expired idempotency keys, old published events and old audit
    /// entries; returns the three counts.
    case prune = "tm_prune"
    /// The change history after a position, up to the oldest unfinished transaction (migration 7).
    case changes = "tm_changes"
    /// The pruned horizon and the newest position that can be handed out.
    case changeHorizon = "tm_change_horizon"
    /// Takes or renews a lease (migration 5); returns its holder after the statement.
    case acquireLease = "tm_acquire_lease"
    /// Ends a lease its holder has.
    case releaseLease = "tm_release_lease"
    /// The primary's WAL write position, in bytes: a replica that has replayed this far holds
    /// every transaction committed before it was read.
    case walPosition = "tm_wal_position"
    /// How far a replica has replayed the WAL, in bytes (NULL on a server not in recovery).
    case replayPosition = "tm_replay_position"

    var sql: String {
        switch self {
        case .lookup:
            return """
                SELECT CASE WHEN e.is_active THEN e.url END AS url, e.revision
                FROM endpoints e
                JOIN environments en ON en.id = e.environment_id
                JOIN services s ON s.id = en.service_id
                JOIN tenants t ON t.id = s.tenant_id
                WHERE t.name = $1 AND s.name = $2 AND en.name = $3 AND e.version = $4
                """
        case .lookupMany:
            return """
                SELECT q.n, CASE WHEN e.is_active THEN e.url END AS url, e.revision
                FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) WITH ORDINALITY AS q(tenant, service, env, version, n)
                LEFT JOIN tenants t ON t.name = q.tenant
                LEFT JOIN services s ON s.tenant_id = t.id AND s.name = q.service
                LEFT JOIN environments en ON en.service_id = s.id AND en.name = q.env
                LEFT JOIN endpoints e ON e.environment_id = en.id AND e.version = q.version
                ORDER BY q.n
                """
        case .endpoint:
            return """
                SELECT e.url, e.is_active, e.revision,
                       (extract(epoch FROM e.created_at) * 1000)::bigint,
                       (extract(epoch FROM e.updated_at) * 1000)::bigint
                FROM endpoints e
                JOIN environments en ON en.id = e.environment_id
                JOIN services s ON s.id = en.service_id
                JOIN tenants t ON t.id = s.tenant_id
                WHERE t.name = $1 AND s.name = $2 AND en.name = $3 AND e.version = $4
                """
        case .apply:
            return "SELECT url, is_active, revision, created_ms, updated_ms, event_id, action, replayed FROM tm_apply_claimed($1, $2, $3, $4, $5, $6, $7, $8, $9::bigint, $10::bigint)"
        case .applyBatch:
            return "SELECT ordinal, url, is_active, revision, created_ms, updated_ms, event_id, action, replayed FROM tm_apply_batch($1::jsonb) ORDER BY ordinal"
        case .list:
            return """
                SELECT t.name, s.name, en.name, e.version, e.url, e.is_active, e.revision,
                       (extract(epoch FROM e.created_at) * 1000)::bigint,
                       (extract(epoch FROM e.updated_at) * 1000)::bigint
                FROM endpoints e
                JOIN environments en ON en.id = e.environment_id
                JOIN services s ON s.id = en.service_id
                JOIN tenants t ON t.id = s.tenant_id
                WHERE ($1::text IS NULL OR t.name = $1) AND ($2::text IS NULL OR s.name = $2)
                  AND ($3::text IS NULL OR en.name = $3) AND ($4::boolean OR e.is_active)
                  AND ($5::text IS NULL OR (t.name COLLATE "C", s.name COLLATE "C", en.name COLLATE "C", e.version COLLATE "C")
                       > ($5::text COLLATE "C", $6::text COLLATE "C", $7::text COLLATE "C", $8::text COLLATE "C"))
                ORDER BY t.name COLLATE "C", s.name COLLATE "C", en.name COLLATE "C", e.version COLLATE "C"
                LIMIT $9::integer
                """
        case .markPublished:
            return "UPDATE route_events SET processed_at = now() WHERE event_id = ANY($1::uuid[]) AND processed_at IS NULL"
        case .unpublished:
            return """
                SELECT event_id, action, tenant, service, env, version, url, revision,
                       (extract(epoch FROM created_at) * 1000)::bigint
                FROM route_events
                WHERE processed_at IS NULL AND created_at <= now() - $1::bigint * interval '1 millisecond'
                ORDER BY id
                LIMIT $2::integer
                """
        case .prune:
            return """
                WITH keys AS (
                    DELETE FROM idempotency_keys WHERE ctid IN (
                        SELECT ctid FROM idempotency_keys WHERE expires_at <= now() LIMIT $1::integer)
                    RETURNING 1),
                events AS (
                    DELETE FROM route_events WHERE id IN (
                        SELECT id FROM route_events
                        WHERE processed_at IS NOT NULL AND created_at < to_timestamp($2::bigint / 1000.0)
                        LIMIT $1::integer)
                    RETURNING txid, id),
                horizon AS (
                    INSERT INTO tm_change_horizon (singleton, txid, id)
                    SELECT true, txid, id FROM events ORDER BY txid DESC, id DESC LIMIT 1
                    ON CONFLICT (singleton) DO UPDATE SET txid = EXCLUDED.txid, id = EXCLUDED.id
                    WHERE (tm_change_horizon.txid, tm_change_horizon.id) < (EXCLUDED.txid, EXCLUDED.id)
                    RETURNING 1),
                audit AS (
                    DELETE FROM audit_log WHERE event_id IN (
                        SELECT event_id FROM audit_log
                        WHERE $3::bigint IS NOT NULL AND recorded_at < to_timestamp($3::bigint / 1000.0)
                        LIMIT $1::integer)
                    RETURNING 1)
                SELECT (SELECT count(*) FROM keys), (SELECT count(*) FROM events), (SELECT count(*) FROM audit),
                       (SELECT count(*) FROM horizon)
                """
        case .changes:
            return """
                SELECT e.txid::text, e.id, e.event_id, e.action, e.tenant, e.service, e.env, e.version, e.url, e.revision,
                       (extract(epoch FROM e.created_at) * 1000)::bigint
                FROM route_events e
                WHERE e.txid < pg_snapshot_xmin(pg_current_snapshot())
                  AND ($1::xid8 IS NULL OR (e.txid, e.id) > ($1::xid8, $2::bigint))
                ORDER BY e.txid, e.id
                LIMIT $3::integer
                """
        case .changeHorizon:
            return """
                SELECT (SELECT txid::text FROM tm_change_horizon), (SELECT id FROM tm_change_horizon),
                       h.txid::text, h.id
                FROM (SELECT 1) AS one
                LEFT JOIN LATERAL (
                    SELECT txid, id FROM route_events WHERE txid < pg_snapshot_xmin(pg_current_snapshot())
                    ORDER BY txid DESC, id DESC LIMIT 1) h ON true
                """
        case .acquireLease:
            // The outer SELECT sees the row as it was before the insert: the old holder when the
            // lease was not taken.
            return """
                WITH taken AS (
                    INSERT INTO tm_leases (name, holder, expires_at)
                    VALUES ($1, $2, clock_timestamp() + $3::bigint * interval '1 millisecond')
                    ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
                    WHERE tm_leases.holder = EXCLUDED.holder OR tm_leases.expires_at <= clock_timestamp()
                    RETURNING holder)
                SELECT holder FROM taken
                UNION ALL
                SELECT holder FROM tm_leases WHERE name = $1 AND NOT EXISTS (SELECT 1 FROM taken)
                """
        case .releaseLease:
            return "DELETE FROM tm_leases WHERE name = $1 AND holder = $2"
        case .walPosition:
            return "SELECT (pg_current_wal_lsn() - '0/0')::text"
        case .replayPosition:
            return "SELECT (pg_last_wal_replay_lsn() - '0/0')::text"
        case .audit:
            return """
                INSERT INTO audit_log (event_id, action, tenant, service, env, version, url, revision, occurred_at)
                VALUES ($1::uuid, $2, $3, $4, $5, $6, $7, $8::bigint, to_timestamp($9::bigint / 1000.0))
                ON CONFLICT (event_id) DO NOTHING
                """
        }
    }

    /// Whether the statement only reads. Reads of one batch share a Sync (one implicit
    /// transaction, one flush); each write gets a Sync of its own, so it commits or fails alone.
    var isReadOnly: Bool {
        switch self {
        case .lookup, .lookupMany, .endpoint, .unpublished, .list, .changes, .changeHorizon, .walPosition, .replayPosition: return true
        case .apply, .applyBatch, .markPublished, .audit, .prune, .acquireLease, .releaseLease: return false
        }
    }

    var parameterCount: Int32 {
        switch self {
        case .markPublished, .applyBatch: return 1
        case .releaseLease: return 2
        case .acquireLease: return 3
        case .list: return 9
        case .unpublished: return 2
        case .prune, .changes: return 3
        case .changeHorizon, .walPosition, .replayPosition: return 0
        case .lookup, .lookupMany, .endpoint: return 4
        case .apply: return 10
        case .audit: return 9
        }
    }
}

/// The rows of a result, as text (`nil` is SQL NULL).
struct PostgresRows: Sendable {
    var rows: [[String?]]
}

/// Why a statement failed.
struct PostgresFailure: Error, Sendable, CustomStringConvertible {
    /// The server's SQLSTATE, when it sent one.
    var sqlState: String?
    /// The server's or libpq's message (first line).
    var message: String
    /// Whether the connection was lost (or never made).
    var connectionLost: Bool
    /// Whether the statement had been sent when the connection was lost: it may have run.
    var sent = false

    init(sqlState: String?, message: String, connectionLost: Bool, sent: Bool = false) {
        self.sqlState = sqlState
        self.message = message
        self.connectionLost = connectionLost
        self.sent = sent
    }

    var description: String {
        sqlState.map { "\(message) (SQLSTATE \($0))" } ?? message
    }

    /// A serialization failure or deadlock: the transaction can be run again.
    var isRetryable: Bool { sqlState == "40001" || sqlState == "40P01" }
}
