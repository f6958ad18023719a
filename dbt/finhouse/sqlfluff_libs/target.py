"""Stand-in for dbt's ``target`` in sqlfluff's jinja templater: the local PostgreSQL target."""

type = "postgres"
name = "dev"
