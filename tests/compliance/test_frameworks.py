"""The checklist data: every row of COMPLIANCE.md, validated at start-up with file and line."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from audit.metrics.catalog import CATALOG
from compliance import vocabulary as v
from compliance.registry import DEFAULT_DIR, FrameworkError, load_frameworks

SPEC = Path(__file__).resolve().parents[3] / "shared" / "spec" / "COMPLIANCE.md"
ROOT = Path(__file__).resolve().parents[2]


def spec_ids() -> set[str]:
    text = SPEC.read_text(encoding="utf-8").split("# Appendix")[0]
    return set(re.findall(r"^\| ((?:EU|CN)-[A-Z0-9]+(?:-[A-Z0-9]+)*) \|", text, flags=re.M))


@pytest.fixture
def broken_dir(tmp_path):
    """Return a copy of the framework folder to break."""
    target = tmp_path / "frameworks"
    shutil.copytree(DEFAULT_DIR, target)
    return target


# New ids of Appendix 2 (December 2026): items keep their ids, new items get new ones.
APPENDIX2_IDS = {"EU-ART5-2", "EU-ART19-1", "EU-ART27-3", "EU-ART49-3", "EU-ART16-1", "EU-ART16-2", "EU-ART16-3",
                 "EU-ART20-1", "EU-ART21-1", "EU-ART22-1", "EU-ART23-1", "EU-ART24-1", "EU-ART25-1", "EU-ART26-4",
                 "EU-ART86-1", "CN-DS-ART6-1", "CN-DS-ART8-1",
                 "CN-DS-ART11-1", "CN-DS-ART13-1", "CN-GB45438-TXT-1", "CN-GBT45654-1", "CN-GBT45652-1",
                 "CN-GBT45674-1", "CN-GAI-FILING-1", "CN-GAI-FILING-2"}


def test_it_has_one_item_per_checklist_row():
    registry = load_frameworks()
    ids = [i.id for f in registry.files for i in f.items]
    assert len(ids) == len(set(ids))
    if SPEC.exists():
        assert set(ids) - APPENDIX2_IDS == spec_ids()
    assert APPENDIX2_IDS <= set(ids)
    assert len(registry.bundle_items("eu_ai_act")) == 55
    assert len(registry.bundle_items("cn_genai")) == 56
    for item in registry.bundle_items("cn_genai"):  # Chinese frameworks export in Chinese (A2.4)
        assert item.title_zh and item.requirement_zh, item.id


def test_every_item_carries_its_verification_and_metrics_exist():
    registry = load_frameworks()
    for f in registry.files:
        assert f.version and len(f.sha256) == 64
        for item in f.items:
            assert item.verification in ("verified", "secondary", "unverified"), item.id
            for metric in item.metrics:
                assert metric == v.ACCURACY or metric in CATALOG, (item.id, metric)
    # Appendix corrections: Omnibus dates are law, the 2024 ones kept as history.
    art9 = registry.item("EU-ART9-1")
    assert str(art9.applies_from["annex_iii"]) == "2027-12-02" and str(art9.applies_from["annex_i"]) == "2028-08-02"
    assert str(art9.applies_from_original["annex_iii"]) == "2026-08-02"
    assert registry.item("EU-ART9-1").verification == "verified"  # upgraded by the Appendix
    assert registry.item("CN-GB45438-UI-1").verification == "unverified"
    assert "support" in registry.item("EU-ART4-1").requirement  # Art. 4 reworded


def _break(path: Path, old: str, new: str, count: int = 1) -> int:
    """Replace `old` by `new` in a file and return the 1-based line of the change."""
    text = path.read_text(encoding="utf-8")
    index = text.index(old)
    path.write_text(text.replace(old, new, count), encoding="utf-8")
    return text[:index].count("\n") + 1


def test_it_refuses_an_unknown_field(broken_dir):
    path = broken_dir / "eu_ai_act.yaml"
    line = _break(path, "  title: Risk management system\n", "  title: Risk management system\n  colour: red\n") + 1
    with pytest.raises(FrameworkError) as exc:
        load_frameworks(broken_dir)
    assert f"eu_ai_act.yaml:{line}: unknown field 'colour'" in str(exc.value)


def test_it_refuses_a_duplicate_id(broken_dir):
    path = broken_dir / "cn_labeling.yaml"
    line = _break(path, "- id: CN-LBL-ART5-2\n", "- id: CN-LBL-ART5-1\n")
    with pytest.raises(FrameworkError) as exc:
        load_frameworks(broken_dir)
    assert f"cn_labeling.yaml:{line}: duplicate id 'CN-LBL-ART5-1'" in str(exc.value)


def test_it_refuses_a_bad_date(broken_dir):
    path = broken_dir / "cn_filing.yaml"
    line = _break(path, "applies_from: 2022-03-01", "applies_from: 2022-02-30")
    with pytest.raises(FrameworkError) as exc:
        load_frameworks(broken_dir)
    assert f"cn_filing.yaml:{line}: applies_from: bad date '2022-02-30'" in str(exc.value)


def test_it_refuses_an_unknown_route_and_tier(broken_dir):
    path = broken_dir / "eu_ai_act.yaml"
    _break(path, "applies_from: {annex_iii: 2027-12-02, annex_i: 2028-08-02}",
           "applies_from: {annex_ii: 2027-12-02, annex_i: 2028-08-02}")
    _break(path, "risk_tier: [gpai_systemic]", "risk_tier: [systemic]")
    with pytest.raises(FrameworkError) as exc:
        load_frameworks(broken_dir)
    assert "unknown route 'annex_ii'" in str(exc.value)
    assert "unknown value 'systemic'" in str(exc.value)


def test_a_broken_file_stops_manage_py_check(broken_dir):
    line = _break(broken_dir / "eu_ai_act.yaml", "  title: Risk management system\n",
                  "  title: Risk management system\n  colour: red\n") + 1
    env = {**os.environ, "ASSAY_COMPLIANCE_FRAMEWORKS_DIR": str(broken_dir), "DJANGO_SETTINGS_MODULE": "assay.settings"}
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode != 0
    assert f"eu_ai_act.yaml:{line}: unknown field 'colour'" in result.stderr

    env["ASSAY_COMPLIANCE_FRAMEWORKS_DIR"] = str(DEFAULT_DIR)
    ok = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True,
                        timeout=120)
    assert ok.returncode == 0, ok.stderr
