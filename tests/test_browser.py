"""The archive in a real browser: Playwright driving Debian's Chromium against the real server.

The server is waitress with the app and an ingest worker thread, over a copy of the demo
archive (the ``live_server`` fixture in conftest.py). Chromium comes from the system
(``apt-get install chromium``; `.ci/run` installs it); without it these tests skip and say so.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from .helpers import JFK

playwright_api = pytest.importorskip(
    "playwright.sync_api", reason="Playwright is a dev dependency: pip install -e '.[dev]'"
)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="needs Debian's chromium for the browser tests: sudo apt-get install chromium"
)

# Headless, offline, and allowed to play media without a click (the tests press play themselves).
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--autoplay-policy=no-user-gesture-required",
]
RELATIONAL = "relational-social-prescribing-staying-with-clients"
COMPASSION = "compassionate-communities-neighbors-caring-for-neighbors"


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, live_server):
    """A fresh tab that may use the clipboard; fails the test on any script error or outside request.

    Playwright's waiting helpers evaluate strings in the page, which the archive's
    Content-Security-Policy forbids; test_pages_run_under_the_content_security_policy
    checks the pages with the policy in force.
    """
    base = live_server.url
    context = browser.new_context(base_url=base, viewport={"width": 1280, "height": 860}, bypass_csp=True)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(f"script error: {exc}"))
    tab.on("console", lambda m: m.type == "error" and errors.append(f"console: {m.text}"))
    tab.on("request", lambda r: r.url.startswith((base, "data:")) or errors.append(f"outside request: {r.url}"))
    tab.expected_errors = []  # a test that provokes an error status says which
    yield tab
    context.close()
    assert [e for e in errors if not any(expected in e for expected in tab.expected_errors)] == []


def sign_in(page, live_server, role: str = "staff") -> None:
    """Sign in through the login form, as a person does."""
    email = f"{role}@example.org"
    live_server.add_user(email, role)
    page.goto("/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", "correct horse battery")
    page.click("main button[type=submit]")
    page.wait_for_url(re.compile(r"/$"))
    assert email in page.inner_text("header")


@pytest.fixture
def staff_page(page, live_server):
    sign_in(page, live_server, "staff")
    return page


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory) -> Path:
    """Where the screenshots go: ARCHIVE_SCREENSHOTS (``make screenshots`` sets docs/) or a temporary folder."""
    folder = Path(os.environ.get("ARCHIVE_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def player_time(page) -> float:
    return page.evaluate("document.getElementById('player').currentTime")


def wait_for_time(page, seconds: float, tolerance: float = 1.0) -> None:
    page.wait_for_function(
        "([s, tol]) => { const p = document.getElementById('player');"
        " return p.readyState >= 1 && Math.abs(p.currentTime - s) <= tol; }",
        arg=[seconds, tolerance],
    )


def current_segment(page) -> dict:
    return page.evaluate(
        "(() => { const li = document.querySelector('#transcript li.current');"
        " return li && {start: parseFloat(li.dataset.start), text: li.querySelector('.text').textContent}; })()"
    )


def segment_at(page, seconds: float) -> dict:
    """The transcript line being spoken at ``seconds``, as the page lists it."""
    return page.evaluate(
        "(s) => { let found = null; for (const li of document.querySelectorAll('#transcript li[data-start]')) {"
        " if (parseFloat(li.dataset.start) <= s + 1e-3) found = li; else break; }"
        " return {start: parseFloat(found.dataset.start), text: found.querySelector('.text').textContent}; }",
        seconds,
    )


def test_search_a_phrase_and_land_on_the_moment(page, screenshots):
    page.goto("/")
    assert page.evaluate("document.activeElement.id") == "q"  # the search box has focus
    page.screenshot(path=str(screenshots / "home.png"), full_page=True)
    page.keyboard.type("link workers call each client")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/search\?q="))
    first = page.locator("a.moment").first
    assert "<mark>" in first.inner_html()
    page.screenshot(path=str(screenshots / "results.png"), full_page=True)
    target = float(re.search(r"[?&]t=([\d.]+)", first.get_attribute("href")).group(1))

    first.click()
    page.wait_for_url(re.compile(rf"/recordings/{RELATIONAL}\?t="))
    wait_for_time(page, target)
    current = current_segment(page)
    assert current["start"] == pytest.approx(target, abs=0.01)
    assert "link workers call each client" in current["text"]


def test_a_word_only_the_chat_says_comes_first_and_other_words_are_labelled(page, live_server):
    """Issue 25: a word no talk says but the chat does ("toolkit") shows the chat message first,
    marked as saying the words, and no talk moment as an answer; a question in other words shows
    its moments marked "similar in meaning"."""
    from archive.core.store import connect, write_transaction
    from archive.core.store import recordings as store
    from archive.core.store.records import ChatMessage

    db = connect(live_server.data_dir / "archive.db")
    talk = store.get_recording_by_slug(db, RELATIONAL)
    with write_transaction(db):
        store.replace_chat(db, talk.id, [ChatMessage(30.0, "Sam", "Is the referral toolkit you use online?")])
    db.close()

    page.goto("/search?q=toolkit")
    chat = page.locator("li.aside-chat").first
    assert "toolkit" in chat.inner_text() and "says these words" in chat.inner_text()
    first_hit = page.locator("li.aside-chat, a.moment").first
    assert first_hit.get_attribute("class").startswith("aside-chat")  # before any moment of a talk
    assert "Nothing said in the talks answers" in page.inner_text("main")

    page.goto("/search?q=" + "how does the clinic keep in touch with people once they have been sent elsewhere")
    labels = page.locator("li.match-meaning .match")
    assert labels.count() >= 1 and labels.first.inner_text() == "similar in meaning"
    assert page.locator("li.match-words").count() == 0  # nothing claims the words it does not hold


def test_a_shared_time_opens_the_player_there(page, screenshots):
    page.goto(f"/recordings/{RELATIONAL}?t=1m05s")
    wait_for_time(page, 65)
    assert current_segment(page) == segment_at(page, 65)
    assert page.evaluate("document.querySelector('#transcript li.current').getBoundingClientRect().top") > 0
    page.wait_for_selector("#related li a")  # related moments for that part
    page.screenshot(path=str(screenshots / "recording.png"))

    page.goto(f"/recordings/{RELATIONAL}#t=1:30")  # the form other players use
    wait_for_time(page, 90)
    page.wait_for_function("document.querySelector('#transcript li.current') !== null")
    assert current_segment(page) == segment_at(page, 90)

    page.goto(f"/recordings/{RELATIONAL}?t=soon")  # a bad time is ignored
    page.wait_for_function("document.getElementById('player').readyState >= 1")
    assert player_time(page) == 0


def test_clicking_a_transcript_line_seeks_and_follows(page):
    page.goto(f"/recordings/{COMPASSION}")
    line = page.locator("#transcript li[data-start]").nth(6)
    start = float(line.get_attribute("data-start"))
    line.locator(".text").click()
    wait_for_time(page, start, tolerance=0.8)
    page.wait_for_function("!document.getElementById('player').paused")
    assert current_segment(page)["start"] >= start
    assert f"t={start:g}" in page.url
    page.evaluate("document.getElementById('player').pause()")


def test_a_clip_plays_its_span_and_stops_at_its_end(page):
    page.goto(f"/recordings/{RELATIONAL}?t=10&end=12")
    wait_for_time(page, 10, tolerance=0.3)
    assert "Playing the clip 0:10–0:12" in page.inner_text("#clip-notice")
    page.evaluate("document.getElementById('player').play()")
    page.wait_for_function(
        "document.getElementById('player').paused && document.getElementById('player').currentTime > 11"
    )
    assert player_time(page) == pytest.approx(12, abs=0.3)


def test_reading_the_transcript_is_not_interrupted_while_it_plays(page):
    page.goto(f"/recordings/{RELATIONAL}?t=60")
    wait_for_time(page, 60)
    page.evaluate("document.getElementById('player').play()")
    page.wait_for_function("document.getElementById('transcript').scrollTop > 0")
    page.locator("#transcript").hover()
    page.mouse.wheel(0, -5000)  # the reader scrolls back to the start
    page.wait_for_function("document.getElementById('transcript').scrollTop === 0")
    page.wait_for_selector("#follow", state="visible")
    start_segment = current_segment(page)["start"]
    page.wait_for_function(f"document.querySelector('#transcript li.current').dataset.start > {start_segment}")
    assert page.evaluate("document.getElementById('transcript').scrollTop") == 0  # it moved on; the view did not
    page.click("#follow")
    assert page.evaluate("document.getElementById('transcript').scrollTop") > 0
    page.wait_for_selector("#follow", state="hidden")
    page.evaluate("document.getElementById('player').pause()")


def test_copy_link_and_share_a_clip_with_a_citation(page, live_server):
    page.goto(f"/recordings/{RELATIONAL}?t=65")
    wait_for_time(page, 65)
    page.click("#copy-moment")
    page.wait_for_function("document.getElementById('status').textContent.includes('copied')")
    assert page.evaluate("navigator.clipboard.readText()") == f"{live_server.url}/recordings/{RELATIONAL}?t=65"

    line = page.locator("#transcript li[data-start]").nth(3)
    line.hover()
    line.locator(".seg-copy").click()
    page.wait_for_function("document.getElementById('status').textContent.includes('0:')")
    assert page.evaluate("navigator.clipboard.readText()") == (
        f"{live_server.url}/recordings/{RELATIONAL}?t={float(line.get_attribute('data-start')):g}"
    )

    page.click("#open-share")
    assert page.input_value("#share-start") == "1:05"
    page.fill("#share-end", "1:20")
    link = page.input_value("#share-link")
    assert link == f"{live_server.url}/recordings/{RELATIONAL}?t=65&end=80"
    citation = page.input_value("#share-citation")
    for part in [
        "Maya Torres",
        "Relational Social Prescribing",
        "Riverside Community Clinic",
        "2025-01-15",
        "1:05\u20131:20",
        link,
    ]:
        assert part in citation
    page.fill("#share-end", "1:00")
    assert "after the start" in page.inner_text("#share-error") and page.input_value("#share-link") == ""
    page.fill("#share-end", "")
    page.click("#copy-citation")
    page.wait_for_function("navigator.clipboard.readText().then(t => t.includes('Recording, at 1:05'))")
    page.keyboard.press("Escape")
    assert not page.evaluate("document.getElementById('share').open")


def test_a_member_gathers_clips_from_two_talks_and_plays_them_one_after_another(page, live_server, screenshots):
    sign_in(page, live_server, "member")
    for talk, start, end, note in (
        (RELATIONAL, "0:10", "0:12", "Why the relationship matters after the referral"),
        (COMPASSION, "0:05", "0:07", "Who runs the neighbour network"),
    ):
        page.goto(f"/recordings/{talk}")
        page.click("#open-share")
        page.fill("#share-start", start)
        page.fill("#share-end", end)
        if page.locator("#collect-form select option").count() == 1:  # only "A new collection…"
            page.fill("#collect-form input[name=new_title]", "Two moments")
        page.fill("#collect-form textarea[name=note]", note)
        page.click("#collect-form button[type=submit]")
        page.wait_for_url(re.compile(r"/collections/two-moments#clip-\d+$"))
    assert "2 moments across 2 talks" in page.inner_text("main")
    page.click("#play-all")
    page.wait_for_function("document.querySelectorAll('li.clip')[0].classList.contains('playing')")
    page.wait_for_function(
        "document.querySelectorAll('li.clip')[1].classList.contains('playing')"
        " && document.getElementById('clip-player').currentTime >= 5"
    )
    page.screenshot(path=str(screenshots / "collection.png"), full_page=True)
    page.wait_for_function("document.getElementById('now-playing').textContent === 'Played every clip.'")
    assert page.evaluate("document.getElementById('clip-player').currentTime") == pytest.approx(7, abs=0.5)


def test_the_pages_read_without_javascript(browser, live_server):
    """With scripts off, a visitor still searches, lands on the moment's line, reads the whole
    transcript with its times and chapters, and reads the feed and llms.txt links."""
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    tab = context.new_page()
    try:
        tab.goto("/")
        tab.fill("#q", "how do they follow up with clients")
        tab.press("#q", "Enter")
        tab.wait_for_url(re.compile(r"/search\?q="))
        first = tab.locator("a.moment").first
        href = first.get_attribute("href")
        first.click()
        tab.wait_for_url(re.compile(r"/recordings/.+\?t="))
        lines = tab.locator("#transcript li[data-start]")
        assert lines.count() > 10 and lines.first.is_visible()
        marked = tab.locator("#transcript li.current")  # the server marks the moment's line
        assert marked.count() == 1 and marked.get_attribute("data-start").startswith(
            re.search(r"t=([\d.]+)", href).group(1)
        )
        assert tab.locator("#transcript a[href*='?t=']").count() >= lines.count()  # every line links to its time
        tab.goto(f"/recordings/{RELATIONAL}")
        assert "Download transcript" in tab.inner_text("main")
        assert tab.locator("a[href$='.vtt?download=1']").count() == 1
    finally:
        context.close()


def test_find_in_this_talk_filters_and_marks_lines(page):
    page.goto(f"/recordings/{RELATIONAL}")
    total = page.locator("#transcript li[data-start]").count()
    page.fill("#find", "link worker")
    page.wait_for_function("document.getElementById('find-count').textContent.includes('of')")
    visible = page.locator("#transcript li[data-start]:not([hidden])")
    assert 0 < visible.count() < total
    for text in visible.locator(".text").all_inner_texts():
        assert "link" in text.lower() and "worker" in text.lower()
    assert page.locator("#transcript li:not([hidden]) mark").count() >= 2 * visible.count()
    page.fill("#find", "")
    page.wait_for_function("document.getElementById('find-count').textContent === ''")
    assert page.locator("#transcript li[data-start]:not([hidden])").count() == total
    assert page.locator("#transcript mark").count() == 0


def test_upload_a_recording_and_follow_it_to_its_page(staff_page):
    page = staff_page
    page.goto("/upload")
    page.set_input_files("input[name=media]", str(JFK))
    page.fill("input[name=title]", "Ask not (upload test)")
    page.fill("input[name=speakers]", "John F. Kennedy")
    seen = []
    page.on("framenavigated", lambda frame: frame == page.main_frame and seen.append(frame.url))
    page.click("#upload-form button[type=submit]")
    page.wait_for_url(re.compile(r"/recordings/ask-not-upload-test"), timeout=180_000)
    assert any(re.search(r"/jobs/\d+$", url) for url in seen)  # the job page showed the progress
    assert "country" in page.inner_text("#transcript")
    assert page.inner_text("h1") == "Ask not (upload test)"


def test_a_bad_upload_says_why_and_keeps_the_form(staff_page, tmp_path):
    page = staff_page
    page.expected_errors.append("status of 400 (BAD REQUEST)")  # the refused upload itself
    notes = tmp_path / "notes.mp3"
    notes.write_text("these are notes, not a recording\n" * 50)
    page.goto("/upload")
    page.set_input_files("input[name=media]", str(notes))
    page.fill("input[name=title]", "Not a talk")
    page.click("#upload-form button[type=submit]")
    page.wait_for_selector("#upload-error")
    assert "notes.mp3: not an audio or video file" in page.inner_text("#upload-error")
    assert page.url.endswith("/upload") and page.input_value("input[name=title]") == "Not a talk"


# A chat export from another meeting: a message five hours in, past the end of every test talk.
LATE_CHAT = "00:00:02\tMaya Torres:\tWelcome all\n05:00:00\tMaya Torres:\tstill here\n"


def in_view(page, selector: str) -> bool:
    """Whether all of ``selector``'s box is inside the window, as the person sees it now."""
    box = page.locator(selector).bounding_box()
    size = page.viewport_size
    return (
        box is not None
        and 0 <= box["y"] <= box["y"] + box["height"] <= size["height"]
        and 0 <= box["x"] <= box["x"] + box["width"] <= size["width"]
    )


