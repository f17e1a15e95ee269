// residency: the verifier of a person's page. Pure functions over
// WebCrypto (SHA-256 and Ed25519); no network, no key fetched from
// anywhere: the keys are the ones pinned in the page's configuration.
//
// Specifications, and the Rust code each function agrees with:
//   C2SP signed-note         https://c2sp.org/signed-note       tlog/src/note.rs
//   C2SP tlog-checkpoint     https://c2sp.org/tlog-checkpoint   tlog/src/checkpoint.rs
//   C2SP tlog-cosignature/v1 https://c2sp.org/tlog-cosignature tlog/src/cosignature.rs
//   C2SP tlog-proof          https://c2sp.org/tlog-proof        tlog/src/receipt.rs
//   RFC 6962 §2.1 hashing and inclusion proofs                  tlog/src/{hash,merkle}.rs
//   canonical entry JSON                                        entry/src/lib.rs (canonical)
//   subject-set proofs                                          node/src/region/api.rs (SubjectProof)
"use strict";

const ResidencyVerify = (() => {
  const TYPE_ED25519 = 0x01;
  const TYPE_COSIGNATURE_V1 = 0x04;
  const MAX_PROOF_LEN = 64;
  const MAX_SIGNATURES = 100;
  const SIG_PREFIX = "\u2014 ";
  const RECEIPT_HEADER = "c2sp.org/tlog-proof@v1";
  const utf8 = new TextEncoder();

  /** A verification failure with a short machine tag (see REASONS). */
  class Failure extends Error {
    constructor(tag, detail) {
      super(detail ? `${tag}: ${detail}` : tag);
      this.tag = tag;
    }
  }
  const fail = (tag, detail) => {
    throw new Failure(tag, detail);
  };

  // --- bytes -------------------------------------------------------------

  const B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

  /** Standard, padded, canonical base64 (as Rust's STANDARD engine), or null. */
  function b64decode(s) {
    if (typeof s !== "string" || !B64.test(s)) return null;
    const bin = atob(s);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    // Non-canonical trailing bits are rejected, as Rust does.
    if (b64encode(out) !== s) return null;
    return out;
  }

  function b64encode(bytes) {
    let bin = "";
    for (const b of bytes) bin += String.fromCharCode(b);
    return btoa(bin);
  }

  /** Hexadecimal (either case), or null. */
  function hexdecode(s) {
    if (typeof s !== "string" || s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) return null;
    const out = new Uint8Array(s.length / 2);
    for (let i = 0; i < out.length; i++) out[i] = parseInt(s.substr(2 * i, 2), 16);
    return out;
  }

  function concat(...parts) {
    let n = 0;
    for (const p of parts) n += p.length;
    const out = new Uint8Array(n);
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }

  function equal(a, b) {
    if (a.length !== b.length) return false;
    let d = 0;
    for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
    return d === 0;
  }

  async function sha256(bytes) {
    return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  }

  // --- RFC 6962 ----------------------------------------------------------

  /** SHA-256(0x00 || entry). */
  function leafHash(entry) {
    return sha256(concat(new Uint8Array([0]), entry));
  }

  /** SHA-256(0x01 || left || right). */
  function nodeHash(l, r) {
    const buf = new Uint8Array(65);
    buf[0] = 1;
    buf.set(l, 1);
    buf.set(r, 33);
    return sha256(buf);
  }

  /**
   * Checks that `proof` (32-byte hashes) leads from `leaf` at `index` to
   * `root` in a tree of `size` leaves (RFC 9162 §2.1.3.2). Index and size
   * are BigInts. Throws a Failure(`tag`) when it does not.
   */
  async function verifyInclusion(leaf, index, size, proof, root, tag) {
    if (index >= size) fail(tag, "index beyond the tree");
    if (proof.length > MAX_PROOF_LEN) fail(tag, "too many hashes");
    let fn = index;
    let sn = size - 1n;
    let r = leaf;
    for (const p of proof) {
      if (sn === 0n) fail(tag, "too many hashes for the tree size");
      if ((fn & 1n) === 1n || fn === sn) {
        r = await nodeHash(p, r);
        if ((fn & 1n) === 0n) {
          while ((fn & 1n) === 0n && fn !== 0n) {
            fn >>= 1n;
            sn >>= 1n;
          }
        }
      } else {
        r = await nodeHash(r, p);
      }
      fn >>= 1n;
      sn >>= 1n;
    }
    if (sn !== 0n) fail(tag, "too few hashes for the tree size");
    if (!equal(r, root)) fail(tag, "the proof does not lead to the root");
  }

  // --- canonical JSON ----------------------------------------------------

  /** Compares strings by code point (the order of their UTF-8 bytes). */
  function byCodePoint(a, b) {
    const x = Array.from(a, (c) => c.codePointAt(0));
    const y = Array.from(b, (c) => c.codePointAt(0));
    for (let i = 0; i < Math.min(x.length, y.length); i++) {
      if (x[i] !== y[i]) return x[i] - y[i];
    }
    return x.length - y.length;
  }

  /**
   * The canonical encoding of a JSON value, as entry::canonical writes it:
   * keys sorted, no white space, serde_json's string escaping (which, for
   * well-formed strings, is JSON.stringify's: \" \\ \b \f \n \r \t and
   * \u00xx in lower case for the other control characters; nothing else).
   */
  function canonical(value) {
    if (Array.isArray(value)) return "[" + value.map(canonical).join(",") + "]";
    if (value !== null && typeof value === "object") {
      const keys = Object.keys(value).sort(byCodePoint);
      return "{" + keys.map((k) => JSON.stringify(k) + ":" + canonical(value[k])).join(",") + "}";
    }
    if (typeof value === "number" && !Number.isSafeInteger(value)) {
      // Entries hold integers only; a float or a rounded integer cannot be
      // re-encoded as the log holds it.
      fail("malformed_entry", "a number that is not a safe integer");
    }
    return JSON.stringify(value);
  }

  // --- signed notes ------------------------------------------------------

  async function keyId(name, type, key) {
    const d = await sha256(concat(utf8.encode(name), new Uint8Array([0x0a, type]), key));
    return ((d[0] << 24) | (d[1] << 16) | (d[2] << 8) | d[3]) >>> 0;
  }

  function checkKeyName(name) {
    return name.length > 0 && !/[\s+\u0000-\u001f\u007f-\u009f]/u.test(name);
  }

  /**
   * Parses a vkey, `name+hexkeyid+base64(type || 32-byte key)`, checks its
   * key ID, and imports the Ed25519 key. Throws on anything else.
   */
  async function parseVkey(vkey) {
    const text = String(vkey).replace(/\n+$/, "");
    const a = text.indexOf("+");
    const b = a < 0 ? -1 : text.indexOf("+", a + 1);
    if (b < 0) throw new Error("a vkey is name+keyid+key");
    const name = text.slice(0, a);
    const idHex = text.slice(a + 1, b);
    const raw = b64decode(text.slice(b + 1));
    if (!checkKeyName(name)) throw new Error("bad key name");
    if (!/^[0-9a-f]{8}$/.test(idHex)) throw new Error("the key ID is not 8 lowercase hex digits");
    if (!raw || raw.length !== 33) throw new Error("the key is not base64 of a type and 32 bytes");
    const type = raw[0];
    if (type !== TYPE_ED25519 && type !== TYPE_COSIGNATURE_V1) {
      throw new Error(`unsupported signature type ${type}`);
    }
    const pub = raw.slice(1);
    const id = await keyId(name, type, pub);
    if (id !== parseInt(idHex, 16)) throw new Error("the key ID does not match the key");
    const key = await crypto.subtle.importKey("raw", pub, { name: "Ed25519" }, false, ["verify"]);
    return { name, id, type, key };
  }

  /** Parses a signed note's syntax (tlog/src/note.rs, Note::parse). */
  function parseNote(msg) {
    const tag = "malformed_checkpoint";
    if (/[\u0000-\u0009\u000b-\u001f]/.test(msg)) fail(tag, "a control character");
    if (!msg.endsWith("\n")) fail(tag, "no final newline");
    const split = msg.lastIndexOf("\n\n");
    if (split < 0) fail(tag, "no blank line before the signatures");
    const text = msg.slice(0, split + 1);
    const sigs = msg.slice(split + 2);
    if (sigs.length === 0) fail(tag, "no signatures");
    const lines = sigs.slice(0, -1).split("\n");
    if (lines.length > MAX_SIGNATURES) fail(tag, "too many signatures");
    const signatures = lines.map((line) => {
      if (!line.startsWith(SIG_PREFIX)) fail(tag, "a signature line without an em dash");
      const rest = line.slice(SIG_PREFIX.length);
      const sp = rest.indexOf(" ");
      if (sp < 0) fail(tag, "a signature line without a space");
      const name = rest.slice(0, sp);
      if (!checkKeyName(name)) fail(tag, "a bad key name");
      const raw = b64decode(rest.slice(sp + 1));
      if (!raw || raw.length < 5) fail(tag, "a signature that is not base64 of a key ID and bytes");
      const id = ((raw[0] << 24) | (raw[1] << 16) | (raw[2] << 8) | raw[3]) >>> 0;
      return { name, id, sig: raw.slice(4) };
    });
    return { text, signatures };
  }

  function parseSize(s) {
    if (!/^(0|[1-9][0-9]{0,19})$/.test(s)) return null;
    const n = BigInt(s);
    return n < 1n << 64n ? n : null;
  }

  /** Parses checkpoint note text (tlog/src/checkpoint.rs). */
  function parseCheckpoint(text) {
    const tag = "malformed_checkpoint";
    const lines = text.slice(0, -1).split("\n");
    if (lines.length < 3 || lines[0] === "") fail(tag, "an origin, a size and a root");
    const size = parseSize(lines[1]);
    if (size === null) fail(tag, "the tree size is not a decimal");
    const root = b64decode(lines[2]);
    if (!root || root.length !== 32) fail(tag, "the root hash is not 32 bytes of base64");
    if (lines.slice(3).some((l) => l === "")) fail(tag, "an empty extension line");
    return { origin: lines[0], size, root };
  }

  /** Big-endian u64 of 8 bytes, as a BigInt. */
  function u64(bytes) {
    let n = 0n;
    for (const b of bytes) n = (n << 8n) | BigInt(b);
    return n;
  }

  async function ed25519(key, sig, msg) {
    if (sig.length !== 64) return false;
    try {
      return await crypto.subtle.verify("Ed25519", key, sig, msg);
    } catch (_) {
      return false;
    }
  }

  /**
   * Verifies a signed checkpoint against the pinned keys: the origin is the
   * log key's name, the log's signature verifies, and every signature by a
   * pinned key verifies (a present but invalid one rejects the checkpoint,
   * as Note::verify does); unknown keys are ignored. Returns
   * { size, root, cosigned } where cosigned says a pinned witness's
   * cosignature/v1 verified.
   */
  async function verifyCheckpoint(msg, keys) {
    const note = parseNote(msg);
    const cp = parseCheckpoint(note.text);
    if (cp.origin !== keys.log.name) fail("origin_mismatch", `${cp.origin} is not ${keys.log.name}`);
    const text = utf8.encode(note.text);
    let logSigned = false;
    let cosigned = false;
    for (const s of note.signatures) {
      const k = [keys.log, ...keys.witnesses].find((v) => v.name === s.name && v.id === s.id);
      if (!k) continue;
      if (k.type === TYPE_ED25519) {
        if (!(await ed25519(k.key, s.sig, text))) {
          fail(k === keys.log ? "bad_log_signature" : "bad_cosignature", `by ${s.name}`);
        }
        if (k === keys.log) logSigned = true;
      } else {
        const ok =
          s.sig.length === 72 &&
          u64(s.sig.slice(0, 8)) <= (1n << 63n) - 1n &&
          (await ed25519(
            k.key,
            s.sig.slice(8),
            concat(utf8.encode(`cosignature/v1\ntime ${u64(s.sig.slice(0, 8))}\n`), text),
          ));
        if (!ok) fail("bad_cosignature", `by ${s.name}`);
        cosigned = true;
      }
    }
    if (!logSigned) fail("no_log_signature", `no valid signature by ${keys.log.name}`);
    return { size: cp.size, root: cp.root, cosigned };
  }

  /** Parses a tlog-proof receipt (tlog/src/receipt.rs). */
  function parseReceipt(text) {
    const tag = "malformed_receipt";
    if (typeof text !== "string") fail(tag, "not text");
    const blank = text.indexOf("\n\n");
    if (blank < 0) fail(tag, "no blank line before the checkpoint");
    const lines = text.slice(0, blank).split("\n");
    if (lines[0] !== RECEIPT_HEADER) fail(tag, "not a tlog-proof@v1");
    let i = 1;
    if (lines[i] !== undefined && lines[i].startsWith("extra ")) {
      if (!b64decode(lines[i].slice(6))) fail(tag, "extra is not base64");
      i++;
    }
    const index = lines[i] && lines[i].startsWith("index ") ? parseSize(lines[i].slice(6)) : null;
    if (index === null) fail(tag, "no index line");
    const proofLines = lines.slice(i + 1);
    if (proofLines.length > MAX_PROOF_LEN) fail(tag, "too many proof lines");
    const proof = proofLines.map((l) => {
      const h = b64decode(l);
      if (!h || h.length !== 32) fail(tag, "a proof line that is not a base64 hash");
      return h;
    });
    return { index, proof, checkpoint: text.slice(blank + 2) };
  }

  /**
   * The pinned keys: { log, witnesses }. The log key must be an Ed25519
   * note key (type 0x01), each witness key a cosignature/v1 key (0x04).
   */
  async function pinKeys(logVkey, witnessVkeys) {
    const log = await parseVkey(logVkey);
    if (log.type !== TYPE_ED25519) throw new Error("the log key is not an Ed25519 note key");
    const witnesses = [];
    for (const w of witnessVkeys || []) {
      const k = await parseVkey(w);
      if (k.type !== TYPE_COSIGNATURE_V1) throw new Error("a witness key is not a cosignature/v1 key");
      witnesses.push(k);
    }
    return { log, witnesses };
  }

  /**
   * A verifier of access records against pinned keys; checkpoints are
   * verified once each (many receipts share one).
   */
  function verifier(keys) {
    const checkpoints = new Map();
    const checkpoint = (text) => {
      let p = checkpoints.get(text);
      if (!p) {
        p = verifyCheckpoint(text, keys);
        // A rejection is shared too; keep it from being reported unhandled.
        p.catch(() => {});
        checkpoints.set(text, p);
      }
      return p;
    };

    /**
     * One access record of the history answer ({log_index, entry, receipt,
     * cosigned, subject_proof?}) to { status, reason, detail }: status
     * "verified", "unconfirmed" (no cosignature by a pinned witness) or
     * "failed" (reason: a machine tag).
     */
    async function record(a, subject) {
      try {
        if (!a || typeof a !== "object" || !a.entry || typeof a.entry !== "object") {
          fail("malformed_entry", "no entry");
        }
        // Only an access names a person; a bundle entry is no access to them.
        if (a.entry.kind !== "access") fail("not_an_access", "the entry is not an access");
        const r = parseReceipt(a.receipt);
        if (!Number.isSafeInteger(a.log_index) || BigInt(a.log_index) !== r.index) {
          fail("index_mismatch", "the receipt is for another entry");
        }
        const cp = await checkpoint(r.checkpoint);
        const leaf = await leafHash(utf8.encode(canonical(a.entry)));
        await verifyInclusion(leaf, r.index, cp.size, r.proof, cp.root, "bad_inclusion");
        const root = a.entry.subjects_root;
        const sp = a.subject_proof;
        if (sp === undefined || sp === null || typeof root !== "string") {
          fail("no_subject_proof", "no proof that the entry names this person");
        }
        await subjectProof(sp, root);
        // Every access on the page is this one person's.
        if (sp.subject !== subject) fail("other_subject", "the entry names someone else");
        return cp.cosigned
          ? { status: "verified", reason: "ok" }
          : { status: "unconfirmed", reason: "not_cosigned" };
      } catch (e) {
        const reason = e instanceof Failure ? e.tag : "malformed_receipt";
        return { status: "failed", reason, detail: String(e && e.message) };
      }
    }

    return { record };
  }

  /** Checks a subject-set proof against an entry's subjects_root (hex). */
  async function subjectProof(sp, rootHex) {
    const tag = "bad_subject_proof";
    const root = hexdecode(rootHex);
    if (!root || root.length !== 32) fail(tag, "the entry has no subjects_root");
    if (typeof sp.subject !== "string" || !Array.isArray(sp.proof)) fail(tag, "malformed");
    let bytes = utf8.encode(sp.subject);
    if (sp.salt !== undefined && sp.salt !== null) {
      const salt = hexdecode(sp.salt);
      if (!salt || salt.length !== 32) fail(tag, "the salt is not 32 bytes of hex");
      bytes = concat(salt, bytes);
    }
    const proof = sp.proof.map((h) => {
      const b = b64decode(h);
      if (!b || b.length !== 32) fail(tag, "a proof hash that is not base64");
      return b;
    });
    const index = Number.isSafeInteger(sp.index) && sp.index >= 0 ? BigInt(sp.index) : null;
    const size = Number.isSafeInteger(sp.size) && sp.size >= 0 ? BigInt(sp.size) : null;
    if (index === null || size === null) fail(tag, "index and size");
    await verifyInclusion(await leafHash(bytes), index, size, proof, root, tag);
  }

  /** The subject named by most subject proofs (ties: the first). */
  function commonSubject(accesses) {
    const counts = new Map();
    for (const a of accesses) {
      const s = a && a.subject_proof && a.subject_proof.subject;
      if (typeof s === "string") counts.set(s, (counts.get(s) || 0) + 1);
    }
    let best = null;
    for (const [s, n] of counts) if (best === null || n > counts.get(best)) best = s;
    return best;
  }

  /**
   * Verifies every access record of a history answer against the pinned
   * keys: an array of results in the records' order. If the pinned keys
   * themselves cannot be read, every record fails with `bad_pinned_key`.
   */
  async function verifyAll(logVkey, witnessVkeys, accesses, subject) {
    let keys;
    try {
      keys = await pinKeys(logVkey, witnessVkeys);
    } catch (e) {
      return accesses.map(() => ({ status: "failed", reason: "bad_pinned_key", detail: String(e.message) }));
    }
    const v = verifier(keys);
    // The person: the history's own subject, else the subject most of its
    // proofs name — either way one person, so an access of someone else
    // slipped in fails.
    const person = typeof subject === "string" ? subject : commonSubject(accesses);
    return Promise.all(accesses.map((a) => v.record(a, person)));
  }

  return {
    b64decode,
    hexdecode,
    canonical,
    leafHash,
    nodeHash,
    verifyInclusion,
    keyId,
    parseVkey,
    parseNote,
    parseCheckpoint,
    parseReceipt,
    verifyCheckpoint,
    pinKeys,
    verifier,
    subjectProof,
    verifyAll,
  };
})();
