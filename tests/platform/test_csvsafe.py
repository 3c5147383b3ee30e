"""Cells a spreadsheet would run as formulas are written as text, and read back as written."""

from __future__ import annotations

import csv
import io

import pytest

from cityhub.platform import csvsafe


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("=1+1", "'=1+1"),
        ("+86 138", "'+86 138"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("'=quoted", "''=quoted"),
        ("'plain", "''plain"),
        ("-1250", "-1250"),
        ("-12.5", "-12.5"),
        ("pay_1", "pay_1"),
        ("", ""),
        (-1250, -1250),
    ],
)
def test_cells_are_neutralised_and_restored(value: object, written: object) -> None:
    assert csvsafe.neutralise(value) == written
    if isinstance(value, str):
        assert csvsafe.restore(str(written)) == value


def test_the_writer_neutralises_every_cell() -> None:
    out = io.StringIO()
    w = csvsafe.writer(out)
    w.writerow(["id", "detail"])
    w.writerows([["=cmd|' /C calc'!A0", "@x"], [7, "-1"]])
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert rows == [["id", "detail"], ["'=cmd|' /C calc'!A0", "'@x"], ["7", "-1"]]
