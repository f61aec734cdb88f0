-- Who may do what in the warehouse (issue 16). Valid on Amazon Redshift and on PostgreSQL 15.
-- Text between /*redshift: and */ applies on Redshift only, /*postgres: ... */ on PostgreSQL only.
--   ecomflow_etl (role) / ecomflow_etl_user: what the Glue jobs log in as. May read and write
--     `sales` (through a TEMP staging table and MERGE) and read which migrations were applied;
--     nothing else: no DDL, no other table.
--   ecomflow_bi (role) / ecomflow_bi_user: what BI tools log in as. Reads `sales` and the BI views.
-- Both users are created without a password; `ecomflow warehouse setup` (run by `make deploy` as the
-- admin) sets each one from its own Secrets Manager secret. The admin (superuser) is for
-- migrations only. On PostgreSQL roles are cluster-wide, so there the CREATEs tolerate an existing
-- role (every test database of the local stand-in runs this file).

/*redshift: CREATE ROLE ecomflow_etl */
/*postgres: DO $$ BEGIN CREATE ROLE ecomflow_etl NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$ */;
/*redshift: CREATE ROLE ecomflow_bi */
/*postgres: DO $$ BEGIN CREATE ROLE ecomflow_bi NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$ */;
/*redshift: CREATE USER ecomflow_etl_user PASSWORD DISABLE */
/*postgres: DO $$ BEGIN CREATE USER ecomflow_etl_user; EXCEPTION WHEN duplicate_object THEN NULL; END $$ */;
/*redshift: CREATE USER ecomflow_bi_user PASSWORD DISABLE */
/*postgres: DO $$ BEGIN CREATE USER ecomflow_bi_user; EXCEPTION WHEN duplicate_object THEN NULL; END $$ */;

-- Nobody but the admin creates objects in the schema (Redshift grants CREATE on public to PUBLIC).
REVOKE CREATE ON SCHEMA public FROM PUBLIC;

GRANT SELECT, INSERT, UPDATE, DELETE ON sales TO /*redshift: ROLE */ ecomflow_etl;
GRANT SELECT ON schema_migrations TO /*redshift: ROLE */ ecomflow_etl;
GRANT SELECT ON sales, daily_revenue_by_country, customer_rfm TO /*redshift: ROLE */ ecomflow_bi;

GRANT /*redshift: ROLE */ ecomflow_etl TO ecomflow_etl_user;
GRANT /*redshift: ROLE */ ecomflow_bi TO ecomflow_bi_user;
