"""moto's server, serving one request at a time, with memory that grows only with stored data.

DynamoDB transactions are serializable: of two concurrent TransactWriteItems whose conditions
conflict, one fails. moto's own `moto_server` is threaded and checks a transaction's conditions
and applies its writes without a lock, so two concurrent transactions can both pass their
`attribute_not_exists` checks (seen here: 3 of 6 concurrent creates with one e-mail succeeded).
Serving one request at a time gives the emulator the isolation the real service has, so the
tests that prove "exactly one wins" test our code, not moto's races.

Non-threaded werkzeug answers HTTP/1.0 and closes each connection, so an SDK's idle pooled
connection never blocks the next request.

A cancelled transaction must leave the table and its stream as it found them, and a stream
iterator opened before it (the stream relay's, which reads for the whole life of the stack)
must see exactly the committed writes. moto 5.2.5 rolls a failed TransactWriteItems back by
deep-copying each table it names once per item of the transaction, beforehand, and swapping the
copy in on failure. That costs (items per transaction x table size) per write: at 2,000 records
a contact create took 1.7 s, and since every copied model stays in moto's class-level instance
list, memory grew ~90 MB per create until the server was OOM-killed. And swapping in the copy
replaced the stream shard under live iterators (which then saw the cancelled writes' records
and nothing after). The patches below, applied at import (see `install_patches`):

1. `transact_with_undo_log`: the rollback costs the items the transaction touches. moto's
   own `transact_write_items` still runs (its condition checks, cancellation reasons and
   errors are unchanged), but its table snapshot is made free, and an undo log (each touched
   item's previous state or absence, and each stream's next sequence number) restores exactly
   those on failure. Tables and stream shards are never replaced.
2. `stop_tracking_instances`: DynamoDB and DynamoDB Streams models are no longer appended to
   moto's class-level `instances_tracked` lists, so items, query results and their copies are
   freed once unreferenced.
3. `retain_stream_records`: stream records are trimmed after MOTO_SERIAL_STREAM_RETENTION_SECONDS
   (default 86400, DynamoDB's 24 hours), keeping sequence numbers and iterators valid; reading
   below the trim point is TrimmedDataAccessException, as on DynamoDB. Shard iterators expire
   MOTO_SERIAL_ITERATOR_TTL_SECONDS (default 900, DynamoDB's 15 minutes) after they are issued
   (ExpiredIteratorException), since moto keeps every iterator ever issued, one per GetRecords.
4. `no_empty_partitions`: a read or delete of an absent item no longer leaves an empty
   partition behind.
5. `query_reads_its_pages`: moto's Query sorted the whole table for every page (1.6 s for 50
   items at 100,000 items). A Query on the table now reads the queried partition, kept in
   range-key order (`keep_partitions_in_order`), from ExclusiveStartKey to the end of the page:
   a 50-item page costs the same at 10,000 and 100,000 items (~80 ms over HTTP for full contact
   items before 7, nearly all of it moto's response serializer). One on a GSI reads the table once
   without sorting it (~0.1 s at 100,000 items). moto's own query code still produces the
   answer, from just the items it would have read, so pages, order, LastEvaluatedKey, Limit
   before FilterExpression, Count/ScannedCount, projection and errors are moto's; shapes not
   handled go to moto's code unchanged.
6. `GcBetweenRequests` (MOTO_SERIAL_GC=freeze, the default): CPython's full collection walked
   every stored item (up to 2 s at 100,000 items, in the middle of some request). Stored data is
   frozen out of the collector between requests; only new objects are collected, and the one
   full walk that frees dropped reference cycles runs when the server is idle.

Then moto's per-request costs, measured on `infra/hub seed` (before these, moto used ~50 ms of
CPU per seeded record, 85% of a core, and capped the seed at ~16 records/s; after, ~15 ms and
~38 records/s, the rest of the stack now using as much CPU as moto):

7. `serialize_attribute_values_directly`, `parse_attribute_values_directly`: moto's generic,
   model-driven serializer spent ~20 failed key look-ups on every attribute of every item it
   returned (65% of moto's time in a seed; a GetRecords page of 100 stream records ~200 ms).
   AttributeValues (and maps of them) in DynamoDB and Streams responses, and in requests, are
   now converted directly, to exactly what moto's code produces; any other value goes to it.
8. `size_items_once`: building an Item re-summed the whole item's size before each attribute
   (quadratic; 14%). The same checks, in the same order, with a running sum.
9. `list_moto_modules_once`, 10. `list_handler_methods_once`, 11. `reserved_words_in_a_set`:
   a directory listing, an `inspect.getmembers` walk and a 570-word list scan per request or
   expression, each taken once or looked up in a set.

Then memory per stored record (`infra/moto_soak.py memory`: contact creates shaped like the
backend's, 6 items and 7 NEW_AND_OLD_IMAGES stream records each; before these, ~51 KB of Python
objects per create: ~3.3 KB per item of 543 JSON bytes, ~4.5 KB per stream record of 867):

12. `compact_stream_records`: a stream record is kept as marshal bytes (zlib-compressed when
    smaller), ~650 bytes, and rebuilt, the same dict, when GetRecords reads it.
13. `intern_item_strings`: a stored item's attribute names and string values are interned, so
    the copies a transaction writes into several items, and every name, are one str.
14. `slotted_dynamo_types`: `DynamoType` with `__slots__` (48 bytes instead of 88 per value).
    Together, ~1.65 KB per item; MOTO_SERIAL_COMPACT=0 leaves 12-14 out.

MOTO_SERIAL_PROFILE=DIR counts requests by operation with their CPU time (DIR/ops.txt, and
cProfile output with MOTO_SERIAL_PROFILE_CPROFILE=1); see `RequestProfile`.

MOTO_SERIAL_BASELINE=1 serves moto as it was before these patches (one request at a time, with
only the stream-shard fix `keep_streams_on_rollback`, CPython's garbage collection), for
before/after measurements (infra/moto_soak.py). Never use it for the stack.

Usage: python moto_serial.py HOST PORT
"""

import copy
import gc
import marshal
import os
import select
import signal
import sys
import time
import zlib
from bisect import bisect_left, bisect_right
from collections import defaultdict
from datetime import timedelta
from inspect import signature
from operator import itemgetter

from moto.core.exceptions import JsonRESTError
from moto.core.model_instances import model_data
from moto.core.utils import utcnow
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import RESULT_SIZE_LIMIT, StreamShard, Table
from moto.dynamodbstreams.models import DynamoDBStreamsBackend, ShardIterator
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import BaseWSGIServer, run_simple

STREAM_RETENTION = timedelta(seconds=float(os.environ.get("MOTO_SERIAL_STREAM_RETENTION_SECONDS", 86400)))
ITERATOR_TTL_SECONDS = float(os.environ.get("MOTO_SERIAL_ITERATOR_TTL_SECONDS", 900))


def keep_streams_on_rollback(transact_write_items):
    """Baseline only: moto's rollback swaps in a deep copy of each table, stream shard included.
    Keep the original shard object, trimmed back to its length before the transaction, so live
    iterators see exactly the committed writes. (The undo log never replaces a table, so it
    makes this unnecessary.)"""

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


# --- 1. TransactWriteItems rolls back with an undo log ------------------------------------------
#
# moto's `DynamoDBBackend.transact_write_items` (moto/dynamodb/models/__init__.py) takes
# `copy.deepcopy(self.tables[name])` for every item of the transaction, then, item by item and
# in order, checks the item's condition and applies it at once (`put_item`, `delete_item`,
# `update_item`), carrying on after a failed condition to collect every cancellation reason; on
# any failure it assigns the copies back to `self.tables` and raises. A write touches only
# `Table.items` (partition dict -> {range key -> Item}; the GSIs and LSIs are computed from it at
# each Query/Scan, and the item count is `len(table)`) and appends to `Table.stream_shard.items`.
# So we run moto's code unchanged, with `Table.__deepcopy__` returning the table itself while it
# runs (its "restore" then assigns each table to itself), and undo from our own log.

