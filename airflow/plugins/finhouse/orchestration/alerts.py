"""Failure and freshness alerts through Airflow notifiers, configured by the environment and
off by default:

* ``FINHOUSE_ALERT_WEBHOOK_URL``: an HTTP(S) endpoint that receives a JSON POST. The body's
  ``text`` field makes it a Slack (or Mattermost, Teams workflow) incoming webhook as is; the
  other fields (dag_id, task_id, run_id, try_number, state, error, log_url) serve any other
  receiver. The URL is a secret: it is never logged.
* ``FINHOUSE_ALERT_EMAIL``: comma-separated addresses, sent through Airflow's SMTP provider
  (connection ``smtp_default``).

A task's final failure (after its retries) notifies; so does a dbt source freshness warning.
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk import BaseNotifier

from finhouse import settings

log = logging.getLogger("finhouse.alerts")


def summary(context: Any, *, what: str = "failed") -> dict[str, Any]:
    """A one-glance description of what happened, from a task callback's context."""
    ti = context.get("ti") or context.get("task_instance")
    dag_run = context.get("dag_run")
    dag_id = getattr(ti, "dag_id", None) or getattr(dag_run, "dag_id", "?")
    task_id = getattr(ti, "task_id", "?")
    run_id = getattr(ti, "run_id", None) or getattr(dag_run, "run_id", "?")
    error = context.get("exception")
    error_text = f"{type(error).__name__}: {error}" if error else None
    if error_text and len(error_text) > 800:
        error_text = error_text[:800] + "…"
    log_url = getattr(ti, "log_url", None)
    try_number = getattr(ti, "try_number", None)
    text = f"finhouse: {dag_id}.{task_id} {what} (run {run_id}, try {try_number})"
    if error_text:
        text += f"\n{error_text}"
    if log_url:
        text += f"\nlog: {log_url}"
    return {
        "text": text,
        "dag_id": dag_id,
        "task_id": task_id,
        "run_id": run_id,
        "try_number": try_number,
        "state": what,
        "error": error_text,
        "log_url": log_url,
    }


class WebhookNotifier(BaseNotifier):
    """POSTs :func:`summary` as JSON to a webhook (Slack-compatible ``text`` field)."""

    def __init__(self, url: str, *, what: str = "failed", timeout: float = 10.0) -> None:
        super().__init__()
        self.url = url
        self.what = what
        self.timeout = timeout

    def notify(self, context: Any) -> None:
        import httpx  # noqa: PLC0415

        body = summary(context, what=self.what)
        try:
            response = httpx.post(self.url, json=body, timeout=self.timeout)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            # never the URL: it carries the webhook's secret
            log.warning("alert webhook failed: %s", type(exc).__name__)
        else:
            log.info("alert sent to the webhook: %s", body["text"].splitlines()[0])


def _email_notifier(addresses: list[str], what: str) -> BaseNotifier:
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier  # noqa: PLC0415

    return SmtpNotifier(
        to=addresses,
        subject=f"finhouse: {{{{ ti.dag_id }}}}.{{{{ ti.task_id }}}} {what}",
        html_content=(
            f"<p>Task {{{{ ti.dag_id }}}}.{{{{ ti.task_id }}}} {what} in run "
            "{{ ti.run_id }} (try {{ ti.try_number }}).</p>"
            "<p>{{ exception }}</p><p><a href='{{ ti.log_url }}'>log</a></p>"
        ),
    )


def notifiers(what: str = "failed") -> list[BaseNotifier]:
    """The notifiers the environment configures (none by default). Read when a DAG is built,
    so a malformed URL or address fails the DAG file's import, naming the variable (never
    the URL), instead of an alert that never arrives."""
    found: list[BaseNotifier] = []
    if url := settings.load().alert_webhook_url:
        found.append(WebhookNotifier(url, what=what))
    if addresses := settings.load().alert_email:
        found.append(_email_notifier(addresses, what))
    return found


def callbacks() -> dict[str, Any]:
    """``default_args`` entries that alert on a task's final failure (empty when off)."""
    found = notifiers("failed")
    return {"on_failure_callback": found} if found else {}


def on_warning(context: Any) -> None:
    """Cosmos ``on_warning_callback``: dbt warnings (a source past ``warn_after``) alert too."""
    for notifier in notifiers("warned (dbt)"):
        notifier(context)
