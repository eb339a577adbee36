-- Emails are stored in Unicode Normalization Form C (the service puts every email it is given in
-- NFC before comparing or storing it). Existing rows typed in another form are rewritten, except
-- where that would merge two accounts of one tenant whose addresses differ only in their form:
-- the account already in NFC (or else the oldest) takes the NFC spelling, the others keep theirs
-- and stay distinct accounts (an ADMIN can see and change them).
WITH "ranked" AS (
  SELECT "tenant_id", "id", normalize("email", NFC) AS "nfc",
    row_number() OVER (
      PARTITION BY "tenant_id", lower(normalize("email", NFC))
      ORDER BY ("email" IS NFC NORMALIZED) DESC, "created_at", "id"
    ) AS "rank"
  FROM "users"
)
UPDATE "users" SET "email" = "ranked"."nfc"
FROM "ranked"
WHERE "users"."tenant_id" = "ranked"."tenant_id" AND "users"."id" = "ranked"."id"
  AND "ranked"."rank" = 1 AND "users"."email" IS NOT NFC NORMALIZED;--> statement-breakpoint
UPDATE "invitations" SET "email" = normalize("email", NFC) WHERE "email" IS NOT NFC NORMALIZED;
