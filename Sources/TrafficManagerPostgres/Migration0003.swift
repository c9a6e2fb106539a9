/// Migration 3: compare-and-set writes, idempotency keys scoped per tenant with a retention
/// period, and the indexes pruning needs.
///
/// `tm_apply` gains two arguments — the expected revision (NULL: none) and the key's retention
/// in milliseconds. The eight-argument form stays, calling the new one with no expectation
/// and a 24 h retention, so instances not yet upgraded keep writing during a rolling upgrade.
enum Migration0003 {
    static let sql = #"""
-- Keys were global; each stored fingerprint names its tenant as its second field.
ALTER TABLE idempotency_keys ADD COLUMN tenant text;
UPDATE idempotency_keys SET tenant = split_part(fingerprint, '|', 2);
ALTER TABLE idempotency_keys ALTER COLUMN tenant SET NOT NULL;
ALTER TABLE idempotency_keys ADD COLUMN expires_at timestamptz;
UPDATE idempotency_keys SET expires_at = created_at + interval '24 hours';
ALTER TABLE idempotency_keys ALTER COLUMN expires_at SET NOT NULL;
ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_pkey;
ALTER TABLE idempotency_keys ADD PRIMARY KEY (tenant, key);
CREATE INDEX idempotency_keys_expires_idx ON idempotency_keys (expires_at);

-- Pruning of published events and of the audit log by age.
CREATE INDEX route_events_published_idx ON route_events (created_at) WHERE processed_at IS NOT NULL;
CREATE INDEX audit_log_recorded_idx ON audit_log (recorded_at);

-- ---------------------------------------------------------------------------
-- tm_apply, as in migration 1, plus:
--   p_expected      compare-and-set: the route must be at this revision (0: absent)
--   p_retention_ms  how long the key's result is kept
-- SQLSTATE raised in addition: TMRC0 revision conflict ("current revision N").
-- ---------------------------------------------------------------------------
DROP FUNCTION tm_apply(text, text, text, text, text, text, text, text);

CREATE FUNCTION tm_apply(
    p_tenant      text,
    p_service     text,
    p_env         text,
    p_version     text,
    p_operation   text,
    p_url         text,
    p_key         text,
    p_fingerprint text,
    p_expected    bigint,
    p_retention_ms bigint
)
RETURNS TABLE (
    url        text,
    is_active  boolean,
    revision   bigint,
    created_ms bigint,
    updated_ms bigint,
    event_id   uuid,
    action     text,
    replayed   boolean
)
LANGUAGE plpgsql
VOLATILE
AS $fn$
#variable_conflict use_column
-- All work is done in v_* variables; the OUT columns are only assigned at the
-- end, so inside SQL statements bare names always mean table columns.
DECLARE
    v_now        timestamptz := date_trunc('milliseconds', now());
    v_tenant_id  bigint;
    v_service_id bigint;
    v_env_id     bigint;
    v_ep         endpoints%ROWTYPE;
    v_action     text;     -- NULL = no change
    v_event_id   uuid;     -- NULL = no change
    v_stored     idempotency_keys%ROWTYPE;
BEGIN
    -- Argument checks -------------------------------------------------------
    IF p_tenant IS NULL OR p_service IS NULL OR p_env IS NULL OR p_version IS NULL THEN
        RAISE EXCEPTION 'tm_apply: tenant, service, env and version are required'
            USING ERRCODE = '22023';
    END IF;
    IF p_operation = 'upsert' THEN
        IF p_url IS NULL THEN
            RAISE EXCEPTION 'tm_apply: upsert requires a url' USING ERRCODE = '22023';
        END IF;
    ELSIF p_operation IN ('activate', 'deactivate') THEN
        IF p_url IS NOT NULL THEN
            RAISE EXCEPTION 'tm_apply: % takes no url', p_operation USING ERRCODE = '22023';
        END IF;
    ELSE
        RAISE EXCEPTION 'tm_apply: unknown operation %', coalesce(p_operation, '<null>')
            USING ERRCODE = '22023';
    END IF;
    IF p_expected IS NOT NULL AND p_expected < 0 THEN
        RAISE EXCEPTION 'tm_apply: expected revision must not be negative' USING ERRCODE = '22023';
    END IF;
    IF p_key IS NOT NULL AND (p_retention_ms IS NULL OR p_retention_ms <= 0) THEN
        RAISE EXCEPTION 'tm_apply: a key needs a positive retention' USING ERRCODE = '22023';
    END IF;
    IF (p_key IS NULL) <> (p_fingerprint IS NULL) THEN
        RAISE EXCEPTION 'tm_apply: key and fingerprint must both be null or both be set'
            USING ERRCODE = '22023';
    END IF;

