"""The preview page in a real headless Chromium: a person loads it, fills a screen, presses
the footer, reaches the next screen and sees the completion.

The page is served as ``flowgateway flows preview`` serves it (the app on a loopback
port); the Flows are our ``greet.json`` and Meta's pre-approved loan template, read in
place (tests/realworld.py), each through its ``FlowEndpoint`` (tests/flowjson/player).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.emulator.server import LoopbackServer
from gateway.endpoint import next_screen
from gateway.flowjson.player_exchange import endpoint_exchange
from gateway.flowjson.player_session import FlowSession
from gateway.preview import preview_app
from tests.flowjson.player import endpoints
from tests.realworld import realworld

GREET = Path(__file__).parents[1] / "flowjson/player/greet.json"
LOAN = realworld("flowjson") / "meta_docs_pre_approved_loan.json"
WAIT = 15.0


@pytest.fixture
def serve() -> Iterator[Callable[[FlowSession], str]]:
    """Serve a session's page on a free loopback port; its URL."""
    servers: list[LoopbackServer] = []

    def start(session: FlowSession) -> str:
        server = LoopbackServer()
        server.start_thread(preview_app(session, title="preview"))
        servers.append(server)
        return f"{server.url}/"

    yield start
    for server in servers:
        server.stop_thread()


class Page:
    """The few things a person does on the page, each waiting as a person would."""

    def __init__(self, driver: Any, url: str) -> None:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        self.driver, self.by, self.url = driver, By, url
        self.wait = WebDriverWait(driver, WAIT)
        driver.get(url)
        self.wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-screen"))

    def find(self, css: str) -> Any:
        return self.driver.find_element(self.by.CSS_SELECTOR, css)

    def all(self, css: str) -> list[Any]:
        return list(self.driver.find_elements(self.by.CSS_SELECTOR, css))

    @property
    def screen(self) -> str:
        return str(self.find("body").get_attribute("data-screen"))

    @property
    def steps(self) -> int:
        return int(self.find("body").get_attribute("data-steps") or 0)

    def until(self, check: Callable[[], Any], why: str) -> None:
        self.wait.until(lambda _: check(), message=why)

    def until_screen(self, screen: str) -> None:
        self.until(lambda: self.screen == screen, f"screen {screen} (on {self.screen})")

    def press(self, css: str) -> None:
        """Click, then wait for the page to draw the answer (the step count moves, or an
        error appears)."""
        before, errors = self.steps, len(self.all(".error"))
        self.find(css).click()
        self.until(
            lambda: self.steps != before or len(self.all(".error")) != errors,
            f"an answer to {css}",
        )

    def type(self, name: str, text: str) -> None:
        box = self.find(f'[data-input="{name}"]')
        box.clear()
        box.send_keys(text)

    def enter(self, name: str) -> None:
        from selenium.webdriver.common.keys import Keys

        self.find(f'[data-input="{name}"]').send_keys(Keys.ENTER)

    def choose(self, name: str, value: str) -> None:
        """Pick an option of a Dropdown (which may run its on-select action)."""
        from selenium.webdriver.support.ui import Select

        Select(self.find(f'select[data-input="{name}"]')).select_by_value(value)

    def text(self) -> str:
        return str(self.find("#phone").text)


