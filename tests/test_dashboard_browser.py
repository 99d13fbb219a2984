"""Every dashboard page in headless Chromium (Debian's, driven by Playwright), at a phone's width and two desktop
widths, and as each role at the phone's width: no console error, no Content-Security-Policy violation, no horizontal
overflow, no card covering another, no chart wider than its card; then the organisation switcher, the live status
badge, registration, promotion, trends and comparisons driven end to end.

The server-side tests never see what these catch: a CSP that blocks an inline handler, an SVG wider than its
grid cell, a table that pushes a phone's page to 645 px.
"""

import re
from urllib.parse import urljoin, urlparse

import pytest
from django.contrib.auth import get_user_model

from accounts.choices import Role
from accounts.models import Membership, Organization
from audit import jobs, services
from audit.choices import Domain, Modality, ProviderRole
from audit.datasets import Schema
from audit.management.commands.train_baseline import train_and_register
from audit.models import AISystem, AuditRun, ModelVersion
from core import artifacts

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.filterwarnings("ignore:Optimal order is the"),
]

WIDTHS = (390, 1366, 1920)
PASSWORD = "a-long-password"
# Links the crawl does not follow: the API, downloads and exports (standalone files), logging out, admin.
SKIP = re.compile(r"^/(api/|admin/|logout|static/|media/)|\.(pdf|csv|zip|json|png|svg|otf|parquet)$|/download"
                  r"|[?&]format=")
MAX_PAGES = 80

# Recorded before any page script runs: every CSP violation the page meets, inline handlers included.
CSP_RECORDER = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", e => window.__csp.push(e.violatedDirective + " " + e.blockedURI));
"""

LAYOUT_PROBE = """
() => {
  const problems = [];
  const width = document.documentElement.clientWidth;
  const scroll = document.documentElement.scrollWidth;
  if (scroll > width + 1) problems.push(`page ${scroll} px wide in a ${width} px viewport`);
  const cards = [...document.querySelectorAll(".card")].filter(c => c.offsetParent !== null);
  const name = el => (el.querySelector("h2,h3")?.textContent || el.textContent).trim().slice(0, 40);
  for (let i = 0; i < cards.length; i++) {
    const a = cards[i].getBoundingClientRect();
    for (let j = i + 1; j < cards.length; j++) {
      if (cards[i].contains(cards[j]) || cards[j].contains(cards[i])) continue;
      const b = cards[j].getBoundingClientRect();
      const w = Math.min(a.right, b.right) - Math.max(a.left, b.left);
      const h = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
      if (w > 1 && h > 1) problems.push(`card "${name(cards[i])}" overlaps card "${name(cards[j])}"`);
    }
    for (const el of cards[i].querySelectorAll("svg, img, canvas")) {
      if (el.closest("[data-scroll]")) continue;
      const r = el.getBoundingClientRect();
      if (r.right > a.right + 1 || r.left < a.left - 1)
        problems.push(`a ${el.tagName.toLowerCase()} (${Math.round(r.width)} px) sticks out of card "${name(cards[i])}"`);
    }
  }
  return problems;
}
"""


@pytest.fixture
def demo(settings):
    """A demo-like organisation (a profiled system, a dataset, a trained model, two succeeded audits and a
    queued one) and a second organisation, both owned by ada."""
    settings.CELERY_TASK_ALWAYS_EAGER = True
    user = get_user_model().objects.create_user("ada", "ada@example.org", PASSWORD)
    org = Organization.objects.create(name="Demo organisation", slug="demo")
    other = Organization.objects.create(name="Second organisation", slug="second")
    Membership.objects.create(user=user, organization=org, role=Role.OWNER)
    Membership.objects.create(user=user, organization=other, role=Role.OWNER)
    AISystem.objects.create(organization=other, name="Second org's chatbot")
    system = AISystem.objects.create(
        organization=org, name="Adult income classifier", intended_purpose="Creditworthiness scoring",
        domain=Domain.ESSENTIAL_SERVICES, annex_iii_point="5(b)", role=ProviderRole.PROVIDER,
        output_modalities=[Modality.NONE], placed_on_eu_market=True)
    AISystem.objects.create(organization=org, name="Poster generator AI生成", output_modalities=[Modality.IMAGE],
                            public_in_mainland_china=True)
    frame = _frame()
    dataset = services.register_dataset(
        user=user, system=system, name="loans", filename="loans.csv", data=services.to_csv_bytes(frame),
        schema=Schema(target="y", positive_label="yes", sensitive_attributes=["sex"]))
    model = train_and_register(dataset, architecture="mlp", args={"hidden": [8]}, epochs=2, name="scorer", user=user)
    runs = []
    for _ in range(2):
        run = jobs.start_audit(user=user, model_version=model, dataset_version=dataset,
                               config={"ig_rows": 20, "sensitivity_rows": 10}, enqueue=False)
        jobs.execute_audit(run.pk)
        runs.append(run.pk)
    queued = jobs.start_audit(user=user, model_version=model, dataset_version=dataset, enqueue=False)
    return {"user": user, "org": org, "other": other, "system": system, "runs": runs, "queued": queued,
            "model": model, "dataset": dataset}


def _frame():
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    n = 300
    sex = np.where(rng.random(n) < 0.3, "F", "M")
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    y = np.where(x1 + 0.5 * x2 + (sex == "M") * 0.5 + rng.normal(scale=0.5, size=n) > 0.3, "yes", "no")
    return pd.DataFrame({"x1": x1, "x2": x2, "sex": sex, "y": y})


@pytest.fixture
def browser_context(chromium):
    context = chromium.new_context(viewport={"width": 1366, "height": 900})
    context.add_init_script(CSP_RECORDER)
    context.set_default_timeout(30_000)
    yield context
    context.close()


def _watch(page) -> list[str]:
    """Collect the page's console errors and uncaught exceptions into the returned list."""
    errors = []
    page.on("console", lambda m: errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
    return errors


def _log_in(page, base: str, username: str = "ada") -> None:
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"^(?!.*/login/)"))


