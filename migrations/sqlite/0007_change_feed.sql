-- Change feed (keep in step with migrations/postgres): PostgreSQL announces
-- changes to keys and aliases with NOTIFY so that several servers on one
-- store drop stale cache entries at once. A SQLite store is served by one
-- host; its servers rely on the cache TTL. Nothing to create here.
SELECT 1;
