#!/usr/bin/env python3
"""IMAP client driver for switchyard's end-to-end tests, using only imaplib.

Logs in (LOGIN, AUTHENTICATE PLAIN or AUTHENTICATE LOGIN), over plaintext, STARTTLS or implicit
TLS, optionally from a chosen source address, examines INBOX and prints one
JSON object: {"ok": true, "subject": "..."} or {"ok": false, "stage": ...,
"error": "..."}. Exit status 0 on success, 1 on a protocol/login failure,
2 on a usage error.

With --hold SECONDS (the console test) it does not log out: after that
line it sends NOOP every half second until the server ends the session,
and prints {"closed": true, "error": "..."} (exit status 0). It gives up
after SECONDS ({"closed": false}, exit status 1), so that it never
outlives the test.
"""

import argparse
import email
import imaplib
import json
import socket
import ssl
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--auth", choices=["login", "plain", "sasl-login"], default="login")
    ap.add_argument("--tls", choices=["plain", "starttls", "implicit"], default="plain")
    ap.add_argument("--source", default="", help="local address to bind to")
    ap.add_argument("--timeout", type=float, default=10.0)
    ap.add_argument("--hold", type=float, default=0, help="keep the session this long (NOOP)")
    a = ap.parse_args()

    if a.source:
        # imaplib connects through socket.create_connection; make every
        # connection it opens start from the requested local address.
        orig = socket.create_connection

        def bound(address, timeout=socket._GLOBAL_DEFAULT_TIMEOUT, source_address=None, **kw):
            return orig(address, timeout, (a.source, 0), **kw)

        socket.create_connection = bound

    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE

    stage = "connect"
    result = {"ok": False}
    try:
        if a.tls == "implicit":
            m = imaplib.IMAP4_SSL(a.host, a.port, ssl_context=ctx, timeout=a.timeout)
        else:
            m = imaplib.IMAP4(a.host, a.port, timeout=a.timeout)
        result["greeting"] = m.welcome.decode("utf-8", "replace")
        if a.tls == "starttls":
            stage = "starttls"
            m.starttls(ssl_context=ctx)
        stage = "auth"
        if a.auth == "login":
            m.login(a.user, a.password)
        elif a.auth == "plain":
            creds = ("\0%s\0%s" % (a.user, a.password)).encode()
            m.authenticate("PLAIN", lambda _challenge: creds)
        else:
            def answer(challenge):
                if challenge.lower().startswith(b"user"):
                    return a.user.encode()
                return a.password.encode()
            m.authenticate("LOGIN", answer)
        stage = "examine"
        typ, data = m.select("INBOX", readonly=True)
        if typ != "OK":
            raise imaplib.IMAP4.error("EXAMINE: %r" % (data,))
        stage = "fetch"
        typ, data = m.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        if typ != "OK" or not data or not isinstance(data[0], tuple):
            raise imaplib.IMAP4.error("FETCH: %r" % (data,))
        msg = email.message_from_bytes(data[0][1])
        result["subject"] = str(msg.get("Subject", ""))
        if a.hold > 0:
            result["ok"] = True
            print(json.dumps(result), flush=True)
            return hold(m, a.hold)
        stage = "logout"
        m.logout()
        result["ok"] = True
    except Exception as e:  # report every failure the same way
        result["stage"] = stage
        result["error"] = "%s: %s" % (type(e).__name__, e)
    print(json.dumps(result))
    return 0 if result["ok"] else 1


def hold(m, limit):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            typ, data = m.noop()
            if typ != "OK":
                raise imaplib.IMAP4.error("NOOP: %r" % (data,))
        except Exception as e:
            print(json.dumps({"closed": True, "error": "%s: %s" % (type(e).__name__, e)}), flush=True)
            return 0
        time.sleep(0.5)
    print(json.dumps({"closed": False}), flush=True)
    return 1


if __name__ == "__main__":
    sys.exit(main())