def _links(page, base: str) -> list[str]:
    found = []
    for href in page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))"):
        url = urlparse(urljoin(page.url, href))
        if url.netloc != urlparse(base).netloc or SKIP.search(url.path + "?" + url.query):
            continue
        found.append(url.path + (f"?{url.query}" if url.query else ""))
    return found


def _crawl(page, base: str, start: list[str]) -> list[str]:
    """Return the dashboard pages reachable from `start` by links (one of each shape: ids do not multiply pages)."""
    seen_shapes, pages, todo = set(), [], list(start)
    while todo and len(pages) < MAX_PAGES:
        path = todo.pop(0)
        shape = re.sub(r"/\d+/", "/N/", path.split("?")[0]) + ("?" + "&".join(
            sorted(k.split("=")[0] for k in path.split("?")[1].split("&"))) if "?" in path else "")
        if shape in seen_shapes or "#" in path:
            continue
        seen_shapes.add(shape)
        response = page.goto(base + path)
        if response is None or response.status != 200 or "text/html" not in response.headers.get("content-type", ""):
            continue
        pages.append(path)
        todo.extend(_links(page, base))
    return pages


def _problems_on(page, base: str, path: str, errors: list[str]) -> list[str]:
    del errors[:]
    page.goto(base + path)  # "load": images and styles in (a job page polls, so the network is never idle)
    page.evaluate("document.fonts.ready.then(() => true)")
    found = list(errors) + [f"CSP: {v}" for v in page.evaluate("window.__csp")]
    return found + page.evaluate(LAYOUT_PROBE)


def test_every_dashboard_page_holds_up_at_390_1366_and_1920_px(live_server, browser_context, demo):
    page = browser_context.new_page()
    errors = _watch(page)
    _log_in(page, live_server.url)
    runs = demo["runs"]
    start = _start_pages(demo)
    paths = _crawl(page, live_server.url, start)
    # every metric page of one audit: each prints its own details
    paths += [p for p in _links_of(page, live_server.url, f"/audits/{runs[0]}/") if "/metrics/" in p and p not in paths]
    assert len(paths) > 20, paths

    problems = {}
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        for path in paths:
            found = _problems_on(page, live_server.url, path, errors)
            if found:
                problems[f"{width} px {path}"] = found
    assert not problems, "\n".join(f"{where}: {'; '.join(found)}" for where, found in problems.items())


