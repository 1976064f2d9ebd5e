"""The web demo's error states and keyboard use in a real browser: Debian's Chromium, headless,
driven by Selenium (python3-selenium + chromium-driver), against nats-server, parley-asr,
parley-nlu, parley-tts (the tone-generator voice), parley-dialog and two gateways on free
127.0.0.1 ports, all stopped by PID. Checked from the page itself (window.parleyDemo, the DOM):

1. Microphone denied: a browser without --use-fake-ui-for-media-stream whose microphone
   permission for the page is "denied" (CDP Browser.setPermission, what a user's "Block"
   leaves). Start microphone shows "Microphone access was denied." saying how to allow it
   (the address bar, Allow, Start microphone again) and that the text box still works; focus
   is in the text box, and a typed request is answered.
2. Keyboard only (ActionChains key presses, no clicks, no element.send_keys): the user name
   field has focus on load; typing a name and Enter signs in; focus lands in the text box,
   visibly (:focus-visible, a 3px outline); a typed request and Enter gets its reply; while
   the reply's audio plays, Escape stops it (the player's sources stopped, "reply stopped"
   and REPLY_INTERRUPTED in the log); in the next reply Shift+Tab reaches Stop reply
   (focus visible on it) and Space stops that reply, focus going back to the text box.
3. The gateway killed mid-conversation (SIGKILL): the page says the connection closed, that it
   reconnects by itself and how to check the gateway; the gateway started again on the same
   port: the page reconnects without a sign-in, to the same session (the same contexts), the
   error goes away and a typed request is answered.
4. A gateway with API keys (gateway.api_keys_file; the key's max_calls=1) and TLS on its HTTP
   port (gateway.http_tls, a throwaway self-signed certificate; Chromium told to accept it):
   the page comes over https:// and talks over wss://. A wrong key is
   refused in the page ("Sign-in refused: the gateway did not accept the API key." with what
   to do; the sign-in form stays, focus on the key field); the right key signs in as the key's
   user; signing out and in again works (the socket gave its open-call slot back).
Environment: PL_DIALOG, PL_NLU, PL_ASR, PL_TTS (parley-tts-fake), PL_TTS_FAKE=1, PL_GATEWAY,
PL_SOURCE_DIR, PL_CHROMIUM, PL_CHROMEDRIVER.
"""
import os
import re
import signal
import subprocess
import sys
import time

import dialog_stories as ds
import gwtest as g
from gwtest import check
import web_browser as wb  # exits 77 (skip) without Chromium, chromedriver or selenium

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

KEY = "browser-key-0123456789"


class Stack:
    def __init__(self):
        _, self.nats = g.start_nats()
        ds.start_voice_workers(self.nats, 20)
        self.http = g.free_port()
        self.gw = self.start_gateway(self.http)
        keys = os.path.join(g.TMP, "keys.txt")
        with open(keys, "w") as f:
            f.write("%s carol-from-key max_calls=1\n" % KEY)
        cert, key = os.path.join(g.TMP, "cert.pem"), os.path.join(g.TMP, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                        "-out", cert, "-days", "1", "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                       check=True, capture_output=True)
        self.http_k = g.free_port()
        self.gw_k = self.start_gateway(self.http_k, {
            "PARLEY_GATEWAY_API_KEYS_FILE": keys, "PARLEY_GATEWAY_TLS_CERT": cert,
            "PARLEY_GATEWAY_TLS_KEY": key, "PARLEY_GATEWAY_HTTP_TLS": "true"})

    def start_gateway(self, http_port, env_extra=None):
        """A gateway on a fixed HTTP port (so that it can come back on it)."""
        # the default stream_timeout_ms (5 s), not less: web_browser.py says why
        env = dict(os.environ, PARLEY_GATEWAY_LOG_LEVEL="warn")
        env.update(env_extra or {})
        out = os.path.join(g.TMP, "gw-out-%d" % time.monotonic_ns())
        p = g.spawn([os.environ["PL_GATEWAY"], "--listen", "127.0.0.1:0",
                     "--http", "127.0.0.1:%d" % http_port, "--nats", self.nats],
                    "gateway-%d.log" % http_port, env=env, stdout=open(out, "wb"))
        end = time.time() + 10
        while "http_port=" not in open(out).read():
            check(time.time() < end and p.poll() is None, "gateway on :%d starts" % http_port)
            time.sleep(0.05)
        return p


def browser(fake_ui=True):
    """Headless Chromium as web_browser.py starts it; fake_ui=False leaves out
    --use-fake-ui-for-media-stream, so the page's microphone permission decides."""
    o = wb.Options()
    o.binary_location = wb.CHROMIUM
    args = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--use-fake-device-for-media-stream", "--autoplay-policy=no-user-gesture-required",
            "--window-size=1280,1100", "--ignore-certificate-errors",
            "--user-data-dir=%s" % os.path.join(g.TMP, "profile-%d" % time.monotonic_ns())]
    if fake_ui:
        args.append("--use-fake-ui-for-media-stream")
    for a in args:
        o.add_argument(a)
    d = wb.webdriver.Chrome(service=wb.Service(wb.DRIVER), options=o)
    d.set_page_load_timeout(20)
    return d


