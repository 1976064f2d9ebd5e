"""`parley chat` end to end: the stack of dialog_stories.py (nats-server, parley-nlu with the
shipped SNIPS model, parley-qa, parley-dialog, gateway on free ports), then conversations piped
through the parley-chat binary on stdin, as a user would type them:

1. a new session: small talk, a booking form interrupted by a second flow (a context opens),
   /contexts, /switch back to the booking, the answer goes to the booking; EOF ends the stream
   (half-close, status OK, exit 0);
2. a second process continues the same session with --session: the confirmation, the resume of
   the interrupted context, --nlu lines, /history shows the first process's turns, /quit;
3. another user's --session is refused (NOT_FOUND, exit 1, the status printed);
4. parley-dialog stopped: the chat prints the non-OK status and exits 1.
Environment: as dialog_stories.py, plus PL_CHAT (the parley-chat binary).
"""
import os
import re
import signal
import subprocess

import dialog_stories as ds
import gwtest as g
from gwtest import check


def chat(stack, lines, *args, user="chris"):
    argv = [os.environ["PL_CHAT"], "--server", "127.0.0.1:%d" % stack.port, "--user", user] + list(args)
    p = subprocess.run(argv, input="".join(l + "\n" for l in lines), capture_output=True,
                       text=True, timeout=60)
    print("---- parley chat %s (exit %d)\n%s%s" % (" ".join(args), p.returncode, p.stdout, p.stderr),
          flush=True)
    return p


def bots(out):
    return [l[5:] for l in out.splitlines() if l.startswith("bot: ")]


def main():
    stack = ds.Stack()
    # 1. a new session
    p = chat(stack, ["hello", "book a table for four in boston", "add a song to my playlist",
                     "/contexts"])
    m = re.match(r"session: ([0-9a-f]{32})\n", p.stdout)
    check(p.returncode == 0 and m, "a new session: its id printed first, exit 0 on EOF")
    sid = m.group(1)
    b = bots(p.stdout)
    check(len(b) == 3 and re.match(r"(Hi|Hello)", b[0]) and re.match(r"(What time\?|For when\?)$", b[1])
          and re.search(r"playlist", b[2]), "the replies of three turns, in order: %s" % b)
    check(re.search(r"\[context [0-9a-f]{8} created\]", p.stdout),
          "the context the playlist flow opened is shown")
    ctx = re.findall(r"^([ *]) ([0-9a-f]{32})  (\S+)", p.stdout, re.M)
    check(len(ctx) == 2 and {c[2] for c in ctx} == {"book_table", "add_song"} and
          [c[2] for c in ctx if c[0] == "*"] == ["add_song"],
          "/contexts lists the booking and the playlist contexts, the playlist one active")
    booking = [c[1] for c in ctx if c[2] == "book_table"][0]

    p = chat(stack, ["/switch " + booking[:8], "at 8 pm"], "--session", sid)
    check(p.returncode == 0 and p.stdout.startswith("session: %s\n" % sid),
          "--session continues the session (its id printed first)")
    check(re.search(r"\[context %s active; was [0-9a-f]{8}\]" % booking, p.stdout),
          "/switch PREFIX makes the booking context active")
    check(bots(p.stdout) == ["A table for four in Boston, 8 pm. Shall I book it?"],
          "the next turn answers the booking's question: %s" % bots(p.stdout))

    # 2. a second process goes on, with --nlu
    p = chat(stack, ["yes", "/history", "/quit", "never sent"], "--session", sid, "--nlu")
    b = bots(p.stdout)
    check(p.returncode == 0 and len(b) == 2 and re.search(r"table for four in Boston", b[0]) and
          re.match(r"Back to your playlist", b[1]),
          "--session in a second process: the booking is confirmed, the playlist resumes")
    check(re.search(r"\[context [0-9a-f]{8} closed\]", p.stdout) and
          re.search(r"\[context [0-9a-f]{8} resumed\]", p.stdout),
          "the closed and the resumed context are shown")
    check(re.search(r"^  nlu: \S+ [01]\.\d\d", p.stdout, re.M), "--nlu prints the intent and score")
    hist = [l for l in p.stdout.splitlines() if re.match(r"  #\d+ ", l)]
    users = [l.split("user: ", 1)[1] for l in hist if "user: " in l]
    check(users == ["hello", "book a table for four in boston", "add a song to my playlist",
                    "at 8 pm", "yes"], "/history: every turn of both processes, in order: %s" % users)
    check("never sent" not in p.stdout, "/quit ends the conversation (later lines are not sent)")

    # 3. another user's session
    p = chat(stack, ["hello"], "--session", sid, user="mallory")
    check(p.returncode == 1 and "status 5" in p.stderr and "not found" in p.stderr,
          "another user's --session: NOT_FOUND printed, exit 1")

    # 4. parley-dialog gone: a clear message and exit 1
    g.stop(stack.dialog, signal.SIGKILL)
    p = chat(stack, ["hello"])
    check(p.returncode == 1 and re.search(r"status 14 \(UNAVAILABLE\)", p.stderr),
          "parley-dialog down: the UNAVAILABLE status is printed, exit 1")
    print("all chat checks passed")


if __name__ == "__main__":
    main()