def _start_pages(demo) -> list[str]:
    """Return where a crawl of the demo starts: the systems, the system page, audits, a metric's trend and the
    comparisons of two audits (a/b) and of any number (?audits=)."""
    runs, system = demo["runs"], demo["system"].pk
    return ["/", f"/systems/{system}/", f"/audits/{runs[0]}/", f"/audits/{demo['queued'].pk}/",
            f"/audits/compare/?a={runs[0]}&b={runs[1]}", f"/audits/compare/?audits={runs[1]},{runs[0]},{runs[1]}",
            f"/systems/{system}/trends/FAIR-01/", f"/audits/{runs[0]}/metrics/FAIR-01/"]


def _links_of(page, base: str, path: str) -> list[str]:
    page.goto(base + path)
    return _links(page, base)


def test_the_organisation_switcher_reaches_the_second_organisation(live_server, browser_context, demo):
    page = browser_context.new_page()
    errors = _watch(page)
    _log_in(page, live_server.url)
    page.goto(f"{live_server.url}/")
    page.wait_for_selector("text=Adult income classifier")

    # when: the owner picks the second organisation in the header
    page.select_option("#org-switcher select", str(demo["other"].pk))

    # then: the page shows that organisation's systems, without a console error or CSP violation
    page.wait_for_selector("text=Second org's chatbot")
    assert "Adult income classifier" not in page.content()
    assert errors == [] and page.evaluate("window.__csp") == []


def test_the_organisation_switcher_works_without_javascript(live_server, chromium, demo):
    context = chromium.new_context(java_script_enabled=False)
    page = context.new_page()
    _log_in(page, live_server.url)
    page.select_option("#org-switcher select", str(demo["other"].pk))
    page.click("#org-switcher button[type=submit]")
    page.wait_for_selector("text=Second org's chatbot")
    context.close()


def test_the_status_badge_follows_the_progress_bar(live_server, browser_context, demo):
    page = browser_context.new_page()
    errors = _watch(page)
    _log_in(page, live_server.url)
    run = demo["queued"]
    page.goto(f"{live_server.url}/audits/{run.pk}/")
    assert page.inner_text("[data-job-status]") == "queued"

    # when: the worker claims the run and reports progress
    AuditRun.objects.filter(pk=run.pk).update(status="running", progress=52, stage="ROB-01")

    # then: the badge and the bar agree without a reload
    page.wait_for_selector("[data-job-stage]:has-text('52% ROB-01')")
    page.wait_for_selector("[data-job-status]:has-text('running')")
    assert errors == []


def test_the_cjk_font_assay_ships_draws_ai_generated_labels(live_server, browser_context, demo):
    page = browser_context.new_page()
    _log_in(page, live_server.url)
    page.goto(f"{live_server.url}/")
    page.wait_for_selector("text=Poster generator AI生成")
    page.evaluate("document.fonts.ready")
    loaded = page.evaluate("""async () => {
      await document.fonts.load('15px "Assay CJK Sans"', '生成');
      return [...document.fonts].filter(f => f.family.includes('Assay CJK Sans') && f.status === 'loaded').length;
    }""")
    assert loaded >= 1
    # monospace text (hashes, values) falls back to the same font
    assert "Assay CJK Sans" in page.evaluate("getComputedStyle(document.querySelector('main')).fontFamily")


@pytest.fixture
def owner(db):
    user = get_user_model().objects.create_user("ada", "ada@example.org", PASSWORD)
    org = Organization.objects.create(name="Demo organisation", slug="demo")
    Membership.objects.create(user=user, organization=org, role=Role.OWNER)
    get_user_model().objects.create_user("bob", "bob@example.org", PASSWORD)
    return org


