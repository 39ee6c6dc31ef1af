-- Run once by the postgres image on an empty volume (docker-entrypoint-initdb.d): the
-- PLC directory (services/plc/Dockerfile) keeps its tables in its own database, because
-- its entry point reads only DATABASE_URL (no schema setting) and migrates that database.
create database plc;
