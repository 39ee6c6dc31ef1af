-- Run once by the postgres image on an empty volume (docker-entrypoint-initdb.d):
-- the PowerSync Service keeps its bucket storage in its own database.
create database powersync_storage;
