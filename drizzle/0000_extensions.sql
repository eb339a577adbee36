-- Trigram search on email, display name and tenant names; btree_gin lets one GIN index start with tenant_id.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
--> statement-breakpoint
CREATE EXTENSION IF NOT EXISTS btree_gin;
