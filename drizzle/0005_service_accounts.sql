CREATE TYPE "public"."service_account_status" AS ENUM('ACTIVE', 'DISABLED');--> statement-breakpoint
CREATE TABLE "api_keys" (
	"tenant_id" uuid NOT NULL,
	"id" uuid NOT NULL,
	"service_account_id" uuid NOT NULL,
	"name" text NOT NULL,
	"prefix" text NOT NULL,
	"key_hash" "bytea" NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"expires_at" timestamp with time zone,
	"last_used_at" timestamp with time zone,
	"revoked_at" timestamp with time zone,
	CONSTRAINT "api_keys_pkey" PRIMARY KEY("tenant_id","id")
);
--> statement-breakpoint
CREATE TABLE "revoked_service_tokens" (
	"tenant_id" uuid NOT NULL,
	"jti" uuid NOT NULL,
	"service_account_id" uuid NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	CONSTRAINT "revoked_service_tokens_pkey" PRIMARY KEY("tenant_id","jti")
);
--> statement-breakpoint
CREATE TABLE "service_account_secrets" (
	"tenant_id" uuid NOT NULL,
	"id" uuid NOT NULL,
	"service_account_id" uuid NOT NULL,
	"secret_hash" "bytea" NOT NULL,
	"hint" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"expires_at" timestamp with time zone,
	"last_used_at" timestamp with time zone,
	CONSTRAINT "service_account_secrets_pkey" PRIMARY KEY("tenant_id","id")
);
--> statement-breakpoint
CREATE TABLE "service_accounts" (
	"tenant_id" uuid NOT NULL,
	"id" uuid NOT NULL,
	"name" text NOT NULL,
	"description" text,
	"scopes" text[] DEFAULT '{}'::text[] NOT NULL,
	"status" "service_account_status" DEFAULT 'ACTIVE' NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_used_at" timestamp with time zone,
	CONSTRAINT "service_accounts_pkey" PRIMARY KEY("tenant_id","id")
);
--> statement-breakpoint
ALTER TABLE "api_keys" ADD CONSTRAINT "api_keys_account_fk" FOREIGN KEY ("tenant_id","service_account_id") REFERENCES "public"."service_accounts"("tenant_id","id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "revoked_service_tokens" ADD CONSTRAINT "revoked_service_tokens_account_fk" FOREIGN KEY ("tenant_id","service_account_id") REFERENCES "public"."service_accounts"("tenant_id","id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "service_account_secrets" ADD CONSTRAINT "service_account_secrets_account_fk" FOREIGN KEY ("tenant_id","service_account_id") REFERENCES "public"."service_accounts"("tenant_id","id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "service_accounts" ADD CONSTRAINT "service_accounts_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "api_keys_tenant_key_hash_key" ON "api_keys" USING btree ("tenant_id","key_hash");--> statement-breakpoint
CREATE INDEX "api_keys_account_idx" ON "api_keys" USING btree ("tenant_id","service_account_id","created_at");--> statement-breakpoint
CREATE INDEX "api_keys_id_idx" ON "api_keys" USING btree ("id");--> statement-breakpoint
CREATE INDEX "revoked_service_tokens_account_idx" ON "revoked_service_tokens" USING btree ("tenant_id","service_account_id","expires_at");--> statement-breakpoint
CREATE INDEX "service_account_secrets_account_idx" ON "service_account_secrets" USING btree ("tenant_id","service_account_id");--> statement-breakpoint
CREATE INDEX "service_accounts_tenant_created_at_idx" ON "service_accounts" USING btree ("tenant_id","created_at","id");--> statement-breakpoint
CREATE INDEX "service_accounts_id_idx" ON "service_accounts" USING btree ("id");