/* vcledger browser verifier: the 12 steps of client/verify.py and the 9 of
 * client/pathway_verify.py, in JavaScript.
 *
 * No build step, no third-party code, no network: SHA-256 and Ed25519 come from
 * WebCrypto (crypto.subtle), everything else is here.  Every check, its order and
 * every message follow the Python modules named in the section headings, so that
 * window.vcledger.verify(...) returns the same verdict as
 * client.verify.verify_bundle(...).as_json() (tests/system/test_browser.py compares them), and
 * window.vcledger.verifyPathway(...) the same as
 * client.pathway_verify.verify_pathway(...).as_json() (tests/system/test_browser_pathway.py).
 *
 * Conventions: protocol integers are BigInt, byte strings Uint8Array; a failed
 * check throws a LedgerError whose message is the Python diagnostics() text.
 */
(function (global) {
  'use strict';

  // -- errors (client/errors.py) -------------------------------------------------------------

  class LedgerError extends Error {
    constructor(message, kind) {
      super(message);
      this.kind = kind || 'LedgerError';
    }
    diagnostics() { return this.message || this.kind; }
  }
  const encodingError = (m) => new LedgerError(m, 'InvalidEncoding');
  const proofError = (m) => new LedgerError(m, 'InvalidProof');
  const signatureError = (m) => new LedgerError(m, 'SignatureError');
  const stepFailed = (m) => new LedgerError(m, 'StepFailed');
  const usageError = (m) => new LedgerError(m, 'UsageError');
  function rootMismatch(what, expected, calculated) {
    return new LedgerError(`${what}: calculated root ${hex(calculated)} does not match expected ` +
                           `${hex(expected)}`, 'RootMismatch');
  }

  // -- bytes, hex, Python's repr ---------------------------------------------------------------

  const utf8 = new TextEncoder();
  const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  const concat = (...parts) => {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) { out.set(p, at); at += p.length; }
    return out;
  };
  const equalBytes = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
  const fromHex = (text) => Uint8Array.from(text.match(/../g) || [], (h) => parseInt(h, 16));
  const codePoints = (s) => Array.from(s);
  const utf8Length = (s) => {
    // UTF-8 with surrogatepass: a lone surrogate counts 3 bytes, like Python.
    let n = 0;
    for (const ch of s) {
      const cp = ch.codePointAt(0);
      n += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    }
    return n;
  };
  const hasLoneSurrogate = (s) => /\p{Cs}/u.test(s);
  const NOT_PRINTABLE = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Zs}]/u;

  function pad(n, width) { return n.toString(16).padStart(width, '0'); }

  /** Python's repr() of a str. */
  function reprStr(s) {
    const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
    let out = quote;
    for (const ch of s) {
      const cp = ch.codePointAt(0);
      if (ch === quote || ch === '\\') out += '\\' + ch;
      else if (ch === '\t') out += '\\t';
      else if (ch === '\n') out += '\\n';
      else if (ch === '\r') out += '\\r';
      else if (cp < 0x20 || cp === 0x7f) out += '\\x' + pad(cp, 2);
      else if (cp < 0x7f) out += ch;
      else if (ch === ' ' || !NOT_PRINTABLE.test(ch)) out += ch;
      else if (cp <= 0xff) out += '\\x' + pad(cp, 2);
      else if (cp <= 0xffff) out += '\\u' + pad(cp, 4);
      else out += '\\U' + pad(cp, 8);
    }
    return out + quote;
  }

  /** Python's repr() of a decoded msgpack value (int, str, bytes, None, list). */
  function repr(value) {
    if (value === null || value === undefined) return 'None';
    if (typeof value === 'bigint' || typeof value === 'number') return String(value);
    if (typeof value === 'string') return reprStr(value);
    if (typeof value === 'boolean') return value ? 'True' : 'False';
    if (value instanceof Uint8Array) {
      const hasSingle = value.includes(0x27);
      const quote = hasSingle && !value.includes(0x22) ? '"' : "'";
      let out = 'b' + quote;
      for (const b of value) {
        if (b === quote.charCodeAt(0) || b === 0x5c) out += '\\' + String.fromCharCode(b);
        else if (b === 9) out += '\\t';
        else if (b === 10) out += '\\n';
        else if (b === 13) out += '\\r';
        else if (b < 0x20 || b >= 0x7f) out += '\\x' + pad(b, 2);
        else out += String.fromCharCode(b);
      }
      return out + quote;
    }
    if (Array.isArray(value)) return '[' + value.map(repr).join(', ') + ']';
    if (value instanceof Map) return '{}';
    return String(value);
  }

  /** json.dumps(str) as Python writes it: with ensure_ascii (the default) every character
   * outside printable ASCII is a \\u escape; without it only the control characters are. */
  function jsonString(s, asciiOnly = true) {
    let out = '"';
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      const ch = s[i];
      if (ch === '"') out += '\\"';
      else if (ch === '\\') out += '\\\\';
      else if (ch === '\n') out += '\\n';
      else if (ch === '\r') out += '\\r';
      else if (ch === '\t') out += '\\t';
      else if (ch === '\b') out += '\\b';
      else if (ch === '\f') out += '\\f';
      else if (c < 0x20 || (asciiOnly && c > 0x7e)) out += '\\u' + pad(c, 4);
      else out += ch;
    }
    return out + '"';
  }

  /** json.dumps(value, default=str) with Python's default separators; asciiOnly false is
   * ensure_ascii=False. */
  function jsonDumps(value, asciiOnly = true) {
    const dump = (v) => jsonDumps(v, asciiOnly);
    if (value === null) return 'null';
    if (value === true) return 'true';
    if (value === false) return 'false';
    if (typeof value === 'bigint') return String(value);
    if (typeof value === 'string') return jsonString(value, asciiOnly);
    if (value instanceof PyDecimal) return jsonString(value.toString(), asciiOnly);
    if (Array.isArray(value)) return '[' + value.map(dump).join(', ') + ']';
    if (value instanceof Map) {
      return '{' + Array.from(value, ([k, v]) => `${jsonString(k, asciiOnly)}: ${dump(v)}`).join(', ') + '}';
    }
    if (value instanceof PyFloat) return value.repr();
    return String(value);
  }

  // -- WebCrypto ---------------------------------------------------------------------------------

  function subtle() {
    const c = global.crypto;
    if (!c || !c.subtle) {
      throw new LedgerError('this page has no WebCrypto (crypto.subtle): it is not a secure ' +
                            'context', 'NoWebCrypto');
    }
    return c.subtle;
  }
  async function sha256(data) {
    return new Uint8Array(await subtle().digest('SHA-256', data));
  }
  const ED25519_P = (1n << 255n) - 19n;
  const ED25519_L = (1n << 252n) + 27742317777372353535851937790883648493n;
  const Y_MASK = (1n << 255n) - 1n;
  /** Every y a point of order 1, 2, 4 or 8 is written with, canonical or not; the sign bit is
   * ignored, so all fourteen small-order encodings are caught (client/keys.py _SMALL_ORDER_Y). */
  const SMALL_ORDER_Y = new Set([
    0n, 1n, ED25519_P - 1n,
    2707385501144840649318225287225658788936804267575313519463743609750303402022n,
    55188659117513257062467267217118295137698188065244968500265048394206261417927n,
    ED25519_P, ED25519_P + 1n,
  ]);
  function littleEndian(bytes, start, end) {
    let n = 0n;
    for (let i = end - 1; i >= start; i--) n = (n << 8n) | BigInt(bytes[i]);
    return n;
  }
  /** Whether docs/protocol.md §3.1.1 refuses this point encoding outright: y >= p (not
   * canonical) or a point of small order. */
  function refusedPoint(bytes, start) {
    const y = littleEndian(bytes, start, start + 32) & Y_MASK;
    return y >= ED25519_P || SMALL_ORDER_Y.has(y);
  }
  const keyCache = new Map();
  async function webCryptoVerify(publicKey, signature, message) {
    const id = hex(publicKey);
    try {
      let key = keyCache.get(id);
      if (key === undefined) {
        key = await subtle().importKey('raw', publicKey, { name: 'Ed25519' }, false, ['verify']);
        keyCache.set(id, key);
      }
      return await subtle().verify({ name: 'Ed25519' }, key, signature, message);
    } catch (exc) {
      if (exc instanceof LedgerError) throw exc;
      return false;  // not a point on the curve: reported like a bad signature
    }
  }
  /* ed25519-speccheck cases 3 and 4 (tests/vectors/ed25519_edge_cases.json): the cofactorless
   * equation holds for the first only, the cofactored one for both. */
  const EQUATION_PROBE = {
    publicKey: 'cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d',
    both: ['9bd9f44f4dcc75bd531b56b2cd280b0bb38fc1cd6d1230e14861d861de092e79',
           '9046a64750444938de19f227bb80485e92b83fdb4b6506c160484c016cc1852f' +
           '87909e14428a7a1d62e9f22f3d3ad7802db02eb2e688b6c52fcd6648a98bd009'],
    cofactoredOnly: ['e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec4011eaccd55b53f56c',
                     '160a1cb0dc9c0258cd0a7d23e94d8fa878bcb1925f2c64246b2dee1796bed512' +
                     '5ec6bc982a269b723e0668e540911a9a6a58921d6925e434ab10aa7940551a09'],
  };
  let equationChecked = null;
  /** The encodings are checked here, but the equation is the browser's: refuse to verify
   * anything in a browser whose Ed25519 is cofactored, as client/keys.py refuses such a
   * libsodium, rather than accept signatures every other verifier refuses. */
  function checkEquation() {
    if (equationChecked === null) {
      const fromHex = (text) => Uint8Array.from(text.match(/../g), (b) => parseInt(b, 16));
      const key = fromHex(EQUATION_PROBE.publicKey);
      const holds = ([message, signature]) => webCryptoVerify(key, fromHex(signature), fromHex(message));
      equationChecked = Promise.all([holds(EQUATION_PROBE.both), holds(EQUATION_PROBE.cofactoredOnly)])
        .then(([both, cofactoredOnly]) => {
          if (!both || cofactoredOnly) {
            throw new LedgerError('this browser does not verify Ed25519 signatures with the ' +
                                  'cofactorless equation every vcledger verifier uses, so its answers ' +
                                  'could differ from theirs; use `vcledger verify` instead', 'Ed25519Equation');
          }
        });
    }
    return equationChecked;
  }
  /** RFC 8032 §5.1.7 under the one rule of docs/protocol.md §3.1.1; true or false.
   * WebCrypto (BoringSSL in Chromium) accepts small-order A and R and non-canonical A,
   * so every encoding rule is checked here, before it is asked: lengths, S < L, then A
   * and R neither written with y >= p nor of small order. */
  async function ed25519Verify(publicKey, signature, message) {
    if (publicKey.length !== 32 || signature.length !== 64) return false;
    if (littleEndian(signature, 32, 64) >= ED25519_L) return false;
    if (refusedPoint(publicKey, 0) || refusedPoint(signature, 0)) return false;
    await checkEquation();
    return webCryptoVerify(publicKey, signature, message);
  }
  async function verifySignature(publicKey, signature, message) {
    if (publicKey.length !== 32) throw signatureError('an Ed25519 public key is 32 bytes');
    if (signature.length !== 64) {
      throw signatureError(`an Ed25519 signature is 64 bytes, got ${signature.length}`);
    }
    if (!(await ed25519Verify(publicKey, signature, message))) {
      throw signatureError(`Ed25519 signature does not verify under key ${hex(publicKey)}`);
    }
  }

  // -- base64 and base58 (client/note.py, client/keys.py) ----------------------------------------

  const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const STRICT_B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
  function encodeBase64(bytes) {
    let out = '';
    for (let i = 0; i < bytes.length; i += 3) {
      const n = (bytes[i] << 16) | ((bytes[i + 1] || 0) << 8) | (bytes[i + 2] || 0);
      out += B64[n >> 18] + B64[(n >> 12) & 63];
      out += i + 1 < bytes.length ? B64[(n >> 6) & 63] : '=';
      out += i + 2 < bytes.length ? B64[n & 63] : '=';
    }
    return out;
  }
  /** Standard base64 in its one canonical form (note.decode_base64). */
  function decodeBase64(text, what) {
    if (!STRICT_B64.test(text)) throw encodingError(`${what} is not valid base64`);
    const body = text.replace(/=+$/, '');
    const out = [];
    let bits = 0;
    let value = 0;
    for (const ch of body) {
      value = (value << 6) | B64.indexOf(ch);
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        out.push((value >> bits) & 0xff);
      }
    }
    const raw = Uint8Array.from(out);
    if (encodeBase64(raw) !== text) throw encodingError(`${what} is not canonical base64`);
    return raw;
  }

  const B58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
  function b58encode(bytes) {
    let zeros = 0;
    while (zeros < bytes.length && bytes[zeros] === 0) zeros++;
    let n = 0n;
    for (const b of bytes) n = (n << 8n) | BigInt(b);
    let out = '';
    while (n > 0n) { out = B58[Number(n % 58n)] + out; n /= 58n; }
    return '1'.repeat(zeros) + out;
  }
  function b58decode(text) {
    let zeros = 0;
    while (zeros < text.length && text[zeros] === '1') zeros++;
    let n = 0n;
    for (const ch of text.slice(zeros)) n = n * 58n + BigInt(B58.indexOf(ch));
    const out = [];
    while (n > 0n) { out.unshift(Number(n & 0xffn)); n >>= 8n; }
    return Uint8Array.from([...new Array(zeros).fill(0), ...out]);
  }

  // -- did:key (client/keys.py) ------------------------------------------------------------------

  const DID_KEY_PREFIX = 'did:key:z';
  const MAX_DID_LENGTH = 64;
  const didKeys = new Map();
  function publicKeyFromDid(did) {
    const known = didKeys.get(did);
    if (known !== undefined) return known;
    const key = parseDidKey(did);
    didKeys.set(did, key);
    return key;
  }
  function parseDidKey(did) {
    if (codePoints(did).length > MAX_DID_LENGTH) {
      throw encodingError(`${reprStr(codePoints(did).slice(0, MAX_DID_LENGTH).join(''))}... is ` +
                          'too long for an Ed25519 did:key');
    }
    if (!did.startsWith(DID_KEY_PREFIX)) {
      if (did.startsWith('did:key:')) {
        throw encodingError(`${reprStr(did)}: only multibase base58btc ('z') did:key ` +
                            'identifiers are supported');
      }
      throw encodingError(`${reprStr(did)} is not a did:key (it must start with ` +
                          `${reprStr(DID_KEY_PREFIX)})`);
    }
    const encoded = did.slice(DID_KEY_PREFIX.length);
    if (encoded.includes('#')) {
      throw encodingError(`${reprStr(did)}: a DID URL fragment ('#...') is not a did:key; drop it`);
    }
    const bad = Array.from(new Set(codePoints(encoded).filter((c) => !B58.includes(c))))
      .sort((a, b) => a.codePointAt(0) - b.codePointAt(0));
    if (bad.length) {
      throw encodingError(`${reprStr(did)}: characters ${reprStr(bad.join(''))} are not base58btc`);
    }
    const raw = b58decode(encoded);
    if (b58encode(raw) !== encoded) {
      throw encodingError(`${reprStr(did)}: base58btc is not in canonical form`);
    }
    if (raw[0] !== 0xed || raw[1] !== 0x01) {
      throw encodingError(`${reprStr(did)}: multicodec prefix ${hex(raw.slice(0, 2))} is not ` +
                          'Ed25519 (ed01); only Ed25519 did:key identifiers are supported');
    }
    if (raw.length !== 34) {
      throw encodingError(`${reprStr(did)}: Ed25519 key is ${raw.length - 2} bytes, expected 32`);
    }
    return raw.slice(2);
  }
  const didKey = (publicKey) => DID_KEY_PREFIX + b58encode(concat(Uint8Array.of(0xed, 0x01), publicKey));

  // -- strict JSON, as Python's json module reads it (client/strictjson.py) ----------------------

  class PyFloat {
    constructor(text) { this.text = text; this.value = Number(text); }
    repr() { return pythonFloatRepr(this.value); }
  }
  function pythonFloatRepr(x) {
    if (Number.isNaN(x)) return 'NaN';
    if (!Number.isFinite(x)) return x > 0 ? 'Infinity' : '-Infinity';
    if (Object.is(x, -0)) return '-0.0';
    const [digits, exp] = shortestDigits(x);
    const sign = x < 0 ? '-' : '';
    const decimalExp = exp + digits.length - 1;  // scientific exponent
    if (decimalExp < -4 || decimalExp >= 16) {
      const mant = digits.length > 1 ? digits[0] + '.' + digits.slice(1) : digits;
      const e = Math.abs(decimalExp).toString().padStart(2, '0');
      return `${sign}${mant}e${decimalExp < 0 ? '-' : '+'}${e}`;
    }
    return sign + new PyDecimal(0, digits, exp).plain(true);
  }
  /** The shortest round-trip digits of |x| and their exponent: x = digits * 10^exp. */
  function shortestDigits(x) {
    const text = Math.abs(x).toExponential().split('e');  // shortest round-trip in V8
    const mant = text[0].replace('.', '');
    return [mant, parseInt(text[1], 10) - (mant.length - 1)];
  }

  /** A number with a fraction or exponent, as Python's decimal.Decimal keeps it. */
  class PyDecimal {
    constructor(sign, digits, exp) {
      this.sign = sign;
      this.digits = digits.replace(/^0+(?=.)/, '');
      this.exp = exp;
    }
    static parse(text) {
      const m = /^(-?)([0-9]+)(?:\.([0-9]+))?(?:[eE]([-+]?[0-9]+))?$/.exec(text);
      const frac = m[3] || '';
      return new PyDecimal(m[1] ? 1 : 0, m[2] + frac, parseInt(m[4] || '0', 10) - frac.length);
    }
    plain(floatStyle) {
      const d = this.digits;
      const left = this.exp + d.length;
      if (left <= 0) return '0.' + '0'.repeat(-left) + d;
      if (left >= d.length) return d + '0'.repeat(left - d.length) + (floatStyle ? '.0' : '');
      return d.slice(0, left) + '.' + d.slice(left);
    }
    toString() {  // Decimal.__str__ (to-scientific-string)
      const sign = this.sign ? '-' : '';
      const d = this.digits;
      const left = this.exp + d.length;
      const dot = this.exp <= 0 && left > -6 ? left : 1;
      let intpart;
      let fracpart;
      if (dot <= 0) { intpart = '0'; fracpart = '.' + '0'.repeat(-dot) + d; }
      else if (dot >= d.length) { intpart = d + '0'.repeat(dot - d.length); fracpart = ''; }
      else { intpart = d.slice(0, dot); fracpart = '.' + d.slice(dot); }
      const e = left === dot ? '' : 'E' + (left - dot >= 0 ? '+' : '') + (left - dot);
      return sign + intpart + fracpart + e;
    }
    /** Exact value as [sign, significant digits, exponent], zero as [0, '0', 0]. */
    normal() { return normalDecimal(this.sign, this.digits, this.exp); }
  }
  function normalDecimal(sign, digits, exp) {
    let d = digits.replace(/^0+/, '');
    if (!d) return [0, '0', 0];
    const trimmed = d.replace(/0+$/, '');
    exp += d.length - trimmed.length;
    d = trimmed;
    return [sign, d, exp];
  }

  class JsonDecodeError extends Error {
    constructor(msg, doc, pos) {
      super(msg);
      let line = 1;
      let lastNewline = -1;
      for (let i = 0; i < pos; i++) if (doc[i] === '\n') { line++; lastNewline = i; }
      this.msg = msg;
      this.lineno = line;
      this.colno = pos - lastNewline;
    }
  }
  class StopIteration extends Error {
    constructor(pos) { super('StopIteration'); this.pos = pos; }
  }
  const WS = new Set([' ', '\t', '\n', '\r']);
  const MAX_INT_DIGITS = 4300;

  /** Python's C JSON scanner over code points `s`, with object_pairs_hook and the
   * parse_float/parse_int/parse_constant hooks; objects are Maps. */
  function scanJson(s, hooks) {
    const len = s.length;
    const end = len - 1;
    const isDigit = (c) => c !== undefined && c >= '0' && c <= '9';

    function scanString(startAfterQuote) {
      const begin = startAfterQuote - 1;
      let idx = startAfterQuote;
      let out = '';
      for (;;) {
        let next = idx;
        let c;
        for (; next < len; next++) {
          c = s[next];
          if (c === '"' || c === '\\') break;
          if (c.codePointAt(0) <= 0x1f) throw new JsonDecodeError('Invalid control character at', s, next);
        }
        if (next >= len) throw new JsonDecodeError('Unterminated string starting at', s, begin);
        out += s.slice(idx, next).join('');
        next++;
        if (c === '"') return [out, next];
        if (next === len) throw new JsonDecodeError('Unterminated string starting at', s, begin);
        c = s[next];
        if (c !== 'u') {
          idx = next + 1;
          const simple = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
          if (!(c in simple)) throw new JsonDecodeError('Invalid \\escape', s, idx - 2);
          out += simple[c];
        } else {
          next++;
          idx = next + 4;
          if (idx >= len) throw new JsonDecodeError('Invalid \\uXXXX escape', s, next - 1);
          const readHex = (from, to) => {
            let v = 0;
            for (let i = from; i < to; i++) {
              const d = s[i];
              if (!/^[0-9a-fA-F]$/.test(d)) throw new JsonDecodeError('Invalid \\uXXXX escape', s, to - 5);
              v = (v << 4) | parseInt(d, 16);
            }
            return v;
          };
          let u = readHex(next, idx);
          next = idx;
          if (u >= 0xd800 && u <= 0xdbff && idx + 6 < len && s[next] === '\\' && s[next + 1] === 'u') {
            const u2 = readHex(next + 2, idx + 6);
            if (u2 >= 0xdc00 && u2 <= 0xdfff) {
              u = 0x10000 + ((u - 0xd800) << 10) + (u2 - 0xdc00);
              idx += 6;
            }
          }
          out += String.fromCodePoint(u);
        }
      }
    }

    function matchNumber(start) {
      let idx = start;
      let isFloat = false;
      if (s[idx] === '-') {
        idx++;
        if (idx > end) throw new StopIteration(start);
      }
      if (s[idx] >= '1' && s[idx] <= '9') {
        idx++;
        while (idx <= end && isDigit(s[idx])) idx++;
      } else if (s[idx] === '0') {
        idx++;
      } else {
        throw new StopIteration(start);
      }
      if (idx < end && s[idx] === '.' && isDigit(s[idx + 1])) {
        isFloat = true;
        idx += 2;
        while (idx <= end && isDigit(s[idx])) idx++;
      }
      if (idx < end && (s[idx] === 'e' || s[idx] === 'E')) {
        const eStart = idx;
        idx++;
        if (idx < end && (s[idx] === '-' || s[idx] === '+')) idx++;
        while (idx <= end && isDigit(s[idx])) idx++;
        if (isDigit(s[idx - 1])) isFloat = true;
        else idx = eStart;
      }
      const text = s.slice(start, idx).join('');
      return [isFloat ? hooks.parseFloat(text) : hooks.parseInt(text), idx];
    }

    function scanOnce(idx) {
      if (idx >= len) throw new StopIteration(idx);
      const c = s[idx];
      if (c === '"') return scanString(idx + 1);
      if (c === '{') return parseObject(idx + 1);
      if (c === '[') return parseArray(idx + 1);
      const at = (word) => s.slice(idx, idx + word.length).join('') === word;
      if (c === 'n' && idx + 3 < len && at('null')) return [null, idx + 4];
      if (c === 't' && idx + 3 < len && at('true')) return [true, idx + 4];
      if (c === 'f' && idx + 4 < len && at('false')) return [false, idx + 5];
      if (c === 'N' && idx + 2 < len && at('NaN')) return [hooks.parseConstant('NaN'), idx + 3];
      if (c === 'I' && idx + 7 < len && at('Infinity')) return [hooks.parseConstant('Infinity'), idx + 8];
      if (c === '-' && idx + 8 < len && at('-Infinity')) return [hooks.parseConstant('-Infinity'), idx + 9];
      return matchNumber(idx);
    }

    function skip(idx) {
      while (idx <= end && WS.has(s[idx])) idx++;
      return idx;
    }

    function parseObject(idx) {
      const pairs = [];
      idx = skip(idx);
      if (idx > end || s[idx] !== '}') {
        for (;;) {
          if (idx > end || s[idx] !== '"') {
            throw new JsonDecodeError('Expecting property name enclosed in double quotes', s, idx);
          }
          const [key, afterKey] = scanString(idx + 1);
          idx = skip(afterKey);
          if (idx > end || s[idx] !== ':') throw new JsonDecodeError("Expecting ':' delimiter", s, idx);
          idx = skip(idx + 1);
          const [value, afterValue] = scanOnce(idx);
          pairs.push([key, value]);
          idx = skip(afterValue);
          if (idx <= end && s[idx] === '}') break;
          if (idx > end || s[idx] !== ',') throw new JsonDecodeError("Expecting ',' delimiter", s, idx);
          idx = skip(idx + 1);
        }
      }
      return [hooks.objectPairs(pairs), idx + 1];
    }

    function parseArray(idx) {
      const items = [];
      idx = skip(idx);
      if (idx > end || s[idx] !== ']') {
        for (;;) {
          const [value, after] = scanOnce(idx);
          items.push(value);
          idx = skip(after);
          if (idx <= end && s[idx] === ']') break;
          if (idx > end || s[idx] !== ',') throw new JsonDecodeError("Expecting ',' delimiter", s, idx);
          idx = skip(idx + 1);
        }
      }
      return [items, idx + 1];
    }

    let idx = 0;
    while (idx < len && WS.has(s[idx])) idx++;
    let value;
    try {
      [value, idx] = scanOnce(idx);
    } catch (exc) {
      if (exc instanceof StopIteration) throw new JsonDecodeError('Expecting value', s, exc.pos);
      throw exc;
    }
    while (idx < len && WS.has(s[idx])) idx++;
    if (idx !== len) throw new JsonDecodeError('Extra data', s, idx);
    return value;
  }

  /** The first byte of the first invalid UTF-8 sequence (Python's exc.start), or -1. */
  function invalidUtf8At(bytes) {
    let i = 0;
    while (i < bytes.length) {
      const b = bytes[i];
      let need;
      let lo = 0x80;
      let hi = 0xbf;
      if (b < 0x80) { i++; continue; }
      if (b >= 0xc2 && b <= 0xdf) need = 1;
      else if (b >= 0xe0 && b <= 0xef) {
        need = 2;
        if (b === 0xe0) lo = 0xa0;
        if (b === 0xed) hi = 0x9f;
      } else if (b >= 0xf0 && b <= 0xf4) {
        need = 3;
        if (b === 0xf0) lo = 0x90;
        if (b === 0xf4) hi = 0x8f;
      } else return i;
      for (let k = 1; k <= need; k++) {
        const c = bytes[i + k];
        if (c === undefined) return i;
        if (k === 1 ? c < lo || c > hi : c < 0x80 || c > 0xbf) return i;
      }
      i += need + 1;
    }
    return -1;
  }

  function jsonError(m) { return new LedgerError(m, 'JsonError'); }

  // strictjson.MAX_JSON_DEPTH and nesting_problem: the written cap (docs/protocol.md §13.1),
  // counted before parsing, so neither this page's stack nor Python's recursion decides.
  const MAX_JSON_DEPTH = 128;
  const STRING_OR_BRACKET = /"[^"\\]*(?:\\[\s\S][^"\\]*)*(?:"|\\?$)|[[\]{}]/g;
  function nestingProblem(text) {
    let openers = 0;
    for (let i = 0; i < text.length && openers <= MAX_JSON_DEPTH; i++) {
      const c = text.charCodeAt(i);
      if (c === 0x5b || c === 0x7b) openers++;
    }
    if (openers <= MAX_JSON_DEPTH) return null;
    let depth = 0;
    STRING_OR_BRACKET.lastIndex = 0;
    for (const match of text.matchAll(STRING_OR_BRACKET)) {
      const token = match[0];
      if (token === '[' || token === '{') {
        depth++;
        if (depth > MAX_JSON_DEPTH) {
          const at = codePoints(text.slice(0, match.index)).length;  // Python counts code points
          return `nests more than ${MAX_JSON_DEPTH} arrays and objects deep (at character ${at})`;
        }
      } else if (token === ']' || token === '}') {
        depth = Math.max(depth - 1, 0);
      }
    }
    return null;
  }

  /** strictjson.loads: size cap, strict UTF-8, no BOM, no duplicate members, no NaN. */
  function loadsStrict(data, what, maxSize, hooks) {
    if (data.length > maxSize) throw jsonError(`${what} is ${data.length} bytes; the limit is ${maxSize}`);
    if (data[0] === 0xef && data[1] === 0xbb && data[2] === 0xbf) {
      throw jsonError(`${what} starts with a UTF-8 byte order mark; remove it`);
    }
    const bad = invalidUtf8At(data);
    if (bad >= 0) throw jsonError(`${what} is not valid UTF-8 (byte ${bad})`);
    const text = new TextDecoder('utf-8').decode(data);
    const problem = nestingProblem(text);
    if (problem !== null) throw jsonError(`${what} ${problem}`);
    const wrap = (f) => (...args) => {
      try {
        return f(...args);
      } catch (exc) {
        if (exc && exc.kind === 'JsonInner') throw jsonError(`${what}: ${exc.message}`);
        throw exc;
      }
    };
    const full = {
      objectPairs: wrap((pairs) => {
        const map = new Map();
        for (const [k, v] of pairs) {
          if (map.has(k)) throw new LedgerError(`duplicate member name ${reprStr(k)}`, 'JsonInner');
          map.set(k, v);
        }
        return map;
      }),
      parseConstant: wrap((name) => {
        throw new LedgerError(`${name} is not a JSON number`, 'JsonInner');
      }),
      parseFloat: (hooks && hooks.parseFloat) || ((text) => new PyFloat(text)),
      parseInt: (hooks && hooks.parseInt) || ((text) => pyInt(text)),
    };
    try {
      return scanJson(codePoints(text), full);
    } catch (exc) {
      if (exc instanceof JsonDecodeError) {
        throw jsonError(`${what} is not JSON: ${exc.msg} at line ${exc.lineno} column ${exc.colno}`);
      }
      if (exc && exc.kind === 'IntTooLong') {
        throw jsonError(`${what} has a number too long to read (over ${MAX_INT_DIGITS} digits)`);
      }
      throw exc;
    }
  }
  function pyInt(text) {
    if (text.replace('-', '').length > MAX_INT_DIGITS) throw new LedgerError('', 'IntTooLong');
    return BigInt(text);
  }
  const toBytes = (data) => (typeof data === 'string' ? utf8.encode(data)
    : data instanceof Uint8Array ? data : new Uint8Array(data));

  // -- pydantic models, strict, as describe_validation_error reports them -------------------

  const plural = (n, word) => `${word}${n === 1 ? '' : 's'}`;
  const V = {
    str(min, max, pattern) {
      return (v) => {
        if (typeof v !== 'string') return 'Input should be a valid string';
        // pydantic-core holds strings as UTF-8, which has no lone surrogates ("\ud800").
        if (hasLoneSurrogate(v)) return 'Input should be a valid string, unable to parse raw data as a unicode string';
        const n = codePoints(v).length;
        if (min !== undefined && n < min) return `String should have at least ${min} ${plural(min, 'character')}`;
        if (max !== undefined && n > max) return `String should have at most ${max} ${plural(max, 'character')}`;
        if (pattern && !pattern.re.test(v)) return `String should match pattern '${pattern.text}'`;
        return null;
      };
    },
    int(ge, lt, le) {
      return (v) => {
        if (typeof v !== 'bigint') return 'Input should be a valid integer';
        if (ge !== undefined && v < ge) return `Input should be greater than or equal to ${ge}`;
        if (lt !== undefined && v >= lt) return `Input should be less than ${lt}`;
        if (le !== undefined && v > le) return `Input should be less than or equal to ${le}`;
        return null;
      };
    },
    literal(value) {
      return (v) => (v === value ? null : `Input should be '${value}'`);
    },
  };
  const HEX_HASH = { re: /^[0-9a-f]{64}$/, text: '^[0-9a-f]{64}$' };

  /** Validate `value` against a model spec; push [loc, msg] errors in pydantic's order. */
  function validateModel(spec, value, loc, errors) {
    if (!(value instanceof Map)) {
      errors.push([loc, `Input should be a valid dictionary or instance of ${spec.name}`]);
      return;
    }
    if (Array.from(value.keys()).some(hasLoneSurrogate)) {  // pydantic cannot read the member names
      errors.push([loc, 'Input should be a valid string, unable to parse raw data as a unicode string']);
      return;
    }
    for (const [name, field] of spec.fields) {
      const here = [...loc, name];
      if (!value.has(name)) {
        if (!field.optional) errors.push([here, 'Field required']);
        continue;
      }
      validateField(field, value.get(name), here, errors);
    }
    for (const key of value.keys()) {
      if (!spec.fields.some(([name]) => name === key)) {
        errors.push([[...loc, key], 'Extra inputs are not permitted']);
      }
    }
  }
  function validateField(field, v, loc, errors) {
    if (field.nullable && v === null) return;
    if (field.model) { validateModel(field.model, v, loc, errors); return; }
    if (field.list) {
      if (!Array.isArray(v)) { errors.push([loc, 'Input should be a valid list']); return; }
      v.forEach((item, i) => validateField(field.list, item, [...loc, i], errors));
      const n = v.length;
      if (field.minItems !== undefined && n < field.minItems) {
        errors.push([loc, `List should have at least ${field.minItems} ${plural(field.minItems, 'item')} after validation, not ${n}`]);
      } else if (field.maxItems !== undefined && n > field.maxItems) {
        errors.push([loc, `List should have at most ${field.maxItems} ${plural(field.maxItems, 'item')} after validation, not ${n}`]);
      }
      return;
    }
    const problem = field.check(v);
    if (problem) errors.push([loc, problem]);
  }
  function describeErrors(errors) {
    return errors.map(([loc, msg]) => `${loc.length ? loc.join('.') : '(top level)'}: ${msg}`).join('; ');
  }

  // -- canonical msgpack (client/encoding.py, msgpack-python's unpacker) -------------------------

  class ExtType { constructor(code, data) { this.code = code; this.data = data; } }
  const STACK_LIMIT = 1024;
  const INT64_MIN = -(1n << 63n);
  const UINT64_MAX = (1n << 64n) - 1n;

  class Incomplete extends Error {}
  /** msgpack-python unpackb(raw=False, max_map_len=0, max_ext_len=0) over `data`. */
  function msgpackUnpack(data) {
    const len = data.length;
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    let off = 0;
    let open = 0;
    const need = (n) => { if (off + n > len) throw new Incomplete(); };
    const u8 = () => { need(1); return data[off++]; };
    const uint = (n) => {
      need(n);
      let v = 0n;
      for (let i = 0; i < n; i++) v = (v << 8n) | BigInt(data[off + i]);
      off += n;
      return v;
    };
    const sint = (n) => {
      const v = uint(n);
      const bits = BigInt(8 * n);
      return v >= (1n << (bits - 1n)) ? v - (1n << bits) : v;
    };
    const decoder = new TextDecoder('utf-8', { fatal: true });
    function str(n) {
      need(n);
      const raw = data.subarray(off, off + n);
      off += n;
      if (invalidUtf8At(raw) >= 0) throw new LedgerError('a string is not valid UTF-8', 'Unpack');
      return decoder.decode(raw);
    }
    function bin(n) { need(n); const out = data.slice(off, off + n); off += n; return out; }
    function ext(n, codeFirst) {
      need(1 + n);
      const code = (data[off] << 24) >> 24;
      off += 1;
      const body = data.slice(off, off + n);
      off += n;
      if (n > 0) throw new LedgerError('extension types are not allowed', 'Unpack');
      if (code === -1) throw new LedgerError('invalid timestamp data (length 0)', 'Unpack');
      return new ExtType(code, body);
    }
    function array(n) {
      if (open >= STACK_LIMIT) throw new LedgerError('nesting is too deep', 'Unpack');
      if (n > len) throw new LedgerError(`${n} exceeds max_array_len(${len})`, 'Unpack');
      const items = [];
      if (n === 0) return items;
      open++;
      for (let i = 0; i < n; i++) items.push(value());
      open--;
      return items;
    }
    function map(n) {
      if (open >= STACK_LIMIT) throw new LedgerError('nesting is too deep', 'Unpack');
      if (n > 0) throw new LedgerError('maps are not allowed', 'Unpack');
      return new Map();
    }
    function value() {
      const b = u8();
      if (b <= 0x7f) return BigInt(b);
      if (b >= 0xe0) return BigInt(b - 0x100);
      if (b >= 0xa0 && b <= 0xbf) return str(b & 0x1f);
      if (b >= 0x90 && b <= 0x9f) return array(b & 0x0f);
      if (b >= 0x80 && b <= 0x8f) return map(b & 0x0f);
      switch (b) {
        case 0xc0: return null;
        case 0xc1: throw new LedgerError('FormatError', 'Unpack');
        case 0xc2: return false;
        case 0xc3: return true;
        case 0xc4: return bin(Number(uint(1)));
        case 0xc5: return bin(Number(uint(2)));
        case 0xc6: return bin(Number(uint(4)));
        case 0xc7: { const n = Number(uint(1)); return ext(n); }
        case 0xc8: { const n = Number(uint(2)); return ext(n); }
        case 0xc9: { const n = Number(uint(4)); return ext(n); }
        case 0xca: need(4); off += 4; return new PyFloat(String(view.getFloat32(off - 4)));
        case 0xcb: need(8); off += 8; return new PyFloat(String(view.getFloat64(off - 8)));
        case 0xcc: return uint(1);
        case 0xcd: return uint(2);
        case 0xce: return uint(4);
        case 0xcf: return uint(8);
        case 0xd0: return sint(1);
        case 0xd1: return sint(2);
        case 0xd2: return sint(4);
        case 0xd3: return sint(8);
        case 0xd4: return ext(1);
        case 0xd5: return ext(2);
        case 0xd6: return ext(4);
        case 0xd7: return ext(8);
        case 0xd8: return ext(16);
        case 0xd9: return str(Number(uint(1)));
        case 0xda: return str(Number(uint(2)));
        case 0xdb: return str(Number(uint(4)));
        case 0xdc: return array(Number(uint(2)));
        case 0xdd: return array(Number(uint(4)));
        case 0xde: return map(Number(uint(2)));
        case 0xdf: return map(Number(uint(4)));
        default: throw new Error('unreachable');
      }
    }
    const result = value();
    return [result, off];
  }

  /** The canonical (shortest) encoding of a value built from BigInt, string, bytes, null, arrays. */
  function pack(value) {
    const out = [];
    const push = (...b) => { for (const x of b) out.push(x); };
    const be = (v, n) => { for (let i = n - 1; i >= 0; i--) out.push(Number((BigInt(v) >> BigInt(8 * i)) & 0xffn)); };
    const bytesOf = (arr) => { for (const x of arr) out.push(x); };
    function enc(v) {
      if (v === null || v === undefined) { push(0xc0); return; }
      if (typeof v === 'number') v = BigInt(v);
      if (typeof v === 'bigint') {
        if (v >= 0n) {
          if (v <= 0x7fn) push(Number(v));
          else if (v <= 0xffn) { push(0xcc); be(v, 1); }
          else if (v <= 0xffffn) { push(0xcd); be(v, 2); }
          else if (v <= 0xffffffffn) { push(0xce); be(v, 4); }
          else { push(0xcf); be(v, 8); }
        } else if (v >= -32n) push(Number(v + 0x100n));
        else if (v >= -128n) { push(0xd0); be(v + 0x100n, 1); }
        else if (v >= -32768n) { push(0xd1); be(v + 0x10000n, 2); }
        else if (v >= -2147483648n) { push(0xd2); be(v + 0x100000000n, 4); }
        else { push(0xd3); be(v + (1n << 64n), 8); }
        return;
      }
      if (typeof v === 'string') {
        const b = utf8.encode(v);
        const n = b.length;
        if (n <= 31) push(0xa0 | n);
        else if (n <= 0xff) { push(0xd9); be(n, 1); }
        else if (n <= 0xffff) { push(0xda); be(n, 2); }
        else { push(0xdb); be(n, 4); }
        bytesOf(b);
        return;
      }
      if (v instanceof Uint8Array) {
        const n = v.length;
        if (n <= 0xff) { push(0xc4); be(n, 1); }
        else if (n <= 0xffff) { push(0xc5); be(n, 2); }
        else { push(0xc6); be(n, 4); }
        bytesOf(v);
        return;
      }
      if (Array.isArray(v)) {
        const n = v.length;
        if (n <= 15) push(0x90 | n);
        else if (n <= 0xffff) { push(0xdc); be(n, 2); }
        else { push(0xdd); be(n, 4); }
        v.forEach(enc);
        return;
      }
      throw new Error('cannot pack ' + typeof v);
    }
    enc(value);
    return Uint8Array.from(out);
  }

  const MAX_DEPTH = 8;
  function checkKinds(value, what, depth) {
    if (Array.isArray(value)) {
      if (depth >= MAX_DEPTH) throw encodingError(`${what} nests arrays deeper than ${MAX_DEPTH}`);
      for (const item of value) checkKinds(item, what, depth + 1);
    } else if (value instanceof PyFloat) {
      throw encodingError(`${what} contains a float; floats are not allowed`);
    } else if (typeof value === 'boolean') {
      throw encodingError(`${what} contains a boolean; booleans are not allowed`);
    } else if (value instanceof Map) {
      throw encodingError(`${what} contains a dict`);
    } else if (value instanceof ExtType) {
      throw encodingError(`${what} contains a ExtType`);
    }
  }

  /** encoding.unpack: decode untrusted canonical msgpack. */
  function unpack(data, maxSize, what) {
    if (data.length > maxSize) throw encodingError(`${what} is ${data.length} bytes; the limit is ${maxSize}`);
    if (!data.length) throw encodingError(`${what} is empty`);
    let value;
    let used;
    try {
      [value, used] = msgpackUnpack(data);
    } catch (exc) {
      if (exc instanceof Incomplete) {
        throw encodingError(`${what} is not valid msgpack: Unpack failed: incomplete input`);
      }
      if (exc.kind === 'Unpack') throw encodingError(`${what} is not valid msgpack: ${exc.message}`);
      throw exc;
    }
    if (used < data.length) throw encodingError(`${what} has trailing bytes after the value`);
    checkKinds(value, what, 0);
    if (!equalBytes(pack(value), data)) {
      throw encodingError(`${what} is not in canonical (shortest) msgpack form`);
    }
    return value;
  }

  // Field readers (encoding.py)
  const kindName = (v) => (v === null ? 'nil' : typeof v === 'bigint' ? 'integer'
    : v instanceof Uint8Array ? 'bytes' : typeof v === 'string' ? 'string'
      : Array.isArray(v) ? 'array' : typeof v === 'boolean' ? 'boolean' : 'object');
  const fail = (what, problem) => { throw encodingError(`${what}: ${problem}`); };
  function expectArray(v, what, length, maxLen) {
    if (!Array.isArray(v)) fail(what, `expected an array, got ${kindName(v)}`);
    if (length !== undefined && length !== null && v.length !== length) {
      fail(what, `expected ${length} fields, got ${v.length}`);
    }
    if (maxLen !== undefined && v.length > maxLen) fail(what, `at most ${maxLen} items allowed, got ${v.length}`);
    return v;
  }
  function expectUint(v, what, maximum = UINT64_MAX, minimum = 0n) {
    if (typeof v !== 'bigint') fail(what, `expected an unsigned integer, got ${kindName(v)}`);
    if (v < minimum || v > maximum) fail(what, `${v} is outside ${minimum}..${maximum}`);
    return v;
  }
  function expectBytes(v, what, size, maxSize) {
    if (!(v instanceof Uint8Array)) fail(what, `expected bytes, got ${kindName(v)}`);
    if (size !== undefined && size !== null && v.length !== size) fail(what, `expected ${size} bytes, got ${v.length}`);
    if (maxSize !== undefined && v.length > maxSize) fail(what, `at most ${maxSize} bytes allowed, got ${v.length}`);
    return v;
  }
  const expectHash = (v, what) => expectBytes(v, what, 32);
  function expectStr(v, what, maxLen, minLen = 1) {
    if (typeof v !== 'string') fail(what, `expected a string, got ${kindName(v)}`);
    const size = utf8Length(v);
    if (size < minLen || size > maxLen) fail(what, `must be ${minLen}..${maxLen} bytes of UTF-8, got ${size}`);
    if (/[\x00-\x1f\x7f]/.test(v)) fail(what, 'control characters are not allowed');
    return v;
  }

  // -- RFC 9162 Merkle proofs (client/merkle.py, client/batch.py) ---------------------------------

  const MAX_TREE_SIZE = (1n << 64n) - 1n;
  const bitLength = (n) => (n === 0n ? 0 : n.toString(2).length);
  const bitCount = (n) => n.toString(2).split('').filter((c) => c === '1').length;
  const leafHash = (data) => sha256(concat(Uint8Array.of(0), data));
  const nodeHash = (left, right) => sha256(concat(Uint8Array.of(1), left, right));

  async function rootFromInclusionProof(index, treeSize, leaf, proof) {
    if (treeSize < 0n || treeSize > MAX_TREE_SIZE) throw proofError(`tree size ${treeSize} is not an integer in 0..2**64-1`);
    if (index < 0n || index > MAX_TREE_SIZE) throw proofError(`leaf index ${index} is not an integer in 0..2**64-1`);
    if (proof.length > 64) throw proofError(`inclusion proof has ${proof.length} hashes; the limit is 64`);
    if (index >= treeSize) throw proofError(`leaf index ${index} is not below the tree size ${treeSize}`);
    if (leaf.length !== 32) throw proofError('leaf hash is not a 32-byte hash');
    proof.forEach((h, i) => { if (h.length !== 32) throw proofError(`inclusion proof element ${i} is not a 32-byte hash`); });
    const inner = bitLength(index ^ (treeSize - 1n));
    const border = bitCount(index >> BigInt(inner));
    if (proof.length !== inner + border) {
      throw proofError(`inclusion proof for leaf ${index} of ${treeSize} must have ${inner + border} hashes, got ${proof.length}`);
    }
    let fn = index;
    let sn = treeSize - 1n;
    let r = leaf;
    for (const p of proof) {
      if ((fn & 1n) || fn === sn) {
        r = await nodeHash(p, r);
        if (!(fn & 1n)) {
          while (fn && !(fn & 1n)) { fn >>= 1n; sn >>= 1n; }
        }
      } else {
        r = await nodeHash(r, p);
      }
      fn >>= 1n;
      sn >>= 1n;
    }
    return r;
  }
  async function verifyInclusion(leaf, index, treeSize, proof, root) {
    if (root.length !== 32) throw proofError('trusted root is not a 32-byte hash');
    const calculated = await rootFromInclusionProof(index, treeSize, leaf, proof);
    if (!equalBytes(calculated, root)) throw rootMismatch(`inclusion proof for leaf ${index} of ${treeSize}`, root, calculated);
  }
  const MAX_BATCH_SIZE = 1000000n;
  async function verifyReceipt(digest, receipt, trustedRoot, trustedSize) {
    if (!equalBytes(receipt.batchRoot, trustedRoot)) {
      throw rootMismatch('batch receipt names another batch', trustedRoot, receipt.batchRoot);
    }
    if (receipt.batchSize !== trustedSize) {
      throw proofError(`batch receipt claims ${receipt.batchSize} digests; the anchored batch has ${trustedSize}`);
    }
    if (trustedSize < 1n || trustedSize > MAX_BATCH_SIZE) {
      throw proofError(`batch size ${trustedSize} is outside 1..${MAX_BATCH_SIZE}`);
    }
    const calculated = await rootFromInclusionProof(receipt.index, trustedSize, await leafHash(digest), receipt.auditPath);
    if (!equalBytes(calculated, trustedRoot)) {
      throw rootMismatch(`batch receipt for digest ${receipt.index} of ${trustedSize}`, trustedRoot, calculated);
    }
  }

  // -- the status map's sparse Merkle tree (client/smt.py) ----------------------------------------

  const SMT_WHAT = 'status-map proof';
  const MAX_SMT_PROOF_SIZE = 1 + 1 + 3 + 2 + 32 + 3 + 256 * 34 + 1 + 2 * 34;
  const EMPTY = new Uint8Array(32);
  function smtFromHex(text) {
    if (text.length > 2 * MAX_SMT_PROOF_SIZE) fail(SMT_WHAT, `hex is ${text.length} characters; over twice ${MAX_SMT_PROOF_SIZE}`);
    if (text !== text.toLowerCase()) fail(SMT_WHAT, 'hex must be lowercase');
    // bytes.fromhex: pairs of hex digits, ASCII whitespace allowed between them.
    const out = [];
    let i = 0;
    while (i < text.length) {
      if (' \t\n\r\x0b\x0c'.includes(text[i])) { i++; continue; }
      const pair = text.slice(i, i + 2);
      if (!/^[0-9a-f]{2}$/.test(pair)) throw encodingError(`${SMT_WHAT}: not hex`);
      out.push(parseInt(pair, 16));
      i += 2;
    }
    return smtDecode(Uint8Array.from(out));
  }
  function smtDecode(data) {
    const fields = expectArray(unpack(data, MAX_SMT_PROOF_SIZE, SMT_WHAT), SMT_WHAT, 5);
    const version = expectUint(fields[0], `${SMT_WHAT}: version`);
    if (version !== 1n) fail(SMT_WHAT, `unsupported version ${version}; this client reads 1`);
    const depth = Number(expectUint(fields[1], `${SMT_WHAT}: depth`, 256n));
    const bitmap = expectBytes(fields[2], `${SMT_WHAT}: bitmap`, Math.floor((depth + 7) / 8));
    if (depth % 8 && (bitmap[bitmap.length - 1] & (0xff >> (depth % 8)))) fail(SMT_WHAT, `bitmap has bits set past depth ${depth}`);
    const listed = expectArray(fields[3], `${SMT_WHAT}: siblings`, null, depth);
    const setBits = Array.from(bitmap).reduce((n, b) => n + bitCount(BigInt(b)), 0);
    if (setBits !== listed.length) fail(SMT_WHAT, `bitmap marks ${setBits} siblings but ${listed.length} are listed`);
    const siblings = [];
    let next = 0;
    for (let i = 0; i < depth; i++) {
      if (bitmap[i >> 3] & (0x80 >> (i & 7))) {
        const sibling = expectHash(listed[next], `${SMT_WHAT}: sibling at depth ${i}`);
        if (equalBytes(sibling, EMPTY)) fail(SMT_WHAT, `sibling at depth ${i} is EMPTY and must be omitted`);
        siblings.push(sibling);
        next++;
      } else siblings.push(EMPTY);
    }
    let terminal = null;
    if (fields[4] !== null) {
      const [key, valueHash] = expectArray(fields[4], `${SMT_WHAT}: terminal leaf`, 2);
      terminal = {
        key: expectBytes(key, `${SMT_WHAT}: leaf key`, 32),
        valueHash: expectHash(valueHash, `${SMT_WHAT}: leaf value hash`),
      };
    }
    return { siblings, terminal };
  }
  const keyBit = (key, i) => (key[i >> 3] >> (7 - (i & 7))) & 1;
  function sharesPrefix(a, b, bits) {
    const whole = bits >> 3;
    const rest = bits & 7;
    for (let i = 0; i < whole; i++) if (a[i] !== b[i]) return false;
    if (!rest) return true;
    const mask = (0xff << (8 - rest)) & 0xff;
    return (a[whole] & mask) === (b[whole] & mask);
  }
  async function smtRoot(key, proof, value) {
    const depth = proof.siblings.length;
    const terminal = proof.terminal;
    let node;
    if (value !== null) {
      if (value.length > 16384) throw proofError(`status value is ${value.length} bytes; the limit is 16384`);
      if (terminal === null) throw proofError('the proof ends in an empty subtree: it shows the key is absent');
      if (!equalBytes(terminal.key, key)) {
        throw proofError(`the proof ends at the leaf of key ${hex(terminal.key)}: it shows key ${hex(key)} is absent`);
      }
      if (!equalBytes(terminal.valueHash, await sha256(value))) {
        throw proofError("the proof's leaf holds another value than the one claimed");
      }
      node = await sha256(concat(Uint8Array.of(2), key, terminal.valueHash));
    } else if (terminal === null) {
      node = EMPTY;
    } else {
      if (equalBytes(terminal.key, key)) throw proofError(`the proof ends at the leaf of key ${hex(key)}: it is present`);
      if (!sharesPrefix(terminal.key, key, depth)) {
        throw proofError(`the proof's leaf key ${hex(terminal.key)} does not share the first ${depth} bits of key ${hex(key)}, so it cannot lie on its path`);
      }
      node = await sha256(concat(Uint8Array.of(2), terminal.key, terminal.valueHash));
    }
    for (let i = depth - 1; i >= 0; i--) {
      node = keyBit(key, i) ? await sha256(concat(Uint8Array.of(3), proof.siblings[i], node))
        : await sha256(concat(Uint8Array.of(3), node, proof.siblings[i]));
    }
    return node;
  }
  async function verifyMembership(root, key, value, proof) {
    const calculated = await smtRoot(key, proof, value);
    if (!equalBytes(calculated, root)) throw rootMismatch('status-map membership proof', root, calculated);
  }
  async function verifyNonMembership(root, key, proof) {
    const calculated = await smtRoot(key, proof, null);
    if (!equalBytes(calculated, root)) throw rootMismatch('status-map non-membership proof', root, calculated);
  }

  // -- events and block headers (client/events.py, client/block.py) -------------------------------

  const MAX_EVENT_SIZE = 4096;
  const MAX_HEADER_SIZE = 512;
  const MAX_LEAF_SIZE = 4096;
  const MAX_TIMESTAMP = (1n << 63n) - 1n;
  const BATCH_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
  const ISSUER_ID_PATTERN = /^(?:https:\/\/[A-Za-z0-9.-]+(?::[0-9]{1,5})?(?:\/[\x21-\x7e]*)?|did:[a-z0-9]+:[A-Za-z0-9._:%-]*[A-Za-z0-9._%-](?:[/?#][\x21-\x7e]*)?)$/;
  const REASONS = ['unspecified', 'key_compromise', 'issued_in_error', 'superseded', 'fraud', 'withdrawn'];

  function did(value, what) {
    const text = expectStr(value, what, MAX_DID_LENGTH);
    publicKeyFromDid(text);
    return text;
  }
  function batchId(value, what) {
    const id = expectStr(value, what, 128);
    if (!BATCH_ID_PATTERN.test(id)) {
      throw encodingError(`${what}: ${reprStr(id)} is not a batch id (1..128 of A-Z a-z 0-9 . _ : -, starting with a letter or digit)`);
    }
    return id;
  }
  const pyLess = (a, b) => {  // Python str comparison: by code point
    const x = codePoints(a);
    const y = codePoints(b);
    for (let i = 0; i < Math.min(x.length, y.length); i++) {
      if (x[i] !== y[i]) return x[i].codePointAt(0) < y[i].codePointAt(0);
    }
    return x.length < y.length;
  };
  function issuerIds(value, what) {
    const items = expectArray(value, what, null, 8);
    const ids = items.map((item) => expectStr(item, `${what} entry`, 200));
    for (const id of ids) {
      if (!ISSUER_ID_PATTERN.test(id)) throw encodingError(`${what}: ${reprStr(id)} is neither an https URL nor a DID (did:method:id)`);
    }
    for (let i = 1; i < ids.length; i++) {
      if (!pyLess(ids[i - 1], ids[i])) throw encodingError(`${what}: identifiers must be distinct and sorted`);
    }
    return ids;
  }
  function reason(value, what) {
    const code = expectUint(value, what, 255n);
    if (code > 5n) throw encodingError(`${what}: unknown revocation reason code ${code}`);
    return Number(code);
  }
  const PATHWAY_ID_PATTERN = /^(?:https:\/\/[A-Za-z0-9.-]+(?::[0-9]{1,5})?(?:\/[\x21-\x7e]*)?)$/;
  const MAX_PATHWAY_ID_LENGTH = 200;
  const MAX_PATHWAY_VERSION = (1n << 32n) - 1n;
  function pathwayId(value, what) {
    const id = expectStr(value, what, MAX_PATHWAY_ID_LENGTH);
    if (!PATHWAY_ID_PATTERN.test(id)) throw encodingError(`${what}: ${reprStr(id)} is not an https URL of printable ASCII without spaces`);
    return id;
  }
  const PAYLOADS = {
    'issuer.register': (f) => {
      const [issuer, name, key, ids] = expectArray(f, 'issuer.register payload', 4);
      return { issuer: did(issuer, 'issuer'), name: expectStr(name, 'issuer name', 200),
               publicKey: expectBytes(key, 'issuer public key', 32), ids: issuerIds(ids, 'issuer identifiers') };
    },
    'issuer.rotate': (f) => {
      const [issuer, key] = expectArray(f, 'issuer.rotate payload', 2);
      return { issuer: did(issuer, 'issuer'), newKey: expectBytes(key, 'new public key', 32) };
    },
    'issuer.retire': (f) => {
      const [issuer] = expectArray(f, 'issuer.retire payload', 1);
      return { issuer: did(issuer, 'issuer') };
    },
    'issuer.update': (f) => {
      const [issuer, name, ids] = expectArray(f, 'issuer.update payload', 3);
      return { issuer: did(issuer, 'issuer'), name: expectStr(name, 'issuer name', 200),
               ids: issuerIds(ids, 'issuer identifiers') };
    },
    'issuer.compromise': (f) => {
      const [issuer, since, why] = expectArray(f, 'issuer.compromise payload', 3);
      return { issuer: did(issuer, 'issuer'), sinceIndex: expectUint(since, 'compromised since index'),
               reason: expectStr(why, 'compromise reason', 200, 0) };
    },
    'credential.issue': (f) => {
      const [issuer, digest] = expectArray(f, 'credential.issue payload', 2);
      return { issuer: did(issuer, 'issuer'), digest: expectHash(digest, 'credential digest') };
    },
    'batch.anchor': (f) => {
      const [issuer, id, root, size] = expectArray(f, 'batch.anchor payload', 4);
      return { issuer: did(issuer, 'issuer'), batchId: batchId(id, 'batch id'),
               root: expectHash(root, 'batch root'), size: expectUint(size, 'batch size', MAX_BATCH_SIZE, 1n) };
    },
    'credential.revoke': (f) => {
      const [issuer, digest, why, batch] = expectArray(f, 'credential.revoke payload', 4);
      const out = { issuer: did(issuer, 'issuer'), digest: expectHash(digest, 'credential digest'),
                    reason: reason(why, 'revocation reason') };
      if (batch !== null) {
        const [id, index, path] = expectArray(batch, 'batch membership', 3);
        const hashes = expectArray(path, 'batch audit path', null, 64);
        batchId(id, 'batch id');
        expectUint(index, 'batch index', MAX_BATCH_SIZE - 1n);
        hashes.forEach((h) => expectHash(h, 'batch audit path hash'));
      }
      return out;
    },
    'batch.revoke': (f) => {
      const [issuer, id, why] = expectArray(f, 'batch.revoke payload', 3);
      return { issuer: did(issuer, 'issuer'), batchId: batchId(id, 'batch id'), reason: reason(why, 'revocation reason') };
    },
    'pathway.define': (f) => {
      const [owner, id, version, digest] = expectArray(f, 'pathway.define payload', 4);
      const out = { owner: did(owner, 'pathway owner'), pathwayId: pathwayId(id, 'pathway id'),
                    version: expectUint(version, 'pathway version', MAX_PATHWAY_VERSION, 1n),
                    digest: expectHash(digest, 'pathway definition digest') };
      out.issuer = out.owner;
      return out;
    },
    'pathway.retire': (f) => {
      const [owner, id] = expectArray(f, 'pathway.retire payload', 2);
      const out = { owner: did(owner, 'pathway owner'), pathwayId: pathwayId(id, 'pathway id') };
      out.issuer = out.owner;
      return out;
    },
  };

  async function eventFromFields(fields, data, knownLeafHash = null) {
    expectArray(fields, 'event');
    if (!fields.length || fields[0] !== 1n) {
      throw encodingError(`event: unknown format version ${repr(fields.length ? fields[0] : null)}; expected 1`);
    }
    const [, kind, created, payload, signer, signature] = expectArray(fields, 'event', 6);
    const kindName = expectStr(kind, 'event kind', 32);
    const parse = Object.prototype.hasOwnProperty.call(PAYLOADS, kindName) ? PAYLOADS[kindName] : null;
    if (!parse) throw encodingError(`event: unknown kind ${reprStr(kindName)}`);
    const parsed = parse(payload);
    return {
      type: 'event', kind: kindName, payload: parsed, payloadFields: payload,
      created: expectUint(created, 'created time', MAX_TIMESTAMP),
      signer: expectBytes(signer, 'signer public key', 32),
      signature: expectBytes(signature, 'signature', 64),
      encoded: data, hash: knownLeafHash ?? await leafHash(data),
    };
  }

  const decodedLeaves = new Map();
  /** knownLeafHash: leafHash(data), when the caller has just computed it (decode_event's event_hash). */
  async function decodeLeaf(data, knownLeafHash = null) {
    const id = hex(data);
    if (decodedLeaves.has(id)) return decodedLeaves.get(id);
    const fields = expectArray(unpack(data, MAX_LEAF_SIZE, 'log leaf'), 'log leaf');
    let leaf;
    if (fields.length >= 2 && fields[1] === 'block.header') {
      if (fields[0] !== 1n) throw encodingError(`block header: unknown format version ${repr(fields[0])}`);
      if (data.length > MAX_HEADER_SIZE) throw encodingError('block header is larger than any valid header');
      const [, , height, previous, timeMs, proposer, firstIndex, eventCount, statusRoot, validators] = expectArray(fields, 'block header', 10);
      leaf = {
        type: 'header',
        height: expectUint(height, 'block height', UINT64_MAX, 1n),
        previous: expectHash(previous, 'previous header hash'),
        timeMs: expectUint(timeMs, 'block time'),
        proposer: expectBytes(proposer, 'proposer key', 32),
        firstIndex: expectUint(firstIndex, 'first event index'),
        eventCount: expectUint(eventCount, 'event count'),
        statusRoot: expectHash(statusRoot, 'status root'),
        validatorSetHash: expectHash(validators, 'validator set hash'),
      };
      leaf.index = leaf.firstIndex + leaf.eventCount;
      leaf.treeSize = leaf.index + 1n;
    } else {
      if (data.length > MAX_EVENT_SIZE) throw encodingError(`event is ${data.length} bytes; the limit is ${MAX_EVENT_SIZE}`);
      leaf = await eventFromFields(fields, data, knownLeafHash);
    }
    if (decodedLeaves.size > 1024) decodedLeaves.clear();
    decodedLeaves.set(id, leaf);
    return leaf;
  }

  async function verifyEventSignature(event, origin) {
    const message = pack(['vcledger/event/v1', origin, event.kind, event.created, event.payloadFields, event.signer]);
    if (!(await ed25519Verify(event.signer, event.signature, message))) {
      throw signatureError(`${event.kind} event ${hex(event.hash)}: signature does not verify for network ` +
                           `${reprStr(origin)} (wrong network, wrong key, or altered event)`);
    }
  }

  // -- status records (client/status.py) ----------------------------------------------------------

  const MAX_RECORD_SIZE = 16384;
  const statusKey = (...parts) => sha256(pack(parts));
  const issuerStatusKey = (issuer) => statusKey('vcledger/status/issuer', issuer);
  const credentialStatusKey = (issuer, digest) => statusKey('vcledger/status/credential', issuer, digest);
  const batchStatusKey = (issuer, id) => statusKey('vcledger/status/batch', issuer, id);
  const pathwayStatusKey = (owner, id) => statusKey('vcledger/status/pathway', owner, id);
  const MAX_PATHWAY_VERSIONS = 16n;

  function position(value, what) {
    const [index, height] = expectArray(value, what, 2);
    return { index: expectUint(index, `${what} index`), height: expectUint(height, `${what} height`) };
  }
  function revocation(value, what) {
    const [index, height, why, by] = expectArray(value, what, 4);
    const code = expectUint(why, `${what} reason`, 255n);
    if (code > 5n) throw encodingError(`${what}: unknown reason code ${code}`);
    const pos = position([index, height], what);
    return { position: pos, reason: Number(code), byGovernance: expectUint(by, `${what} signer`, 1n) === 1n };
  }
  const optional = (v, parse, what) => (v === null ? null : parse(v, what));

  function decodeRecord(data) {
    const fields = expectArray(unpack(data, MAX_RECORD_SIZE, 'status record'), 'status record');
    if (fields.length < 2 || fields[0] !== 1n) throw encodingError('status record: unknown format version');
    const kind = fields[1];
    if (kind === 'issuer') {
      const [, , issuer, identities, keys, registered, retired, compromises] = expectArray(fields, 'issuer record', 8);
      const periods = expectArray(keys, 'issuer keys', null, 32).map((k) => {
        const [key, from, until] = expectArray(k, 'issuer key period', 3);
        return { publicKey: expectBytes(key, 'issuer key', 32), validFrom: expectUint(from, 'key valid_from'),
                 validUntil: until === null ? null : expectUint(until, 'key valid_until') };
      });
      if (!periods.length) throw encodingError('issuer record lists no keys');
      const versions = expectArray(identities, 'issuer identities', null, 6).map((i) => {
        const [setAt, name, ids] = expectArray(i, 'issuer identity', 3);
        const items = expectArray(ids, 'issuer identifiers', null, 8);
        return { setAt: expectUint(setAt, 'identity set_at'), name: expectStr(name, 'issuer name', 200),
                 ids: items.map((x) => expectStr(x, 'issuer identifier', 200)) };
      });
      if (!versions.length) throw encodingError('issuer record lists no identity');
      return new IssuerRecord(
        expectStr(issuer, 'issuer', MAX_DID_LENGTH), versions, periods,
        position(registered, 'registered'), optional(retired, position, 'retired'),
        expectArray(compromises, 'compromise statements', null, 4).map((c) => {
          const [index, height, since, why] = expectArray(c, 'compromise', 4);
          return { position: position([index, height], 'compromise'),
                   sinceIndex: expectUint(since, 'compromise since_index'),
                   reason: expectStr(why, 'compromise reason', 200, 0) };
        }));
    }
    if (kind === 'credential') {
      const [, , issued, batch, revoked] = expectArray(fields, 'credential record', 5);
      let batchRef = null;
      if (batch !== null) {
        const [id, leaf] = expectArray(batch, 'credential batch', 2);
        batchRef = [expectStr(id, 'batch id', 128), expectUint(leaf, 'batch index', MAX_BATCH_SIZE - 1n)];
      }
      return { type: 'credential', issued: optional(issued, position, 'issued'), batch: batchRef,
               revoked: optional(revoked, revocation, 'revoked') };
    }
    if (kind === 'batch') {
      const [, , root, size, anchored, revoked] = expectArray(fields, 'batch record', 6);
      return { type: 'batch', root: expectHash(root, 'batch root'),
               size: expectUint(size, 'batch size', MAX_BATCH_SIZE, 1n),
               anchored: position(anchored, 'anchored'), revoked: optional(revoked, revocation, 'revoked') };
    }
    if (kind === 'pathway') {
      const [, , versions, retired] = expectArray(fields, 'pathway record', 4);
      const entries = expectArray(versions, 'pathway versions', null, Number(MAX_PATHWAY_VERSIONS)).map((v) => {
        const [version, digest, index, height] = expectArray(v, 'pathway version', 4);
        return { version: expectUint(version, 'pathway version number', MAX_PATHWAY_VERSIONS, 1n),
                 digest: expectHash(digest, 'pathway definition digest'),
                 position: position([index, height], 'pathway version') };
      });
      // One form: versions 1..n in order, each defined after the one before.
      if (!entries.length) throw encodingError('pathway record lists no version');
      entries.forEach((entry, i) => {
        if (entry.version !== BigInt(i + 1)) {
          throw encodingError(`pathway record: entry ${i + 1} is version ${entry.version}; versions run 1, 2, ... in order`);
        }
      });
      for (let i = 1; i < entries.length; i++) {
        if (entries[i - 1].position.index >= entries[i].position.index) throw encodingError('pathway record: versions must be defined in log order');
      }
      return { type: 'pathway', versions: entries, retired: optional(retired, position, 'retired'),
               get current() { return this.versions[this.versions.length - 1]; },
               version(number) { return number >= 1n && number <= BigInt(this.versions.length) ? this.versions[Number(number) - 1] : null; } };
    }
    throw encodingError(`status record: unknown kind ${repr(kind)}`);
  }

  class IssuerRecord {
    constructor(issuer, identities, keys, registered, retired, compromises) {
      Object.assign(this, { type: 'issuer', issuer, identities, keys, registered, retired, compromises });
    }
    get name() { return this.identities[this.identities.length - 1].name; }
    get compromise() { return this.compromises.length ? this.compromises[this.compromises.length - 1] : null; }
    get standing() { return this.compromises.length ? 'compromised' : this.retired === null ? 'active' : 'retired'; }
    identityAt(index) {
      let found = this.identities[0];
      for (const identity of this.identities) if (identity.setAt < index) found = identity;
      return found;
    }
    keyValidAt(publicKey, index) {
      return this.keys.some((p) => equalBytes(p.publicKey, publicKey) && p.validFrom <= index &&
                                   (p.validUntil === null || index < p.validUntil));
    }
    voidedBy(index) { return this.compromises.find((c) => c.sinceIndex <= index) || null; }
  }

  // -- signed notes, checkpoints, tlog-proof (client/note.py, checkpoint.py, tlogproof.py) ---------

  const MAX_NOTE_SIZE = 1024 * 1024;
  const MAX_SIGNATURES = 100;
  const MAX_FUTURE_DRIFT = 60n;
  const UNICODE_SPACES = new Set(Array.from('\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000'));
  function isValidName(name) {
    const size = utf8Length(name);
    return size > 0 && size <= 255 && !name.includes('+') && !codePoints(name).some((c) => UNICODE_SPACES.has(c)) &&
      !/[\x00-\x1f\x7f]/.test(name) && !hasLoneSurrogate(name);
  }
  async function keyId(name, sigType, publicKey) {
    return (await sha256(concat(utf8.encode(name), Uint8Array.of(0x0a, sigType), publicKey))).slice(0, 4);
  }
  async function parseVerifierKey(text) {
    if (text.length > 255 * 4 + 64) throw encodingError(`verifier key is longer than ${255 * 4 + 64} characters`);
    const plus1 = text.indexOf('+');
    const name = plus1 < 0 ? text : text.slice(0, plus1);
    const rest = plus1 < 0 ? '' : text.slice(plus1 + 1);
    const plus2 = rest.indexOf('+');
    const hexId = plus2 < 0 ? rest : rest.slice(0, plus2);
    const keyB64 = plus2 < 0 ? '' : rest.slice(plus2 + 1);
    const cps = codePoints(text);
    const shown = reprStr(cps.length <= 120 ? text : cps.slice(0, 117).join('') + '...');
    if (plus1 < 0 || plus2 < 0) throw encodingError(`verifier key ${shown} is not of the form name+keyid+key`);
    if (!isValidName(name)) throw encodingError(`verifier key ${shown}: invalid key name ${reprStr(name)}`);
    if (!/^[0-9a-f]{8}$/.test(hexId)) throw encodingError(`verifier key ${shown}: key ID ${reprStr(hexId)} is not 8 lowercase hex digits`);
    const material = decodeBase64(keyB64, `verifier key ${shown}: key`);
    if (!material.length) throw encodingError(`verifier key ${shown}: key is empty`);
    const sigType = material[0];
    const publicKey = material.slice(1);
    if (sigType !== 1 && sigType !== 4) {
      throw encodingError(`verifier key ${shown}: signature type 0x${pad(sigType, 2)} is not supported (0x01 Ed25519, 0x04 cosignature/v1)`);
    }
    if (publicKey.length !== 32) throw encodingError(`verifier key ${shown}: Ed25519 key is ${publicKey.length} bytes, expected 32`);
    const expected = await keyId(name, sigType, publicKey);
    if (hexId !== hex(expected)) {
      throw encodingError(`verifier key ${shown}: key ID ${hexId} does not match the key (expected ${hex(expected)})`);
    }
    return { name, keyId: expected, sigType, publicKey };
  }

  function checkNoteText(text, what) {
    if (text.length > MAX_NOTE_SIZE) throw encodingError(`${what} is larger than ${MAX_NOTE_SIZE} bytes`);
    if (hasLoneSurrogate(text)) throw encodingError(`${what} is not valid UTF-8 (it has lone surrogates)`);
    const size = utf8Length(text);
    if (size > MAX_NOTE_SIZE) throw encodingError(`${what} is ${size} bytes; the limit is ${MAX_NOTE_SIZE}`);
    const cps = codePoints(text);
    const at = cps.findIndex((c) => /[\x00-\x09\x0b-\x1f]/.test(c));
    if (at >= 0) {
      const hint = cps[at] === '\r' ? ' (CRLF line endings are not allowed)' : '';
      throw encodingError(`${what} contains control character U+${pad(cps[at].codePointAt(0), 4).toUpperCase()} at offset ${at}${hint}`);
    }
  }
  const SIGNATURE_PREFIX = '\u2014 ';
  function parseNote(text) {
    checkNoteText(text, 'note');
    const split = text.lastIndexOf('\n\n');
    if (split < 0) throw encodingError('note has no blank line between its text and its signatures');
    const body = text.slice(0, split + 1);
    const block = text.slice(split + 2);
    if (!block) throw encodingError('note has no signature lines after the blank line');
    if (!block.endsWith('\n')) throw encodingError("note's last signature line does not end with a newline");
    const lines = block.slice(0, -1).split('\n');
    if (lines.length > MAX_SIGNATURES) throw encodingError(`note has ${lines.length} signature lines; at most ${MAX_SIGNATURES} are accepted`);
    return { body, signatures: lines.map(parseSignatureLine) };
  }
  function parseSignatureLine(line, number) {
    const where = `signature line ${number + 1}`;
    if (!line.startsWith(SIGNATURE_PREFIX)) {
      const hint = line[0] === '-' ? ' (it must start with an em dash U+2014, not a hyphen)' : '';
      throw encodingError(`${where} does not start with '\u2014 '${hint}`);
    }
    const rest = line.slice(SIGNATURE_PREFIX.length);
    const space = rest.indexOf(' ');
    const name = space < 0 ? rest : rest.slice(0, space);
    const b64 = space < 0 ? '' : rest.slice(space + 1);
    if (space < 0 || !b64) throw encodingError(`${where} has no signature after the key name`);
    if (!isValidName(name)) throw encodingError(`${where}: invalid key name ${reprStr(name)}`);
    const raw = decodeBase64(b64, `${where} (${name})`);
    if (raw.length <= 4) throw encodingError(`${where} (${name}) is too short to hold a key ID and a signature`);
    return { name, keyId: raw.slice(0, 4), signature: raw.slice(4) };
  }

  function originProblem(origin) {
    if (!origin) return 'origin is empty';
    if (hasLoneSurrogate(origin)) return 'origin is not valid UTF-8';
    const size = utf8Length(origin);
    if (size > 255) return `origin is ${size} bytes; at most 255 are allowed`;
    if (/[\x00-\x1f\x7f]/.test(origin)) return 'origin contains a control character';
    return null;
  }
  const MAX_CHECKPOINT_BODY_SIZE = 255 + 21 + 45;
  const DECIMAL = /^(?:0|[1-9][0-9]{0,19})$/;
  function parseCheckpoint(body) {
    if (body.length > MAX_CHECKPOINT_BODY_SIZE) throw encodingError(`checkpoint is longer than ${MAX_CHECKPOINT_BODY_SIZE} characters`);
    if (!body.endsWith('\n')) throw encodingError('checkpoint does not end with a newline');
    const lines = body.slice(0, -1).split('\n');
    if (lines.length < 3) throw encodingError(`checkpoint has ${lines.length} lines; it needs origin, size and root`);
    if (lines.length > 3) throw encodingError('checkpoint has extension lines after the root; vcledger checkpoints carry none');
    const [origin, sizeText, rootText] = lines;
    const problem = originProblem(origin);
    if (problem) throw encodingError(`checkpoint ${problem}`);
    if (!DECIMAL.test(sizeText)) {
      throw encodingError(`checkpoint tree size ${reprStr(codePoints(sizeText).slice(0, 40).join(''))} is not a decimal without leading zeros`);
    }
    const treeSize = BigInt(sizeText);
    if (treeSize > MAX_TREE_SIZE) throw encodingError(`checkpoint tree size ${treeSize} exceeds 2^64-1`);
    const root = decodeBase64(rootText, 'checkpoint root hash');
    if (root.length !== 32) throw encodingError(`checkpoint root hash must be 32 bytes, got ${root.length}`);
    if (`${origin}\n${treeSize}\n${encodeBase64(root)}\n` !== body) throw encodingError('checkpoint is not in canonical form');
    return { origin, treeSize, root };
  }

  const TLOG_HEADER = 'c2sp.org/tlog-proof@v1';
  const MAX_TLOG_HEADER_SIZE = TLOG_HEADER.length + 1 + 6 + Math.floor((16 * 1024 + 2) / 3) * 4 + 1 + 6 + 20 + 1 + 64 * 45;
  const MAX_TLOG_PROOF_SIZE = MAX_TLOG_HEADER_SIZE + 1 + MAX_NOTE_SIZE;
  function parseTlogProof(text) {
    if (text.length > MAX_TLOG_PROOF_SIZE) throw encodingError(`tlog proof is longer than ${MAX_TLOG_PROOF_SIZE} characters`);
    const split = text.slice(0, MAX_TLOG_HEADER_SIZE + 2).indexOf('\n\n');
    if (split < 0) throw encodingError('tlog proof has no blank line before the checkpoint');
    const lines = text.slice(0, split).split('\n');
    const checkpointNote = text.slice(split + 2);
    if (lines[0] !== TLOG_HEADER) throw encodingError(`tlog proof does not start with the line ${reprStr(TLOG_HEADER)}`);
    let position = 1;
    let extra = null;
    if (position < lines.length && lines[position].startsWith('extra ')) {
      extra = decodeBase64(lines[position].slice(6), 'tlog proof extra data');
      if (!extra.length) throw encodingError('tlog proof has an empty extra line; omit the line instead');
      if (extra.length > 16 * 1024) throw encodingError(`tlog proof extra data is over ${16 * 1024} bytes`);
      position++;
    }
    if (position >= lines.length || !lines[position].startsWith('index ')) throw encodingError("tlog proof has no 'index' line");
    const indexText = lines[position].slice(6);
    if (!DECIMAL.test(indexText)) {
      throw encodingError(`tlog proof index ${reprStr(codePoints(indexText).slice(0, 40).join(''))} is not a decimal without leading zeros`);
    }
    const index = BigInt(indexText);
    const hashLines = lines.slice(position + 1);
    if (hashLines.length > 64) throw encodingError(`tlog proof has ${hashLines.length} audit path hashes; at most 64`);
    const proof = hashLines.map((line, n) => {
      const raw = decodeBase64(line, `tlog proof audit path hash ${n}`);
      if (raw.length !== 32) throw encodingError(`tlog proof audit path hash ${n} must be 32 bytes, got ${raw.length}`);
      return raw;
    });
    const checkpoint = parseCheckpoint(parseNote(checkpointNote).body);
    if (index >= checkpoint.treeSize) {
      throw encodingError(`tlog proof index ${index} is outside the checkpoint's tree of size ${checkpoint.treeSize}`);
    }
    return { index, proof, checkpointNote, extra };
  }

  /** checkpoint.verify_checkpoint with note.open_parsed_note: k-of-n cosignatures and the time. */
  async function verifyCheckpoint(noteText, trust, now) {
    const parsed = parseNote(noteText);
    const checkpoint = parseCheckpoint(parsed.body);
    if (checkpoint.origin !== trust.origin) {
      throw new LedgerError(`checkpoint is for origin ${reprStr(checkpoint.origin)}, not the trusted origin ${reprStr(trust.origin)}`, 'VerificationError');
    }
    const known = trust.known;
    const bodyBytes = utf8.encode(parsed.body);
    const verified = [];
    const seen = new Set();
    let future = 0;
    for (const line of parsed.signatures) {
      const slot = line.name + '\n' + hex(line.keyId);
      const verifier = known.get(slot);
      if (!verifier || seen.has(slot)) continue;
      seen.add(slot);
      const label = `${line.name}+${hex(line.keyId)}`;
      if (line.signature.length !== 72) {
        throw signatureError(`cosignature by ${label} is ${line.signature.length} bytes, expected 72`);
      }
      let timestamp = 0n;
      for (let i = 0; i < 8; i++) timestamp = (timestamp << 8n) | BigInt(line.signature[i]);
      if (timestamp > MAX_TIMESTAMP) throw signatureError(`cosignature by ${label} has timestamp ${timestamp} > 2^63-1`);
      if (now !== null && timestamp > now + MAX_FUTURE_DRIFT) { future++; continue; }
      const message = concat(utf8.encode(`cosignature/v1\ntime ${timestamp}\n`), bodyBytes);
      if (!(await ed25519Verify(verifier.publicKey, line.signature.slice(8), message))) {
        throw signatureError(`signature by trusted key ${label} does not verify`);
      }
      verified.push({ publicKey: verifier.publicKey, timestamp });
    }
    if (!verified.length) {
      const detail = future ? `; ${future} cosignature(s) dated in the future were not counted` : '';
      throw signatureError(`note has no valid signature by a trusted key${detail}`);
    }
    const cosigners = new Map();
    for (const v of verified) if (!cosigners.has(hex(v.publicKey))) cosigners.set(hex(v.publicKey), v);
    if (cosigners.size < trust.threshold) {
      const more = future ? ` (${future} more dated over ${MAX_FUTURE_DRIFT} s in the future were not counted; is this computer's clock right?)` : '';
      throw signatureError(`checkpoint has valid cosignatures by ${cosigners.size} trusted validator(s); the trust policy requires ${trust.threshold}${more}`);
    }
    const times = Array.from(cosigners.values(), (c) => c.timestamp).sort((a, b) => (a > b ? -1 : a < b ? 1 : 0));
    return { checkpoint, cosigners: cosigners.size, time: times[trust.threshold - 1] };
  }

  // -- the trust file (client/trust.py) -----------------------------------------------------------

  const DEFAULT_MAX_AGE_SECONDS = 7 * 86400;
  async function parseTrust(data, source = 'trust file') {
    const bytes = toBytes(data);
    const fail = (m) => new LedgerError(`${source}: ${m}`, 'TrustFileError');
    let document;
    try {
      document = loadsStrict(bytes, source, 1024 * 1024);
    } catch (exc) {
      if (exc instanceof LedgerError) throw fail(exc.diagnostics());
      throw exc;
    }
    const errors = [];
    validateModel({
      name: 'Trust',
      fields: [['origin', { check: V.str(1, 200) }], ['threshold', { check: V.int(1n) }],
               ['max_age_seconds', { check: V.int(60n), optional: true }],
               ['validators', { list: { model: { name: 'TrustedValidator', fields: [
                 ['name', { check: V.str(1, 200) }], ['verifier_key', { check: V.str(1, 400) }]] } },
                                minItems: 1, maxItems: 100 }]],
    }, document, [], errors);
    if (errors.length) throw fail(describeErrors(errors));
    const validators = [];
    for (const [n, v] of document.get('validators').entries()) {
      let verifier;
      try {
        verifier = await parseVerifierKey(v.get('verifier_key'));
      } catch (exc) {
        if (exc instanceof LedgerError) throw fail(`validators.${n}: ${exc.diagnostics()}`);
        throw exc;
      }
      if (verifier.name !== v.get('name')) throw fail(`validators.${n}: verifier key is for ${reprStr(verifier.name)}, not ${reprStr(v.get('name'))}`);
      if (verifier.sigType !== 4) throw fail(`validators.${n}: validator keys must be cosignature/v1 verifier keys (type 0x04)`);
      validators.push(verifier);
    }
    const names = new Set(validators.map((v) => v.name));
    const keys = new Set(validators.map((v) => hex(v.publicKey)));
    if (names.size !== validators.length || keys.size !== validators.length) throw fail('validators: validator names and keys must be distinct');
    const threshold = document.get('threshold');
    if (threshold > BigInt(validators.length)) throw fail(`threshold ${threshold} exceeds the ${validators.length} validators listed`);
    const known = new Map(validators.map((v) => [v.name + '\n' + hex(v.keyId), v]));
    return {
      origin: document.get('origin'), threshold: Number(threshold), validators, known,
      maxAgeSeconds: document.has('max_age_seconds') ? Number(document.get('max_age_seconds')) : DEFAULT_MAX_AGE_SECONDS,
    };
  }

  // -- bundles (client/bundle.py) -----------------------------------------------------------------

  const MAX_BUNDLE_SIZE = 256 * 1024;
  const b64len = (n) => Math.floor((n + 2) / 3) * 4;
  const RECEIPT_MODEL = {
    name: '_ReceiptModel',
    fields: [
      ['format', { check: V.literal('vcledger-receipt/v1') }],
      ['origin', { check: V.str(1, 255) }],
      ['issuer', { check: V.str(1, MAX_DID_LENGTH) }],
      ['batch_id', { check: V.str(1, 128) }],
      ['batch_root', { check: V.str(64, 64, HEX_HASH) }],
      ['batch_size', { check: V.int(1n, undefined, MAX_BATCH_SIZE) }],
      ['index', { check: V.int(0n, MAX_BATCH_SIZE) }],
      ['credential_digest', { check: V.str(64, 64, HEX_HASH) }],
      ['audit_path', { list: { check: V.str(64, 64, HEX_HASH) }, maxItems: 20 }],
      ['anchor_event_hash', { check: V.str(64, 64, HEX_HASH) }],
    ],
  };
  const STATUS_ENTRY_MODEL = {
    name: '_StatusEntryModel',
    fields: [['value', { check: V.str(4, b64len(MAX_RECORD_SIZE)), nullable: true }],
             ['proof', { check: V.str(2, 2 * MAX_SMT_PROOF_SIZE) }]],
  };
  const BUNDLE_MODEL = {
    name: '_BundleModel',
    fields: [
      ['format', { check: V.literal('vcledger-bundle/v2') }],
      ['origin', { check: V.str(1, 255) }],
      ['issuer', { check: V.str(1, MAX_DID_LENGTH) }],
      ['credential_digest', { check: V.str(64, 64, HEX_HASH) }],
      ['event', { check: V.str(4, b64len(MAX_LEAF_SIZE)) }],
      ['event_proof', { check: V.str(1, MAX_TLOG_PROOF_SIZE) }],
      ['header', { check: V.str(4, b64len(MAX_LEAF_SIZE)) }],
      ['header_proof', { check: V.str(1, MAX_TLOG_PROOF_SIZE) }],
      ['receipt', { model: RECEIPT_MODEL, nullable: true }],
      ['status', { model: { name: '_StatusModel', fields: [
        ['issuer', { model: STATUS_ENTRY_MODEL }], ['credential', { model: STATUS_ENTRY_MODEL }],
        ['batch', { model: STATUS_ENTRY_MODEL, nullable: true }]] } }],
      ['block_headers', { list: { model: { name: '_IncludedHeaderModel', fields: [
        ['header', { check: V.str(4, b64len(MAX_LEAF_SIZE)) }],
        ['index', { check: V.int(0n, 1n << 63n) }],
        ['audit_path', { list: { check: V.str(64, 64, HEX_HASH) }, maxItems: 64 }]] } },
                          minItems: 1, maxItems: 2 }],
    ],
  };
  const bundleFormatError = (m) => new LedgerError(m, 'BundleFormatError');
  const didProblem = (text) => {
    try { publicKeyFromDid(text); return null; } catch (exc) {
      if (exc instanceof LedgerError) return exc.diagnostics();
      throw exc;
    }
  };

  function parseBundle(data, what = 'bundle') {
    let document;
    try {
      document = loadsStrict(data, what, MAX_BUNDLE_SIZE);
    } catch (exc) {
      if (exc instanceof LedgerError) throw bundleFormatError(exc.diagnostics());
      throw exc;
    }
    const errors = [];
    validateModel(BUNDLE_MODEL, document, [], errors);
    if (errors.length) throw bundleFormatError(`${what}: ${describeErrors(errors)}`);
    try {
      const m = document;
      const problem = didProblem(m.get('issuer'));
      if (problem) throw bundleFormatError(`issuer: ${problem}`);
      const headers = m.get('block_headers').map((h, n) => ({
        leaf: decodeBase64(h.get('header'), `block_headers[${n}]`),
        index: h.get('index'),
        auditPath: h.get('audit_path').map(fromHex),
      }));
      for (let i = 1; i < headers.length; i++) {
        if (headers[i - 1].index >= headers[i].index) throw bundleFormatError('block_headers must be in ascending index order, each once');
      }
      const tlog = (text, name) => {
        const proof = parseTlogProof(text);
        if (proof.extra !== null) throw bundleFormatError(`${name} has an 'extra' line; bundles carry no extra data`);
        return proof;
      };
      const credentialDigest = fromHex(m.get('credential_digest'));
      const event = decodeBase64(m.get('event'), 'event');
      const eventProof = tlog(m.get('event_proof'), 'event_proof');
      const header = decodeBase64(m.get('header'), 'header');
      const headerProof = tlog(m.get('header_proof'), 'header_proof');
      let receipt = null;
      if (m.get('receipt') !== null) {
        const r = m.get('receipt');
        const p = didProblem(r.get('issuer'));
        if (p) throw encodingError(`receipt: issuer: ${p}`);
        if (!BATCH_ID_PATTERN.test(r.get('batch_id'))) throw encodingError(`receipt: batch_id ${reprStr(r.get('batch_id'))} is not a batch id`);
        if (r.get('index') >= r.get('batch_size')) throw encodingError(`receipt: index ${r.get('index')} is outside the batch of ${r.get('batch_size')}`);
        receipt = {
          origin: r.get('origin'), issuer: r.get('issuer'), batchId: r.get('batch_id'),
          batchRoot: fromHex(r.get('batch_root')), batchSize: r.get('batch_size'), index: r.get('index'),
          credentialDigest: fromHex(r.get('credential_digest')), auditPath: r.get('audit_path').map(fromHex),
          anchorEventHash: fromHex(r.get('anchor_event_hash')),
        };
      }
      const status = m.get('status');
      const entry = (model, name, present) => {
        if (present && model.get('value') === null) throw bundleFormatError(`${name}: value is null; this proof must show a record`);
        const value = model.get('value') === null ? null : decodeBase64(model.get('value'), `${name} value`);
        return { value, proof: smtFromHex(model.get('proof')) };
      };
      return {
        origin: m.get('origin'), issuer: m.get('issuer'), credentialDigest, event, eventProof, header, headerProof,
        receipt,
        status: {
          issuer: entry(status.get('issuer'), 'status.issuer', true),
          credential: entry(status.get('credential'), 'status.credential', false),
          batch: status.get('batch') === null ? null : entry(status.get('batch'), 'status.batch', true),
        },
        blockHeaders: headers,
      };
    } catch (exc) {
      if (exc instanceof LedgerError && exc.kind !== 'BundleFormatError') throw bundleFormatError(`${what}: ${exc.diagnostics()}`);
      throw exc;
    }
  }

  // -- credentials: strict parsing, I-JSON, RFC 8785, claims (client/credentials.py) -------------

  const MAX_CREDENTIAL_SIZE = 4 * 1024 * 1024;
  const EXACT_INTEGER = 1n << 53n;
  const SAFE_INTEGER = (1n << 53n) - 1n;
  const credentialError = (m) => new LedgerError(m, 'CredentialError');
  const shorten = (text, limit = 40) => {
    const cps = codePoints(text);
    return cps.length <= limit ? text : `${cps.slice(0, limit).join('')}... (${cps.length} characters)`;
  };

  function parseCredential(data) {
    const hooks = {
      parseFloat(text) {
        if (!Number.isFinite(Number(text))) throw credentialError(`number ${shorten(text)} is outside the IEEE 754 double range`);
        return PyDecimal.parse(text);
      },
      parseInt(text) {
        const value = pyInt(text);
        const magnitude = value < 0n ? -value : value;
        if (magnitude > EXACT_INTEGER && !Number.isFinite(Number(text))) {
          throw credentialError(`number ${shorten(text)} is outside the IEEE 754 double range`);
        }
        return value;
      },
    };
    let value;
    try {
      value = loadsStrict(data, 'credential', MAX_CREDENTIAL_SIZE, hooks);
    } catch (exc) {
      if (exc instanceof LedgerError && exc.kind !== 'CredentialError') throw credentialError(exc.diagnostics());
      throw exc;
    }
    if (!(value instanceof Map)) throw credentialError('a credential must be a JSON object at the top level');
    return value;
  }

  /** The JCS text of the double nearest to a number (ECMAScript Number::toString). */
  const jcsNumber = (x) => (Object.is(x, -0) ? '0' : String(x));
  function numberProblem(value) {
    // Accepted exactly when the value equals that of the shortest text of its double.
    let nearest;
    let exact;
    if (typeof value === 'bigint') {
      if (value >= -EXACT_INTEGER && value <= EXACT_INTEGER) return null;
      nearest = Number(value);
      const negative = value < 0n;
      exact = normalDecimal(negative ? 1 : 0, (negative ? -value : value).toString(), 0);
    } else {
      nearest = Number(value.toString());
      exact = value.normal();
    }
    if (!Number.isFinite(nearest)) return 'is outside the IEEE 754 double range';
    const [digits, exp] = nearest === 0 ? ['0', 0] : shortestDigits(nearest);
    const shortest = normalDecimal(nearest < 0 ? 1 : 0, digits, exp);
    if (shortest[1] === exact[1] && shortest[2] === exact[2] &&
        (shortest[0] === exact[0] || shortest[1] === '0')) return null;
    return 'cannot be represented exactly as an IEEE 754 double (I-JSON, RFC 7493 §2.2): ' +
           `it would be read as ${jcsNumber(nearest)}; write it as a string`;
  }
  const PLAIN_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
  function formatPath(path) {
    return '$' + path.map((step) => (typeof step === 'number' ? `[${step}]`
      : PLAIN_NAME.test(step) ? `.${step}` : `[${jsonString(shorten(step, 64))}]`)).join('');
  }
  function checkIjson(document) {
    const walk = (node, path) => {
      if (typeof node === 'bigint' || node instanceof PyDecimal) {
        const problem = numberProblem(node);
        if (problem) throw credentialError(`number ${shorten(node.toString())} at ${formatPath(path)} ${problem}`);
      } else if (node instanceof Map) {
        for (const [k, v] of node) walk(v, [...path, k]);
      } else if (Array.isArray(node)) {
        node.forEach((v, i) => walk(v, [...path, i]));
      }
    };
    walk(document, []);
  }
  function jcs(value) {
    const parts = [];
    const str = (s) => {
      if (hasLoneSurrogate(s)) throw credentialError('credential cannot be canonicalised: input contains non-UTF-8 codepoints');
      parts.push(jsonString(s, false));  // RFC 8785 §3.2.2.2: only control characters escaped
    };
    const dump = (v) => {
      if (v === null) parts.push('null');
      else if (v === true) parts.push('true');
      else if (v === false) parts.push('false');
      else if (typeof v === 'bigint') parts.push(v >= -SAFE_INTEGER && v <= SAFE_INTEGER ? String(v) : jcsNumber(Number(v)));
      else if (v instanceof PyDecimal) parts.push(jcsNumber(Number(v.toString())));
      else if (v instanceof PyFloat) parts.push(jcsNumber(v.value));
      else if (typeof v === 'string') str(v);
      else if (Array.isArray(v)) {
        parts.push('[');
        v.forEach((item, i) => { if (i) parts.push(','); dump(item); });
        parts.push(']');
      } else if (v instanceof Map) {
        const keys = Array.from(v.keys());
        if (keys.some(hasLoneSurrogate)) {
          throw credentialError('credential cannot be canonicalised: a member name holds a lone surrogate (a \\uD800-\\uDFFF escape)');
        }
        keys.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
        parts.push('{');
        keys.forEach((k, i) => { if (i) parts.push(','); str(k); parts.push(':'); dump(v.get(k)); });
        parts.push('}');
      } else throw new Error('cannot canonicalise ' + typeof v);
    };
    dump(value);
    return utf8.encode(parts.join(''));
  }
  function canonicalJson(document) {
    checkIjson(document);
    try {
      return jcs(document);
    } catch (exc) {
      if (exc instanceof RangeError) throw credentialError('credential nests too deeply to canonicalise');
      throw exc;
    }
  }
  function namedIssuer(document) {
    let issuer = document.get('issuer');
    if (issuer instanceof Map) issuer = issuer.get('id');
    return typeof issuer === 'string' ? issuer : null;
  }

  const DATE_TIME = /^([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?(Z|([+-])([0-9]{2}):([0-9]{2}))?$/;
  const daysInMonth = (y, m) => [31, (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0 ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1];
  function daysFromCivil(y, m, d) {  // days since 1970-01-01 in the proleptic Gregorian calendar
    y -= m <= 2 ? 1 : 0;
    const era = Math.floor(y / 400);
    const yoe = y - era * 400;
    const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
    const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
    return era * 146097 + doe - 719468;
  }
  /** POSIX seconds of an XML Schema dateTime: [whole seconds, fraction digits]. */
  function parseDateTime(member, value) {
    if (typeof value !== 'string') {
      throw credentialError(`${member} must be a date-time string such as 2026-12-05T09:30:00Z, not ${shorten(jsonDumps(value))}`);
    }
    const m = DATE_TIME.exec(value);
    const quoted = jsonString(shorten(value));
    if (!m) throw credentialError(`${member} ${quoted} is not an XML Schema date-time such as 2026-12-05T09:30:00Z`);
    const [year, month, day, hour, minute, second] = m.slice(1, 7).map((x) => parseInt(x, 10));
    const fraction = m[7] || '';
    let problem = null;
    if (hour === 24) {
      if (minute || second || /[1-9]/.test(fraction)) problem = '24 is only allowed as 24:00:00, the end of the day';
    } else if (hour > 23 || minute > 59 || second > 59) {
      problem = 'the time of day is out of range (a leap second is not allowed)';
    }
    if (!problem && m[9] !== undefined) {
      const zh = parseInt(m[10], 10);
      const zm = parseInt(m[11], 10);
      if (zm > 59 || zh > 14 || (zh === 14 && zm)) problem = 'the time zone offset is outside -14:00..+14:00';
    }
    if (problem) throw credentialError(`${member} ${quoted} is not a valid date-time: ${problem}`);
    if (year < 1) throw credentialError(`${member} ${quoted} is not a valid date-time: year ${year} is out of range`);
    if (month < 1 || month > 12) throw credentialError(`${member} ${quoted} is not a valid date-time: month must be in 1..12`);
    if (day < 1 || day > daysInMonth(year, month)) throw credentialError(`${member} ${quoted} is not a valid date-time: day is out of range for month`);
    let seconds = daysFromCivil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second;
    if (m[9] !== undefined) {
      const offset = parseInt(m[10], 10) * 3600 + parseInt(m[11], 10) * 60;
      seconds -= m[9] === '+' ? offset : -offset;
    }
    return [seconds, fraction];
  }
  const compareInstant = (a, b) => {
    if (a[0] !== b[0]) return a[0] < b[0] ? -1 : 1;
    const n = Math.max(a[1].length, b[1].length);
    const x = a[1].padEnd(n, '0');
    const y = b[1].padEnd(n, '0');
    return x < y ? -1 : x > y ? 1 : 0;
  };
  function validityPeriod(document) {
    const members = {};
    for (const name of ['validFrom', 'issuanceDate', 'validUntil', 'expirationDate']) {
      members[name] = document.has(name) ? [parseDateTime(name, document.get(name)), name] : null;
    }
    const start = members.validFrom || members.issuanceDate;
    const end = members.validUntil || members.expirationDate;
    if (start && end && compareInstant(end[0], start[0]) < 0) {
      throw credentialError(`${end[1]} ${jsonString(shorten(document.get(end[1])))} is before ${start[1]} ` +
                            `${jsonString(shorten(document.get(start[1])))}: the credential is never valid`);
    }
    return {
      validFrom: start ? start[0][0] + (/[1-9]/.test(start[0][1]) ? 1 : 0) : null,
      validUntil: end ? end[0][0] : null,
    };
  }
  function validityStatusAt(period, at) {
    if (period.validUntil !== null && at >= period.validUntil) return 'expired';
    if (period.validFrom !== null && at < period.validFrom) return 'not_yet_valid';
    return 'valid';
  }

  // -- eddsa-jcs-2022 Data Integrity proofs (client/vc.py) -----------------------------------------
  //
  // W3C "Data Integrity EdDSA Cryptosuites v1.0" §3.3, for an Ed25519 did:key verification
  // method only.  Every check, its order and its message are client/vc.py's; the error kinds
  // are its classes (all EmbeddedProofError).

  const PROOF_TYPE = 'DataIntegrityProof';
  const CRYPTOSUITE = 'eddsa-jcs-2022';
  const MAX_PROOFS = 16;
  const MAX_PROOF_VALUE_LENGTH = 1 + 88;
  const MAX_VERIFICATION_METHOD_LENGTH = 2 * 64;
  const DID_KEY_METHOD = 'did:key:';
  const DID_KEY_PURPOSES = ['assertionMethod', 'authentication', 'capabilityInvocation', 'capabilityDelegation'];
  const EMBEDDED_PROOF_ERRORS = new Set(['EmbeddedProofError', 'UnsupportedProof', 'ProofEncodingError', 'ProofSignatureError']);
  const embeddedProofError = (m) => new LedgerError(m, 'EmbeddedProofError');
  const unsupportedProof = (m) => new LedgerError(m, 'UnsupportedProof');
  const proofEncodingError = (m) => new LedgerError(m, 'ProofEncodingError');
  const proofSignatureError = (m) => new LedgerError(m, 'ProofSignatureError');
  const isEmbeddedProofError = (exc) => exc instanceof LedgerError && EMBEDDED_PROOF_ERRORS.has(exc.kind);

  /** vc._json_type: what a JSON value is, in words. */
  function jsonType(value) {
    if (value === null || value === undefined) return 'null';
    if (typeof value === 'boolean') return 'a boolean';
    if (typeof value === 'bigint' || typeof value === 'number' || value instanceof PyDecimal || value instanceof PyFloat) return 'a number';
    if (typeof value === 'string') return 'a string';
    if (Array.isArray(value)) return 'a list';
    if (value instanceof Map) return 'an object';
    return typeof value;
  }
  /** vc._quote: the text (at most `limit` characters, then …) as a JSON string, not ASCII-escaped. */
  function quoteText(text, limit = 100) {
    const cps = codePoints(text);
    return jsonString(cps.length <= limit ? text : `${cps.slice(0, limit).join('')}…`, false);
  }
  /** vc._shorten_json: json.dumps(value, ensure_ascii=False, default=str), cut at `limit`. */
  function shortenJson(value, limit = 200) {
    const cps = codePoints(jsonDumps(value === undefined ? null : value, false));
    return cps.length <= limit ? cps.join('') : `${cps.slice(0, limit).join('')}…`;
  }
  const shown = (proof, member) => (proof.has(member) ? shortenJson(proof.get(member), 100) : 'missing');

  /** The document's `proof` member as a list (DI §2.1: one proof or a proof set): absent -> [],
   * one object -> [it], a list of objects -> it; anything else is a ProofEncodingError. */
  function embeddedProofs(document) {
    if (!document.has('proof')) return [];
    const proof = document.get('proof');
    if (proof instanceof Map) return [proof];
    if (!Array.isArray(proof)) {
      throw proofEncodingError(`the document's proof member is ${jsonType(proof)}; it must be an object or a list of objects (a proof set)`);
    }
    if (!proof.length) throw proofEncodingError("the document's proof member is an empty list");
    if (proof.length > MAX_PROOFS) {
      throw proofEncodingError(`the document carries a proof set of ${proof.length} proofs; at most ${MAX_PROOFS} are accepted`);
    }
    proof.forEach((member, index) => {
      if (!(member instanceof Map)) {
        throw proofEncodingError(`proof[${index}] is ${jsonType(member)}; each proof in a proof set must be an object`);
      }
    });
    return proof;
  }

  function checkSuite(proof) {
    if (proof.get('type') !== PROOF_TYPE) {
      throw unsupportedProof(`the proof's type is ${shown(proof, 'type')}, not ${reprStr(PROOF_TYPE)}; only ` +
                             `${PROOF_TYPE} proofs with cryptosuite ${reprStr(CRYPTOSUITE)} can be verified`);
    }
    if (proof.get('cryptosuite') !== CRYPTOSUITE) {
      throw unsupportedProof(`the proof's cryptosuite is ${shown(proof, 'cryptosuite')}, not ${reprStr(CRYPTOSUITE)}; ` +
                             `only ${CRYPTOSUITE} can be verified`);
    }
  }
  /** POSIX seconds of a proof's date-time member, as [whole seconds, fraction digits]. */
  function proofDateTime(proof, member) {
    try {
      return parseDateTime(`the proof's ${member}`, proof.get(member));
    } catch (exc) {
      if (exc instanceof LedgerError && exc.kind === 'CredentialError') throw proofEncodingError(exc.diagnostics());
      throw exc;
    }
  }
  /** The Ed25519 key of did:key:z6Mk…#z6Mk… (the fragment repeats the key). */
  function publicKeyFromVerificationMethod(method) {
    const quoted = quoteText(method);
    if (codePoints(method).length > MAX_VERIFICATION_METHOD_LENGTH) {
      throw embeddedProofError(`the proof's verificationMethod ${quoted} is too long for an Ed25519 did:key`);
    }
    const hash = method.indexOf('#');
    const didText = hash < 0 ? method : method.slice(0, hash);
    const fragment = hash < 0 ? '' : method.slice(hash + 1);
    if (!didText.startsWith(DID_KEY_METHOD) || hash < 0) {
      throw embeddedProofError(`the proof's verificationMethod ${quoted} is not of the form did:key:z6Mk…#z6Mk…; ` +
                               'only did:key verification methods are supported, so this proof cannot be verified');
    }
    let publicKey;
    try {
      publicKey = publicKeyFromDid(didText);
    } catch (exc) {
      if (exc instanceof LedgerError && exc.kind === 'InvalidEncoding') {
        throw proofEncodingError(`the proof's verificationMethod ${quoted}: ${exc.diagnostics()}`);
      }
      throw exc;
    }
    const own = didText.slice(DID_KEY_METHOD.length);
    if (fragment !== own) {
      throw proofEncodingError(`the proof's verificationMethod ${quoted} has fragment ${quoteText(fragment)}; a ` +
                               `did:key verification method's fragment is the key itself, ${quoteText(own)}`);
    }
    return publicKey;
  }
  /** The 64 signature bytes of 'z' + base58btc, in its one canonical spelling. */
  function decodeProofValue(proofValue) {
    if (!proofValue.startsWith('z')) {
      throw proofEncodingError(`the proofValue ${quoteText(proofValue)} is not base58btc multibase (it must start with 'z')`);
    }
    const length = codePoints(proofValue).length;
    if (length > MAX_PROOF_VALUE_LENGTH) {
      throw proofEncodingError(`the proofValue is ${length} characters; base58btc multibase of a 64-byte ` +
                               `Ed25519 signature is at most ${MAX_PROOF_VALUE_LENGTH}`);
    }
    const encoded = proofValue.slice(1);
    const bad = Array.from(new Set(codePoints(encoded).filter((c) => !B58.includes(c))))
      .sort((a, b) => a.codePointAt(0) - b.codePointAt(0));
    if (bad.length || !encoded) {
      const what = bad.length ? `characters ${reprStr(bad.join(''))} are not` : "nothing follows 'z': it is not";
      throw proofEncodingError(`the proofValue is not base58btc multibase: ${what} base58btc`);
    }
    const raw = b58decode(encoded);
    if (b58encode(raw) !== encoded) throw proofEncodingError("the proofValue's base58btc is not in canonical form");
    if (raw.length !== 64) {
      throw proofEncodingError(`the proofValue decodes to ${raw.length} bytes; an Ed25519 signature is 64`);
    }
    return raw;
  }
  const asList = (value) => (value === null || value === undefined ? [] : Array.isArray(value) ? value : [value]);
  function sameJson(left, right) {
    try {
      return equalBytes(canonicalJson(new Map([['', left]])), canonicalJson(new Map([['', right]])));
    } catch (exc) {
      if (exc instanceof LedgerError) return false;
      throw exc;
    }
  }
  /** EDDSA §3.3.2 step 4.1: the document's @context starts with the proof's, entry by entry. */
  function checkContextPrefix(documentContext, proofContext) {
    const documentEntries = asList(documentContext);
    const proofEntries = asList(proofContext);
    if (proofEntries.length <= documentEntries.length &&
        proofEntries.every((signed, i) => sameJson(signed, documentEntries[i]))) return;
    throw embeddedProofError(`the document's @context ${shortenJson(documentContext)} does not start with ` +
                             `the @context the proof signed, ${shortenJson(proofContext)}: contexts may only be appended after signing`);
  }

  /**
   * Verify one proof of `document` (DI "Verify Proof", EDDSA §3.3.2); resolve to its 32-byte
   * Ed25519 public key.  `proof` is one of embeddedProofs(document).  expectedProofPurpose
   * (default assertionMethod; null accepts any a did:key gives), now (POSIX seconds, BigInt or
   * number; null: `expires` is only checked for form).  Checks in vc.verify_embedded_proof's
   * order, the signature last; throws an EmbeddedProofError of the matching kind.
   */
  async function verifyEmbeddedProof(document, proof, { expectedProofPurpose = 'assertionMethod', now = null } = {}) {
    if (!embeddedProofs(document).includes(proof)) throw usageError("proof is not one of the document's embedded proofs");
    checkSuite(proof);  // 1
    for (const member of ['verificationMethod', 'proofPurpose', 'proofValue']) {  // 2
      if (!proof.has(member)) throw embeddedProofError(`the ${CRYPTOSUITE} proof has no ${member}`);
      if (typeof proof.get(member) !== 'string') {
        throw proofEncodingError(`the proof's ${member} is ${jsonType(proof.get(member))}; it must be a string`);
      }
    }
    if (proof.has('previousProof')) {
      throw embeddedProofError('the proof names a previousProof (a proof chain); proof chains are not supported, ' +
                               'so this proof cannot be verified');
    }

    const purpose = proof.get('proofPurpose');  // 3
    if (expectedProofPurpose !== null && purpose !== expectedProofPurpose) {
      throw embeddedProofError(`the proof's proofPurpose is ${quoteText(purpose)}; a credential's proof must be ` +
                               `${quoteText(expectedProofPurpose)}`);
    }
    if (!DID_KEY_PURPOSES.includes(purpose)) {
      throw embeddedProofError(`the proof's proofPurpose ${quoteText(purpose)} is not a relationship a did:key ` +
                               `gives an Ed25519 key (${[...DID_KEY_PURPOSES].sort().join(', ')})`);
    }

    if (proof.has('created')) proofDateTime(proof, 'created');  // 4
    if (proof.has('expires')) {
      const [seconds, fraction] = proofDateTime(proof, 'expires');
      if (now !== null && now !== undefined) {
        const at = BigInt(now);
        const whole = BigInt(seconds);
        // expires <= now, exactly: a fraction of a second puts it after `whole`.
        if (whole < at || (whole === at && !/[1-9]/.test(fraction))) {
          throw embeddedProofError(`the proof expired at ${proof.get('expires')}`);
        }
      }
    }

    const publicKey = publicKeyFromVerificationMethod(proof.get('verificationMethod'));  // 5
    const signature = decodeProofValue(proof.get('proofValue'));  // 6

    const unsecured = new Map(document);
    unsecured.delete('proof');
    const options = new Map(proof);
    options.delete('proofValue');
    if (options.has('@context')) {  // 7
      checkContextPrefix(document.has('@context') ? document.get('@context') : null, options.get('@context'));
      unsecured.set('@context', options.get('@context'));
    }

    // 8: canonicalising is the expensive part, and the signature check the last.  As in
    // hashing(transformation(...), proof_configuration(...)): the document first.
    const transformed = canonicalJson(unsecured);
    checkSuite(options);
    if (options.has('created')) proofDateTime(options, 'created');
    let configuration;
    try {
      configuration = canonicalJson(options);
    } catch (exc) {
      if (exc instanceof LedgerError && exc.kind === 'CredentialError') {
        throw proofEncodingError(`the proof cannot be canonicalised: ${exc.diagnostics()}`);
      }
      throw exc;
    }
    const hashData = concat(await sha256(configuration), await sha256(transformed));
    if (!(await ed25519Verify(publicKey, signature, hashData))) {
      throw proofSignatureError(`the ${CRYPTOSUITE} proof's signature does not verify under ${didKey(publicKey)}: ` +
                                'the document or the proof was changed after signing, or another key signed it');
    }
    return publicKey;
  }

  /** verify._proof_kind: type/cryptosuite of a proof, as a note names one it did not check. */
  function proofKind(proof) {
    const kind = proof.get('type');
    const suite = proof.get('cryptosuite');
    const name = typeof kind === 'string' ? kind : '(no type)';
    return typeof suite === 'string' ? `${name}/${suite}` : name;
  }

  // -- durations and dates (client/durations.py, client/verify.py) --------------------------------

  const UNIT_NAMES = [[86400, 'day'], [3600, 'hour'], [60, 'minute'], [1, 'second']];
  function describeDuration(seconds) {
    const [size, name] = UNIT_NAMES.find(([s]) => s <= Math.max(seconds, 1));
    const count = Math.floor(seconds / size);
    return count === 1 ? `${count} ${name}` : `${count} ${name}s`;
  }
  function describeAge(seconds) {
    seconds = Math.max(seconds, 0);
    const first = describeDuration(seconds);
    const i = UNIT_NAMES.findIndex(([s]) => s <= Math.max(seconds, 1));
    const size = UNIT_NAMES[i][0];
    const rest = seconds % size;
    if (rest === 0 || size === 1) return first;
    const [smaller, name] = UNIT_NAMES[i + 1];
    const count = Math.floor(rest / smaller);
    if (count === 0) return first;
    return `${first} ${count} ${name}${count === 1 ? '' : 's'}`;
  }
  const MIN_TIME = -62135596800;  // 0001-01-01T00:00:00Z
  const MAX_TIME = 253402300799;  // 9999-12-31T23:59:59Z
  function formatTime(timestamp) {
    const t = Number(timestamp);
    if (!(t >= MIN_TIME && t <= MAX_TIME)) return `@${timestamp}`;
    const iso = new Date(t * 1000).toISOString();  // +0YYYY-... for far years; handled below
    const m = /^([+-]?\d+)-(\d\d-\d\dT\d\d:\d\d:\d\d)/.exec(iso);
    return `${parseInt(m[1], 10)}-${m[2]}Z`;  // glibc's %Y: no zero padding
  }
  const formatDate = (timestamp) => formatTime(timestamp).slice(0, 10);
  const isoMs = (ms) => (ms === null ? null : formatTime(floorDiv(ms, 1000n)));
  const floorDiv = (a, b) => { const q = a / b; return (a % b !== 0n && (a < 0n) !== (b < 0n)) ? q - 1n : q; };
  const num = (v) => (v === null || v === undefined ? null : Number(v));

  // -- the steps a credential's and a pathway's bundle share (client/verify.py) ---------------------

  /** Step 4: the header leaf is the checkpoint's last leaf, proven by a tlog-proof that embeds the
   * same note as the event's, and decodes as the header of that tree. */
  async function proveHeader(checkpoint, header, proof, eventNote) {
    if (proof.checkpointNote !== eventNote) {
      throw stepFailed('header_proof and event_proof embed different checkpoint notes; both must carry the same cosigned checkpoint');
    }
    if (proof.index !== checkpoint.treeSize - 1n) {
      throw stepFailed(`the header leaf must be the last leaf, index ${checkpoint.treeSize - 1n}, of the checkpoint's tree; the proof is for index ${proof.index}`);
    }
    await verifyInclusion(await leafHash(header), proof.index, checkpoint.treeSize, proof.proof, checkpoint.root);
    const leaf = await decodeLeaf(header);
    if (leaf.type !== 'header') throw stepFailed(`the last leaf of the checkpoint is a ${leaf.kind} event, not a block header`);
    if (leaf.treeSize !== checkpoint.treeSize) {
      throw stepFailed(`the block header describes a tree of ${leaf.treeSize} leaves; the checkpoint has ${checkpoint.treeSize}`);
    }
    return leaf;
  }

  /** Step 5: RFC 9162 inclusion of the leaf at the proof's index; returns the leaf hash. */
  async function proveLeaf(checkpoint, leaf, proof) {
    const hash = await leafHash(leaf);
    await verifyInclusion(hash, proof.index, checkpoint.treeSize, proof.proof, checkpoint.root);
    return hash;
  }

  /** Membership of a record under the header's status root, then its decoding. */
  async function proveRecord(header, entry, key, what) {
    await verifyMembership(header.statusRoot, key, entry.value, entry.proof);
    try {
      return decodeRecord(entry.value);
    } catch (exc) {
      if (exc instanceof LedgerError) throw stepFailed(`${what} record: ${exc.diagnostics()}`);
      throw exc;
    }
  }

  /** Step 8: the issuer's record is in the status map, registered before the event at `index`,
   * not retired before it, and `signer` was its key at that index. */
  async function proveSignerStanding(header, entry, issuer, signer, index) {
    const record = await proveRecord(header, entry, await issuerStatusKey(issuer), 'issuer');
    if (record.type !== 'issuer' || record.issuer !== issuer) throw stepFailed(`the issuer status key of ${issuer} does not hold its record`);
    if (record.registered.index >= index) {
      throw stepFailed(`issuer ${issuer} was registered at index ${record.registered.index}, not before the event at ${index}`);
    }
    if (record.retired !== null && record.retired.index < index) {
      throw stepFailed(`issuer ${issuer} retired at index ${record.retired.index}, before the event at ${index}`);
    }
    if (!record.keyValidAt(signer, index)) {
      throw stepFailed(`the event's signer ${hex(signer)} was not a key of ${issuer} at index ${index}`);
    }
    return record;
  }

  // -- the verification (client/verify.py) ---------------------------------------------------------

  const STEPS = ['format', 'origin', 'checkpoint', 'block header', 'event inclusion', 'event', 'digest',
                 'issuer status', 'batch status', 'credential status', 'credential', 'block times'];
  const EXIT_CODES = { valid: 0, revoked: 3, invalid: 4, stale: 5, expired: 6, not_yet_valid: 6, complete: 0, incomplete: 7 };

  const label = (didText, identity) => `"${identity.name}" (${[...identity.ids, didText].join(', ')})`;

  /** Steps 2 to 5 of every kind of bundle (client.bundle_checks.SharedSteps); a subclass adds
   * step 1 (which sets this.bundle) and its own steps from 6 on. */
  class SharedSteps {
    constructor(trust, now, noun) {
      Object.assign(this, { trust, origin: trust.origin, now, noun, checkpointTime: null, eventLeafHash: null });
    }

    // Step 2
    originMatches() {
      if (this.bundle.origin !== this.origin) {
        throw stepFailed(`the ${this.noun} is for network ${reprStr(this.bundle.origin)}; the trust file is for ${reprStr(this.origin)}`);
      }
    }

    // Step 3
    async checkpointOpens() {
      const verified = await verifyCheckpoint(this.bundle.eventProof.checkpointNote, this.trust, this.now);
      this.checkpoint = verified.checkpoint;
      this.checkpointTime = verified.time;
    }

    // Step 4
    async headerIncluded() {
      this.header = await proveHeader(this.checkpoint, this.bundle.header, this.bundle.headerProof,
                                      this.bundle.eventProof.checkpointNote);
    }

    // Step 5 (its leaf hash is step 6's event hash: the leaf is hashed once)
    async eventIncluded() {
      this.eventLeafHash = await proveLeaf(this.checkpoint, this.bundle.event, this.bundle.eventProof);
    }
  }

  /** Run numbered steps in order: {number, exc} of the first that failed, or null
   * (client.bundle_checks.run_steps).  A missing WebCrypto is not a failed step: it propagates. */
  async function runSteps(steps) {
    for (let number = 1; number <= steps.length; number++) {
      try {
        await steps[number - 1]();
      } catch (exc) {
        if (exc instanceof LedgerError && exc.kind !== 'NoWebCrypto') return { number, exc };
        throw exc;
      }
    }
    return null;
  }

  class Verification extends SharedSteps {
    constructor(trust, options) {
      super(trust, options.now, 'bundle');
      this.options = options;
      this.anchor = null;
      this.credential = null;
      this.batchRecord = null;
      this.credentialRecord = null;
      this.namedIssuer = null;
      this.validity = null;
      this.revoked = null;
      this.issuedTimeMs = null;
      this.embeddedProof = null;  // 'verified', 'none' or 'not_checked' once step 11 read the file
      this.uncheckedProofs = [];
    }

    // Step 1
    format(data) { this.bundle = parseBundle(data); }

    // Steps 2 to 5: SharedSteps

    // Step 6
    async eventSigned() {
      const leaf = await decodeLeaf(this.bundle.event, this.eventLeafHash);
      if (leaf.type !== 'event') throw stepFailed('the event leaf is a block header, not an issuing event');
      if (leaf.kind !== 'credential.issue' && leaf.kind !== 'batch.anchor') {
        throw stepFailed(`the event is of kind ${leaf.kind}; a bundle needs the credential.issue or batch.anchor event that issued the credential`);
      }
      if (leaf.payload.issuer !== this.bundle.issuer) {
        throw stepFailed(`the event was made by issuer ${leaf.payload.issuer}, not the bundle's issuer ${this.bundle.issuer}`);
      }
      await verifyEventSignature(leaf, this.origin);
      this.event = leaf;
      this.anchor = leaf.kind === 'batch.anchor' ? leaf.payload : null;
    }

    // Step 7
    async digestCommitted() {
      const bundle = this.bundle;
      const payload = this.event.payload;
      const receipt = bundle.receipt;
      if (this.anchor === null) {
        if (receipt !== null) throw stepFailed("a directly issued credential's bundle carries no receipt");
        if (!equalBytes(payload.digest, bundle.credentialDigest)) {
          throw stepFailed(`the credential.issue event is for digest ${hex(payload.digest)}, not ${hex(bundle.credentialDigest)}`);
        }
      } else {
        if (receipt === null) throw stepFailed('the event anchors a batch but the bundle has no receipt');
        const mismatches = [
          ['origin', receipt.origin === bundle.origin],
          ['issuer', receipt.issuer === bundle.issuer],
          ['batch_id', receipt.batchId === payload.batchId],
          ['credential_digest', equalBytes(receipt.credentialDigest, bundle.credentialDigest)],
          ['anchor_event_hash', equalBytes(receipt.anchorEventHash, this.event.hash)],
        ].filter(([, same]) => !same).map(([name]) => name);
        if (mismatches.length) throw stepFailed('the receipt does not match the anchored batch: ' + mismatches.join(', ') + ' differ');
        await verifyReceipt(bundle.credentialDigest, receipt, payload.root, payload.size);
      }
      const credentialJson = this.options.credentialJson;
      if (credentialJson !== null) {
        let document;
        let computed;
        try {
          document = parseCredential(credentialJson);
          checkIjson(document);
          computed = await sha256(canonicalJson(document));
        } catch (exc) {
          if (exc instanceof LedgerError) throw stepFailed(`the credential file cannot be digested: ${exc.diagnostics()}`);
          throw exc;
        }
        if (!equalBytes(computed, bundle.credentialDigest)) {
          throw stepFailed(`the credential file's RFC 8785 digest is ${hex(computed)}, not the bundle's ${hex(bundle.credentialDigest)}: the file was changed after it was issued, or this bundle is for another credential`);
        }
        this.credential = document;
      }
    }

    async record(entry, key, what) { return proveRecord(this.header, entry, key, what); }

    // Step 8
    async issuerInGoodStanding() {
      const index = this.bundle.eventProof.index;
      const record = await proveSignerStanding(this.header, this.bundle.status.issuer, this.bundle.issuer,
                                               this.event.signer, index);
      this.issuerRecord = record;
      this.identity = record.identityAt(index);
    }

    // Step 9
    async batchRecorded() {
      const entry = this.bundle.status.batch;
      if (this.anchor === null) {
        if (entry !== null) throw stepFailed("a directly issued credential's bundle has no batch status");
        return;
      }
      if (entry === null) throw stepFailed('the bundle has no status proof for the anchored batch');
      const anchor = this.anchor;
      const record = await this.record(entry, await batchStatusKey(anchor.issuer, anchor.batchId), 'batch');
      if (record.type !== 'batch') throw stepFailed(`the status key of batch ${reprStr(anchor.batchId)} does not hold a batch record`);
      const index = this.bundle.eventProof.index;
      if (!equalBytes(record.root, anchor.root) || record.size !== anchor.size || record.anchored.index !== index) {
        throw stepFailed(`the status map records batch ${reprStr(anchor.batchId)} with another root, size or anchoring index than the event`);
      }
      this.batchRecord = record;
    }

    // Step 10
    async credentialRecorded() {
      const bundle = this.bundle;
      const entry = bundle.status.credential;
      const key = await credentialStatusKey(bundle.issuer, bundle.credentialDigest);
      if (entry.value === null) {
        if (this.anchor === null) throw stepFailed('a directly issued credential must have a status record');
        await verifyNonMembership(this.header.statusRoot, key, entry.proof);
        return;
      }
      const record = await this.record(entry, key, 'credential');
      if (record.type !== 'credential') throw stepFailed("the credential's status key does not hold a credential record");
      if (this.anchor === null) {
        const index = bundle.eventProof.index;
        if (record.issued === null || record.issued.index !== index) {
          throw stepFailed(`the status map does not record the credential as issued at index ${index}`);
        }
      }
      this.credentialRecord = record;
    }

    // Step 11
    async credentialClaims() {
      const didText = this.bundle.issuer;
      const allowed = new Set([didText, ...this.identity.ids]);
      const document = this.credential;
      if (document !== null) {
        const named = namedIssuer(document);
        if (named === null) {
          throw stepFailed("the credential names no issuer (an 'issuer' string or an object with an 'id'); nothing ties it to the ledger's issuer");
        }
        if (!allowed.has(named)) {
          throw stepFailed(`the credential names issuer ${named}, but it was put on the ledger by ${label(didText, this.identity)}, which governance had not given that identifier: another issuer's credential, or a forgery`);
        }
        this.namedIssuer = named;
        try {
          this.validity = validityPeriod(document);
        } catch (exc) {
          if (exc instanceof LedgerError) throw stepFailed(exc.diagnostics());
          throw exc;
        }
        await this.embeddedProofsVerify(document);
      }
      const expected = this.options.expectedIssuer;
      if (expected !== null && !allowed.has(expected)) {
        throw stepFailed(`you expected issuer ${expected}; this credential was issued by ${label(didText, this.identity)}`);
      }
    }

    /** The credential's own signature: every eddsa-jcs-2022 proof must verify by a key the
     * issuer held at the event; other proof types are named, not passed. */
    async embeddedProofsVerify(document) {
      let proofs;
      try {
        proofs = embeddedProofs(document);
      } catch (exc) {
        if (isEmbeddedProofError(exc)) throw stepFailed(`the credential's embedded proof: ${exc.diagnostics()}`);
        throw exc;
      }
      const index = this.bundle.eventProof.index;
      let verified = 0;
      for (const [number, proof] of proofs.entries()) {
        const where = proofs.length === 1 ? 'embedded proof' : `embedded proof ${number}`;
        let key;
        try {
          key = await verifyEmbeddedProof(document, proof, { now: this.options.now });
        } catch (exc) {
          if (exc instanceof LedgerError && exc.kind === 'UnsupportedProof') {
            this.uncheckedProofs.push(proofKind(proof));
            continue;
          }
          if (isEmbeddedProofError(exc)) throw stepFailed(`the credential's ${where} does not hold: ${exc.diagnostics()}`);
          throw exc;
        }
        if (!this.issuerRecord.keyValidAt(key, index)) {
          throw stepFailed(`the credential's ${where} is signed by ${didKey(key)}; ${this.whyNotAtEvent(key, index)}`);
        }
        verified++;
      }
      this.embeddedProof = verified ? 'verified' : this.uncheckedProofs.length ? 'not_checked' : 'none';
    }

    whyNotAtEvent(key, index) {
      const who = label(this.bundle.issuer, this.identity);
      const period = this.issuerRecord.keys.find((p) => equalBytes(p.publicKey, key));
      if (period === undefined) return `it was never a key of ${who}: another party's signature`;
      const that = didKey(key) === this.bundle.issuer ? "the issuer's original key (the one its did:key names)"
        : `that key of ${who}`;
      if (index < period.validFrom) {
        return `${that} only came into force at log index ${period.validFrom}, after the event (index ${index})`;
      }
      return `${that} was rotated out at log index ${period.validUntil - 1n}, before the event (index ${index})`;
    }

    // Step 12
    async blockTimes() {
      const index = this.bundle.eventProof.index;
      const issuedHeight = this.batchRecord !== null ? this.batchRecord.anchored.height : this.credentialRecord.issued.height;
      const revoked = this.earliestRevocation();
      const needed = this.datedHeights(index);
      const headers = new Map();
      for (const included of this.bundle.blockHeaders) {
        const header = await this.includedHeader(included);
        headers.set(header.height, header);
      }
      const sortBig = (xs) => xs.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      const have = sortBig(Array.from(headers.keys()));
      const want = sortBig(Array.from(needed));
      if (have.length !== want.length || have.some((h, i) => h !== want[i]) || this.bundle.blockHeaders.length !== want.length) {
        throw stepFailed(`the bundle must carry exactly the headers of blocks [${want.join(', ')}] (the issuing event's and its revocation's); it carries [${have.join(', ')}]`);
      }
      this.issuedTimeMs = this.timeOf(headers.get(issuedHeight), index, 'issuing event');
      if (revoked !== null) revoked.timeMs = this.timeOf(headers.get(revoked.height), revoked.index, 'revocation');
      this.revoked = revoked;
    }

    datedHeights(eventIndex) {
      let issued = null;
      const revocations = [];
      if (this.batchRecord !== null) issued = this.batchRecord.anchored.height;
      else if (this.credentialRecord !== null && this.credentialRecord.issued !== null) issued = this.credentialRecord.issued.height;
      for (const record of [this.credentialRecord, this.batchRecord]) {
        if (record !== null && record.revoked !== null) revocations.push([record.revoked.position.index, record.revoked.position.height]);
      }
      const voided = this.issuerRecord.voidedBy(eventIndex);
      if (voided !== null) revocations.push([voided.position.index, voided.position.height]);
      const out = new Set([issued]);
      if (revocations.length) {
        revocations.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
        out.add(revocations[0][1]);
      }
      return out;
    }

    async includedHeader(included) {
      const checkpoint = this.checkpoint;
      if (included.index >= checkpoint.treeSize) {
        throw stepFailed(`a block header claims index ${included.index}, outside the checkpoint's tree of ${checkpoint.treeSize}`);
      }
      await verifyInclusion(await leafHash(included.leaf), included.index, checkpoint.treeSize, included.auditPath, checkpoint.root);
      const leaf = await decodeLeaf(included.leaf);
      if (leaf.type !== 'header' || leaf.index !== included.index) {
        throw stepFailed(`the leaf at index ${included.index} is not the block header it claims to be`);
      }
      return leaf;
    }

    timeOf(header, index, what) {
      if (!(header.firstIndex <= index && index < header.index)) {
        throw stepFailed(`block ${header.height} holds log indices ${header.firstIndex}..${header.index - 1n}, not the ${what} at ${index}`);
      }
      return header.timeMs;
    }

    earliestRevocation() {
      const found = [];
      for (const [scope, record] of [['credential', this.credentialRecord], ['batch', this.batchRecord]]) {
        const revoked = record === null ? null : record.revoked;
        if (revoked !== null) {
          found.push({ scope, index: revoked.position.index, height: revoked.position.height,
                       reasonCode: revoked.reason, byGovernance: revoked.byGovernance, timeMs: null });
        }
      }
      const compromise = this.issuerRecord.voidedBy(this.bundle.eventProof.index);
      if (compromise !== null) {
        found.push({ scope: 'issuer', index: compromise.position.index, height: compromise.position.height,
                     reasonCode: 1, byGovernance: true, timeMs: null });
      }
      let best = null;
      for (const item of found) if (best === null || item.index < best.index) best = item;
      return best;
    }

    issuerInfo() {
      const record = this.issuerRecord;
      const compromise = record.compromise;
      return {
        did: record.issuer, name: this.identity.name, ids: [...this.identity.ids], standing: record.standing,
        current_name: record.name,
        retired_at_index: record.retired === null ? null : num(record.retired.index),
        compromised_since_index: compromise === null ? null : num(compromise.sinceIndex),
      };
    }
  }

  function issuerLabel(issuer, shownId) {
    const ids = issuer.ids.includes(shownId) ? [shownId] : issuer.ids;
    return `"${issuer.name}" (${[...ids, issuer.did].join(', ')})`;
  }

  function emptyVerdict() {
    return {
      status: null, message: null, notes: [], step: null, step_name: null, issuer: null,
      credential_digest: null, credential_checked: false, embedded_proof: null, batch_id: null, event_index: null,
      issued_at: null, checkpoint: null, max_age_seconds: null, validity: null, revocation: null,
    };
  }

  function invalidVerdict(check, number, exc) {
    const name = STEPS[number - 1];
    const bundle = number > 1 ? check.bundle : null;
    const verdict = emptyVerdict();
    verdict.status = 'invalid';
    verdict.message = `invalid: step ${number} (${name}): ${exc.diagnostics()}`;
    verdict.step = number;
    verdict.step_name = name;
    if (number > 8) verdict.issuer = check.issuerInfo();
    else if (bundle !== null) {
      verdict.issuer = { did: bundle.issuer, name: null, ids: [], standing: null, current_name: null,
                         retired_at_index: null, compromised_since_index: null };
    }
    verdict.credential_digest = bundle === null ? null : hex(bundle.credentialDigest);
    verdict.credential_checked = check.options.credentialJson !== null;
    return verdict;
  }

  function outcome(check) {
    const options = check.options;
    const bundle = check.bundle;
    const treeSize = check.checkpoint.treeSize;
    const issuer = check.issuerInfo();
    const notes = [];
    const now = options.now;
    const checkpointTime = check.checkpointTime;
    const age = now === null ? null : Number(now - checkpointTime) > 0 ? Number(now - checkpointTime) : 0;

    const who = issuerLabel(issuer, check.namedIssuer);
    const subject = options.credentialJson !== null ? 'this credential'
      : `the credential with digest ${hex(bundle.credentialDigest).slice(0, 16)}…`;
    const issuedOn = formatDate(floorDiv(check.issuedTimeMs, 1000n));
    let asOf = `as of checkpoint ${treeSize} (${formatTime(checkpointTime)}`;
    asOf += age === null ? ')' : `, ${describeAge(age)} old)`;

    const unchecked = check.uncheckedProofs.join(', ');
    const proofsWere = check.uncheckedProofs.length === 1 ? `proof of type ${unchecked} was` : `proofs of type ${unchecked} were`;
    if (check.embeddedProof === 'none') {
      notes.push("the credential carries no embedded proof: its own signature was not checked (the ledger's record of its digest was)");
    } else if (check.embeddedProof === 'not_checked') {
      notes.push(`the credential's embedded ${proofsWere} not checked: only eddsa-jcs-2022 Data Integrity proofs are`);
    } else if (check.uncheckedProofs.length) {
      notes.push(`the credential's own eddsa-jcs-2022 signature was verified (the issuer's key at the event); its ${proofsWere} not checked`);
    } else if (check.embeddedProof === 'verified') {
      notes.push("the credential's own eddsa-jcs-2022 signature was verified (the issuer's key at the event)");
    }
    if (options.credentialJson === null) {
      notes.push(`the credential file was not checked: this verdict is about digest ${hex(bundle.credentialDigest)}, ` +
                 "whatever file is shown, and that file's issuer and dates were not compared with the ledger's");
    }
    const statements = check.issuerRecord.compromises;
    if (statements.length) {
      // Every statement, newest first: each one's reason stays readable.
      const said = [...statements].reverse().map((c) => `from log index ${c.sinceIndex} (at index ` +
                                                 `${c.position.index}: ${c.reason || 'no reason given'})`).join('; then ');
      notes.push(`governance declared this issuer's key compromised ${said}; credentials issued before index ` +
                 `${statements[statements.length - 1].sinceIndex} keep their verdict`);
    } else if (issuer.retired_at_index !== null) {
      notes.push(`the issuer retired at log index ${issuer.retired_at_index}; credentials it issued before keep their verdict`);
    }
    if (issuer.current_name !== issuer.name) notes.push(`the issuer is now called "${issuer.current_name}"`);

    const moment = options.at !== null ? options.at : now;
    const validity = check.validity;
    let dated = null;
    if (validity !== null && moment !== null) {
      const period = validityStatusAt(validity, Number(moment));
      dated = period === 'valid' ? null : period;
    } else if (validity !== null) {
      notes.push("the credential's validity dates were not checked: no clock was given");
    }
    if (validity !== null && options.at !== null) {
      notes.push(`the credential's validity dates were checked at ${formatTime(options.at)}, not now`);
    }

    const maxAge = options.maxAge;
    let stale = false;
    if (maxAge === null) notes.push("the checkpoint's age was not bounded: a revocation after it would not show");
    else if (age === null) notes.push("the checkpoint's age was not checked: no clock was given");
    else if (age > maxAge) stale = true;

    const revoked = check.revoked;
    let status;
    let message;
    if (revoked !== null) {
      status = 'revoked';
      const scope = { credential: '', batch: ' with its whole batch', issuer: " because the issuer's key was compromised" }[revoked.scope];
      const when = revoked.timeMs === null ? '' : ` on ${formatDate(floorDiv(revoked.timeMs, 1000n))}`;
      const originLine = revoked.scope === 'issuer' ? `it was put on the ledger with the key of ${who} on ${issuedOn}`
        : `${who} issued ${subject} on ${issuedOn}`;
      message = `revoked${when} by ${revoked.byGovernance ? 'governance' : 'issuer'}${scope} (${REASONS[revoked.reasonCode]}, ` +
                `log index ${revoked.index}); ${originLine}; ${asOf}`;
    } else if (dated !== null) {
      status = dated;
      const what = dated === 'expired' ? `expired on ${formatTime(validity.validUntil)}`
        : `is not valid until ${formatTime(validity.validFrom)}`;
      message = `${dated.replace('_', ' ').replace('_', ' ')}: the credential ${what} (checked at ${formatTime(moment)}); ` +
                `${who} issued it on ${issuedOn}, not revoked ${asOf}`;
    } else if (stale) {
      status = 'stale';
      const allows = options.maxAgeFromTrust ? 'this network allows' : 'this check allows';
      message = `stale: checkpoint ${treeSize} is ${describeAge(age)} old; ${allows} ${describeDuration(maxAge)}. ` +
                `As of then: ${who} issued ${subject} on ${issuedOn}, not revoked`;
      notes.push('a newer checkpoint is needed: refresh the bundle from a node that is up to date');
    } else {
      status = 'valid';
      message = `valid: ${who} issued ${subject} on ${issuedOn}; not revoked ${asOf}`;
    }
    const verdict = emptyVerdict();
    Object.assign(verdict, {
      status, message, notes, issuer,
      credential_digest: hex(bundle.credentialDigest),
      credential_checked: options.credentialJson !== null,
      embedded_proof: check.embeddedProof,
      batch_id: check.anchor === null ? null : check.anchor.batchId,
      event_index: num(bundle.eventProof.index),
      issued_at: isoMs(check.issuedTimeMs),
      checkpoint: {
        tree_size: num(treeSize), time: num(checkpointTime), time_utc: formatTime(checkpointTime),
        age_seconds: age, signatures_checked: true,
      },
      max_age_seconds: maxAge,
      validity: validity === null || (moment === null && validity.validFrom === null &&
                                      validity.validUntil === null) ? null : {
        valid_from: validity.validFrom === null ? null : formatTime(validity.validFrom),
        valid_until: validity.validUntil === null ? null : formatTime(validity.validUntil),
        checked_at: moment === null ? null : formatTime(moment),
      },
      revocation: revoked === null ? null : {
        scope: revoked.scope, event_index: num(revoked.index), height: num(revoked.height),
        reason: REASONS[revoked.reasonCode], reason_code: revoked.reasonCode,
        by: revoked.byGovernance ? 'governance' : 'issuer', revoked_at: isoMs(revoked.timeMs),
      },
    });
    return verdict;
  }

  async function run(data, check) {
    const steps = [
      () => check.format(data), () => check.originMatches(), () => check.checkpointOpens(),
      () => check.headerIncluded(), () => check.eventIncluded(), () => check.eventSigned(),
      () => check.digestCommitted(), () => check.issuerInGoodStanding(), () => check.batchRecorded(),
      () => check.credentialRecorded(), () => check.credentialClaims(), () => check.blockTimes(),
    ];
    const failed = await runSteps(steps);
    return failed === null ? outcome(check) : invalidVerdict(check, failed.number, failed.exc);
  }

  const optionalInt = (v, what) => {
    if (v === null || v === undefined) return null;
    if (typeof v === 'bigint') return v;
    if (!Number.isInteger(v)) throw usageError(`${what} must be a whole number of seconds`);
    return BigInt(v);
  };

  /**
   * Verify a proof bundle offline, as client.verify.verify_bundle does.
   *
   * bundleText, trustText, credentialText: strings, Uint8Arrays or ArrayBuffers (the files'
   * bytes); credentialText null with {digestOnly: true} checks the bundle alone.  Options:
   * now (POSIX seconds; default null, no clock; also when a proof's `expires` is checked),
   * maxAge (seconds; undefined: the trust file's; null: unbounded), at (POSIX seconds for the
   * credential's dates), expectedIssuer, digestOnly.  The credential file's embedded
   * eddsa-jcs-2022 proofs are always checked (step 11), as in Python.
   * Resolves to the verdict with the fields of Verdict.as_json(); rejects for a bad trust
   * file, bad options or a page without WebCrypto.
   */
  async function verify(bundleText, trustText, credentialText, options = {}) {
    const digestOnly = Boolean(options.digestOnly);
    const hasCredential = credentialText !== null && credentialText !== undefined;
    if (!hasCredential && !digestOnly) throw usageError('give the credential file, or digest_only=True to check the bundle alone');
    if (hasCredential && digestOnly) throw usageError('give either the credential file or digest_only=True, not both');
    subtle();
    const trust = typeof trustText === 'object' && trustText !== null && trustText.known ? trustText : await parseTrust(trustText);
    const maxAgeFromTrust = options.maxAge === undefined;
    const maxAge = maxAgeFromTrust ? trust.maxAgeSeconds : options.maxAge === null ? null : Number(options.maxAge);
    const check = new Verification(trust, {
      credentialJson: hasCredential ? toBytes(credentialText) : null,
      digestOnly,
      now: optionalInt(options.now, 'now'),
      maxAge,
      maxAgeFromTrust,
      at: optionalInt(options.at, 'at'),
      expectedIssuer: options.expectedIssuer === undefined ? null : options.expectedIssuer,
    });
    return run(toBytes(bundleText), check);
  }

  /** Verify many cases in one call (for tests): [{bundle, trust, credential, options}]. */
  async function verifyMany(cases) {
    const trusts = new Map();
    const out = [];
    for (const c of cases) {
      try {
        let trust = trusts.get(c.trust);
        if (trust === undefined) { trust = await parseTrust(c.trust); trusts.set(c.trust, trust); }
        out.push(await verify(c.bundle, trust, c.credential, c.options || {}));
      } catch (exc) {
        out.push({ error: exc instanceof LedgerError ? exc.diagnostics() : String(exc) });
      }
    }
    return out;
  }

  // -- pathways: definition documents and pathway bundles (client/pathway.py) ----------------------

  const MAX_PATHWAY_BUNDLE_SIZE = 256 * 1024;
  const MAX_DEFINITION_SIZE = 64 * 1024;
  const MAX_REQUIREMENTS = 32;
  const MAX_ALIGNMENTS = 16;
  const MAX_SPAN_DAYS = 36500n;
  const MAX_TEXT = 200;
  const MAX_URL = 500;
  const MAX_ISSUER_ID_LENGTH = 200;
  const DAY_MS = 86400000n;
  const PATHWAY_STEPS = ['format', 'origin', 'checkpoint', 'block header', 'event inclusion', 'event',
                         'definition', 'owner status', 'pathway status'];
  const definitionError = (m) => new LedgerError(m, 'DefinitionError');
  const pathwayBundleFormatError = (m) => new LedgerError(m, 'PathwayBundleFormatError');
  const pattern = (re) => ({ re, text: re.source });
  const DEFINITION_PATTERNS = {
    id: pattern(PATHWAY_ID_PATTERN),
    issuer: pattern(ISSUER_ID_PATTERN),
    achievement: pattern(/^[\x21-\x7e]+$/),
    targetUrl: pattern(/^https?:\/\/[\x21-\x7e]+$/),
  };
  const PATTERN_MESSAGES = {
    id: 'must be an https URL of printable ASCII without spaces',
    pathway_id: 'must be an https URL of printable ASCII without spaces',
    issuer: "must be the issuer's did:key, an https URL or a DID (did:method:id)",
    achievement: 'must be printable ASCII without spaces (an achievement id or a VC type)',
    targetUrl: 'must be an http or https URL of printable ASCII without spaces',
  };
  const has = (object, key) => Object.prototype.hasOwnProperty.call(object, key);

  // The closed models of client/pathway.py, strict, as pydantic reports them: each check
  // answers null or [message, type]; a model's fields are checked in order, then its extra
  // members; a list longer than allowed reports only that.
  const P = {
    str(min, max, re) {
      return (v) => {
        if (typeof v !== 'string') return ['Input should be a valid string', 'type'];
        const n = codePoints(v).length;
        if (n < min) return [`String should have at least ${min} ${plural(min, 'character')}`, 'length'];
        if (n > max) return [`String should have at most ${max} ${plural(max, 'character')}`, 'length'];
        if (re && !re.re.test(v)) return [`String should match pattern '${re.text}'`, 'pattern'];
        return null;
      };
    },
    int(ge, le) {
      return (v) => {
        if (typeof v !== 'bigint') return ['Input should be a valid integer', 'type'];
        if (v < ge) return [`Input should be greater than or equal to ${ge}`, 'range'];
        if (v > le) return [`Input should be less than or equal to ${le}`, 'range'];
        return null;
      };
    },
    literal(value) { return (v) => (v === value ? null : [`Input should be '${value}'`, 'literal']); },
    dict() { return (v) => (v instanceof Map ? null : ['Input should be a valid dictionary', 'type']); },
  };
  function pdModel(spec, value, loc, errors) {
    if (!(value instanceof Map)) {
      errors.push([loc, `Input should be a valid dictionary or instance of ${spec.name}`, 'type']);
      return;
    }
    for (const [name, field] of spec.fields) {
      const here = [...loc, name];
      if (!value.has(name)) {
        if (!field.optional) errors.push([here, 'Field required', 'missing']);
        continue;
      }
      pdField(field, value.get(name), here, errors);
    }
    for (const key of value.keys()) {
      if (!spec.fields.some(([name]) => name === key)) errors.push([[...loc, key], 'Extra inputs are not permitted', 'extra']);
    }
  }
  function pdField(field, v, loc, errors) {
    if (field.custom) { field.custom(v, loc, errors); return; }
    if (field.nullable && v === null) return;
    if (field.model) { pdModel(field.model, v, loc, errors); return; }
    if (field.list) {
      if (!Array.isArray(v)) { errors.push([loc, 'Input should be a valid list', 'type']); return; }
      if (field.maxItems !== undefined && v.length > field.maxItems) {
        errors.push([loc, `List should have at most ${field.maxItems} ${plural(field.maxItems, 'item')} after validation, not ${v.length}`, 'length']);
        return;
      }
      v.forEach((item, i) => pdField(field.list, item, [...loc, i], errors));
      if (field.minItems !== undefined && v.length < field.minItems) {
        errors.push([loc, `List should have at least ${field.minItems} ${plural(field.minItems, 'item')} after validation, not ${v.length}`, 'length']);
      }
      return;
    }
    const problem = field.check(v);
    if (problem) errors.push([loc, ...problem]);
  }
  /** pathway._location: requirements[0].alignment[1].targetUrl; the rule's tag is not shown. */
  function pathwayLocation(loc) {
    let text = '';
    loc.forEach((part, n) => {
      if (typeof part === 'number') text += `[${part}]`;
      else if (n && loc[n - 1] === 'rule' && (part === 'all_of' || part === 'at_least')) return;
      else text += text ? `.${part}` : part;
    });
    return text || '(top level)';
  }
  /** pathway._describe: one clause per problem, each naming the member. */
  function describePathwayErrors(errors, what) {
    return errors.map(([loc, message, type]) => {
      const last = [...loc].reverse().find((p) => typeof p === 'string') || '';
      let text = message;
      if (type === 'extra') text = `is not a member of ${what} (docs/protocol.md §17)`;
      else if (type === 'missing') text = 'is required';
      else if (type === 'pattern' && has(PATTERN_MESSAGES, last)) text = PATTERN_MESSAGES[last];
      return `${pathwayLocation(loc)}: ${text}`;
    }).join('; ');
  }

  const isTrue = (v) => v === true || v === 1n || (v instanceof PyDecimal && Number(v.toString()) === 1);
  const ALIGNMENT_MODEL = {
    name: 'Alignment',
    fields: [['targetFramework', { check: P.str(1, MAX_TEXT) }], ['targetCode', { check: P.str(1, MAX_TEXT) }],
             ['targetName', { check: P.str(1, MAX_TEXT) }],
             ['targetUrl', { check: P.str(1, MAX_URL, DEFINITION_PATTERNS.targetUrl) }]],
  };
  const REQUIREMENT_MODEL = {
    name: 'Requirement',
    fields: [
      ['issuer', { check: P.str(1, MAX_ISSUER_ID_LENGTH, DEFINITION_PATTERNS.issuer) }],
      ['achievement', { check: P.str(1, MAX_URL, DEFINITION_PATTERNS.achievement) }],
      ['min_result', { custom(v, loc, errors) {  // a JSON number or null, never a boolean
        if (!(v === null || typeof v === 'bigint' || v instanceof PyDecimal)) errors.push([loc, 'must be a JSON number or null', 'value']);
      } }],
      ['alignment', { list: { model: ALIGNMENT_MODEL }, maxItems: MAX_ALIGNMENTS }],
    ],
  };
  const RULE_MODELS = {
    all_of: { name: 'AllOf', fields: [['all_of', { check: (v) => (isTrue(v) ? null : ['Input should be True', 'literal']) }]] },
    at_least: { name: 'AtLeast', fields: [['at_least', { check: P.int(1n, BigInt(MAX_REQUIREMENTS)) }]] },
  };
  const DEFINITION_MODEL = {
    name: 'PathwayDefinition',
    fields: [
      ['id', { check: P.str(1, MAX_PATHWAY_ID_LENGTH, DEFINITION_PATTERNS.id) }],
      ['name', { check: P.str(1, MAX_TEXT) }],
      ['version', { check: P.int(1n, MAX_PATHWAY_VERSION) }],
      ['owner', { optional: true, custom(v, loc, errors) {
        if (v === null) { errors.push([loc, 'omit the member rather than give null', 'value']); return; }
        if (typeof v === 'string') {
          const problem = didProblem(v);
          if (problem) { errors.push([loc, problem, 'value']); return; }
        }
        const other = P.str(1, MAX_DID_LENGTH)(v);
        if (other) errors.push([loc, ...other]);
      } }],
      ['rule', { custom(v, loc, errors) {
        const tag = v instanceof Map ? (v.has('all_of') ? 'all_of' : v.has('at_least') ? 'at_least' : null) : null;
        if (tag === null) errors.push([loc, 'must be {"all_of": true} or {"at_least": N}', 'rule']);
        else pdModel(RULE_MODELS[tag], v, [...loc, tag], errors);
      } }],
      ['max_span_days', { nullable: true, check: P.int(1n, MAX_SPAN_DAYS) }],
      ['requirements', { list: { model: REQUIREMENT_MODEL }, minItems: 1, maxItems: MAX_REQUIREMENTS }],
    ],
  };

  /** pathway.check_definition: the closed schema of docs/protocol.md §17.1 over a parsed
   * document; the model, its numbers as the document has them (BigInt or PyDecimal). */
  function checkDefinition(document, what = 'definition') {
    const errors = [];
    pdModel(DEFINITION_MODEL, document, [], errors);
    if (!errors.length) {
      const rule = document.get('rule');
      const count = document.get('requirements').length;
      if (rule.has('at_least') && !rule.has('all_of') && rule.get('at_least') > BigInt(count)) {
        errors.push([[], `rule.at_least is ${rule.get('at_least')} but there are only ${count} requirements`, 'value']);
      }
    }
    if (errors.length) throw definitionError(`${what}: ${describePathwayErrors(errors, 'a pathway definition')}`);
    const rule = document.get('rule');
    const allOf = rule.has('all_of');
    const requirements = document.get('requirements').map((r) => ({
      issuer: r.get('issuer'), achievement: r.get('achievement'), minResult: r.get('min_result'),
      alignment: r.get('alignment').map((a) => ({
        targetFramework: a.get('targetFramework'), targetCode: a.get('targetCode'),
        targetName: a.get('targetName'), targetUrl: a.get('targetUrl'),
      })),
    }));
    return {
      id: document.get('id'), name: document.get('name'), version: document.get('version'),
      owner: document.has('owner') ? document.get('owner') : null,
      allOf, atLeast: allOf ? null : rule.get('at_least'),
      maxSpanDays: document.get('max_span_days'), requirements,
      needed: allOf ? requirements.length : Number(rule.get('at_least')),
    };
  }

  /** pathway.digest_definition: SHA-256 of the RFC 8785 form (numbers exact, I-JSON). */
  async function digestDefinition(document, what = 'definition') {
    let canonical;
    try {
      canonical = canonicalJson(document);
    } catch (exc) {
      if (exc instanceof LedgerError && exc.kind === 'CredentialError') {
        throw definitionError(`${what}: ${exc.diagnostics().split('credential').join('definition')}`);
      }
      throw exc;
    }
    return sha256(canonical);
  }

  /** pathway.parse_definition: a definition file (what `vcledger pathway define` reads): the
   * size cap, strict JSON, I-JSON numbers (the digest), then the closed schema.
   * {model, digest} or a DefinitionError naming the member. */
  async function parseDefinition(data, what = 'definition') {
    let document;
    try {
      document = loadsStrict(toBytes(data), what, MAX_DEFINITION_SIZE, { parseFloat: (text) => PyDecimal.parse(text) });
      if (!(document instanceof Map)) throw definitionError(`${what}: a pathway definition is a JSON object`);
    } catch (exc) {
      if (exc instanceof LedgerError && exc.kind !== 'DefinitionError') {
        const message = exc.diagnostics();
        throw definitionError(message.startsWith(what) ? message : `${what}: ${message}`);
      }
      throw exc;
    }
    const digest = await digestDefinition(document, what);
    return { model: checkDefinition(document, what), document, digest };
  }

  const PATHWAY_BUNDLE_MODEL = {
    name: '_PathwayBundleModel',
    fields: [
      ['format', { check: P.literal('vcledger-pathway-bundle/v1') }],
      ['origin', { check: P.str(1, 255) }],
      ['owner', { check: P.str(1, MAX_DID_LENGTH) }],
      ['pathway_id', { check: P.str(1, MAX_PATHWAY_ID_LENGTH) }],
      ['definition', { check: P.dict() }],
      ['event', { check: P.str(4, b64len(MAX_LEAF_SIZE)) }],
      ['event_proof', { check: P.str(1, MAX_TLOG_PROOF_SIZE) }],
      ['header', { check: P.str(4, b64len(MAX_LEAF_SIZE)) }],
      ['header_proof', { check: P.str(1, MAX_TLOG_PROOF_SIZE) }],
      ['status', { model: { name: '_PathwayStatusModel', fields: [
        ['owner', { model: { name: '_StatusEntryModel', fields: [
          ['value', { check: P.str(4, b64len(MAX_RECORD_SIZE)), nullable: true }],
          ['proof', { check: P.str(2, 2 * MAX_SMT_PROOF_SIZE) }]] } }],
        ['pathway', { model: { name: '_StatusEntryModel', fields: [
          ['value', { check: P.str(4, b64len(MAX_RECORD_SIZE)), nullable: true }],
          ['proof', { check: P.str(2, 2 * MAX_SMT_PROOF_SIZE) }]] } }]] } }],
    ],
  };

  /** pathway.parse_pathway_bundle: strict; verifies nothing (the definition is read at step 7). */
  function parsePathwayBundle(data, what = 'pathway bundle') {
    let document;
    try {
      document = loadsStrict(data, what, MAX_PATHWAY_BUNDLE_SIZE, { parseFloat: (text) => PyDecimal.parse(text) });
    } catch (exc) {
      if (exc instanceof LedgerError) throw pathwayBundleFormatError(`${what}: ${exc.diagnostics()}`);
      throw exc;
    }
    const errors = [];
    pdModel(PATHWAY_BUNDLE_MODEL, document, [], errors);
    if (errors.length) throw pathwayBundleFormatError(`${what}: ${describePathwayErrors(errors, 'a pathway bundle')}`);
    try {
      const m = document;
      publicKeyFromDid(m.get('owner'));
      if (!PATHWAY_ID_PATTERN.test(m.get('pathway_id'))) {
        throw pathwayBundleFormatError(`pathway_id ${reprStr(m.get('pathway_id'))} is not an https URL`);
      }
      const tlog = (text, name) => {
        const proof = parseTlogProof(text);
        if (proof.extra !== null) throw bundleFormatError(`${name} has an 'extra' line; bundles carry no extra data`);
        return proof;
      };
      const entry = (model, name) => {
        if (model.get('value') === null) throw bundleFormatError(`${name}: value is null; this proof must show a record`);
        const value = decodeBase64(model.get('value'), `${name} value`);
        return { value, proof: smtFromHex(model.get('proof')) };
      };
      const event = decodeBase64(m.get('event'), 'event');
      const eventProof = tlog(m.get('event_proof'), 'event_proof');
      const header = decodeBase64(m.get('header'), 'header');
      const headerProof = tlog(m.get('header_proof'), 'header_proof');
      const status = m.get('status');
      return {
        origin: m.get('origin'), owner: m.get('owner'), pathwayId: m.get('pathway_id'),
        definition: m.get('definition'), event, eventProof, header, headerProof,
        status: { owner: entry(status.get('owner'), 'status.owner'), pathway: entry(status.get('pathway'), 'status.pathway') },
      };
    } catch (exc) {
      if (exc instanceof LedgerError && exc.kind !== 'PathwayBundleFormatError') {
        throw pathwayBundleFormatError(`${what}: ${exc.diagnostics()}`);
      }
      throw exc;
    }
  }

  // What requirements are matched on (pathway.subject_id, credential_achievements, best_result).

  function subjectId(credential) {
    const subject = credential.get('credentialSubject');
    if (subject instanceof Map) {
      const value = subject.get('id');
      return typeof value === 'string' ? value : null;
    }
    return null;
  }
  function credentialAchievements(credential) {
    const found = [];
    const subject = credential.get('credentialSubject');
    if (subject instanceof Map) {
      const achievement = subject.get('achievement');
      if (achievement instanceof Map && typeof achievement.get('id') === 'string') found.push(achievement.get('id'));
    }
    const kinds = credential.get('type');
    for (const kind of Array.isArray(kinds) ? kinds : [kinds]) if (typeof kind === 'string') found.push(kind);
    return found;
  }
  // str.isspace(): what Python's str.strip() removes.
  const PY_SPACES = new Set(Array.from('\t\n\v\f\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000'));
  function pyStrip(text) {
    const cps = codePoints(text);
    let start = 0;
    let end = cps.length;
    while (start < end && PY_SPACES.has(cps[start])) start++;
    while (end > start && PY_SPACES.has(cps[end - 1])) end--;
    return cps.slice(start, end).join('');
  }
  const DECIMAL_TEXT = /^([+-]?)(?:([0-9]+)(?:\.([0-9]*))?|\.([0-9]+))$/;
  /** An exact number as [sign, significant digits, exponent] (normalDecimal's form). */
  function exactNumber(value) {
    if (typeof value === 'bigint') return normalDecimal(value < 0n ? 1 : 0, (value < 0n ? -value : value).toString(), 0);
    if (value instanceof PyDecimal) return value.normal();
    const m = DECIMAL_TEXT.exec(value);
    const whole = m[2] !== undefined ? m[2] : '';
    const fraction = m[2] !== undefined ? (m[3] || '') : m[4];
    return normalDecimal(m[1] === '-' ? 1 : 0, (whole + fraction) || '0', -fraction.length);
  }
  function compareExact(a, b) {
    const zeroA = a[1] === '0';
    const zeroB = b[1] === '0';
    if (zeroA || zeroB) {
      if (zeroA && zeroB) return 0;
      return zeroA ? (b[0] ? 1 : -1) : (a[0] ? -1 : 1);
    }
    if (a[0] !== b[0]) return a[0] ? -1 : 1;
    const magnitude = (() => {
      const ea = a[1].length + a[2];
      const eb = b[1].length + b[2];
      if (ea !== eb) return ea < eb ? -1 : 1;
      const n = Math.max(a[1].length, b[1].length);
      const x = a[1].padEnd(n, '0');
      const y = b[1].padEnd(n, '0');
      return x < y ? -1 : x > y ? 1 : 0;
    })();
    return a[0] ? -magnitude : magnitude;
  }
  /** The largest numeric credentialSubject.result[].value (a JSON number, or a string that is a
   * plain decimal number), or null. */
  function bestResult(credential) {
    const subject = credential.get('credentialSubject');
    let results = subject instanceof Map ? subject.get('result') : undefined;
    if (results instanceof Map) results = [results];
    if (!Array.isArray(results)) return null;
    let best = null;
    for (const result of results) {
      const value = result instanceof Map ? result.get('value') : undefined;
      let number = null;
      if (typeof value === 'bigint' || value instanceof PyDecimal) number = exactNumber(value);
      else if (typeof value === 'string' && DECIMAL_TEXT.test(pyStrip(value))) number = exactNumber(pyStrip(value));
      if (number !== null && (best === null || compareExact(number, best) > 0)) best = number;
    }
    return best;
  }
  /** _number: an exact number as the JSON (a double) and the text Python prints: an integer
   * in full, anything else as the repr of its double. */
  function shownNumber(exact) {
    const [sign, digits, exp] = exact;
    if (digits === '0') return { value: 0, text: '0' };
    if (exp >= 0) {
      const text = (sign ? '-' : '') + digits + '0'.repeat(exp);
      return { value: Number(text), text };
    }
    const value = Number(`${sign ? '-' : ''}${digits}e${exp}`);
    return { value, text: pythonFloatRepr(value) };
  }
  /** pathway_verdict._json_number: a result in the verdict's JSON, the double a JSON reader
   * makes of it, null beyond the double range. */
  function jsonNumber(exact) {
    const { value } = shownNumber(exact);
    return Number.isFinite(value) ? value : null;
  }
  /** A requirement's min_result as pydantic keeps it: an int, or the double of a fraction. */
  const minResultShown = (v) => (typeof v === 'bigint' ? { value: Number(v), text: String(v) }
    : { value: Number(v.toString()), text: pythonFloatRepr(Number(v.toString())) });
  // Decimal(repr(min_result)) is the document's exact number: step 7 refused any a double cannot hold.
  const minResultExact = (v) => exactNumber(v);

  // Python's float formatting, exactly: round(x, 2) and format(x, 'g'), half to even on ties.
  function exactDouble(x) {
    const view = new DataView(new ArrayBuffer(8));
    view.setFloat64(0, x);
    const bits = view.getBigUint64(0);
    const negative = (bits >> 63n) === 1n;
    const biased = Number((bits >> 52n) & 0x7ffn);
    let mantissa = bits & ((1n << 52n) - 1n);
    let exp2 = -1074;
    if (biased) { mantissa |= 1n << 52n; exp2 = biased - 1075; }
    if (mantissa === 0n) return [negative, '0', 0];
    if (exp2 >= 0) return [negative, (mantissa << BigInt(exp2)).toString(), 0];
    return [negative, (mantissa * 5n ** BigInt(-exp2)).toString(), exp2];
  }
  function roundHalfEven(digits, exp, keep) {  // digits * 10^exp to a multiple of 10^keep
    if (exp >= keep) return [BigInt(digits) * 10n ** BigInt(exp - keep), keep];
    const divisor = 10n ** BigInt(keep - exp);
    const value = BigInt(digits);
    let q = value / divisor;
    const r = value % divisor;
    if (2n * r > divisor || (2n * r === divisor && q % 2n === 1n)) q += 1n;
    return [q, keep];
  }
  function pyRound(x, ndigits) {
    const [negative, digits, exp] = exactDouble(x);
    const [q] = roundHalfEven(digits, exp, -ndigits);
    return Number(`${negative ? '-' : ''}${q}e-${ndigits}`);
  }
  function pyFormatG(x) {
    const precision = 6;
    const [negative, digits, exp] = exactDouble(x);
    const sign = negative ? '-' : '';
    if (digits === '0') return `${sign}0`;
    let sci = digits.length - 1 + exp;
    let [q] = roundHalfEven(digits, exp, sci - (precision - 1));
    if (q.toString().length > precision) { sci += 1; q /= 10n; }
    const significand = q.toString();
    if (sci >= -4 && sci < precision) {
      const decimals = precision - 1 - sci;
      let text = new PyDecimal(0, significand, sci - (precision - 1)).plain(false);
      if (decimals > 0 && text.includes('.')) text = text.replace(/0+$/, '').replace(/\.$/, '');
      return sign + text;
    }
    const mantissa = (significand[0] + '.' + significand.slice(1)).replace(/0+$/, '').replace(/\.$/, '');
    return `${sign}${mantissa}e${sci < 0 ? '-' : '+'}${String(Math.abs(sci)).padStart(2, '0')}`;
  }

  // -- the pathway bundle, in numbered steps (client/pathway_verify.py) -----------------------------

  const ownerLabel = (owner) => label(owner.did, owner);
  const pyOptional = (v) => (v === null ? 'None' : String(v));

  class PathwayCheck extends SharedSteps {
    constructor(trust, now, expectedOwner) {
      super(trust, now, 'pathway bundle');
      this.expectedOwner = expectedOwner;
    }

    // Step 1
    format(data) { this.bundle = parsePathwayBundle(data); }

    // Steps 2 to 5: SharedSteps

    // Step 6
    async eventSigned() {
      const leaf = await decodeLeaf(this.bundle.event, this.eventLeafHash);
      if (leaf.type !== 'event') throw stepFailed('the event leaf is a block header, not a pathway.define event');
      if (leaf.kind !== 'pathway.define') {
        throw stepFailed(`the event is of kind ${leaf.kind}; a pathway bundle needs the pathway.define event of the version it proves`);
      }
      const payload = leaf.payload;
      if (payload.owner !== this.bundle.owner || payload.pathwayId !== this.bundle.pathwayId) {
        throw stepFailed(`the event defines pathway ${payload.pathwayId} of ${payload.owner}, not the bundle's ${this.bundle.pathwayId} of ${this.bundle.owner}`);
      }
      // Signatures last: everything cheaper about the event has been checked.
      await verifyEventSignature(leaf, this.trust.origin);
      this.event = leaf;
      this.define = payload;
    }

    // Step 7
    async definitionCommitted() {
      const define = this.define;
      const document = this.bundle.definition;
      const digest = await digestDefinition(document, 'the definition document');
      if (!equalBytes(digest, define.digest)) {
        throw stepFailed(`the definition document's RFC 8785 digest is ${hex(digest)}, but the pathway.define event of version ${define.version} commits to ${hex(define.digest)}: the document was altered, or it is another version's`);
      }
      const model = checkDefinition(document, 'the definition document');
      const mismatches = [];
      if (model.id !== define.pathwayId) mismatches.push(`id ${reprStr(model.id)} (the event's is ${reprStr(define.pathwayId)})`);
      if (model.version !== define.version) mismatches.push(`version ${model.version} (the event's is ${define.version})`);
      if (model.owner !== null && model.owner !== define.owner) mismatches.push(`owner ${model.owner} (the event was signed for ${define.owner})`);
      if (mismatches.length) throw stepFailed('the definition document names ' + mismatches.join(', '));
      this.definition = { model, document, digest };
    }

    // Step 8
    async ownerInGoodStanding() {
      const index = this.bundle.eventProof.index;
      const record = await proveSignerStanding(this.header, this.bundle.status.owner, this.define.owner, this.event.signer, index);
      const compromise = record.voidedBy(index);
      if (compromise !== null) {
        throw stepFailed(`governance declared the key of owner ${record.issuer} compromised from log index ${compromise.sinceIndex} (at index ${compromise.position.index}: ${compromise.reason || 'no reason given'}); this definition, signed at index ${index}, is void`);
      }
      this.ownerRecord = record;
      const expected = this.expectedOwner;
      const identity = record.identityAt(index);
      if (expected !== null && expected !== record.issuer && !identity.ids.includes(expected)) {
        throw stepFailed(`you expected the pathway's owner to be ${expected}; it was defined by "${identity.name}" (${[...identity.ids, record.issuer].join(', ')})`);
      }
    }

    // Step 9
    async pathwayCurrent() {
      const define = this.define;
      const index = this.bundle.eventProof.index;
      const record = await proveRecord(this.header, this.bundle.status.pathway, await pathwayStatusKey(define.owner, define.pathwayId), 'pathway');
      if (record.type !== 'pathway') throw stepFailed(`the status key of pathway ${define.pathwayId} does not hold a pathway record`);
      const entry = record.version(define.version);
      if (entry === null || !equalBytes(entry.digest, define.digest) || entry.position.index !== index) {
        throw stepFailed(`the pathway record does not hold this event (index ${index}) as version ${define.version}`);
      }
      const current = record.current;
      if (current.version !== define.version) {
        throw stepFailed(`superseded: version ${define.version} was replaced by version ${current.version} at log index ${current.position.index}; as of checkpoint ${this.checkpoint.treeSize} version ${current.version} is the current one (ask for a bundle of it)`);
      }
      if (record.retired !== null) {
        throw stepFailed(`the owner retired pathway ${define.pathwayId} at log index ${record.retired.index}: no version of it is current`);
      }
      this.pathwayRecord = record;
    }

    ownerInfo() {
      const record = this.ownerRecord;
      const identity = record.identityAt(this.bundle.eventProof.index);
      const compromise = record.compromise;
      return {
        did: record.issuer, name: identity.name, ids: [...identity.ids], standing: record.standing,
        current_name: record.name, retired_at_index: record.retired === null ? null : num(record.retired.index),
        compromised_since_index: compromise === null ? null : num(compromise.sinceIndex),
      };
    }
  }

  /** _plain: the definition as JSON shows it (numbers as doubles). */
  function plainJson(value) {
    if (value instanceof Map) {
      const out = {};
      for (const [k, v] of value) Object.defineProperty(out, k, { value: plainJson(v), enumerable: true, writable: true, configurable: true });
      return out;
    }
    if (Array.isArray(value)) return value.map(plainJson);
    if (typeof value === 'bigint') return Number(value);
    if (value instanceof PyDecimal) return Number(value.toString());
    return value;
  }

  /** verify_pathway_bundle: {verdict (PathwayBundleVerdict.as_json()), model, owner}. */
  async function checkPathwayBundle(data, trust, options) {
    const { now, maxAge, maxAgeFromTrust, expectedOwner } = options;
    const check = new PathwayCheck(trust, now, expectedOwner);
    const steps = [
      () => check.format(data), () => check.originMatches(), () => check.checkpointOpens(),
      () => check.headerIncluded(), () => check.eventIncluded(), () => check.eventSigned(),
      () => check.definitionCommitted(), () => check.ownerInGoodStanding(), () => check.pathwayCurrent(),
    ];
    const failed = await runSteps(steps);
    if (failed !== null) {
      const { number, exc } = failed;
      const name = PATHWAY_STEPS[number - 1];
      return { verdict: { status: 'invalid', message: `invalid: step ${number} (${name}): ${exc.diagnostics()}`,
                          notes: [], step: number, step_name: name, pathway: null, definition: null } };
    }
    const owner = check.ownerInfo();
    const define = check.define;
    const model = check.definition.model;
    const treeSize = check.checkpoint.treeSize;
    const age = now === null ? null : Math.max(0, Number(now - check.checkpointTime));
    const info = {
      id: define.pathwayId, name: model.name, version: num(define.version),
      versions_published: check.pathwayRecord.versions.length, owner,
      definition_digest: hex(define.digest), event_index: num(check.bundle.eventProof.index),
      event_height: num(check.pathwayRecord.current.position.height),
      checkpoint: { tree_size: num(treeSize), time: num(check.checkpointTime), time_utc: formatTime(check.checkpointTime), age_seconds: age },
      max_age_seconds: maxAge,
    };
    const infoLabel = `"${info.name}" version ${info.version} (${info.id})`;
    const notes = [];
    if (owner.standing !== 'active') {
      notes.push(`the owner is ${owner.standing} since log index ${pyOptional(owner.retired_at_index)}; a definition it published before keeps its standing`);
    }
    if (owner.current_name !== owner.name) notes.push(`the owner is now called "${owner.current_name}"`);
    const asOf = `checkpoint ${treeSize} (${formatTime(check.checkpointTime)}` + (age === null ? '' : `, ${describeAge(age)} old`) + ')';
    const who = ownerLabel(owner);
    const result = { model, owner, definition: plainJson(check.definition.document) };
    if (maxAge === null) {
      notes.push("the checkpoint's age was not bounded: a newer version or a retirement after it would not show");
    } else if (age === null) {
      notes.push("the checkpoint's age was not checked: no clock was given");
    } else if (age > maxAge) {
      result.verdict = {
        status: 'stale',
        message: `stale: the pathway's checkpoint ${treeSize} is ${describeAge(age)} old; ${maxAgeFromTrust ? 'this network' : 'this check'} allows ${describeDuration(maxAge)}. As of then: ${infoLabel} by ${who} was current`,
        notes: [...notes, 'a newer checkpoint is needed: make the pathway bundle again from a node that is up to date'],
        step: null, step_name: null, pathway: info, definition: result.definition,
      };
      return result;
    }
    result.verdict = {
      status: 'valid',
      message: `valid: ${infoLabel}, defined by ${who} at log index ${info.event_index}, is the current version as of ${asOf}`,
      notes, step: null, step_name: null, pathway: info, definition: result.definition,
    };
    return result;
  }

  // -- credentials against the definition (client/pathway_requirements.py) --------------------------

  /** _maximum_matching: a largest assignment of requirements to distinct credentials (Kuhn's
   * augmenting paths, in the given order, so it is deterministic): Map requirement -> credential. */
  function maximumMatching(eligible, allowed) {
    const ownerOf = new Map();  // credential -> requirement
    const assign = (requirement, seen) => {
      for (const candidate of eligible[requirement]) {
        if ((allowed !== null && !allowed.has(candidate)) || seen.has(candidate)) continue;
        seen.add(candidate);
        if (!ownerOf.has(candidate) || assign(ownerOf.get(candidate), seen)) {
          ownerOf.set(candidate, requirement);
          return true;
        }
      }
      return false;
    };
    for (let requirement = 0; requirement < eligible.length; requirement++) assign(requirement, new Set());
    const out = new Map();
    for (const [credential, requirement] of ownerOf) out.set(requirement, credential);
    return out;
  }

  function resultOk(outcome, requirement) {
    if (requirement.minResult === null) return true;
    return outcome.result !== null && compareExact(outcome.result, minResultExact(requirement.minResult)) >= 0;
  }
  function meets(outcome, requirement, holder) {
    return outcome.verdict.status === 'valid' && holder !== null && outcome.holder === holder &&
      outcome.achievements.includes(requirement.achievement) && outcome.issuerNames.has(requirement.issuer) &&
      resultOk(outcome, requirement);
  }
  function requirementOutcome(number, requirement, assigned, outcomes, holder, span) {
    if (assigned !== undefined) {
      const credential = outcomes[assigned];
      const issuer = credential.verdict.issuer;
      const result = credential.result === null || requirement.minResult === null ? ''
        : `, result ${shownNumber(credential.result).text}`;
      return { number, requirement, credential: credential.number, reason: null,
               message: `${credential.label} (issued by "${issuer.name}" on ${formatDate(floorDiv(credential.issuedTimeMs, 1000n))}${result})` };
    }
    const ranked = [];
    for (const c of outcomes) {
      if (!c.achievements.includes(requirement.achievement)) continue;
      const verdict = c.verdict;
      if (verdict.status === 'invalid') {
        ranked.push([7, 'invalid', `${c.label} does not verify (${verdict.message})`]);
        continue;
      }
      if (!c.issuerNames.has(requirement.issuer)) {
        const who = verdict.issuer === null ? 'an unknown issuer' : ownerLabel(verdict.issuer);
        ranked.push([6, 'wrong_issuer', `${c.label} is for ${requirement.achievement} but was issued by ${who}, not by ${requirement.issuer}`]);
      } else if (['revoked', 'expired', 'not_yet_valid', 'stale'].includes(verdict.status)) {
        const rank = { revoked: 5, expired: 4, not_yet_valid: 4, stale: 3 }[verdict.status];
        ranked.push([rank, verdict.status, `${c.label} is ${verdict.message}`]);
      } else if (c.holder === null) {
        ranked.push([2, 'no_holder', `${c.label} names no holder (credentialSubject.id)`]);
      } else if (holder !== null && c.holder !== holder) {
        ranked.push([2, 'other_holder', `${c.label} names holder ${c.holder}, not ${holder}`]);
      } else if (!resultOk(c, requirement)) {
        const got = c.result === null ? 'no numeric result' : `a best result of ${shownNumber(c.result).text}`;
        ranked.push([1, 'below_min_result', `${c.label} has ${got}; the requirement needs at least ${minResultShown(requirement.minResult).text}`]);
      } else if (span) {
        ranked.push([0, 'outside_span', `${c.label} would meet it, but not within the pathway's maximum span together with the others`]);
      } else {
        ranked.push([0, 'used_elsewhere', `${c.label} would meet it, but it is counted for another requirement`]);
      }
    }
    if (!ranked.length) {
      return { number, requirement, credential: null, reason: 'missing', message: `no credential presented is for ${requirement.achievement}` };
    }
    let best = ranked[0];
    for (const item of ranked) if (item[0] < best[0]) best = item;
    return { number, requirement, credential: null, reason: best[1], message: best[2] };
  }

  const requirementJson = (r) => ({
    number: r.number, issuer: r.requirement.issuer, achievement: r.requirement.achievement,
    min_result: r.requirement.minResult === null ? null : minResultShown(r.requirement.minResult).value,
    met: r.credential !== null, credential: r.credential, reason: r.reason, message: r.message,
    alignment: r.requirement.alignment.map((a) => ({ ...a })),
  });
  const credentialJson = (c) => ({
    number: c.number, label: c.label, status: c.verdict.status, holder: c.holder,
    achievements: [...c.achievements], result: c.result === null ? null : jsonNumber(c.result),
    issued_at: c.verdict.issued_at, meets: c.meets, verdict: c.verdict,
  });

  /**
   * Check presented credentials against a pathway, offline, as
   * client.pathway_verify.verify_pathway does.
   *
   * pathwayBundleText: the pathway bundle file; pairs: [{bundle, credential, label?}] (file
   * texts or bytes); trustText: the trust file (or a parsed trust).  Options: now (POSIX
   * seconds; null: no clock), maxAge (seconds; undefined: the trust file's; null: unbounded),
   * holder (the credentialSubject.id every counted credential must name; default: the subject
   * of the first credential whose bundle verifies), expectedOwner (pin the pathway's owner),
   * labels (one per credential; default each pair's label, else "credential N").
   * Every credential is verified exactly as verify() does.  Resolves to the verdict with the
   * fields of PathwayVerdict.as_json(); rejects for a bad trust file, bad options or a page
   * without WebCrypto.
   */
  async function verifyPathway(pathwayBundleText, pairs, trustText, options = {}) {
    if (!Array.isArray(pairs)) throw usageError('give the credentials as a list of {bundle, credential} pairs');
    let labels = options.labels === undefined || options.labels === null ? null : Array.from(options.labels);
    if (labels !== null && labels.length !== pairs.length) throw usageError('give one label per credential');
    subtle();
    const trust = typeof trustText === 'object' && trustText !== null && trustText.known ? trustText : await parseTrust(trustText);
    const maxAgeFromTrust = options.maxAge === undefined;
    const maxAge = maxAgeFromTrust ? trust.maxAgeSeconds : options.maxAge === null ? null : Number(options.maxAge);
    const now = optionalInt(options.now, 'now');
    const expectedOwner = options.expectedOwner === undefined ? null : options.expectedOwner;
    let holder = options.holder === undefined ? null : options.holder;
    const proven = await checkPathwayBundle(toBytes(pathwayBundleText), trust, { now, maxAge, maxAgeFromTrust, expectedOwner });
    const bundleVerdict = proven.verdict;
    const empty = { rule: null, span: null, holder: null, holder_from: null, requirements: [], credentials: [], competencies: [] };
    if (bundleVerdict.status === 'invalid') {
      return { status: 'invalid', message: 'invalid: pathway bundle ' + bundleVerdict.message.replace(/^invalid: /, ''),
               notes: [], step: bundleVerdict.step, step_name: bundleVerdict.step_name, pathway: bundleVerdict, ...empty };
    }
    const model = proven.model;
    if (labels === null) labels = pairs.map((p, n) => (p && typeof p.label === 'string' ? p.label : `credential ${n + 1}`));

    const outcomes = [];
    for (const [n, pair] of pairs.entries()) {
      const credentialBytes = toBytes(pair.credential);
      const check = new Verification(trust, {
        credentialJson: credentialBytes, digestOnly: false, now, maxAge, maxAgeFromTrust, at: null, expectedIssuer: null,
      });
      const verdict = await run(toBytes(pair.bundle), check);
      // Read even when the bundle fails, so that the failure is reported against the
      // requirement the file claims to meet; nothing is counted from an invalid one.
      let document;
      try {
        document = parseCredential(credentialBytes);
      } catch (exc) {
        if (!(exc instanceof LedgerError)) throw exc;
        document = new Map();
      }
      const valid = verdict.status !== 'invalid';
      outcomes.push({
        number: n + 1, label: labels[n], verdict, holder: subjectId(document),
        achievements: credentialAchievements(document), result: bestResult(document), meets: null,
        issuedTimeMs: valid ? check.issuedTimeMs : null,
        issuerNames: valid && verdict.issuer !== null ? new Set([verdict.issuer.did, ...verdict.issuer.ids]) : new Set(),
      });
    }

    let holderFrom = 'given by the verifier';
    if (holder === null) {
      const first = outcomes.find((c) => c.verdict.status !== 'invalid' && c.holder !== null);
      if (first !== undefined) { holder = first.holder; holderFrom = `the subject of ${first.label}`; }
    }
    const requirements = model.requirements;
    const eligible = requirements.map((r) => outcomes.map((c, i) => (meets(c, r, holder) ? i : -1)).filter((i) => i >= 0));
    const needed = model.needed;
    let assignment = maximumMatching(eligible, null);
    const spanMs = model.maxSpanDays === null ? null : model.maxSpanDays * DAY_MS;
    let within = null;
    if (spanMs !== null) {
      // Every window of the allowed span that starts at a candidate's issuance: the first
      // that holds enough distinct matches wins.
      let best = new Map();
      const candidates = new Set(eligible.flat());
      const starts = Array.from(new Set(Array.from(candidates, (c) => outcomes[c].issuedTimeMs)))
        .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      for (const start of starts) {
        const allowed = new Set(Array.from(candidates).filter((c) => start <= outcomes[c].issuedTimeMs && outcomes[c].issuedTimeMs <= start + spanMs));
        const matched = maximumMatching(eligible, allowed);
        if (matched.size > best.size) best = matched;
      }
      within = best.size >= needed;
      if (within) assignment = best;
    }

    const issued = Array.from(assignment.values(), (c) => outcomes[c].issuedTimeMs);
    const earliest = issued.length ? issued.reduce((a, b) => (b < a ? b : a)) : null;
    const latest = issued.length ? issued.reduce((a, b) => (b > a ? b : a)) : null;
    const spanDays = issued.length ? pyRound(Number(latest - earliest) / Number(DAY_MS), 2) : null;

    for (const [requirementIndex, credentialIndex] of assignment) outcomes[credentialIndex].meets = requirementIndex + 1;
    const results = requirements.map((r, i) => requirementOutcome(i + 1, r, assignment.get(i), outcomes, holder, spanMs !== null));
    const competencies = [];
    const seen = new Set();
    for (const result of results) {
      if (result.credential === null) continue;
      for (const a of result.requirement.alignment) {
        const key = JSON.stringify([a.targetFramework, a.targetCode]);
        if (!seen.has(key)) {
          seen.add(key);
          competencies.push({ framework: a.targetFramework, code: a.targetCode, name: a.targetName, url: a.targetUrl, requirement: result.number });
        }
      }
    }

    const met = assignment.size;
    const ruleMet = met >= needed && within !== false;
    const notes = [...bundleVerdict.notes];
    notes.push('that the person presenting these credentials is their holder was not checked (no presentation proof was given): check it as for any credential');
    if (outcomes.some((c) => c.meets !== null && c.verdict.embedded_proof === 'none')) {
      notes.push('a counted credential carries no embedded proof: the ledger vouches for its digest, not its own signature (see its verdict)');
    }
    const pathwayName = `"${model.name}" (version ${model.version} of ${model.id})`;
    const who = holder !== null ? holder : 'the holder';
    const rule = (model.allOf ? 'all' : `at least ${needed} of`) + ` ${requirements.length} requirements`;
    let spanText = '';
    if (spanDays !== null && model.maxSpanDays !== null) {
      spanText = `, issued ${pyFormatG(spanDays)} days apart (at most ${model.maxSpanDays} allowed)`;
    }
    let status;
    let message;
    if (bundleVerdict.status === 'stale') {
      status = 'incomplete';
      message = `incomplete: the proof of the pathway definition is stale, so whether ${pathwayName} is still current is not known (${bundleVerdict.message}); ${met} of ${requirements.length} requirements are met`;
    } else if (ruleMet) {
      status = 'complete';
      message = `complete: ${who} meets ${pathwayName}, defined by "${proven.owner.name}": ${met} of ${requirements.length} requirements met (needs ${rule})${spanText}`;
    } else {
      status = 'incomplete';
      let why;
      if (met >= needed) {
        why = `the credentials counted span ${pyFormatG(spanDays)} days; the pathway allows ${model.maxSpanDays}`;
      } else {
        why = results.filter((r) => r.credential === null).map((r) => `requirement ${r.number} ${r.reason.split('_').join(' ')}`).join('; ');
      }
      message = `incomplete: ${who} does not meet ${pathwayName}: ${met} of ${requirements.length} requirements met, needs ${rule}` +
        (model.maxSpanDays === null ? '' : ` within ${model.maxSpanDays} days`) + ` (${why})`;
    }
    return {
      status, message, notes, step: null, step_name: null, pathway: bundleVerdict,
      rule: { rule: model.allOf ? { all_of: true } : { at_least: Number(model.atLeast) }, needed,
              met: results.filter((r) => r.credential !== null).length,
              max_span_days: model.maxSpanDays === null ? null : Number(model.maxSpanDays) },
      span: spanDays === null ? null : { earliest: isoMs(earliest), latest: isoMs(latest), days: spanDays,
                                         within: spanMs !== null ? within : null },
      holder, holder_from: holder === null ? null : holderFrom,
      requirements: results.map(requirementJson), credentials: outcomes.map(credentialJson), competencies,
    };
  }

  /** Many pathway checks in one call (for tests): [{pathway, pairs, trust, options}]. */
  async function verifyPathwayMany(cases) {
    const trusts = new Map();
    const out = [];
    for (const c of cases) {
      try {
        let trust = trusts.get(c.trust);
        if (trust === undefined) { trust = await parseTrust(c.trust); trusts.set(c.trust, trust); }
        out.push(await verifyPathway(c.pathway, c.pairs, trust, c.options || {}));
      } catch (exc) {
        out.push({ error: exc instanceof LedgerError ? exc.diagnostics() : String(exc) });
      }
    }
    return out;
  }

  const api = {
    verify, verifyMany, parseTrust, STEPS, EXIT_CODES, LedgerError,
    verifyPathway, verifyPathwayMany, PATHWAY_STEPS,
    exitCode: (verdict) => EXIT_CODES[verdict.status],
    describeAge, describeDuration,
    hasWebCrypto: () => Boolean(global.crypto && global.crypto.subtle),
    embedded: { embeddedProofs, verifyEmbeddedProof, parseCredential, canonicalJson, jcs, didKey },
    pathway: { parsePathwayBundle, parseDefinition, checkDefinition, digestDefinition, bestResult, pyRound, pyFormatG },
    internals: { parseBundle, unpack, pack, decodeBase64, parseNote, formatTime, describeAge, reprStr, jsonDumps, PyDecimal,
                 ed25519Verify },
  };
  global.vcledger = api;
  if (typeof module !== 'undefined' && module.exports) module.exports = api;
}(typeof window !== 'undefined' ? window : globalThis));
