"""Soak and correctness checks for infra/moto_serial.py (moto served one request at a time).

Starts its own moto_serial server on a free loopback port (as a child process, stopped at the
end), creates a table shaped like template.yaml's BusinessTable (pk/sk strings, the KEYS_ONLY
`retention` GSI, a NEW_AND_OLD_IMAGES stream), and:

  soak   loads --items items (contacts: record, ALL/TYPE/two name list entries, e-mail marker),
         then runs --txns contact-create TransactWriteItems of 8 items (6 Puts with
         attribute_not_exists, a ConditionCheck on the organization, an Update of a lock with a
         version condition); every --cancel-every-th reuses an e-mail, so its marker's condition
         fails after the lock Update was applied. Every --every transactions it prints the moto
         process's VmRSS and the window's latency p50/p99.
  check  rollback correctness: a cancelled transaction leaves no write visible (GetItem, Query on
         the GSI, Scan, ItemCount), restores updated/deleted items exactly, leaves no stream
         record, and an iterator opened before keeps returning exactly the committed records.
         The same scenario also runs against the baseline server, and the two transcripts
         (responses, cancellation reasons, final state, stream) must be identical.
  trim   stream retention with MOTO_SERIAL_STREAM_RETENTION_SECONDS=2 and iterator expiry with
         MOTO_SERIAL_ITERATOR_TTL_SECONDS=4.
  query  Query differential: the same items (--query-items, ~60 partitions, a few over 300 KB)
         on a patched and a baseline server, then --queries random Queries (table and GSI;
         no range condition, begins_with, BETWEEN, <, <=, >, >=, =; both directions; Limit
         none/1/2/7/50/200; FilterExpression, ProjectionExpression, Select COUNT,
         ConsistentRead; some with an ExclusiveStartKey of another partition, shape or type),
         each read page by page to the end (--max-pages at most), with writes between rounds
         (puts, deletes, updates moving items in and out of the GSI, batches, transactions,
         some cancelled); then every run of the big items (pages ending at 1 MB) and Queries
         on a restored backup. Every answer (Items in order, Count, ScannedCount,
         LastEvaluatedKey, or the error) must be identical on both.
  serialize  the direct AttributeValue serializer and parser and the single-pass item sizing
         (moto_serial.py 7, 7a, 8): in this process, random attribute values of every type (and
         shapes moto's handlers never produce) through moto's own serializer and parser with
         and without them, bodies and parsed requests compared, and items built around the
         405,000-byte limit with moto's Item.__init__ and the patched one; then --serialize-items
         writes (PutItem/UpdateItem/DeleteItem with ReturnValues, batches, cancelled transactions
         with ALL_OLD, puts just under and over the size limit) and reads (GetItem, BatchGetItem,
         TransactGetItems, Query on the table and the GSI, Scan, GetRecords) on a patched and a
         baseline server, raw response bodies (key order kept, stream ids and times masked)
         identical.
  records  compact stream records, interned items and slotted DynamoTypes (moto_serial.py
         12-14): in this process, --records-rounds records of random items of every type (big
         ones too, compressed and not) built by moto's StreamRecord and the compact one, compared
         type for type; then --records-writes writes (puts, nested updates, set ADD/DELETE,
         REMOVE, deletes, batches, committed and cancelled transactions) on a patched and a
         baseline server, every GetRecords body (TRIM_HORIZON, AT/AFTER_SEQUENCE_NUMBER, the
         LATEST iterator read as it goes; Limits 1 to 1000) and a full Scan compared raw.
  memory  memory per contact create (6 items, 7 stream records), before (MOTO_SERIAL_COMPACT=0,
         or --before-script FILE, e.g. a `git show HEAD:infra/moto_serial.py` copy) and after:
         in a child process each, --walk-txns creates through moto's WSGI app with tracemalloc,
         broken down into items (bytes per item vs its JSON), partitions, stream records (bytes
         per record vs its JSON) and anything else; then a server each: --txns creates, RSS per
         --every, KB of RSS per create, TransactWriteItems p50/p99, then the whole stream read
         from TRIM_HORIZON in pages of --records-limit, GetRecords p50/p99. --only before|after.
  qtime  Query latency p50/p99 of 50-item pages (five shapes: list page 1 and k, begins_with
         backward with filter and projection, BETWEEN, the GSI) at --sizes items of one
         practice (--orgs 1), before (baseline) and after, an untimed PutItem into the listed
         partition before each timed page. Before is slow: fewer pages on big tables.
  all    check, trim, query, serialize, records, then soak before (baseline, small table, capped) and after.

--baseline runs `soak` against MOTO_SERIAL_BASELINE=1 (moto's own deep-copy rollback). It grows
by gigabytes: --rss-cap-mb stops it. --gc python soaks with CPython's own garbage collection
(MOTO_SERIAL_GC=python) instead of the server's default; the soak ends with a summary of the
server's full collections (MOTO_SERIAL_GC_LOG=1) after 3.5 s idle.

Usage: .venv/bin/python infra/moto_soak.py all
       .venv/bin/python infra/moto_soak.py soak --items 100000 --txns 3000
       .venv/bin/python infra/moto_soak.py soak --baseline --items 2000 --txns 100
       .venv/bin/python infra/moto_soak.py query --queries 400 --seed 1
       .venv/bin/python infra/moto_soak.py serialize --serialize-rounds 20000
       .venv/bin/python infra/moto_soak.py records
       .venv/bin/python infra/moto_soak.py memory --walk-txns 2000 --txns 20000 --every 5000
       .venv/bin/python infra/moto_soak.py qtime --sizes 10000,50000,100000
       .venv/bin/python infra/moto_soak.py soak --items 100000 --txns 3000 --gc python
"""

import argparse
import base64
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

HERE = Path(__file__).resolve().parent
TABLE = "business"
REGION = "us-east-1"


# --- the server -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class Moto:
    def __init__(self, env: dict, script: Path = HERE / "moto_serial.py"):
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.log = open(f"/tmp/moto_soak_{self.port}.log", "w")
        self.proc = subprocess.Popen(
            [sys.executable, str(script), "127.0.0.1", str(self.port)],
            env={**os.environ, **env},
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        config = Config(retries={"max_attempts": 1, "mode": "standard"}, read_timeout=600)
        session = boto3.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name=REGION)
        self.ddb = session.client("dynamodb", endpoint_url=self.endpoint, config=config)
        self.streams = session.client("dynamodbstreams", endpoint_url=self.endpoint, config=config)
        deadline = time.monotonic() + 60
        while True:
            try:
                self.ddb.list_tables()
                break
            except Exception:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto did not start, see {self.log.name}")
                time.sleep(0.2)

    def rss(self) -> float:
        return rss_mb(self.proc.pid)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


@contextmanager
def moto(_script=None, **env):
    server = Moto({k: str(v) for k, v in env.items()}, *([_script] if _script else []))
    try:
        yield server
    finally:
        server.stop()


