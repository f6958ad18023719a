"""A warehouse built by dbt once per session: seeded OLTP -> ingest -> dbt seed + build.

Tests read the marts and compare them with independent Python computations from the OLTP.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from finhouse import endpoints, pipeline
from finhouse.oltp import schema
from finhouse.oltp.seed import seed
from finhouse.tables import TABLES
from finhouse_local.cluster import Provisioner
from tests.conftest import FINHOUSE

#: the seeded history ends before this date; the marts are built as of it
AS_OF = dt.date(2026, 6, 30)
SCALE = 0.2


@dataclass
class Warehouse:
    server: Provisioner
    oltp: str
    warehouse: str
    target_path: Path
    build_output: str = ""

    @property
    def oltp_dsn(self) -> str:
        return self.server.dsn(self.oltp, "oltp_app")

    def dsn(self, role: str = "admin") -> str:
        return self.server.dsn(self.warehouse, None if role == "admin" else role)

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "FINHOUSE_OLTP_DSN": self.oltp_dsn,
            "FINHOUSE_OLTP_EXTRACT_DSN": self.server.dsn(self.oltp, "oltp_extract"),
            "FINHOUSE_WAREHOUSE_DSN": self.dsn("loader"),
            "FINHOUSE_TRANSFORMER_DSN": self.dsn("transformer"),
            "DBT_TARGET_PATH": str(self.target_path),
            "DBT_LOG_PATH": str(self.target_path / "logs"),
        }

    def dbt(
        self, *args: str, as_of: dt.date | None = AS_OF, check: bool = True, timeout: float = 900
    ) -> subprocess.CompletedProcess[str]:
        extra = ["--vars", f"{{as_of_date: '{as_of.isoformat()}'}}"] if as_of else []
        env = self.env()
        if as_of != AS_OF:
            # dbt parses the whole project again (~10 s) when --vars differ from those its
            # target folder was parsed with: another date gets a target folder of its own,
            # so neither that date nor AS_OF loses its partial parse to the other
            other = self.target_path / f"as_of_{as_of.isoformat() if as_of else 'default'}"
            env |= {"DBT_TARGET_PATH": str(other), "DBT_LOG_PATH": str(other / "logs")}
        out = subprocess.run(
            [FINHOUSE, "dbt", *args, *extra],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and out.returncode != 0:
            raise AssertionError(
                f"dbt {' '.join(args)} failed:\n{out.stdout[-6000:]}\n{out.stderr[-2000:]}"
            )
        return out

    def ingest(self) -> None:
        """Load everything committed so far."""
        source = endpoints.source(self.server.dsn(self.oltp, "oltp_extract"))
        target = endpoints.target(self.dsn("loader"))
        for spec in TABLES.values():
            pipeline.ingest(spec, source, target)

    def load_files(self) -> None:
        """The demo's spreadsheets (branches, branch and officer targets), written from the
        OLTP into a drop folder and loaded into RAW, as `make demo` does."""
        folder = self.target_path / "files"
        for args in (("seed", "--dir", str(folder)), ("load", "--all", "--dir", str(folder))):
            out = subprocess.run(
                [FINHOUSE, "files", *args],
                env=self.env(),
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            if out.returncode != 0:
                raise AssertionError(f"finhouse files {args[0]} failed:\n{out.stdout}{out.stderr}")

    def reconcile(self) -> None:
        """Prove RAW equals the source, table by table (the daily reconcile DAGs' work: the
        data-quality marts show it)."""
        source = endpoints.source(self.server.dsn(self.oltp, "oltp_extract"))
        target = endpoints.target(self.dsn("loader"))
        for spec in TABLES.values():
            assert pipeline.reconcile(spec, source, target).clean, spec.name


@pytest.fixture(scope="session")
def built(pg_server: Provisioner) -> Iterator[Warehouse]:
    """Seeded (scale 0.2, history before AS_OF), ingested and dbt-built warehouse."""
    wh = Warehouse(
        pg_server,
        "oltp_dbt",
        "warehouse_dbt",
        Path(tempfile.mkdtemp(prefix="finhouse-dbt-target-")),
    )
    for name in (wh.oltp, wh.warehouse):
        pg_server.drop_database(name)
    pg_server.create_database(wh.oltp, "oltp")
    pg_server.create_database(wh.warehouse, "warehouse")
    schema.init(wh.oltp_dsn)
    seed(wh.oltp_dsn, scale=SCALE, seed=7, as_of=AS_OF)
    wh.ingest()
    wh.reconcile()
    wh.load_files()
    # FINHOUSE_DBT_TEST_SELECT narrows the build while a model elsewhere is being written;
    # CI builds the whole project, seeds included (a `dbt seed` first would load them twice).
    select = os.environ.get("FINHOUSE_DBT_TEST_SELECT")
    if select:
        wh.dbt("seed")
    wh.build_output = wh.dbt(
        "build",
        *(["--select", *select.split(), "--indirect-selection", "cautious"] if select else []),
    ).stdout
    yield wh
    for name in (wh.oltp, wh.warehouse):
        pg_server.drop_database(name)
    shutil.rmtree(wh.target_path, ignore_errors=True)
