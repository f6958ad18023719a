"""Month-end closes (finhouse.closes) on the dbt-built warehouse, through `finhouse close`.

May 2026 (complete in the marts, built as of 2026-06-30) is closed; the close equals the
marts; it is immutable for every role; closing again with nothing changed writes nothing.
Then a payment is entered late (paid in May, entered now) and another May payment is
reversed; after an ingest and a build, the month closed again is a new version whose
restatement names both loans with their causes and carries every changed figure, and the
"as closed" views follow the new version.
"""

from __future__ import annotations

import datetime as dt
import subprocess
from decimal import Decimal

import psycopg
import pytest

from tests.conftest import FINHOUSE
from tests.integration.dbt.conftest import Warehouse

pytestmark = pytest.mark.integration

MONTH = "2026-05"
MONTH_START = dt.date(2026, 5, 1)


def _close(built: Warehouse, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [FINHOUSE, "close", *args],
        env=built.env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _closes(wh: psycopg.Connection) -> list[tuple]:
    return wh.execute(
        "select close_id, version, previous_close_id from closes.month_end_closes "
        "where month = %s order by version",
        (MONTH_START,),
    ).fetchall()


def _mart_minus_close(wh: psycopg.Connection, mart: str, section: str, where: str) -> int:
    """Rows of the mart's month not in the close's latest version, and the other way round
    (every column but the marts' as-of date)."""
    columns = [
        r[0]
        for r in wh.execute(
            "select column_name from information_schema.columns where table_schema = 'marts' "
            "and table_name = %s and column_name <> 'as_of_date' order by ordinal_position",
            (mart,),
        )
    ]
    cols = ", ".join(columns)
    one_way = wh.execute(
        f"select count(*) from (select {cols} from marts.{mart} where {where} except all "
        f"select {cols} from closes.{section}_as_closed where close_month = %s) d",
        (MONTH_START,),
    ).fetchone()
    other_way = wh.execute(
        f"select count(*) from (select {cols} from closes.{section}_as_closed "
        f"where close_month = %s except all select {cols} from marts.{mart} where {where}) d",
        (MONTH_START,),
    ).fetchone()
    assert one_way is not None
    assert other_way is not None
    return int(one_way[0]) + int(other_way[0])


def test_close_freeze_immutability_and_restatement(built: Warehouse) -> None:
    # a day of May in the data-quality record: two tables reconciled, one row missing in one
    with psycopg.connect(built.dsn()) as wh:
        wh.execute(
            "insert into finhouse_meta.reconcile_runs (run_id, table_name, source_rows, "
            "raw_current_rows, deleted_marked, missing_in_raw, stale_in_raw, finished_at) "
            "values ('close-test', 'loans', 10, 10, 0, 0, 0, '2026-05-15 12:00+00'), "
            "('close-test', 'payments', 10, 9, 0, 1, 0, '2026-05-15 12:00+00')"
        )
    # the marts as the source stands (tests before this one may have changed it)
    built.ingest()
    built.dbt("run")
    # -- bad requests: one line each, nothing written
    for args, message in (
        (("2026-13",), "not a month"),
        (("2026-06",), "is not complete in the marts"),
        (("1999-01",), "no figure for this month"),
    ):
        bad = _close(built, *args)
        assert bad.returncode != 0
        assert message in bad.stderr, bad.stderr
        assert len(bad.stderr.strip().splitlines()) == 1, bad.stderr

    first = _close(built, MONTH)
    assert first.returncode == 0, first.stderr
    assert f"closed as {MONTH}-v1" in first.stdout
    with psycopg.connect(built.dsn()) as wh:
        assert _closes(wh) == [(f"{MONTH}-v1", 1, None)]
        # the close is the marts' month, to the cent
        for mart, section, where in (
            ("risk_coverage_monthly", "risk_coverage", "month_start = '2026-05-01'"),
            ("portfolio_daily", "portfolio_quality", "as_of_date = '2026-05-31'"),
            ("loan_provisions_monthly", "loan_positions", "month_start = '2026-05-01'"),
            ("collections_monthly", "collections", "month_start = '2026-05-01'"),
            ("investments_monthly", "investments", "month_start = '2026-05-01'"),
            ("concentration_monthly", "concentration", "month_start = '2026-05-01'"),
            (
                "data_quality_daily",
                "data_quality_record",
                "check_date between '2026-05-01' and '2026-05-31'",
            ),
        ):
            assert _mart_minus_close(wh, mart, section, where) == 0, mart
        record = wh.execute(
            "select check_kind, check_date, runs, checks, passed, failed, failing_rows "
            "from closes.data_quality_record where close_id = %s",
            (f"{MONTH}-v1",),
        ).fetchall()
        assert record == [("reconcile", dt.date(2026, 5, 15), 1, 2, 1, 1, 1)]
        counts = wh.execute(
            "select (select count(*) from closes.risk_coverage), "
            "(select count(*) from closes.loan_positions)"
        ).fetchone()
        assert counts is not None
        assert counts[0] > 0
        assert counts[1] > 0

    # -- immutable, for the owner and the superuser alike
    for role in ("transformer", "admin"):
        for statement in (
            "update closes.risk_coverage set loan_loss_reserve = 0",
            "delete from closes.loan_positions",
            "truncate closes.month_end_closes",
        ):
            with (
                psycopg.connect(built.dsn(role)) as conn,
                pytest.raises(psycopg.errors.RaiseException, match="closes are immutable"),
            ):
                conn.execute(statement)
    # the reporter reads the closes, and writes nothing
    with psycopg.connect(built.dsn("reporter")) as reporter:
        row = reporter.execute("select count(*) from closes.risk_coverage_as_closed").fetchone()
        assert row is not None
        assert row[0] > 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            reporter.execute(
                "insert into closes.restated_loans select * from closes.restated_loans"
            )

    # -- nothing changed: no new version
    again = _close(built, MONTH)
    assert again.returncode == 0, again.stderr
    assert f"unchanged since close {MONTH}-v1" in again.stdout
    with psycopg.connect(built.dsn()) as wh:
        assert len(_closes(wh)) == 1

    # -- a late payment and a reversal, both dated in May
    with psycopg.connect(built.dsn()) as wh:
        late_loan = wh.execute(
            "select loan_id, outstanding_principal from closes.loan_positions "
            "where close_id = %s and days_past_due > 30 and outstanding_principal > 500 "
            "order by loan_id limit 1",
            (f"{MONTH}-v1",),
        ).fetchone()
    assert late_loan is not None
    with psycopg.connect(built.oltp_dsn, autocommit=True) as oltp:
        reversed_payment = oltp.execute(
            """
            select p.id, p.loan_id, p.principal_paid
            from payments p join loans l on l.id = p.loan_id
            where p.status = 'completed' and p.principal_paid > 0 and l.status = 'active'
              and p.paid_at >= '2026-05-01' and p.paid_at < '2026-05-31' and p.loan_id <> %s
            order by p.id limit 1""",
            (late_loan[0],),
        ).fetchone()
        assert reversed_payment is not None
        oltp.execute(
            "update payments set status = 'reversed', updated_at = now() where id = %s",
            (reversed_payment[0],),
        )
        late_payment = oltp.execute(
            """
            insert into payments (loan_id, amount, principal_paid, interest_paid, penalty_paid,
                                  channel, status, paid_at, reference, created_at, updated_at)
            values (%s, 100.00, 100.00, 0, 0, 'cash', 'completed', '2026-05-20 10:00+00',
                    'LATE-CLOSE-1', now(), now())
            returning id""",
            (late_loan[0],),
        ).fetchone()
    assert late_payment is not None
    built.ingest()
    built.dbt("run")

    second = _close(built, MONTH)
    assert second.returncode == 0, second.stderr
    assert f"closed as {MONTH}-v2" in second.stdout
    assert f"previous close {MONTH}-v1" in second.stdout
    assert f"loan {late_loan[0]} " in second.stdout
    with psycopg.connect(built.dsn()) as wh:
        assert _closes(wh) == [(f"{MONTH}-v1", 1, None), (f"{MONTH}-v2", 2, f"{MONTH}-v1")]
        loans = {
            r[0]: r[1:]
            for r in wh.execute(
                "select loan_id, previous_outstanding_principal, restated_outstanding_principal, "
                "causes from closes.restated_loans where close_id = %s",
                (f"{MONTH}-v2",),
            )
        }
        assert loans.keys() == {late_loan[0], reversed_payment[1]}
        before, after, causes = loans[late_loan[0]]
        assert before - after == Decimal("100.00")
        assert f"payment {late_payment[0]} entered after the previous close" in causes
        before, after, causes = loans[reversed_payment[1]]
        assert after - before == reversed_payment[2]
        assert f"payment {reversed_payment[0]} (paid 2026-05-" in causes
        assert "reversed" in causes
        # every changed figure is listed: the GLP of May's end moved by both changes
        glp = wh.execute(
            "select sum(difference) from closes.restated_figures where close_id = %s "
            "and section = 'portfolio_quality' and figure = 'gross_loan_portfolio'",
            (f"{MONTH}-v2",),
        ).fetchone()
        assert glp is not None
        assert glp[0] == reversed_payment[2] - Decimal("100.00")
        # ... and so did the loans' total in the concentration section (the same positions)
        concentration = wh.execute(
            "select row_key, difference from closes.restated_figures where close_id = %s "
            "and section = 'concentration' and figure = 'total_balance'",
            (f"{MONTH}-v2",),
        ).fetchall()
        assert concentration == [("population=glp", glp[0])]
        # "as closed" follows the new version, which equals the restated marts
        assert (
            _mart_minus_close(
                wh, "risk_coverage_monthly", "risk_coverage", "month_start = '2026-05-01'"
            )
            == 0
        )
        versions = wh.execute(
            "select distinct close_id from closes.loan_positions_as_closed where close_month = %s",
            (MONTH_START,),
        ).fetchall()
        assert versions == [(f"{MONTH}-v2",)]
        # the mart of closed vs restated figures shows v2 (its view found the closes when
        # the run above rebuilt it), equal to the restated figures
        shown = wh.execute(
            "select distinct close_id, loan_loss_reserve_as_closed = loan_loss_reserve_as_restated "
            "from marts.risk_coverage_closed_vs_restated where month_start = %s",
            (MONTH_START,),
        ).fetchall()
        assert shown == [(f"{MONTH}-v2", True)]
        # v1 is still there, unchanged
        kept = wh.execute(
            "select outstanding_principal from closes.loan_positions "
            "where close_id = %s and loan_id = %s",
            (f"{MONTH}-v1", late_loan[0]),
        ).fetchone()
        assert kept == (late_loan[1],)
    listed = _close(built, "--list")
    assert listed.returncode == 0, listed.stderr
    assert f"{MONTH}-v2" in listed.stdout
    assert "since 2026-05-v1" in listed.stdout


def _cents(value: object) -> Decimal:
    """A number read back from the workbook (a float holding cents) as exact cents."""
    return Decimal(repr(value)).quantize(Decimal("0.01"))


def _sheet(book: object, name: str) -> list[dict]:
    sheet = book[name]  # type: ignore[index]
    rows = list(sheet.iter_rows(values_only=True))
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def test_the_report_pack_equals_the_close_to_the_cent(built: Warehouse, tmp_path) -> None:
    import openpyxl  # noqa: PLC0415
    import pypdfium2  # noqa: PLC0415
    from pypdf import PdfReader  # noqa: PLC0415

    from finhouse import exports  # noqa: PLC0415

    closed = _close(built, MONTH)  # closes May if no test did yet; else nothing changes
    assert closed.returncode == 0, closed.stderr
    out = tmp_path / "packs"
    made = subprocess.run(
        [FINHOUSE, "report", "monthly", "--month", MONTH, "--out", str(out)],
        env={**built.env(), "FINHOUSE_REPORTER_DSN": built.dsn("reporter")},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    with psycopg.connect(built.dsn()) as wh:
        close_id, version = wh.execute(
            "select close_id, version from closes.month_end_closes where month = %s "
            "order by version desc limit 1",
            (MONTH_START,),
        ).fetchone()  # type: ignore[misc]
        coverage = {
            r[0]: r[1:]
            for r in wh.execute(
                "select branch_code, gross_loan_portfolio, par30_amount, "
                "opening_loan_loss_reserve, loan_loss_reserve, provision_expense, "
                "written_off_amount, risk_coverage_ratio from closes.risk_coverage "
                "where close_id = %s",
                (close_id,),
            )
        }
        quality = wh.execute(
            "select branch_code, gross_loan_portfolio, par30_amount, active_loans "
            "from closes.portfolio_quality where close_id = %s",
            (close_id,),
        ).fetchall()
        buckets = wh.execute(
            "select dpd_bucket, loans, outstanding_principal, provision_amount "
            "from closes.provisions_by_bucket where close_id = %s",
            (close_id,),
        ).fetchall()
        checks, problems = wh.execute(
            "select count(*), count(*) filter (where is_problem) from closes.data_quality "
            "where close_id = %s",
            (close_id,),
        ).fetchone()  # type: ignore[misc]
        restated = sorted(
            r[0]
            for r in wh.execute(
                "select loan_id from closes.restated_loans where close_id = %s", (close_id,)
            )
        )
        investments = {
            r[0]: r[1:]
            for r in wh.execute(
                "select investment_product, opening_principal, started_principal, "
                "matured_principal, withdrawn_principal, principal, investment_count, "
                "accrued_value from closes.investments where close_id = %s",
                (close_id,),
            )
        }
        concentration = {
            r[0]: r[1:]
            for r in wh.execute(
                "select population, holders, total_balance, top_10_pct_balance, "
                "top_10_pct_share, gini from closes.concentration where close_id = %s",
                (close_id,),
            )
        }
        record = wh.execute(
            "select check_kind, sum(runs), sum(checks), sum(passed), sum(failed) "
            "from closes.data_quality_record where close_id = %s group by check_kind "
            "order by check_kind",
            (close_id,),
        ).fetchall()
    assert f"report pack of close {close_id} ->" in made.stdout
    again = subprocess.run(
        made.args,
        env=built.env() | {"FINHOUSE_REPORTER_DSN": built.dsn("reporter")},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert again.returncode == 0, again.stderr
    assert f"report pack of close {close_id} already at" in again.stdout
    # stored like an export: a manifest naming both files with their checksums, current
    fs, root = exports.filesystem(str(out))
    manifest = exports.verify(fs, root, "monthly_report")
    assert manifest.export_id == close_id
    names = sorted(f.path for f in manifest.files)
    assert [n.rsplit(".", 1)[1] for n in names] == ["pdf", "xlsx"]
    folder = out / "monthly_report" / close_id

    # -- the workbook, read back
    book = openpyxl.load_workbook(folder / names[1])
    assert {
        "close",
        "summary",
        "portfolio_by_branch",
        "dpd_buckets",
        "risk_coverage",
        "collections",
        "financial_summary",
        "roll_rates",
        "trend",
    } <= set(book.sheetnames)
    rows = _sheet(book, "risk_coverage")
    assert rows[-1]["Branch"] == "Total"
    assert {r["Branch"] for r in rows[:-1]} == set(coverage)
    for row in rows[:-1]:
        glp, par30, opening, reserve, expense, written_off, ratio = coverage[row["Branch"]]
        assert _cents(row["GLP"]) == glp
        assert _cents(row["PAR30 amount"]) == par30
        assert _cents(row["Opening reserve"]) == opening
        assert _cents(row["Loan-loss reserve"]) == reserve
        assert _cents(row["Provision expense"]) == expense
        assert _cents(row["Write-offs"]) == written_off
        if ratio is None:
            assert row["Risk coverage"] is None
        else:
            assert abs(Decimal(repr(row["Risk coverage"])) - ratio) < Decimal("1e-9")
    total_reserve = sum(c[3] for c in coverage.values())
    assert _cents(rows[-1]["Loan-loss reserve"]) == total_reserve
    sheet = book["risk_coverage"]
    assert sheet.cell(row=2, column=2).number_format == "#,##0.00"
    assert sheet.cell(row=2, column=7).number_format == "0.00%"
    assert sheet.cell(row=1, column=1).font.bold

    by_branch: dict[str, list[Decimal]] = {}
    for branch, glp, par30, loans in quality:
        sums = by_branch.setdefault(branch, [Decimal(0), Decimal(0), Decimal(0)])
        sums[0] += glp
        sums[1] += par30
        sums[2] += loans
    rows = _sheet(book, "portfolio_by_branch")
    assert {
        r["Branch"]: [_cents(r["GLP"]), _cents(r["PAR30 amount"]), r["Active loans"]]
        for r in rows[:-1]
    } == by_branch
    total_glp = sum(v[0] for v in by_branch.values())
    assert _cents(rows[-1]["GLP"]) == total_glp

    bucket_totals: dict[str, list] = {}
    for bucket, loans, outstanding, provision in buckets:
        sums = bucket_totals.setdefault(bucket, [0, Decimal(0), Decimal(0)])
        sums[0] += loans
        sums[1] += outstanding
        sums[2] += provision
    rows = _sheet(book, "dpd_buckets")
    assert [r["DPD bucket"] for r in rows] == [
        "current",
        "1-30",
        "31-60",
        "61-90",
        "91-180",
        "181+",
        "Total",
    ]
    for row in rows[:-1]:
        loans, outstanding, provision = bucket_totals[row["DPD bucket"]]
        assert (row["Loans"], _cents(row["Outstanding principal"]), _cents(row["Provision"])) == (
            loans,
            outstanding,
            provision,
        )
    # investments: every product's roll-forward and value, and the total
    rows = _sheet(book, "investments")
    assert rows[-1]["Product"] == "Total"
    assert len(investments) >= 2
    assert {
        r["Product"]: (
            _cents(r["Opening principal"]),
            _cents(r["Started"]),
            _cents(r["Matured"]),
            _cents(r["Withdrawn"]),
            _cents(r["Closing principal"]),
            r["Investments"],
            _cents(r["Accrued value"]),
        )
        for r in rows[:-1]
    } == investments
    total_book = sum(v[4] for v in investments.values())
    assert _cents(rows[-1]["Closing principal"]) == total_book > 0
    # concentration: both populations at May's end
    rows = _sheet(book, "concentration")
    populations = {"Loans (GLP)": "glp", "Deposit accounts": "deposits"}
    assert {populations[r["Population"]] for r in rows} == set(concentration) == {"glp", "deposits"}
    for row in rows:
        holders, total, top, share, gini = concentration[populations[row["Population"]]]
        assert (row["Holders"], _cents(row["Total balance"]), _cents(row["Top 10 % balance"])) == (
            holders,
            total,
            top,
        )
        assert abs(Decimal(repr(row["Top 10 % share"])) - share) < Decimal("1e-9")
        assert abs(Decimal(repr(row["Gini"])) - gini) < Decimal("1e-9")
    # the GLP population is the portfolio: the same total as the portfolio tables
    assert concentration["glp"][1] == total_glp
    assert book["concentration"].cell(row=2, column=7).number_format == "0.0000"
    # the month's data-quality record, per kind of check
    rows = _sheet(book, "data_quality_record")
    assert [
        (r["Kind"], r["Runs"], r["Checks"], r["Passed"], r["Failed"]) for r in rows[:-1]
    ] == record
    summary = {r["Figure"]: r["Value"] for r in _sheet(book, "summary")}
    assert _cents(summary["Investment book (principal)"]) == total_book
    assert _cents(summary["Gross loan portfolio"]) == total_glp
    assert _cents(summary["Loan-loss reserve"]) == total_reserve
    assert summary["Data-quality checks at the close"] == checks
    assert summary["... of which not passing"] == problems == len(_sheet(book, "data_quality"))
    assert [r["Loan"] for r in _sheet(book, "restatement")] == restated
    assert (version > 1) == bool(restated)

    # -- the PDF: its text carries the figures, every page renders with something on it
    pdf_path = folder / names[0]
    text = "\n".join(page.extract_text() for page in PdfReader(pdf_path).pages)
    for expected in (
        close_id,
        f"{total_glp:,.2f}",
        f"{total_reserve:,.2f}",
        "Provisioning and risk coverage",
        "Collections",
        "Financial summary",
        "Investments",
        "Concentration",
        f"{total_book:,.2f}",
        f"{concentration['deposits'][1]:,.2f}",
        *(f"{v[0]:,.2f}" for v in by_branch.values()),
    ):
        assert expected in text, expected
    for loan_id in restated:
        assert str(loan_id) in text
    document = pypdfium2.PdfDocument(pdf_path)
    assert len(document) >= 4
    for index in range(len(document)):
        image = document[index].render(scale=0.5).to_pil().convert("L")
        inked = sum(image.histogram()[:200])  # pixels darker than light grey
        assert inked > 500, f"page {index + 1} is (nearly) empty"
    document.close()
