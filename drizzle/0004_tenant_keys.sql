-- Every tenant-owned table is keyed by tenant first, so the tables can be distributed by tenant_id
-- (Citus: sessions, users, spent_refresh_tokens, audit_events) or hash-partitioned by it: the
-- primary keys and every unique key include tenant_id, and the foreign keys between tenant-owned
-- tables carry it. tenants and signing_keys stay as they are (reference tables).
-- The foreign keys go first: they depend on the primary keys being replaced.
ALTER TABLE "sessions" DROP CONSTRAINT "sessions_user_id_users_id_fk";--> statement-breakpoint
ALTER TABLE "spent_refresh_tokens" DROP CONSTRAINT "spent_refresh_tokens_session_id_sessions_id_fk";--> statement-breakpoint
ALTER TABLE "users" DROP CONSTRAINT "users_pkey";--> statement-breakpoint
ALTER TABLE "sessions" DROP CONSTRAINT "sessions_pkey";--> statement-breakpoint
ALTER TABLE "spent_refresh_tokens" DROP CONSTRAINT "spent_refresh_tokens_pkey";--> statement-breakpoint
ALTER TABLE "audit_events" DROP CONSTRAINT "audit_events_pkey";--> statement-breakpoint
DROP INDEX "sessions_refresh_token_hash_key";--> statement-breakpoint
DROP INDEX "spent_refresh_tokens_session_idx";--> statement-breakpoint
ALTER TABLE "users" ADD CONSTRAINT "users_pkey" PRIMARY KEY("tenant_id","id");--> statement-breakpoint
ALTER TABLE "sessions" ADD CONSTRAINT "sessions_pkey" PRIMARY KEY("tenant_id","id");--> statement-breakpoint
ALTER TABLE "spent_refresh_tokens" ADD CONSTRAINT "spent_refresh_tokens_pkey" PRIMARY KEY("tenant_id","token_hash");--> statement-breakpoint
ALTER TABLE "audit_events" ADD CONSTRAINT "audit_events_pkey" PRIMARY KEY("tenant_id","id");--> statement-breakpoint
ALTER TABLE "sessions" ADD CONSTRAINT "sessions_user_fk" FOREIGN KEY ("tenant_id","user_id") REFERENCES "public"."users"("tenant_id","id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "spent_refresh_tokens" ADD CONSTRAINT "spent_refresh_tokens_session_fk" FOREIGN KEY ("tenant_id","session_id") REFERENCES "public"."sessions"("tenant_id","id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "sessions_refresh_token_hash_key" ON "sessions" USING btree ("tenant_id","refresh_token_hash");--> statement-breakpoint
CREATE INDEX "spent_refresh_tokens_session_idx" ON "spent_refresh_tokens" USING btree ("tenant_id","session_id");--> statement-breakpoint
-- System ADMINs name users and sessions by id alone (the only look-ups that fan out to every shard).
CREATE INDEX "users_id_idx" ON "users" USING btree ("id");--> statement-breakpoint
CREATE INDEX "sessions_id_idx" ON "sessions" USING btree ("id");--> statement-breakpoint
-- Refresh tokens now carry their tenant. The sessions that exist now hold tokens that do not:
-- they are marked (the column's first default, true, fills existing rows without rewriting the
-- table) and found by hash alone until their next rotation issues a new-format token; every
-- session opened from now on starts unmarked, so rotations never write to the partial index.
ALTER TABLE "sessions" ADD COLUMN "legacy_refresh_token" boolean DEFAULT true NOT NULL;--> statement-breakpoint
ALTER TABLE "sessions" ALTER COLUMN "legacy_refresh_token" SET DEFAULT false;--> statement-breakpoint
CREATE INDEX "sessions_legacy_refresh_token_idx" ON "sessions" USING btree ("refresh_token_hash") WHERE "sessions"."legacy_refresh_token";--> statement-breakpoint
-- The token that replaced a spent one, sealed with a key only the spent token yields (reuse grace).
ALTER TABLE "spent_refresh_tokens" ADD COLUMN "successor" "bytea";
