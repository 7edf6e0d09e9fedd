"""moto's server, serving one request at a time.

DynamoDB transactions are serializable: of two concurrent TransactWriteItems whose conditions
conflict, one fails. moto's own `moto_server` is threaded and checks a transaction's conditions
and applies its writes without a lock, so two concurrent transactions can both pass their
`attribute_not_exists` checks (seen here: 3 of 6 concurrent creates with one e-mail succeeded).
Serving one request at a time gives the emulator the isolation the real service has, so the
tests that prove "exactly one wins" test our code, not moto's races.

Non-threaded werkzeug answers HTTP/1.0 and closes each connection, so an SDK's idle pooled
connection never blocks the next request.

Usage: python moto_serial.py HOST PORT
"""

import os
import signal
import sys

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    os.environ.setdefault("MOTO_PORT", str(port))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(host, port, app, threaded=False, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
