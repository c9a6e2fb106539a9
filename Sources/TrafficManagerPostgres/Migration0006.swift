/// Migration 6: `tm_apply_claimed`, the write every instance now calls. When the write carries
/// an idempotency key that another transaction holds right now — the same request still being
/// applied, by this instance or another — it fails at once with SQLSTATE `TMIU0` instead of
/// waiting for it. Otherwise it calls `tm_apply`, which takes the same transaction-scoped lock
/// again (it is re-entrant) and does the write. Instances not yet upgraded keep calling
/// `tm_apply` and wait as before.
enum Migration0006 {
    static let sql = #"""
CREATE FUNCTION tm_apply_claimed(
    p_tenant text, p_service text, p_env text, p_version text, p_operation text, p_url text,
    p_key text, p_fingerprint text, p_expected bigint, p_retention_ms bigint
)
RETURNS TABLE (
    url text, is_active boolean, revision bigint, created_ms bigint, updated_ms bigint,
    event_id uuid, action text, replayed boolean
)
LANGUAGE plpgsql
VOLATILE
AS $fn$
BEGIN
    IF p_key IS NOT NULL AND NOT pg_try_advisory_xact_lock(hashtextextended(p_tenant || '|' || p_key, 0)) THEN
        RAISE EXCEPTION 'idempotency key in use' USING ERRCODE = 'TMIU0';
    END IF;
    RETURN QUERY SELECT * FROM tm_apply(p_tenant, p_service, p_env, p_version, p_operation, p_url, p_key, p_fingerprint,
                                        p_expected, p_retention_ms);
END
$fn$;
"""#
}
