"""moto's server, serving one request at a time.

DynamoDB transactions are serializable: of two concurrent TransactWriteItems whose conditions
conflict, one fails. moto's own `moto_server` is threaded and checks a transaction's conditions
and applies its writes without a lock, so two concurrent transactions can both pass their
`attribute_not_exists` checks (seen here: 3 of 6 concurrent creates with one e-mail succeeded).
Serving one request at a time gives the emulator the isolation the real service has, so the
tests that prove "exactly one wins" test our code, not moto's races.

Non-threaded werkzeug answers HTTP/1.0 and closes each connection, so an SDK's idle pooled
connection never blocks the next request.

A cancelled transaction must leave the table's stream as it found it. moto rolls a failed
TransactWriteItems back by swapping in a deep copy of each table taken before it, stream shard
included; a shard iterator opened before (the stream relay's, which reads for the whole life of
the stack) keeps reading the old shard object, which holds the cancelled writes' records and
never receives another one. The local audit trail and analytics then counted writes that never
happened (an idempotent replay is such a cancelled transaction) and saw nothing after it.
`keep_streams_on_rollback` keeps the original shard object, trimmed back to its length before the
transaction, so every iterator sees exactly the committed writes, as on DynamoDB.

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
from moto.dynamodb.models import DynamoDBBackend
from werkzeug.serving import run_simple


def keep_streams_on_rollback(transact_write_items):
    def patched(self, transact_items):
        before = {
            name: (table.stream_shard, len(table.stream_shard.items))
            for name, table in self.tables.items()
            if getattr(table, "stream_shard", None) is not None
        }
        try:
            return transact_write_items(self, transact_items)
        except Exception:
            for name, (shard, length) in before.items():
                table = self.tables.get(name)
                if table is not None and table.stream_shard is not shard:
                    del shard.items[length:]
                    shard.table = table
                    table.stream_shard = shard
            raise

    return patched


DynamoDBBackend.transact_write_items = keep_streams_on_rollback(DynamoDBBackend.transact_write_items)


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    os.environ.setdefault("MOTO_PORT", str(port))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(host, port, app, threaded=False, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