def keys(d, *k):
    ActionChains(d).send_keys(*k).perform()


def active(d):
    """The focused element: id, whether :focus-visible matches, its outline."""
    return d.execute_script(
        "const e = document.activeElement, s = getComputedStyle(e);"
        "return {id: e.id, tag: e.tagName, visible: e.matches(':focus-visible'),"
        " outline: s.outlineStyle + ' ' + s.outlineWidth};")


def check_focus(d, want, what):
    a = active(d)
    check(a["id"] == want and a["visible"] and a["outline"].startswith("solid 3px"),
          "%s: focus on #%s, visible (%s)" % (what, want, a))


def error_text(d):
    e = d.find_element(By.ID, "error")
    return e.text if e.is_displayed() else ""


def sign_in_mouse(d, url, user, api_key=""):
    d.get(url)
    wb.wait(d, lambda s: s is not None, "window.parleyDemo (app.js ran)", 10)
    d.find_element(By.ID, "user").send_keys(user)
    if api_key:
        d.find_element(By.ID, "apikey").send_keys(api_key)
    d.find_element(By.ID, "signin-button").click()


def mic_denied(stack):
    d = browser(fake_ui=False)
    try:
        url = "http://127.0.0.1:%d/" % stack.http
        d.execute_cdp_cmd("Browser.setPermission", {
            "permission": {"name": "microphone"}, "setting": "denied",
            "origin": url.rstrip("/")})
        sign_in_mouse(d, url, "erin")
        wb.wait(d, lambda s: s["connected"] and s["sessionId"], "erin signed in", 15)
        d.find_element(By.ID, "mic").click()
        wb.wait(d, lambda s: s["errors"], "an error after the microphone was denied", 10)
        text = error_text(d)
        check("Microphone access was denied." in text and "address bar" in text
              and "Allow" in text and "Start microphone again" in text,
              "mic denied: the page says how to allow the microphone (%r)" % text)
        check("text box below still works" in text, "mic denied: ... and that typing works")
        s = wb.stats(d)
        check(not s["micOn"] and d.find_element(By.ID, "mic").text == "Start microphone",
              "mic denied: the microphone stays off")
        check(active(d)["id"] == "text", "mic denied: focus in the text box (%s)" % active(d))
        keys(d, "add wonderwall to my road trip playlist", Keys.ENTER)
        bots = wb.wait_bot(d, 1, "the typed request after the denied microphone")
        check(re.search(r"Wonderwall", bots[-1]), "mic denied: typing still works (%r)" % bots[-1])
    finally:
        d.quit()


def keyboard_and_reconnect(stack, d):
    url = "http://127.0.0.1:%d/" % stack.http
    d.get(url)
    wb.wait(d, lambda s: s is not None, "window.parleyDemo (app.js ran)", 10)
    # 2. sign-in by keys alone
    check(active(d)["id"] == "user", "keyboard: the user name field has focus on load")
    keys(d, "dora", Keys.ENTER)
    wb.wait(d, lambda s: s["connected"] and s["sessionId"], "dora signed in", 15)
    check_focus(d, "text", "keyboard: after sign-in")
    keys(d, "add wonderwall to my road trip playlist", Keys.ENTER)
    wb.wait_bot(d, 1, "dora's first request")
    wb.wait(d, lambda s: s["player"]["playing"], "the reply's audio playing", 20)
    keys(d, Keys.ESCAPE)
    s = wb.wait(d, lambda s: not s["player"]["playing"] and s["player"]["stopped"] > 0,
                "Escape stopped the reply", 5)
    s = wb.wait(d, lambda s: "REPLY_INTERRUPTED" in " ".join(s["events"]),
                "REPLY_INTERRUPTED after Escape", 10)
    check("reply stopped" in " ".join(s["events"]), "keyboard: Escape stopped the reply audio "
          "(%d sources stopped), the server interrupted it" % s["player"]["stopped"])
    stopped = s["player"]["stopped"]
    keys(d, "what's the weather in paris", Keys.ENTER)
    wb.wait_bot(d, 2, "dora's second request")
    wb.wait(d, lambda s: s["player"]["playing"], "the second reply's audio playing", 20)
    wb.wait(d, lambda s: d.find_element(By.ID, "interrupt").is_enabled(), "Stop reply enabled", 2)
    # text box -> Sign out -> Stop reply
    ActionChains(d).key_down(Keys.SHIFT).send_keys(Keys.TAB).send_keys(Keys.TAB) \
        .key_up(Keys.SHIFT).perform()
    check_focus(d, "interrupt", "keyboard: Shift+Tab twice from the text box")
    keys(d, Keys.SPACE)
    s = wb.wait(d, lambda s: s["player"]["stopped"] > stopped and not s["player"]["playing"],
                "Space on Stop reply stopped the reply", 5)
    check_focus(d, "text", "keyboard: after Stop reply")
    s = wb.wait(d, lambda s: sum(c["turn_count"] for c in s["contexts"]) >= 2,
                "dora's two turns committed", 15)
    sid = s["sessionId"]
    ctx = {c["context_id"] for c in s["contexts"]}

    # 3. the gateway killed mid-conversation, then back on the same port
    stack.gw.send_signal(signal.SIGKILL)
    stack.gw.wait()
    s = wb.wait(d, lambda s: s["reconnecting"] and any("closed" in e["title"] for e in s["errors"]),
                "the page noticing the closed socket", 10)
    text = error_text(d)
    check("reconnecting by itself" in text.lower() and "make up" in text
          and d.find_element(By.ID, "error-reconnect").is_displayed(),
          "gateway gone: the page says it reconnects, how to check, Reconnect now (%r)" % text)
    check(d.find_element(By.ID, "status").text.startswith("reconnecting"),
          "gateway gone: the status says reconnecting")
    time.sleep(1.5)  # a few attempts fail meanwhile
    t0 = time.time()
    stack.gw = stack.start_gateway(stack.http)
    s = wb.wait(d, lambda s: s["connected"] and s["reconnects"] == 1, "the page reconnecting", 15)
    print("reconnected %.1f s after the gateway came back" % (time.time() - t0), flush=True)
    check(s["sessionId"] == sid, "reconnect: the same session (%s)" % s["sessionId"])
    check(not d.find_element(By.ID, "error").is_displayed()
          and d.find_element(By.ID, "status").text == "connected as dora"
          and not d.find_element(By.ID, "signin").is_displayed(),
          "reconnect: the error is gone, connected, no sign-in asked for")
    keys(d, "add wonderwall to my road trip playlist", Keys.ENTER)
    bots = wb.wait_bot(d, 3, "a request after the reconnect", 30)
    s = wb.wait(d, lambda s: sum(c["turn_count"] for c in s["contexts"]) >= 3,
                "the turn after the reconnect committed in the same session", 15)
    check(re.search(r"Wonderwall", bots[-1]) and ctx & {c["context_id"] for c in s["contexts"]},
          "reconnect: answered (%r), in the session's contexts" % bots[-1])