def focused_id(page) -> str:
    return page.evaluate("document.activeElement && document.activeElement.id")


@pytest.mark.parametrize("width, height", [(1280, 800), (390, 844)])
@pytest.mark.parametrize("wrong", ["media", "chat"])
def test_a_refused_upload_says_why_where_the_button_was_pressed(staff_page, tmp_path, width, height, wrong):
    """The message lands by the button, in view and focused; the wrong field is marked, and every field,
    the files too, is still filled in for another try."""
    page = staff_page
    page.expected_errors.append("status of 400 (BAD REQUEST)")  # the refused upload itself
    page.set_viewport_size({"width": width, "height": height})
    notes = tmp_path / "notes.mp3"
    notes.write_text("these are notes, not a recording\n" * 50)
    chat = tmp_path / "other_chat.txt"
    chat.write_text(LATE_CHAT)
    page.goto("/upload")
    page.set_input_files("input[name=media]", str(notes if wrong == "media" else JFK))
    page.fill("input[name=title]", "Not a talk")
    page.fill("input[name=speakers]", "Maya Torres")
    if wrong == "chat":
        page.set_input_files("input[name=chat]", str(chat))
    page.click("#upload-form button[type=submit]")
    page.wait_for_function("document.activeElement && document.activeElement.id === 'upload-error'")
    expected = "notes.mp3: not an audio or video file" if wrong == "media" else "other_chat.txt: a message at"
    assert page.inner_text("#upload-error").startswith(expected)
    assert in_view(page, "#upload-error") and in_view(page, "#upload-form button[type=submit]")
    assert page.get_attribute("#upload-error", "role") == "alert"
    marked = page.locator("#upload-form [aria-invalid=true]")
    assert marked.count() == 1 and marked.get_attribute("name") == wrong
    assert marked.get_attribute("aria-describedby") == "upload-error"
    assert marked.evaluate("el => getComputedStyle(el).borderTopWidth") == "2px"  # seen, not only announced
    assert (
        page.input_value("input[name=title]") == "Not a talk"
        and page.input_value("input[name=speakers]") == "Maya Torres"
    )
    assert page.evaluate("document.querySelector('input[name=media]').files.length") == 1  # no need to choose it again


