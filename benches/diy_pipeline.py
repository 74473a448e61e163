#!/usr/bin/env python3
"""The do-it-yourself pipeline a user would write instead of redis-cdc (issue 6, peer b):
python-mysql-replication reads the binlog, redis-py XADDs one JSON entry per row change,
1000 commands per pipeline. Reads [start, stop) of one binlog file and exits.

usage: diy_pipeline.py MYSQL_PORT USER PASSWORD FILE START STOP REDIS_PORT STREAM
"""
import json
import sys
import time

import redis
from pymysqlreplication import BinLogStreamReader
from pymysqlreplication.row_event import DeleteRowsEvent, UpdateRowsEvent, WriteRowsEvent


def default(o):
    return str(o)


def main():
    port, user, password, log_file, start, stop, rport, stream = sys.argv[1:9]
    start, stop = int(start), int(stop)
    r = redis.Redis(port=int(rport))
    pipe = r.pipeline(transaction=False)
    reader = BinLogStreamReader(
        connection_settings={"host": "127.0.0.1", "port": int(port), "user": user, "passwd": password},
        server_id=987654,
        log_file=log_file,
        log_pos=start,
        resume_stream=True,
        blocking=False,
        only_events=[WriteRowsEvent, UpdateRowsEvent, DeleteRowsEvent],
    )
    n = 0
    pending = 0
    t0 = time.time()
    for ev in reader:
        if reader.log_pos is not None and reader.log_pos > stop:
            break
        for row in ev.rows:
            if isinstance(ev, WriteRowsEvent):
                entry = {"op": "c", "after": row["values"]}
            elif isinstance(ev, UpdateRowsEvent):
                entry = {"op": "u", "before": row["before_values"], "after": row["after_values"]}
            else:
                entry = {"op": "d", "before": row["values"]}
            pipe.xadd(stream, {"table": ev.table, "data": json.dumps(entry, default=default)})
            n += 1
            pending += 1
            if pending >= 1000:
                pipe.execute()
                pending = 0
        if reader.log_pos is not None and reader.log_pos >= stop:
            break
    if pending:
        pipe.execute()
    reader.close()
    print(f"{n} {time.time() - t0:.3f}")


if __name__ == "__main__":
    main()
