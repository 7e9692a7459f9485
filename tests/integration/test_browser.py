"""Integration: people play in a real browser (headless Chromium) against the real daemon.

Every browser step runs in a thread (Selenium blocks); each wait is bounded.
Screenshots of every page go to the test's temporary folder
(``_trial_temp/.../screenshots``), and no page may log a SEVERE console entry.
"""

import os
import time

from twisted.internet import defer

from tests.support.browser import Browser, hook, in_thread, missing_requirements, until
from tests.support.process import DaemonTestCase

ROCK, PAPER, SCISSORS = 0, 1, 2
MATCH_TIME = 90.0  # seconds: the longest a whole best-of-1 match may take here


class BrowserTestCase(DaemonTestCase):
    """A daemon with fast ticks, and browsers that are quit (and checked for console errors) afterwards."""

    timeout = 240
    daemon_args = ("--tick", "0.3", "--reconnect-grace", "10")

    @defer.inlineCallbacks
    def setUp(self):
        problem = missing_requirements()
        if problem:
            raise RuntimeError(f"browser tests need a browser: {problem}")
        yield super().setUp()
        self.screenshots = os.path.abspath(os.path.join(self.mktemp(), "screenshots"))
        self.browsers = []

    def browser(self, size=(1280, 900)):
        """A new browser (blocking: call it in a thread); quit at cleanup, after its console is checked."""
        browser = Browser(self.screenshots, size)
        self.browsers.append(browser)
        self.addCleanup(in_thread, browser.quit)
        return browser

    def assert_no_console_errors(self):
        for browser in self.browsers:
            self.assertEqual(browser.console_errors(), [])

    # -- steps a person takes (blocking) ---------------------------------------------

    def open_lobby(self, browser, name):
        browser.open(f"{self.daemon.url}/")
        browser.type(hook("username"), name)

    def create_game(self, browser, name):
        """Open the lobby, type a name, one click on create-game; returns the game id."""
        self.open_lobby(browser, name)
        browser.click(hook("create-game"))
        browser.wait_attribute(hook("connection"), "data-status", "connected")
        return until(lambda: browser.text("#match-id"))

    def join_game(self, browser, name, game_id):
        self.open_lobby(browser, name)
        browser.click(f'{hook("game-row", game_id=game_id)} {hook("join")}')
        browser.wait_attribute(hook("connection"), "data-status", "connected")

    def watch_game(self, browser, game_id):
        browser.open(f"{self.daemon.url}/")
        browser.click(f'{hook("game-row", game_id=game_id)} {hook("watch")}')
        browser.wait_attribute(hook("connection"), "data-status", "connected")

    def pick_and_ready(self, browser, fighter):
        browser.click(hook("fighter", fighter=fighter))
        browser.wait_attribute(hook("fighter", fighter=fighter), "aria-checked", "true")
        browser.click(hook("ready"))

    def play_until_over(self, browser, weapon):
        """Click ``weapon`` whenever the weapon window is open, until the game is over; returns the winner."""
        deadline = time.monotonic() + MATCH_TIME
        selector = hook("weapon", weapon=weapon)
        while time.monotonic() < deadline:
            if browser.attribute(hook("game-state"), "data-state") == "over":
                return browser.text(hook("winner"))
            buttons = browser.find_all(selector)
            try:
                if buttons and buttons[0].is_displayed() and buttons[0].is_enabled() \
                        and buttons[0].get_attribute("aria-pressed") != "true":
                    buttons[0].click()
            except Exception:
                pass  # the button changed under the click (the window closed): try again
            time.sleep(0.05)
        raise TimeoutError(f"the match was not over within {MATCH_TIME} s")