_transaction_running = False


def _table_deepcopy(self, memo):
    if _transaction_running:
        return self  # moto's rollback snapshot; the undo log replaces it
    # Anyone else (CreateBackup, RestoreTableToPointInTime) gets copy.deepcopy's default copy.
    return copy._reconstruct(self, memo, *self.__reduce_ex__(4))


def _touched_item(backend, transact_item):
    """(table, hash key, range key, operation) of the item a transaction entry names, found as moto finds it
    (by name or ARN, the key from `Key`, or from `Item` for a Put); None if moto cannot find it
    either, and then fails that entry before writing anything."""
    try:
        op_type, op = next(iter(transact_item.items()))
        table = backend.get_table(op["TableName"])
        if op_type == "Put":
            attrs = op["Item"]
            key = {table.hash_key_attr: attrs[table.hash_key_attr]}
            if table.range_key_attr is not None:
                key[table.range_key_attr] = attrs[table.range_key_attr]
        else:
            key = op["Key"]
        hash_key, range_key = backend.get_keys_value(table, key)
    except Exception:
        return None
    return table, hash_key, range_key, op_type


def _stored_item(table, hash_key, range_key):
    """(partition existed, Item or None), without creating a partition (`Table.items` is a
    defaultdict)."""
    partition = table.items.get(hash_key)
    if not table.has_range_key:
        return partition is not None, partition
    return partition is not None, (partition.get(range_key) if partition is not None else None)


def _restore_item(table, hash_key, range_key, partition_existed, previous):
    if not table.has_range_key:
        if previous is None:
            table.items.pop(hash_key, None)
        else:
            table.items[hash_key] = previous
        return
    if previous is not None:
        table.items[hash_key][range_key] = previous
        return
    partition = table.items.get(hash_key)
    if partition is not None:
        partition.pop(range_key, None)
        if not partition and not partition_existed:
            del table.items[hash_key]


def _rewind_stream(shard, next_sequence_number):
    """Drops the records from `next_sequence_number` on. Sequence numbers are list positions
    offset by `starting_sequence_number`, which trimming advances (see 3)."""
    keep = next_sequence_number - shard.starting_sequence_number
    if keep >= 0:
        del shard.items[keep:]
    else:  # trimmed meanwhile past the transaction's first record (only with a tiny retention)
        shard.items.clear()
        shard.starting_sequence_number = next_sequence_number


def transact_with_undo_log(transact_write_items):
    def patched(self, transact_items):
        global _transaction_running
        # Touched items by key (moto refuses two operations on one item, but only compares the
        # request's key dicts: first sighting wins, which is the state before the transaction).
        touched = {}
        for transact_item in transact_items:
            found = _touched_item(self, transact_item)
            if found is None:
                continue
            table, hash_key, range_key, op_type = found
            entry = touched.setdefault((id(table), hash_key, range_key), [table, hash_key, range_key, False])
            entry[3] = entry[3] or op_type == "Update"
        undo = []
        for table, hash_key, range_key, updated in touched.values():
            existed, previous = _stored_item(table, hash_key, range_key)
            # Put and Delete replace or remove the stored Item and leave the object as it was;
            # `update_item` edits it in place, so an updated item is saved as a copy.
            if updated and previous is not None:
                previous = copy.deepcopy(previous)
            undo.append((table, hash_key, range_key, existed, previous))
        tables = {id(t): t for t, *_ in touched.values()}.values()
        streams = [
            (t.stream_shard, t.stream_shard.starting_sequence_number + len(t.stream_shard.items))
            for t in tables
            if t.stream_shard is not None
        ]

        _transaction_running = True
        try:
            return transact_write_items(self, transact_items)
        except BaseException:
            for entry in undo:
                _restore_item(*entry)
            for shard, next_sequence_number in streams:
                _rewind_stream(shard, next_sequence_number)
            raise
        finally:
            _transaction_running = False

    return patched


# --- 2. No model instance kept forever ---------------------------------------------------------
#
# moto's `BaseModel.__new__` (moto/core/common_models.py) appends every instance of every model
# class to the class's `instances_tracked` list (created by `InstanceTrackerMeta`,
# moto/core/base_backend.py), and nothing removes them but a full reset. For DynamoDB that is
# every `Item` ever built: each put, each Query/Scan result (they are deep copies), each copy
# `update_item` takes for the stream's old image, each table copy; and every `StreamRecord` and
# `ShardIterator`. moto reads those lists only to list all instances on its dashboard
# (/moto-api/data.json), to empty them on reset (`reset_model_data`), and in S3's reset (to
# close its keys' temporary files; S3 is left alone). Nothing in dynamodb or dynamodbstreams
# reads them, so their models can skip the list: the backends hold what is stored.


def _untracked_new(cls, *args, **kwargs):
    return object.__new__(cls)


def stop_tracking_instances(*services):
    for service in services:
        for cls in model_data[service].values():
            cls.__new__ = staticmethod(_untracked_new)  # subclasses inherit it
            cls.instances_tracked = []


# --- 3. Stream records kept 24 hours, shard iterators 15 minutes --------------------------------
#
# A `StreamShard` (moto/dynamodb/models/table.py) keeps every record in `items`; a record's
# sequence number is its position plus `starting_sequence_number` (`add`), and `get(start, n)`
# and the `ShardIterator` types TRIM_HORIZON and LATEST (moto/dynamodbstreams/models.py) index
# the list the same way. Trimming the oldest k records and advancing `starting_sequence_number`
# by k keeps every sequence number, and every iterator at or after the trim point, valid, with
# moto's own indexing: TRIM_HORIZON becomes the oldest retained record. Reading below it is
# TrimmedDataAccessException (GetRecords, and GetShardIterator AT/AFTER_SEQUENCE_NUMBER), which
# is what DynamoDB answers for a trimmed record. The shard's StartingSequenceNumber in
# DescribeStream is then that of its oldest retained record.


class TrimmedDataAccessException(JsonRESTError):
    def __init__(self):
        super().__init__(
            "TrimmedDataAccessException",
            "The operation attempted to read past the oldest stream record in a shard.",
        )


class ExpiredIteratorException(JsonRESTError):
    def __init__(self):
        super().__init__(
            "ExpiredIteratorException",
            "The shard iterator has expired and can no longer be used to retrieve stream records.",
        )


def trim_stream(shard):
    cutoff = utcnow() - STREAM_RETENTION
    items = shard.items
    expired = 0
    while expired < len(items) and _record_created(items[expired]) < cutoff:
        expired += 1
    if expired:
        del items[:expired]
        shard.starting_sequence_number += expired


def retain_stream_records():
    add, get = StreamShard.add, StreamShard.get

    def trimming_add(self, old, new):
        trim_stream(self)
        return add(self, old, new)

    def checked_get(self, start, quantity):
        trim_stream(self)
        if start < self.starting_sequence_number:
            raise TrimmedDataAccessException()
        return get(self, start, quantity)

    StreamShard.add, StreamShard.get = trimming_add, checked_get

    # moto stores every iterator it issues in `DynamoDBStreamsBackend.shard_iterators`, and each
    # GetRecords issues one (its NextShardIterator): the relay's idle poll alone adds ~345,000 a
    # day. DynamoDB's iterators expire 15 minutes after they are issued; so do these.
    iterator_init = ShardIterator.__init__

    def timed_iterator_init(self, *args, **kwargs):
        iterator_init(self, *args, **kwargs)
        self.issued_at = time.monotonic()

    ShardIterator.__init__ = timed_iterator_init

    def expire_iterators(backend):
        cutoff = time.monotonic() - ITERATOR_TTL_SECONDS
        expired = []
        for arn, iterator in backend.shard_iterators.items():  # in the order they were issued
            if iterator.issued_at >= cutoff:
                break
            expired.append(arn)
        for arn in expired:
            del backend.shard_iterators[arn]

    get_shard_iterator, get_records = DynamoDBStreamsBackend.get_shard_iterator, DynamoDBStreamsBackend.get_records

    def trimming_get_shard_iterator(self, arn, shard_id, shard_iterator_type, sequence_number=None):
        expire_iterators(self)
        shard = self._get_table_from_arn(arn).stream_shard
        if shard is not None:
            trim_stream(shard)
            if sequence_number is not None and shard_iterator_type in ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER"):
                first = sequence_number + (shard_iterator_type == "AFTER_SEQUENCE_NUMBER")
                if first < shard.starting_sequence_number:
                    raise TrimmedDataAccessException()
        return get_shard_iterator(self, arn, shard_id, shard_iterator_type, sequence_number)

    def expiring_get_records(self, iterator_arn, limit):
        expire_iterators(self)
        if iterator_arn not in self.shard_iterators:
            raise ExpiredIteratorException()
        return get_records(self, iterator_arn, limit)

    DynamoDBStreamsBackend.get_shard_iterator = trimming_get_shard_iterator
    DynamoDBStreamsBackend.get_records = expiring_get_records


