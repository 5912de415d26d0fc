// PRECIS string preparation (RFC 8264) and the profiles XMPP needs:
// UsernameCaseMapped and OpaqueString (RFC 8265), Nickname (RFC 8266).
//
// The derived property of a code point (RFC 8264 §8) is computed from the
// engine's Unicode data through RegExp property escapes, so there is no table
// to keep up to date; the Unicode version is the one Node was built with.
// Case mapping uses String.prototype.toLowerCase(), i.e. Unicode toLowerCase()
// as RFC 8264 §5.2.4 and RFC 8265 §3.3 specify (earlier PRECIS texts named
// Default Case Folding instead): "ß" stays "ß", "Σ" becomes "σ".

export class PrecisError extends Error {
  readonly reason: string;
  constructor(reason: string) {
    super(reason);
    this.name = 'PrecisError';
    this.reason = reason;
  }
}

// ---------------------------------------------------------------------------
// Derived property (RFC 8264 §8, categories in §9)

type Derived =
  | 'pvalid' // PVALID in both classes
  | 'freeOnly' // ID_DIS in IdentifierClass, FREE_PVAL in FreeformClass
  | 'contextj'
  | 'contexto'
  | 'disallowed'
  | 'unassigned';

// RFC 5892 §2.6 Exceptions (F), which RFC 8264 §9.6 reuses.
const EXCEPTIONS = new Map<number, Derived>();
for (const cp of [0x00df, 0x03c2, 0x06fd, 0x06fe, 0x0f0b, 0x3007]) EXCEPTIONS.set(cp, 'pvalid');
for (const cp of [0x00b7, 0x0375, 0x05f3, 0x05f4, 0x30fb]) EXCEPTIONS.set(cp, 'contexto');
for (let cp = 0x0660; cp <= 0x0669; cp++) EXCEPTIONS.set(cp, 'contexto');
for (let cp = 0x06f0; cp <= 0x06f9; cp++) EXCEPTIONS.set(cp, 'contexto');
for (const cp of [0x0640, 0x07fa, 0x302e, 0x302f, 0x3031, 0x3032, 0x3033, 0x3034, 0x3035, 0x303b]) {
  EXCEPTIONS.set(cp, 'disallowed');
}

const RE_CN = /\p{Cn}/u;
const RE_NONCHAR = /\p{Noncharacter_Code_Point}/u;
const RE_IGNORABLE = /[\p{Default_Ignorable_Code_Point}\p{Noncharacter_Code_Point}]/u;
const RE_CONTROL = /\p{Cc}/u;
// Hangul_Syllable_Type L, V or T (RFC 8264 §9.9 OldHangulJamo).
const RE_OLD_HANGUL = /[\u1100-\u11FF\uA960-\uA97C\uD7B0-\uD7C6\uD7CB-\uD7FB]/u;
// Everything the derivation settles before HasCompat in one test (Cn covers
// noncharacters, Default_Ignorable covers the join controls), so that a common
// letter costs one regex here rather than four.
const RE_EARLY =
  /[\p{Cn}\p{Default_Ignorable_Code_Point}\p{Cc}\u1100-\u11FF\uA960-\uA97C\uD7B0-\uD7C6\uD7CB-\uD7FB]/u;
const RE_LETTER_DIGITS = /[\p{Ll}\p{Lu}\p{Lo}\p{Nd}\p{Lm}\p{Mn}\p{Mc}]/u;
// OtherLetterDigits, Spaces, Symbols and Punctuation: all ID_DIS / FREE_PVAL.
const RE_FREE_ONLY = /[\p{Lt}\p{Nl}\p{No}\p{Me}\p{Zs}\p{Sm}\p{Sc}\p{Sk}\p{So}\p{P}]/u;

