-- The store's write transaction (tm_apply), an upsert that changes the URL about half the time.
\set n random(0, 999)
\set port random(8080, 8081)
SELECT * FROM tm_apply('load', 'svc' || (:n % 97), 'prod', 'v' || :n, 'upsert', 'http://svc' || :n || '.load.internal:' || :port, NULL, NULL);