# --- 4. No empty partitions --------------------------------------------------------------------
#
# `Table.items` is a defaultdict, and `Table.get_item` and `Table.delete_item` index it with the
# partition key: on a table with a range key, every GetItem, condition check or Delete of an item
# whose partition is absent left an empty partition behind, and deleting a partition's last item
# left it too. Nothing reads an empty partition (Query, Scan and the item count iterate the
# stored items), so not creating them changes nothing but memory.


def no_empty_partitions():
    get_item, delete_item = Table.get_item, Table.delete_item

    def patched_get_item(self, hash_key, range_key=None, projection_expression=None):
        if self.has_range_key and range_key is not None and hash_key not in self.items:
            return None
        return get_item(self, hash_key, range_key, projection_expression)

    def patched_delete_item(self, hash_key, range_key):
        if not (self.has_range_key and range_key is not None):
            return delete_item(self, hash_key, range_key)
        if hash_key not in self.items:
            return None
        item = delete_item(self, hash_key, range_key)
        if not self.items[hash_key]:
            del self.items[hash_key]
        return item

    Table.get_item, Table.delete_item = patched_get_item, patched_delete_item


# --- 5. A Query reads what it returns, not the table ---------------------------------------------
#
# moto's `Table.query` (moto/dynamodb/models/table.py) starts from `self.all_items()`, which
# sorts every item of the table by (hash key, range key) with DynamoType comparisons, keeps the
# items of the queried partition (or, on an index, those with the index's key values), sorts them
# by range key (by index key, then table key), reverses them for ScanIndexForward=false, and then
# walks them from the start: skipping everything up to ExclusiveStartKey, applying the range
# condition, stopping at Limit or 1 MB (the next item read then gives LastEvaluatedKey), and
# computing each visited item's size. One 50-item page cost 1.1 s at 60,000 items, 1.6 s at
# 100,000. Here moto's `query` still runs unchanged (validation, errors, the walk, Limit before
# FilterExpression, Count/ScannedCount, LastEvaluatedKey, projection, deep copies), but with
# `all_items()` answering only the items that walk reads: the page plus the item that ends it.
#
# The order: each partition of a table with a range key is a `_Partition`, a dict that keeps its
# items sorted by range key once a Query has asked for them (insertions and deletions go in by
# bisection), so a page costs log(partition) + its items. On a GSI there is no stored order: one
# pass over the table picks the items with the queried index hash key and an index range key
# (dict look-ups, no sorting of the table), and only those are sorted, by (index range key,
# table hash key, table range key) as moto sorts them.
#
# Which items moto's walk reads, in its order: (a) the ones ExclusiveStartKey skips, a prefix
# (forward it skips while key <= start key, backward while key >= start key, keys compared as
# `_item_comes_before_dct` does); (b) items failing the range condition before the matching run
# (for <, <=, =, >=, >, BETWEEN and begins_with on strings the matching keys are one contiguous
# run); (c) the matching run, every item of which is added until Limit or 1 MB; (d) items after
# the run. (a) is passed over before any check. An item of (b) is read and dropped, and would
# only matter if the empty page were already full (Limit 0, left to moto) or the item alone
# over 1 MB. Of (c) only the first
# Limit + 1 items can be read. Of (d) the first one ends the page with LastEvaluatedKey if Limit
# was reached, and a later one only if it would carry the page over 1 MB: with no item over
# 405,000 bytes, that needs 595,000 bytes on the page already, and then (d) is sized here as
# moto would. (moto refuses items over 405,000 bytes on every put and top-level attribute write;
# only nested in-place updates could grow one past that, beyond DynamoDB's own 400 KB limit.)
# Everything else, and anything not plainly one of these shapes (hash or range keys that are not
# strings, a key condition or ExclusiveStartKey of another shape, a non-boolean ScanIndexForward,
# QueryFilter, local indexes, consistent reads of a GSI, several key attributes per index, any
# exception here), goes to moto's own code on the whole table. Scan is left as moto has it.

MAX_ITEM_SIZE = 405000  # moto's own limit (`LimitedSizeDict`); DynamoDB's is 400 KB
_ABSENT = object()


def _string(value):
    """The str of a DynamoType {"S": str}, else None."""
    if type(value) is DynamoType and value.type == "S" and type(value.value) is str:
        return value.value
    return None


def _range_string(item):
    return _string(getattr(item, "range_key", None))


class _Partition(dict):
    """range key -> Item, as moto stores a partition, keeping (once asked) the items in range-key
    order. Every dict mutation goes through the methods below; an unexpected state drops the
    order, which `order` then rebuilds."""

    __slots__ = ("_keys", "_items")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._keys = self._items = None

    def __reduce_ex__(self, protocol):
        # copy.copy / copy.deepcopy (backups, restores) rebuild it item by item, without the order
        return _Partition, (), None, None, iter(dict.items(self))

    def _forget(self):
        self._keys = self._items = None

    def _drop(self, item):
        keys = self._keys
        if keys is None:
            return
        key = _range_string(item)
        i = bisect_left(keys, key) if key is not None else len(keys)
        if i < len(keys) and self._items[i] is item:
            del keys[i], self._items[i]
        else:
            self._forget()

    def _add(self, item):
        keys = self._keys
        if keys is None:
            return
        key = _range_string(item)
        if key is None:
            return self._forget()
        i = bisect_left(keys, key)
        if i < len(keys) and keys[i] == key:
            return self._forget()
        keys.insert(i, key)
        self._items.insert(i, item)

    def __setitem__(self, key, item):
        old = dict.get(self, key, _ABSENT)
        dict.__setitem__(self, key, item)
        if old is not _ABSENT:
            self._drop(old)
        self._add(item)

    def __delitem__(self, key):
        old = dict.__getitem__(self, key)
        dict.__delitem__(self, key)
        self._drop(old)

    def pop(self, key, *default):
        old = dict.get(self, key, _ABSENT)
        if old is _ABSENT:
            return dict.pop(self, key, *default)
        dict.__delitem__(self, key)
        self._drop(old)
        return old

    def popitem(self):
        self._forget()
        return dict.popitem(self)

    def clear(self):
        self._forget()
        return dict.clear(self)

    def update(self, *args, **kwargs):
        self._forget()
        return dict.update(self, *args, **kwargs)

    def setdefault(self, key, default=None):
        self._forget()
        return dict.setdefault(self, key, default)

    def __ior__(self, other):
        self._forget()
        return dict.__ior__(self, other)

    def order(self):
        """(range keys, items), ascending; None if a range key is not a string or two are equal
        (moto's code then answers)."""
        if self._keys is None or len(self._keys) != dict.__len__(self):
            items = list(dict.values(self))
            keys = [_range_string(item) for item in items]
            if None in keys:
                return None
            ranks = sorted(range(len(items)), key=keys.__getitem__)
            keys, items = [keys[i] for i in ranks], [items[i] for i in ranks]
            if any(a >= b for a, b in zip(keys, keys[1:])):
                return None
            self._keys, self._items = keys, items
        return self._keys, self._items


