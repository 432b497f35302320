#!/usr/bin/env bash
# `make spark-env`: a virtualenv with the pinned PySpark (spark/requirements.txt) in
# spark/.venv, reinstalled only when the requirements change. PyPI's pyspark carries
# Spark itself (bin/spark-submit, bin/spark-class and the jars); Java is the system's.
set -euo pipefail
cd "$(dirname "$0")"
venv=.venv
stamp="$venv/.requirements"
if [ -x "$venv/bin/spark-submit" ] && [ -f "$stamp" ] && cmp -s requirements.txt "$stamp"; then
  echo "spark-env: spark/$venv is up to date ($(grep '^pyspark' requirements.txt))"
else
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r requirements.txt
  cp requirements.txt "$stamp"
  echo "spark-env: installed $(grep '^pyspark' requirements.txt) into spark/$venv"
fi
if ! command -v java >/dev/null && [ -z "${JAVA_HOME:-}" ]; then
  echo "spark-env: no Java found: Spark needs a Java 17 runtime (apt-get install openjdk-17-jre-headless)" >&2
fi
echo "spark-env: use it with  [spark] submit = \"$(pwd)/$venv/bin/spark-submit\""
