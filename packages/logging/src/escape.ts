/*
 * Escaping: a request must not be able to forge a log line, split a field or drive a
 * terminal. Every value that comes from a request (or from an error message) goes through
 * one of these before it reaches a line.
 */

/**
 * Characters escaped in text formats, exactly as morgan 1.12 does in every token
 * (CVE-2026-5078, expressjs/morgan#350): C0 controls, DEL, C1 controls, U+2028/U+2029, the
 * double quote and the backslash.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: these are the characters we escape
const TEXT_UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029"\\]/
// biome-ignore lint/suspicious/noControlCharactersInRegex: these are the characters we escape
const TEXT_UNSAFE_ALL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029"\\]/g

function textReplacement(ch: string): string {
  switch (ch) {
    case '\\':
      return '\\\\'
    case '"':
      return '\\"'
    case '\b':
      return '\\b'
    case '\f':
      return '\\f'
    case '\n':
      return '\\n'
    case '\r':
      return '\\r'
    case '\t':
      return '\\t'
    default:
      return `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`
  }
}

/**
 * Escapes a field of a text format the way morgan 1.12 does: `\\`, `\"`, `\n`, `\r`, `\t`,
 * `\b`, `\f`, and `\uXXXX` for the other controls (ESC is `\u001b`). Plain values are
 * returned as they are, without allocating.
 */
export function escapeText(value: string): string {
  return TEXT_UNSAFE.test(value) ? value.replace(TEXT_UNSAFE_ALL, textReplacement) : value
}

/** Characters that need care in a JSON string, or that JSON leaves raw but a log must not. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: these are the characters we escape
const JSON_UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029"\\\ud800-\udfff]/
/** What JSON.stringify leaves raw: DEL, C1 controls and the JavaScript line separators. */
const JSON_RAW = /[\u007f-\u009f\u2028\u2029]/g

function unicodeEscape(ch: string): string {
  return `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`
}

/**
 * A JSON string literal (with its quotes) for `value`: JSON's own escaping (including lone
 * surrogates, as `JSON.stringify` does) plus `\u007f`-`\u009f`, `\u2028` and `\u2029`, so
 * that the line holds no control character at all.
 */
export function jsonString(value: string): string {
  if (!JSON_UNSAFE.test(value)) return `"${value}"`
  return JSON.stringify(value).replace(JSON_RAW, unicodeEscape)
}

/**
 * Control characters that must not reach a line written by a user's format function:
 * C0 (but TAB), DEL, C1, U+2028 and U+2029. Quotes and backslashes are the function's
 * business (it may be writing JSON).
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: these are the characters we escape
const LINE_UNSAFE = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u2028\u2029]/
// biome-ignore lint/suspicious/noControlCharactersInRegex: these are the characters we escape
const LINE_UNSAFE_ALL = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u2028\u2029]/g

function lineReplacement(ch: string): string {
  switch (ch) {
    case '\n':
      return '\\n'
    case '\r':
      return '\\r'
    default:
      return unicodeEscape(ch)
  }
}

/** Makes a whole line safe: escapes the control characters a format function let through. */
export function escapeLine(line: string): string {
  return LINE_UNSAFE.test(line) ? line.replace(LINE_UNSAFE_ALL, lineReplacement) : line
}
