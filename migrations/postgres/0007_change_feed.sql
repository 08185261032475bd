-- Change feed for several servers on one store (keep in step with
-- migrations/sqlite, where it is a no-op). Every committed change to a key
-- or an alias, whatever made it (signatrust-admin, another server, SQL by
-- hand), is announced on the channel 'signatrust_store' as
-- '<table>:<name>'; servers LISTEN and drop that name from their caches at
-- once, the cache TTL being the fallback when a notification is lost.
-- NOTIFY is transactional: delivered at commit, never for a rollback.

CREATE FUNCTION signatrust_notify_change() RETURNS trigger AS $$
DECLARE
    old_name TEXT;
    new_name TEXT;
BEGIN
    IF TG_OP <> 'INSERT' THEN
        old_name := to_jsonb(OLD) ->> TG_ARGV[0];
        PERFORM pg_notify('signatrust_store', TG_TABLE_NAME || ':' || old_name);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        new_name := to_jsonb(NEW) ->> TG_ARGV[0];
        IF old_name IS DISTINCT FROM new_name THEN
            PERFORM pg_notify('signatrust_store', TG_TABLE_NAME || ':' || new_name);
        END IF;
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER keys_change_feed AFTER INSERT OR UPDATE OR DELETE ON keys
    FOR EACH ROW EXECUTE FUNCTION signatrust_notify_change('name');
CREATE TRIGGER aliases_change_feed AFTER INSERT OR UPDATE OR DELETE ON aliases
    FOR EACH ROW EXECUTE FUNCTION signatrust_notify_change('alias');
