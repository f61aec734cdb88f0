#!/usr/bin/env bash
# Install the OS packages EcomFlow needs locally: Java 17 (Spark), PostgreSQL 15 (the local
# Redshift) and its JDBC driver (/usr/share/java/postgresql.jar), and jarjar (/usr/share/java/jarjar.jar,
# which relocates Jackson for the local Iceberg runtime: scripts/build_iceberg_jars.py), and chromium (the
# headless browser the tests open a run's HTML page in: tests/integration/test_run_page_browser.py). Debian/Ubuntu,
# as root or with sudo.
set -euo pipefail

need=()
java_major() { java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1; }
if ! command -v java >/dev/null 2>&1 || [ "$(java_major)" != "17" ]; then need+=(openjdk-17-jre-headless); fi
[ -x /usr/lib/postgresql/15/bin/postgres ] || need+=(postgresql-15)
[ -f /usr/share/java/postgresql.jar ] || need+=(libpostgresql-jdbc-java)
[ -f /usr/share/java/jarjar.jar ] || need+=(libjarjar-java)
command -v chromium >/dev/null 2>&1 || need+=(chromium)

if [ ${#need[@]} -eq 0 ]; then
  echo "os-deps: Java 17, PostgreSQL 15, its JDBC driver, jarjar and chromium are installed"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "os-deps: missing ${need[*]} and no apt-get here; install them with your package manager" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
  command -v sudo >/dev/null 2>&1 || { echo "os-deps: need root or sudo to install ${need[*]}" >&2; exit 1; }
  SUDO="sudo"
fi
echo "os-deps: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
if [ "$(java_major)" != "17" ]; then
  echo "os-deps: Java 17 is required (Spark 3.5 as in AWS Glue 5.1); 'java -version' says: $(java -version 2>&1 | head -1)" >&2
  exit 1
fi
