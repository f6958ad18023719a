"""The PostgreSQL-only performance macros (dbt/finhouse/macros/postgres_performance/) stay on
PostgreSQL: on the Snowflake targets, `prod` and the emulator, dbt compiles their portable
`default__` forms and its own generic tests.

dbt compiles offline (``--no-populate-cache``; nothing here needs a warehouse, so none is
reachable): the dispatched expression and hook macros inline, for each target; and every
generic test of the project for the emulator, once as the project is and once from a copy
without the folder's test overrides (its ``test_*.sql``) — the compiled SQL must be the same,
test for test, i.e. dbt's own. The PostgreSQL target compiles the same sources to the
PostgreSQL forms, which shows the checks tell the two apart. The emulator's workarounds
(macros/emulator/) likewise hand over to dbt-snowflake's own macros on `prod`."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO, free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DBT = REPO / ".venv-dbt" / "bin" / "dbt"
PROJECT = REPO / "dbt" / "finhouse"
#: the folder's overrides of generic tests (dbt's own, or the project's default__ form of
#: unique_combination_of_columns, run wherever they are absent)
TEST_OVERRIDES = "test_*.sql"

#: the dispatched macros of the folder that render SQL inside a model or as a hook
INLINE = (
    "in_small_set=[{{ in_small_set('loan_id', 'select 1') }}]\n"
    "materialized_cte=[{{ materialized_cte() }}]\n"
    "inlined_cte=[{{ inlined_cte() }}]\n"
    "key_statistics=[{{ key_statistics(['loan_id', 'as_of_date']) }}]\n"
    "analyze_table=[{{ analyze_table() }}]\n"
    "remove_segment_days=[{{ remove_segment_days_out_of_span() }}]\n"
)
PORTABLE = {
    "in_small_set": "loan_id in (select 1)",
    "materialized_cte": "",
    "inlined_cte": "",
    "key_statistics": "select 1",
    "analyze_table": "select 1",
}
#: what the folder's macros write on PostgreSQL, never on Snowflake (the project's portable
#: SQL has recursive CTEs of its own: the segment days' index walk is named)
POSTGRES_ONLY = re.compile(
    r"pg_catalog\.|pg_stat_user_tables|pg_statistic_ext|create statistics|= any\(array\("
    r"|\bnot materialized\b|\bas materialized\b|\banalyze\b|\bdo \$\$|held_segments",
    re.IGNORECASE,
)


def _dbt(project: Path, target: str, tmp: Path, *args: str) -> str:
    env = {
        **os.environ,
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
        "DO_NOT_TRACK": "1",
        # nothing listens there: a statement sent to a warehouse fails the compile
        "FINHOUSE_EMULATOR_PORT": str(free_port()),
        "FINHOUSE_DBT_PORT": str(free_port()),
        "SNOWFLAKE_ACCOUNT": "offline-check",
        "SNOWFLAKE_USER": "nobody",
        "SNOWFLAKE_PASSWORD": "unused",
    }
    profiles = REPO / "snowflake" / "emulator" if target == "emulator" else project
    out = subprocess.run(
        [
            str(DBT),
            *args,
            "--no-populate-cache",
            "--profiles-dir",
            str(profiles),
            "--target",
            target,
            "--target-path",
            str(tmp / "target"),
            "--log-path",
            str(tmp / "logs"),
        ],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    return out.stdout


def _inline(target: str, tmp: Path) -> dict[str, str]:
    out = _dbt(PROJECT, target, tmp, "compile", "--quiet", "--inline", INLINE)
    rendered = dict(re.findall(r"^(\w+)=\[(.*?)\]$", out, re.MULTILINE | re.DOTALL))
    assert set(rendered) == {*PORTABLE, "remove_segment_days"}, out
    return {name: " ".join(sql.split()) for name, sql in rendered.items()}


def _compiled_generic_tests(project: Path, target: str, tmp: Path) -> dict[str, str]:
    _dbt(project, target, tmp, "compile", "--select", "test_type:generic")
    compiled = tmp / "target" / "compiled" / "finhouse"
    return {str(path.relative_to(compiled)): path.read_text() for path in compiled.rglob("*.sql")}


@pytest.mark.skipif(not DBT.exists(), reason="needs .venv-dbt (make install)")
@pytest.mark.parametrize("target", ["prod", "emulator"])
def test_snowflake_targets_render_the_portable_forms(target: str, tmp_path: Path) -> None:
    rendered = _inline(target, tmp_path)
    # the segment days' clean-up: the portable one-statement delete of incremental_cleanup.sql
    cleanup = rendered.pop("remove_segment_days")
    assert cleanup.startswith("delete from"), cleanup
    assert not POSTGRES_ONLY.search(cleanup), cleanup
    assert rendered == PORTABLE


@pytest.mark.skipif(not DBT.exists(), reason="needs .venv-dbt (make install)")
def test_postgres_renders_the_performance_forms(tmp_path: Path) -> None:
    rendered = _inline("dev", tmp_path)
    assert rendered["in_small_set"] == "loan_id = any(array(select 1))"
    assert rendered["materialized_cte"] == "materialized"
    assert rendered["inlined_cte"] == "not materialized"
    assert "create statistics" in rendered["key_statistics"]
    assert "with recursive held_segments" in rendered["remove_segment_days"]


@pytest.mark.skipif(not DBT.exists(), reason="needs .venv-dbt (make install)")
def test_emulator_generic_tests_are_dbts_own(tmp_path: Path) -> None:
    as_is = _compiled_generic_tests(PROJECT, "emulator", tmp_path / "as-is")
    assert len(as_is) > 250
    for name, sql in as_is.items():
        assert not POSTGRES_ONLY.search(sql), name
    # the project without the folder's test overrides compiles every test to the same SQL
    bare = tmp_path / "bare"
    shutil.copytree(PROJECT, bare, ignore=shutil.ignore_patterns("target", "logs"))
    overrides = list((bare / "macros" / "postgres_performance").glob(TEST_OVERRIDES))
    assert len(overrides) >= 3, overrides
    for path in overrides:
        path.unlink()
    assert _compiled_generic_tests(bare, "emulator", tmp_path / "bare-run") == as_is


@pytest.mark.skipif(not DBT.exists(), reason="needs .venv-dbt (make install)")
def test_postgres_generic_tests_use_the_overrides(tmp_path: Path) -> None:
    compiled = _compiled_generic_tests(PROJECT, "dev", tmp_path)
    overridden = [name for name, sql in compiled.items() if POSTGRES_ONLY.search(sql)]
    for kind in ("not_null_", "relationships_", "unique_combination_of_columns_"):
        assert any(f"/{kind}" in name for name in overridden), kind


#: the emulator's workarounds that render SQL, and what dbt-snowflake itself renders
WORKAROUNDS = (
    "current_timestamp=[{{ current_timestamp() }}]\n"
    "snowflake_current_timestamp=[{{ dbt.snowflake__current_timestamp() }}]\n"
    "decimal_quotient=[{{ decimal_quotient('a', 'b') }}]\n"
)


@pytest.mark.skipif(not DBT.exists(), reason="needs .venv-dbt (make install)")
def test_emulator_workarounds_stay_on_the_emulator(tmp_path: Path) -> None:
    rendered = {}
    for target in ("prod", "emulator"):
        out = _dbt(PROJECT, target, tmp_path / target, "compile", "-q", "--inline", WORKAROUNDS)
        rendered[target] = dict(re.findall(r"^(\w+)=\[(.*?)\]$", out, re.MULTILINE))
    prod, emulator = rendered["prod"], rendered["emulator"]
    assert prod["current_timestamp"] == prod["snowflake_current_timestamp"]
    assert prod["decimal_quotient"] == "(a) / (b)"
    assert emulator["current_timestamp"] != prod["current_timestamp"]
    assert emulator["decimal_quotient"] != prod["decimal_quotient"]