def test_a_person_clicks_through_to_the_completion(chrome: Any, serve: Any) -> None:
    session = FlowSession(GREET.read_bytes, exchange=endpoint_exchange(endpoints.greeter()))
    page = Page(chrome, serve(session))
    assert page.screen == "ASK"
    assert page.find("#screen-title").text == "Your name"
    assert page.find("h2").text == "Hello"  # ${data.heading} from the __example__
    assert page.find("#footer").text == "Next"

    page.press("#footer")  # the required name is empty: the client keeps the screen
    assert page.screen == "ASK"
    assert "required" in page.find('[data-field="name"] .error').text

    page.type("name", "Ann")
    page.choose("size", "l")
    page.press("#footer")  # data_exchange through the endpoint
    page.until_screen("GREET")
    assert "Hi, Ann" in page.text()  # ${screen.ASK.form.name}, across screens
    assert "VIP lounge" not in page.text()

    page.press('input[data-input="mood"][value="ok"]')  # on-select update_data
    page.until(lambda: "VIP lounge" in page.text(), "update_data shows the VIP caption")

    page.press("#back")
    page.until_screen("ASK")
    assert page.find('[data-input="name"]').get_attribute("value") == "Ann"
    page.enter("name")  # Enter in a text box presses the footer
    page.until_screen("GREET")
    page.press("#footer")  # navigate
    page.until_screen("DONE")
    page.press("#footer")  # complete
    page.until(lambda: page.find("#completion").is_displayed(), "the completion")
    assert json.loads(page.find("#response-json").text) == {
        "name": "Ann",
        "size": "l",
        "flow_token": "flow-player-token",
    }
    assert not page.find("#footer").is_displayed()
    assert "COMPLETED nfm_reply" in page.find("#transcript").text


def test_a_refused_endpoint_answer_is_shown_and_pressed_past_once_fixed(
    chrome: Any, serve: Any
) -> None:
    answers = [next_screen("GREET", {"count": 2}), None]  # broken first, then the real one
    good = endpoint_exchange(endpoints.greeter())
    broken = endpoint_exchange(endpoints.greeter(answers[0]))

    def exchange(request: dict[str, Any]) -> dict[str, Any]:
        return broken(request) if answers.pop(0) else good(request)

    page = Page(chrome, serve(FlowSession(GREET.read_bytes, exchange=exchange)))
    page.type("name", "Ann")
    page.press("#footer")
    page.until(lambda: page.find("#stopped").is_displayed(), "the finding")
    stopped = page.find("#stopped").text
    assert "The client would show an error here" in stopped
    assert "missing_field" in stopped
    assert "data.greeting" in stopped
    assert page.screen == "ASK"  # the person stays, with what they typed
    assert page.find('[data-input="name"]').get_attribute("value") == "Ann"
    page.press("#footer")  # the endpoint is fixed: press again
    page.until_screen("GREET")
    assert not page.find("#stopped").is_displayed()
    page.press("#restart")
    page.until_screen("ASK")
    assert page.steps == 0


@pytest.mark.skipif(
    not LOAN.is_file(), reason=f"the shared real-world Flow JSON is absent ({LOAN})"
)
def test_metas_loan_template_through_its_endpoint(chrome: Any, serve: Any) -> None:
    session = FlowSession(LOAN.read_text(), exchange=endpoint_exchange(endpoints.loan), init=True)
    url = serve(session)
    page = Page(chrome, url)
    assert page.screen == "LOAN"  # opened by INIT
    assert page.find("img").get_attribute("src").startswith("data:image/jpeg;base64,")
    before = page.steps
    page.choose("amount", "amount2")  # on-select data_exchange: the EMI is computed again
    page.until(lambda: page.steps > before, "the amount's data_exchange")
    page.choose("tenure", "months24")
    page.press("#footer")
    page.until_screen("DETAILS")
    page.press('input[data-input="payment_mode"][value="UPI"]')
    page.until(lambda: page.all('[data-input="upi_id"]'), "the UPI field")
    page.type("upi_id", "asha@upi")
    page.press("#footer")
    page.until_screen("SUMMARY")
    page.press("#footer")
    page.until_screen("COMPLETE")
    page.press("#footer")
    page.until(lambda: page.find("#completion").is_displayed(), "the completion")
    assert json.loads(page.find("#response-json").text)["flow_token"] == "flow-player-token"
    # Everything the page loaded came from the preview server itself.
    loaded = chrome.execute_script(
        "return performance.getEntriesByType('resource').map((e) => e.name)"
    )
    assert loaded
    assert all(name.startswith(url) for name in loaded), loaded
    problems = [e for e in chrome.get_log("browser") if e["level"] == "SEVERE"]
    assert problems == []
