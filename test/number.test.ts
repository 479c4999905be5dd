import t from 'tap'
import { parseDecimal } from '../src/parse/number'

const parse = (s: string): number => {
  const buf = Buffer.from(`xx${s}yy`, 'latin1')
  return parseDecimal(buf, 2, buf.length - 2)
}

t.test('parses what JavaScript Number() parses, to the same double', async (t) => {
  const cases = [
    '0', '1', '-1', '+1', '42', '3.14', '-0.5', '.5', '5.', '1e3', '1E3', '1e-3', '-2.5e+2', '0.1', '0.2', '0.3',
    '123456789012345', '1234567890123456789', '0.000001', '1e22', '1e23', '9007199254740993', '1.7976931348623157e308',
    '4.9e-324', '  7  ', '\t8\r', '00012', '1.0000000000000002', '2.2250738585072014e-308', '99.9', '0.1e1',
  ]
  for (const c of cases) t.equal(Object.is(parse(c), Number(c)), true, `${JSON.stringify(c)} -> ${Number(c)}`)
})

t.test('refuses what is not a plain decimal number', async (t) => {
  for (const c of ['', ' ', '-', '+', '.', 'e5', '1e', '1e+', '0x10', 'Infinity', '-Infinity', 'NaN', '1,5', '1..2', '--1', '1 2', 'abc', '5ms', '1_000']) {
    t.ok(Number.isNaN(parse(c)), JSON.stringify(c))
  }
})

t.test('huge exponents saturate instead of looping or throwing', async (t) => {
  t.equal(parse('1e99999999999'), Infinity)
  t.equal(parse('1e-99999999999'), 0)
})
