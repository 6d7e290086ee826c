// Database bundle interoperability between the Rust host store
// (crates/finvm-host/src/store) and the JavaScript FinVM's FinVMDatabase.
//
// A small FinVMDatabase written from the specification (DATABASE.md §4.3,
// §4.6, §4.8 and HOST.md §8.3) on Node's built-in Web Crypto only: the id
// sequence shared by insert and update, the plaintext serialization, the v2
// passphrase bundle (PBKDF2-HMAC-SHA256 210000 / AES-256-GCM, no AAD,
// decimal byte arrays), the `db` fenc envelope, and the host table hash. It
// shares no code with the reference or with the Rust store.
//
//   node dbbundle.mjs kat                      check the DATABASE.md §4.8 vectors
//   node dbbundle.mjs make  <out> <key>        build a store here, export it to <out>
//   node dbbundle.mjs cycle <in> <out> <key>   import <in>, change it, export to <out>
//   node dbbundle.mjs open  <in> <key>         import <in> and print its plaintext
//
// <key> is a passphrase, or `dek:<64 hex digits>` for a data key. `make` and
// `cycle` print one JSON line describing what they saw and wrote. Any failure
// prints `FAIL <message>` on stderr and exits 1.

import { readFileSync, writeFileSync } from "node:fs";

const subtle = globalThis.crypto.subtle;
const utf8 = new TextEncoder();
const fromUtf8 = (bytes) => new TextDecoder().decode(bytes);
const PBKDF2_ITERATIONS = 210000;

function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function fromHex(text) {
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function parseKey(arg) {
  if (arg.startsWith("dek:")) {
    const dek = fromHex(arg.slice(4));
    if (dek.length !== 32) throw new Error("DEK must be a 32-byte Uint8Array");
    return { dek };
  }
  return { passphrase: arg };
}

async function pbkdf2Key(passphrase, salt) {
  const base = await subtle.importKey("raw", utf8.encode(passphrase), "PBKDF2", false, ["deriveKey"]);
  return subtle.deriveKey(
    { name: "PBKDF2", hash: "SHA-256", salt, iterations: PBKDF2_ITERATIONS },
    base,
    { name: "AES-GCM", length: 256 },
    true,
    ["encrypt", "decrypt"],
  );
}

async function aesKey(raw) {
  return subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]);
}

function canonical(v) {
  if (v === null || typeof v !== "object") return JSON.stringify(v);
  if (Array.isArray(v)) return "[" + v.map(canonical).join(",") + "]";
  return "{" + Object.keys(v).sort().map((k) => JSON.stringify(k) + ":" + canonical(v[k])).join(",") + "}";
}

async function sha256Hex(text) {
  return hex(new Uint8Array(await subtle.digest("SHA-256", utf8.encode(text))));
}

class FinVMDatabase {
  constructor() {
    this.tables = new Map();
    this.sequence = 0;
    this.passphrase = null;
    this.dek = null;
    this.salt = null;
  }

  setKey(key) {
    if (key.dek) {
      this.dek = key.dek;
      this.passphrase = null;
    } else {
      this.passphrase = key.passphrase;
      this.dek = null;
    }
    this.salt = null;
  }

  insert(table, value) {
    if (!this.tables.has(table)) this.tables.set(table, new Map());
    const id = "rec" + this.sequence;
    const record = { id, timestamp: this.sequence, content: value };
    this.sequence += 1;
    this.tables.get(table).set(id, record);
    return id;
  }

  update(table, id, value) {
    const t = this.tables.get(table);
    if (!t || !t.has(id)) return false;
    const record = t.get(id);
    record.content = value;
    record.updatedAt = this.sequence;
    this.sequence += 1;
    return true;
  }

  delete(table, id) {
    const t = this.tables.get(table);
    if (!t || !t.has(id)) return false;
    t.delete(id);
    return true;
  }

  async hashTable(table) {
    const t = this.tables.get(table);
    if (!t) return "0";
    const records = Array.from(t.values()).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return sha256Hex(canonical(records));
  }

  async hashes() {
    const out = {};
    for (const name of this.tables.keys()) out[name] = await this.hashTable(name);
    return out;
  }

