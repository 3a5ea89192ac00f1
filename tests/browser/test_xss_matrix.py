"""Hostile text in every TicketCloud view, in real Chromium.

One workspace carries hostile markup, template syntax and bidirectional controls in every
text field (see tests/apps/ticketcloud/hostile.py), and each test opens one view of it.
A view passes when no payload ran and each hostile string shows literally as the
textContent or value of the element that displays it. No payload ran when
`window.__xss` is unset in the page and in every frame, and no element carries an
inline handler.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Dialog,
    FilePayload,
    FrameLocator,
    Locator,
    Page,
    expect,
)

from tests.apps.ticketcloud.hostile import (
    AGENT_NAME,
    BODY,
    CATEGORY_NAME,
    COMMENT,
    CUSTOMER_NAME,
    EMAIL_LOCAL,
    FILE_CONTENT,
    FORM_FILENAME,
    IMG,
    MAIL_CC_NAME,
    MAIL_SENDER_NAME,
    MAIL_SUBJECT,
    MAIL_TEXT,
    MAILBOX_FOLDER,
    MAILBOX_NAME,
    NOTE,
    QUARANTINE_ERROR,
    QUARANTINED_SUBJECT,
    REPLY,
    REPLY_FILENAME,
    RULE_NAME,
    SKIPPED_FILENAME,
    STORED_MAIL_FILES,
    SUBJECT,
    SVG,
    TAG,
    TEAM_NAME,
    TEMPLATE,
    TEMPLATE_SUBJECT,
    TEMPLATE_TEXT,
    HostileWorkspace,
    api_client,
    seed_hostile_workspace,
)
from tests.browser.conftest import VIEWPORT
from tests.browser.desktop import (
    open_window,
    taskbar_button,
    title_bar,
    wait_for_app_page,
    window,
    window_ids,
)
from tests.support import Factory, PortalServer, UserInfo

pytestmark = pytest.mark.browser

# Every element that an injected payload would have created or armed.
INJECTED = ("[onerror], [onload], img[src='x'], "
            "script:not([src]):not([type='application/json'])")
# Mail HTML is sanitized, not escaped, so its sandboxed frame may keep a harmless
# <img src=x>; the frame's Content-Security-Policy blocks the load.
INJECTED_IN_MAIL_HTML = "[onerror], [onload], script"
# The ticket window's mark for an empty history value (STRINGS.emptyValue).
NO_VALUE = "\u2013"
# For the text below `root` that starts with `name`: the right edge of the name, and the
# left edge of each non-space character after it up to the end of `marker`. The edges
# increase when the text after the name is laid out left to right after it.
CHARACTER_EDGES = """(root, [name, marker]) => {
  const text = root.textContent;
  const nameStart = text.indexOf(name);
  const tailEnd = text.indexOf(marker, nameStart + name.length) + marker.length;
  if (nameStart === -1 || tailEnd < marker.length) return null;
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  let offset = 0;
  let nameRight = -Infinity;
  const lefts = [];
  while (walker.nextNode()) {
    const node = walker.currentNode;
    for (let index = 0; index < node.data.length; index += 1, offset += 1) {
      if (offset < nameStart || offset >= tailEnd || node.data[index] === " ") continue;
      const range = document.createRange();
      range.setStart(node, index);
      range.setEnd(node, index + 1);
      const box = range.getBoundingClientRect();
      if (box.width === 0) continue;
      if (offset < nameStart + name.length) nameRight = Math.max(nameRight, box.right);
      else lefts.push(box.left);
    }
  }
  return { nameRight, lefts };
}"""


@pytest.fixture(scope="module")
def workspace(server: PortalServer, factory: Factory) -> HostileWorkspace:
    return seed_hostile_workspace(server, factory)


@pytest.fixture(autouse=True)
def no_saved_layouts(factory: Factory, workspace: HostileWorkspace) -> None:
    """Forget the desktops that earlier tests saved, so that a desktop opens empty."""
    factory.execute("DELETE FROM portal_desktop_layout WHERE user_id IN (:admin, :agent)",
                    admin=workspace.admin.id, agent=workspace.agent.id)


@pytest.fixture
def visitor_page(server: PortalServer, browser: Browser) -> Iterator[Page]:
    """A page in a fresh browser context without sign-in."""
    context: BrowserContext = browser.new_context(viewport=VIEWPORT, base_url=server.base_url)
    yield context.new_page()
    context.close()


def text_of(locator: Locator) -> str:
    text: str = locator.evaluate("node => node.textContent")
    return text


def texts_of(locator: Locator) -> list[str]:
    texts: list[str] = locator.evaluate_all("nodes => nodes.map(node => node.textContent)")
    return texts


def selected_text(select: Locator) -> str:
    text: str = select.evaluate("node => node.selectedOptions[0]?.textContent ?? ''")
    return text


def assert_no_script_ran(page: Page) -> None:
    """Check that no payload ran or armed a handler in the page or any of its frames."""
    for frame in page.frames:
        assert frame.evaluate("() => window.__xss") is None, frame.url
        injected = INJECTED_IN_MAIL_HTML if frame.url == "about:srcdoc" else INJECTED
        assert frame.locator(injected).count() == 0, frame.url


def assert_after_name(locator: Locator, name: str, marker: str) -> None:
    """Check that the text after `name` below `locator`, up to `marker`, is laid out left
    to right after the name, as its English words read, whatever the name contains."""
    found: dict[str, Any] | None = locator.evaluate(CHARACTER_EDGES, [name, marker])
    assert found is not None, f"no {marker!r} after {name!r}"
    lefts: list[float] = found["lefts"]
    assert len(lefts) > 1
    assert lefts == sorted(lefts), lefts
    assert len(set(lefts)) == len(lefts), lefts
    assert lefts[0] >= found["nameRight"] - 1, (found["nameRight"], lefts)


def app_frame(win: Locator) -> FrameLocator:
    return win.frame_locator("iframe.mp-window-frame")


def open_queue(page: Page, view: str) -> FrameLocator:
    queue = open_window(page, "ticketcloud", "queue")
    wait_for_app_page(page, queue, "[data-view='mine']")
    frame = app_frame(queue)
    frame.locator(f"[data-view='{view}']").click()
    expect(frame.locator(f"[data-view='{view}']")).to_have_attribute("aria-pressed", "true")
    return frame


def ticket_window(page: Page, number: int) -> tuple[Locator, FrameLocator]:
    """Return the open ticket window and its frame once it shows ticket `number`."""
    win = page.locator(".mp-window[data-window-type='ticket']")
    expect(win).to_have_count(1)
    frame = app_frame(win)
    expect(frame.locator("#number")).to_have_text(f"#{number}")
    return win, frame


def assert_window_title(page: Page, win: Locator, title: str) -> None:
    """Check the title bar, the taskbar button and the frame's title show `title`."""
    expect(title_bar(win)).to_have_text(title)
    assert text_of(title_bar(win)) == title
    window_id = win.get_attribute("data-window-id")
    assert window_id is not None
    button = taskbar_button(page, window_id)
    assert text_of(button.locator(".mp-taskbar-title")) == title
    assert button.get_attribute("title") == title
    assert win.locator("iframe.mp-window-frame").get_attribute("title") == title


