"""Drive the bank app through Django's ORM: a base book, then a concurrent workload.

    python -m tests.django_client.workload --dsn postgresql://... --seconds 35 --seed 7

On a database without users it first seeds a small bank (``--customers``); ``--seconds 0``
stops there. Then ``--workers`` threads run the mix of ``bank.operations`` for ``--seconds``,
while ``--month-ends`` postings of ``--month-end-rows`` ledger rows each run at evenly spaced
moments, their rows built ``--month-end-delay`` seconds before their transaction starts.
``--skew-seconds`` shifts the app server's clock against the database's. The same seed gives
the same choices; what they meet depends on timing. One summary line goes to stdout, and
``--report`` receives the JSON the tests check the dangerous patterns against.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

import django


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.django_client.workload")
    parser.add_argument("--dsn", required=True, help="postgresql:// DSN of the OLTP (app role)")
    parser.add_argument("--seconds", type=float, default=30, help="0: seed the base only")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skew-seconds", type=float, default=0.0, help="app clock - db clock")
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--customers", type=int, default=300, help="base book size")
    parser.add_argument("--month-ends", type=int, default=1)
    parser.add_argument("--month-end-rows", type=int, default=20_000)
    parser.add_argument("--month-end-delay", type=float, default=2.0)
    parser.add_argument("--think", type=float, default=0.01, help="mean pause between units")
    parser.add_argument("--migrate", action="store_true", help="run Django's migrate first")
    parser.add_argument("--report", type=Path, help="write the JSON report here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Django reads these while it sets up; nothing of Django is imported before
    os.environ["FINHOUSE_DJANGO_DSN"] = args.dsn
    os.environ["BANK_APP_CLOCK_SKEW_SECONDS"] = str(args.skew_seconds)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.django_client.settings")
    django.setup()
    from django.core.management import call_command  # noqa: PLC0415
    from django.db import connections  # noqa: PLC0415

    from tests.django_client.bank import operations as ops  # noqa: PLC0415
    from tests.django_client.bank.models import User  # noqa: PLC0415

    if args.migrate:
        call_command("migrate", verbosity=0)
    report = ops.Report()
    started = time.monotonic()
    # unique names per run (usernames, account numbers, references) that depend only on the
    # seed and what the database holds, so a rerun on the same database does not collide
    last = User.objects.order_by("-id").values_list("id", flat=True).first() or 0
    tag = f"s{args.seed}n{last}"
    if last == 0:
        ops.seed_base(report, args.seed, tag, args.customers)
    connections.close_all()
    if args.seconds > 0:
        deadline = time.monotonic() + args.seconds
        threads = [
            threading.Thread(
                target=ops.run_worker,
                args=(report, args.seed, tag, i, deadline, args.think),
                name=f"worker-{i}",
            )
            for i in range(args.workers)
        ] + [
            threading.Thread(
                target=ops.run_month_end,
                args=(
                    report,
                    args.seed,
                    tag,
                    i,
                    args.seconds * (i + 1) / (args.month_ends + 1),
                    args.month_end_rows,
                    args.month_end_delay,
                ),
                name=f"month-end-{i}",
            )
            for i in range(args.month_ends)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    elapsed = time.monotonic() - started
    units = sum(n for k, n in report.counts.items() if not k.endswith(("_skipped", "_rows")))
    print(
        f"workload: {units} units in {elapsed:.1f} s ({args.workers} workers, seed {args.seed}, "
        f"skew {args.skew_seconds:+g} s): "
        + ", ".join(f"{k}={n}" for k, n in sorted(report.counts.items()))
    )
    if args.report:
        args.report.write_text(json.dumps(report.as_json(), indent=1), encoding="utf-8")
    for error in report.errors:
        print(f"workload: error: {error}", file=sys.stderr)
    return 1 if report.errors else 0


if __name__ == "__main__":
    sys.exit(main())
