// What a client says about its file, made safe: the file name (it ends up in
// a URL and a Content-Disposition header, and on the recipient's disk) and
// the content type (it ends up in a Content-Type header).

/** Longest file name accepted in a slot request, in UTF-8 bytes (a common file system limit). */
export const MAX_FILENAME_BYTES = 255;
const MAX_CONTENT_TYPE_LENGTH = 255;
/** Longest file name in the URL once percent-encoded; Fastify refuses path parameters over 256 characters. */
const MAX_URL_NAME = 200;

// C0/C1 controls, bidirectional overrides and isolates (they disguise "gpj.exe" as "exe.jpg"), zero-width characters.
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]/gu;

/**
 * The name the file is stored and offered under: the last path component,
 * NFC, without control or direction-changing characters, without leading dots
 * (no hidden files) or trailing dots and spaces; 'file' when nothing is left.
 * Undefined when the requested name is too long (the request is refused).
 */
export function sanitiseFilename(requested: string): string | undefined {
  if (Buffer.byteLength(requested, 'utf8') > MAX_FILENAME_BYTES) return undefined;
  const last = requested.split(/[/\\]/).pop() ?? '';
  const clean = last
    .normalize('NFC')
    .replace(UNSAFE, '')
    .replace(/^[.\s]+/, '')
    .replace(/[.\s]+$/, '');
  return clean === '' ? 'file' : clean;
}

/** Letters, digits, '.', '-' and '_' only, for the ASCII filename= parameter and long URLs. */
export function asciiName(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 100);
}

/** The last segment of the file's URLs. */
export function urlName(name: string): string {
  const encoded = encodeURIComponent(name);
  return encoded.length <= MAX_URL_NAME ? encoded : asciiName(name);
}

/** RFC 6266 with RFC 8187 for the full name: an ASCII fallback and the UTF-8 original. */
export function contentDisposition(kind: 'attachment' | 'inline', name: string): string {
  const star = encodeURIComponent(name).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `${kind}; filename="${asciiName(name)}"; filename*=UTF-8''${star}`;
}

// RFC 9110 §8.3.1 media type: type "/" subtype (tokens), with parameters; no quoted strings, no line breaks.
const MEDIA_TYPE = /^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+(\s*;\s*[a-z0-9!#$&^_.+-]+=[a-z0-9!#$&^_.+-]+)*$/;

/** The content type normalised (lower case, trimmed), or undefined when it is not a plain media type. */
export function parseContentType(value: string): string | undefined {
  const v = value.trim().toLowerCase();
  return v.length <= MAX_CONTENT_TYPE_LENGTH && MEDIA_TYPE.test(v) ? v : undefined;
}

/** The media type without parameters. */
export function essence(contentType: string): string {
  return contentType.split(';')[0]!.trim();
}
