"""The API process an ExaBGP of the lab runs (`process ... { run ...; encoder json; }`).

ExaBGP writes what it receives (one JSON message a line) to our stdin: each line is appended to
RECEIVED as it comes. What a test wants ExaBGP to send, it writes as API command lines into the FIFO
COMMANDS; they are passed on to our stdout, which ExaBGP reads. Exits when ExaBGP closes our stdin.

usage: exabgp_api.py COMMANDS RECEIVED
"""

from __future__ import annotations

import os
import sys
import threading


def relay_commands(fifo: str) -> None:
    # opened read-write: writers come and go, and a FIFO with no writer left would read as EOF
    with open(os.open(fifo, os.O_RDWR), encoding="utf-8") as commands:
        for line in commands:
            sys.stdout.write(line)
            sys.stdout.flush()


def main(fifo: str, received: str) -> None:
    threading.Thread(target=relay_commands, args=(fifo,), daemon=True).start()
    with open(received, "a", encoding="utf-8") as out:
        for line in sys.stdin:
            out.write(line)
            out.flush()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
