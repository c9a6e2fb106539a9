-- The store's lookup statement (tm_lookup), on the routes tm-load creates.
\set n random(0, 999)
SELECT CASE WHEN e.is_active THEN e.url END AS url, e.revision
FROM endpoints e
JOIN environments en ON en.id = e.environment_id
JOIN services s ON s.id = en.service_id
JOIN tenants t ON t.id = s.tenant_id
WHERE t.name = 'load' AND s.name = 'svc' || (:n % 97) AND en.name = 'prod' AND e.version = 'v' || :n;
