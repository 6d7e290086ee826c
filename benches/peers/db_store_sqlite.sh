#!/bin/sh
# The store workload of benches/programs/db_store.json in an in-memory
# sqlite3 database: a table with an index on role, 20,000 inserts
# {name: "User_i", age: 20 + i % 40, role: i % 10 == 0 ? "admin" : "user"},
# the query role = 'admin', and the SHA-256 (sha256sum) of the same canonical
# text db.hash hashes (rows in id-string order), so the printed hash must equal
# the FinVM result.
#   usage: sh benches/peers/db_store_sqlite.sh [N]
N=${1:-20000}
start=$(date +%s%N)
out=$(sqlite3 :memory: <<SQL
CREATE TABLE users(id TEXT PRIMARY KEY, name TEXT, age INTEGER, role TEXT);
CREATE INDEX users_role ON users(role);
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < $N)
INSERT INTO users SELECT 'rec' || i, 'User_' || i, 20 + i % 40,
  CASE WHEN i % 10 = 0 THEN 'admin' ELSE 'user' END FROM n;
COMMIT;
SELECT count(*) FROM (SELECT * FROM users WHERE role = 'admin' ORDER BY id);
SELECT 'record{' || group_concat(t, ',') || '}' FROM (
  SELECT id || ':record{age:int:' || age || ',name:string:"' || name
         || '",role:string:"' || role || '"}' AS t
  FROM users ORDER BY id);
SQL
)
admins=$(printf '%s\n' "$out" | sed -n 1p)
hash=$(printf '%s' "$(printf '%s\n' "$out" | sed -n 2p)" | sha256sum | cut -d' ' -f1)
end=$(date +%s%N)
echo "admins=$admins hash=$hash time_ms=$(( (end - start) / 1000000 ))"
