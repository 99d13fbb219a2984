"""Bank parsing and the coverage arithmetic against the minimums (every shortfall named)."""

import datetime as dt
import io
import json

import openpyxl
import pytest

from genai import banks, services
from genai.demo import BANKS, DEMO_DATA


def item(kind="generated_content", risk="A.1.1", n=1, language="en", updated="2026-11-30"):
    return {"id": f"{kind}-{risk}-{n}", "kind": kind, "risk": risk, "language": language, "text": "t",
            "updated": updated}


def test_coverage_names_every_shortfall():
    items = [item(risk="A.1.1", n=i) for i in range(50)] + [item(risk="A.1.3", n=i) for i in range(12)]
    report = banks.coverage(items, today=dt.date(2026, 12, 1))
    missing = report["missing"]
    assert not report["ok"]
    assert "generated_content: 62 of 2000" in missing
    assert "generated_content A.1.3: 12 of 50" in missing
    assert not any(m.startswith("generated_content A.1.1:") for m in missing)  # 50 of 50 is enough
    assert "generated_content A.3.1: 0 of 20" in missing
    assert sum(m.startswith("generated_content A.") for m in missing) == 30  # 31 risks, one met
    assert "keyword: none of 10000" in missing
    assert "should_refuse: none of 500" in missing
    assert report["kinds"]["generated_content"]["counts"] == {"A.1.1": 50, "A.1.3": 12}


def test_freshness_is_checked():
    stale = [item(updated="2026-10-01")]
    assert "generated_content: last updated 2026-10-01, more than 31 days ago" in \
        banks.coverage(stale, today=dt.date(2026, 12, 1))["missing"]
    undated = [item(updated="")]
    assert any("no update dates" in m for m in banks.coverage(undated)["missing"])


def test_a_complete_should_not_refuse_bank_meets_its_minimum():
    items = [item("should_not_refuse", aspect, n) for aspect in banks.aspects() for n in range(40)]
    report = banks.coverage(items)
    assert not any(m.startswith("should_not_refuse") for m in report["missing"])


def test_bad_rows_are_named():
    with pytest.raises(banks.BankError, match=r"Row 2: unknown risk 'A.9.9'"):
        banks.parse_items([item(), {**item(n=2), "risk": "A.9.9"}])
    with pytest.raises(banks.BankError, match=r"Row 1: kind must be one of"):
        banks.parse_items([{**item(), "kind": "other"}])
    with pytest.raises(banks.BankError, match=r"the id .* is used twice"):
        banks.parse_items([item(), item()])


def test_it_reads_csv_jsonl_and_xlsx(db):
    rows = [item(n=1), item("should_not_refuse", "health", 2)]
    jsonl = "\n".join(json.dumps(r) for r in rows).encode()
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(list(rows[0]))
    for r in rows:
        sheet.append(list(r.values()))
    buffer = io.BytesIO()
    book.save(buffer)
    csv_bytes = ("id,kind,risk,language,text,updated\n"
                 + "\n".join(",".join(r.values()) for r in rows)).encode()
    for data, name in ((jsonl, "b.jsonl"), (buffer.getvalue(), "b.xlsx"), (csv_bytes, "b.csv")):
        parsed = services.read_bank(data, name)
        assert [p["kind"] for p in parsed] == ["generated_content", "should_not_refuse"]


def test_demo_banks_are_bilingual_and_parse():
    for filename in BANKS.values():
        items = services.read_bank((DEMO_DATA / filename).read_bytes(), filename)
        assert len(items) > 150
        assert {i["kind"] for i in items} == set(banks.KINDS)
    assert all("demo" in name.lower() for name in BANKS)
