#!/usr/bin/env bash
# Run once by the postgres image on an empty volume (/docker-entrypoint-initdb.d: an
# executable *.sh is run with the container's environment, docker-library/postgres
# 17/bookworm/docker-entrypoint.sh docker_process_init_files). POSTGRES_USER (the app's
# role, a superuser) stays the app's; the other services get their own roles:
#
# - plc: owns database `plc`, where the PLC directory (services/plc/Dockerfile) migrates
#   its tables (its entry point reads only DATABASE_URL).
# - powersync: WITH REPLICATION BYPASSRLS LOGIN and SELECT on the app's tables, present and
#   future, as PowerSync's source-database setup says (docs.powersync.com, "Create a
#   PowerSync database user"; the RLS hint is PSYNC_S1145 in powersync-service
#   packages/service-errors/src/codes.ts); owns database `powersync_storage`, its bucket
#   storage. The `powersync` publication is made by the app's migration 001_synced_schema.sql.
#
# Passwords come from the environment (psql variables, quoted by psql). Safe to run again,
# and on a volume from a release before these roles (databases `plc` and
# `powersync_storage` owned by POSTGRES_USER): it makes what is missing and hands the two
# databases and their tables to their roles. For such a volume, run it once by hand:
#   docker compose exec postgres /docker-entrypoint-initdb.d/10-roles.sh
set -euo pipefail
: "${PLC_DB_PASSWORD:?PLC_DB_PASSWORD is not set}" "${POWERSYNC_DB_PASSWORD:?POWERSYNC_DB_PASSWORD is not set}"
psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v plc_password="$PLC_DB_PASSWORD" -v powersync_password="$POWERSYNC_DB_PASSWORD" <<'SQL'
select 'create role plc' where not exists (select from pg_roles where rolname = 'plc') \gexec
alter role plc with login password :'plc_password';
select 'create database plc owner plc' where not exists (select from pg_database where datname = 'plc') \gexec
alter database plc owner to plc;
select 'create role powersync' where not exists (select from pg_roles where rolname = 'powersync') \gexec
alter role powersync with login replication bypassrls password :'powersync_password';
select 'create database powersync_storage owner powersync' where not exists (select from pg_database where datname = 'powersync_storage') \gexec
alter database powersync_storage owner to powersync;
grant select on all tables in schema public to powersync;
-- Tables the app's role (POSTGRES_USER, running this script) creates later.
alter default privileges in schema public grant select on tables to powersync;
-- What an earlier release left in the two databases (owned by POSTGRES_USER).
\connect plc
select format('alter schema %I owner to plc', nspname) from pg_namespace where nspname !~ '^pg_' and nspname not in ('information_schema', 'public') and pg_get_userbyid(nspowner) <> 'plc' \gexec
select format('alter table %I.%I owner to plc', schemaname, tablename) from pg_tables where schemaname not in ('pg_catalog', 'information_schema') and tableowner <> 'plc' \gexec
select format('alter sequence %I.%I owner to plc', schemaname, sequencename) from pg_sequences where schemaname not in ('pg_catalog', 'information_schema') and sequenceowner <> 'plc' \gexec
\connect powersync_storage
select format('alter schema %I owner to powersync', nspname) from pg_namespace where nspname !~ '^pg_' and nspname not in ('information_schema', 'public') and pg_get_userbyid(nspowner) <> 'powersync' \gexec
select format('alter table %I.%I owner to powersync', schemaname, tablename) from pg_tables where schemaname not in ('pg_catalog', 'information_schema') and tableowner <> 'powersync' \gexec
select format('alter sequence %I.%I owner to powersync', schemaname, sequencename) from pg_sequences where schemaname not in ('pg_catalog', 'information_schema') and sequenceowner <> 'powersync' \gexec
SQL
