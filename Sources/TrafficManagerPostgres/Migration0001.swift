/// Migration 1: the tables (tenants, services, environments, endpoints) with the unique constraints idempotency rests on, the
/// `route_events` outbox, the idempotency keys, and `tm_apply`, the function every write calls.
enum Migration0001 {
    static let sql = #"""
-- Routing library schema + atomic route write function (PostgreSQL 15).
-- Apply once; objects are created in the connection's search_path.

-- ---------------------------------------------------------------------------
-- Route hierarchy: tenant -> service -> environment -> endpoint (per version)
-- ---------------------------------------------------------------------------
CREATE TABLE tenants (
    id         bigserial   PRIMARY KEY,
    name       text        NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE services (
    id         bigserial   PRIMARY KEY,
    tenant_id  bigint      NOT NULL REFERENCES tenants(id),
    name       text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, name)
);

CREATE TABLE environments (
    id         bigserial   PRIMARY KEY,
    service_id bigint      NOT NULL REFERENCES services(id),
    name       text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (service_id, name)
);

CREATE TABLE endpoints (
    id             bigserial   PRIMARY KEY,
    environment_id bigint      NOT NULL REFERENCES environments(id),
    version        text        NOT NULL,
    url            text        NOT NULL,
    is_active      boolean     NOT NULL,
    revision       bigint      NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (environment_id, version)
);

-- ---------------------------------------------------------------------------
-- Outbox of route changes; consumers mark rows processed.
-- ---------------------------------------------------------------------------
CREATE TABLE route_events (
    id           bigserial   PRIMARY KEY,
    event_id     uuid        NOT NULL UNIQUE,
    tenant       text        NOT NULL,
    service      text        NOT NULL,
    env          text        NOT NULL,
    version      text        NOT NULL,
    action       text        NOT NULL,
    url          text        NOT NULL,
    revision     bigint      NOT NULL,
    created_at   timestamptz NOT NULL,
    processed_at timestamptz NULL
);

-- Fast scan of the unprocessed backlog in id order.
CREATE INDEX route_events_unprocessed_idx ON route_events (id) WHERE processed_at IS NULL;

-- ---------------------------------------------------------------------------
-- Idempotency keys: stored result of the first call made with a key.
-- ---------------------------------------------------------------------------
CREATE TABLE idempotency_keys (
    key         text        PRIMARY KEY,
    fingerprint text        NOT NULL,
    result      jsonb       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- ---------------------------------------------------------------------------
-- tm_apply: one route write (upsert / activate / deactivate), atomic within
-- the caller's transaction (READ COMMITTED). Returns exactly one row.
--
-- SQLSTATEs raised:
--   TMIC0  idempotency key reused with a different fingerprint
--   TMNF0  activate/deactivate of a route that does not exist
--   22023  invalid arguments (unknown operation, url/key/fingerprint misuse)
-- ---------------------------------------------------------------------------
CREATE FUNCTION tm_apply(
    p_tenant      text,
    p_service     text,
    p_env         text,
    p_version     text,
    p_operation   text,
    p_url         text,
    p_key         text,
    p_fingerprint text
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
    IF (p_key IS NULL) <> (p_fingerprint IS NULL) THEN
        RAISE EXCEPTION 'tm_apply: key and fingerprint must both be null or both be set'
            USING ERRCODE = '22023';
    END IF;

    -- Idempotency: serialize callers of the same key, then replay if known ---
    IF p_key IS NOT NULL THEN
        PERFORM pg_advisory_xact_lock(hashtextextended(p_key, 0));

        SELECT * INTO v_stored FROM idempotency_keys k WHERE k.key = p_key;
        IF FOUND THEN
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
        END IF;
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
        INSERT INTO idempotency_keys (key, fingerprint, result, created_at)
        VALUES (p_key, p_fingerprint,
                jsonb_build_object(
                    'url',        v_ep.url,
                    'is_active',  v_ep.is_active,
                    'revision',   v_ep.revision,
                    'created_ms', (extract(epoch FROM v_ep.created_at) * 1000)::bigint,
                    'updated_ms', (extract(epoch FROM v_ep.updated_at) * 1000)::bigint,
                    'event_id',   v_event_id,
                    'action',     v_action),
                v_now);
    END IF;

    RETURN NEXT;
END;
$fn$;
"""#
}