    -- Idempotency: serialize callers of the same key, then replay if known ---
    IF p_key IS NOT NULL THEN
        PERFORM pg_advisory_xact_lock(hashtextextended(p_tenant || '|' || p_key, 0));

        SELECT * INTO v_stored FROM idempotency_keys k WHERE k.tenant = p_tenant AND k.key = p_key;
        IF FOUND AND v_stored.expires_at <= v_now THEN
            -- Past its retention the key is free again.
            DELETE FROM idempotency_keys k WHERE k.tenant = p_tenant AND k.key = p_key;
        ELSIF FOUND THEN
            IF v_stored.fingerprint <> p_fingerprint THEN
                RAISE EXCEPTION 'idempotency key "%" was already used with a different request', p_key
                    USING ERRCODE = 'TMIC0';
            END IF;
            url        := v_stored.result ->> 'url';
            is_active  := (v_stored.result ->> 'is_active')::boolean;
            revision   := (v_stored.result ->> 'revision')::bigint;
            created_ms := (v_stored.result ->> 'created_ms')::bigint;
            updated_ms := (v_stored.result ->> 'updated_ms')::bigint;
            event_id   := (v_stored.result ->> 'event_id')::uuid;
            action     := v_stored.result ->> 'action';
            replayed   := true;
            RETURN NEXT;
            RETURN;
        END IF;
    END IF;

    -- Fast path: the route already exists -> lock its endpoint row ----------
    SELECT e.* INTO v_ep
      FROM endpoints e
      JOIN environments en ON en.id = e.environment_id
      JOIN services s      ON s.id  = en.service_id
      JOIN tenants t       ON t.id  = s.tenant_id
     WHERE t.name = p_tenant AND s.name = p_service AND en.name = p_env
       AND e.version = p_version
       FOR UPDATE OF e;

    IF NOT FOUND THEN
        IF p_expected IS NOT NULL AND p_expected <> 0 THEN
            RAISE EXCEPTION 'route revision conflict: current revision 0' USING ERRCODE = 'TMRC0';
        END IF;
        IF p_operation <> 'upsert' THEN
            -- activate/deactivate never create anything.
            RAISE EXCEPTION 'route %/%/%/% not found', p_tenant, p_service, p_env, p_version
                USING ERRCODE = 'TMNF0';
        END IF;

