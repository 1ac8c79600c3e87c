#!/usr/bin/env sh
# Start Debian's PostgreSQL on loopback for the vault service's tests, installing it when missing,
# and print the SQLAlchemy URL of a fresh test database. Prints nothing (and warns) when it cannot:
# the PostgreSQL tests then skip on a developer's machine and fail in CI.
set -u
DB=bioveil_test
ROLE=bioveil
warn() { echo "warning: $*; the PostgreSQL tests will not run" >&2; exit 0; }

if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    [ "$(id -u)" = 0 ] || warn "PostgreSQL is not installed and installing it needs root"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null) \
        || warn "apt-get install postgresql failed"
fi
VERSION=$(ls /usr/lib/postgresql | sort -n | tail -1)
[ -n "$VERSION" ] || warn "no PostgreSQL server found under /usr/lib/postgresql"
if ! pg_lsclusters -h 2>/dev/null | grep -q "^$VERSION main"; then
    pg_createcluster "$VERSION" main >/dev/null 2>&1 || warn "could not create a cluster"
fi
if ! pg_lsclusters -h | grep -q "^$VERSION main .* online"; then
    pg_ctlcluster "$VERSION" main start >/dev/null 2>&1 || warn "could not start PostgreSQL $VERSION"
fi
PORT=$(pg_lsclusters -h | awk -v v="$VERSION" '$1 == v && $2 == "main" {print $3}')
as_postgres() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else sudo -n -u postgres "$@"; fi; }
as_postgres psql -q -p "$PORT" -c "DO \$\$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$ROLE') THEN
    CREATE ROLE $ROLE LOGIN PASSWORD '$ROLE'; END IF; END\$\$;" >/dev/null 2>&1 || warn "could not create the test role"
as_postgres dropdb -p "$PORT" --if-exists "$DB" >/dev/null 2>&1
as_postgres createdb -p "$PORT" -O "$ROLE" "$DB" >/dev/null 2>&1 || warn "could not create the test database"
echo "postgresql+psycopg://$ROLE:$ROLE@127.0.0.1:$PORT/$DB"