def test_for_staff_the_player_stays_above_the_fold_and_the_tools_unfold(staff_page):
    """The staff tools fold into one line under the title, so the player is in view at 1280x800."""
    page = staff_page
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"/recordings/{COMPASSION}")
    player = page.locator("#player").bounding_box()
    assert player and player["y"] + player["height"] <= 800, player
    assert not page.is_visible("details.companions summary")
    page.click("#staff-tools > summary")
    assert page.is_visible("details.companions summary")


@pytest.mark.parametrize("width, height", [(1280, 800), (390, 844)])
def test_a_refused_file_on_the_talk_page_shows_the_talk_with_why_by_its_form(staff_page, tmp_path, width, height):
    """Not a bare "Bad Request" page: the talk again, "Add the meeting's files" open, the message in view."""
    page = staff_page
    page.expected_errors.append("status of 400 (BAD REQUEST)")  # the refused file itself
    page.set_viewport_size({"width": width, "height": height})
    chat = tmp_path / "other_chat.txt"
    chat.write_text(LATE_CHAT)
    page.goto(f"/recordings/{COMPASSION}")
    title = page.inner_text("h1")
    page.click("#staff-tools > summary")  # the staff tools are folded under one line
    page.click("details.companions summary")
    page.set_input_files("#companions-form input[name=chat]", str(chat))
    with page.expect_navigation():
        page.click("#companions-form button[type=submit]")
    page.wait_for_function("document.activeElement && document.activeElement.id === 'companions-error'")
    assert page.inner_text("h1") == title and page.locator("#transcript li[data-start]").count() > 10
    assert page.locator("details.companions").get_attribute("open") is not None
    assert page.inner_text("#companions-error").startswith("other_chat.txt: a message at")
    assert in_view(page, "#companions-error") and in_view(page, "#companions-form button[type=submit]")
    assert page.get_attribute("#companions-form input[name=chat]", "aria-invalid") == "true"


