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
# Passwords come from the environment (psql variables, quoted by psql).
set -euo pipefail
: "${PLC_DB_PASSWORD:?PLC_DB_PASSWORD is not set}" "${POWERSYNC_DB_PASSWORD:?POWERSYNC_DB_PASSWORD is not set}"
psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v plc_password="$PLC_DB_PASSWORD" -v powersync_password="$POWERSYNC_DB_PASSWORD" <<'SQL'
create role plc with login password :'plc_password';
create database plc owner plc;
create role powersync with login replication bypassrls password :'powersync_password';
create database powersync_storage owner powersync;
grant select on all tables in schema public to powersync;
-- Tables the app's role (POSTGRES_USER, running this script) creates later.
alter default privileges in schema public grant select on tables to powersync;
SQL