  serialize() {
    return JSON.stringify({
      sequence: this.sequence,
      tables: Array.from(this.tables.entries()).map(([name, t]) => [name, Array.from(t.entries())]),
    });
  }

  loadPlaintext(text) {
    const parsed = JSON.parse(text);
    this.tables = new Map(parsed.tables.map(([name, rows]) => [name, new Map(rows)]));
    this.sequence = parsed.sequence;
  }

  async exportEncrypted() {
    const plaintext = utf8.encode(this.serialize());
    const iv = globalThis.crypto.getRandomValues(new Uint8Array(12));
    if (this.dek) {
      const ct = await subtle.encrypt(
        { name: "AES-GCM", iv, additionalData: utf8.encode("finvm:db") },
        await aesKey(this.dek),
        plaintext,
      );
      return JSON.stringify({
        fenc: 1,
        target: "db",
        cipher: "aes-256-gcm",
        iv: Buffer.from(iv).toString("base64"),
        aad: "finvm:db",
        ct: Buffer.from(new Uint8Array(ct)).toString("base64"),
      });
    }
    if (this.salt === null) this.salt = globalThis.crypto.getRandomValues(new Uint8Array(16));
    const key = await pbkdf2Key(this.passphrase, this.salt);
    const data = new Uint8Array(await subtle.encrypt({ name: "AES-GCM", iv }, key, plaintext));
    return JSON.stringify({ v: 2, salt: Array.from(this.salt), iv: Array.from(iv), data: Array.from(data) });
  }

  async importEncrypted(serialized) {
    const parsed = JSON.parse(serialized);
    if (parsed && parsed.fenc === 1 && typeof parsed.target === "string") {
      if (parsed.target !== "db") throw new Error("DecryptionFailed: DB envelope target mismatch");
      if (!this.dek) throw new Error("DecryptionFailed: DEK required for fenc DB bundle");
      if (parsed.aad && parsed.aad !== "finvm:db") throw new Error("DecryptionFailed: AAD mismatch");
      const plain = await subtle.decrypt(
        { name: "AES-GCM", iv: Buffer.from(parsed.iv, "base64"), additionalData: utf8.encode("finvm:db") },
        await aesKey(this.dek),
        Buffer.from(parsed.ct, "base64"),
      );
      this.loadPlaintext(fromUtf8(new Uint8Array(plain)));
      return;
    }
    if (parsed && parsed.v === 2) {
      if (this.passphrase === null) throw new Error("Passphrase required for v2 DB bundle");
      if (!parsed.salt) throw new Error("Unsupported FinVM DB bundle: missing key-derivation salt");
      this.salt = new Uint8Array(parsed.salt);
      const key = await pbkdf2Key(this.passphrase, this.salt);
      const plain = await subtle.decrypt(
        { name: "AES-GCM", iv: new Uint8Array(parsed.iv) },
        key,
        new Uint8Array(parsed.data),
      );
      this.loadPlaintext(fromUtf8(new Uint8Array(plain)));
      return;
    }
    throw new Error("DecryptionFailed: Unsupported DB bundle format");
  }
}

// ---------------------------------------------------------------- commands

