#!/usr/bin/env python3
"""Holds one IMAP session open for switchyard's console test, using imaplib.

Logs in with LOGIN over plaintext, examines INBOX, prints one JSON line
{"ok": true, "subject": "..."} (or {"ok": false, "error": ...}), then sends
NOOP every half second until the server ends the session, and prints
{"closed": true, "error": "..."}. It gives up after --limit seconds
({"closed": false}), so that it never outlives the test.
"""

import argparse
import email
import imaplib
import json
import sys
import time


def say(obj):
    print(json.dumps(obj), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--limit", type=float, default=180.0)
    a = ap.parse_args()

    try:
        m = imaplib.IMAP4(a.host, a.port, timeout=20)
        m.login(a.user, a.password)
        typ, data = m.select("INBOX", readonly=True)
        if typ != "OK":
            raise imaplib.IMAP4.error("EXAMINE: %r" % (data,))
        typ, data = m.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        if typ != "OK" or not data or not isinstance(data[0], tuple):
            raise imaplib.IMAP4.error("FETCH: %r" % (data,))
        subject = str(email.message_from_bytes(data[0][1]).get("Subject", ""))
    except Exception as e:
        say({"ok": False, "error": "%s: %s" % (type(e).__name__, e)})
        return 1
    say({"ok": True, "subject": subject})

    deadline = time.monotonic() + a.limit
    while time.monotonic() < deadline:
        try:
            typ, data = m.noop()
            if typ != "OK":
                raise imaplib.IMAP4.error("NOOP: %r" % (data,))
        except Exception as e:
            say({"closed": True, "error": "%s: %s" % (type(e).__name__, e)})
            return 0
        time.sleep(0.5)
    say({"closed": False})
    return 1


if __name__ == "__main__":
    sys.exit(main())
