// Interoperability check between the Rust `finvm` secure commands and the
// JavaScript crypto stack the reference FinVM v1.2.0 runs on: Web Crypto
// (AES-256-GCM, PBKDF2), hash-wasm (Argon2id), @noble/curves (secp256k1) and
// @noble/hashes (SHA-256). Written for this project from the format
// specification (HOST.md §8); it shares no code with the reference.
//
//   node interop.mjs vectors          check the HOST.md §8 known-answer vectors
//   node interop.mjs open <dir>       open what `finvm` sealed in <dir>
//   node interop.mjs seal <dir>       seal artefacts in <dir> for `finvm` to open
//
// Prints one `ok ...` line per check; any failure prints `FAIL ...` and exits 1.

import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { argon2id } from "hash-wasm";
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { sha256 } from "@noble/hashes/sha2.js";

const subtle = globalThis.crypto.subtle;
const utf8 = new TextEncoder();
const fromUtf8 = (bytes) => new TextDecoder().decode(bytes);

// ---------------------------------------------------------------- helpers

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

function b64encode(bytes) {
  let out = "";
  for (let i = 0; i < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
    out += B64[(n >> 18) & 63] + B64[(n >> 12) & 63];
    out += i + 1 < bytes.length ? B64[(n >> 6) & 63] : "=";
    out += i + 2 < bytes.length ? B64[n & 63] : "=";
  }
  return out;
}

function b64decode(text) {
  const clean = text.replace(/[^A-Za-z0-9+/=]/g, "");
  const pad = clean.endsWith("==") ? 2 : clean.endsWith("=") ? 1 : 0;
  const out = new Uint8Array(Math.floor((clean.length * 3) / 4) - pad);
  let acc = 0, bits = 0, j = 0;
  for (const c of clean) {
    acc = (acc << 6) | (c === "=" ? 0 : B64.indexOf(c));
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      if (j < out.length) out[j++] = (acc >> bits) & 255;
    }
    acc &= (1 << bits) - 1;
  }
  return out;
}

const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
function fromHex(text) {
  const t = text.trim().replace(/^0x/, "");
  if (!/^[0-9a-fA-F]{64}$/.test(t)) throw new Error("Private key must be 32 bytes");
  return Uint8Array.from(t.match(/../g), (h) => parseInt(h, 16));
}
const seq = (start, n) => Uint8Array.from({ length: n }, (_, i) => start + i);
const random = (n) => crypto.getRandomValues(new Uint8Array(n));
const equalBytes = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

let failures = 0;
function check(label, cond, detail = "") {
  if (cond) {
    console.log(`ok ${label}`);
  } else {
    failures += 1;
    console.log(`FAIL ${label}${detail ? `: ${detail}` : ""}`);
  }
}

// ---------------------------------------------------------------- AES-GCM

async function gcmEncrypt(key, iv, aad, plaintext) {
  const k = await subtle.importKey("raw", key, "AES-GCM", false, ["encrypt"]);
  const params = { name: "AES-GCM", iv };
  if (aad.length) params.additionalData = aad;
  return new Uint8Array(await subtle.encrypt(params, k, plaintext));
}

async function gcmDecrypt(key, iv, aad, sealed) {
  const k = await subtle.importKey("raw", key, "AES-GCM", false, ["decrypt"]);
  const params = { name: "AES-GCM", iv };
  if (aad.length) params.additionalData = aad;
  return new Uint8Array(await subtle.decrypt(params, k, sealed));
}

// ---------------------------------------------------------------- envelope

const TARGETS = ["program", "inputs", "db", "output"];

async function sealEnvelope(dek, target, plaintext, iv = random(12)) {
  if (!TARGETS.includes(target)) throw new Error(`Invalid target: ${target}`);
  const aad = `finvm:${target}`;
  const ct = await gcmEncrypt(dek, iv, utf8.encode(aad), utf8.encode(plaintext));
  return { fenc: 1, target, cipher: "aes-256-gcm", iv: b64encode(iv), aad, ct: b64encode(ct) };
}