class TwoPlayersAndASpectatorTests(BrowserTestCase):
    """Two browsers play a whole match by clicking; a third watches and sees the same."""

    @defer.inlineCallbacks
    def test_play_and_watch(self):
        """Alice (rock) beats Bob (scissors); all three pages end on the same winner and health."""
        alice, bob, carol = yield defer.gatherResults([in_thread(self.browser) for _ in range(3)])
        game_id = yield in_thread(self.create_game, alice, "Alice")
        self.assertEqual((yield in_thread(alice.attribute, hook("game-state"), "data-state")), "waiting")
        yield in_thread(alice.screenshot, "1-host-waiting")
        yield in_thread(self.join_game, bob, "Bob", game_id)
        yield in_thread(self.watch_game, carol, game_id)
        yield in_thread(bob.screenshot, "2-guest-selecting")
        # A watcher has no controls.
        self.assertFalse((yield in_thread(carol.visible, hook("fighter"))))
        yield defer.gatherResults([in_thread(self.pick_and_ready, alice, "aru"),
                                   in_thread(self.pick_and_ready, bob, "mai")])
        yield in_thread(alice.wait_attribute, hook("game-state"), "data-state", "playing")
        self.assertFalse((yield in_thread(carol.visible, hook("weapon"))))
        winners = yield defer.gatherResults([in_thread(self.play_until_over, alice, ROCK),
                                             in_thread(self.play_until_over, bob, SCISSORS)])
        self.assertEqual(winners, ["Alice", "Alice"])
        watched = yield in_thread(lambda: (carol.wait_attribute(hook("game-state"), "data-state", "over"),
                                           carol.text(hook("winner")))[1])
        self.assertEqual(watched, "Alice")
        for browser in (alice, bob, carol):
            health = yield in_thread(lambda b=browser: (b.attribute(hook("health", player=1), "data-value"),
                                                        b.attribute(hook("health", player=2), "data-value")))
            self.assertEqual(health[1], "0")
            self.assertNotEqual(health[0], "0")
        yield in_thread(alice.screenshot, "3-host-won")
        yield in_thread(bob.screenshot, "4-guest-lost")
        yield in_thread(carol.screenshot, "5-spectator")
        # The page's own URL never carried a token.
        for browser in (alice, bob, carol):
            url = yield in_thread(lambda b=browser: b.driver.current_url)
            self.assertNotIn("token", url)
            self.assertRegex(url, r"#(game|watch)=")
        self.assert_no_console_errors()


class ReconnectionTests(BrowserTestCase):
    """A reload in the middle of a match takes the seat back and the match finishes."""

    @defer.inlineCallbacks
    def test_reload_mid_match(self):
        """Bob reloads: the page shows reconnecting until the server takes him back, then plays on."""
        alice, bob = yield defer.gatherResults([in_thread(self.browser) for _ in range(2)])
        game_id = yield in_thread(self.create_game, alice, "Alice")
        yield in_thread(self.join_game, bob, "Bob", game_id)
        yield defer.gatherResults([in_thread(self.pick_and_ready, alice, "hog"),
                                   in_thread(self.pick_and_ready, bob, "man")])
        yield in_thread(bob.wait_attribute, hook("game-state"), "data-state", "playing")
        seat_before = yield in_thread(lambda: bob.session_storage()["rpsa.seat"])

        def reload():
            bob.record_attribute(hook("connection"), "data-status")
            bob.driver.refresh()
            bob.wait_attribute(hook("connection"), "data-status", "connected")
            return bob.recorded()

        statuses = yield in_thread(reload)
        # What a person saw: "reconnecting" until the server took the seat back.
        self.assertEqual(statuses[-2:], ["reconnecting", "connected"])
        self.assertEqual((yield in_thread(lambda: bob.session_storage()["rpsa.seat"])), seat_before)
        self.assertEqual((yield in_thread(bob.attribute, hook("game-state"), "data-state")), "playing")
        yield in_thread(bob.screenshot, "reload-resumed")
        winners = yield defer.gatherResults([in_thread(self.play_until_over, alice, PAPER),
                                             in_thread(self.play_until_over, bob, SCISSORS)])
        self.assertEqual(winners, ["Bob", "Bob"])
        yield in_thread(bob.screenshot, "reload-finished")
        # The seat is forgotten once the match is over.
        self.assertNotIn("rpsa.seat", (yield in_thread(bob.session_storage)))
        self.assert_no_console_errors()


class BotTests(BrowserTestCase):
    """One person alone plays the computer to the end."""

    @defer.inlineCallbacks
    def test_play_against_the_computer(self):
        """play-bot, pick, ready: the match starts at once and ends with a winner, the loser at 0."""
        person = yield in_thread(self.browser, (390, 844))  # a phone
        yield in_thread(self.open_lobby, person, "Dana")
        yield in_thread(person.screenshot, "phone-lobby")
        yield in_thread(person.click, hook("play-bot"))
        yield in_thread(person.wait_attribute, hook("connection"), "data-status", "connected")
        yield in_thread(self.pick_and_ready, person, "rad")
        yield in_thread(person.wait_attribute, hook("game-state"), "data-state", "playing", 10)
        yield in_thread(person.screenshot, "phone-match")
        winner = yield in_thread(self.play_until_over, person, PAPER)
        self.assertIn(winner, ("Dana", "Computer (cunning)"))
        values = yield in_thread(lambda: [person.attribute(hook("health", player=n), "data-value") for n in (1, 2)])
        loser = 2 if winner == "Dana" else 1
        self.assertEqual(values[loser - 1], "0")
        yield in_thread(person.screenshot, "phone-over")
        self.assert_no_console_errors()