def say_ok(d, what):
    n = len([t for t in wb.turns(d) if t["who"] == "bot"])
    keys(d, "add wonderwall to my road trip playlist", Keys.ENTER)
    bots = wb.wait_bot(d, n + 1, what)
    check(re.search(r"Wonderwall", bots[-1]),
          "%s: a typed request answered (%r)" % (what, bots[-1]))


def api_key(stack, d):
    url = "https://127.0.0.1:%d/" % stack.http_k
    sign_in_mouse(d, url, "carol", "not-the-key-at-all")
    check(d.execute_script("return location.protocol") == "https:",
          "the keyed gateway's page over https://")
    s = wb.wait(d, lambda s: s["errors"], "an error for the wrong key", 10)
    text = error_text(d)
    check("Sign-in refused: the gateway did not accept the API key." in text
          and "invalid API key" in text and "api_keys_file" in text,
          "wrong key: the page says the key was refused and what to do (%r)" % text)
    check(not s["connected"] and d.find_element(By.ID, "signin").is_displayed()
          and active(d)["id"] == "apikey", "wrong key: signed out, focus on the key field")
    box = d.find_element(By.ID, "apikey")
    box.clear()
    box.send_keys(KEY, Keys.ENTER)
    s = wb.wait(d, lambda s: s["connected"] and s["sessionId"], "carol with the right key", 15)
    check(d.find_element(By.ID, "status").text == "connected as carol-from-key",
          "right key: signed in as the key's user (%r)" % d.find_element(By.ID, "status").text)
    check(d.execute_script("return window.parleyDemo.state.client.ws.url").startswith("wss://"),
          "right key: the socket is wss://")
    say_ok(d, "the keyed gateway over wss")
    # the key's one slot is given back when the gateway drops the old socket: after the close
    # handshake it shuts its side (the page's socket is then CLOSED) and drops the socket on the
    # page's own FIN, which reaches its one service thread before the next socket's handshake
    # and start message can. So sign in again once the old socket is CLOSED, not after a fixed
    # pause (a start that reaches the gateway before it has dropped the old socket is refused
    # RESOURCE_EXHAUSTED, as it should be, and the page shows that error instead of connecting)
    d.execute_script("window.oldSocket = window.parleyDemo.state.client.ws")
    d.find_element(By.ID, "signout").click()
    end = time.time() + 15
    while time.time() < end and d.execute_script("return window.oldSocket.readyState") != 3:
        time.sleep(0.05)
    check(d.execute_script("return window.oldSocket.readyState") == 3,
          "sign out: the old socket closed (readyState %s)"
          % d.execute_script("return window.oldSocket.readyState"))
    d.find_element(By.ID, "signin-button").click()
    wb.wait(d, lambda s: s["connected"] and s["sessionId"], "carol signed in again (max_calls=1)",
            15)
    check(not d.find_element(By.ID, "error").is_displayed(), "right key: signed in again")


def main():
    stack = Stack()
    mic_denied(stack)
    d = browser()
    try:
        keyboard_and_reconnect(stack, d)
        api_key(stack, d)
    finally:
        d.quit()
    print("OK", flush=True)


if __name__ == "__main__":
    main()
