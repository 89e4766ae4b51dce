#!/usr/bin/env python3
"""A Core Lightning plugin for tests: holds incoming HTLCs undecided while asked to.

Start lightningd with --plugin=<this file>. RPC methods it adds:
- `holdstart`: from now on every HTLC reaching the htlc_accepted hook is held (no answer);
- `holdcount`: how many are held now;
- `holdrelease`: answers every held one with "continue" (lightningd then settles it as usual)
  and stops holding.

The plugin protocol is JSON-RPC over stdin/stdout (no pyln-client: PyPI is out of reach)."""

import json
import sys

held = []
holding = False


def send(message):
    sys.stdout.write(json.dumps(message) + "\n\n")
    sys.stdout.flush()


def reply(request, result):
    send({"jsonrpc": "2.0", "id": request["id"], "result": result})


def manifest():
    methods = [{"name": name, "usage": "", "description": description} for name, description in (
        ("holdstart", "Hold every incoming HTLC from now on."),
        ("holdcount", "How many incoming HTLCs are held."),
        ("holdrelease", "Let every held HTLC continue, and stop holding."))]
    return {"options": [], "rpcmethods": methods, "hooks": [{"name": "htlc_accepted"}], "subscriptions": [],
            "dynamic": False}


def handle(request):
    global holding
    method = request.get("method")
    if method == "getmanifest":
        reply(request, manifest())
    elif method == "init":
        reply(request, {})
    elif method == "htlc_accepted":
        if holding:
            held.append(request)
        else:
            reply(request, {"result": "continue"})
    elif method == "holdstart":
        holding = True
        reply(request, {"holding": True})
    elif method == "holdcount":
        reply(request, {"held": len(held)})
    elif method == "holdrelease":
        holding = False
        released = len(held)
        while held:
            reply(held.pop(0), {"result": "continue"})
        reply(request, {"released": released})
    elif "id" in request:
        send({"jsonrpc": "2.0", "id": request["id"], "error": {"code": -32601, "message": f"unknown method {method}"}})


def main():
    decoder = json.JSONDecoder()
    buffer = ""
    while True:
        chunk = sys.stdin.readline()
        if not chunk:
            return
        buffer += chunk
        while True:
            buffer = buffer.lstrip()
            if not buffer:
                break
            try:
                request, end = decoder.raw_decode(buffer)
            except json.JSONDecodeError:
                break
            buffer = buffer[end:]
            handle(request)


if __name__ == "__main__":
    main()
