#!/bin/sh
# Runs once, when the postgres container initialises an empty data volume (docker-entrypoint-initdb.d).
# Grafana's own login: a member of flotilla_readonly (SELECT on the read models, granted by the
# read-model migrations the services run), never the tables' owner; every session read-only and
# in the platform's scope ('*'), because the dashboard shows every tenant's clusters.
set -eu
: "${GRAFANA_DB_PASSWORD:?set GRAFANA_DB_PASSWORD (Grafana's read-only database login)}"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" -v password="$GRAFANA_DB_PASSWORD" <<'SQL'
DO $$ BEGIN CREATE ROLE flotilla_readonly NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
CREATE ROLE flotilla_grafana LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE INHERIT PASSWORD :'password' IN ROLE flotilla_readonly;
ALTER ROLE flotilla_grafana SET default_transaction_read_only = on;
ALTER ROLE flotilla_grafana SET flotilla.tenant_id = '*';
SQL