def _start_strings(start_key, attrs):
    """The ExclusiveStartKey's string values for `attrs`, or None (moto's code then answers)."""
    if not isinstance(start_key, dict):
        return None
    values = []
    for attr in attrs:
        value = start_key.get(attr)
        if not (isinstance(value, dict) and len(value) == 1 and type(value.get("S")) is str):
            return None
        values.append(value["S"])
    return values


def _range_run(keys, op, values, key=None):
    """[lo, hi) of the sorted `keys` whose range value (`key(k)`, or k) satisfies moto's
    comparison (moto/dynamodb/comparisons.py COMPARISON_FUNCS on cast values); None for anything
    else."""
    strings = [_string(v) for v in values]
    if None in strings or len(strings) != (2 if op == "BETWEEN" else 1):
        return None
    v = strings[0]
    n = len(keys)
    if op == "BETWEEN":  # lower <= k <= upper
        lo, hi = bisect_left(keys, v, key=key), bisect_right(keys, strings[1], key=key)
        return lo, max(lo, hi)
    if op == "=":
        return bisect_left(keys, v, key=key), bisect_right(keys, v, key=key)
    if op == "<":
        return 0, bisect_left(keys, v, key=key)
    if op == "<=":
        return 0, bisect_right(keys, v, key=key)
    if op == ">":
        return bisect_right(keys, v, key=key), n
    if op == ">=":
        return bisect_left(keys, v, key=key), n
    if op == "BEGINS_WITH":
        # The strings starting with v are >= v, and any other string >= v is greater than all of
        # them: they are the run from bisect_left(v) up to the first that does not start with v.
        lo = hi = bisect_left(keys, v, key=key)
        top = n
        while hi < top:
            mid = (hi + top) // 2
            if (keys[mid] if key is None else key(keys[mid])).startswith(v):
                hi = mid + 1
            else:
                top = mid
        return lo, hi
    return None


def _pages_read(items, lo, hi, run, forward, limit):
    """The items moto's walk reads (see above), ascending. items[lo:hi] is what ExclusiveStartKey
    leaves; run = [rlo, rhi) the range condition's matching run (or None: all match)."""
    rlo, rhi = (lo, hi) if run is None else (max(lo, run[0]), min(hi, run[1]))
    rhi = max(rlo, rhi)
    if limit is not None and rhi - rlo > limit:  # the page ends in the run
        return items[rlo : rlo + limit + 1] if forward else items[rhi - limit - 1 : rhi]
    walk = range(rlo, rhi) if forward else range(rhi - 1, rlo - 1, -1)
    size = 0
    for i in walk:
        size += items[i].size()
        if size > RESULT_SIZE_LIMIT:  # the page ends at 1 MB, before items[i]
            return items[rlo : i + 1] if forward else items[i:rhi]
    page = items[rlo:rhi]
    after = range(rhi, hi) if forward else range(rlo - 1, lo - 1, -1)
    end = None
    if not after:
        return page
    if rhi - rlo == limit:
        end = after[0]
    elif RESULT_SIZE_LIMIT - size < MAX_ITEM_SIZE:
        end = next((i for i in after if size + items[i].size() > RESULT_SIZE_LIMIT), None)
    if end is None:
        return page
    return page + [items[end]] if forward else [items[end]] + page


def _page_args_ok(forward, limit):
    return (forward is True or forward is False) and (limit is None or (type(limit) is int and limit >= 1))


def _table_pages(table, a):
    """What moto's walk reads of a Query on the table itself, or None."""
    hash_value = _string(a["hash_key"])
    if hash_value is None or a["index_name"] or a["filter_kwargs"]:
        return None
    if table.range_key_attr is None or table.hash_key_type != "S" or table.range_key_type != "S":
        return None
    forward, limit, conditions = a["scan_index_forward"], a["limit"], a["range_key_conditions"]
    if not _page_args_ok(forward, limit):
        return None
    if conditions and [c[0] for c in conditions] != [table.range_key_attr]:
        return None
    partition = table.items.get(a["hash_key"])
    if partition is None:
        keys, items = [], []
    elif type(partition) is _Partition and (order := partition.order()) is not None:
        keys, items = order
    else:
        return None
    lo, hi = 0, len(keys)
    start = a["exclusive_start_key"]
    if start is not None:
        values = _start_strings(start, (table.hash_key_attr, table.range_key_attr))
        if values is None:
            return None
        if values[0] != hash_value:  # another partition's key: all items or none come before it
            if (hash_value < values[0]) == forward:
                lo = hi = 0
        elif forward:
            lo = bisect_right(keys, values[1])
        else:
            hi = bisect_left(keys, values[1])
    run = None
    if a["range_comparison"]:
        run = _range_run(keys, a["range_comparison"], a["range_objs"])
        if run is None:
            return None
    return _pages_read(items, lo, hi, run, forward, limit)


_first = itemgetter(0)


def _index_pages(table, a):
    """What moto's walk reads of a Query on a global secondary index with one hash and one range
    key, or None. The table is read once, without sorting it."""
    index_name = a["index_name"]
    if not index_name or a["filter_kwargs"] or a["consistent_read"]:
        return None
    if table.range_key_attr is None or table.hash_key_type != "S" or table.range_key_type != "S":
        return None
    index = next((i for i in table.global_indexes or [] if i.name == index_name), None)
    if index is None:
        return None
    hashes = [k["AttributeName"] for k in index.schema if k["KeyType"] == "HASH"]
    ranges = [k["AttributeName"] for k in index.schema if k["KeyType"] == "RANGE"]
    if len(hashes) != 1 or len(ranges) != 1 or len(index.schema) != 2:
        return None
    (h,), (r,) = hashes, ranges
    conditions = a["hash_key_conditions"] or []
    if len(conditions) != 1 or conditions[0][0] != h or _string(conditions[0][1]) is None:
        return None
    want = conditions[0][1].value
    forward, limit = a["scan_index_forward"], a["limit"]
    if not _page_args_ok(forward, limit):
        return None
    range_conditions = a["range_key_conditions"] or []
    if range_conditions and [c[0] for c in range_conditions] != [r]:
        return None
    if bool(range_conditions) != bool(a["range_comparison"]):
        return None

    # moto keeps an item if attrs[h] == the value and attrs[r] exists, and sorts by (h, r, pk, sk).
    found = []
    for partition in table.items.values():
        for item in partition.values():
            value = item.attrs.get(h)
            if value is None or value.type != "S" or value.value != want:
                continue
            sort_value = item.attrs.get(r)
            if sort_value is None:
                continue
            key = (_string(sort_value), _string(item.attrs.get(table.hash_key_attr)), _string(item.attrs.get(table.range_key_attr)))
            if None in key:
                return None
            found.append((key, item))
    found.sort(key=_first)
    keys, items = [k for k, _ in found], [i for _, i in found]

    lo, hi = 0, len(keys)
    start = a["exclusive_start_key"]
    if start is not None:
        values = _start_strings(start, (h, r, table.hash_key_attr, table.range_key_attr))
        if values is None:
            return None
        if values[0] != want:
            if (want < values[0]) == forward:
                lo = hi = 0
        elif forward:
            lo = bisect_right(keys, tuple(values[1:]))
        else:
            hi = bisect_left(keys, tuple(values[1:]))
    run = None
    if a["range_comparison"]:
        run = _range_run(keys, a["range_comparison"], a["range_objs"], key=_first)
        if run is None:
            return None
    return _pages_read(items, lo, hi, run, forward, limit)


def keep_partitions_in_order():
    init = Table.__init__

    def patched_init(self, *args, **kwargs):
        init(self, *args, **kwargs)
        if self.range_key_attr is not None and not self.items:
            self.items = defaultdict(_Partition)

    Table.__init__ = patched_init


