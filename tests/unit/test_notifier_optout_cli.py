"""``python -m notifier optout add|remove|list`` on a SQLite database."""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from notifier.__main__ import main
from notifier.ledger_schema import open_engine
from notifier.opt_outs import OptOutList
from notifier.settings import NotifierSettings
from shared.settings import environment_variables


@pytest.fixture
def opt_out_list(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[OptOutList]:
    for name in environment_variables(NotifierSettings):
        monkeypatch.delenv(name, raising=False)
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    monkeypatch.setenv("NOTIFIER_DATABASE_URL", url)
    engine = open_engine(url)
    yield OptOutList(engine)
    engine.dispose()


def test_a_number_is_added_in_e164_listed_masked_and_removed(
    opt_out_list: OptOutList, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["optout", "add", "098765 43210", "--note", "replied STOP"]) == 0
    assert capsys.readouterr().out == "*********3210: added\n"
    assert opt_out_list.contains("+919876543210")  # read in DEFAULT_PHONE_REGION, IN
    assert main(["optout", "add", "+91 98765 43210"]) == 0
    assert capsys.readouterr().out == "*********3210: already on the list\n"

    assert main(["optout", "list", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert (row["phone"], row["email"], row["note"]) == ("*********3210", None, "replied STOP")
    assert main(["optout", "list"]) == 0
    listed = capsys.readouterr().out
    assert "*********3210  replied STOP" in listed
    assert "98765" not in listed

    assert main(["optout", "remove", "+919876543210"]) == 0
    assert capsys.readouterr().out == "*********3210: removed\n"
    assert not opt_out_list.contains("+919876543210")
    assert main(["optout", "remove", "+919876543210"]) == 0
    assert capsys.readouterr().out == "*********3210: was not on the list\n"


@pytest.mark.usefixtures("opt_out_list")
def test_text_that_is_no_mobile_number_is_refused() -> None:
    with pytest.raises(SystemExit, match="'011-2345 6789' is not a mobile number"):
        main(["optout", "add", "011-2345 6789"])


@pytest.mark.usefixtures("opt_out_list")
def test_an_empty_list_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["optout", "list"]) == 0
    assert capsys.readouterr().out == "no numbers or addresses opted out\n"


def test_an_email_address_is_added_in_lower_case_listed_masked_and_removed(
    opt_out_list: OptOutList, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["optout", "add", " Ravi.Kumar@Example.IN ", "--note", "asked by phone"]) == 0
    assert capsys.readouterr().out == "R***@example.in: added\n"
    assert opt_out_list.contains("ravi.kumar@example.in")
    assert opt_out_list.contains("RAVI.KUMAR@example.in")  # as a document may write it
    assert main(["optout", "add", "ravi.kumar@example.in"]) == 0
    assert capsys.readouterr().out == "r***@example.in: already on the list\n"
    assert main(["optout", "add", "+91 98765 43210"]) == 0
    capsys.readouterr()

    assert main(["optout", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(row["phone"], row["email"]) for row in rows] == [
        ("*********3210", None),
        (None, "r***@example.in"),
    ]
    assert main(["optout", "list"]) == 0
    assert "kumar" not in capsys.readouterr().out

    assert main(["optout", "remove", "Ravi.Kumar@example.in"]) == 0
    assert capsys.readouterr().out == "R***@example.in: removed\n"
    assert not opt_out_list.contains("ravi.kumar@example.in")


@pytest.mark.usefixtures("opt_out_list")
def test_text_with_an_at_that_is_no_email_address_is_refused() -> None:
    with pytest.raises(SystemExit, match="'ravi@' is not an email address"):
        main(["optout", "add", "ravi@"])