async function openEnvelope(dek, env) {
  const ok = env && env.fenc === 1 && ["target", "cipher", "iv", "ct"].every((k) => typeof env[k] === "string");
  if (!ok) throw new Error("DecryptionFailed: Not a valid fenc envelope");
  if (env.aad && env.aad !== `finvm:${env.target}`) throw new Error("DecryptionFailed: AAD mismatch");
  if (!TARGETS.includes(env.target) || env.cipher !== "aes-256-gcm") throw new Error("DecryptionFailed");
  const plain = await gcmDecrypt(dek, b64decode(env.iv), utf8.encode(`finvm:${env.target}`), b64decode(env.ct));
  return fromUtf8(plain);
}

// ---------------------------------------------------------------- KDFs

async function pbkdf2(passphrase, salt, iterations) {
  const base = await subtle.importKey("raw", utf8.encode(passphrase), "PBKDF2", false, ["deriveBits"]);
  const bits = await subtle.deriveBits({ name: "PBKDF2", hash: "SHA-256", salt, iterations }, base, 256);
  return new Uint8Array(bits);
}

async function argon2(passphrase, salt, { iterations = 3, memorySize = 65536, parallelism = 1 } = {}) {
  return argon2id({
    password: utf8.encode(passphrase),
    salt,
    iterations,
    memorySize,
    parallelism,
    hashLength: 32,
    outputType: "binary",
  });
}

// The KEK of a passphrase grant, read as the reference's key provider reads
// it: Argon2id for kdf "argon2id" (or absent), else PBKDF2-SHA256 with at
// least 210000 iterations.
async function grantKek(grant, passphrase) {
  const salt = grant.salt ? b64decode(grant.salt) : new Uint8Array(16);
  const params = grant.kdfParams ?? {};
  if (grant.kdf === undefined || grant.kdf === "argon2id") return argon2(passphrase, salt, params);
  return pbkdf2(passphrase, salt, Math.max(210000, params.iterations ?? 210000));
}

// ---------------------------------------------------------------- grants

async function passphraseGrant(passphrase, dek, kdf, { salt = random(16), iv = random(12), kdfParams = {} } = {}) {
  const kek = kdf === "argon2id" ? await argon2(passphrase, salt, kdfParams) : await pbkdf2(passphrase, salt, kdfParams.iterations ?? 210000);
  const ct = await gcmEncrypt(kek, iv, utf8.encode("finvm:dek-wrap"), dek);
  return { wrap: "aesgcm-keywrap", iv: b64encode(iv), ct: b64encode(ct), kdf, salt: b64encode(salt), kdfParams };
}

async function walletGrant(recipientPub, dek, { wrap = "ecies-secp256k1", ephemeral = secp256k1.utils.randomSecretKey(), iv = random(12) } = {}) {
  const shared = secp256k1.getSharedSecret(ephemeral, recipientPub, true);
  const key = sha256(shared.slice(1, 33));
  const ct = await gcmEncrypt(key, iv, utf8.encode("finvm:ecies-dek"), dek);
  return {
    wrap,
    ephemeralPub: b64encode(secp256k1.getPublicKey(ephemeral, true)),
    iv: b64encode(iv),
    ct: b64encode(ct),
    recipientPub: b64encode(secp256k1.Point.fromBytes(recipientPub).toBytes(true)),
  };
}

async function unwrapDek(grant, { passphrase, walletKey }) {
  let key, aad;
  if (grant.wrap === "aesgcm-keywrap") {
    key = await grantKek(grant, passphrase);
    aad = "finvm:dek-wrap";
  } else if (grant.wrap === "ecies-secp256k1" || grant.wrap === "eth-decrypt") {
    const shared = secp256k1.getSharedSecret(walletKey, b64decode(grant.ephemeralPub), true);
    key = sha256(shared.slice(1, 33));
    aad = "finvm:ecies-dek";
  } else {
    throw new Error("DecryptionFailed: DEK unwrap failed");
  }
  const dek = await gcmDecrypt(key, b64decode(grant.iv), utf8.encode(aad), b64decode(grant.ct));
  if (dek.length !== 32) throw new Error("DEK must be 256 bits");
  return dek;
}