def query_reads_its_pages():
    query = Table.query
    params = signature(query)

    def patched(self, *args, **kwargs):
        try:
            a = params.bind(self, *args, **kwargs)
            a.apply_defaults()
            read = _index_pages(self, a.arguments) if a.arguments["index_name"] else _table_pages(self, a.arguments)
        except Exception:
            read = None  # anything unforeseen: moto's own code answers (and raises what it raises)
        if read is None:
            return query(self, *args, **kwargs)
        self.all_items = lambda: read
        try:
            return query(self, *args, **kwargs)
        finally:
            del self.all_items

    Table.query = patched


# --- 6. Garbage collection between requests, over what is new ------------------------------------
#
# Python's full collection walks every tracked object, and nearly all of them here are stored
# data: ~24 per stored item (Item, attribute dict, DynamoTypes), 2.4 million at 100,000 items,
# 0.6-2 s per full collection on this 2-core machine. CPython runs one in the
# middle of whatever request is allocating once a quarter more objects have survived than the
# last one kept, so about every few thousand writes or pages some request paid for walking the
# whole table. Stored data needs no collecting: items are trees, freed by reference counting the
# moment they are replaced or deleted. So (`GcBetweenRequests`, MOTO_SERIAL_GC=freeze, the
# default; MOTO_SERIAL_GC=python keeps CPython's behaviour):
#
# - Automatic collection of the young generations (cheap, frequent) is unchanged; the automatic
#   full collection is switched off (threshold2 = 2**31 - 1).
# - Between requests (the server is serial, so nothing is in flight), after every 10 collections
#   of the middle generation (CPython's own schedule): `gc.collect()` then `gc.freeze()`.
#   Everything alive is then moved to the permanent generation, so the next full collection
#   walks only what was allocated since the last: tens of milliseconds. Frozen objects are still
#   freed by reference counting.
# - What freezing could keep is a reference cycle that dies after it was frozen: a deleted table
#   (table <-> stream shard) or a reset. After a DeleteTable or /moto-api/reset, or every
#   MOTO_SERIAL_GC_RECLAIM_SECONDS (3600) otherwise, the next moment with no request for
#   MOTO_SERIAL_GC_IDLE_SECONDS (2) and none waiting runs `gc.unfreeze(); gc.collect();
#   gc.freeze()`: the one full walk, when nobody waits for it. Under load with no idle moment for
#   ten reclaim intervals it runs anyway, between two requests.
#
# MOTO_SERIAL_GC_LOG=1 logs every collection this makes (duration, unreachable objects found).
# Measured with `moto_soak.py soak --items 100000 --txns 3000` (--gc python, then the default):
# CPython ran 16 full collections of up to 2.0 s inside requests (a 2,052 ms transaction); here
# the collections of what was new took at most 113 ms (slowest transaction 130 ms), and the idle
# reclaim at the end (1.8 s) found 251 unreachable objects, ~100 of them a table deleted just
# before: freezing had kept next to nothing.

GC_MODE = os.environ.get("MOTO_SERIAL_GC", "freeze")
GC_LOG = os.environ.get("MOTO_SERIAL_GC_LOG") == "1"
GC_IDLE_SECONDS = float(os.environ.get("MOTO_SERIAL_GC_IDLE_SECONDS", 2))
GC_RECLAIM_SECONDS = float(os.environ.get("MOTO_SERIAL_GC_RECLAIM_SECONDS", 3600))
GC_EVERY = 10  # middle-generation collections between collections of what is new (CPython: 10)


class GcBetweenRequests:
    def __init__(self):
        self.last_request = self.last_reclaim = time.monotonic()
        self.active = False  # a request since the last reclaim
        self.reclaim_due = False  # a request that may have dropped long-lived cycles

    def install(self, app):
        self._collect("startup", reclaim=False)  # moto's modules and these patches: frozen for good
        gc.set_threshold(gc.get_threshold()[0], gc.get_threshold()[1], 2**31 - 1)
        gc_state = self

        def service_actions(server):  # socketserver calls it after each request and each 0.5 s poll
            gc_state.between_requests(server)

        BaseWSGIServer.service_actions = service_actions

        def wrapped(environ, start_response):
            try:
                return app(environ, start_response)
            finally:
                self.last_request = time.monotonic()
                self.active = True
                target = environ.get("HTTP_X_AMZ_TARGET", "")
                if target.endswith(".DeleteTable") or environ.get("PATH_INFO", "").startswith("/moto-api/reset"):
                    self.reclaim_due = True

        return wrapped

    def between_requests(self, server):
        if gc.get_count()[2] >= GC_EVERY:
            self._collect("new", reclaim=False)
        if not self.active:
            return
        now = time.monotonic()
        due = self.reclaim_due or now - self.last_reclaim >= GC_RECLAIM_SECONDS
        idle = now - self.last_request >= GC_IDLE_SECONDS and not select.select([server.socket], [], [], 0)[0]
        if (due and idle) or now - self.last_reclaim >= 10 * GC_RECLAIM_SECONDS:
            self._collect("reclaim", reclaim=True)
            self.last_reclaim, self.active, self.reclaim_due = time.monotonic(), False, False

    def _collect(self, kind, reclaim):
        start = time.perf_counter()
        if reclaim:
            gc.unfreeze()
        found = gc.collect()
        gc.freeze()
        if GC_LOG:
            print(f"gc: {kind} {1000 * (time.perf_counter() - start):.1f} ms, {found} unreachable", file=sys.stderr, flush=True)


def log_full_collections():
    """MOTO_SERIAL_GC_LOG=1, in any mode: every full collection's duration (CPython's own too)."""
    started = [0.0]

    def callback(phase, info):
        if info["generation"] != 2:
            return
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            print(f"gc: full {1000 * (time.perf_counter() - started[0]):.1f} ms, {info['collected']} collected", file=sys.stderr, flush=True)

    gc.callbacks.append(callback)


# --- 7. Attribute values serialized directly ------------------------------------------------------
#
# moto 5.2.5 answers every DynamoDB and DynamoDB Streams call through its generic, model-driven
# serializer (moto/core/serialize.py): for each member of each structure in the output shape it
# builds an AttributePickerContext, asks six alias providers for candidate keys (plus their
# `xform_name` forms) and looks each up in the value. An item is a map of AttributeValue
# structures of ten members, so every attribute of every item cost ~20 failed look-ups, 2-3 ms
# per item: in a seed, 65% of moto's time (a GetRecords page of 100 stream records with old and
# new images took ~150 ms, a Query page of contacts ~40 ms).
#
# What the generic code makes of an AttributeValue, for the values moto's handlers hand it (a
# dict with one of the ten type keys, from `dynamo_to_dict` or a stream record's images), is
# fixed by the model (checked at install: both services' AttributeValue shapes have exactly these
# members, shapes and no serialized names, else nothing is patched) and by BaseJSONSerializer:
#
#   S, N (string shapes)      `str(v)`: v itself for a str
#   B (blob)                  `self._base64(v)`
#   SS, NS (lists of string)  each `str(x)`: the list's strs
#   BS (list of blob)         each `self._base64(x)`
#   BOOL, NULL (boolean)      v as it is (the JSON serializer has no boolean conversion)
#   M (map to AttributeValue) each value serialized as an AttributeValue, under its own key
#   L (list of AttributeValue) each item serialized as an AttributeValue
#
# and a member is found under its own name only: the other candidates (`xform_name` forms such
# as "s" or "bool", shape names such as "ListAttributeValue", prefix aliases, which need a key
# starting with "attributevalue" or the value's class name "dict") are never one of the ten
# upper-case type keys, so a dict holding one type key yields that member and no other.
# `_attribute_value` builds exactly that for such dicts; for anything else (several or no keys,
# another value type, None, a subclass, a map key that is empty or not a str, a path step that is
# not a str...) it answers None and moto's own code serializes that whole AttributeValue, or
# map of them. Response transformers (a class-level dict of key-path rules some services add to;
# empty for these two) would apply inside: if any is set, moto's code runs.
#
# 7a. Requests, the other way (`parse_attribute_values_directly`): moto's JSON parser
# (moto/core/parse.py, BaseJSONParser) reads an AttributeValue member by member ("S" first,
# "BOOL" last), each by its shape: strings and booleans as they are (JSONParser has no string or
# boolean conversion), blobs through `self._blob_parser` (base64), lists item by item, maps key by
# key into `self.MAP_TYPE()`. For a dict holding one of the ten type keys with a value of the
# JSON type that key carries, that is {key: parsed value}, built here directly; anything else
# (None, several keys, an unknown key, a number where a string belongs...) is parsed by moto's
# code, and so is the whole value if anything here raises (invalid base64), so moto raises what
# it raises.
#
# Differential checks: moto_soak.py `serialize` (in process: random attribute values, odd ones
# included, through moto's serializer and parser with and without these paths, byte for byte;
# then every operation returning items, on this server and the baseline, raw bodies compared).

