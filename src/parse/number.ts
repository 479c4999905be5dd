/*
 * Decimal number parsing straight from bytes, so that the hot path never
 * builds a string. Grammar: [ws] [+|-] digits [. digits] [(e|E) [+|-] digits] [ws]
 * with at least one digit in the mantissa (".5" and "5." are fine, as in
 * JavaScript). Hex, "Infinity" and other things JavaScript's Number() would
 * accept are refused: they are not numbers a StatsD client sends on purpose.
 */

// Powers of ten that are exact doubles: mantissa (< 2^53) op 10^k is then a
// single correctly-rounded operation, the same result Number() gives.
export const EXACT_POW10 = new Float64Array(23)
for (let i = 0; i < EXACT_POW10.length; i++) EXACT_POW10[i] = Number(`1e${i}`)

export const MAX_FAST_DIGITS = 15

export function isAsciiSpace(c: number): boolean {
  return c === 32 || (c >= 9 && c <= 13)
}

/** Returns the number in buf[start, end), or NaN when it is not a number. */
export function parseDecimal(buf: Uint8Array, start: number, end: number): number {
  while (start < end && isAsciiSpace(buf[start]!)) start++
  while (end > start && isAsciiSpace(buf[end - 1]!)) end--
  let i = start
  let negative = false
  if (i < end) {
    const c = buf[i]!
    if (c === 45) {
      negative = true
      i++
    } else if (c === 43) {
      i++
    }
  }
  let mantissa = 0
  let digits = 0
  let fractionDigits = 0
  while (i < end) {
    const d = buf[i]! - 48
    if (d < 0 || d > 9) break
    mantissa = mantissa * 10 + d
    digits++
    i++
  }
  if (i < end && buf[i] === 46) {
    i++
    while (i < end) {
      const d = buf[i]! - 48
      if (d < 0 || d > 9) break
      mantissa = mantissa * 10 + d
      digits++
      fractionDigits++
      i++
    }
  }
  if (digits === 0) return NaN
  let exponent = 0
  if (i < end && (buf[i] === 101 || buf[i] === 69)) {
    i++
    let expNegative = false
    if (i < end && (buf[i] === 45 || buf[i] === 43)) {
      expNegative = buf[i] === 45
      i++
    }
    const expStart = i
    while (i < end) {
      const d = buf[i]! - 48
      if (d < 0 || d > 9) break
      // Saturate: anything this large is already 0 or Infinity.
      if (exponent < 100_000) exponent = exponent * 10 + d
      i++
    }
    if (i === expStart) return NaN
    if (expNegative) exponent = -exponent
  }
  if (i !== end) return NaN

  if (digits <= MAX_FAST_DIGITS) {
    const scale = exponent - fractionDigits
    let value: number
    if (scale === 0) value = mantissa
    else if (scale > 0 && scale < EXACT_POW10.length) value = mantissa * EXACT_POW10[scale]!
    else if (scale < 0 && -scale < EXACT_POW10.length) value = mantissa / EXACT_POW10[-scale]!
    else return slowParse(buf, start, end)
    return negative ? -value : value
  }
  return slowParse(buf, start, end)
}

// Long mantissas and extreme exponents are rare: let the engine round them.
// The bytes already matched the grammar above, which Number() reads the same way.
function slowParse(buf: Uint8Array, start: number, end: number): number {
  return Number(Buffer.from(buf.buffer, buf.byteOffset + start, end - start).toString('latin1'))
}