function derive(ch: string, cp: number): Derived {
  const exception = EXCEPTIONS.get(cp);
  if (exception !== undefined) return exception;
  if (cp < 0x80) {
    if (cp >= 0x21 && cp <= 0x7e) return 'pvalid';
    return cp === 0x20 ? 'freeOnly' : 'disallowed';
  }
  if (RE_EARLY.test(ch)) {
    if (RE_CN.test(ch) && !RE_NONCHAR.test(ch)) return 'unassigned';
    if (cp === 0x200c || cp === 0x200d) return 'contextj';
    return 'disallowed'; // OldHangulJamo, PrecisIgnorableProperties, Controls
  }
  if (ch.normalize('NFKC') !== ch) return 'freeOnly'; // HasCompat
  if (RE_LETTER_DIGITS.test(ch)) return 'pvalid';
  if (RE_FREE_ONLY.test(ch)) return 'freeOnly';
  return 'disallowed'; // Zl, Zp, Co, Cs, and Cf that is not default-ignorable
}

// Names the kind of a refused code point, for a reason a person can act on.
function describe(ch: string, cp: number, derived: Derived): string {
  const shown = cp > 0x20 && cp < 0x7f ? `'${ch}', ` : '';
  let kind: string;
  if (derived === 'unassigned') kind = 'unassigned code point';
  else if (EXCEPTIONS.has(cp)) kind = 'excluded by RFC 5892';
  else if (RE_CONTROL.test(ch)) kind = 'control character';
  else if (/\p{Cs}/u.test(ch)) kind = 'surrogate';
  else if (/\p{Co}/u.test(ch)) kind = 'private-use character';
  else if (RE_NONCHAR.test(ch)) kind = 'noncharacter';
  else if (RE_IGNORABLE.test(ch)) kind = 'default-ignorable character';
  else if (RE_OLD_HANGUL.test(ch)) kind = 'conjoining Hangul jamo';
  else if (ch.normalize('NFKC') !== ch) kind = 'compatibility character';
  else if (/\p{Zs}/u.test(ch)) kind = 'space';
  else if (/\p{S}/u.test(ch)) kind = 'symbol';
  else if (/\p{P}/u.test(ch)) kind = 'punctuation';
  else if (/[\p{Lt}\p{Nl}\p{No}\p{Me}]/u.test(ch)) kind = 'letter or number outside the identifier class';
  else kind = 'format or separator character';
  return `${shown}${kind}`;
}

export function codePointLabel(cp: number): string {
  return 'U+' + cp.toString(16).toUpperCase().padStart(4, '0');
}

function disallowed(subject: string, ch: string, cp: number, derived: Derived): PrecisError {
  return new PrecisError(
    `${subject} contains a disallowed character ${codePointLabel(cp)} (${describe(ch, cp, derived)})`,
  );
}

// ---------------------------------------------------------------------------
// Contextual rules (RFC 5892 Appendix A)

const RE_GREEK = /\p{sc=Greek}/u;
const RE_HEBREW = /\p{sc=Hebrew}/u;
const RE_KANA_HAN = /[\p{sc=Hiragana}\p{sc=Katakana}\p{sc=Han}]/u;
const RE_TRANSPARENT = /[\p{Mn}\p{Me}\p{Cf}]/u;
// Joining_Type is not exposed to RegExp; letters of the cursive-joining
// scripts stand in for the L/D (before) and R/D (after) joining types.
const RE_JOINING_SCRIPT =
  /[\p{sc=Arabic}\p{sc=Syriac}\p{sc=Nko}\p{sc=Mongolian}\p{sc=Mandaic}\p{sc=Manichaean}\p{sc=Psalter_Pahlavi}\p{sc=Adlam}\p{sc=Hanifi_Rohingya}\p{sc=Sogdian}\p{sc=Old_Uyghur}\p{sc=Phags_Pa}\p{sc=Chorasmian}]/u;
const isJoiningLetter = (ch: string): boolean => /\p{L}/u.test(ch) && RE_JOINING_SCRIPT.test(ch);

// Canonical_Combining_Class is not exposed either; canonical reordering
// reveals it: a mark sorts after U+3099 (ccc 8) and before U+05B0 (ccc 10)
// exactly when its class is 9, Virama.
function isVirama(ch: string | undefined): boolean {
  if (ch === undefined || !/\p{M}/u.test(ch)) return false;
  return (ch + '\u3099').normalize('NFD') === '\u3099' + ch && ('\u05B0' + ch).normalize('NFD') === ch + '\u05B0';
}