_AV_MEMBERS = {
    "S": ("string", None), "N": ("string", None), "B": ("blob", None),
    "SS": ("list", "string"), "NS": ("list", "string"), "BS": ("list", "blob"),
    "M": ("map", "structure"), "L": ("list", "structure"), "NULL": ("boolean", None), "BOOL": ("boolean", None),
}
_AV_SERVICES = ("dynamodb", "dynamodbstreams")


def _attribute_value_shape_ok(service_name):
    from moto.core.utils import get_service_model

    shape = get_service_model(service_name).shape_for("AttributeValue")
    if shape.type_name != "structure" or shape.serialization or shape.is_document_type:
        return False
    if list(shape.members) != list(_AV_MEMBERS):
        return False
    for name, member in shape.members.items():
        kind, inner = _AV_MEMBERS[name]
        if member.type_name != kind or member.serialization:
            return False
        if kind == "list":
            if member.member.type_name != inner or member.member.serialization:
                return False
            if inner == "structure" and member.member.name != "AttributeValue":
                return False
        if kind == "map" and (member.value.name != "AttributeValue" or member.key.type_name != "string"):
            return False
    return True


def _attribute_value(value, b64):
    """What moto's JSON serializer makes of the AttributeValue `value`, or None (then moto's
    code serializes it)."""
    if type(value) is not dict or len(value) != 1:
        return None
    for kind, v in value.items():
        t = type(v)
        if kind == "S" or kind == "N":
            return {kind: v} if t is str else None
        if kind == "M":
            if t is not dict:
                return None
            out = {}
            for name, sub in v.items():
                sub = _attribute_value(sub, b64)
                if sub is None or type(name) is not str or not name:
                    return None  # moto writes an empty name's members into the map itself, fails on others
                out[name] = sub
            return {"M": out}
        if kind == "L":
            if t is not list:
                return None
            out = []
            for sub in v:
                sub = _attribute_value(sub, b64)
                if sub is None:
                    return None
                out.append(sub)
            return {"L": out}
        if kind == "BOOL" or kind == "NULL":
            return {kind: v} if t is bool else None
        if kind == "SS" or kind == "NS":
            if t is not list or any(type(x) is not str for x in v):
                return None
            return {kind: list(v)}
        if kind == "B":
            return {"B": b64(v)} if t is bytes or t is str else None
        if kind == "BS":
            if t is not list or any(type(x) is not bytes and type(x) is not str for x in v):
                return None
            return {"BS": [b64(x) for x in v]}
    return None


def serialize_attribute_values_directly():
    from moto.core.serialize import BaseJSONSerializer

    if not all(_attribute_value_shape_ok(s) for s in _AV_SERVICES):
        print("moto_serial: AttributeValue shapes differ from moto 5.2.5's: serializer left as is", file=sys.stderr)
        return
    structure, attribute_map = BaseJSONSerializer._serialize_type_structure, BaseJSONSerializer._serialize_type_map

    def direct(self):
        if self.service_model.service_name not in _AV_SERVICES or getattr(self._value_picker, "response_transformers", None):
            return False
        try:
            ".".join(self.path)  # moto's value picker joins the path: a step that is not a str fails there
        except TypeError:
            return False
        return True

    def patched(self, serialized, value, shape, key):
        if key and shape.name == "AttributeValue" and direct(self):
            out = _attribute_value(value, self._base64)
            if out is not None:
                self._default_serialize(serialized, out, shape, key)
                return
        structure(self, serialized, value, shape, key)

    def patched_map(self, serialized, value, shape, key):
        # A map of AttributeValues (an item, a key, a map of them): BaseJSONSerializer's map code
        # puts a new dict under the map's name and serializes each value under its own key into
        # it; a value under an empty or non-str key would not go through the code above.
        if shape.value.name == "AttributeValue" and type(value) is dict and direct(self):
            out = self.MAP_TYPE()
            for name, item in value.items():
                item = _attribute_value(item, self._base64) if type(name) is str and name else None
                if item is None:
                    break
                out[name] = item
            else:
                self._default_serialize(serialized, out, shape, key)
                return
        attribute_map(self, serialized, value, shape, key)

    patched.__wrapped__ = structure  # moto's, for moto_soak.py's in-process comparison
    patched_map.__wrapped__ = attribute_map
    BaseJSONSerializer._serialize_type_structure = patched
    BaseJSONSerializer._serialize_type_map = patched_map


def _parsed_attribute_value(value, blob, map_type):
    """What moto's JSON request parser makes of the AttributeValue `value` (7a), or None (then
    moto's code parses it)."""
    if type(value) is not dict or len(value) != 1:
        return None
    for kind, v in value.items():
        t = type(v)
        if kind == "S" or kind == "N" or kind == "BOOL" or kind == "NULL":
            if t is not (bool if kind == "BOOL" or kind == "NULL" else str):
                return None
        elif kind == "M":
            if t is not dict:
                return None
            parsed = map_type()
            for name, sub in v.items():
                sub = _parsed_attribute_value(sub, blob, map_type)
                if sub is None:
                    return None
                parsed[name] = sub
            v = parsed
        elif kind == "L":
            if t is not list:
                return None
            parsed = []
            for sub in v:
                sub = _parsed_attribute_value(sub, blob, map_type)
                if sub is None:
                    return None
                parsed.append(sub)
            v = parsed
        elif kind == "SS" or kind == "NS":
            if t is not list or any(type(x) is not str for x in v):
                return None
            v = list(v)
        elif kind == "B":
            if t is not str:
                return None
            v = blob(v)
        elif kind == "BS":
            if t is not list or any(type(x) is not str for x in v):
                return None
            v = [blob(x) for x in v]
        else:
            return None
        out = map_type()
        out[kind] = v
        return out
    return None


def parse_attribute_values_directly():
    from moto.core.parse import BaseJSONParser

    if not all(_attribute_value_shape_ok(s) for s in _AV_SERVICES):
        return
    structure = BaseJSONParser._parse_structure

    def patched(self, shape, value):
        if shape.name == "AttributeValue" and self.operation_model.service_model.service_name in _AV_SERVICES:
            try:
                parsed = _parsed_attribute_value(value, self._blob_parser, self.MAP_TYPE)
            except Exception:
                parsed = None
            if parsed is not None:
                return parsed
        return structure(self, shape, value)

    patched.__wrapped__ = structure
    BaseJSONParser._parse_structure = patched


# --- 8. An item's size checked once per attribute, not once per attribute pair --------------------
#
# moto's `Item.__init__` (moto/dynamodb/models/dynamo_type.py) fills a `LimitedSizeDict`, whose
# `__setitem__` re-sums the size of every key and value already in it before each insertion and
# raises ItemSizeTooLarge if that plus the new key and value exceed 405,000 bytes: quadratic in
# the item's attributes (2 ms for a 30-attribute contact; 14% of a seed's moto time). The same
# checks, in the same order, with the same running sum kept instead of recomputed: for each
# attribute, DynamoType(value), then "sum so far + bytesize(key) + size > 405,000" raises, else it
# is stored (dict.__setitem__, as LimitedSizeDict's own does after its check) and its
# bytesize(str(key)) + size added to the sum. Only construction changes; later writes to
# `item.attrs` (UpdateItem) still go through LimitedSizeDict's own check.


