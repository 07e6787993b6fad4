"""The QA dashboard through Flask's test client: access rules, CSRF, audit of recordings, CSV export,
review marks in the knowledge-base files, replays and the ``users`` command (no browser, fast)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select, update

from pipeline.knowledge import inspect_knowledge_base
from pipeline.review import ReviewEditError, set_reviewed
from tests.seed_calls import dashboard_app
from voice.storage.accounts import AccountError, Accounts
from voice.storage.schema import audit_log, turns

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dashboard")
    app, store, seeded = dashboard_app(folder, calls_count=30)
    return app, store, seeded, folder


def token(client, path: str = "/dashboard/login") -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text).group(1)


def logged_in(app, name: str, password: str):
    client = app.test_client()
    response = client.post("/dashboard/login", data={"name": name, "password": password, "csrf_token": token(client)})
    assert response.status_code == 302, response.text
    return client


def test_every_page_needs_a_login_and_the_webhooks_do_not(site):
    app, _, seeded, _ = site
    client = app.test_client()
    for path in ("/dashboard/", "/dashboard/calls", f"/dashboard/calls/{seeded.call_ids[0]}", "/dashboard/calls.csv",
                 "/dashboard/audio/1/caller", "/dashboard/kb", "/dashboard/kb/adresse-aendern", "/dashboard/replay",
                 "/dashboard/audit"):
        response = client.get(path)
        assert response.status_code == 302 and "/dashboard/login" in response.headers["Location"], path
    assert client.get("/healthz").status_code == 200
    assert "/dashboard" not in client.post("/twilio/voice").headers.get("Location", "")


def test_login_sets_a_secure_session_cookie_and_rejects_wrong_passwords(site):
    app, _, _, _ = site
    client = app.test_client()
    wrong = client.post("/dashboard/login", data={"name": "erika", "password": "nope", "csrf_token": token(client)})
    assert wrong.status_code == 401 and "wrong password" in wrong.text
    no_token = client.post("/dashboard/login", data={"name": "erika", "password": "erikaerika!"})
    assert no_token.status_code == 400
    ok = client.post("/dashboard/login", data={"name": "erika", "password": "erikaerika!", "csrf_token": token(client)})
    cookie = ok.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/dashboard" in cookie
    assert client.get("/dashboard/").status_code == 200
    assert client.get("/dashboard/login?next=//evil.example").status_code == 200  # never redirects off-site


def test_repeated_failed_logins_lock_the_name_for_a_while(site):
    app, _, _, _ = site
    client = app.test_client()
    Accounts(site[1].engine).add("lotte", "lottelotte!", "viewer")
    for _ in range(5):
        client.post("/dashboard/login", data={"name": "lotte", "password": "x", "csrf_token": token(client)})
    form = {"name": "lotte", "password": "lottelotte!", "csrf_token": token(client)}
    locked = client.post("/dashboard/login", data=form)
    assert locked.status_code == 401 and "Too many" in locked.text


def test_simultaneous_guesses_are_not_all_checked(site):
    """Forty-one logins for one name at the same moment, each in its own thread: only five are checked
    (an attempt is reserved before its password is), the rest are refused unseen."""
    import threading

    app, store, _, _ = site
    Accounts(store.engine).add("greta", "gretagreta!", "viewer")
    state = app.extensions["hotline_dashboard"]
    slots, state.slots = state.slots, None  # the guard is under test here, not the limit on concurrency
    results: list[str] = []
    gate = threading.Barrier(41)

    def attempt(password: str) -> None:
        client = app.test_client()
        form = {"name": "greta", "password": password, "csrf_token": token(client)}
        gate.wait()
        reply = client.post("/dashboard/login", data=form)
        results.append("in" if reply.status_code == 302 else "locked" if "Too many" in reply.text else "wrong")

    threads = [threading.Thread(target=attempt, args=(f"guess-{i}",)) for i in range(40)]
    threads.append(threading.Thread(target=attempt, args=("gretagreta!",)))  # the right one among them
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    finally:
        state.slots = slots
    assert len(results) == 41
    assert results.count("wrong") + results.count("in") == 5 and results.count("locked") == 36, sorted(results)


def client_from(app, address: str):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def test_a_guesser_does_not_lock_out_the_owner_and_a_flood_of_names_is_stopped(site):
    app, store, _, _ = site
    Accounts(store.engine).add("hanna", "hannahanna!", "viewer")
    guesser = client_from(app, "203.0.113.50")
    for _ in range(5):
        guesser.post("/dashboard/login", data={"name": "hanna", "password": "x", "csrf_token": token(guesser)})
    assert "Too many" in guesser.post("/dashboard/login", data={"name": "hanna", "password": "hannahanna!",
                                                                 "csrf_token": token(guesser)}).text
    owner = client_from(app, "10.1.2.3")
    ok = owner.post("/dashboard/login", data={"name": "hanna", "password": "hannahanna!", "csrf_token": token(owner)})
    assert ok.status_code == 302
    flood = client_from(app, "198.51.100.77")
    replies = [flood.post("/dashboard/login", data={"name": f"n{i}", "password": "x", "csrf_token": token(flood)})
               for i in range(30)]
    assert sum("Too many" in r.text for r in replies) == 10  # 20 failures per address, whatever the names


def test_logout_and_a_new_password_end_the_session_on_the_server_and_age_counts_from_login(site):
    from voice.storage.schema import dashboard_sessions

    app, store, _, _ = site
    Accounts(store.engine).add("ida", "idaidaidaida", "viewer")
    client = logged_in(app, "ida", "idaidaidaida")
    kept = client.get_cookie("hotline_dashboard", path="/dashboard").value  # what a thief would keep
    assert client.get("/dashboard/").status_code == 200
    client.post("/dashboard/logout", data={"csrf_token": token(client, "/dashboard/")})
    thief = app.test_client()
    thief.set_cookie("hotline_dashboard", kept, path="/dashboard")
    assert thief.get("/dashboard/").status_code == 302  # the old cookie no longer opens anything

    other = logged_in(app, "ida", "idaidaidaida")
    assert other.get("/dashboard/").status_code == 200
    Accounts(store.engine).set_password("ida", "a-new-password")
    assert other.get("/dashboard/").status_code == 302

    late = logged_in(app, "ida", "a-new-password")
    assert late.get("/dashboard/").status_code == 200
    assert "Set-Cookie" not in late.get("/dashboard/").headers  # a click does not renew the cookie
    with store.engine.begin() as conn:
        conn.execute(update(dashboard_sessions).where(dashboard_sessions.c.user_name == "ida",
                                                      dashboard_sessions.c.ended_at.is_(None))
                     .values(created_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=9)))
    assert late.get("/dashboard/").status_code == 302  # eight hours after the login, however busy


def test_a_next_parameter_with_a_line_break_and_an_oversized_body_are_refused_cleanly(site):
    app, _, _, _ = site
    client = app.test_client()
    form = {"name": "erika", "password": "erikaerika!", "csrf_token": token(client)}
    reply = client.post("/dashboard/login?next=/dashboard/%0d%0aSet-Cookie:%20x=1", data=form)
    assert reply.status_code == 302 and reply.headers["Location"].endswith("/dashboard/")
    big = client.post("/dashboard/login", data={**form, "name": "x" * 100_000})
    assert big.status_code == 413  # the same limit holds for the Twilio webhooks (one app-wide setting)


def test_a_crowd_on_the_dashboard_is_asked_to_wait_and_the_webhooks_are_not(site):
    app, _, _, _ = site
    state = app.extensions["hotline_dashboard"]
    client = logged_in(app, "victor", "victorvictor!")
    slots = state.slots
    held = 0
    while slots.acquire(blocking=False):  # every slot busy, as under a crowd of dashboard users
        held += 1
    try:
        busy = client.get("/dashboard/calls")
        assert busy.status_code == 503 and busy.headers["Retry-After"] == "2"
        assert client.get("/healthz").status_code == 200  # the rest of the server is not affected
        assert client.get("/dashboard/static/dashboard.css").status_code == 200  # static files pass
    finally:
        for _ in range(held):
            slots.release()
    assert held == 4  # HOTLINE_DASHBOARD_MAX_CONCURRENT's default
    assert client.get("/dashboard/calls").status_code == 200  # and every slot was given back


def test_playing_a_recording_is_audited_once_and_only_recordings_are_served(site):
    app, store, seeded, folder = site
    client = logged_in(app, "victor", "victorvictor!")
    call_id = seeded.call_ids[3]
    page = client.get(f"/dashboard/calls/{call_id}").text
    turn_id = re.search(r"/dashboard/audio/(\d+)/caller", page).group(1)
    first = client.get(f"/dashboard/audio/{turn_id}/caller", headers={"Range": "bytes=0-"})
    assert first.status_code == 206 and first.mimetype == "audio/wav"
    client.get(f"/dashboard/audio/{turn_id}/caller", headers={"Range": "bytes=100-"})  # same playback
    with store.engine.connect() as conn:
        rows = conn.execute(select(audit_log).where(audit_log.c.action == "listen", audit_log.c.call_id == call_id))
        entries = rows.mappings().all()
    assert [(e["user_name"], e["turn"], e["detail"]) for e in entries] == [("victor", 1, "caller audio of turn 1")]
    outside = folder / "secret.wav"
    outside.write_bytes(b"RIFF")
    with store.engine.begin() as conn:
        conn.execute(update(turns).where(turns.c.id == int(turn_id)).values(audio_path=str(outside)))
    assert client.get(f"/dashboard/audio/{turn_id}/caller").status_code == 404


def test_a_confirmation_and_the_callers_choice_are_shown(site):
    app, store, seeded, _ = site
    call_id = seeded.call_ids[5]
    offered = "fiktionsbescheinigung,antragsstatus"
    with store.engine.begin() as conn:
        conn.execute(
            update(turns)
            .where(turns.c.call_id == call_id, turns.c.turn == 1)
            .values(outcome="confirm", confirm_offered=offered, confirm_choice="2", asr_logprob=-0.62)
        )
    client = logged_in(app, "victor", "victorvictor!")
    page = client.get(f"/dashboard/calls/{call_id}").text
    assert "topic confirmed by the caller" in page
    assert "1 = fiktionsbescheinigung, 2 = antragsstatus" in page and "the caller chose: 2 (antragsstatus)" in page
    assert "mean log-probability -0.62" in page
    rows = list(csv.DictReader(io.StringIO(client.get("/dashboard/calls.csv").data.decode("utf-8-sig"))))
    (row,) = [r for r in rows if r["call_id"] == call_id and r["turn"] == "1"]
    assert (row["outcome"], row["confirm_offered"], row["confirm_choice"]) == ("confirm", offered, "2")


def test_csv_export_follows_the_filters_and_defuses_formulas(site):
    app, store, seeded, _ = site
    with store.engine.begin() as conn:
        conn.execute(update(turns).where(turns.c.call_id == seeded.call_ids[0]).values(transcript="=HYPERLINK(1)"))
    client = logged_in(app, "victor", "victorvictor!")
    text = client.get("/dashboard/calls.csv").data.decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {r["call_id"] for r in rows} == set(seeded.call_ids)
    assert any(r["transcript"] == "'=HYPERLINK(1)" for r in rows)
    german = list(csv.DictReader(io.StringIO(client.get("/dashboard/calls.csv?language=de").data.decode("utf-8-sig"))))
    assert german and all(r["call_language"] == "de" for r in german)


def test_only_editors_change_review_marks_and_the_file_keeps_everything_else(site):
    app, _, _, folder = site
    path = folder / "prompts/faq/gebuehren.yaml"
    before = path.read_text(encoding="utf-8")
    viewer = logged_in(app, "victor", "victorvictor!")
    form = {"reviewed": "true", "csrf_token": token(viewer, "/dashboard/kb/gebuehren")}
    assert viewer.post("/dashboard/kb/gebuehren/fa/reviewed", data=form).status_code == 403
    editor = logged_in(app, "erika", "erikaerika!")
    assert editor.post("/dashboard/kb/gebuehren/fa/reviewed", data={"reviewed": "true"}).status_code == 400  # no token
    form = {"reviewed": "true", "csrf_token": token(editor, "/dashboard/kb/gebuehren")}
    assert editor.post("/dashboard/kb/gebuehren/fa/reviewed", data=form).status_code == 302
    after = path.read_text(encoding="utf-8")
    changed = [(a, b) for a, b in zip(before.splitlines(), after.splitlines(), strict=True) if a != b]
    assert changed == [("    reviewed: false", "    reviewed: true")]
    kb, problems = inspect_knowledge_base(folder / "prompts")
    assert not problems and kb.entries["gebuehren"].reviewed["fa"] is True
    assert "review" in editor.get("/dashboard/audit").text


def test_review_marks_in_every_layout_and_the_index_is_not_rebuilt(tmp_path):
    prompts = tmp_path / "prompts"
    import shutil

    shutil.copytree(ROOT / "prompts", prompts)
    hash_before = inspect_knowledge_base(prompts)[0].content_hash
    path = prompts / "faq/adresse-aendern.yaml"
    assert set_reviewed(path, "en", True) and not set_reviewed(path, "en", True)
    assert inspect_knowledge_base(prompts)[0].content_hash == hash_before  # no new embeddings for a review mark
    flow = tmp_path / "flow.yaml"
    flow.write_text('id: x\nanswer:\n  de: {text: "Ja.", reviewed: true}  # authoritative\n  en: {text: "Yes."}\n'
                    "questions: {}\n", encoding="utf-8")
    set_reviewed(flow, "en", True)
    set_reviewed(flow, "de", False)
    assert yaml.safe_load(flow.read_text())["answer"] == {"de": {"text": "Ja.", "reviewed": False},
                                                          "en": {"text": "Yes.", "reviewed": True}}
    assert "# authoritative" in flow.read_text()
    block = tmp_path / "block.yaml"
    block.write_text("answer:\n  de:\n    text: >-\n      Ja,\n      genau.\n\n  en:\n    text: Yes.\nother: 1\n")
    set_reviewed(block, "de", True)
    assert yaml.safe_load(block.read_text()) == {"answer": {"de": {"text": "Ja, genau.", "reviewed": True},
                                                            "en": {"text": "Yes."}}, "other": 1}
    with pytest.raises(ReviewEditError):
        set_reviewed(block, "tr", True)


def test_an_editor_replays_selected_calls_and_reads_the_report(site):
    app, _, seeded, _ = site
    client = logged_in(app, "erika", "erikaerika!")
    form = {"call": seeded.call_ids[:2], "csrf_token": token(client, "/dashboard/calls")}
    response = client.post("/dashboard/replay", data=form)
    assert response.status_code == 302
    job = response.headers["Location"].rsplit("/", 1)[-1]
    deadline = time.monotonic() + 30
    while "Open the comparison report" not in (page := client.get(f"/dashboard/replay/{job}").text):
        assert time.monotonic() < deadline and "failed" not in page, page
        time.sleep(0.2)
    report = client.get(f"/dashboard/replay/{job}/report.html")
    assert report.status_code == 200 and "replay" in report.text.lower()
    assert client.get(f"/dashboard/replay/{job}/../../hotline.db").status_code == 404
    with site[1].engine.connect() as conn:
        audited = len(conn.execute(select(audit_log).where(audit_log.c.action == "listen")).all())
    for sneaky in ("audio/../status.json", "audio/%2e%2e/status.json", "audio/%2E%2E/status.json",
                   "audio/..%2fstatus.json", "audio/missing.wav", "audio/a/../../status.json"):
        assert client.get(f"/dashboard/replay/{job}/{sneaky}").status_code == 404, sneaky
    with site[1].engine.connect() as conn:  # nothing was served, so nothing was written as listened to
        assert len(conn.execute(select(audit_log).where(audit_log.c.action == "listen")).all()) == audited
    viewer = logged_in(app, "victor", "victorvictor!")
    form = {"call": seeded.call_ids[:1], "csrf_token": token(viewer, "/dashboard/calls")}
    assert viewer.post("/dashboard/replay", data=form).status_code == 403


def test_users_command_creates_accounts_with_hashed_passwords(tmp_path):
    env = {"HOTLINE_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin", "HAYSTACK_TELEMETRY_ENABLED": "False"}
    run = [sys.executable, "app.py", "users"]
    added = subprocess.run([*run, "add", "anna", "--role", "editor"], input="a-long-password\n", text=True,
                           capture_output=True, cwd=ROOT, env=env)
    assert added.returncode == 0, added.stderr
    short = subprocess.run([*run, "add", "ben"], input="short\n", text=True, capture_output=True, cwd=ROOT, env=env)
    assert short.returncode == 2 and "at least" in short.stderr
    listed = subprocess.run([*run, "list"], text=True, capture_output=True, cwd=ROOT, env=env)
    assert "anna" in listed.stdout and "editor" in listed.stdout
    from voice.storage.store import SqlCallStore

    store = SqlCallStore(f"sqlite:///{tmp_path / 'hotline.db'}", tmp_path / "spool", b"k")
    accounts = Accounts(store.engine)
    user = accounts.get("anna")
    assert user is not None and "a-long-password" not in user["password_hash"]
    assert accounts.verify("anna", "a-long-password") and not accounts.verify("anna", "wrong-password")
    with pytest.raises(AccountError):
        accounts.add("anna", "another-password", "viewer")


def test_the_knowledge_base_pages_show_check_dates_sources_and_figures_that_expire(site):
    app, _, _, folder = site
    prompts = folder / "prompts"
    figures = yaml.safe_load((prompts / "figures.yaml").read_text(encoding="utf-8"))
    yesterday = dt.date.today() - dt.timedelta(days=1)
    figures["fee_extension"]["valid_until"] = yesterday  # planted: a fee that no longer holds
    figures["fee_extension"].pop("review_by", None)
    (prompts / "figures.yaml").write_text(yaml.safe_dump(figures, allow_unicode=True), encoding="utf-8")
    path = prompts / "faq/duldung.yaml"
    old = dt.date.today() - dt.timedelta(days=200)
    path.write_text(re.sub(r"^checked: .*$", f"checked: {old}", path.read_text("utf-8"), flags=re.M), "utf-8")
    client = logged_in(app, "victor", "victorvictor!")
    overview = client.get("/dashboard/kb").text
    due = overview.split('id="figures-due"')[1].split("</table>")[0]
    assert "fee_extension" in due and "expired" in due and str(yesterday) in due
    row = re.search(r"<tr><td><a href=\"/dashboard/kb/duldung\">.*?</tr>", overview, re.S).group(0)
    assert str(old) in row and "over 6 months" in row
    topic = client.get("/dashboard/kb/gebuehren").text
    assert 'href="https://www.gesetze-im-internet.de/aufenthv/__44.html"' in topic  # a page from sources
    assert "§ 69 AufenthG" in topic and "zuletzt geändert" in topic  # a law with the version that was read
    table = topic.split('id="figures"')[1].split("</table>")[0]
    assert "fee_extension" in table and "expired" in table and "fee_settlement_permit" in table
