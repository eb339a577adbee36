-- Every successful sign-in rewrites its user row (last_login_at is indexed, so the update cannot
-- be HOT), which adds some forty trigram entries to the search index's pending list. Searches
-- scan that whole list (4 MB by default) on every query: a tenant with steady sign-ins searched
-- eight times slower until VACUUM caught up. A 128 kB list is merged often and scanned quickly.
ALTER INDEX "users_search_trgm_idx" SET (gin_pending_list_limit = 128);
--> statement-breakpoint
-- Room on each page for a row's next version, so that updates touching no indexed column (the
-- attempt count at every sign-in) stay HOT and write no index entries at all.
ALTER TABLE "users" SET (fillfactor = 90);
