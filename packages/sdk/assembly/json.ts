// A small JSON reader for filter configs: parse once at configure time, read typed fields.

export enum JsonKind {
  Null = 0,
  Bool = 1,
  Number = 2,
  String = 3,
  Array = 4,
  Object = 5,
}

const KIND_NAMES: string[] = ["null", "a boolean", "a number", "a string", "an array", "an object"];

/** A parsed JSON value. Object keys keep their order; lookups are linear (configs are small). */
export class JsonValue {
  kind: JsonKind = JsonKind.Null;
  bool: bool = false;
  num: f64 = 0;
  str: string = "";
  /** Array items, or object values (parallel to `keys`). */
  items: JsonValue[] = [];
  keys: string[] = [];

  /** Parses `text`; throws with the offset of the first error. */
  static parse(text: string): JsonValue {
    const parser = new Parser(text);
    const value = parser.value();
    parser.skipSpace();
    if (parser.pos != text.length) parser.fail("unexpected text after the value");
    return value;
  }

  get isNull(): bool {
    return this.kind == JsonKind.Null;
  }

  /** The member `key` of an object, or null when absent (or when this is not an object). */
  get(key: string): JsonValue | null {
    if (this.kind != JsonKind.Object) return null;
    for (let i = 0; i < this.keys.length; i++) if (this.keys[i] == key) return this.items[i];
    return null;
  }

  has(key: string): bool {
    return this.get(key) !== null;
  }

  getString(key: string, fallback: string = ""): string {
    const v = this.get(key);
    if (v === null || v.isNull) return fallback;
    return v.expect(JsonKind.String, key).str;
  }

  getNumber(key: string, fallback: f64 = 0): f64 {
    const v = this.get(key);
    if (v === null || v.isNull) return fallback;
    return v.expect(JsonKind.Number, key).num;
  }

  getInt(key: string, fallback: i32 = 0): i32 {
    return <i32>this.getNumber(key, <f64>fallback);
  }

  getBool(key: string, fallback: bool = false): bool {
    const v = this.get(key);
    if (v === null || v.isNull) return fallback;
    return v.expect(JsonKind.Bool, key).bool;
  }

  /** An object member, or an empty object when absent. */
  getObject(key: string): JsonValue {
    const v = this.get(key);
    if (v === null || v.isNull) return new JsonValue(JsonKind.Object);
    return v.expect(JsonKind.Object, key);
  }

  /** An array member's items, or an empty list when absent. */
  getArray(key: string): JsonValue[] {
    const v = this.get(key);
    if (v === null || v.isNull) return [];
    return v.expect(JsonKind.Array, key).items;
  }

  /** An array of strings, or an empty list when absent. */
  getStringArray(key: string): string[] {
    const items = this.getArray(key);
    const out = new Array<string>(items.length);
    for (let i = 0; i < items.length; i++) out[i] = items[i].expect(JsonKind.String, key).str;
    return out;
  }

  /** This value as a string; throws (naming `key`) when it is something else. */
  asString(key: string): string {
    return this.expect(JsonKind.String, key).str;
  }

  /** Throws unless this value is of `kind`; `key` names it in the message. */
  expect(kind: JsonKind, key: string): JsonValue {
    if (this.kind != kind) {
      throw new Error("config '" + key + "' must be " + KIND_NAMES[kind] + ", not " + KIND_NAMES[this.kind]);
    }
    return this;
  }

  constructor(kind: JsonKind = JsonKind.Null) {
    this.kind = kind;
  }
}

class Parser {
  pos: i32 = 0;

  constructor(readonly text: string) {}

  fail(message: string): void {
    throw new Error("invalid JSON at offset " + this.pos.toString() + ": " + message);
  }

  skipSpace(): void {
    while (this.pos < this.text.length) {
      const c = this.text.charCodeAt(this.pos);
      if (c != 0x20 && c != 0x0a && c != 0x0d && c != 0x09) break;
      this.pos++;
    }
  }