def test_a_refused_upload_is_in_view_without_javascript(browser, live_server, tmp_path):
    """With scripts off the page comes back whole: the message by the button still takes the focus, in view."""
    context = browser.new_context(
        base_url=live_server.url, java_script_enabled=False, viewport={"width": 390, "height": 844}
    )
    page = context.new_page()
    try:
        sign_in(page, live_server, "staff")
        notes = tmp_path / "notes.mp3"
        notes.write_text("these are notes, not a recording\n" * 50)
        page.goto("/upload")
        page.set_input_files("input[name=media]", str(notes))
        page.fill("input[name=title]", "Not a talk")
        with page.expect_navigation():
            page.click("#upload-form button[type=submit]")
        page.locator("#upload-error").wait_for()
        page.wait_for_timeout(300)  # autofocus runs once the page is shown
        assert focused_id(page) == "upload-error" and in_view(page, "#upload-error")
        assert page.input_value("input[name=title]") == "Not a talk"
        assert page.get_attribute("input[name=media]", "aria-invalid") == "true"
    finally:
        context.close()


def test_staff_correct_a_line_in_place_and_teach_the_glossary(staff_page):
    page = staff_page
    page.goto(f"/recordings/{COMPASSION}")
    page.click("#edit-toggle")
    line = page.locator("#transcript li[data-start]").nth(2)
    original = line.locator(".text").inner_text()
    line.locator(".seg-edit").click()
    page.keyboard.press("Control+a")
    page.keyboard.type("Most of their last weeks are spent at home, says Harborview.")
    line.locator("button.save").click()
    line.locator(".add-term").wait_for()
    assert line.locator(".text").inner_text() == "Most of their last weeks are spent at home, says Harborview."
    assert line.get_attribute("data-edited") is not None
    line.locator(".add-term", has_text="Harborview").click()
    page.wait_for_function("document.querySelector('.add-term').textContent.includes('is in the glossary')")

    line.locator(".seg-edit").click()
    line.locator("button.revert").click()
    page.wait_for_function(
        "t => document.querySelectorAll('#transcript li[data-start]')[2].querySelector('.text').textContent === t",
        arg=original,
    )
    assert line.get_attribute("data-edited") is None