class ConsoleTests(BrowserTestCase):
    """The operator console lists the games and removes one."""

    @defer.inlineCallbacks
    def test_list_and_remove(self):
        """Two games: the console lists both, removes one; the API agrees."""
        for game_id in ("keep-me", "remove-me"):
            status, _ = yield self.daemon.request("POST", "/api/games",
                                                  {"user_id": f"host-{game_id}", "username": "Host", "game_id": game_id})
            self.assertEqual(status, 201)
        operator = yield in_thread(self.browser)

        def remove():
            operator.open(f"{self.daemon.url}/console")
            for game_id in ("keep-me", "remove-me"):
                operator.find(hook("console-game", game_id=game_id))
            operator.wait(lambda d: operator.text(hook("figure", name="games")).startswith("2"))
            operator.screenshot("console")
            operator.click(f'{hook("console-game", game_id="remove-me")} {hook("remove-game")}')
            operator.wait(lambda d: not operator.find_all(hook("console-game", game_id="remove-me")))
            operator.screenshot("console-after-remove")
            return [row.get_attribute("data-game-id") for row in operator.find_all(hook("console-game"))]

        self.assertEqual((yield in_thread(remove)), ["keep-me"])
        status, _ = yield self.daemon.request("GET", "/api/games/remove-me")
        self.assertEqual(status, 404)
        status, _ = yield self.daemon.request("GET", "/api/games/keep-me")
        self.assertEqual(status, 200)
        self.assert_no_console_errors()


class KeyedServerTestCase(BrowserTestCase):
    """A daemon with an API key (written to the test's folder before it starts)."""

    key = "browser-test-key"
    extra_args = ()

    def make_daemon(self):
        path = os.path.abspath(self.mktemp())
        with open(path, "w") as f:
            f.write(self.key + "\n")
        self.daemon_args = (*BrowserTestCase.daemon_args, "--api-key-file", path, *self.extra_args)
        return super().make_daemon()


class ClosedLobbyTests(KeyedServerTestCase):
    """With a key and without --public-lobby, the page says the lobby is closed; the console asks for the key."""

    @defer.inlineCallbacks
    def test_closed_lobby_and_console_key(self):
        status, _ = yield self.daemon.request("POST", "/api/games", {"user_id": "h", "username": "Host", "game_id": "g1"},
                                              headers={"Authorization": f"Bearer {self.key}"})
        self.assertEqual(status, 201)
        visitor, operator = yield defer.gatherResults([in_thread(self.browser), in_thread(self.browser)])

        def visit():
            visitor.open(f"{self.daemon.url}/")
            visitor.wait(lambda d: visitor.visible("#lobby-closed"))
            return visitor.visible(hook("create-game")), visitor.text("#lobby-closed")

        creatable, text = yield in_thread(visit)
        self.assertFalse(creatable)
        self.assertIn("The lobby is closed", text)
        yield in_thread(visitor.screenshot, "lobby-closed")

        def operate():
            operator.open(f"{self.daemon.url}/console")
            operator.wait(lambda d: "needs its API key" in operator.text("#key-note"))
            operator.type(hook("api-key"), self.key)
            operator.click(hook("use-key"))
            operator.find(hook("console-game", game_id="g1"))
            operator.screenshot("console-with-key")
            return operator.session_storage().get("rpsa.apiKey"), operator.driver.current_url

        stored, url = yield in_thread(operate)
        self.assertEqual(stored, self.key)
        self.assertNotIn(self.key, url)
        self.assertNotIn(self.key, self.daemon.log)
        # Neither page called what the server would refuse (a 401 would be a console error).
        self.assert_no_console_errors()


class PublicLobbyTests(KeyedServerTestCase):
    """With a key and --public-lobby, a visitor plays against the computer without the key."""

    extra_args = ("--public-lobby",)

    @defer.inlineCallbacks
    def test_visitor_plays(self):
        visitor = yield in_thread(self.browser)

        def play():
            self.open_lobby(visitor, "Eve")
            visitor.click(hook("play-bot"))
            visitor.wait_attribute(hook("connection"), "data-status", "connected")
            self.pick_and_ready(visitor, "aru")
            visitor.wait_attribute(hook("game-state"), "data-state", "playing")
            return self.play_until_over(visitor, ROCK)

        winner = yield in_thread(play)
        self.assertIn(winner, ("Eve", "Computer (cunning)"))
        self.assert_no_console_errors()