  value(): JsonValue {
    this.skipSpace();
    if (this.pos >= this.text.length) this.fail("unexpected end");
    const c = this.text.charCodeAt(this.pos);
    if (c == 0x7b) return this.object();
    if (c == 0x5b) return this.array();
    if (c == 0x22) {
      const v = new JsonValue(JsonKind.String);
      v.str = this.string();
      return v;
    }
    if (this.word("true")) {
      const v = new JsonValue(JsonKind.Bool);
      v.bool = true;
      return v;
    }
    if (this.word("false")) return new JsonValue(JsonKind.Bool);
    if (this.word("null")) return new JsonValue(JsonKind.Null);
    return this.number();
  }

  word(w: string): bool {
    if (this.text.substr(this.pos, w.length) != w) return false;
    this.pos += w.length;
    return true;
  }

  number(): JsonValue {
    const start = this.pos;
    while (this.pos < this.text.length) {
      const c = this.text.charCodeAt(this.pos);
      // digits, sign, dot, exponent
      if ((c >= 0x30 && c <= 0x39) || c == 0x2d || c == 0x2b || c == 0x2e || c == 0x65 || c == 0x45) this.pos++;
      else break;
    }
    if (start == this.pos) this.fail("unexpected character");
    const v = new JsonValue(JsonKind.Number);
    v.num = parseFloat(this.text.substring(start, this.pos));
    if (isNaN(v.num)) this.fail("bad number");
    return v;
  }

  string(): string {
    this.pos++; // opening quote
    let out = "";
    let run = this.pos;
    while (true) {
      if (this.pos >= this.text.length) this.fail("unterminated string");
      const c = this.text.charCodeAt(this.pos);
      if (c == 0x22) break;
      if (c != 0x5c) {
        this.pos++;
        continue;
      }
      out += this.text.substring(run, this.pos);
      const e = this.text.charCodeAt(this.pos + 1);
      this.pos += 2;
      if (e == 0x6e) out += "\n";
      else if (e == 0x74) out += "\t";
      else if (e == 0x72) out += "\r";
      else if (e == 0x62) out += "\b";
      else if (e == 0x66) out += "\f";
      else if (e == 0x75) {
        out += String.fromCharCode(this.hex4());
      } else if (e == 0x22 || e == 0x5c || e == 0x2f) out += String.fromCharCode(e);
      else this.fail("bad escape");
      run = this.pos;
    }
    out += this.text.substring(run, this.pos);
    this.pos++; // closing quote
    return out;
  }

  hex4(): i32 {
    let code = 0;
    for (let i = 0; i < 4; i++) {
      const c = this.text.charCodeAt(this.pos);
      let d = -1;
      if (c >= 0x30 && c <= 0x39) d = c - 0x30;
      else if (c >= 0x61 && c <= 0x66) d = c - 0x57;
      else if (c >= 0x41 && c <= 0x46) d = c - 0x37;
      if (d < 0) this.fail("bad \\u escape");
      code = (code << 4) | d;
      this.pos++;
    }
    return code;
  }

  array(): JsonValue {
    const v = new JsonValue(JsonKind.Array);
    this.pos++;
    this.skipSpace();
    if (this.pos < this.text.length && this.text.charCodeAt(this.pos) == 0x5d) {
      this.pos++;
      return v;
    }
    while (true) {
      v.items.push(this.value());
      this.skipSpace();
      if (this.pos >= this.text.length) this.fail("unterminated array");
      const c = this.text.charCodeAt(this.pos);
      if (c != 0x5d && c != 0x2c) this.fail("expected , or ]");
      this.pos++;
      if (c == 0x5d) return v;
    }
  }

  object(): JsonValue {
    const v = new JsonValue(JsonKind.Object);
    this.pos++;
    this.skipSpace();
    if (this.pos < this.text.length && this.text.charCodeAt(this.pos) == 0x7d) {
      this.pos++;
      return v;
    }
    while (true) {
      this.skipSpace();
      if (this.pos >= this.text.length || this.text.charCodeAt(this.pos) != 0x22) this.fail("expected a key");
      v.keys.push(this.string());
      this.skipSpace();
      if (this.pos >= this.text.length || this.text.charCodeAt(this.pos) != 0x3a) this.fail("expected :");
      this.pos++;
      v.items.push(this.value());
      this.skipSpace();
      if (this.pos >= this.text.length) this.fail("unterminated object");
      const c = this.text.charCodeAt(this.pos);
      if (c != 0x7d && c != 0x2c) this.fail("expected , or }");
      this.pos++;
      if (c == 0x7d) return v;
    }
  }
}