@pytest.mark.parametrize("path", ["/", "/search?q=funding+for+link+workers", f"/recordings/{RELATIONAL}", "/upload"])
def test_pages_fit_a_phone_and_work_by_keyboard(staff_page, path):
    page = staff_page
    page.set_viewport_size({"width": 360, "height": 740})
    page.goto(path)
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    # Tabbing moves through labelled controls, and focus is visible where it lands.
    for _ in range(4):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            "(() => { const el = document.activeElement, style = getComputedStyle(el);"
            " const label = el.getAttribute('aria-label') || el.labels?.[0]?.textContent || el.textContent || el.title;"
            " return {label: (label || '').trim(), outline: style.outlineStyle}; })()"
        )
        assert focused["label"], focused
        assert focused["outline"] != "none", focused


def test_pages_run_under_the_content_security_policy(browser, live_server):
    """With the policy in force, the pages' own scripts run and nothing they do is blocked."""
    context = browser.new_context(base_url=live_server.url)
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: m.type == "error" and problems.append(m.text))
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    response = page.goto(f"/recordings/{RELATIONAL}?t=1m05s")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy
    page.locator("#related li a").first.wait_for()  # player.js ran: it fetched the related moments
    assert page.evaluate("document.getElementById('player').currentTime") == pytest.approx(65, abs=1)
    page.locator("#find").fill("link")
    page.locator("#find-count").filter(has_text="of").wait_for()
    page.goto("/search?q=funding")
    assert page.locator("a.moment").count() > 0
    context.close()
    assert problems == []


