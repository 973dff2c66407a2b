"""Reads every row of a query through the BFF with the Python `trino` client: trino_rows.py <host> <port> <sql>
(token in TRINO_TOKEN, CA file in TRINO_CA)."""
import os
import sys

import trino

conn = trino.dbapi.connect(
    host=sys.argv[1],
    port=int(sys.argv[2]),
    http_scheme="https",
    auth=trino.auth.JWTAuthentication(os.environ["TRINO_TOKEN"]),
    verify=os.environ["TRINO_CA"],
)
cur = conn.cursor()
cur.execute(sys.argv[3])
rows = 0
total = 0
while True:
    batch = cur.fetchmany(1000)
    if not batch:
        break
    rows += len(batch)
    total += sum(r[0] for r in batch)
cur.execute("SELECT current_user")
print(f"rows={rows} sum={total} user={cur.fetchone()[0]}")
