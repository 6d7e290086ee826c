// The store workload of benches/programs/db_store.json in plain Node:
// a Map of rows plus a Map<role, Set<id>> index, 20,000 inserts
// {name: "User_i", age: 20 + i % 40, role: i % 10 == 0 ? "admin" : "user"},
// the query role = "admin" (rows in id-string order, as db.query returns
// them), and the SHA-256 of the same canonical text db.hash hashes, so the
// printed hash must equal the FinVM result.
//   usage: node benches/peers/db_store.js [N]
"use strict";
const crypto = require("node:crypto");

const N = Number(process.argv[2] || 20000);
const t0 = process.hrtime.bigint();

const rows = new Map();
const roleIndex = new Map();
let nextId = 0;

function insert(row) {
  const id = "rec" + nextId++;
  rows.set(id, row);
  let set = roleIndex.get(row.role);
  if (!set) roleIndex.set(row.role, (set = new Set()));
  set.add(id);
  return id;
}

for (let i = 0; i < N; i++) {
  insert({ name: "User_" + i, age: 20 + (i % 40), role: i % 10 === 0 ? "admin" : "user" });
}

const ids = [...(roleIndex.get("admin") || [])].sort(); // id-string order
const admins = ids.map((id) => rows.get(id));

// canonical text: record{<id>:record{age:int:A,name:string:"N",role:string:"R"},...}
const canonRow = (r) =>
  `record{age:int:${r.age},name:string:${JSON.stringify(r.name)},role:string:${JSON.stringify(r.role)}}`;
const parts = [...rows.keys()].sort().map((id) => `${id}:${canonRow(rows.get(id))}`);
const hash = crypto.createHash("sha256").update(`record{${parts.join(",")}}`).digest("hex");

const ms = Number(process.hrtime.bigint() - t0) / 1e6;
console.log(`admins=${admins.length} hash=${hash} time_ms=${ms.toFixed(1)}`);