def test_queue_shows_hostile_fields(open_desktop: Callable[..., Page],
                                    workspace: HostileWorkspace) -> None:
    page = open_desktop(workspace.agent)
    queue = open_queue(page, "solved")
    row = queue.locator(f"tr[data-number='{workspace.number}']")
    expect(row).to_have_count(1)
    expect(queue.locator("#ratings")).to_be_visible()

    assert text_of(row.locator(".tc-col-subject")) == SUBJECT
    assert row.locator(".tc-col-subject").get_attribute("title") == SUBJECT
    assert text_of(row.locator(".tc-col-requester")) == CUSTOMER_NAME
    assert text_of(row.locator(".tc-col-assignee")) == AGENT_NAME
    assert texts_of(queue.locator("#ratings-agents li")) == [
        f"{AGENT_NAME}: 4.00 average from 1 ratings"]
    assert texts_of(queue.locator("#ratings-teams li")) == [
        f"{TEAM_NAME}: 4.00 average from 1 ratings"]
    assert_no_script_ran(page)


def test_ticket_window_shows_hostile_fields(open_desktop: Callable[..., Page],
                                            workspace: HostileWorkspace) -> None:
    number = workspace.number
    page = open_desktop(workspace.agent)
    queue = open_queue(page, "solved")
    queue.locator(f"tr[data-number='{number}']").click()
    win, frame = ticket_window(page, number)
    expect(frame.locator(".tc-message")).to_have_count(3)
    expect(frame.locator("#history li")).not_to_have_count(0)

    assert_window_title(page, win, f"#{number} {SUBJECT}")
    assert text_of(frame.locator("#subject")) == SUBJECT
    assert text_of(frame.locator("#requester")) == \
        f"From {CUSTOMER_NAME} <{workspace.customer.email}>"
    assert texts_of(frame.locator(".tc-message-body")) == [BODY, REPLY, NOTE]
    assert texts_of(frame.locator(".tc-message-author")) == [CUSTOMER_NAME, AGENT_NAME, AGENT_NAME]
    size = len(FILE_CONTENT)
    links = frame.locator(".tc-attachments a")
    assert texts_of(links)[:2] == [f"{FORM_FILENAME} ({size} bytes)",
                                   f"{REPLY_FILENAME} ({size} bytes)"]
    for href in links.evaluate_all("nodes => nodes.map(node => node.href)"):
        assert href.startswith(page.url.rstrip("/") + "/apps/ticketcloud/api/v1/attachments/")
    assert selected_text(frame.locator("#category-control")) == CATEGORY_NAME
    assert selected_text(frame.locator("#team-control")) == TEAM_NAME
    assert selected_text(frame.locator("#assignee-control")) == AGENT_NAME
    history = texts_of(frame.locator("#history li > div"))
    assert f"Team: {NO_VALUE} → {TEAM_NAME}" in history
    assert f"Assignee: {NO_VALUE} → {AGENT_NAME}" in history
    actors = texts_of(frame.locator("#history li > small:first-of-type"))
    assert any(actor.startswith(f"rule “{RULE_NAME}” · ") for actor in actors)

    frame.locator("#tags-control").fill(TAG)
    frame.locator("#save-tags").click()

    expect(frame.locator("#status")).to_have_attribute("data-kind", "error")
    assert TAG in text_of(frame.locator("#status"))
    assert_no_script_ran(page)


