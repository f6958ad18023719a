"""Alerts are configured by the environment: none by default, a webhook and e-mail on demand,
and a summary a person can act on."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from finhouse.orchestration import alerts

pytestmark = pytest.mark.unit


def test_off_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FINHOUSE_ALERT_WEBHOOK_URL", raising=False)
    monkeypatch.delenv("FINHOUSE_ALERT_EMAIL", raising=False)
    assert alerts.notifiers() == []
    assert alerts.callbacks() == {}


def test_webhook_and_email_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINHOUSE_ALERT_WEBHOOK_URL", "https://hooks.example/T0/B0/secret")
    monkeypatch.setenv("FINHOUSE_ALERT_EMAIL", "ops@example.org, risk@example.org ,")
    found = alerts.notifiers()
    assert [type(n).__name__ for n in found] == ["WebhookNotifier", "SmtpNotifier"]
    assert found[1].to == ["ops@example.org", "risk@example.org"]  # type: ignore[attr-defined]
    callbacks = alerts.callbacks()
    assert list(callbacks) == ["on_failure_callback"]
    assert [type(n).__name__ for n in callbacks["on_failure_callback"]] == [
        "WebhookNotifier",
        "SmtpNotifier",
    ]


def test_summary_names_the_task_run_try_and_error() -> None:
    ti = SimpleNamespace(
        dag_id="ingest_loans",
        task_id="extract_load",
        run_id="scheduled__2026-11-30T07:00:00+00:00",
        try_number=3,
        log_url="http://localhost:8080/dags/ingest_loans/runs/x/tasks/extract_load",
    )
    body = alerts.summary({"ti": ti, "exception": ValueError("x" * 2000)})
    assert body["text"].splitlines()[0] == (
        "finhouse: ingest_loans.extract_load failed "
        "(run scheduled__2026-11-30T07:00:00+00:00, try 3)"
    )
    assert body["error"].startswith("ValueError: xxx")
    assert len(body["error"]) < 850
    assert body["log_url"] in body["text"]