function zwnjJoins(cps: readonly string[], i: number): boolean {
  let b = i - 1;
  while (b >= 0 && RE_TRANSPARENT.test(cps[b]!)) b--;
  let a = i + 1;
  while (a < cps.length && RE_TRANSPARENT.test(cps[a]!)) a++;
  return b >= 0 && a < cps.length && isJoiningLetter(cps[b]!) && isJoiningLetter(cps[a]!);
}

function contextAllows(cps: readonly string[], i: number, cp: number): boolean {
  const before = cps[i - 1];
  const after = cps[i + 1];
  switch (cp) {
    case 0x200c:
      return isVirama(before) || zwnjJoins(cps, i);
    case 0x200d:
      return isVirama(before);
    case 0x00b7:
      return before === 'l' && after === 'l';
    case 0x0375:
      return after !== undefined && RE_GREEK.test(after);
    case 0x05f3:
    case 0x05f4:
      return before !== undefined && RE_HEBREW.test(before);
    case 0x30fb:
      return cps.some((c) => RE_KANA_HAN.test(c));
    default:
      if (cp >= 0x0660 && cp <= 0x0669) return !cps.some((c) => c >= '\u06F0' && c <= '\u06F9');
      return !cps.some((c) => c >= '\u0660' && c <= '\u0669');
  }
}

function checkClass(s: string, freeform: boolean, subject: string): void {
  const cps = Array.from(s);
  for (let i = 0; i < cps.length; i++) {
    const ch = cps[i]!;
    const cp = ch.codePointAt(0)!;
    const derived = derive(ch, cp);
    if (derived === 'pvalid' || (derived === 'freeOnly' && freeform)) continue;
    if (derived === 'contextj' || derived === 'contexto') {
      if (contextAllows(cps, i, cp)) continue;
      throw new PrecisError(
        `${subject} contains ${codePointLabel(cp)} in a context RFC 5892 does not allow`,
      );
    }
    throw disallowed(subject, ch, cp, derived);
  }
}

/**
 * Throws unless every code point of `s` is valid in the IdentifierClass
 * (contextual rules included). Used for the U-labels of domainparts, where it
 * approximates IDNA2008's PVALID set, which is slightly narrower than UTS-46.
 */
export function assertIdentifierClass(s: string, subject: string): void {
  checkClass(s, false, subject);
}

// ---------------------------------------------------------------------------
// Bidi Rule (RFC 5893 §2)

type Bidi = 'L' | 'R' | 'AN' | 'EN' | 'ES' | 'ET' | 'CS' | 'NSM' | 'BN' | 'WS' | 'ON';

// Bidi_Class is not exposed to RegExp either. Inside the IdentifierClass (the
// only class this rule applies to here) a code point is a letter, digit, mark,
// ASCII or one of a few exceptions, and for those the approximation below is
// exact but for rare right-to-left spacing marks.
const RE_RTL_BLOCKS = /[\u0590-\u08FF\uFB1D-\uFDFF\uFE70-\uFEFF\u{10800}-\u{10FFF}\u{1E800}-\u{1EFFF}]/u;
const RE_AN = /[\u0600-\u0605\u0660-\u0669\u066B\u066C\u06DD\u0890\u0891\u08E2\u{10D30}-\u{10D39}\u{10E60}-\u{10E7E}]/u;
const RE_EN =
  /[0-9\u00B2\u00B3\u00B9\u06F0-\u06F9\u2070\u2074-\u2079\u2080-\u2089\u2488-\u249B\uFF10-\uFF19\u{1D7CE}-\u{1D7FF}\u{1F100}-\u{1F10A}\u{1FBF0}-\u{1FBF9}]/u;