def test_the_transcript_is_one_tab_stop_with_arrow_keys_inside(page):
    """Arriving at a moment, the landed line has the focus; arrows move, Enter plays, Tab leaves."""
    page.goto(f"/recordings/{RELATIONAL}?t=1:06")
    # The page focuses the line once the player has sought there: on a busy machine, after goto returns.
    page.wait_for_function("document.activeElement && document.activeElement.dataset.start !== undefined")
    landed = page.evaluate("document.activeElement.dataset.start")
    assert landed is not None and float(landed) == current_segment(page)["start"]
    page.keyboard.press("ArrowDown")
    below = float(page.evaluate("document.activeElement.dataset.start"))
    assert below > float(landed)
    page.keyboard.press("Enter")
    wait_for_time(page, below)
    # One stop for the whole transcript (before: two a line, 1,440 in an hour's talk).
    stops = page.evaluate(
        "[document.getElementById('transcript'), ...document.querySelectorAll('#transcript a, #transcript button,"
        " #transcript [tabindex]')].filter(el => el.tabIndex >= 0).length"
    )
    assert stops == 1 and page.locator("#transcript li[data-start]").count() > 20


@pytest.mark.parametrize("width, height", [(390, 844), (1280, 800)])
def test_a_moment_lands_with_the_player_and_its_line_in_view(page, width, height, screenshots):
    page.set_viewport_size({"width": width, "height": height})
    page.goto(f"/recordings/{RELATIONAL}?t=1:06")
    page.wait_for_timeout(300)
    player = page.locator("#player").bounding_box()
    line = page.locator("#transcript li.current").bounding_box()
    assert 0 <= player["y"] and player["y"] + player["height"] <= height
    assert 0 <= line["y"] and line["y"] + line["height"] <= height
    if width < 640:  # on a phone the transcript flows in the page, its line below the sticky player, not under it
        stage = page.locator(".stage").bounding_box()
        assert page.evaluate("getComputedStyle(document.getElementById('transcript')).overflowY") == "visible"
        assert line["y"] >= stage["y"] + stage["height"] - 1
        page.screenshot(path=str(screenshots / "recording-phone.png"))
    # The player stays in view while the page scrolls on.
    page.mouse.wheel(0, 1500)
    page.wait_for_timeout(300)
    box = page.locator("#player").bounding_box()
    assert 0 <= box["y"] and box["y"] + box["height"] <= height


