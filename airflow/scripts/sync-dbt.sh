#!/usr/bin/env bash
# Copy the dbt project into the Airflow image's build context.
#
# The Astro CLI (and the root docker-compose.yml, which builds the same way) use airflow/ as
# the Docker build context, but the dbt project lives at the repository root (dbt/finhouse).
# This copies it to airflow/include/dbt/finhouse (ignored by git; build output left out); the
# Dockerfile moves it to FINHOUSE_DBT_PROJECT_DIR and runs `dbt parse` there.
#
# Run it before every image build: `astro dev start` / `astro dev restart`, `astro deploy`,
# or `docker compose build` / `docker compose up --build`. A build without it stops with
# "include/dbt/finhouse is missing"; a build after editing dbt/finhouse without it uses the
# old copy.
set -euo pipefail

airflow_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
src="$(dirname "$airflow_dir")/dbt/finhouse"
dest="$airflow_dir/include/dbt/finhouse"

if [[ ! -f "$src/dbt_project.yml" ]]; then
  echo "sync-dbt: no dbt project at $src" >&2
  exit 1
fi

rm -rf "$dest"
mkdir -p "$dest"
tar -C "$src" \
  --exclude='./target' --exclude='./target*' --exclude='./logs' --exclude='./dbt_packages' \
  --exclude='__pycache__' --exclude='*.py[cod]' \
  -cf - . | tar -C "$dest" -xf -
echo "sync-dbt: copied $src -> $dest ($(find "$dest" -type f | wc -l) files)"