const RE_ES = /[+\-\u207A\u207B\u208A\u208B\u2212\uFB29\uFE62\uFE63\uFF0B\uFF0D]/u;
const RE_ET = /[#$%\u00B0\u00B1\u0609\u060A\u066A\u2030-\u2034\u2213\u212E\p{Sc}]/u;
const RE_CS = /[,./:\u00A0\u060C\u202F\u2044\uFE50\uFE52\uFE55\uFF0C\uFF0E\uFF0F\uFF1A]/u;
const RE_STRONG_L = /[\p{L}\p{Mc}\p{Nd}\p{Nl}\p{Co}]/u;

function bidiClass(ch: string): Bidi {
  if (/[\p{Mn}\p{Me}]/u.test(ch)) return 'NSM';
  if (RE_AN.test(ch)) return 'AN';
  if (RE_EN.test(ch)) return 'EN';
  if (RE_ES.test(ch)) return 'ES';
  if (RE_CS.test(ch)) return 'CS';
  if (RE_ET.test(ch)) return 'ET';
  if (/[\p{Cc}\p{Cf}]/u.test(ch)) return 'BN';
  if (RE_RTL_BLOCKS.test(ch)) return 'R'; // R and AL: the rule treats them alike
  if (/\p{Zs}/u.test(ch)) return 'WS';
  return RE_STRONG_L.test(ch) ? 'L' : 'ON';
}

const RTL_ALLOWED = new Set<Bidi>(['R', 'AN', 'EN', 'ES', 'CS', 'ET', 'ON', 'BN', 'NSM']);
const LTR_ALLOWED = new Set<Bidi>(['L', 'EN', 'ES', 'CS', 'ET', 'ON', 'BN', 'NSM']);

const isRtl = (c: Bidi): boolean => c === 'R' || c === 'AN';

// The rule binds strings holding right-to-left code points (RFC 8265 §3.3.2),
// or, with `always`, every label of a domain name that holds one.
function checkBidi(s: string, subject: string, always = false): void {
  const cps = Array.from(s);
  const classes = cps.map(bidiClass);
  if (!always && !classes.some(isRtl)) return;
  const fail = (rule: number, why: string) =>
    new PrecisError(`${subject} violates the bidi rule (RFC 5893 rule ${rule}): ${why}`);
  const first = classes[0];
  if (first !== 'L' && first !== 'R') throw fail(1, 'it must start with a letter');
  const rtl = first === 'R';
  const allowed = rtl ? RTL_ALLOWED : LTR_ALLOWED;
  for (let i = 0; i < classes.length; i++) {
    if (!allowed.has(classes[i]!)) {
      const dir = rtl ? 'right-to-left' : 'left-to-right';
      throw fail(rtl ? 2 : 5, `${codePointLabel(cps[i]!.codePointAt(0)!)} does not belong in a ${dir} string`);
    }
  }
  let end = classes.length - 1;
  while (end > 0 && classes[end] === 'NSM') end--;
  const last = classes[end]!;
  if (rtl) {
    if (last !== 'R' && last !== 'EN' && last !== 'AN') throw fail(3, 'it must end with a right-to-left letter or a digit');
    if (classes.includes('EN') && classes.includes('AN')) throw fail(4, 'it mixes European and Arabic-Indic digits');
  } else if (last !== 'L' && last !== 'EN') {
    throw fail(6, 'it must end with a letter or a digit');
  }
}

/** RFC 5893 for a domain name: once one label holds right-to-left text, every label obeys the Bidi Rule. */
export function assertBidiDomain(domain: string, subject: string): void {
  if (!Array.from(domain, bidiClass).some(isRtl)) return;
  for (const label of domain.split('.')) checkBidi(label, subject, true);
}

// ---------------------------------------------------------------------------
// Mapping rules

// Width mapping (RFC 8265 §3.3.1): fullwidth and halfwidth code points to their
// <wide>/<narrow> decomposition mapping. NFKC of one such character gives that
// mapping except where the target itself has a compatibility decomposition:
// halfwidth Hangul (to compatibility jamo) and U+FFE3 (to U+00AF).
const RE_WIDTH = /[\u3000\uFF01-\uFFEE]/g;
const HALFWIDTH_HANGUL: ReadonlyArray<readonly [number, number, number]> = [
  [0xffa0, 0xffa0, 0x3164],
  [0xffa1, 0xffbe, 0x3131],
  [0xffc2, 0xffc7, 0x314f],
  [0xffca, 0xffcf, 0x3155],
  [0xffd2, 0xffd7, 0x315b],
  [0xffda, 0xffdc, 0x3161],
];

export function widthMap(s: string): string {
  return s.replace(RE_WIDTH, (ch) => {
    const cp = ch.charCodeAt(0);
    if (cp === 0xffe3) return '\u00AF';
    for (const [from, to, target] of HALFWIDTH_HANGUL) {
      if (cp >= from && cp <= to) return String.fromCharCode(target + cp - from);
    }
    return ch.normalize('NFKC');
  });
}

// Every Zs becomes U+0020 (a no-op for U+0020 itself).
const RE_SPACE = /\p{Zs}/gu;

// RFC 8264 §7 / RFC 8266 §2.1: the rules are applied until the string is stable,
// giving up after the first application plus three more.
function stabilize(s: string, subject: string, apply: (s: string) => string): string {
  let current = s;
  for (let i = 0; i < 4; i++) {
    const next = apply(current);
    if (next === current) return current;
    current = next;
  }
  throw new PrecisError(`${subject} does not reach a stable prepared form`);
}

function nonEmpty(s: string, subject: string): void {
  if (s === '') throw new PrecisError(`${subject} is empty`);
}

// ---------------------------------------------------------------------------
// Profiles

const RE_ASCII_IDENTIFIER = /^[\x21-\x7E]+$/;
const RE_ASCII_FREEFORM = /^[\x20-\x7E]+$/;

/** UsernameCaseMapped (RFC 8265 §3.3): the profile for XMPP localparts. */
export function usernameCaseMapped(s: string, subject = 'username'): string {
  nonEmpty(s, subject);
  // Printable ASCII is PVALID, stable under NFC and free of right-to-left text.
  if (RE_ASCII_IDENTIFIER.test(s)) return s.toLowerCase();
  return stabilize(s, subject, (x) => {
    const mapped = widthMap(x);
    checkClass(mapped, false, subject);
    const out = mapped.toLowerCase().normalize('NFC');
    checkBidi(out, subject);
    nonEmpty(out, subject);
    return out;
  });
}

/** OpaqueString (RFC 8265 §4.2): resourceparts and passwords. */
export function opaqueString(s: string, subject = 'string'): string {
  nonEmpty(s, subject);
  if (RE_ASCII_FREEFORM.test(s)) return s;
  return stabilize(s, subject, (x) => {
    checkClass(x, true, subject);
    return x.replace(RE_SPACE, ' ').normalize('NFC');
  });
}

function enforceNickname(x: string, subject: string, caseMapped: boolean): string {
  // Additional mapping rule (RFC 8266 §2.1): one kind of space, none at the
  // edges, no runs.
  let out = x.replace(RE_SPACE, ' ').replace(/ {2,}/g, ' ');
  if (out.startsWith(' ')) out = out.slice(1);
  if (out.endsWith(' ')) out = out.slice(0, -1);
  nonEmpty(out, subject);
  checkClass(out, true, subject);
  if (caseMapped) out = out.toLowerCase();
  return out.normalize('NFKC');
}

/** Nickname (RFC 8266 §2.3 enforcement): the form to store and display. */
export function nickname(s: string, subject = 'nickname'): string {
  nonEmpty(s, subject);
  return stabilize(s, subject, (x) => enforceNickname(x, subject, false));
}

/** Nickname comparison form (RFC 8266 §2.4, adds case mapping): equal keys mean the same nickname. */
export function nicknameKey(s: string, subject = 'nickname'): string {
  nonEmpty(s, subject);
  return stabilize(s, subject, (x) => enforceNickname(x, subject, true));
}

// ---------------------------------------------------------------------------
// Mixed scripts (UTS #39 §5.1 single-script test)

// Script values known to RegExp; a name newer than the running engine is
// skipped (its letters are unassigned there, and refused by PRECIS anyway).
const SCRIPT_NAMES =
  'Adlam Ahom Anatolian_Hieroglyphs Arabic Armenian Avestan Balinese Bamum Bassa_Vah Batak Bengali ' +
  'Beria_Erfe Bhaiksuki Bopomofo Brahmi Braille Buginese Buhid Canadian_Aboriginal Carian ' +
  'Caucasian_Albanian Chakma Cham Cherokee Chisoi Chorasmian Coptic Cuneiform Cypriot Cypro_Minoan ' +
  'Cyrillic Deseret Devanagari Dives_Akuru Dogra Duployan Egyptian_Hieroglyphs Elbasan Elymaic ' +
  'Ethiopic Garay Georgian Glagolitic Gothic Grantha Greek Gujarati Gunjala_Gondi Gurmukhi ' +
  'Gurung_Khema Han Hangul Hanifi_Rohingya Hanunoo Hatran Hebrew Hiragana Imperial_Aramaic ' +
  'Inscriptional_Pahlavi Inscriptional_Parthian Javanese Kaithi Kannada Katakana Kawi Kayah_Li ' +
  'Kharoshthi Khitan_Small_Script Khmer Khojki Khudawadi Kirat_Rai Lao Latin Lepcha Limbu Linear_A ' +
  'Linear_B Lisu Lycian Lydian Mahajani Makasar Malayalam Mandaic Manichaean Marchen Masaram_Gondi ' +
  'Medefaidrin Meetei_Mayek Mende_Kikakui Meroitic_Cursive Meroitic_Hieroglyphs Miao Modi Mongolian ' +
  'Mro Multani Myanmar Nabataean Nag_Mundari Nandinagari New_Tai_Lue Newa Nko Nushu ' +
  'Nyiakeng_Puachue_Hmong Ogham Ol_Chiki Ol_Onal Old_Hungarian Old_Italic Old_North_Arabian ' +
  'Old_Permic Old_Persian Old_Sogdian Old_South_Arabian Old_Turkic Old_Uyghur Oriya Osage Osmanya ' +
  'Pahawh_Hmong Palmyrene Pau_Cin_Hau Phags_Pa Phoenician Psalter_Pahlavi Rejang Runic Samaritan ' +
  'Saurashtra Sharada Shavian Sidetic Siddham SignWriting Sinhala Sogdian Sora_Sompeng Soyombo ' +
  'Sundanese Sunuwar Syloti_Nagri Syriac Tagalog Tagbanwa Tai_Le Tai_Tham Tai_Viet Tai_Yo Takri ' +
  'Tamil Tangsa Tangut Telugu Thaana Thai Tibetan Tifinagh Tirhuta Todhri Tolong_Siki Toto ' +
  'Tulu_Tigalari Ugaritic Vai Vithkuqi Wancho Warang_Citi Yezidi Yi Zanabazar_Square';

let scriptTests: RegExp[] | undefined;

function scripts(): RegExp[] {
  if (scriptTests) return scriptTests;
  const tests: RegExp[] = [];
  for (const name of SCRIPT_NAMES.split(' ')) {
    try {
      tests.push(new RegExp(`\\p{scx=${name}}`, 'u'));
    } catch {
      // unknown to this engine's Unicode version
    }
  }
  // UTS #39 augmented script sets: Han with Bopomofo, Japanese and Korean
  // writing each count as one script.
  tests.push(/[\p{scx=Han}\p{scx=Bopomofo}]/u, /[\p{scx=Han}\p{scx=Hiragana}\p{scx=Katakana}]/u, /[\p{scx=Han}\p{scx=Hangul}]/u);
  scriptTests = tests;
  return tests;
}

const RE_ANY_SCRIPT = /[\p{scx=Common}\p{scx=Inherited}]/u;

/**
 * True when `s` is not single-script in the sense of UTS #39: no one script
 * (Japanese, Korean and Han+Bopomofo counting as one) covers every code point
 * that belongs to a specific script. Common and Inherited code points (ASCII
 * digits, punctuation, most combining marks) are ignored. Catches "аdmin" with
 * a Cyrillic "а"; does not catch a whole-script lookalike such as Cyrillic "аре".
 */
export function isMixedScript(s: string): boolean {
  let candidates: RegExp[] | undefined;
  for (const ch of s) {
    if (ch.charCodeAt(0) < 0x80 && !/[A-Za-z]/.test(ch)) continue;
    if (RE_ANY_SCRIPT.test(ch)) continue;
    candidates = (candidates ?? scripts()).filter((re) => re.test(ch));
    if (candidates.length === 0) return true;
  }
  return false;
}