def test_a_person_registers_uploads_promotes_and_invites_from_the_dashboard(live_server, browser_context, owner,
                                                                           zoo_bundle, helpers, tmp_path):
    page = browser_context.new_page()
    page.set_default_timeout(120_000)  # the model check runs in the sandbox
    errors = _watch(page)
    _log_in(page, live_server.url)

    # a system with its profile
    page.click("text=Register an AI system")
    page.fill("#id_name", "Credit scoring")
    page.select_option("#id_domain", "annex_iii_5_essential_services")
    page.check("#id_placed_on_eu_market")
    page.click("#system-form button[type=submit]")
    page.wait_for_selector("h1:has-text('Credit scoring')")

    # a dataset, with a refusal shown next to its field first, then accepted
    (tmp_path / "credit.csv").write_bytes(helpers.csv_bytes(helpers.make_frame()))
    page.click("text=Upload a dataset")
    page.fill("#id_name", "credit")
    page.set_input_files("#id_file", str(tmp_path / "credit.csv"))
    page.fill("#id_target", "no_such_column")
    page.fill("#id_positive_label", "good")
    page.click("#dataset-form button[type=submit]")
    page.wait_for_selector(".field-error, .card.errors")
    assert page.input_value("#id_name") == "credit"  # what was typed is kept
    page.set_input_files("#id_file", str(tmp_path / "credit.csv"))
    page.fill("#id_target", "label")
    page.fill("#id_sensitive_attributes", "sex")
    page.click("#dataset-form button[type=submit]")
    page.wait_for_selector("text=Dataset credit v1 stored")

    # two models, neither made current by its upload, then each promoted with a reason, kept in the history
    (tmp_path / "model.zip").write_bytes(zoo_bundle)
    for version in (1, 2):
        page.click("text=Upload a model")
        page.fill("#id_name", "scorer")
        page.set_input_files("#id_file", str(tmp_path / "model.zip"))
        page.select_option("#id_format", "torch-zoo")
        page.click("#model-form button[type=submit]")
        page.wait_for_selector(f"text=Model scorer v{version} stored")
    system = AISystem.objects.get(name="Credit scoring")
    assert system.current_model is None
    for version, was in ((1, ""), (2, " (was scorer v1)")):
        _promote(page, f"scorer v{version}", f"v{version} audited and reviewed")
        page.wait_for_selector(f"text=is now scorer v{version}{was}")
    assert page.locator("#promotions tbody tr").count() == 2
    assert "v2 audited and reviewed" in page.inner_text("#promotions tbody tr >> nth=0")
    system.refresh_from_db()
    assert system.current_model.version == 2

    # an audit of the current model started from its row; a worker runs it (here, this process); its trend read
    row = page.locator("#models tbody tr", has_text="scorer v2")
    row.locator("button:has-text('Start audit')").click()
    page.wait_for_selector("h1 [data-job-status]")
    run = AuditRun.objects.get(model_version=system.current_model)
    assert page.url.endswith(f"/audits/{run.pk}/")
    jobs.execute_audit(run.pk)
    page.reload()
    page.wait_for_selector("h1 .badge.succeeded")
    page.goto(f"{live_server.url}/systems/{system.pk}/")
    page.click("#trends a:has-text('FAIR-01')")
    page.wait_for_selector("#trend-chart svg")
    assert page.locator("#trend-table tbody tr").count() == 1

    # a colleague invited by e-mail
    page.click("header >> text=Members")
    page.fill("#id_user", "bob@example.org")
    page.select_option("#id_role", "auditor")
    page.click("#member-form button[type=submit]")
    page.wait_for_selector("#members td:has-text('bob')")

    # a schedule: a refusal next to its field, what was typed kept, the model version picked from a list
    page.goto(f"{live_server.url}/schedules/")
    page.fill("#id_name", "weekly")
    page.select_option("#id_model_version", str(system.current_model_id))
    page.fill("#id_config", "{not json")
    page.click("#schedule-form button[type=submit]")
    page.wait_for_selector("#field-config .field-error")
    assert page.input_value("#id_name") == "weekly"
    assert page.input_value("#id_model_version") == str(system.current_model_id)
    page.fill("#id_config", "")
    page.fill("#id_cron", "0 6 * * 1")
    page.click("#schedule-form button[type=submit]")
    page.wait_for_selector("text=Schedule “weekly” created")
    assert errors == [] and page.evaluate("window.__csp") == []


def _promote(page, version: str, reason: str) -> None:
    """Open the Promote form of a model version's row on the system page, give the reason and submit."""
    row = page.locator("#models tbody tr", has_text=version)
    row.locator("details.promote summary").click()
    row.locator("textarea[name=reason]").fill(reason)
    row.locator("button:has-text('Promote to current')").click()