def test_rules_window_shows_hostile_fields(open_desktop: Callable[..., Page],
                                           workspace: HostileWorkspace) -> None:
    page = open_desktop(workspace.admin)
    queue = open_window(page, "ticketcloud", "queue")
    wait_for_app_page(page, queue, "#open-rules")
    app_frame(queue).locator("#open-rules").click()
    rules = app_frame(page.locator(".mp-window[data-window-type='admin_rules']"))
    expect(rules.locator(".tc-rule-name")).to_have_count(1)

    assert texts_of(rules.locator(".tc-rule-name")) == [RULE_NAME]
    rules.get_by_role("button", name="Edit").click()
    expect(rules.locator("#rule-name")).to_have_value(RULE_NAME)
    values = rules.locator("#rule-conditions input")
    assert values.evaluate_all("nodes => nodes.map(node => node.value)") == [
        IMG, f"{SVG}, {TEMPLATE}"]
    pickers = rules.locator("#rule-actions select[aria-label='Value']")
    assert [selected_text(pickers.nth(index)) for index in range(3)] == [
        TEAM_NAME, CATEGORY_NAME, AGENT_NAME]

    rules.locator("#sample-subject").fill(SUBJECT)
    rules.locator("#sample-body").fill(BODY)
    rules.locator("#sample-sender").fill("carla@customer.example")
    rules.get_by_role("button", name="Run").click()
    result = rules.locator("#dry-run-result li")
    expect(result).to_have_count(2)
    assert texts_of(result) == [
        f"Fires: {RULE_NAME}",
        f"Result: category = {CATEGORY_NAME}, team = {TEAM_NAME}, assignee = {AGENT_NAME}"]

    dialogs: list[str] = []

    def dismiss(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    rules.get_by_role("button", name="Delete").click()
    expect(rules.locator(".tc-rule-name")).to_have_count(1)
    assert dialogs == [f"Delete the rule “{RULE_NAME}”?"]
    assert_no_script_ran(page)


def test_assigned_toast_shows_hostile_subject(server: PortalServer,
                                              open_desktop: Callable[..., Page],
                                              workspace: HostileWorkspace) -> None:
    page = open_desktop(workspace.agent)
    with api_client(server, workspace.agent_token) as api:
        created = api.post("/tickets", json={
            "subject": SUBJECT, "body": BODY, "requester_email": "carla@customer.example",
            "requester_name": CUSTOMER_NAME})
    assert created.status_code == 201, created.text
    number = created.json()["number"]
    toast = page.locator(".mp-toast")
    expect(toast).to_have_count(1)

    assert text_of(toast.locator(".mp-toast-title")) == f"Ticket #{number} assigned to you"
    assert text_of(toast.locator(".mp-toast-body")) == SUBJECT
    toast.locator(".mp-toast-open").click()
    win, _ = ticket_window(page, number)
    assert_window_title(page, win, f"#{number} {SUBJECT}")
    assert_no_script_ran(page)


def test_public_form_confirmation_shows_text(visitor_page: Page,
                                             workspace: HostileWorkspace) -> None:
    page = visitor_page
    email = f"{EMAIL_LOCAL}@customer.example"
    page.goto(f"{workspace.public_root}/new")
    assert selected_text(page.locator("#category")) != CATEGORY_NAME
    page.locator("#category").select_option(str(workspace.category_id))
    assert selected_text(page.locator("#category")) == CATEGORY_NAME
    page.locator("#name").fill(CUSTOMER_NAME)
    page.locator("#email").fill(email)
    page.locator("#subject").fill(SUBJECT)
    page.locator("#message").fill(BODY)
    upload: FilePayload = {"name": FORM_FILENAME, "mimeType": "text/html",
                           "buffer": FILE_CONTENT}
    page.locator("#attachments").set_input_files(files=[upload])

    page.get_by_role("button", name="Send request").click()

    page.wait_for_url("**/submitted/**")
    assert texts_of(page.locator(".summary dd")) == [
        CUSTOMER_NAME, email, SUBJECT, BODY, f"{FORM_FILENAME} ({len(FILE_CONTENT)} bytes)"]
    assert_no_script_ran(page)


def sign_in_customer(page: Page, customer: UserInfo) -> None:
    page.goto("/login")
    page.fill("#workspace", customer.tenant.slug)
    page.fill("#email", customer.email)
    page.fill("#password", customer.password)
    page.click("button[type=submit]")
    expect(page.get_by_text(f"Signed in as {CUSTOMER_NAME}")).to_be_visible()


def test_customer_pages_show_text(visitor_page: Page, workspace: HostileWorkspace) -> None:
    page = visitor_page
    number = workspace.number
    signed_in_line = f"Signed in as {CUSTOMER_NAME} ({workspace.customer.email})."
    sign_in_customer(page, workspace.customer)
    assert text_of(page.locator("main p").first) == signed_in_line
    assert_no_script_ran(page)

    page.goto("/apps/ticketcloud/my")
    assert text_of(page.locator(".signed-in")) == signed_in_line
    assert texts_of(page.locator(".tickets a")) == [SUBJECT]
    assert_no_script_ran(page)

    page.goto(f"/apps/ticketcloud/my/{number}")
    title = f"Ticket #{number}: {SUBJECT}"
    assert text_of(page.locator("h1")) == title
    assert page.title() == f"{title} · Support"
    assert texts_of(page.locator(".message .body")) == [BODY, REPLY]
    assert texts_of(page.locator(".message .author")) == [CUSTOMER_NAME, AGENT_NAME]
    assert texts_of(page.locator(".files a")) == [FORM_FILENAME, REPLY_FILENAME]
    assert f"Category: {CATEGORY_NAME}" in texts_of(page.locator("main p"))
    assert NOTE not in text_of(page.locator("body"))
    assert_no_script_ran(page)

    page.goto(f"/apps/ticketcloud/my/{number}/rate")
    expect(page.locator("#comment")).to_have_value(COMMENT)
    assert f"“{SUBJECT}”" in text_of(page.locator("main > p").first)
    assert_no_script_ran(page)


def test_rating_page_shows_subject(visitor_page: Page, workspace: HostileWorkspace) -> None:
    page = visitor_page

    page.goto(workspace.rating_path)

    assert text_of(page.locator("main > p").first) == \
        f"How satisfied are you with the answer to “{SUBJECT}”?"
    assert_no_script_ran(page)



def test_attachment_size_follows_hostile_name(open_desktop: Callable[..., Page],
                                              workspace: HostileWorkspace) -> None:
    number = workspace.number
    page = open_desktop(workspace.agent)
    queue = open_queue(page, "solved")
    queue.locator(f"tr[data-number='{number}']").click()
    _, frame = ticket_window(page, number)
    link = frame.locator(".tc-attachments a").first
    size = f"({len(FILE_CONTENT)} bytes)"

    assert text_of(link) == f"{FORM_FILENAME} {size}"
    assert_after_name(link, FORM_FILENAME, "bytes)")


def test_customer_page_size_follows_hostile_name(visitor_page: Page,
                                                 workspace: HostileWorkspace) -> None:
    page = visitor_page
    sign_in_customer(page, workspace.customer)
    page.goto(f"/apps/ticketcloud/my/{workspace.number}")
    item = page.locator(".files li").first

    assert text_of(item) == f"{FORM_FILENAME} ({len(FILE_CONTENT)} bytes)"
    assert_after_name(item, FORM_FILENAME, "bytes)")


def open_from_frame(page: Page, frame: FrameLocator, button: str,
                    window_type: str) -> FrameLocator:
    """Click `button` in `frame` and return the frame of the `window_type` window it opens."""
    frame.locator(button).click()
    win = page.locator(f".mp-window[data-window-type='{window_type}']")
    expect(win).to_have_count(1)
    return app_frame(win)


def test_teams_window_shows_hostile_fields(open_desktop: Callable[..., Page],
                                           workspace: HostileWorkspace) -> None:
    page = open_desktop(workspace.admin)
    queue = open_window(page, "ticketcloud", "queue")
    wait_for_app_page(page, queue, "#open-teams")
    teams = open_from_frame(page, app_frame(queue), "#open-teams", "admin_teams")
    team = teams.locator(f"[data-team-id='{workspace.team_id}']")
    expect(team).to_have_count(1)

    expect(team.locator("[data-field=name]")).to_have_value(TEAM_NAME)
    assert texts_of(team.locator(".tc-members li > span:first-child")) == [AGENT_NAME]
    category = teams.locator(f"[data-category-id='{workspace.category_id}'] input")
    expect(category).to_have_value(CATEGORY_NAME)
    teams.locator("#templates-form select[name=kind]").select_option("reply")
    expect(teams.locator("#templates-form [name=subject]")).to_have_value(TEMPLATE_SUBJECT)
    expect(teams.locator("#templates-form [name=text]")).to_have_value(TEMPLATE_TEXT)
    teams.locator("#templates-form [name=html]").fill(f"<p>{IMG}</p>")
    teams.locator("#template-preview-button").click()
    expect(teams.locator("#template-preview pre")).to_have_count(2)
    assert texts_of(teams.locator("#template-preview pre"))[1] == f"<p>{IMG}</p>"
    assert teams.locator("#template-preview img").count() == 0
    assert_no_script_ran(page)


def test_reports_window_shows_hostile_fields(open_desktop: Callable[..., Page],
                                             workspace: HostileWorkspace) -> None:
    page = open_desktop(workspace.admin)
    queue = open_window(page, "ticketcloud", "queue")
    wait_for_app_page(page, queue, "#open-reports")
    reports = open_from_frame(page, app_frame(queue), "#open-reports", "reports")
    agent_card = reports.locator(f"[data-agent-id='{workspace.agent.id}']")
    expect(agent_card).to_have_count(1)
    expect(reports.locator("#sla-table tr[data-kind='total']")).to_have_count(1)

    assert text_of(agent_card.locator("h3")) == AGENT_NAME
    assert text_of(reports.locator(f"[data-team-id='{workspace.team_id}'] h3")) == TEAM_NAME
    assert texts_of(agent_card.locator(".tc-comment-text")) == [COMMENT]
    assert text_of(reports.locator("#sla-table tr[data-kind='team'] th")) == TEAM_NAME
    assert text_of(reports.locator("#sla-table tr[data-kind='agent'] th")) == AGENT_NAME
    assert_no_script_ran(page)


def test_mail_ticket_shows_hostile_mail_parts(open_desktop: Callable[..., Page],
                                              server: PortalServer,
                                              workspace: HostileWorkspace) -> None:
    number = workspace.mail_number
    with api_client(server, workspace.agent_token) as api:
        mail = api.get(f"/tickets/{number}").json()["messages"][0]["mail"]
    page = open_desktop(workspace.agent)
    queue = open_queue(page, "mine")
    queue.locator(f"tr[data-number='{number}']").click()
    win, frame = ticket_window(page, number)
    message = frame.locator(".tc-message").first
    expect(message.locator(".tc-quoted-toggle")).to_have_count(1)

    assert_window_title(page, win, f"#{number} {MAIL_SUBJECT}")
    assert text_of(frame.locator("#requester")) == \
        f"From {MAIL_SENDER_NAME} <sender@customer.example>"
    assert text_of(frame.locator(".tc-participants")) == \
        f"Also in the conversation: {MAIL_CC_NAME} <cc@customer.example>"
    assert texts_of(message.locator(".tc-message-author")) == [MAIL_SENDER_NAME]
    assert text_of(message.locator(".tc-message-body")).startswith(MAIL_TEXT)
    assert texts_of(message.locator(".tc-skipped")) == [
        f"Attachment {SKIPPED_FILENAME} ({len(FILE_CONTENT)} bytes) not stored: more than "
        f"{STORED_MAIL_FILES} files. It is kept in the original email."]
    assert_after_name(message.locator(".tc-skipped"), SKIPPED_FILENAME, "bytes)")
    assert message.locator(".tc-attachments a").count() == STORED_MAIL_FILES
    message.locator(".tc-quoted-toggle").click()
    expect(message.locator(".tc-quoted")).to_be_visible()
    hidden = "\n\n".join(part for part in (mail["quoted_text"], mail["signature"]) if part)
    assert text_of(message.locator(".tc-quoted")) == hidden
    message.locator(".tc-html-toggle").click()
    expect(message.locator("iframe.tc-mail-frame")).to_have_attribute("sandbox", "")
    html = message.frame_locator("iframe.tc-mail-frame").locator("p")
    expect(html).to_contain_text("{{7*7}} ${7*7} {subject} {0}")
    assert_no_script_ran(page)


def open_system_window(page: Page, button: str) -> FrameLocator:
    """Open the Apps window, click `button` there and return the new window's frame."""
    apps = open_window(page, "system", "apps")
    before = window_ids(page)
    app_frame(apps).get_by_role("button", name=button).click()
    page.wait_for_function(
        "before => [...document.querySelectorAll('.mp-window')]"
        ".some(node => !before.includes(node.dataset.windowId))", arg=before)
    new_id = next(window_id for window_id in window_ids(page) if window_id not in before)
    return app_frame(window(page, new_id))


def test_mail_log_shows_hostile_fields(open_desktop: Callable[..., Page],
                                       workspace: HostileWorkspace) -> None:
    page = open_desktop(workspace.admin)
    log = open_system_window(page, "Mail log…")
    quarantined = log.locator(f"tr[data-mail='in-{workspace.quarantined_id}']")
    expect(quarantined).to_have_count(1)

    cells = quarantined.locator("td")
    assert text_of(cells.nth(1).locator("div").first) == QUARANTINED_SUBJECT
    assert text_of(cells.nth(2).locator(".error")) == QUARANTINE_ERROR
    subjects = texts_of(log.locator("tbody tr td:nth-child(2) > div:first-child"))
    assert MAIL_SUBJECT in subjects
    expect(quarantined.get_by_role("button", name="Replay")).to_have_count(1)
    assert_no_script_ran(page)


def test_mail_settings_show_hostile_mailbox(open_desktop: Callable[..., Page],
                                            workspace: HostileWorkspace) -> None:
    page = open_desktop(workspace.admin)
    settings = open_system_window(page, "Mail settings…")
    row = settings.locator(f"tr[data-mailbox='{workspace.mailbox_id}']")
    expect(row).to_have_count(1)

    assert text_of(row.locator("td").first.locator("div").first) == MAILBOX_NAME
    assert f"folder {MAILBOX_FOLDER} → ticketcloud" in text_of(row.locator(".description").first)
    row.get_by_role("button", name="Edit").click()
    form = settings.locator("#mailbox-form")
    expect(form.get_by_label("Name", exact=True)).to_have_value(MAILBOX_NAME)
    expect(form.get_by_label("Folder")).to_have_value(MAILBOX_FOLDER)
    assert text_of(settings.locator("#mailbox-form-title")) == f"Edit {MAILBOX_NAME}"
    assert_no_script_ran(page)
