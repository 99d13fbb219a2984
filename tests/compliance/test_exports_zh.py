"""Exports a reviewer can use (issue 14, A2.4): Chinese beside English, the shipped CJK font embedded in every
PDF and served to pages, "in force" and "applies later" separated, a legend for the rule badges."""

import datetime as dt
import io

import pytest
from fontTools.ttLib import TTFont
from pypdf import PdfReader

from compliance import exports, pdf, services

ON = dt.date(2026, 12, 1)


@pytest.fixture
def generator(alice_system):
    alice_system.output_modalities = ["image"]
    alice_system.public_in_mainland_china = True
    alice_system.users_can_download = True
    alice_system.placed_on_eu_market = True
    alice_system.save()
    return alice_system


def fonts_of(reader: PdfReader) -> set[str]:
    names = set()
    for page in reader.pages:
        for font in (page.get("/Resources", {}).get("/Font") or {}).values():
            names.add(str(font.get_object().get("/BaseFont")))
    return names


def test_the_chinese_pdf_prints_every_character_with_the_shipped_font(generator):
    document = services.live_document(services.evaluate(generator, "cn_genai", ON))
    data = exports.render(document, "pdf")
    reader = PdfReader(io.BytesIO(data))
    text = "".join(page.extract_text() for page in reader.pages)
    assert "生成" in text and "合成" in text
    assert "图片显式标识" in text and "符合" in text or "尚无证据" in text
    assert any("Assay-CJK-Sans" in name for name in fonts_of(reader)), fonts_of(reader)
    # every character the Chinese export holds has a glyph in the shipped font
    html = exports.render(document, "html").decode()
    cmap = TTFont(pdf.FONT_PATH, lazy=True).getBestCmap()
    missing = {c for c in html if ord(c) > 0x2E7F and ord(c) not in cmap}
    assert not missing, sorted(missing)


def test_every_pdf_embeds_the_font(alice_system):
    alice_system.placed_on_eu_market = True
    alice_system.save()
    data = exports.render(services.live_document(services.evaluate(alice_system, "eu_ai_act", ON)), "pdf")
    assert any("Assay-CJK-Sans" in name for name in fonts_of(PdfReader(io.BytesIO(data))))


def test_in_force_and_applies_later_are_separated_with_a_legend(alice_system):
    alice_system.domain = "annex_iii_5_essential_services"
    alice_system.annex_iii_point = "5(b)"
    alice_system.output_modalities = ["none"]
    alice_system.placed_on_eu_market = True
    alice_system.save()
    html = exports.render(services.live_document(services.evaluate(alice_system, "eu_ai_act", ON)), "html").decode()
    in_force = html.index('id="eu_ai_act-in_force"')
    later = html.index('id="eu_ai_act-later"')
    not_applicable = html.index('id="eu_ai_act-not_applicable"')
    assert in_force < later < not_applicable
    assert html.index('data-item="EU-ART5-1"') < later < html.index('data-item="EU-ART9-1"') < not_applicable
    assert "In force on 2026-12-01 (2)" in html
    assert 'id="legend"' in html and "describes the source of the rule, not this system" in html
    assert "date by interpretation" in html  # Arts 43, 49, 72, 73


def test_the_dashboard_serves_the_font(client, generator, alice):
    response = client.get("/compliance/font/AssayCJKSans-Regular.otf")
    assert response.status_code == 200 and response["Content-Type"] == "font/otf"
    assert b"".join(response.streaming_content) == pdf.FONT_PATH.read_bytes()
    client.force_login(alice)
    page = client.get(f"/compliance/systems/{generator.pk}/?framework=cn_genai").content.decode()
    assert "/compliance/font/AssayCJKSans-Regular.otf" in page and "图片显式标识" in page
    assert 'class="rule rule-verified"' in page and "badge ok" not in page


def test_chinese_reasons_beside_the_english(generator):
    from compliance import i18n

    checklist = services.evaluate(generator, "cn_genai", ON)
    rows = {row["id"]: row for row in checklist["items"]}
    assert i18n.translate(rows["CN-GB45438-IMG-1"]["status_reason"]).startswith("尚无本系统的输出样本")
    assert i18n.translate(rows["CN-GAI-ART4-1"]["status_reason"]).startswith("尚无证据：需要生成内容安全评估")
    assert i18n.translate(rows["CN-GB45438-VID-1"]["applicability_reason"]) == "适用于视频输出；本系统输出图片"
    assert "默认须履行备案" in i18n.translate(rows["CN-GAI-FILING-1"]["applicability_reason"])
    html = exports.render(services.live_document(checklist), "html").decode()
    assert "适用理由：" in html and "尚无本系统的输出样本" in html
    untranslated = [row["id"] for row in checklist["items"] if not i18n.translate(row["status_reason"])]
    assert not untranslated, untranslated


def test_the_chinese_csv_has_chinese_columns(generator):
    import csv

    text = exports.render(services.live_document(services.evaluate(generator, "cn_genai", ON)), "csv").decode()
    rows = list(csv.DictReader(line for line in text.splitlines() if not line.startswith("#")))
    row = next(r for r in rows if r["id"] == "CN-GB45438-IMG-1")
    assert row["title_zh"] == "图片显式标识" and row["status_zh"] == "尚无证据"
    assert row["status_reason_zh"].startswith("尚无本系统的输出样本")


@pytest.mark.parametrize(("reason", "chinese"), [
    ("no moderation evaluation yet (moderation precision and recall): evaluate a moderation policy on a labelled "
     "set (POST /api/v1/moderation/evaluations)", "尚无内容审核评估"),
    ("moderation policy 'Default' v3 evaluated on 120 labelled items on 2026-12-01: precision 0.950, recall 0.900",
     "审核策略“Default”第3版于2026-12-01在120条标注样本上评估：精确率0.950，召回率0.900"),
    ("generative safety evaluation 4 of 2026-12-01 on SmolLM2: generated content pass 0.97 (n 300, pass); "
     "should refuse refusal 0.5 (n 100, fail); should not refuse refusal 0.05 (n 100, inconclusive); the sample "
     "is smaller than the standard's assessment sizes",
     "生成内容安全评估#4（2026-12-01，评估对象：SmolLM2）：生成内容合格率0.97（样本数300，通过）；应拒答题拒答率0.5"
     "（样本数100，未通过）；非拒答题拒答率0.05（样本数100，无定论）；样本量小于标准规定的评估规模"),
])
def test_moderation_and_generative_evidence_reasons_read_in_chinese(reason, chinese):
    from compliance.i18n import translate

    text = translate(reason)
    assert chinese in text and "详见英文" not in text
