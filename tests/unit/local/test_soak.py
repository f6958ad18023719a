"""The soak's pure parts: percentiles, the RSS profile of a process, commit -> mart freshness
matching, the run summaries and the criteria (``finhouse_local.soak``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from finhouse_local import soak

pytestmark = pytest.mark.unit

T0 = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)


def at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def test_percentile_is_linear_between_the_closest_ranks() -> None:
    assert soak.percentile([], 50) is None
    assert soak.percentile([7.0], 95) == 7.0
    assert soak.percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.5
    values = [float(v) for v in range(1, 101)]  # 1..100
    assert soak.percentile(values, 0) == 1.0
    assert soak.percentile(values, 100) == 100.0
    assert soak.percentile(values, 95) == pytest.approx(95.05)


def test_rss_profile_judges_the_second_half_against_the_mid_point() -> None:
    # 60 minutes sampled every 30 s: warm-up growth in the first half is not judged
    samples = [(t * 30.0, 100 + min(t, 60)) for t in range(121)]
    profile = soak.rss_profile(samples, 3600)
    assert profile is not None
    assert (profile.start, profile.mid, profile.end) == (100, 160, 160)
    assert profile.max_second_half == 160
    assert profile.growth_pct == 0.0
    assert profile.samples == 121
    # steady growth in the second half: 160 -> 200 is 25 %
    leaking = [(t * 30.0, 100 + min(t, 60) + max(0, t - 60) * 2 // 3) for t in range(121)]
    grown = soak.rss_profile(leaking, 3600)
    assert grown is not None
    assert grown.mid == 160
    assert grown.growth_pct == 25.0
    assert soak.rss_profile([], 3600) is None


def test_rss_profile_level_at_the_mid_point_resists_one_spike() -> None:
    samples = [(t * 30.0, 100) for t in range(121)]
    samples[60] = (1800.0, 500)  # one sample taken during a passing spike, at minute 30
    profile = soak.rss_profile(samples, 3600)
    assert profile is not None
    assert profile.mid == 100  # the median of the samples around minute 30
    assert profile.growth_pct == 400.0  # the spike itself is in the second half: reported


def test_rss_profile_of_a_process_seen_late_uses_its_closest_sample() -> None:
    profile = soak.rss_profile([(3000.0, 200), (3030.0, 210)], 3600)
    assert profile is not None
    assert profile.start == profile.mid == 200
    assert profile.growth_pct == 5.0


def test_freshness_takes_the_first_build_whose_cut_covers_the_commit() -> None:
    builds = [
        # (watermark of the table in the build, the build finished)
        (at(2), at(3)),
        (at(4), at(6)),
        (at(6), at(7)),
        (at(9), at(20)),  # finished after the soak's end: does not count
    ]
    commits = [at(1), at(2), at(2.5), at(5), at(7)]
    summary, latencies = soak.freshness(commits, builds, end=at(12), goal=240)
    # 1 -> 3; 2 (watermark >= commit) -> 3; 2.5 -> 6; 5 -> 7; 7: in no build by the end
    assert latencies == [120.0, 60.0, 210.0, 120.0]
    assert summary.commits == 5
    assert summary.covered == 4
    assert summary.p50 == 120.0
    assert summary.max == 210.0
    assert summary.uncovered == 1
    assert summary.oldest_uncovered == 300.0
    assert summary.uncovered_over_goal == 1  # 5 min old at the end, goal 4 min


def test_freshness_takes_the_earliest_finish_when_watermarks_go_back() -> None:
    # a later build with a lower watermark (a retry of an older cut) finishes first
    builds = [(at(10), at(12)), (at(5), at(11))]
    summary, latencies = soak.freshness([at(4), at(8)], builds, end=at(30), goal=300)
    assert latencies == [420.0, 240.0]  # 4 -> 11 (either build), 8 -> 12 (only the first)
    assert summary.uncovered == 0


def test_freshness_with_no_build_leaves_every_commit_uncovered() -> None:
    summary, latencies = soak.freshness([at(1), at(9)], [], end=at(10), goal=300)
    assert latencies == []
    assert (summary.covered, summary.uncovered, summary.uncovered_over_goal) == (0, 2, 1)
    assert summary.p95 is None


def run(dag_id: str, state: str, start: str | None = None, end: str | None = None) -> Any:
    return {
        "dag_id": dag_id,
        "dag_run_id": f"{dag_id}-{start}",
        "run_type": "scheduled",
        "state": state,
        "start_date": start,
        "end_date": end,
    }


def test_runs_are_summarized_per_dag_and_dbt_builds_timed() -> None:
    runs = [
        run("ingest_users", "success", "2026-06-01T12:00:00Z", "2026-06-01T12:00:10Z"),
        run("ingest_users", "failed", "2026-06-01T12:02:00Z", "2026-06-01T12:02:10Z"),
        run("ingest_users", "running", "2026-06-01T12:04:00Z"),
        run("ingest_users", "queued"),
        run("finhouse_dbt", "success", "2026-06-01T12:01:00Z", "2026-06-01T12:01:40Z"),
        run("finhouse_dbt", "success", "2026-06-01T12:03:00Z", "2026-06-01T12:04:00Z"),
        run("finhouse_dbt", "failed", "2026-06-01T12:05:00Z", "2026-06-01T12:05:05Z"),
    ]
    summary = soak.summarize_runs(runs)
    assert summary["dags"]["ingest_users"] == {"runs": 4, "success": 1, "failed": 1, "running": 2}
    assert summary["totals"] == {"runs": 7, "success": 3, "failed": 2, "running": 2}
    dbt = soak.dbt_durations(runs)
    assert (dbt["runs"], dbt["success"], dbt["failed"]) == (3, 2, 1)
    assert (dbt["p50_s"], dbt["max_s"]) == (50.0, 60.0)  # successful builds only


def test_platform_environment_sets_every_table_schedule() -> None:
    env = soak.platform_environment(soak.Options(schedule_minutes=2, reconcile_minutes=10))
    assert env["FINHOUSE_SIMULATE_INTERVAL"] == "20"
    assert env["FINHOUSE_USERS_SCHEDULE"] == "*/2 * * * *"
    assert env["FINHOUSE_TRANSACTIONS_RECONCILE_SCHEDULE"] == "1-59/10 * * * *"
    assert len([k for k in env if k.endswith("_SCHEDULE")]) == 12
    fast = soak.platform_environment(soak.Options(schedule_minutes=1, reconcile_minutes=1))
    assert fast["FINHOUSE_LOANS_SCHEDULE"] == fast["FINHOUSE_LOANS_RECONCILE_SCHEDULE"]


def passing_report() -> dict[str, Any]:
    fresh = {"covered": 10, "p95": 120.0, "uncovered_over_goal": 0}
    return {
        "runs": {"totals": {"runs": 10, "success": 10, "failed": 0, "running": 0}, "failed": []},
        "dbt": {"success": 2},
        "freshness": {"measured": True, "overall": fresh},
        "rss": {
            "processes": {
                "scheduler": {"judged": True, "growth_pct": 3.0},
                soak.TRANSIENT: {"judged": False, "growth_pct": 300.0},
            }
        },
        "logs": {"mb_per_hour": 12.0},
        "reconcile": {"exact": True, "exit_code": 0, "differences": []},
    }


def test_a_report_within_every_goal_has_no_violation() -> None:
    assert soak.violations(passing_report(), soak.Options()) == []


def test_each_criterion_is_one_line() -> None:
    report = passing_report()
    report["runs"]["totals"]["failed"] = 1
    report["runs"]["failed"] = [
        {"dag_id": "ingest_loans", "run_id": "r1", "failed_tasks": ["load failed: boom"]}
    ]
    report["freshness"]["overall"] |= {"p95": 420.0, "uncovered_over_goal": 3}
    report["rss"]["processes"]["scheduler"] |= {
        "growth_pct": 12.5,
        "mid_mb": 200.0,
        "max_second_half_mb": 225.0,
    }
    report["logs"]["mb_per_hour"] = 31.0
    report["reconcile"] = {"exact": False, "exit_code": 1, "differences": ["loans: … DIFFERENT"]}
    found = soak.violations(report, soak.Options())
    assert len(found) == 6, found
    assert found[0] == "1 failed DAG runs: ingest_loans r1 (load failed: boom)"
    assert "freshness p95 7.0 min > goal 5 min" in found[1]
    assert found[2].startswith("3 commits older than 5 min")
    assert found[3].startswith("RSS of scheduler grew 12.5 %")
    assert found[4] == "logs grew 31.0 MB per hour (max 20)"
    assert found[5] == "final reconcile not exact: loans: … DIFFERENT"
    lenient = soak.Options(rss_growth_max_pct=15, log_mb_per_hour_max=40)
    assert len(soak.violations(report, lenient)) == 4


def test_freshness_that_could_not_be_measured_fails_the_soak() -> None:
    report = passing_report()
    report["freshness"] = {"measured": False, "reason": "no mart_builds"}
    assert soak.violations(report, soak.Options()) == [
        "commit -> mart freshness not measured: no mart_builds"
    ]


def test_postgres_memory_counts_its_shared_buffers_once_and_apart(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kb = 1024
    status = {
        1: {"VmRSS": 300 * kb, "RssAnon": 100 * kb, "RssFile": 50 * kb, "RssShmem": 150 * kb},
        2: {"VmRSS": 60 * kb, "RssAnon": 20 * kb, "RssFile": 10 * kb, "RssShmem": 30 * kb},
        3: {"VmRSS": 500 * kb, "RssAnon": 40 * kb, "RssFile": 10 * kb, "RssShmem": 450 * kb},
        4: {"VmRSS": 200 * kb},
        5: {},  # gone between the listing and the reading
    }
    monkeypatch.setattr(soak, "_rss", lambda pid: status[pid])
    sizes = soak.measure(
        {"postgres": [1, 2], soak.POSTGRES_BACKENDS: [3], "scheduler": [4], "triggerer": [5]}
    )
    assert sizes == {
        "postgres": 180 * kb,  # private and file pages of the server's processes
        soak.POSTGRES_BACKENDS: 50 * kb,
        soak.POSTGRES_SHARED: 450 * kb,  # the most any process touched, once
        "scheduler": 200 * kb,
    }


def test_only_the_servers_own_processes_are_judged_workers_come_and_go() -> None:
    judged = [
        "postgres: checkpointer ",
        "postgres: background writer ",
        "postgres: walwriter ",
        "postgres: autovacuum launcher ",
        "postgres: logical replication launcher ",
    ]
    passing = [
        "postgres: loader warehouse 127.0.0.1(51234) idle",
        "postgres: autovacuum worker warehouse",
        "postgres: parallel worker for PID 4242 ",
        "postgres: walsender replicator 127.0.0.1(5000) streaming 0/3000148",
    ]
    assert {soak.postgres_process(t) for t in judged} == {"postgres"}
    assert {soak.postgres_process(t) for t in passing} == {soak.POSTGRES_BACKENDS}


def test_a_warm_up_without_a_successful_build_fails_the_soak() -> None:
    report = passing_report()
    report["warm_up"] = {"seconds": 1200.0, "first_build": None, "timed_out": True}
    assert soak.violations(report, soak.Options()) == [
        "warm-up: no dbt build succeeded within 20 min of the start"
    ]
    report["warm_up"] = {"seconds": 300.0, "first_build": {"seconds": 290.0}, "timed_out": False}
    assert soak.violations(report, soak.Options()) == []