def test_a_model_is_promoted_with_a_reason_and_its_trend_and_comparisons_read(live_server, browser_context, demo):
    page = browser_context.new_page()
    errors = _watch(page)
    _log_in(page, live_server.url)
    system, runs = demo["system"], demo["runs"]
    page.goto(f"{live_server.url}/systems/{system.pk}/")
    assert page.locator("#promotions tbody tr").count() == 0

    # when: the owner promotes the trained model, first forgetting the reason
    row = page.locator("#models tbody tr", has_text="scorer v1")
    row.locator("details.promote summary").click()
    row.locator("button:has-text('Promote to current')").click()  # the browser refuses an empty reason
    assert page.url.endswith(f"/systems/{system.pk}/") and system.promotions.count() == 0
    row.locator("textarea[name=reason]").fill(f"Audits #{runs[0]} and #{runs[1]} reviewed")
    row.locator("button:has-text('Promote to current')").click()

    # then: the notice, the current badge and the history
    page.wait_for_selector("text=is now scorer v1")
    assert "current" in page.inner_text("#models tbody tr >> nth=0")
    history = page.inner_text("#promotions tbody tr >> nth=0")
    assert "scorer v1" in history and "ada" in history and f"Audits #{runs[0]}" in history
    system.refresh_from_db()
    assert system.current_model == demo["model"]

    # the trend of every measured metric, one chart page per metric
    assert page.locator("#trends svg.sparkline").count() >= 10
    page.click("#trends a:has-text('FAIR-01')")
    page.wait_for_selector("#trend-chart svg")
    assert page.locator("#trend-table tbody tr").count() == 2

    # any number of audits compared, ticked on the system page
    page.goto(f"{live_server.url}/systems/{system.pk}/")
    for run in runs:
        page.check(f"#audits input[name=audits][value='{run}']")
    page.click("#compare-form button[type=submit]")
    page.wait_for_selector("#compare")
    assert [page.locator(f"#compare thead th:has-text('#{run} scorer v1')").count() for run in runs] == [1, 1]
    assert page.locator("#compare tbody[data-dimension]").count() == 6
    page.wait_for_selector("#scores-chart svg")

    # every metric page says what its number means
    page.goto(f"{live_server.url}/audits/{runs[0]}/metrics/ROB-01/")
    assert "What to do" in page.inner_text("#explanation")
    assert errors == [] and page.evaluate("window.__csp") == []


ROLES = (Role.OWNER, Role.ADMIN, Role.AUDITOR, Role.VIEWER)


def test_every_page_holds_up_for_each_role_at_390_px(live_server, chromium, demo):
    """Each role's own pages (what it may do differs: forms, buttons), at a phone's width."""
    system, user = demo["system"], demo["user"]
    services.promote_model(system, user=user, model_version=demo["model"], reason="the demo baseline")
    _dp_child(demo)
    for role in ROLES[1:]:
        member = get_user_model().objects.create_user(role, f"{role}@example.org", PASSWORD)
        Membership.objects.create(user=member, organization=demo["org"], role=role)

    problems, promote_forms = {}, {}
    for role in ROLES:
        context = chromium.new_context(viewport={"width": 390, "height": 800})
        context.add_init_script(CSP_RECORDER)
        context.set_default_timeout(30_000)
        page = context.new_page()
        errors = _watch(page)
        _log_in(page, live_server.url, "ada" if role == Role.OWNER else role)
        paths = _crawl(page, live_server.url, _start_pages(demo))
        assert len(paths) > 15, (role, paths)
        for path in paths:
            found = _problems_on(page, live_server.url, path, errors)
            if found:
                problems[f"{role} {path}"] = found
        page.goto(f"{live_server.url}/systems/{system.pk}/")
        promote_forms[role] = page.locator("details.promote").count()
        assert page.locator("#dp-children tbody tr").count() == 1
        context.close()
    assert not problems, "\n".join(f"{where}: {'; '.join(found)}" for where, found in problems.items())
    # only owners and admins may promote (the model is current: the DP variant is the one on offer)
    assert promote_forms == {Role.OWNER: 1, Role.ADMIN: 1, Role.AUDITOR: 0, Role.VIEWER: 0}


def _dp_child(demo) -> ModelVersion:
    """A DP variant of the demo model as the privacy app registers it (row only: its training is tested there)."""
    parent = demo["model"]
    artifact = artifacts.store(b"dp variant", organization=parent.organization, filename="scorer-dp.zip")
    return ModelVersion.objects.create(
        organization=parent.organization, system=parent.system, name="scorer-dp", version=1, artifact=artifact,
        created_by=demo["user"], format="torch-zoo", classes=parent.classes, features=parent.features,
        parent=parent, training_dataset=demo["dataset"], validated_on=demo["dataset"],
        dp={"epsilon": 2.0, "delta": 1e-5, "noise_multiplier": 1.1})
