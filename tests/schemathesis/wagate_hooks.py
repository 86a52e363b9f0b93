"""Schemathesis hooks for fuzzing a wagate router that runs the simulator engine.

* Every session the fuzzer creates is linked through the simulator's sandbox, so the
  generated sends, number checks and group lists reach the connected-session code paths
  instead of stopping at `503 session_not_ready`.
* `not_a_server_error` is replaced by `no_unexpected_server_error`: any 5xx fails the run,
  except the contract's own `503 session_not_ready` for a session that really is not
  connected at that moment (e.g. right after the fuzzer called `logout` or `restart`).
"""

import json
import os
import re
import urllib.error
import urllib.request

import schemathesis

BASE = os.environ["WAGATE_FUZZ_BASE"]
KEY = os.environ["WAGATE_FUZZ_KEY"]
SESSION_PATH = re.compile(r"^/v1/sessions/([^/]+)")


def _call(method, path):
    request = urllib.request.Request(
        BASE + path, method=method, headers={"Authorization": f"Bearer {KEY}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, None


def _session_id(case, response):
    if case.path == "/v1/sessions" and case.method.upper() == "POST":
        try:
            return response.json().get("id")
        except ValueError:
            return None
    match = SESSION_PATH.match(case.formatted_path)
    return urllib.request.unquote(match.group(1)) if match else None


@schemathesis.hook
def after_call(context, case, response):
    """Link any session the fuzzer touched that is waiting for a QR scan."""
    if response.status_code >= 300:
        return
    session = _session_id(case, response)
    if session is None:
        return
    quoted = urllib.request.quote(session, safe="")
    status, info = _call("GET", f"/v1/sessions/{quoted}")
    if status == 200 and info and info.get("status") == "qr":
        _call("POST", f"/v1/sessions/{quoted}/sandbox/scan")


@schemathesis.check
def no_unexpected_server_error(ctx, response, case):
    """No 5xx, except `503 session_not_ready` while the session is not connected."""
    if response.status_code < 500:
        return None
    if response.status_code == 503:
        try:
            code = response.json()["error"]["code"]
        except (ValueError, KeyError, TypeError):
            code = None
        session = _session_id(case, response)
        if code == "session_not_ready" and session is not None:
            quoted = urllib.request.quote(session, safe="")
            status, info = _call("GET", f"/v1/sessions/{quoted}")
            if status == 200 and info and info.get("status") != "connected":
                return None
    raise AssertionError(
        f"Server error {response.status_code}: {response.content[:300]!r}"
    )
