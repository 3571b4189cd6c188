"""A minimal BGP speaker on a raw TCP socket that sends malformed UPDATEs, for the lab (run inside a
network namespace: `python -m tests.lab.bgp_speaker PEER MY_ASN ROUTER_ID KIND...`).

For each KIND it connects to PEER:179, exchanges OPEN and KEEPALIVE (the session is Established), sends
one malformed UPDATE, and reads on until a NOTIFICATION, or, once `keepalives` KEEPALIVEs came after the
UPDATE, stops (the peer kept the session). One JSON line per KIND on stdout:
{"kind": KIND, "established": bool, "notification": [code, subcode] or null, "keepalives": n}.
"""

from __future__ import annotations

import json
import socket
import struct
import sys
import time

MARKER = b"\xff" * 16
OPEN, UPDATE, NOTIFICATION, KEEPALIVE = 1, 2, 3, 4


def message(kind: int, body: bytes = b"") -> bytes:
    return MARKER + struct.pack("!HB", 19 + len(body), kind) + body


def open_message(asn: int, router_id: str, hold: int = 9) -> bytes:
    caps = bytes([1, 4, 0, 1, 0, 1])  # multiprotocol: IPv4 unicast
    caps += bytes([65, 4]) + struct.pack("!I", asn)  # 4-octet AS number
    params = bytes([2, len(caps)]) + caps
    my_as = asn if asn < 65536 else 23456  # AS_TRANS
    body = struct.pack("!BHH", 4, my_as, hold) + socket.inet_aton(router_id) + bytes([len(params)]) + params
    return message(OPEN, body)


def malformed_update(kind: str, asn: int, next_hop: str) -> bytes:
    as_path = bytes([0x40, 2, 6, 2, 1]) + struct.pack("!I", asn)  # AS_SEQUENCE [asn], 4-octet
    origin = bytes([0x40, 1, 1, 0])
    nh = bytes([0x40, 3, 4]) + socket.inet_aton(next_hop)
    total = None  # the Total Path Attribute Length field, if not the true one
    if kind == "attr-overrun":
        # the last attribute claims 200 bytes of value, past the end of the path attributes field
        attrs = origin + as_path + bytes([0x40, 3, 200]) + socket.inet_aton(next_hop)
        nlri = bytes([24, 10, 88, 1])
    elif kind == "total-attr-length":
        # the path attributes field claims 60 bytes more than the UPDATE carries
        attrs = origin + as_path + nh
        nlri = b""
        total = len(attrs) + 60
    elif kind == "truncated-nlri":
        # a /24 whose prefix stops after one of its three bytes
        attrs = origin + as_path + nh
        nlri = bytes([24, 10])
    else:
        raise SystemExit(f"unknown kind {kind!r}")
    length = len(attrs) if total is None else total
    return message(UPDATE, struct.pack("!H", 0) + struct.pack("!H", length) + attrs + nlri)


def read_message(s: socket.socket) -> tuple[int, bytes]:
    head = _read(s, 19)
    length, kind = struct.unpack("!HB", head[16:19])
    return kind, _read(s, length - 19)


def _read(s: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    return buf


def session(peer: str, asn: int, router_id: str, kind: str, deadline: float) -> dict[str, object]:
    """Retried until the session is Established: after the previous kind's reset the peer refuses or
    closes connections for its idle hold time."""
    while True:
        out = attempt(peer, asn, router_id, kind, deadline)
        if out["established"] or time.monotonic() > deadline:
            return out
        time.sleep(0.2)


def attempt(peer: str, asn: int, router_id: str, kind: str, deadline: float) -> dict[str, object]:
    out: dict[str, object] = {"kind": kind, "established": False, "notification": None}
    try:
        s = socket.create_connection((peer, 179), timeout=2)
    except OSError as e:
        return {**out, "error": str(e)}
    with s:
        s.settimeout(max(1.0, deadline - time.monotonic()))
        try:
            s.sendall(open_message(asn, router_id))
            got_open = got_keepalive = False
            while not (got_open and got_keepalive):
                t, body = read_message(s)
                if t == OPEN:
                    got_open = True
                    s.sendall(message(KEEPALIVE))
                elif t == KEEPALIVE:
                    got_keepalive = True
                elif t == NOTIFICATION:
                    return {**out, "notification": [body[0], body[1]], "error": "refused in OPEN"}
            out["established"] = True
            s.sendall(malformed_update(kind, asn, router_id))
            keepalives = out["keepalives"] = 0
            while True:
                t, body = read_message(s)
                if t == NOTIFICATION:
                    out["notification"] = [body[0], body[1]]
                    return out
                if t == KEEPALIVE:
                    s.sendall(message(KEEPALIVE))
                    keepalives = out["keepalives"] = keepalives + 1
                    if keepalives >= 2:  # two hold-time thirds later the session is still up
                        return out
        except (OSError, ConnectionError) as e:
            return {**out, "error": str(e)}


def main(argv: list[str]) -> None:
    peer, asn, router_id, *kinds = argv
    for kind in kinds:
        print(json.dumps(session(peer, int(asn), router_id, kind, time.monotonic() + 40)), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