def create_table(ddb) -> str:
    out = ddb.create_table(
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk", "retention_pk", "retention_due")
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "retention",
                "KeySchema": [
                    {"AttributeName": "retention_pk", "KeyType": "HASH"},
                    {"AttributeName": "retention_due", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
        ],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    return out["TableDescription"]["LatestStreamArn"]


def shard_id(server, stream_arn) -> str:
    return server.streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]["ShardId"]


def iterator(server, stream_arn, kind, seq=None) -> str:
    args = {"StreamArn": stream_arn, "ShardId": shard_id(server, stream_arn), "ShardIteratorType": kind}
    if seq is not None:
        args["SequenceNumber"] = str(seq)
    return server.streams.get_shard_iterator(**args)["ShardIterator"]


def read_all(server, it):
    """Every record available from `it`; returns (records, the iterator to continue with)."""
    records = []
    while True:
        out = server.streams.get_records(ShardIterator=it, Limit=1000)
        records += out["Records"]
        it = out["NextShardIterator"]
        if not out["Records"]:
            return records, it


# --- items shaped like the project's contacts ----------------------------------------------------

S = lambda v: {"S": str(v)}  # noqa: E731
N = lambda v: {"N": str(v)}  # noqa: E731


def contact(org: int, i: int, email: str) -> dict:
    cid = f"{i:08d}-7c1e-4a5b-9d7e-contact"
    record = {
        "pk": S(f"ORG#{org}"),
        "sk": S(f"CONTACT#{cid}"),
        "item_type": S("record"),
        "id": S(cid),
        "first_name": S(f"First{i}"),
        "last_name": S(f"Last{i}"),
        "email": S(email),
        "phone": S(f"+4930{i:09d}"),
        "address": {"M": {"street": S(f"Street {i % 300}"), "city": S("Berlin"), "zip": S(f"{10000 + i % 900}")}},
        "notes": S("Patient prefers morning appointments; allergies noted in file. " * 2),
        "tags": {"L": [S("new"), S("insured")]},
        "created_at": S("2026-01-01T10:00:00Z"),
        "updated_at": S("2026-01-01T10:00:00Z"),
        "version": N(1),
        "is_deleted": {"BOOL": False},
    }
    if i % 3 == 0:  # sparse GSI
        record["retention_pk"] = S(f"RETENTION#{i % 16:x}")
        record["retention_due"] = S(f"2036-{1 + i % 12:02d}-01")
    entry = lambda pk, sk: {**record, "pk": S(pk), "sk": S(sk), "item_type": S("index"), "record_sk": record["sk"]}  # noqa: E731
    items = [
        record,
        entry(f"ORG#{org}#CONTACT#ALL", f"2026-01-01T10:00:00Z#{cid}"),
        entry(f"ORG#{org}#CONTACT#TYPE#patient", f"2026-01-01T10:00:00Z#{cid}"),
        entry(f"ORG#{org}#CONTACT#LAST", f"last{i}#{cid}"),
        entry(f"ORG#{org}#CONTACT#FIRST", f"first{i}#{cid}"),
    ]
    for it in items[1:]:
        it.pop("retention_pk", None), it.pop("retention_due", None)
    marker = {"pk": S(f"ORG#{org}"), "sk": S(f"UNIQUE#CONTACT#email#{email}"), "item_type": S("unique"), "owner_id": S(cid)}
    return {"items": items, "marker": marker}


def load(ddb, n_items: int, orgs: int) -> int:
    """Loads about n_items (6 per contact) with BatchWriteItem; returns the number of contacts."""
    contacts = n_items // 6
    _load_contacts(ddb, 0, contacts, orgs)
    for org in range(orgs):
        ddb.put_item(TableName=TABLE, Item={"pk": S(f"ORG#{org}"), "sk": S("ORG"), "item_type": S("org"), "name": S(f"Practice {org}")})
        ddb.put_item(TableName=TABLE, Item={"pk": S(f"ORG#{org}"), "sk": S("LOCK#CONTACTS"), "seen": N(0)})
    return contacts


def create_txn(org: int, i: int, email: str, lock_seen: int) -> list:
    c = contact(org, i, email)
    record, *entries = c["items"]
    put = lambda item: {"Put": {"TableName": TABLE, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}}  # noqa: E731
    idem = {"pk": S(f"ORG#{org}"), "sk": S(f"IDEMPOTENCY#user#{i}"), "item_type": S("idempotency"), "record_id": record["id"], "expires_at": N(1893456000)}
    return [
        put(record),
        put(entries[0]),
        put(entries[2]),
        {"ConditionCheck": {"TableName": TABLE, "Key": {"pk": S(f"ORG#{org}"), "sk": S("ORG")}, "ConditionExpression": "attribute_exists(pk)"}},
        {
            "Update": {
                "TableName": TABLE,
                "Key": {"pk": S(f"ORG#{org}"), "sk": S("LOCK#CONTACTS")},
                "UpdateExpression": "SET seen = :next",
                "ConditionExpression": "seen = :seen",
                "ExpressionAttributeValues": {":seen": N(lock_seen), ":next": N(lock_seen + 1)},
            }
        },
        # after the applied Update: a reused e-mail fails here
        {**put(c["marker"]), "Put": {**put(c["marker"])["Put"], "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}},
        put(entries[3]),
        put(idem),
    ]


# --- soak ------------------------------------------------------------------------------------


def soak(args):
    label = "BEFORE (baseline: moto's deep-copy rollback)" if args.baseline else "AFTER (undo log)"
    env = {"MOTO_SERIAL_BASELINE": 1} if args.baseline else {}
    env["MOTO_SERIAL_GC_LOG"] = 1
    if args.gc:
        env["MOTO_SERIAL_GC"] = args.gc
        label += f", MOTO_SERIAL_GC={args.gc}"
    if args.retention is not None:
        env["MOTO_SERIAL_STREAM_RETENTION_SECONDS"] = args.retention
    with moto(**env) as server:
        ddb = server.ddb
        create_table(ddb)
        rss0 = server.rss()
        t0 = time.monotonic()
        contacts = load(ddb, args.items, args.orgs)
        count = ddb.describe_table(TableName=TABLE)["Table"]["ItemCount"]
        rss_loaded = server.rss()
        print(f"== {label}: {count} items loaded in {time.monotonic() - t0:.0f} s; RSS {rss0:.0f} -> {rss_loaded:.0f} MB", flush=True)
        q0 = time.monotonic()
        ddb.query(TableName=TABLE, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": S("ORG#0#CONTACT#ALL")}, Limit=51)
        print(f"   (one Query of 51 items at this size: {1000 * (time.monotonic() - q0):.0f} ms)", flush=True)

        seen = [0] * args.orgs
        window, all_lat = [], []
        committed = cancelled = 0
        rss_prev, t_start = rss_loaded, time.monotonic()
        print(f"   {'txns':>6} {'RSS MB':>8} {'+MB/window':>10} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7}", flush=True)
        for n in range(1, args.txns + 1):
            org = n % args.orgs
            i = contacts + n
            cancel = n % args.cancel_every == 0
            # a loaded contact of the same organization: its e-mail marker exists
            taken = org + args.orgs * (n % (contacts // args.orgs))
            email = f"c{taken}@example.org" if cancel else f"n{i}@example.org"
            items = create_txn(org, i, email, seen[org])
            start = time.monotonic()
            try:
                ddb.transact_write_items(TransactItems=items)
                ok = True
            except ClientError as e:
                if e.response["Error"]["Code"] != "TransactionCanceledException":
                    raise
                reasons = [r["Code"] for r in e.response["CancellationReasons"]]
                assert reasons == ["None"] * 5 + ["ConditionalCheckFailed"] + ["None"] * 2, reasons
                ok = False
            lat = 1000 * (time.monotonic() - start)
            assert ok != cancel, (n, ok)
            if ok:
                seen[org] += 1
                committed += 1
            else:
                cancelled += 1
            window.append(lat)
            all_lat.append(lat)
            if n % args.every == 0 or n == args.txns:
                rss = server.rss()
                window.sort()
                print(
                    f"   {n:>6} {rss:>8.0f} {rss - rss_prev:>10.1f} {statistics.median(window):>7.1f} "
                    f"{window[int(0.99 * (len(window) - 1))]:>7.1f} {window[-1]:>7.1f}",
                    flush=True,
                )
                rss_prev, window = rss, []
                if rss > args.rss_cap_mb:
                    print(f"   stopped: RSS over --rss-cap-mb {args.rss_cap_mb}", flush=True)
                    break
        done = committed + cancelled
        rss_end = server.rss()
        all_lat.sort()
        final = ddb.describe_table(TableName=TABLE)["Table"]["ItemCount"]
        print(
            f"== {label}: {done} txns ({cancelled} cancelled) in {time.monotonic() - t_start:.0f} s at {count}->{final} items; "
            f"RSS +{rss_end - rss_loaded:.0f} MB = {1000 * (rss_end - rss_loaded) / done:.0f} MB per 1,000 txns; "
            f"latency p50 {statistics.median(all_lat):.1f} ms, p99 {all_lat[int(0.99 * (len(all_lat) - 1))]:.1f} ms",
            flush=True,
        )
        assert final == count + 6 * committed, (final, count, committed)
        gc_summary(server, label)


def gc_summary(server, label):
    """The server's full collections (MOTO_SERIAL_GC_LOG=1). A small table created and deleted,
    then 3.5 s idle: with MOTO_SERIAL_GC=freeze the idle reclaim runs, and what it finds beyond
    that table's few objects is what freezing had kept of the soak's garbage."""
    server.ddb.create_table(
        TableName="gc-probe", BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
    )
    server.ddb.delete_table(TableName="gc-probe")
    time.sleep(3.5)
    server.ddb.list_tables()
    time.sleep(0.5)
    server.log.flush()
    lines = [line.split() for line in open(server.log.name) if line.startswith("gc: ")]
    full = [float(x[2]) for x in lines if x[1] == "full"]
    kinds = {}
    for x in lines:
        if x[1] != "full":
            kinds.setdefault(x[1], []).append((float(x[2]), int(x[4])))
    line = f"== {label}: {len(full)} full collections, longest {max(full, default=0):.0f} ms, total {sum(full):.0f} ms"
    for kind, runs in kinds.items():
        line += f"; {kind}: {len(runs)}, longest {max(r[0] for r in runs):.0f} ms, {sum(r[1] for r in runs)} unreachable found"
    print(line, flush=True)


# --- correctness -----------------------------------------------------------------------------


def strip_record(r):
    """A stream record without what differs between runs (eventID, time, size)."""
    d = dict(r["dynamodb"])
    d.pop("ApproximateCreationDateTime", None)
    d.pop("SizeBytes", None)
    return {"eventName": r["eventName"], "dynamodb": d}


def scenario(server) -> list:
    """Runs the rollback scenario, asserting as it goes; returns a transcript to compare."""
    ddb = server.ddb
    out = []
    stream_arn = create_table(ddb)
    key = lambda pk, sk: {"pk": S(pk), "sk": S(sk)}  # noqa: E731
    get = lambda pk, sk: ddb.get_item(TableName=TABLE, Key=key(pk, sk), ConsistentRead=True).get("Item")  # noqa: E731

    def state():
        items = []
        args = {"TableName": TABLE}
        while True:
            page = ddb.scan(**args)
            items += page["Items"]
            if "LastEvaluatedKey" not in page:
                break
            args["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        gsi = ddb.query(
            TableName=TABLE, IndexName="retention", KeyConditionExpression="retention_pk = :p",
            ExpressionAttributeValues={":p": S("RETENTION#0")},
        )["Items"]
        return {
            "scan": sorted(items, key=lambda i: (i["pk"]["S"], i["sk"]["S"])),
            "gsi": gsi,
            "count": ddb.describe_table(TableName=TABLE)["Table"]["ItemCount"],
        }

    def cancel(items, expect):
        try:
            ddb.transact_write_items(TransactItems=items)
        except ClientError as e:
            code = e.response["Error"]["Code"]
            reasons = e.response.get("CancellationReasons")
            assert code == expect, (code, e.response)
            return {"code": code, "reasons": reasons}
        raise AssertionError("transaction was not cancelled")

    # Existing data: an org, a lock at version 6, contact 1 (+ marker, + GSI), an item to delete.
    load_items = contact(0, 1, "taken@example.org")
    for it in load_items["items"] + [load_items["marker"]]:
        it["retention_pk"], it["retention_due"] = S("RETENTION#0"), S("2030-01-01")
        ddb.put_item(TableName=TABLE, Item=it)
    ddb.put_item(TableName=TABLE, Item={"pk": S("ORG#0"), "sk": S("ORG"), "name": S("Practice")})
    ddb.put_item(TableName=TABLE, Item={"pk": S("ORG#0"), "sk": S("LOCK#CONTACTS"), "seen": N(5), "nested": {"M": {"l": {"L": [N(1)]}}}})
    ddb.put_item(TableName=TABLE, Item={**key("ORG#0", "DOOMED"), "retention_pk": S("RETENTION#0"), "retention_due": S("2031-01-01")})

    it_latest = iterator(server, stream_arn, "LATEST")  # the relay's, opened before everything below
    it_horizon = iterator(server, stream_arn, "TRIM_HORIZON")
    preexisting, _ = read_all(server, iterator(server, stream_arn, "TRIM_HORIZON"))

    # Committed transaction 1.
    c2 = contact(0, 2, "two@example.org")
    ddb.transact_write_items(TransactItems=[
        {"Put": {"TableName": TABLE, "Item": {**c2["items"][0], "retention_pk": S("RETENTION#0"), "retention_due": S("2032-01-01")}, "ConditionExpression": "attribute_not_exists(pk)"}},
        {"Put": {"TableName": TABLE, "Item": c2["marker"], "ConditionExpression": "attribute_not_exists(pk)"}},
        {"Update": {"TableName": TABLE, "Key": key("ORG#0", "LOCK#CONTACTS"), "UpdateExpression": "SET seen = :n", "ConditionExpression": "seen = :s", "ExpressionAttributeValues": {":s": N(5), ":n": N(6)}}},
    ])
    before = state()
    out.append(before)

    # Cancelled transaction 2: moto checks and applies item by item, in order, and carries on
    # after a failure: the Update (nested list append too), the new Put (GSI), the Delete and the
    # Update creating an item are applied before the marker fails, the last Put after it.
    c3 = contact(0, 3, "taken@example.org")
    txn2 = [
        {"Update": {"TableName": TABLE, "Key": key("ORG#0", "LOCK#CONTACTS"), "UpdateExpression": "SET seen = :n, nested.l = list_append(nested.l, :x)", "ConditionExpression": "seen = :s", "ExpressionAttributeValues": {":s": N(6), ":n": N(7), ":x": {"L": [N(2)]}}}},
        {"Put": {"TableName": TABLE, "Item": {**c3["items"][0], "retention_pk": S("RETENTION#0"), "retention_due": S("2033-01-01")}, "ConditionExpression": "attribute_not_exists(pk)"}},
        {"Delete": {"TableName": TABLE, "Key": key("ORG#0", "DOOMED"), "ConditionExpression": "attribute_exists(pk)"}},
        {"Update": {"TableName": TABLE, "Key": key("ORG#9", "NEW-BY-UPDATE"), "UpdateExpression": "SET v = :v", "ExpressionAttributeValues": {":v": N(1)}}},
        {"Put": {"TableName": TABLE, "Item": c3["marker"], "ConditionExpression": "attribute_not_exists(pk)", "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}},
        {"Put": {"TableName": TABLE, "Item": c3["items"][1], "ConditionExpression": "attribute_not_exists(pk)"}},
        {"ConditionCheck": {"TableName": TABLE, "Key": key("ORG#8", "ABSENT"), "ConditionExpression": "attribute_not_exists(pk)"}},
    ]
    r = cancel(txn2, "TransactionCanceledException")
    codes = [x["Code"] for x in r["reasons"]]
    assert codes == ["None", "None", "None", "None", "ConditionalCheckFailed", "None", "None"], codes
    assert r["reasons"][4]["Item"] == load_items["marker"] | {"retention_pk": S("RETENTION#0"), "retention_due": S("2030-01-01")}, r["reasons"][4]
    out.append(r)
    after = state()
    assert after == before, "a cancelled transaction changed the table"
    assert get("ORG#0", c3["items"][0]["sk"]["S"]) is None and get("ORG#9", "NEW-BY-UPDATE") is None
    assert get("ORG#0", "DOOMED") is not None
    assert get("ORG#0", "LOCK#CONTACTS")["seen"] == N(6)
    assert get("ORG#0", "LOCK#CONTACTS")["nested"] == {"M": {"l": {"L": [N(1)]}}}

    # Two operations on one item: a ValidationException, after the first was applied.
    r = cancel([
        {"Update": {"TableName": TABLE, "Key": key("ORG#0", "LOCK#CONTACTS"), "UpdateExpression": "SET seen = :n", "ExpressionAttributeValues": {":n": N(99)}}},
        {"Put": {"TableName": TABLE, "Item": {**key("ORG#7", "X"), "a": S("b")}}},
        {"ConditionCheck": {"TableName": TABLE, "Key": key("ORG#7", "X"), "ConditionExpression": "attribute_exists(pk)"}},
    ], "ValidationException")
    out.append(r)
    assert state() == before

    # The stream: nothing from the cancelled transactions; the old iterators continue.
    got, it_latest = read_all(server, it_latest)
    horizon, it_horizon = read_all(server, it_horizon)
    assert [g["eventName"] for g in got] == ["INSERT", "INSERT", "MODIFY"], [g["eventName"] for g in got]
    assert horizon == preexisting + got
    ddb.transact_write_items(TransactItems=[
        {"Put": {"TableName": TABLE, "Item": {**key("ORG#0", "AFTER"), "v": N(1)}, "ConditionExpression": "attribute_not_exists(pk)"}},
    ])
    more, _ = read_all(server, it_latest)
    more_h, _ = read_all(server, it_horizon)
    assert len(more) == 1 and more[0]["dynamodb"]["Keys"]["sk"] == S("AFTER") and more_h == more, more
    seqs = [int(x["dynamodb"]["SequenceNumber"]) for x in preexisting + got + more]
    assert seqs == sorted(set(seqs)), seqs
    fresh, _ = read_all(server, iterator(server, stream_arn, "TRIM_HORIZON"))
    assert fresh == preexisting + got + more
    out.append([strip_record(x) for x in fresh])

    # A backup (a deep copy of the table) still works and holds the committed state.
    arn = ddb.create_backup(TableName=TABLE, BackupName="soak-backup")["BackupDetails"]["BackupArn"]
    ddb.restore_table_from_backup(TargetTableName="restored", BackupArn=arn)
    assert ddb.describe_table(TableName="restored")["Table"]["ItemCount"] == before["count"] + 1
    return out


def internals():
    """In this process, with the patches applied: no model instance tracked, no empty partition
    left by reads, deletes or a cancelled transaction."""
    sys.path.insert(0, str(HERE))
    import moto_serial  # noqa: F401  (patches moto in this process only)
    from moto.core.model_instances import model_data
    from moto.dynamodb.exceptions import TransactionCanceledException
    from moto.dynamodb.models import DynamoDBBackend

    b = DynamoDBBackend(REGION, "123456789012")
    keys = [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}]
    attrs = [{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk")]
    t = b.create_table("t", keys, None, attrs, None, None, {"StreamViewType": "NEW_AND_OLD_IMAGES"}, "PAY_PER_REQUEST", None, [], False, None)
    for i in range(50):
        b.put_item("t", {"pk": S(f"P{i // 5}"), "sk": S(f"S{i}")})
    b.query("t", S("P1"), None, [], None, None, True, None)
    b.get_item("t", {"pk": S("absent"), "sk": S("x")})
    b.delete_item("t", {"pk": S("absent2"), "sk": S("x")})
    for i in range(5):
        b.delete_item("t", {"pk": S("P0"), "sk": S(f"S{i}")})
    try:
        b.transact_write_items([
            {"Put": {"TableName": "t", "Item": {"pk": S("NEW"), "sk": S("1")}}},
            {"ConditionCheck": {"TableName": "t", "Key": {"pk": S("NEW2"), "sk": S("1")}, "ConditionExpression": "attribute_exists(pk)"}},
        ])
    except TransactionCanceledException:
        pass
    assert len(t.items) == 9 and all(t.items.values()), "an empty partition was left behind"
    tracked = {n: len(c.instances_tracked) for s in ("dynamodb", "dynamodbstreams") for n, c in model_data[s].items()}
    assert not any(tracked.values()), tracked
    print("check: internals: no DynamoDB model instance tracked, no empty partition left")


def check(_args):
    internals()
    with moto() as server:
        after = scenario(server)
    print("check: after (undo log): every assertion holds")
    with moto(MOTO_SERIAL_BASELINE=1) as server:
        before = scenario(server)
    print("check: before (baseline): every assertion holds")
    assert after == before, "the undo log answers differently from moto's own rollback"
    print("check: transcripts identical (responses, cancellation reasons with ALL_OLD item, scans, GSI, ItemCount, stream)")


def trim(_args):
    with moto(MOTO_SERIAL_STREAM_RETENTION_SECONDS=2, MOTO_SERIAL_ITERATOR_TTL_SECONDS=4) as server:
        ddb, streams = server.ddb, server.streams
        arn = create_table(ddb)
        put = lambda sk: ddb.put_item(TableName=TABLE, Item={"pk": S("P"), "sk": S(sk)})  # noqa: E731
        it_old = iterator(server, arn, "TRIM_HORIZON")
        for sk in ("a", "b", "c"):
            put(sk)
        first, it_tip = read_all(server, iterator(server, arn, "TRIM_HORIZON"))
        seq = [int(r["dynamodb"]["SequenceNumber"]) for r in first]
        time.sleep(2.5)
        it_latest = iterator(server, arn, "LATEST")  # at the tip, opened after the trim
        for sk in ("d", "e"):
            put(sk)
        assert _code(lambda: streams.get_records(ShardIterator=it_old)) == "TrimmedDataAccessException"
        assert _code(lambda: iterator(server, arn, "AT_SEQUENCE_NUMBER", seq[0])) == "TrimmedDataAccessException"
        recs, it_tip = read_all(server, it_tip)  # opened before the trim, at or after the trim point
        assert [r["dynamodb"]["Keys"]["sk"]["S"] for r in recs] == ["d", "e"]
        assert [int(r["dynamodb"]["SequenceNumber"]) for r in recs] == [seq[2] + 1, seq[2] + 2], "sequence numbers moved"
        assert read_all(server, it_latest)[0] == recs
        assert read_all(server, iterator(server, arn, "TRIM_HORIZON"))[0] == recs
        assert read_all(server, iterator(server, arn, "AFTER_SEQUENCE_NUMBER", seq[2]))[0] == recs
        described = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]
        assert int(described["SequenceNumberRange"]["StartingSequenceNumber"]) == seq[2] + 1
        print("trim: records older than 2 s trimmed; sequence numbers stable; iterators at/after the trim point continue;")
        print("      below it TrimmedDataAccessException (GetRecords and GetShardIterator AT_SEQUENCE_NUMBER)")
        # Iterators: a chain used within the TTL lives on; one left unused for longer expires.
        stale = it_tip
        for _ in range(3):
            time.sleep(1.5)
            _, it_tip = read_all(server, it_tip)
        put("f")
        assert _code(lambda: streams.get_records(ShardIterator=stale)) == "ExpiredIteratorException"
        assert [r["dynamodb"]["Keys"]["sk"]["S"] for r in read_all(server, it_tip)[0]] == ["f"]
        print("trim: an iterator unused for 4.5 s expired (ExpiredIteratorException); a chain polled every 1.5 s kept reading")


# --- Query: differential check and timing ------------------------------------------------------


def _call(client, op, **kwargs):
    """A response without its metadata, or the error's code and message."""
    try:
        out = getattr(client, op)(**kwargs)
    except ClientError as e:
        return {"error": e.response["Error"].get("Code"), "message": e.response["Error"].get("Message")}
    out.pop("ResponseMetadata", None)
    return out


class Twins:
    """The same calls on a patched and a baseline server; every answer must be identical."""

    def __init__(self, after, before):
        self.servers = (after, before)
        self.calls = 0

    def __call__(self, op, **kwargs):
        a, b = (_call(s.ddb, op, **kwargs) for s in self.servers)
        self.calls += 1
        if a != b:
            raise AssertionError(f"{op} answered differently\n  request {kwargs}\n  after  {a}\n  before {b}")
        return a


QUERY_WORDS = ["CONTACT#", "APPT#", "UNIQUE#CONTACT#email#", "IDEMPOTENCY#", "2026-01-", "2026-02-", "last", "Last", "a", "ab", "é", "~"]


def _sort_key(rng) -> str:
    word = rng.choice(QUERY_WORDS)
    tail = "".join(rng.choice("0123#ab") for _ in range(rng.randint(0, 4)))
    return word + tail


def _query_item(rng, pk: str, sk: str) -> dict:
    item = {"pk": S(pk), "sk": S(sk), "item_type": S(rng.choice(["record", "index", "unique"])), "v": N(rng.randint(0, 20))}
    if rng.random() < 0.4:
        item["retention_pk"] = S(f"RETENTION#{rng.randint(0, 3)}")
        if rng.random() < 0.9:  # a few without the range key: not in the index
            item["retention_due"] = S(f"2036-{rng.randint(1, 12):02d}-{rng.randint(1, 3):02d}")
    if rng.random() < 0.3:
        item["notes"] = S("n" * rng.randint(1, 2000))
    return item


def _query_request(rng, partitions) -> dict:
    """A random Query: the key-condition shapes the application uses (and a few it does not)."""
    names, values = {}, {}
    if rng.random() < 0.8:
        pk = rng.choice(partitions) if rng.random() < 0.95 else "ORG#none"
        cond = "pk = :pk"
        values[":pk"] = S(pk)
        range_attr, index = "sk", None
        pick = lambda: _sort_key(rng)  # noqa: E731
    else:
        cond = "#rpk = :pk"
        names["#rpk"] = "retention_pk"
        values[":pk"] = S(f"RETENTION#{rng.randint(0, 4)}")
        range_attr, index = "retention_due", "retention"
        pick = lambda: f"2036-{rng.randint(1, 12):02d}" + rng.choice(["", "-01", "-02", "-99"])  # noqa: E731
    shape = rng.choice([None, "begins_with", "BETWEEN", "<", "<=", ">", ">=", "="])
    names["#r"] = range_attr
    if shape == "begins_with":
        cond += " AND begins_with(#r, :a)"
        values[":a"] = S(pick()[: rng.randint(1, 12)])
    elif shape == "BETWEEN":
        lo, hi = sorted([pick(), pick()]) if rng.random() < 0.95 else [pick(), pick()]
        cond += " AND #r BETWEEN :a AND :b"
        values[":a"], values[":b"] = S(lo), S(hi)
    elif shape:
        cond += f" AND #r {shape} :a"
        values[":a"] = S(pick())
    else:
        del names["#r"]
    req = {"TableName": TABLE, "KeyConditionExpression": cond, "ExpressionAttributeValues": values}
    if index:
        req["IndexName"] = index
    if rng.random() < 0.5:
        req["ScanIndexForward"] = False
    limit = rng.choice([None, 1, 2, 7, 50, 50, 200])
    if limit:
        req["Limit"] = limit
    if rng.random() < 0.25:
        req["FilterExpression"] = rng.choice(["item_type = :t", "v > :n", "attribute_exists(notes)", "attribute_not_exists(retention_pk)"])
        if ":t" in req["FilterExpression"]:
            values[":t"] = S("record")
        if ":n" in req["FilterExpression"]:
            values[":n"] = N(10)
    if rng.random() < 0.25:
        req["ProjectionExpression"] = rng.choice(["pk, sk, v", "#it, notes", "sk"])
        if "#it" in req["ProjectionExpression"]:
            names["#it"] = "item_type"
    elif rng.random() < 0.1:
        req["Select"] = "COUNT"
    if rng.random() < 0.3:
        req["ConsistentRead"] = True  # on the GSI: a ValidationException, on both
    if names:
        req["ExpressionAttributeNames"] = names
    return req


def _odd_start(rng, req) -> dict:
    """An ExclusiveStartKey not from the previous page: a key between stored ones (mostly),
    another partition's, one missing an attribute, or one of another type."""
    index = req.get("IndexName")
    queried = req["ExpressionAttributeValues"][":pk"]
    start = {"pk": queried, "sk": S(_sort_key(rng))}
    if index:
        start = {"pk": S(rng.choice(["ORG#0", "ORG#3", "A", "Z"])), "sk": S(_sort_key(rng)), "retention_pk": queried, "retention_due": S(f"2036-{rng.randint(1, 12):02d}")}
    r = rng.random()
    if r < 0.1:
        start.pop(rng.choice(sorted(start)))
    elif r < 0.15:
        start["sk"] = N(1)
    elif r < 0.35:
        start["retention_pk" if index else "pk"] = S(rng.choice(["A", "ORG#3", "ORG#3#CONTACT#ALL", "RETENTION#1", "Z"]))
    return start


def _writes(rng, twins, partitions, keys):
    """Writes between query rounds (the same on both servers): new items, overwrites, deletes,
    in-place updates that move items into and out of the GSI, batches, and transactions, some
    cancelled (the undo log restores partitions the Queries have already ordered)."""
    for _ in range(40):
        r = rng.random()
        if r < 0.35:
            item = _query_item(rng, rng.choice(partitions), _sort_key(rng))
            twins("put_item", TableName=TABLE, Item=item)
            keys.add((item["pk"]["S"], item["sk"]["S"]))
        elif r < 0.5 and keys:
            pk, sk = rng.choice(sorted(keys))
            twins("delete_item", TableName=TABLE, Key={"pk": S(pk), "sk": S(sk)})
            keys.discard((pk, sk))
        elif r < 0.7 and keys:
            pk, sk = rng.choice(sorted(keys))
            if rng.random() < 0.5:
                expr, vals = "SET retention_pk = :p, retention_due = :d, v = :v", {":p": S(f"RETENTION#{rng.randint(0, 3)}"), ":d": S(f"2036-{rng.randint(1, 12):02d}-0{rng.randint(1, 3)}"), ":v": N(rng.randint(0, 20))}
            else:
                expr, vals = "REMOVE retention_pk SET v = :v", {":v": N(rng.randint(0, 20))}
            twins("update_item", TableName=TABLE, Key={"pk": S(pk), "sk": S(sk)}, UpdateExpression=expr, ExpressionAttributeValues=vals)
        elif r < 0.8:
            batch = [_query_item(rng, rng.choice(partitions), _sort_key(rng)) for _ in range(rng.randint(1, 20))]
            batch = list({(i["pk"]["S"], i["sk"]["S"]): i for i in batch}.values())
            twins("batch_write_item", RequestItems={TABLE: [{"PutRequest": {"Item": i}} for i in batch]})
            keys.update((i["pk"]["S"], i["sk"]["S"]) for i in batch)
        elif keys:
            existing = rng.choice(sorted(keys))
            new = [_query_item(rng, rng.choice(partitions), _sort_key(rng)) for _ in range(3)]
            new = [i for i in {(i["pk"]["S"], i["sk"]["S"]): i for i in new}.values() if (i["pk"]["S"], i["sk"]["S"]) != existing]
            cancel = rng.random() < 0.5
            items = [{"Put": {"TableName": TABLE, "Item": i}} for i in new]
            items.append({"Delete": {"TableName": TABLE, "Key": {"pk": S(existing[0]), "sk": S(existing[1])}}})
            items.append({"ConditionCheck": {"TableName": TABLE, "Key": {"pk": S("ORG#none"), "sk": S("x")}, "ConditionExpression": "attribute_exists(pk)" if cancel else "attribute_not_exists(pk)"}})
            out = twins("transact_write_items", TransactItems=items)
            if "error" not in out:
                keys.update((i["pk"]["S"], i["sk"]["S"]) for i in new)
                keys.discard(existing)


def query_check(args):
    """Random Queries, page by page to the end, on a patched and a baseline server holding the
    same items; every page (Items and their order, Count, ScannedCount, LastEvaluatedKey) or
    error must be identical. Writes between rounds keep the partitions' kept order busy."""
    rng = random.Random(args.seed)
    orgs = 8
    partitions = [f"ORG#{o}" for o in range(orgs)] + [f"ORG#{o}#CONTACT#{k}" for o in range(orgs) for k in ("ALL", "LAST")]
    partitions += [f"ORG#{o}#{rng.choice('xyz')}{i}" for o in range(orgs) for i in range(5)]  # small ones
    weights = [rng.choice([1, 3, 10]) for _ in partitions]
    with moto() as after, moto(MOTO_SERIAL_BASELINE=1) as before:
        twins = Twins(after, before)
        for s in (after, before):
            create_table(s.ddb)
        keys = set()
        batch = []
        for _ in range(args.query_items):
            item = _query_item(rng, rng.choices(partitions, weights)[0], _sort_key(rng) + f"#{rng.randint(0, 10**6)}")
            if (item["pk"]["S"], item["sk"]["S"]) in keys:
                continue
            keys.add((item["pk"]["S"], item["sk"]["S"]))
            batch.append(item)
            if len(batch) == 25:
                twins("batch_write_item", RequestItems={TABLE: [{"PutRequest": {"Item": i}} for i in batch]})
                batch = []
        if batch:
            twins("batch_write_item", RequestItems={TABLE: [{"PutRequest": {"Item": i}} for i in batch]})
        # Big items (up to ~390 KB): pages end at 1 MB, not at Limit.
        for i in range(8):
            item = _query_item(rng, "ORG#0#CONTACT#ALL", f"2026-01-big{i}")
            item["notes"] = S("x" * rng.choice([150_000, 300_000, 390_000]))
            twins("put_item", TableName=TABLE, Item=item)
            keys.add(("ORG#0#CONTACT#ALL", f"2026-01-big{i}"))
        count, count_before = (s.ddb.describe_table(TableName=TABLE)["Table"]["ItemCount"] for s in (after, before))
        assert count == count_before, (count, count_before)
        print(f"query: {count} items in {len(partitions)} partitions, on both servers", flush=True)

        queries = pages = ended = odd = 0
        for _ in range(args.query_rounds):
            for _ in range(args.queries // args.query_rounds):
                req = _query_request(rng, partitions)
                if rng.random() < 0.15:
                    req["ExclusiveStartKey"] = _odd_start(rng, req)
                    odd += 1
                queries += 1
                for page_no in range(args.max_pages):
                    out = twins("query", **req)
                    pages += 1
                    if "error" in out or "LastEvaluatedKey" not in out:
                        ended += 1
                        break
                    req["ExclusiveStartKey"] = out["LastEvaluatedKey"]
            _writes(rng, twins, partitions, keys)
        # Pages that end at 1 MB: every run of the big items, both ways, with Limit at the run's
        # length (the next item ends the page) or none (the next big item may not fit).
        for i in range(8):
            for j in range(i, 8):
                for forward in (True, False):
                    for limit in (None, j - i + 1):
                        req = {
                            "TableName": TABLE, "KeyConditionExpression": "pk = :pk AND sk BETWEEN :a AND :b", "ScanIndexForward": forward,
                            "ExpressionAttributeValues": {":pk": S("ORG#0#CONTACT#ALL"), ":a": S(f"2026-01-big{i}"), ":b": S(f"2026-01-big{j}")},
                        }
                        if limit:
                            req["Limit"] = limit
                        queries += 1
                        while True:
                            out = twins("query", **req)
                            pages += 1
                            if "LastEvaluatedKey" not in out:
                                break
                            req["ExclusiveStartKey"] = out["LastEvaluatedKey"]
                        ended += 1
        # A restored backup (its partitions are copies) answers the same too.
        for s in (after, before):
            arn = s.ddb.create_backup(TableName=TABLE, BackupName="query-backup")["BackupDetails"]["BackupArn"]
            s.ddb.restore_table_from_backup(TargetTableName="restored", BackupArn=arn)
        for _ in range(20):
            req = {**_query_request(rng, partitions), "TableName": "restored"}
            twins("query", **req)
        print(
            f"query: {queries} queries ({odd} with an unrelated ExclusiveStartKey), {pages} pages, "
            f"{ended} read to the end, {twins.calls} calls in all: patched and baseline answers identical",
            flush=True,
        )


def _load_contacts(ddb, first: int, last: int, orgs: int):
    batch = []
    for i in range(first, last):
        c = contact(i % orgs, i, f"c{i}@example.org")
        batch += c["items"] + [c["marker"]]
        while len(batch) >= 25:
            ddb.batch_write_item(RequestItems={TABLE: [{"PutRequest": {"Item": it}} for it in batch[:25]]})
            del batch[:25]
    if batch:
        ddb.batch_write_item(RequestItems={TABLE: [{"PutRequest": {"Item": it}} for it in batch]})


def _pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * (len(xs) - 1) + 0.5))]


def query_timing(args):
    """Query latency of a 50-item page at growing table sizes, one practice (organization):
    its partitions grow with the table. Between two timed pages, one untimed PutItem into the
    listed partition (a list page after a create)."""
    sizes = [int(x) for x in args.sizes.split(",")]
    modes = [("before", {"MOTO_SERIAL_BASELINE": 1}), ("after", {})]
    if args.only:
        modes = [m for m in modes if m[0] == args.only]
    shapes = {
        "list page 1": lambda n: {"KeyConditionExpression": "pk = :pk", "ExpressionAttributeValues": {":pk": S("ORG#0#CONTACT#ALL")}, "ConsistentRead": True},
        "list page k (ExclusiveStartKey)": lambda n: {
            "KeyConditionExpression": "pk = :pk", "ExpressionAttributeValues": {":pk": S("ORG#0#CONTACT#ALL")},
            "ExclusiveStartKey": {"pk": S("ORG#0#CONTACT#ALL"), "sk": S(f"2026-01-01T10:00:00Z#{n // 12:08d}")},
        },
        "begins_with, backward, filter": lambda n: {
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :p)", "ScanIndexForward": False,
            "FilterExpression": "item_type = :t", "ProjectionExpression": "pk, sk, first_name",
            "ExpressionAttributeValues": {":pk": S("ORG#0"), ":p": S("CONTACT#"), ":t": S("record")},
        },
        "BETWEEN": lambda n: {
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :a AND :b",
            "ExpressionAttributeValues": {":pk": S("ORG#0#CONTACT#LAST"), ":a": S("last2"), ":b": S("last3")},
        },
        "GSI retention (<)": lambda n: {
            "IndexName": "retention", "KeyConditionExpression": "retention_pk = :pk AND retention_due < :d",
            "ExpressionAttributeValues": {":pk": S("RETENTION#3"), ":d": S("2036-07")},
        },
    }
    results = {}
    for mode, env in modes:
        env = {**env, "MOTO_SERIAL_GC_LOG": 1}
        with moto(**env) as server:
            ddb = server.ddb
            create_table(ddb)
            loaded = 0
            for size in sizes:
                t0 = time.monotonic()
                _load_contacts(ddb, loaded // 6, size // 6, args.orgs)
                loaded = size
                count = ddb.describe_table(TableName=TABLE)["Table"]["ItemCount"]
                reps = args.reps if mode == "after" else max(3, min(args.reps, int(args.reps * 10000 / size)))
                print(f"qtime {mode}: {count} items (loaded in {time.monotonic() - t0:.0f} s), {reps} pages per shape", flush=True)
                extra = 0
                for name, shape in shapes.items():
                    lat = []
                    req = {"TableName": TABLE, "Limit": 50, **shape(size)}
                    ddb.query(**req)  # warm (the partition's order is built once)
                    for _ in range(reps):
                        extra += 1
                        c = contact(0, 10**7 + extra, f"x{extra}@example.org")
                        ddb.put_item(TableName=TABLE, Item=c["items"][1])  # untimed: a create before the list
                        t = time.monotonic()
                        out = ddb.query(**req)
                        lat.append(1000 * (time.monotonic() - t))
                    assert out["Count"] > 0 or "Filter" in name, (name, out["Count"])
                    results[(size, name, mode)] = (_pct(lat, 0.5), _pct(lat, 0.99), out["Count"], out["ScannedCount"])
                    print(f"   {name:34} p50 {_pct(lat, 0.5):8.1f} ms  p99 {_pct(lat, 0.99):8.1f} ms  (Count {out['Count']}, ScannedCount {out['ScannedCount']})", flush=True)
            server.log.flush()
            full = [float(line.split()[2]) for line in open(server.log.name) if line.startswith("gc: full")]
            print(f"qtime {mode}: RSS {server.rss():.0f} MB; {len(full)} full collections, longest {max(full, default=0):.0f} ms", flush=True)
    if len(modes) == 2:
        print(f"\n{'items':>7}  {'query (Limit 50)':34} {'before p50/p99 ms':>20} {'after p50/p99 ms':>20}")
        for size in sizes:
            for name in shapes:
                b, a = results[(size, name, "before")], results[(size, name, "after")]
                print(f"{size:>7}  {name:34} {b[0]:>9.0f} /{b[1]:>8.0f} {a[0]:>11.1f} /{a[1]:>6.1f}")


# --- Serialization, item sizes: differential --------------------------------------------------


def _random_av(rng, depth=0, odd=0.0):
    """A random AttributeValue of any type, nested up to 3 levels; with probability `odd` a shape
    moto's handlers never produce (the direct serializer must then leave it to moto's code)."""
    if rng.random() < odd:
        return rng.choice([
            {}, {"S": "a", "N": "1"}, {"s": "x"}, {"S": None}, {"S": 5}, {"BOOL": "true"}, {"NULL": False},
            {"ListAttributeValue": [{"S": "a"}]}, {"L": None}, {"M": {"a": None}}, {"L": [None]}, None, "str",
            {"SS": ["a", 1]}, {"M": {"": {"S": "in"}}}, {"BS": [1]}, {"B": 3}, {"M": {1: {"S": "x"}}},
        ])
    kinds = ["S", "N", "B", "SS", "NS", "BS", "BOOL", "NULL", "M", "L"]
    kind = rng.choice(kinds if depth < 3 else kinds[:8])
    word = lambda: rng.choice(["", "a", "é\u2028x", '"q"\\', "x" * rng.randint(0, 30), "日本", "\x00"])  # noqa: E731
    if kind == "S":
        return {"S": word()}
    if kind == "N":
        return {"N": rng.choice([str(rng.randint(-10**6, 10**6)), "3.25", "-0.5", "1E+3"])}
    if kind == "B":
        return {"B": bytes(rng.randrange(256) for _ in range(rng.randint(0, 9)))}
    if kind in ("SS", "NS", "BS"):
        n = rng.randint(1, 4)
        if kind == "SS":
            return {"SS": sorted({word() + str(i) for i in range(n)})}
        if kind == "NS":
            return {"NS": sorted({str(rng.randint(0, 99)) for _ in range(n)})}
        return {"BS": sorted({bytes([i, rng.randrange(256)]) for i in range(n)})}
    if kind == "BOOL":
        return {"BOOL": rng.random() < 0.5}
    if kind == "NULL":
        return {"NULL": True}
    if kind == "M":
        return {"M": {rng.choice(["a", "b", "S", "BOOL", "ListAttributeValue", "é", "x.y"]) + str(i): _random_av(rng, depth + 1, odd) for i in range(rng.randint(0, 4))}}
    return {"L": [_random_av(rng, depth + 1, odd) for _ in range(rng.randint(0, 4))]}


def _serialize_inprocess(rng, rounds):
    """In this process: moto's JSON serializer and parser with and without the direct
    AttributeValue paths (7, 7a), and Item construction with and without the single size pass
    (8); each pair must give the same bytes, the same parsed request, the same item or error."""
    sys.path.insert(0, str(HERE))
    import moto_serial  # noqa: F401
    from moto.core.serialize import BaseJSONSerializer, JSONSerializer, XFormedAttributePicker
    from moto.core.utils import get_service_model
    from moto.dynamodb.models.dynamo_type import Item

    direct = (BaseJSONSerializer._serialize_type_structure, BaseJSONSerializer._serialize_type_map)
    generic = tuple(f.__wrapped__ for f in direct)
    models = {s: get_service_model(s) for s in ("dynamodb", "dynamodbstreams")}

    def body(service, op, result, impl):
        BaseJSONSerializer._serialize_type_structure, BaseJSONSerializer._serialize_type_map = impl
        try:
            serializer = JSONSerializer(operation_model=models[service].operation_model(op), value_picker=XFormedAttributePicker(response_transformers={}))
            return serializer.serialize(result)["body"]
        except Exception as e:  # noqa: BLE001  (both must fail alike)
            return f"{type(e).__name__}: {e}"
        finally:
            BaseJSONSerializer._serialize_type_structure, BaseJSONSerializer._serialize_type_map = direct

    compared = 0
    for _ in range(rounds):
        odd = rng.choice([0.0, 0.0, 0.05, 0.3])
        item = {(f"a{j}" if rng.random() < 0.95 else rng.choice(["", 7])): _random_av(rng, 0, odd) for j in range(rng.randint(0, 8))}
        record = {"eventID": "e", "eventName": "MODIFY", "dynamodb": {"Keys": {"pk": {"S": "p"}}, "NewImage": item, "OldImage": item, "SequenceNumber": "1", "SizeBytes": 3, "StreamViewType": "NEW_AND_OLD_IMAGES"}}
        cases = [
            ("dynamodb", "GetItem", {"Item": item}),
            ("dynamodb", "Query", {"Items": [item, item], "Count": 2, "ScannedCount": 2, "LastEvaluatedKey": item}),
            ("dynamodb", "BatchGetItem", {"Responses": {"t": [item]}, "UnprocessedKeys": {}}),
            ("dynamodbstreams", "GetRecords", {"Records": [record], "NextShardIterator": "it"}),
        ]
        for service, op, result in cases:
            a, b = body(service, op, result, generic), body(service, op, result, direct)
            assert a == b, f"{service} {op} serialized differently\n  value   {result}\n  moto    {a}\n  direct  {b}"
            compared += 1

    # Requests: moto's JSON parser with and without the direct AttributeValue path (7a).
    from moto.core.parse import BaseJSONParser, JSONParser

    direct_parse = BaseJSONParser._parse_structure
    generic_parse = direct_parse.__wrapped__

    def wire(value):
        """A value as it comes over the wire: bytes base64-encoded (sometimes not validly)."""
        if isinstance(value, bytes):
            return rng.choice([base64.b64encode(value).decode()] * 5 + ["not base64!", "YWJ"])
        if isinstance(value, dict):
            return {k: wire(v) for k, v in value.items() if not isinstance(k, int)}
        if isinstance(value, list):
            return [wire(v) for v in value]
        return value

    def parse(op, body, impl):
        BaseJSONParser._parse_structure = impl
        try:
            parsed = JSONParser(models["dynamodb"].operation_model(op)).parse({"body": json.dumps(body).encode(), "headers": {}, "method": "POST", "url_path": "/", "values": {}, "url_params": {}})
            return repr(parsed), parsed
        except Exception as e:  # noqa: BLE001
            return f"{type(e).__name__}: {e}", None
        finally:
            BaseJSONParser._parse_structure = direct_parse

    parsed = 0
    odd_wire = [{"S": 5}, {"N": 1}, {"BOOL": "true"}, {"NULL": 0}, {"M": []}, {"L": {}}, {"SS": "abc"}, {"BS": ["YQ==", 3]}, {"B": None}, {"S": "a", "X": 1}, {"X": 1}, [], "s", 7]
    for _ in range(rounds):
        odd = rng.choice([0.0, 0.0, 0.05, 0.3])
        item = {f"a{j}": wire(_random_av(rng, 0, odd)) for j in range(rng.randint(0, 8))}
        if rng.random() < 0.2:
            item["odd"] = rng.choice(odd_wire)
        for op, body in (
            ("PutItem", {"TableName": "t", "Item": item, "ExpressionAttributeValues": item}),
            ("TransactWriteItems", {"TransactItems": [{"Put": {"TableName": "t", "Item": item}}, {"Update": {"TableName": "t", "Key": item, "UpdateExpression": "SET a = :a", "ExpressionAttributeValues": item}}]}),
            ("Query", {"TableName": "t", "ExclusiveStartKey": item, "KeyConditions": {"pk": {"AttributeValueList": list(item.values()), "ComparisonOperator": "EQ"}}}),
        ):
            (a, pa), (b, pb) = parse(op, body, generic_parse), parse(op, body, direct_parse)
            assert a == b and pa == pb, f"{op} parsed differently\n  body    {body}\n  moto    {a}\n  direct  {b}"
            parsed += 1

    # Item construction: the same attributes or the same exception, around moto's 405,000 bytes.
    patched_init, moto_init = Item.__init__, Item.__init__.__wrapped__

    def build(init, attrs):
        item = Item.__new__(Item)
        try:
            init(item, None, None, attrs)
        except Exception as e:  # noqa: BLE001
            return f"{type(e).__name__}: {e}"
        return list(item.attrs.items()), type(item.attrs).__name__

    sizes = 0
    for _ in range(rounds // 4):
        attrs = {f"k{j}": _random_av(rng) for j in range(rng.randint(0, 6))}
        filler = rng.choice([10, 1000, 200_000, 404_000, 404_990, 405_000, 405_100])
        attrs[rng.choice(["big", "é"])] = {"S": "x" * max(0, filler - sum(len(str(v)) for v in attrs.values()) // 2 + rng.randint(-8, 8))}
        if rng.random() < 0.5:
            attrs = dict(reversed(list(attrs.items())))
        a, b = build(moto_init, attrs), build(patched_init, attrs)
        assert a == b, f"Item construction differs for sizes around the limit: {str(a)[:200]} / {str(b)[:200]}"
        sizes += isinstance(a, str)
    print(f"serialize: in process, {compared} responses byte-identical with moto's generic serializer, {parsed} requests parsed alike; "
          f"{rounds // 4} items built alike ({sizes} over moto's size limit)", flush=True)


_VOLATILE = {"eventID", "ApproximateCreationDateTime", "NextShardIterator", "ShardIterator", "SizeBytes"}


def _mask(raw: bytes):
    """A response body, key order kept, without what differs between two servers."""
    def hook(pairs):
        return [(k, "<masked>" if k in _VOLATILE else v) for k, v in pairs]
    return json.loads(raw, object_pairs_hook=hook) if raw else raw


class RawTwins:
    """The same calls on a patched and a baseline server; the raw response bodies (volatile
    fields masked, key order kept) must be identical."""

    def __init__(self, after, before):
        self.servers = (after, before)
        self.calls = 0
        self.bodies = {}
        for s in self.servers:
            for client in (s.ddb, s.streams):
                client.meta.events.register("before-parse", self._capture(s))

    def _capture(self, server):
        def capture(response_dict, **_):
            self.bodies[id(server)] = response_dict["body"]
        return capture

    def __call__(self, client, op, **kwargs):
        out = []
        for s in self.servers:
            self.bodies.pop(id(s), None)
            parsed = _call(getattr(s, client), op, **kwargs)
            out.append((parsed, _mask(self.bodies.get(id(s), b""))))
        self.calls += 1
        (pa, ra), (pb, rb) = out
        if ra != rb:
            raise AssertionError(f"{op} answered differently\n  request {str(kwargs)[:600]}\n  after  {str(ra)[:1500]}\n  before {str(rb)[:1500]}")
        return pa


def serialize_check(args):
    """Direct AttributeValue serialization and parsing (7, 7a) and single-pass item sizing (8): in
    process against moto's own functions, then every DynamoDB and Streams operation that returns
    items, on a patched and a baseline server, raw bodies compared."""
    rng = random.Random(args.seed)
    _serialize_inprocess(rng, args.serialize_rounds)
    with moto() as after, moto(MOTO_SERIAL_BASELINE=1) as before:
        twins = RawTwins(after, before)
        for s in (after, before):
            create_table(s.ddb)
        keys = []

        def item(pk, sk):
            it = {"pk": S(pk), "sk": S(sk)}
            for j in range(rng.randint(0, 10)):
                it[rng.choice(["a", "b", "m", "l", "é", "S", "BOOL"]) + str(j)] = _random_av(rng)
            if rng.random() < 0.5:
                it["retention_pk"], it["retention_due"] = S(f"R#{rng.randint(0, 2)}"), S(f"2036-0{rng.randint(1, 9)}")
            return it

        for i in range(args.serialize_items):
            pk, sk = f"P#{rng.randint(0, 9)}", f"S#{i:05d}"
            keys.append((pk, sk))
            r = rng.random()
            if r < 0.5:
                twins("ddb", "put_item", TableName=TABLE, Item=item(pk, sk), ReturnValues="ALL_OLD")
            elif r < 0.7 and i:
                opk, osk = rng.choice(keys)
                twins("ddb", "put_item", TableName=TABLE, Item=item(opk, osk), ReturnValues="ALL_OLD")
            else:
                twins("ddb", "batch_write_item", RequestItems={TABLE: [{"PutRequest": {"Item": item(pk, sk)}}]})
        key = lambda k: {"pk": S(k[0]), "sk": S(k[1])}  # noqa: E731
        for _ in range(args.serialize_items // 4):
            k = rng.choice(keys)
            ret = rng.choice(["ALL_NEW", "ALL_OLD", "UPDATED_NEW", "UPDATED_OLD", "NONE"])
            value = _random_av(rng)
            twins("ddb", "update_item", TableName=TABLE, Key=key(k), UpdateExpression="SET #u = :v, n0 = :n",
                  ExpressionAttributeNames={"#u": rng.choice(["a1", "new", "m2"])}, ExpressionAttributeValues={":v": value, ":n": N(rng.randint(0, 9))}, ReturnValues=ret)
            twins("ddb", "get_item", TableName=TABLE, Key=key(rng.choice(keys)), ConsistentRead=True)
        for _ in range(20):
            twins("ddb", "batch_get_item", RequestItems={TABLE: {"Keys": [key(k) for k in dict.fromkeys(rng.sample(keys, 10))]}})
            twins("ddb", "transact_get_items", TransactItems=[{"Get": {"TableName": TABLE, "Key": key(k)}} for k in rng.sample(keys, 5)])
        for p in range(10):
            for forward in (True, False):
                twins("ddb", "query", TableName=TABLE, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": S(f"P#{p}")}, ScanIndexForward=forward)
        for r in range(3):
            twins("ddb", "query", TableName=TABLE, IndexName="retention", KeyConditionExpression="retention_pk = :p", ExpressionAttributeValues={":p": S(f"R#{r}")})
        start = {}
        while True:
            page = twins("ddb", "scan", TableName=TABLE, Limit=37, **start)
            if "LastEvaluatedKey" not in page:
                break
            start = {"ExclusiveStartKey": page["LastEvaluatedKey"]}
        # Cancelled transactions: the cancellation reasons carry the stored item (ALL_OLD).
        for _ in range(10):
            k = rng.choice(keys)
            twins("ddb", "transact_write_items", TransactItems=[
                {"Put": {"TableName": TABLE, "Item": item(k[0], k[1]), "ConditionExpression": "attribute_not_exists(pk)", "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}},
            ])
        for _ in range(args.serialize_items // 8):
            k = rng.choice(keys)
            twins("ddb", "delete_item", TableName=TABLE, Key=key(k), ReturnValues="ALL_OLD")
        # Item sizes around moto's 405,000-byte limit: the same put accepted or refused.
        refused = 0
        for target in (404_000, 404_990, 404_999, 405_000, 405_001, 405_100):
            it = {"pk": S("BIG"), "sk": S(str(target)), "é": S("y" * 1000)}
            # moto's size: each key's and string value's UTF-8 bytes; "big" takes the rest
            it["big"] = S("x" * (target - sum(len(k.encode()) + len(v["S"].encode()) for k, v in it.items()) - 3))
            out = twins("ddb", "put_item", TableName=TABLE, Item=it)
            refused += "error" in out
        assert refused == 2, refused  # 405,001 and 405,100
        # The stream: every record (keys, old and new images of every type), page by page.
        arns = [s.ddb.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"] for s in (after, before)]
        iterators = [s.streams.get_shard_iterator(StreamArn=a, ShardId=shard_id(s, a), ShardIteratorType="TRIM_HORIZON")["ShardIterator"] for s, a in zip((after, before), arns)]
        records = 0
        while True:
            outs = []
            for s, it in zip((after, before), iterators):
                twins.bodies.pop(id(s), None)
                out = s.streams.get_records(ShardIterator=it, Limit=50)
                outs.append((out, _mask(twins.bodies[id(s)])))
            (oa, ra), (ob, rb) = outs
            assert ra == rb, f"GetRecords answered differently\n  after  {str(ra)[:1500]}\n  before {str(rb)[:1500]}"
            twins.calls += 1
            records += len(oa["Records"])
            iterators = [oa["NextShardIterator"], ob["NextShardIterator"]]
            if not oa["Records"]:
                break
        count = after.ddb.describe_table(TableName=TABLE)["Table"]["ItemCount"]
        print(f"serialize: {twins.calls} calls on both servers ({count} items, {records} stream records, {refused} of 6 puts near "
              "405,000 bytes refused): raw bodies identical", flush=True)


# --- memory -----------------------------------------------------------------------------------


def _memory_txn(n: int, orgs: int, seen: list) -> list:
    """The n-th contact create (never cancelled): 6 Puts, a ConditionCheck, the lock Update."""
    org = n % orgs
    return create_txn(org, n, f"m{n}@example.org", seen[org])


def _memory_setup(put, orgs: int):
    for org in range(orgs):
        put({"pk": S(f"ORG#{org}"), "sk": S("ORG"), "item_type": S("org"), "name": S(f"Practice {org}")})
        put({"pk": S(f"ORG#{org}"), "sk": S("LOCK#CONTACTS"), "seen": N(0)})


def _compact_json(value) -> int:
    return len(json.dumps(value, separators=(",", ":")))


def memory_server(args, label, env, script=None):
    """RSS, write latency and GetRecords latency of --txns contact creates on a server."""
    with moto(script, **env) as server:
        ddb = server.ddb
        stream_arn = create_table(ddb)
        _memory_setup(lambda item: ddb.put_item(TableName=TABLE, Item=item), args.orgs)
        ddb.list_tables()
        rss0 = server.rss()
        seen = [0] * args.orgs
        lat = []
        print(f"== memory {label}: {args.txns} contact creates (6 items, 7 stream records each)", flush=True)
        print(f"   {'txns':>6} {'RSS MB':>8} {'KB/txn':>7} {'p50 ms':>7} {'p99 ms':>7}", flush=True)
        window = []
        for n in range(1, args.txns + 1):
            items = _memory_txn(n, args.orgs, seen)
            start = time.perf_counter()
            ddb.transact_write_items(TransactItems=items)
            ms = 1000 * (time.perf_counter() - start)
            seen[n % args.orgs] += 1
            lat.append(ms)
            window.append(ms)
            if n % args.every == 0 or n == args.txns:
                rss = server.rss()
                window.sort()
                print(f"   {n:>6} {rss:>8.0f} {1024 * (rss - rss0) / n:>7.1f} {_pct(window, 0.5):>7.1f} {_pct(window, 0.99):>7.1f}", flush=True)
                window = []
        rss_written = server.rss()
        # The stream, read as the relay reads it: pages of --records-limit from TRIM_HORIZON.
        it = iterator(server, stream_arn, "TRIM_HORIZON")
        pages, records, body_bytes = [], 0, [0]
        server.streams.meta.events.register("before-parse", lambda response_dict, **_: body_bytes.__setitem__(0, body_bytes[0] + len(response_dict["body"])))
        while True:
            start = time.perf_counter()
            out = server.streams.get_records(ShardIterator=it, Limit=args.records_limit)
            ms = 1000 * (time.perf_counter() - start)
            if not out["Records"]:
                break
            pages.append(ms)
            records += len(out["Records"])
            it = out["NextShardIterator"]
        rss_read = server.rss()
        lat.sort()
        pages.sort()
        count = ddb.describe_table(TableName=TABLE)["Table"]["ItemCount"]
        print(
            f"== memory {label}: {args.txns} txns, {count} items, {records} stream records; RSS {rss0:.0f} -> {rss_written:.0f} MB "
            f"(+{1024 * (rss_written - rss0) / args.txns:.1f} KB per contact create); after reading the stream {rss_read:.0f} MB\n"
            f"   TransactWriteItems p50 {_pct(lat, 0.5):.1f} ms, p99 {_pct(lat, 0.99):.1f} ms; "
            f"GetRecords (Limit {args.records_limit}, {len(pages)} pages, {body_bytes[0] / max(records, 1):.0f} response bytes per record) "
            f"p50 {_pct(pages, 0.5):.1f} ms, p99 {_pct(pages, 0.99):.1f} ms",
            flush=True,
        )
        return {"rss_kb_per_txn": 1024 * (rss_written - rss0) / args.txns, "write_p50": _pct(lat, 0.5), "write_p99": _pct(lat, 0.99),
                "records_p50": _pct(pages, 0.5), "records_p99": _pct(pages, 0.99)}


class _Sizer:
    """Deep sizes of moto's objects without touching them (no __dict__ materialized): each object
    counted once, in the order the categories are walked."""

    def __init__(self):
        self.seen = set()
        self.instance = {}

    def instance_size(self, obj, names):
        """What an instance costs with its attributes set (managed-dict values included),
        measured once per class."""
        import tracemalloc

        cls = type(obj)
        if cls not in self.instance:
            if hasattr(cls, "__slots__") and not hasattr(obj, "__dict__"):
                self.instance[cls] = sys.getsizeof(obj)
            else:
                before = tracemalloc.get_traced_memory()[0]
                probes = []
                for _ in range(200):
                    probe = object.__new__(cls)
                    for name in names:
                        object.__setattr__(probe, name, None)
                    probes.append(probe)
                self.instance[cls] = (tracemalloc.get_traced_memory()[0] - before) / 200 - 8
                del probes
        return self.instance[cls]

    def walk(self, root, stop=()):
        total = 0
        stack = [root]
        seen = self.seen
        while stack:
            x = stack.pop()
            if id(x) in seen or x is None or x is True or x is False or isinstance(x, stop):
                continue
            seen.add(id(x))
            t = type(x)
            if t in (str, bytes, int, float) or t.__name__ in ("datetime", "Decimal"):
                total += sys.getsizeof(x)
            elif isinstance(x, dict):
                total += sys.getsizeof(x)
                stack.extend(x.keys())
                stack.extend(x.values())
                for name in getattr(t, "__slots__", ()):
                    stack.append(getattr(x, name, None))
            elif isinstance(x, (list, tuple, set, frozenset)):
                total += sys.getsizeof(x)
                stack.extend(x)
            else:
                names = [n for c in t.__mro__ for n in getattr(c, "__slots__", ())]
                if hasattr(x, "__dict__"):
                    names += list(vars(x))
                total += self.instance_size(x, names)
                stack.extend(getattr(x, n, None) for n in names)
        return total


def memory_walk(args):
    """In this process (moto_serial's patches per the environment): --walk-txns contact creates
    through moto's WSGI app (requests parsed as the server parses them), then tracemalloc's total
    and a breakdown by what holds the memory."""
    import gc
    import tracemalloc

    sys.path.insert(0, os.environ.get("MOTO_SOAK_SERIAL_DIR", str(HERE)))
    import moto_serial  # noqa: F401  (patches moto in this process per MOTO_SERIAL_* variables)
    from moto.dynamodb.models import dynamodb_backends
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.test import Client

    client = Client(DomainDispatcherApplication(create_backend_app))

    def call(service, op, body):
        prefix = "DynamoDB_20120810" if service == "dynamodb" else "DynamoDBStreams_20120810"
        r = client.post("/", data=json.dumps(body), headers={
            "X-Amz-Target": f"{prefix}.{op}", "Content-Type": "application/x-amz-json-1.0",
            "Authorization": f"AWS4-HMAC-SHA256 Credential=test/20260101/{REGION}/dynamodb/aws4_request, SignedHeaders=host, Signature=0",
        })
        assert r.status_code == 200, (op, r.status_code, r.get_data()[:500])
        return r.get_data()

    call("dynamodb", "CreateTable", {
        "TableName": TABLE, "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk", "retention_pk", "retention_due")],
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "GlobalSecondaryIndexes": [{"IndexName": "retention", "KeySchema": [{"AttributeName": "retention_pk", "KeyType": "HASH"}, {"AttributeName": "retention_due", "KeyType": "RANGE"}], "Projection": {"ProjectionType": "KEYS_ONLY"}}],
        "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    })
    _memory_setup(lambda item: call("dynamodb", "PutItem", {"TableName": TABLE, "Item": item}), args.orgs)
    seen = [0] * args.orgs
    call("dynamodb", "TransactWriteItems", {"TransactItems": _memory_txn(0, args.orgs, seen)})  # warm-up (caches, first-use imports)
    seen[0] += 1
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    wire_items = 0
    t0 = time.process_time()
    for n in range(1, args.walk_txns + 1):
        txn = _memory_txn(n, args.orgs, seen)
        wire_items += sum(_compact_json(next(iter(t.values()))["Item"]) for t in txn if "Put" in t)
        call("dynamodb", "TransactWriteItems", {"TransactItems": txn})
        seen[n % args.orgs] += 1
    cpu = time.process_time() - t0
    gc.collect()
    total = tracemalloc.get_traced_memory()[0] - base
    if os.environ.get("MOTO_SOAK_TOP"):
        for stat in tracemalloc.take_snapshot().statistics("lineno")[: int(os.environ["MOTO_SOAK_TOP"])]:
            print("  ", stat)

    backend = dynamodb_backends["123456789012"][REGION]
    table = backend.tables[TABLE]
    shard = table.stream_shard
    sizer = _Sizer()
    items = [item for partition in table.items.values() for item in partition.values()]
    items_bytes = sum(sizer.walk(item) for item in items)
    containers = sizer.walk(table.items)
    own_records = sizer.walk(shard.items, stop=(type(table),))
    all_records = _Sizer().walk(shard.items, stop=(type(table),))
    n_items, n_records = len(items), len(shard.items)
    txns = args.walk_txns
    wire_records = 0
    body = json.loads(call("dynamodbstreams", "GetShardIterator", {"StreamArn": table.table_arn + "/stream/" + table.latest_stream_label, "ShardId": shard.id, "ShardIteratorType": "TRIM_HORIZON"}))
    it = body["ShardIterator"]
    while True:
        page = json.loads(call("dynamodbstreams", "GetRecords", {"ShardIterator": it, "Limit": 1000}))
        if not page["Records"]:
            break
        wire_records += sum(_compact_json(r) for r in page["Records"])
        it = page["NextShardIterator"]
    other = total - items_bytes - containers - own_records
    kb = lambda b: b / 1024  # noqa: E731
    print(f"== memory walk ({args.label}): {txns} contact creates in process (tracemalloc), {n_items} items, {n_records} stream records; "
          f"{1000 * cpu / txns:.1f} ms CPU per create (traced)")
    print(f"   traced total            {kb(total) / txns:7.2f} KB per create")
    print(f"   items                   {kb(items_bytes) / txns:7.2f} KB per create = {items_bytes / n_items:6.0f} B per item "
          f"(wire JSON {wire_items / (6 * txns):.0f} B per item)")
    print(f"   partitions, order lists {kb(containers) / txns:7.2f} KB per create")
    print(f"   stream records (own)    {kb(own_records) / txns:7.2f} KB per create = {own_records / n_records:6.0f} B per record "
          f"(with what they share with items {all_records / n_records:.0f} B; wire JSON {wire_records / n_records:.0f} B per record)")
    print(f"   anything else           {kb(other) / txns:7.2f} KB per create")
    tracemalloc.stop()


def _strict(value) -> str:
    """repr, which tells True from 1, bytes from str and keeps key order."""
    return repr(value)


def _records_inprocess(rng, rounds):
    """CompactStreamRecord (moto_serial.py 12) against moto's StreamRecord: the same items, the same
    eventID and time, records compared type for type; and a record marshal refuses."""
    sys.path.insert(0, str(HERE))
    import moto_serial
    from moto.dynamodb.models import table as table_module
    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    if not moto_serial.COMPACT:
        print("records: MOTO_SERIAL_COMPACT=0, nothing to compare in process")
        return
    moto_record, compact = moto_serial._MotoStreamRecord, moto_serial.CompactStreamRecord
    assert table_module.StreamRecord is compact
    fake = type("T", (), {"hash_key_attr": "pk", "range_key_attr": "sk"})()
    import moto.dynamodb.models.table as tm

    real_uuid, real_now = tm.mock_random.uuid4, tm.utcnow
    compared = compressed = 0
    try:
        for i in range(rounds):
            def item():
                attrs = {"pk": S(f"P{i % 7}"), "sk": S(f"S{i}")}
                for j in range(rng.randint(0, 8)):
                    attrs[rng.choice(["a", "m", "é", "S", "BOOL"]) + str(j)] = _random_av(rng)
                if rng.random() < 0.05:
                    attrs["big"] = S("x" * rng.choice([200, 5000, 300_000]))
                return Item(DynamoType(attrs["pk"]), DynamoType(attrs["sk"]), attrs)
            old, new = rng.choice([(None, item()), (item(), item()), (item(), None)])
            event = "INSERT" if old is None else "REMOVE" if new is None else "MODIFY"
            view = rng.choice(["NEW_AND_OLD_IMAGES", "NEW_IMAGE", "OLD_IMAGE", "KEYS_ONLY"])
            uuid = tm.mock_random.uuid4()
            now = real_now()
            tm.mock_random.uuid4, tm.utcnow = (lambda: uuid), (lambda: now)
            expected = object.__new__(moto_record)
            moto_record.__init__(expected, fake, view, event, old, new, 1100000000017454423009 + i)
            threshold = moto_serial._COMPRESS_ABOVE
            if i % 4 == 0:  # the uncompressed form too
                moto_serial._COMPRESS_ABOVE = 1 << 30
            try:
                got = compact(fake, view, event, old, new, 1100000000017454423009 + i)
            finally:
                moto_serial._COMPRESS_ABOVE = threshold
            tm.mock_random.uuid4, tm.utcnow = real_uuid, real_now
            for _ in range(2):  # rebuilt each time, the same each time
                assert _strict(got.to_json()) == _strict(expected.to_json()), f"record differs\n  moto    {expected.to_json()}\n  compact {got.to_json()}"
                assert _strict(got.record) == _strict(expected.record)
            assert got.created is expected.record["dynamodb"]["ApproximateCreationDateTime"]
            assert moto_serial._record_created(got) == moto_serial._record_created(expected)
            compressed += type(got._data) is bytes and got._data[:1] == b"z"
            compared += 1
    finally:
        tm.mock_random.uuid4, tm.utcnow = real_uuid, real_now
    # Something marshal cannot hold (moto never puts one in an image): moto's dict is kept.
    odd = Item(DynamoType(S("p")), DynamoType(S("s")), {"pk": S("p"), "sk": S("s")})
    odd.attrs["n"] = DynamoType({"N": "1"})
    odd.attrs["n"].value = __import__("decimal").Decimal("1.5")
    kept = compact(fake, "NEW_AND_OLD_IMAGES", "INSERT", None, odd, 1)
    assert type(kept._data) is dict and kept.to_json()["dynamodb"]["NewImage"]["n"] == {"N": kept._data["dynamodb"]["NewImage"]["n"]["N"]}
    assert moto_serial._record_created(kept) is kept.to_json()["dynamodb"]["ApproximateCreationDateTime"]
    print(f"records: in process, {compared} records ({compressed} compressed) identical to moto's StreamRecord, type for type", flush=True)


def records_check(args):
    """Compact stream records (moto_serial.py 12) and interned items (13, 14): in process against
    moto's StreamRecord, then a mix of inserts, modifies and removes (every attribute type, items
    up to moto's size limit, nested updates, batches, committed and cancelled transactions) on a
    patched and a baseline server, every GetRecords body (TRIM_HORIZON, AT/AFTER_SEQUENCE_NUMBER,
    LATEST; Limits 1 to 1000) compared raw, then the items themselves."""
    rng = random.Random(args.seed)
    _records_inprocess(rng, args.records_rounds)
    with moto() as after, moto(MOTO_SERIAL_BASELINE=1) as before:
        servers = (after, before)
        twins = RawTwins(after, before)
        arns = [create_table(s.ddb) for s in servers]
        key = lambda k: {"pk": S(k[0]), "sk": S(k[1])}  # noqa: E731
        keys = []

        def item(pk, sk):
            it = {"pk": S(pk), "sk": S(sk)}
            for j in range(rng.randint(0, 10)):
                it[rng.choice(["a", "b", "m", "l", "é", "S", "BOOL"]) + str(j)] = _random_av(rng)
            if rng.random() < 0.04:
                it["big"] = S("é" * rng.choice([1000, 100_000, 190_000]))
            if rng.random() < 0.3:
                it["nest"] = {"M": {"l": {"L": [N(1), S("x")]}, "s": {"SS": ["a", "b"]}, "n": N(0)}}
            return it

        def reads(iterators, limit):
            """Every record from each server's iterator, page by page, bodies compared."""
            count = 0
            while True:
                outs = []
                for s, it in zip(servers, iterators):
                    twins.bodies.pop(id(s), None)
                    out = s.streams.get_records(ShardIterator=it, Limit=limit)
                    outs.append((out, _mask(twins.bodies[id(s)])))
                (oa, ra), (ob, rb) = outs
                assert ra == rb, f"GetRecords answered differently\n  after  {str(ra)[:1500]}\n  before {str(rb)[:1500]}"
                twins.calls += 1
                count += len(oa["Records"])
                iterators = [oa["NextShardIterator"], ob["NextShardIterator"]]
                if not oa["Records"]:
                    return count, iterators, [int(r["dynamodb"]["SequenceNumber"]) for r in oa["Records"]]

        def iterators_of(kind, seq=None):
            return [iterator(s, a, kind, seq) for s, a in zip(servers, arns)]

        latest = iterators_of("LATEST")
        for step in range(args.records_writes):
            r = rng.random()
            pk, sk = f"P#{rng.randint(0, 5)}", f"S#{rng.randint(0, args.records_writes // 3):05d}"
            if r < 0.35 or not keys:
                keys.append((pk, sk))
                twins("ddb", "put_item", TableName=TABLE, Item=item(pk, sk))
            elif r < 0.6:
                k = rng.choice(keys)
                expr = rng.choice([
                    "SET #u = :v, n0 = :n", "SET nest.l = list_append(nest.l, :l)", "ADD nest.n :n",
                    "REMOVE a1, #u", "SET nest.s = :v", "ADD tags :ss", "DELETE tags :ss", "SET nest.l[0] = :v",
                ])
                names = {"#u": rng.choice(["a1", "new", "m2"])}
                values = {":v": _random_av(rng), ":n": N(rng.randint(0, 9)), ":l": {"L": [_random_av(rng)]}, ":ss": {"SS": ["t1", "t2"]}}
                extra = {"ExpressionAttributeNames": names} if "#u" in expr else {}
                values = {p: v for p, v in values.items() if p in expr}
                if values:
                    extra["ExpressionAttributeValues"] = values
                twins("ddb", "update_item", TableName=TABLE, Key=key(k), UpdateExpression=expr, **extra)
            elif r < 0.7:
                twins("ddb", "delete_item", TableName=TABLE, Key=key(rng.choice(keys)))
            elif r < 0.8:
                batch = {}
                for _ in range(rng.randint(1, 6)):
                    if rng.random() < 0.7:
                        k = (pk, f"B#{rng.randint(0, 99):03d}")
                        keys.append(k)
                        batch[k] = {"PutRequest": {"Item": item(*k)}}
                    else:
                        k = rng.choice(keys)
                        batch[k] = {"DeleteRequest": {"Key": key(k)}}
                twins("ddb", "batch_write_item", RequestItems={TABLE: list(batch.values())})
            else:  # a transaction, cancelled when its last Put finds its item
                k1, k2 = (pk, f"T#{step}"), rng.choice(keys)
                keys.append(k1)
                twins("ddb", "transact_write_items", TransactItems=[
                    {"Put": {"TableName": TABLE, "Item": item(*k1)}},
                    {"Update": {"TableName": TABLE, "Key": key(k2), "UpdateExpression": "SET v = :v", "ExpressionAttributeValues": {":v": _random_av(rng)}}},
                    {"Put": {"TableName": TABLE, "Item": item(pk, f"X#{rng.randint(0, 20)}"), "ConditionExpression": "attribute_not_exists(pk)",
                             "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}},
                ])
            if step % 97 == 96:  # the relay's iterator, read as it goes
                _, latest, _ = reads(latest, rng.choice([1, 10, 100]))
        total = 0
        for limit in (1000, 100, 7, 1):
            count, _, _ = reads(iterators_of("TRIM_HORIZON"), limit)
            total = max(total, count)
        first = int(after.streams.get_records(ShardIterator=iterators_of("TRIM_HORIZON")[0], Limit=1)["Records"][0]["dynamodb"]["SequenceNumber"])
        for _ in range(10):
            seq = first + rng.randrange(total)
            reads(iterators_of(rng.choice(["AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER"]), seq), rng.choice([3, 50, 1000]))
        reads(latest, 1000)
        # The items themselves (interned strings, slotted DynamoTypes): a full Scan, raw bodies.
        start = {}
        while True:
            page = twins("ddb", "scan", TableName=TABLE, Limit=50, **start)
            if "LastEvaluatedKey" not in page:
                break
            start = {"ExclusiveStartKey": page["LastEvaluatedKey"]}
        count = after.ddb.describe_table(TableName=TABLE)["Table"]["ItemCount"]
        print(f"records: {twins.calls} calls on both servers ({total} stream records of {args.records_writes} writes, {count} items): "
              "GetRecords and Scan bodies identical", flush=True)


def memory(args):
    """Before (MOTO_SERIAL_COMPACT=0, or --before-script) and after: the in-process breakdown
    (a child process each), then the server runs."""
    variants = [("before", {"MOTO_SERIAL_COMPACT": 0}, args.before_script), ("after", {}, None)]
    if args.only:
        variants = [v for v in variants if v[0] == args.only]
    if args.walk_txns:
        for label, env, script in variants:
            child_env = {**os.environ, **{k: str(v) for k, v in env.items()}}
            cmd = [sys.executable, str(Path(__file__).resolve()), "memory-walk", "--label", label, "--walk-txns", str(args.walk_txns), "--orgs", str(args.orgs)]
            if script:  # the walk imports moto_serial from the script's directory
                child_env["MOTO_SOAK_SERIAL_DIR"] = str(Path(script).resolve().parent)
            subprocess.run(cmd, env=child_env, check=True)
    results = {}
    for label, env, script in variants:
        if args.txns:
            results[label] = memory_server(args, label, env, script)
    if len(results) == 2:
        b, a = results["before"], results["after"]
        print("== memory before -> after: " + "; ".join(f"{k} {b[k]:.1f} -> {a[k]:.1f}" for k in b), flush=True)


def _code(f):
    try:
        f()
    except ClientError as e:
        return e.response["Error"]["Code"]
    return None


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=["soak", "check", "trim", "query", "serialize", "qtime", "records", "memory", "memory-walk", "all"])
    p.add_argument("--baseline", action="store_true", help="soak moto's own rollback (MOTO_SERIAL_BASELINE=1)")
    p.add_argument("--items", type=int, default=60000)
    p.add_argument("--txns", type=int, default=3000)
    p.add_argument("--orgs", type=int, help="organizations (soak: 20, qtime: 1, one practice)")
    p.add_argument("--cancel-every", type=int, default=10)
    p.add_argument("--every", type=int, default=500)
    p.add_argument("--retention", type=float, help="MOTO_SERIAL_STREAM_RETENTION_SECONDS for the soak")
    p.add_argument("--rss-cap-mb", type=float, default=4000)
    p.add_argument("--gc", choices=["freeze", "python"], help="MOTO_SERIAL_GC for the soak (default: the server's, freeze)")
    p.add_argument("--seed", type=int, default=1, help="query: random seed")
    p.add_argument("--query-items", type=int, default=3000, help="query: items loaded on both servers")
    p.add_argument("--queries", type=int, default=400, help="query: random Queries (each read page by page)")
    p.add_argument("--query-rounds", type=int, default=8, help="query: rounds of Queries, with writes between")
    p.add_argument("--max-pages", type=int, default=100, help="query: pages read per Query at most")
    p.add_argument("--serialize-rounds", type=int, default=4000, help="serialize: random values compared in process")
    p.add_argument("--serialize-items", type=int, default=400, help="serialize: items written on both servers")
    p.add_argument("--records-rounds", type=int, default=3000, help="records: stream records compared in process")
    p.add_argument("--records-writes", type=int, default=1000, help="records: writes on both servers")
    p.add_argument("--sizes", default="10000,50000,100000", help="qtime: table sizes (items)")
    p.add_argument("--reps", type=int, default=40, help="qtime: timed pages per query shape (before: fewer on big tables)")
    p.add_argument("--only", choices=["before", "after"], help="qtime, memory: one server only")
    p.add_argument("--walk-txns", type=int, default=2000, help="memory: contact creates of the in-process breakdown (0: none)")
    p.add_argument("--records-limit", type=int, default=100, help="memory: GetRecords Limit")
    p.add_argument("--before-script", help="memory: the moto_serial.py to measure as before (default: this one, MOTO_SERIAL_COMPACT=0)")
    p.add_argument("--label", default="", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.orgs is None:
        args.orgs = 1 if args.what == "qtime" else 20
    os.nice(10)  # a shared machine: the server (a child) inherits it
    if args.what in ("check", "all"):
        check(args)
    if args.what in ("trim", "all"):
        trim(args)
    if args.what in ("query", "all"):
        query_check(args)
    if args.what in ("serialize", "all"):
        serialize_check(args)
    if args.what in ("records", "all"):
        records_check(args)
    if args.what == "qtime":
        query_timing(args)
    if args.what == "soak":
        soak(args)
    if args.what == "memory":
        memory(args)
    if args.what == "memory-walk":
        memory_walk(args)
    if args.what == "all":
        soak(argparse.Namespace(**{**vars(args), "baseline": True, "items": 2000, "txns": 100, "every": 10}))
        soak(args)


if __name__ == "__main__":
    main()