async function kat() {
  const salt = Uint8Array.from({ length: 16 }, (_, i) => i);
  const iv = Uint8Array.from({ length: 12 }, (_, i) => i);
  const plaintext = utf8.encode('{"sequence":0,"tables":[]}');
  const key = await pbkdf2Key("pw", salt);
  const raw = hex(new Uint8Array(await subtle.exportKey("raw", key)));
  if (raw !== "c2485d435920504da9f44f0bded3e2369c571273260301da5df2dea3ed184f87") {
    throw new Error("PBKDF2 key " + raw);
  }
  const data = new Uint8Array(await subtle.encrypt({ name: "AES-GCM", iv }, key, plaintext));
  const bundle = JSON.stringify({ v: 2, salt: Array.from(salt), iv: Array.from(iv), data: Array.from(data) });
  const expected =
    '{"v":2,"salt":[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15],"iv":[0,1,2,3,4,5,6,7,8,9,10,11],' +
    '"data":[255,45,70,42,253,23,137,81,81,125,131,115,41,39,74,123,226,59,239,130,67,189,220,23,' +
    '11,27,199,114,196,147,251,218,216,248,30,171,47,85,160,211,194,67]}';
  if (bundle !== expected) throw new Error("v2 bundle " + bundle);
  const dek = Uint8Array.from({ length: 32 }, (_, i) => i);
  const ct = new Uint8Array(
    await subtle.encrypt({ name: "AES-GCM", iv, additionalData: utf8.encode("finvm:db") }, await aesKey(dek), plaintext),
  );
  if (Buffer.from(ct).toString("base64") !== "PCClfrSQp3XuJLWxgcVaGeK061GDWWUnZRqasL1U7YlAOoSF2dXRvCit") {
    throw new Error("db envelope ct");
  }
  const t = new FinVMDatabase();
  t.insert("t", { v: 1 });
  if (t.serialize() !== '{"sequence":1,"tables":[["t",[["rec0",{"id":"rec0","timestamp":0,"content":{"v":1}}]]]]}') {
    throw new Error("plaintext " + t.serialize());
  }
  if ((await t.hashTable("t")) !== "8abd84d5fc00e8276dfaaa2051d4fbe8b4c58c744db0d5107114c96848af067e") {
    throw new Error("hashTable");
  }
  console.log("ok kat");
}

async function make(out, keyArg) {
  const db = new FinVMDatabase();
  db.setKey(parseKey(keyArg));
  db.insert("users", { name: "Alice", age: 30, role: "admin", tags: ["a", "b"] });
  const bob = db.insert("users", { name: "Bob", age: 25, role: "user", score: 1.5, nested: { deep: [1, { x: null }] } });
  db.insert("ledger", { owner: "zo\u00eb \u2713 \u2028 \"q\" \\ \n\u0001", amount: -42, ok: true, "10": "ten", b: 2 });
  db.update("users", bob, { name: "Bobby", age: 26, role: "user" });
  db.insert("users", { name: "Charlie", age: 35, role: "user", fixed: { fixed: { value: "1050", scale: 2 } } });
  const gone = db.insert("emptied", { x: 1 });
  db.delete("emptied", gone);
  db.insert("users", "a bare string");
  db.insert("users", { tag: "V", payload: [1, 2] });
  writeFileSync(out, await db.exportEncrypted());
  console.log(JSON.stringify({ plaintext: db.serialize(), hashes: await db.hashes(), sequence: db.sequence }));
}

async function cycle(input, out, keyArg) {
  const db = new FinVMDatabase();
  db.setKey(parseKey(keyArg));
  await db.importEncrypted(readFileSync(input, "utf8"));
  const loaded = db.serialize();
  const hashes = await db.hashes();
  const inserted = db.insert("fromjs", { name: "FromJS", n: 40, list: [true, null, "x"] });
  const firstTable = db.tables.keys().next().value;
  const firstId = firstTable === undefined ? undefined : db.tables.get(firstTable).keys().next().value;
  const updated = firstId === undefined ? false : db.update(firstTable, firstId, { touched: "by js" });
  writeFileSync(out, await db.exportEncrypted());
  console.log(
    JSON.stringify({
      loaded,
      hashes,
      inserted,
      updated: updated ? [firstTable, firstId] : null,
      plaintext: db.serialize(),
      hashesAfter: await db.hashes(),
    }),
  );
}

async function open(input, keyArg) {
  const db = new FinVMDatabase();
  db.setKey(parseKey(keyArg));
  await db.importEncrypted(readFileSync(input, "utf8"));
  console.log(db.serialize());
}

const [cmd, ...args] = process.argv.slice(2);
const commands = { kat, make, cycle, open };
if (!commands[cmd]) {
  console.error("usage: node dbbundle.mjs kat | make <out> <key> | cycle <in> <out> <key> | open <in> <key>");
  process.exit(2);
}
try {
  await commands[cmd](...args);
} catch (e) {
  console.error("FAIL " + (e && e.message ? e.message : String(e)));
  process.exit(1);
}