def size_items_once():
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models.dynamo_type import Item, LimitedSizeDict
    from moto.dynamodb.models.utilities import bytesize

    def item_init(self, hash_key, range_key, attrs):
        self.hash_key = hash_key
        self.range_key = range_key
        self.attrs = stored = LimitedSizeDict()
        total = 0
        for key, value in attrs.items():
            value = DynamoType(value)
            size = value.size()
            if total + bytesize(key) + size > MAX_ITEM_SIZE:
                raise ItemSizeTooLarge
            dict.__setitem__(stored, key, value)
            total += bytesize(str(key)) + size

    item_init.__wrapped__ = Item.__init__  # moto's, for moto_soak.py's in-process comparison
    Item.__init__ = item_init


# --- 9. moto's package directory listed once -----------------------------------------------------
#
# `DomainDispatcherApplication.get_backend_for_host` (moto/moto_server/werkzeug_app.py) asks
# `host in backends.list_of_moto_modules()` twice per request, and that lists moto's package
# directory and stats each of its ~270 entries (2% of a seed's moto time). The directory does not
# change while the server runs: the listing is taken once, the same names in the same order.


def list_moto_modules_once():
    from moto import backends

    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: iter(modules)


# --- 10. A handler class's method names listed once ---------------------------------------------
#
# `BaseResponse.call_action` (moto/core/responses.py) checks that the action is a method of the
# handler with `method_names_from_class(self.__class__)`, an `inspect.getmembers` walk of the
# class and its bases on every request (2.6% of a seed's moto CPU). The handler classes are not
# changed once the server serves (these patches are applied at import), so the list is taken
# once per class; callers only test membership in it.


def list_handler_methods_once():
    from moto.core import responses

    names_of = responses.method_names_from_class
    cache = {}

    def cached(clazz):
        names = cache.get(clazz)
        if names is None:
            names = cache[clazz] = names_of(clazz)
        return names

    responses.method_names_from_class = cached


# --- 11. Reserved words looked up in a set -------------------------------------------------------
#
# Condition and update expressions check every attribute name against DynamoDB's ~570 reserved
# words (`attribute.upper() in ReservedKeywords.get_reserved_keywords()`), a list scanned from the
# start each time. The list stays a list (same words, same order); membership is answered from a
# frozenset of its words, which for the str names tested is the same answer.


class _WordList(list):
    __slots__ = ("_words",)

    def __init__(self, words):
        super().__init__(words)
        self._words = frozenset(words)

    def __contains__(self, word):
        if type(word) is str:
            return word in self._words
        return list.__contains__(self, word)


def reserved_words_in_a_set():
    from moto.dynamodb.parsing.reserved_keywords import ReservedKeywords

    ReservedKeywords.KEYWORDS = _WordList(ReservedKeywords.get_reserved_keywords())


# --- 12-14. Stored data in compact form ---------------------------------------------------------
#
# Measured with `moto_soak.py memory` (contact creates shaped like the backend's: 6 items and 7
# stream records each, NEW_AND_OLD_IMAGES): ~51 KB of Python objects per contact create, ~3.3 KB
# per stored item (543 bytes as JSON) and ~4.5 KB per stream record (867 bytes as JSON). An item
# is an `Item` whose `attrs` dict maps each name to a `DynamoType` (an instance with a
# per-instance attribute dict, 88 bytes) holding a str; the same attribute name or value in
# different items or requests is a separate str each time. A stream record is a tree of dicts,
# one 184-byte dict per attribute of each image. MOTO_SERIAL_COMPACT=0 leaves all three below
# out (MOTO_SERIAL_BASELINE=1 leaves out everything).
#
# 12. `compact_stream_records`: moto's `StreamRecord.__init__` still builds each record (eventID,
#     time, images, SizeBytes: all moto's), and the record is then kept as `marshal` bytes
#     (zlib-compressed when that is smaller) plus its ApproximateCreationDateTime; `record` and
#     `to_json()` (what `StreamShard.get`, hence GetRecords, and Lambda event source mappings
#     read) rebuild the same dict. marshal keeps every type a record holds apart (str, bytes,
#     bool, int, None, list, dict, key order); a record holding anything else (it cannot: images
#     are built from plain dicts and lists by `Item.to_json`) is kept as moto's dict. A record
#     is a snapshot taken when it is added (the images are copies of the items' containers; the
#     scalars are immutable), so rebuilding it later gives what moto would have returned.
#     Trimming (3) reads the time without rebuilding; the undo log (1) truncates the list as
#     before. `moto_soak.py records` compares GetRecords bodies with the baseline's.
# 13. `intern_item_strings`: a stored item's attribute names and string values (S, N, SS, NS,
#     map keys, nested) and its key values are `sys.intern`ed, so the copies of a value that a
#     transaction writes into several items (a record and its list entries), and every name,
#     are one str. Interned strs are freed like any other when no longer used; only identity
#     changes, which no code compares for strs.
# 14. `slotted_dynamo_types`: `DynamoType` rebuilt with `__slots__ = ("type", "value")` (48 bytes
#     instead of 88): the same class body (every method, the same name and module), and every
#     module global naming moto's class rebound to it at install, before any instance exists
#     (checked; otherwise nothing is patched). Nothing sets other attributes on a DynamoType or
#     reads its `__dict__` (moto 5.2.5), and copy/deepcopy work on slots.

COMPACT = os.environ.get("MOTO_SERIAL_COMPACT", "1") != "0"
_COMPRESS_ABOVE = 160  # bytes of marshal data; below, zlib rarely gains


class CompactStreamRecord:
    """A stream record kept as marshal bytes (see 12): b"m" + marshal data, or b"z" + the same
    compressed; or, if marshal refuses something in it, moto's own dict."""

    __slots__ = ("_data", "_created")

    def __init__(self, table, stream_type, event_name, old, new, seq):
        scratch = object.__new__(_MotoStreamRecord)
        _MotoStreamRecord.__init__(scratch, table, stream_type, event_name, old, new, seq)
        record = scratch.record
        dynamodb = record["dynamodb"]
        created = dynamodb["ApproximateCreationDateTime"]
        dynamodb["ApproximateCreationDateTime"] = None  # position kept; the value goes beside
        try:
            data = marshal.dumps(record)
        except ValueError:
            dynamodb["ApproximateCreationDateTime"] = created
            self._data, self._created = record, created
            return
        if len(data) > _COMPRESS_ABOVE:
            packed = zlib.compress(data, 1)
            if len(packed) < len(data):
                self._data, self._created = b"z" + packed, created
                return
        self._data, self._created = b"m" + data, created

    @property
    def record(self):
        data = self._data
        if type(data) is dict:
            return data
        body = memoryview(data)[1:]
        record = marshal.loads(zlib.decompress(body) if data[0] == 0x7A else body)
        record["dynamodb"]["ApproximateCreationDateTime"] = self._created
        return record

    def to_json(self):
        return self.record

    @property
    def created(self):
        return self._created


_MotoStreamRecord = None


def _record_created(record):
    """A stream record's ApproximateCreationDateTime, without rebuilding a compact one."""
    if type(record) is CompactStreamRecord:
        return record._created
    return record.record["dynamodb"]["ApproximateCreationDateTime"]


def compact_stream_records():
    global _MotoStreamRecord
    from moto.dynamodb.models import table as table_module

    _MotoStreamRecord = table_module.StreamRecord
    table_module.StreamRecord = CompactStreamRecord  # `StreamShard.add` builds records through this name


_intern = sys.intern


def _intern_value(value):
    """Interns, in place, the strs of a DynamoType tree built by `Item.__init__`."""
    if type(value) is not DynamoType:
        return
    kind, v = value.type, value.value
    t = type(v)
    if kind == "S" or kind == "N":
        if t is str:
            value.value = _intern(v)
    elif kind == "M":
        if t is dict:
            _intern_keys(v)
            for sub in v.values():
                _intern_value(sub)
    elif kind == "L":
        if t is list:
            for sub in v:
                _intern_value(sub)
    elif kind == "SS" or kind == "NS":
        if t is list:
            for i, x in enumerate(v):
                if type(x) is str:
                    v[i] = _intern(x)


