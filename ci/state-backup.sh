#!/usr/bin/env bash
# An admin's backup and restore of one environment's state on the team backend (PostgreSQL: one database
# per environment, owned by that environment's role). Run from an admin's machine or a protected job with
# the admin role's connection in libpq's variables (PGHOST, PGPORT, PGUSER, PGPASSWORD; PGSSLMODE as the
# server asks); nothing here prints them.
#   state-backup.sh dump <database> <file>            a consistent snapshot (pg_dump, custom format)
#   state-backup.sh restore <database> <role> <file>  into a database that does not exist or holds no state:
#                                                     created owned by <role>, closed to everyone else
# A restore never overwrites state: a database that still holds rows is refused (drop it first, explicitly,
# after a dump of it). Stop the environment's pipelines while restoring; an update that ran after the dump is
# not in it (its objects are on the clusters: `pulumi refresh` after the restore reads them back).
set -euo pipefail
action=${1:?usage: state-backup.sh dump <database> <file> | restore <database> <role> <file>}
database=${2:?the environment database, e.g. gitops_prod}
case "$action" in
  dump)
    file=${3:?the backup file}
    pg_dump --format=custom --no-owner --no-privileges --file "$file" --dbname "$database"
    rows=$(pg_restore --list "$file" | grep -c "TABLE DATA" || true)
    echo "dumped $database to $file ($rows table(s) of state)"
    ;;
  restore)
    role=${3:?the environment role that owns the database, e.g. gitops_prod}
    file=${4:?the backup file}
    pg_restore --list "$file" >/dev/null  # a file that is not a dump is refused before anything changes
    # names travel as psql variables (quoted by psql), never pasted into SQL
    exists=$(psql --dbname postgres -tAX -v ON_ERROR_STOP=1 -v db="$database" <<'SQL'
SELECT 1 FROM pg_database WHERE datname = :'db'
SQL
)
    if [ "$exists" = 1 ]; then
      held=$(psql --dbname "$database" -tAX -v ON_ERROR_STOP=1 \
        -c "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')")
      if [ "$held" != 0 ]; then
        echo "error: $database still holds $held table(s): a restore never overwrites state. Dump it, drop it" \
          "explicitly (DROP DATABASE), then restore" >&2
        exit 2
      fi
    else
      psql --dbname postgres -q -v ON_ERROR_STOP=1 -v db="$database" -v role="$role" <<'SQL'
CREATE DATABASE :"db" OWNER :"role";
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
SQL
    fi
    pg_restore --no-owner --no-privileges --role "$role" --exit-on-error --dbname "$database" "$file"
    rows=$(psql --dbname "$database" -tAX -v ON_ERROR_STOP=1 -c "SELECT count(*) FROM pulumi_state")
    echo "restored $database from $file ($rows state object(s)), owned by $role"
    ;;
  *)
    echo "usage: state-backup.sh dump <database> <file> | restore <database> <role> <file>" >&2
    exit 2
    ;;
esac