        -- Get-or-insert tenant / service / environment. Pattern: SELECT, else
        -- INSERT ... ON CONFLICT DO NOTHING (waits for a concurrent inserter),
        -- else SELECT again (sees the winner's committed row under READ COMMITTED).
        SELECT t.id INTO v_tenant_id FROM tenants t WHERE t.name = p_tenant;
        IF v_tenant_id IS NULL THEN
            INSERT INTO tenants AS t (name, created_at) VALUES (p_tenant, v_now)
                ON CONFLICT (name) DO NOTHING RETURNING t.id INTO v_tenant_id;
            IF v_tenant_id IS NULL THEN
                SELECT t.id INTO STRICT v_tenant_id FROM tenants t WHERE t.name = p_tenant;
            END IF;
        END IF;

        SELECT s.id INTO v_service_id FROM services s
         WHERE s.tenant_id = v_tenant_id AND s.name = p_service;
        IF v_service_id IS NULL THEN
            INSERT INTO services AS s (tenant_id, name, created_at) VALUES (v_tenant_id, p_service, v_now)
                ON CONFLICT (tenant_id, name) DO NOTHING RETURNING s.id INTO v_service_id;
            IF v_service_id IS NULL THEN
                SELECT s.id INTO STRICT v_service_id FROM services s
                 WHERE s.tenant_id = v_tenant_id AND s.name = p_service;
            END IF;
        END IF;

        SELECT en.id INTO v_env_id FROM environments en
         WHERE en.service_id = v_service_id AND en.name = p_env;
        IF v_env_id IS NULL THEN
            INSERT INTO environments AS en (service_id, name, created_at) VALUES (v_service_id, p_env, v_now)
                ON CONFLICT (service_id, name) DO NOTHING RETURNING en.id INTO v_env_id;
            IF v_env_id IS NULL THEN
                SELECT en.id INTO STRICT v_env_id FROM environments en
                 WHERE en.service_id = v_service_id AND en.name = p_env;
            END IF;
        END IF;

        -- Endpoint: try to create it; if a concurrent insert won, lock theirs.
        INSERT INTO endpoints AS e (environment_id, version, url, is_active, revision, created_at, updated_at)
             VALUES (v_env_id, p_version, p_url, true, 1, v_now, v_now)
        ON CONFLICT (environment_id, version) DO NOTHING
          RETURNING e.* INTO v_ep;
        IF v_ep.id IS NOT NULL THEN
            v_action := 'created';
        ELSE
            SELECT e.* INTO STRICT v_ep FROM endpoints e
             WHERE e.environment_id = v_env_id AND e.version = p_version
               FOR UPDATE;
            -- A concurrent create won: this compare-and-set expected no route.
            IF p_expected IS NOT NULL AND p_expected <> v_ep.revision THEN
                RAISE EXCEPTION 'route revision conflict: current revision %', v_ep.revision USING ERRCODE = 'TMRC0';
            END IF;
        END IF;
    ELSIF p_expected IS NOT NULL AND p_expected <> v_ep.revision THEN
        RAISE EXCEPTION 'route revision conflict: current revision %', v_ep.revision USING ERRCODE = 'TMRC0';
    END IF;

    -- Change rules for an existing (locked) endpoint -------------------------
    IF v_action IS NULL THEN
        IF p_operation = 'upsert' THEN
            IF v_ep.url <> p_url THEN
                v_action := 'updated';
            ELSIF NOT v_ep.is_active THEN
                v_action := 'activated';
            END IF;
        ELSIF p_operation = 'activate' AND NOT v_ep.is_active THEN
            v_action := 'activated';
        ELSIF p_operation = 'deactivate' AND v_ep.is_active THEN
            v_action := 'deactivated';
        END IF;

        IF v_action IS NOT NULL THEN
            UPDATE endpoints AS e
               SET url        = CASE WHEN p_operation = 'upsert' THEN p_url ELSE e.url END,
                   is_active  = (v_action <> 'deactivated'),
                   revision   = e.revision + 1,
                   -- A transaction that started earlier may take the row lock later:
                   -- never move updated_at backwards.
                   updated_at = greatest(v_now, e.updated_at)
             WHERE e.id = v_ep.id
            RETURNING e.* INTO STRICT v_ep;
        END IF;
    END IF;

    -- Outbox event for any change -------------------------------------------
    IF v_action IS NOT NULL THEN
        v_event_id := gen_random_uuid();
        INSERT INTO route_events (event_id, tenant, service, env, version, action, url, revision, created_at)
             VALUES (v_event_id, p_tenant, p_service, p_env, p_version, v_action, v_ep.url, v_ep.revision, v_ep.updated_at);
    END IF;

    -- Result ------------------------------------------------------------------
    url        := v_ep.url;
    is_active  := v_ep.is_active;
    revision   := v_ep.revision;
    created_ms := (extract(epoch FROM v_ep.created_at) * 1000)::bigint;
    updated_ms := (extract(epoch FROM v_ep.updated_at) * 1000)::bigint;
    event_id   := v_event_id;
    action     := v_action;
    replayed   := false;

    -- Remember the result under the key (also for a no-change result).
    IF p_key IS NOT NULL THEN
        INSERT INTO idempotency_keys (tenant, key, fingerprint, result, created_at, expires_at)
        VALUES (p_tenant, p_key, p_fingerprint,
                jsonb_build_object(
                    'url',        v_ep.url,
                    'is_active',  v_ep.is_active,
                    'revision',   v_ep.revision,
                    'created_ms', (extract(epoch FROM v_ep.created_at) * 1000)::bigint,
                    'updated_ms', (extract(epoch FROM v_ep.updated_at) * 1000)::bigint,
                    'event_id',   v_event_id,
                    'action',     v_action),
                v_now, v_now + p_retention_ms * interval '1 millisecond');
    END IF;

    RETURN NEXT;
END;
$fn$;

CREATE FUNCTION tm_apply(
    p_tenant text, p_service text, p_env text, p_version text,
    p_operation text, p_url text, p_key text, p_fingerprint text
)
RETURNS TABLE (
    url text, is_active boolean, revision bigint, created_ms bigint, updated_ms bigint,
    event_id uuid, action text, replayed boolean
)
LANGUAGE sql
VOLATILE
AS $fn$
    SELECT * FROM tm_apply(p_tenant, p_service, p_env, p_version, p_operation, p_url, p_key, p_fingerprint,
                           NULL::bigint, 86400000::bigint);
$fn$;
"""#
}