def _intern_keys(d):
    """Replaces a dict's str keys by their interned equals, in place, order kept."""
    for k in d:
        if type(k) is str and _intern(k) is not k:
            break
    else:
        return
    pairs = [((_intern(k) if type(k) is str else k), v) for k, v in dict.items(d)]
    dict.clear(d)
    dict.update(d, pairs)


def intern_item_strings():
    from moto.dynamodb.models.dynamo_type import Item

    init = Item.__init__

    def interning_init(self, hash_key, range_key, attrs):
        init(self, hash_key, range_key, attrs)
        _intern_value(hash_key)
        _intern_value(range_key)
        stored = self.attrs
        _intern_keys(stored)
        for value in dict.values(stored):
            _intern_value(value)

    interning_init.__wrapped__ = getattr(init, "__wrapped__", init)  # moto's, for moto_soak.py serialize
    Item.__init__ = interning_init


def slotted_dynamo_types():
    from moto.dynamodb.models import dynamo_type

    old = dynamo_type.DynamoType
    if "__slots__" in vars(old) or any(type(o) is old for o in gc.get_objects()):
        print("moto_serial: DynamoType already has slots or instances: left as is", file=sys.stderr)
        return
    body = {k: v for k, v in vars(old).items() if k not in ("__dict__", "__weakref__")}
    body["__slots__"] = ("type", "value")
    new = type(old.__name__, old.__bases__, body)
    new.__qualname__ = old.__qualname__
    for module in list(sys.modules.values()):
        names = getattr(module, "__dict__", None)
        if not isinstance(names, dict):
            continue
        for name, value in list(names.items()):
            if value is old:
                names[name] = new


# --- Profiling (off unless MOTO_SERIAL_PROFILE is set) -------------------------------------------
#
# MOTO_SERIAL_PROFILE=DIR: counts requests by operation (X-Amz-Target for DynamoDB and Streams,
# method and path shape for S3) with their wall and CPU time, written to DIR/ops.txt every 30 s,
# on SIGUSR1 and at exit; with MOTO_SERIAL_PROFILE_CPROFILE=1 also cProfile of the request
# handling (DIR/cprofile.pstats and a cumulative/tottime summary in DIR/cprofile.txt).


class RequestProfile:
    def __init__(self, directory):
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        self.ops = defaultdict(lambda: [0, 0.0, 0.0])  # count, wall s, cpu s
        self.started = time.monotonic()
        self.cpu_started = time.process_time()
        self.profiler = None
        if os.environ.get("MOTO_SERIAL_PROFILE_CPROFILE") == "1":
            import cProfile

            self.profiler = cProfile.Profile()
        self.last_dump = time.monotonic()

    @staticmethod
    def operation(environ):
        target = environ.get("HTTP_X_AMZ_TARGET")
        if target:
            op = target.split("_")[0] + ":" + target.rsplit(".", 1)[-1]
            if op.startswith("DynamoDB:") and environ.get("CONTENT_LENGTH"):
                # The table (and index) too: the body is read here and handed on as it was.
                import io
                import json

                body = environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"]))
                environ["wsgi.input"] = io.BytesIO(body)
                try:
                    request = json.loads(body)
                    items = [next(iter(i.values()), {}) for i in request.get("TransactItems", [])]
                    tables = sorted({i.get("TableName", "?") for i in items} | set(request.get("RequestItems", {})))
                    tables = tables or [request.get("TableName", "")]
                except (ValueError, AttributeError, TypeError):
                    return op
                op += " " + ",".join(str(t).rsplit("-", 1)[-1] for t in tables)
                if request.get("IndexName"):
                    op += "/" + str(request["IndexName"])
            return op
        path = environ.get("PATH_INFO", "")
        parts = [p for p in path.split("/") if p]
        query = environ.get("QUERY_STRING", "")
        shape = "/".join(["{bucket}"] + (["{key}"] if len(parts) > 1 else [])) if parts and not path.startswith("/moto-api") else path
        flags = ",".join(sorted(q.split("=")[0] for q in query.split("&") if q)) if query else ""
        return f"S3 {environ.get('REQUEST_METHOD')} /{shape}{'?' + flags if flags else ''}"

    def wrap(self, app):
        def wrapped(environ, start_response):
            op = self.operation(environ)
            wall, cpu = time.perf_counter(), time.process_time()
            if self.profiler is not None:
                self.profiler.enable()
            try:
                return app(environ, start_response)
            finally:
                if self.profiler is not None:
                    self.profiler.disable()
                entry = self.ops[op]
                entry[0] += 1
                entry[1] += time.perf_counter() - wall
                entry[2] += time.process_time() - cpu
                if time.monotonic() - self.last_dump > 30:
                    self.dump()

        return wrapped

    def dump(self, *_):
        self.last_dump = time.monotonic()
        total_cpu = time.process_time() - self.cpu_started
        rows = sorted(self.ops.items(), key=lambda kv: -kv[1][2])
        in_requests = sum(v[2] for v in self.ops.values())
        with open(os.path.join(self.dir, "ops.txt"), "w") as f:
            f.write(f"uptime {time.monotonic() - self.started:.1f} s, process cpu {total_cpu:.1f} s, in requests {in_requests:.1f} s\n")
            f.write(f"{'operation':50} {'count':>8} {'wall s':>9} {'cpu s':>9} {'cpu ms/req':>10} {'cpu %':>6}\n")
            for op, (n, wall, cpu) in rows:
                f.write(f"{op:50} {n:>8} {wall:>9.2f} {cpu:>9.2f} {1000 * cpu / n:>10.2f} {100 * cpu / max(in_requests, 1e-9):>6.1f}\n")
        if self.profiler is not None:
            import io
            import pstats

            self.profiler.dump_stats(os.path.join(self.dir, "cprofile.pstats"))
            out = io.StringIO()
            stats = pstats.Stats(self.profiler, stream=out)
            stats.sort_stats("tottime").print_stats(60)
            stats.sort_stats("cumulative").print_stats(120)
            with open(os.path.join(self.dir, "cprofile.txt"), "w") as f:
                f.write(out.getvalue())


def install_patches(baseline: bool) -> None:
    if baseline:
        DynamoDBBackend.transact_write_items = keep_streams_on_rollback(DynamoDBBackend.transact_write_items)
        return
    Table.__deepcopy__ = _table_deepcopy
    DynamoDBBackend.transact_write_items = transact_with_undo_log(DynamoDBBackend.transact_write_items)
    stop_tracking_instances("dynamodb", "dynamodbstreams")
    retain_stream_records()
    no_empty_partitions()
    keep_partitions_in_order()
    query_reads_its_pages()
    serialize_attribute_values_directly()
    parse_attribute_values_directly()
    size_items_once()
    list_moto_modules_once()
    list_handler_methods_once()
    reserved_words_in_a_set()
    if COMPACT:
        slotted_dynamo_types()
        intern_item_strings()
        compact_stream_records()


install_patches(baseline=os.environ.get("MOTO_SERIAL_BASELINE") == "1")


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    os.environ.setdefault("MOTO_PORT", str(port))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    app = DomainDispatcherApplication(create_backend_app)
    if GC_LOG:
        log_full_collections()
    if os.environ.get("MOTO_SERIAL_BASELINE") != "1" and GC_MODE == "freeze":
        app = GcBetweenRequests().install(app)
    profile_dir = os.environ.get("MOTO_SERIAL_PROFILE")
    if profile_dir:
        profile = RequestProfile(profile_dir)
        app = profile.wrap(app)
        signal.signal(signal.SIGUSR1, profile.dump)

        def stop(*_):
            profile.dump()
            sys.exit(0)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
    run_simple(host, port, app, threaded=False, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
