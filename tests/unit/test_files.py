"""Reading spreadsheet files (finhouse.files): values typed exactly, a malformed file named by
row and column and never by its values, workbooks read as their CSV export would be."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import Workbook

from finhouse import files
from finhouse.files import DATASETS, RejectedFileError, read_rows, typed_rows
from finhouse.oltp.spreadsheets import HEADERS

pytestmark = pytest.mark.unit

#: a value that must never appear in a message
SECRET = "S3CRET-VALUE-77"  # noqa: S105 - a marker no message may contain


def typed(dataset: str, path: Path) -> tuple[files.Layout, list[tuple[object, ...]]]:
    shape, rows = typed_rows(DATASETS[dataset], read_rows(path))
    return shape, list(rows)


def rejection(dataset: str, path: Path) -> str:
    with pytest.raises(RejectedFileError) as caught:
        typed(dataset, path)
    message = str(caught.value)
    assert SECRET not in message
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    ("kind", "text", "value"),
    [
        ("money", "1234.5", Decimal("1234.50")),
        ("money", "-0.01", Decimal("-0.01")),
        ("money", "10.000", Decimal("10.00")),
        ("money", ".5", Decimal("0.50")),
        ("money", "007.", Decimal("7.00")),
        ("fraction", "5%", Decimal("0.0500")),
        ("fraction", "12.5%", Decimal("0.1250")),
        ("fraction", "0.05", Decimal("0.0500")),
        ("integer", "+42", 42),
        ("bigint", "9007199254740993", 9007199254740993),
        ("month", "2026-3", dt.date(2026, 3, 1)),
        ("month", "2026-03-01", dt.date(2026, 3, 1)),
        ("date", "2024-02-29", dt.date(2024, 2, 29)),
    ],
)
def test_values_are_typed_exactly(kind: str, text: str, value: object) -> None:
    converted = files.CONVERTERS[kind](text)
    assert converted == value
    assert type(converted) is type(value)
    if isinstance(value, Decimal):
        assert str(converted) == str(value)  # the scale too


@pytest.mark.parametrize(
    ("kind", "text", "reason"),
    [
        ("money", "12.345", "more than 2 decimal places"),
        ("money", "1,000", "not an amount"),
        ("money", "1e3", "not an amount"),
        ("money", "NaN", "not an amount"),
        ("money", ".", "not an amount"),
        ("money", "-", "not an amount"),
        ("money", "1.2.3", "not an amount"),
        ("money", "1" * 17 + ".00", "digits before the point"),
        ("fraction", "0.12345", "more than 4 decimal places"),
        ("integer", "3.5", "not a whole number"),
        ("integer", str(2**31), "out of range"),
        ("month", "2026-13", "not a month"),
        ("month", "2026-03-15", "not the first day"),
        ("date", "2023-02-29", "no such day"),
        ("date", "03/01/2026", "not a date"),
    ],
)
def test_a_bad_value_says_why_without_itself(kind: str, text: str, reason: str) -> None:
    with pytest.raises(files.BadValueError) as caught:
        files.CONVERTERS[kind](text)
    assert reason in str(caught.value)
    assert text not in str(caught.value)


def test_csv_headers_match_by_name_and_drift_columns_are_text(tmp_path: Path) -> None:
    path = tmp_path / "b.csv"
    path.write_text(
        "\ufeffCountry;Branch Code;Branch-Name;REGION;Floor Area\r\n"
        "Kenya;NBO01;Nairobi; Central ;120\r\n"
        ";;;;\r\n"
        "Kenya;KSM01;Kisumu;Western;\r\n",
        encoding="utf-8",
    )
    shape, rows = typed("branches", path)
    assert [name for _, name in shape.positions] == [
        "country",
        "branch_code",
        "branch_name",
        "region",
        "floor_area",
    ]
    assert shape.extra == ["floor_area"]
    # row numbers count the header and the empty row
    assert rows == [
        (2, "Kenya", "NBO01", "Nairobi", "Central", "120"),
        (4, "Kenya", "KSM01", "Kisumu", "Western", None),
    ]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("branch_code,branch_name,region\r\nX,Y,Z\r\n", "row 1: the required column country"),
        (
            "branch_code,branch_name,region,country,Branch Code\r\n",
            "row 1, column 5: the header repeats column 1's name",
        ),
        ("branch_code,branch_name,region,country,%%\r\n", "row 1, column 5: the header"),
        (
            f"branch_code,branch_name,region,country\r\nA,B,C,D\r\nE,F,G,H,{SECRET}\r\n",
            "row 3: it has more cells than the header",
        ),
        (
            f"branch_code,branch_name,region,country\r\nA,{SECRET},C,D\r\n,B,C,D\r\n",
            "row 3, column branch_code: the value is empty",
        ),
        (
            f'branch_code,branch_name,region,country\r\nA,"{SECRET},C,D\r\n',
            "not well-formed CSV",
        ),
        ("", "row 1: the file is empty"),
    ],
)
def test_a_malformed_file_is_named_by_row_and_column(
    tmp_path: Path, content: str, expected: str
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    assert expected in rejection("branches", path)


def test_a_bad_value_names_its_row_and_column(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(
        "month,branch_code,disbursement_target\r\n"
        "2026-01,NBO01,1000.00\r\n"
        f"2026-02,NBO01,{SECRET}\r\n",
        encoding="utf-8",
    )
    message = rejection("branch_targets", path)
    assert message == "row 3, column disbursement_target: not an amount (digits, a point, cents)"


def test_text_that_is_not_utf8_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes(b"branch_code,branch_name,region,country\r\nA,Caf\xe9,C,D\r\n")
    assert "not UTF-8" in rejection("branches", path)


def test_a_workbook_reads_as_its_csv_export_would(tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(HEADERS["officer_targets"])
    # Excel keeps numbers as doubles and dates as date cells, percentages as fractions
    sheet.append(
        [
            dt.datetime(2026, 3, 1),  # noqa: DTZ001 - a cell has no zone
            17.0,
            "NBO01",
            "A. Officer",
            1234567.89,
            12.0,
            0.05,
        ]
    )
    sheet.append([dt.date(2026, 4, 1), 17, None, None, 3703.68, 3, 0.3])
    sheet.append([None] * 7)
    path = tmp_path / "o.xlsx"
    book.save(path)
    _shape, rows = typed("officer_targets", path)
    assert rows == [
        (
            2,
            dt.date(2026, 3, 1),
            17,
            "NBO01",
            "A. Officer",
            Decimal("1234567.89"),
            12,
            Decimal("0.0500"),
        ),
        (3, dt.date(2026, 4, 1), 17, None, None, Decimal("3703.68"), 3, Decimal("0.3000")),
    ]


@pytest.mark.parametrize(
    ("cell", "text"),
    [
        # a formula's double as Excel stores it (17 digits) reads as Excel shows it (15)
        (1234.56 * 3, "3703.68"),
        (0.1 + 0.2, "0.3"),
        (5.0, "5"),
        (0.075, "0.075"),
        (123456789012345678.0, "123456789012345680"),
        (True, "true"),
        (dt.datetime(2026, 3, 1, 0, 0), "2026-03-01"),  # noqa: DTZ001 - a cell has no zone
        ("  x  ", "x"),
        ("   ", None),
    ],
)
def test_workbook_cells_read_as_excel_shows_them(cell: object, text: str | None) -> None:
    assert files._cell_text(cell) == text


def test_a_file_that_is_not_a_workbook_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "fake.xlsx"
    path.write_text("branch_code\r\n", encoding="utf-8")
    assert rejection("branches", path) == "row 1: not a readable .xlsx workbook"


def test_the_folder_listing_skips_hidden_lock_and_other_files(tmp_path: Path) -> None:
    for name in (
        "a.csv",
        "sub/b.XLSX",
        ".hidden.csv",
        "~$a.xlsx",
        "_incomplete/c.csv",
        "notes.txt",
        "d.csv.bak",
    ):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x", encoding="utf-8")
    assert files.dataset_files(tmp_path) == ["a.csv", "sub/b.XLSX"]
    assert files.dataset_files(tmp_path / "missing") == []


def test_the_demo_files_headers_are_the_datasets_columns() -> None:
    for name, header in HEADERS.items():
        spec = DATASETS[name]
        assert [files._header_name(h, i) for i, h in enumerate(header, 1)] == [
            c.name for c in spec.columns
        ]


def test_unknown_dataset_is_one_line_naming_the_known_ones() -> None:
    with pytest.raises(files.ConfigError, match="unknown dataset 'loans'; known datasets: "):
        files.get_dataset("loans")


def test_each_spreadsheet_dag_documents_its_dataset_columns() -> None:
    from finhouse.orchestration.spreadsheets import _doc  # noqa: PLC0415 - imports Airflow

    for spec in DATASETS.values():
        doc = _doc(spec)
        assert f"raw.{spec.raw_table}" in doc
        assert all(f"| `{c.name}` |" in doc for c in spec.columns), spec.name
