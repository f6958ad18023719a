"""The connections of the CLI and the local platform: the configured ones
(:mod:`finhouse.config`, ``FINHOUSE_OLTP_DSN``…), else the embedded cluster's, a
least-privilege role per purpose (the OLTP owner for the stand-in app, the read-only extract
role for ingestion, ``loader``/``transformer``/``reporter`` in the warehouse).

The pipeline never comes here: in Airflow, a missing connection is an error naming it, never
a local server (:mod:`finhouse.orchestration.connections`).
"""

from __future__ import annotations

from finhouse import config
from finhouse.config import OltpPurpose, WarehouseRole
from finhouse_local.cluster import ROLES, default_cluster

_OLTP_ROLES: dict[OltpPurpose, str] = {"app": ROLES.app, "extract": ROLES.extract}


def uses_external_servers() -> bool:
    """Whether the environment names the servers (then nothing local is started)."""
    return config.configured_oltp_dsn() is not None or config.configured_warehouse_dsn() is not None


def oltp_dsn(purpose: OltpPurpose = "app") -> str:
    """The configured OLTP for ``purpose``, else the embedded cluster's ``oltp`` database as
    the purpose's role."""
    return config.configured_oltp_dsn(purpose) or default_cluster().dsn(
        "oltp", _OLTP_ROLES[purpose]
    )


def warehouse_dsn(role: WarehouseRole = "loader") -> str:
    """The configured warehouse as ``role``, else the embedded cluster's ``warehouse``
    database as that role."""
    return config.configured_warehouse_dsn(role) or default_cluster().dsn("warehouse", role)
