"""Verification from the published files alone: real draws match; every alteration is caught
and named; the command line says the same and exits 1."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cityhub.cli import app as cli
from cityhub.lottery import verify
from tests.lottery.published import drawn_round, edit_json, write_all


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    return write_all(tmp_path, *drawn_round())


def check(*paths: Path, **pins: str) -> verify.Report:
    return verify.verify(verify.load(list(paths)), **pins)


def failed(report: verify.Report) -> str:
    assert not report.ok
    return "\n".join(f"{c.name}: {c.message}" for c in report.failures())


def test_a_real_draw_verifies_from_json_and_from_csv(files: dict[str, Path]) -> None:
    for paths in (
        [files["results.json"]],
        [files["draw.csv"], files["results.csv"]],
        [files["applicants.json"], files["results.json"]],
        [files["applicants.csv"], files["draw.csv"], files["results.csv"]],
    ):
        report = check(*paths)
        assert report.ok, failed(report)
        assert [c.name for c in report.checks][-4:] == [
            "applicant list",
            "seed",
            "scores",
            "winners",
        ]


def test_an_added_applicant_breaks_the_list_hash_and_is_named(files: dict[str, Path]) -> None:
    edit_json(
        files["results.json"],
        lambda d: d["applicants"].append(
            {"application_id": "zzzz99", "tickets": 1, "score": "00" * 32}
        ),
    )
    assert "list hash mismatch" in failed(check(files["results.json"]))
    named = failed(check(files["applicants.json"], files["results.json"]))
    assert "list hash mismatch" in named and "added since close: zzzz99" in named


def test_a_removed_applicant_breaks_the_list_hash_and_is_named(files: dict[str, Path]) -> None:
    removed: list[str] = []

    def drop(data: dict[str, Any]) -> None:
        removed.append(data["applicants"].pop(3)["application_id"])

    edit_json(files["results.json"], drop)
    assert "list hash mismatch" in failed(check(files["results.json"]))
    named = failed(check(files["applicants.csv"], files["results.json"]))
    assert f"removed since close: {removed[0]}" in named


def test_a_changed_ticket_count_breaks_the_list_hash_and_names_the_applicant(
    files: dict[str, Path],
) -> None:
    changed: list[str] = []

    def more_tickets(data: dict[str, Any]) -> None:
        row = data["applicants"][0]
        row["tickets"] += 40  # so many more tickets that the best score moves
        changed.append(row["application_id"])

    edit_json(files["results.json"], more_tickets)
    alone = failed(check(files["results.json"]))
    assert "list hash mismatch" in alone and f"tickets or score altered for: {changed[0]}" in alone
    with_list = failed(check(files["applicants.json"], files["results.json"]))
    assert f"ticket count changed since close: {changed[0]}" in with_list


def test_another_secret_is_a_commitment_mismatch(files: dict[str, Path]) -> None:
    edit_json(files["results.json"], lambda d: d.update(secret="a secret chosen after the close"))
    message = failed(check(files["results.json"]))
    assert message.startswith("commitment: commitment mismatch")


def test_a_file_recomputed_for_another_list_is_caught_by_the_pinned_hash(
    tmp_path: Path,
) -> None:
    _listing, results = drawn_round()
    hash_at_close = results.info.applicants_hash
    other_listing, other = drawn_round(applicants=21)
    (tmp_path / "other").mkdir()
    tampered = write_all(tmp_path / "other", other_listing, other)
    assert check(tampered["results.json"]).ok  # consistent on its own...
    message = failed(check(tampered["results.json"], applicants_hash=hash_at_close))
    assert "list hash mismatch" in message and hash_at_close in message  # ...but not the list


def test_reordered_or_altered_winners_are_named_by_position(files: dict[str, Path]) -> None:
    def swap(data: dict[str, Any]) -> None:
        first, second = data["winners"][0], data["winners"][1]
        first["position"], second["position"] = 2, 1

    edit_json(files["results.json"], swap)
    assert "winners mismatch at position 1" in failed(check(files["results.json"]))

    rows = list(csv.reader(files["results.csv"].open(encoding="utf-8")))
    third = next(r for r in rows[1:] if r[3] == "3")
    loser = next(r for r in rows[1:] if r[3] == "")
    third[3], loser[3] = "", "3"
    with files["results.csv"].open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)
    message = failed(check(files["draw.csv"], files["results.csv"]))
    assert f"winners mismatch at position 3: published {loser[0]}, recomputed {third[0]}" in message


def test_another_public_value_is_a_seed_and_winners_mismatch(files: dict[str, Path]) -> None:
    edit_json(files["results.json"], lambda d: d.update(public_value="3412.57"))
    message = failed(check(files["results.json"]))
    assert "seed mismatch" in message and "score mismatch" in message


def test_unreadable_files_say_why(tmp_path: Path, files: dict[str, Path]) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    with pytest.raises(verify.FileError, match="broken.json"):
        verify.load([broken])
    with pytest.raises(verify.FileError, match="results.csv"):
        verify.load([files["draw.csv"]])
    edit_json(files["results.json"], lambda d: d["applicants"][0].update(tickets="two"))
    with pytest.raises(verify.FileError, match="applicant 1: tickets"):
        verify.load([files["results.json"]])
    edit_json(files["results.json"], lambda d: d["applicants"][0].update(tickets=10**9))
    with pytest.raises(verify.FileError, match="applicant 1: tickets must be 1 to 1000"):
        verify.load([files["results.json"]])


def run_cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["lottery", "verify", *args])
    return result.exit_code, result.output


def test_the_command_line_says_match_or_where_it_does_not(files: dict[str, Path]) -> None:
    code, output = run_cli(str(files["draw.csv"]), str(files["results.csv"]))
    assert code == 0, output
    assert output.strip().splitlines()[-1].startswith("MATCH")
    edit_json(files["results.json"], lambda d: d.update(secret="not the committed one"))
    code, output = run_cli(str(files["results.json"]))
    assert code == 1
    assert "FAIL  commitment: commitment mismatch" in output and "MISMATCH" in output
    code, output = run_cli(str(files["results.csv"]))
    assert code == 2 and "cannot verify" in output


def test_a_resident_checks_one_application_from_the_files(files: dict[str, Path]) -> None:
    _listing, results = drawn_round()
    winner, loser = results.winners[0], next(i for i in results.ids if i not in results.winners)
    code, output = run_cli(str(files["results.json"]), "--application", winner)
    assert code == 0, output
    assert f"application {winner}" in output and "rank 1 of 20, quota 5: a winner" in output
    index = results.ids.index(winner)
    assert f"ticket {results.tickets[index] - 1}:" in output and results.scores[index] in output
    code, output = run_cli(str(files["results.json"]), "--application", loser)
    assert code == 0 and "not a winner" in output
    code, output = run_cli(str(files["results.json"]), "--application", "nobody")
    assert code == 1 and "not in the files" in output


def test_a_list_published_at_close_checks_on_its_own(files: dict[str, Path]) -> None:
    listing, _results = drawn_round()
    list_hash = listing.info.applicants_hash if listing.info else ""
    assert check(files["applicants.json"]).ok
    assert check(files["applicants.csv"], applicants_hash=list_hash).ok
    message = failed(check(files["applicants.csv"], applicants_hash="0" * 64))
    assert "list hash mismatch" in message
    assert "nothing to check" in failed(check(files["applicants.csv"]))
    edit_json(files["applicants.json"], lambda d: d["applicants"][2].update(tickets=9))
    assert "list hash mismatch" in failed(check(files["applicants.json"]))


def test_a_formula_typed_as_the_public_value_is_text_in_the_csv_and_still_verifies(
    tmp_path: Path,
) -> None:
    files = write_all(tmp_path, *drawn_round(public_value='=HYPERLINK("http://x","close")'))
    rows = dict(csv.reader(files["draw.csv"].open(encoding="utf-8")))
    assert rows["public_value"] == '\'=HYPERLINK("http://x","close")'
    report = check(files["applicants.csv"], files["draw.csv"], files["results.csv"])
    assert report.ok, failed(report)