AXE_PAGES = [
    "/",
    "/search?q=how+do+they+follow+up+with+clients",
    "/search?q=the",
    f"/recordings/{RELATIONAL}?t=66",
    "/login",
    "/no-such-page",
    "/upload",
    "/jobs",
    f"/recordings/{RELATIONAL}/edit",
    "/collections",
]


@pytest.mark.parametrize("width", [390, 1280])
def test_every_page_passes_an_accessibility_check(staff_page, live_server, width):
    """axe-core (axe-playwright-python bundles it): no serious or critical violation on any page,
    for staff (every control shown) and for a visitor."""
    from axe_playwright_python.sync_playwright import Axe

    page = staff_page
    page.set_viewport_size({"width": width, "height": 844})
    page.expected_errors = ["404", "400"]  # the missing page, and "the" (too common to search for)
    axe = Axe()
    for path in AXE_PAGES:
        page.goto(path)
        found = axe.run(page).response["violations"]
        assert [(v["id"], v["nodes"][0]["target"]) for v in found if v["impact"] in ("serious", "critical")] == [], path
    page.context.clear_cookies()
    for path in AXE_PAGES[:6]:
        page.goto(path)
        found = axe.run(page).response["violations"]
        assert [(v["id"], v["nodes"][0]["target"]) for v in found if v["impact"] in ("serious", "critical")] == [], path