// ---------------------------------------------------------------- commands

async function vectors() {
  const dek = seq(0, 32);
  const env = await sealEnvelope(dek, "db", '{"sequence":0,"tables":[]}', seq(0, 12));
  check(
    "envelope vector",
    JSON.stringify(env) ===
      '{"fenc":1,"target":"db","cipher":"aes-256-gcm","iv":"AAECAwQFBgcICQoL","aad":"finvm:db","ct":"PCClfrSQp3XuJLWxgcVaGeK061GDWWUnZRqasL1U7YlAOoSF2dXRvCit"}',
  );
  const pass = "correct horse battery staple";
  const salt = seq(0, 16);
  const pk = await pbkdf2(pass, salt, 210000);
  check("pbkdf2 kek vector", hex(pk) === "18465cade096c185b5f60765891fca3f74477e23fd9b6fc88faf7831a91753ac");
  const pg = await passphraseGrant(pass, dek, "pbkdf2-sha256", { salt, iv: seq(0xa0, 12) });
  check("pbkdf2 grant ct vector", pg.ct === "20JbcuT9FozBbt/KN4G9gs3ZVC2Yb69yrgaOZACyxq3i7sYbGHgOuiBxsZYC36P4");
  const ak = await argon2(pass, salt);
  check("argon2id kek vector", hex(ak) === "0d1a3c6523c8f06e4e0af9c515aa5b5448cfebd6838f2d52c3d8b6ef8ddc3c2e");
  const ag = await passphraseGrant(pass, dek, "argon2id", { salt, iv: seq(0xa0, 12) });
  check(
    "argon2id grant vector",
    JSON.stringify(ag) ===
      '{"wrap":"aesgcm-keywrap","iv":"oKGio6Slpqeoqaqr","ct":"infaJ3kAnEFwh26WT+/KeXZx6IbeKD4G6+UvRzLeqVE0PKo2ESAeiF8JEIdLJw+Q","kdf":"argon2id","salt":"AAECAwQFBgcICQoLDA0ODw==","kdfParams":{}}',
  );
  const recipient = new Uint8Array(32).fill(0x11);
  const wg = await walletGrant(secp256k1.getPublicKey(recipient, true), dek, {
    ephemeral: new Uint8Array(32).fill(0x22),
    iv: seq(0xb0, 12),
  });
  check(
    "ecies grant vector",
    JSON.stringify(wg) ===
      '{"wrap":"ecies-secp256k1","ephemeralPub":"AkZtf8rlY+XLCaDRhwu1gDRIBGF4eaFJSc8iKF8brj8n","iv":"sLGys7S1tre4ubq7","ct":"jKzD8nSo0vd2/zy+LR4NHZ5LODh1yZHilVmIdeZpPchPY+NWfk+rF52dvHU0LkNj","recipientPub":"A081W9y3zAr3KO88zrlhXZBoS7Wyyl+FmrDwtwQHWHGq"}',
    JSON.stringify(wg),
  );
}

const read = (dir, name) => readFileSync(join(dir, name), "utf8");
const readJson = (dir, name) => JSON.parse(read(dir, name));

