/// Migration 4: `tm_apply_batch`, many writes in one transaction.
///
/// It takes the commands as one JSON array (`tenant`, `service`, `env`, `version`,
/// `operation`, `url`, `expected`) and calls `tm_apply` for each, in order, returning one row
/// per command with its position. A failing command aborts the whole batch — the function runs
/// inside the caller's single statement — and its error keeps its SQLSTATE, with
/// `command N of M: ` before the message.
enum Migration0004 {
    static let sql = #"""
CREATE FUNCTION tm_apply_batch(p_commands jsonb)
RETURNS TABLE (
    ordinal    integer,
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
DECLARE
    v_item  jsonb;
    v_index integer := 0;
    v_count integer := jsonb_array_length(p_commands);
    v_state text;
    v_text  text;
BEGIN
    -- One handler around the loop: one subtransaction for the batch, not one per command.
    FOR v_item IN SELECT value FROM jsonb_array_elements(p_commands) LOOP
        v_index := v_index + 1;
        RETURN QUERY
            SELECT v_index - 1, a.url, a.is_active, a.revision, a.created_ms, a.updated_ms, a.event_id, a.action, a.replayed
              FROM tm_apply(v_item ->> 'tenant', v_item ->> 'service', v_item ->> 'env', v_item ->> 'version',
                            v_item ->> 'operation', v_item ->> 'url', NULL, NULL,
                            (v_item ->> 'expected')::bigint, 86400000::bigint) AS a;
    END LOOP;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_text = MESSAGE_TEXT;
    RAISE EXCEPTION 'command % of %: %', v_index, v_count, v_text USING ERRCODE = v_state;
END;
$fn$;
"""#
}