// Opens what finvm sealed: every grant must give the same DEK, and every
// envelope must hold exactly the expected plaintext.
async function open(dir) {
  const passphrase = read(dir, "pass.txt").replace(/\r?\n$/, "");
  const walletKey = fromHex(read(dir, "wallet.hex"));
  const deks = [];
  for (const name of ["grant-argon2id.json", "grant-pbkdf2.json", "grant-wallet.json"]) {
    const text = read(dir, name).trim();
    const grant = JSON.parse(text);
    check(`${name}: canonical JSON`, JSON.stringify(grant) === text, text);
    try {
      deks.push(await unwrapDek(grant, { passphrase, walletKey }));
      check(`${name}: unwrapped`, true);
    } catch (e) {
      check(`${name}: unwrapped`, false, e.message);
    }
  }
  check("all grants hold one DEK", deks.length === 3 && deks.every((d) => equalBytes(d, deks[0])));
  // A wrong passphrase and a wrong wallet key must fail.
  for (const [name, key] of [
    ["grant-argon2id.json", { passphrase: passphrase + "x" }],
    ["grant-wallet.json", { walletKey: new Uint8Array(32).fill(0x77) }],
  ]) {
    let failed = false;
    try {
      await unwrapDek(readJson(dir, name), key);
    } catch {
      failed = true;
    }
    check(`${name}: wrong key refused`, failed);
  }
  const dek = deks[0];
  const expected = {
    "program.fenc": read(dir, "program.json"),
    "inputs.fenc": JSON.stringify(readJson(dir, "inputs.json")),
    "db.fenc": read(dir, "db.json"),
    "output.fenc": read(dir, "output.expected").replace(/\n$/, ""),
  };
  for (const [name, plain] of Object.entries(expected)) {
    const text = read(dir, name).trim();
    const env = JSON.parse(text);
    check(`${name}: key order`, JSON.stringify(Object.keys(env)) === '["fenc","target","cipher","iv","aad","ct"]');
    check(`${name}: canonical JSON`, JSON.stringify(env) === text);
    check(`${name}: 12-byte IV`, b64decode(env.iv).length === 12 && b64encode(b64decode(env.iv)) === env.iv);
    try {
      const got = await openEnvelope(dek, env);
      check(`${name}: plaintext`, got === plain, JSON.stringify(got));
    } catch (e) {
      check(`${name}: plaintext`, false, e.message);
    }
    // Swapping the target must fail.
    const swapped = { ...env, target: env.target === "inputs" ? "program" : "inputs" };
    swapped.aad = `finvm:${swapped.target}`;
    let failed = false;
    try {
      await openEnvelope(dek, swapped);
    } catch {
      failed = true;
    }
    check(`${name}: target swap refused`, failed);
  }
}

// Seals artefacts the way the reference would, for finvm to open: grants with
// the reference's defaults (`"kdfParams":{}`), a wallet grant, its
// `eth-decrypt` alias, and an envelope per target.
async function seal(dir) {
  const passphrase = read(dir, "pass.txt").replace(/\r?\n$/, "");
  const walletKey = fromHex(read(dir, "wallet.hex"));
  const dek = random(32);
  const write = (name, obj) => writeFileSync(join(dir, name), JSON.stringify(obj));
  write("grant-argon2id.json", await passphraseGrant(passphrase, dek, "argon2id"));
  write("grant-pbkdf2.json", await passphraseGrant(passphrase, dek, "pbkdf2-sha256"));
  const pub = secp256k1.getPublicKey(walletKey, true);
  write("grant-wallet.json", await walletGrant(pub, dek));
  write("grant-eth.json", await walletGrant(pub, dek, { wrap: "eth-decrypt" }));
  write("program.fenc", await sealEnvelope(dek, "program", read(dir, "program.json")));
  write("inputs.fenc", await sealEnvelope(dek, "inputs", JSON.stringify(readJson(dir, "inputs.json"))));
  write("db.fenc", await sealEnvelope(dek, "db", read(dir, "db.json")));
  write("output.fenc", await sealEnvelope(dek, "output", read(dir, "output.txt")));
  check("sealed for finvm", true);
}

const [command, dir] = process.argv.slice(2);
try {
  if (command === "vectors") await vectors();
  else if (command === "open" && dir) await open(dir);
  else if (command === "seal" && dir) await seal(dir);
  else {
    console.log("usage: node interop.mjs vectors | open <dir> | seal <dir>");
    process.exit(2);
  }
} catch (e) {
  failures += 1;
  console.log(`FAIL ${command}: ${e.stack ?? e}`);
}
process.exit(failures ? 1 : 0);
