import {
  getLineInfo,
  parseExpressionAt,
  tokenizer,
  tokTypes,
  type ArrayExpression,
  type BinaryExpression,
  type Expression,
  type Literal,
  type Node,
  type ObjectExpression,
  type Options,
  type TemplateLiteral,
  type UnaryExpression,
} from 'acorn'
import { ConfigError, formatPath } from './errors'

/*
 * Etsy statsd reads its config with eval(), so config files are JavaScript
 * object literals rather than JSON. We parse them with acorn and evaluate only
 * the literal subset of the AST: nothing in the file is ever executed, and a
 * config that relied on code (require('os').hostname()) is rejected with a
 * message that points at it, rather than silently getting a different value.
 */

// preserveParens: so that `({ ... })`, which Etsy's eval() accepts, ends at its closing parenthesis.
const PARSE_OPTIONS: Options = { ecmaVersion: 'latest', sourceType: 'script', preserveParens: true }

/** Keys that would reach Object.prototype machinery if they were ever assigned naively. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype'])

/** Far deeper than any real config; stops hostile input before the stack does. */
const MAX_DEPTH = 100

/**
 * Parses one JavaScript expression (the whole file, optionally followed by a
 * semicolon) and returns its value. Throws ConfigError, located as
 * `file:line:column`, for syntax errors and for anything but literal data.
 */
export function evaluateLiteral(source: string, fileName: string): unknown {
  return new LiteralEvaluator(source, fileName).evaluate(parseExpression(source, fileName), [], 0)
}

function parseExpression(source: string, fileName: string): Expression {
  let expression: Expression
  try {
    expression = parseExpressionAt(source, 0, PARSE_OPTIONS)
  } catch (err: unknown) {
    throw toConfigError(err, source, fileName, 0)
  }
  rejectTrailingTokens(source, expression.end, fileName)
  return expression
}

/** parseExpressionAt stops after the expression; anything but `;` after it is a mistake. */
function rejectTrailingTokens(source: string, end: number, fileName: string): void {
  const rest = source.slice(end)
  try {
    for (const token of tokenizer(rest, PARSE_OPTIONS)) {
      if (token.type === tokTypes.semi) continue
      const text = rest.slice(token.start, token.end)
      throw new ConfigError(
        `${location(source, end + token.start, fileName)}: unexpected ${JSON.stringify(snippet(text))} after the end of the config value`,
      )
    }
  } catch (err: unknown) {
    throw toConfigError(err, source, fileName, end)
  }
}

/** Acorn's SyntaxError carries an offset; re-express it as file:line:column. */
function toConfigError(err: unknown, source: string, fileName: string, offset: number): unknown {
  if (err instanceof ConfigError) return err
  if (err instanceof RangeError) return new ConfigError(`${fileName}: the config is nested too deeply`)
  if (err instanceof SyntaxError && 'pos' in err && typeof err.pos === 'number') {
    const message = err.message.replace(/\s*\(\d+:\d+\)$/, '')
    return new ConfigError(`${location(source, offset + err.pos, fileName)}: syntax error: ${message}`)
  }
  return err
}

/** `config.js:12:18`, with a 1-based column as editors show it. */
function location(source: string, offset: number, fileName: string): string {
  const { line, column } = getLineInfo(source, offset)
  return `${fileName}:${line}:${column + 1}`
}

/** Source text for messages: one line, and short enough to read. */
function snippet(text: string): string {
  const oneLine = text.replace(/\s+/g, ' ').trim()
  return oneLine.length > 40 ? `${oneLine.slice(0, 37)}...` : oneLine
}

class LiteralEvaluator {
  constructor(
    private readonly source: string,
    private readonly fileName: string,
  ) {}

  /** `path` is the key the value sits under, so that every message can name it. */
  evaluate(node: Expression, path: readonly PropertyKey[], depth: number): unknown {
    if (depth > MAX_DEPTH) throw this.error(node, [], `the config is nested more than ${MAX_DEPTH} levels deep`)
    switch (node.type) {
      case 'ObjectExpression':
        return this.object(node, path, depth)
      case 'ArrayExpression':
        return this.array(node, path, depth)
      case 'Literal':
        return this.literal(node, path)
      case 'TemplateLiteral':
        return this.template(node, path)
      case 'ParenthesizedExpression':
        return this.evaluate(node.expression, path, depth + 1)
      case 'Identifier':
        if (node.name === 'undefined') return undefined
        if (node.name === 'Infinity') return Infinity
        if (node.name === 'NaN') return NaN
        throw this.notLiteral(node, path, 'an identifier', ' (quote it if it is meant to be a string)')
      case 'UnaryExpression':
        return this.unary(node, path, depth)
      case 'BinaryExpression':
        return this.binary(node, path, depth)
      default:
        throw this.notLiteral(node, path, describeNodeType(node.type))
    }
  }

  private object(node: ObjectExpression, path: readonly PropertyKey[], depth: number): Record<string, unknown> {
    const result: Record<string, unknown> = {}
    for (const property of node.properties) {
      if (property.type === 'SpreadElement') throw this.notLiteral(property, path, 'a spread element')
      if (property.kind !== 'init') throw this.notLiteral(property, path, property.kind === 'get' ? 'a getter' : 'a setter')
      if (property.method) throw this.notLiteral(property, path, 'a method')
      if (property.computed) throw this.notLiteral(property.key, path, 'a computed key')
      if (property.shorthand) throw this.notLiteral(property, path, 'a shorthand property', ` (write "${this.text(property)}: value")`)
      const key = this.key(property.key, path)
      if (FORBIDDEN_KEYS.has(key)) {
        throw this.error(property.key, path, `the key "${key}" is not allowed (it would touch the object's prototype)`)
      }
      // defineProperty, not assignment: an own data property whatever the key, like JSON.parse.
      Object.defineProperty(result, key, {
        value: this.evaluate(property.value, [...path, key], depth + 1),
        enumerable: true,
        writable: true,
        configurable: true,
      })
    }
    return result
  }

  private key(node: Expression, path: readonly PropertyKey[]): string {
    if (node.type === 'Identifier') return node.name
    if (node.type === 'Literal' && (typeof node.value === 'string' || typeof node.value === 'number')) {
      return String(node.value)
    }
    throw this.notLiteral(node, path, 'an unsupported key')
  }

  private array(node: ArrayExpression, path: readonly PropertyKey[], depth: number): unknown[] {
    return node.elements.map((element, i) => {
      if (element === null) throw this.error(node, path, 'an array may not have empty slots (two commas in a row)')
      if (element.type === 'SpreadElement') throw this.notLiteral(element, [...path, i], 'a spread element')
      return this.evaluate(element, [...path, i], depth + 1)
    })
  }

  private literal(node: Literal, path: readonly PropertyKey[]): unknown {
    if (node.regex !== undefined) throw this.notLiteral(node, path, 'a regular expression')
    if (node.bigint !== undefined) throw this.notLiteral(node, path, 'a BigInt', ' (write a plain number)')
    const value = node.value
    if (value === null || typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
      return value
    }
    throw this.notLiteral(node, path, 'an unsupported literal')
  }

  private template(node: TemplateLiteral, path: readonly PropertyKey[]): string {
    const only = node.quasis[0]
    if (node.expressions.length > 0 || only === undefined) {
      throw this.notLiteral(node, path, 'a template literal with ${...} substitutions')
    }
    // `cooked` is only null in tagged templates, which are rejected before we get here.
    return only.value.cooked ?? only.value.raw
  }

  private unary(node: UnaryExpression, path: readonly PropertyKey[], depth: number): number {
    if (node.operator !== '-' && node.operator !== '+') {
      throw this.notLiteral(node, path, `the ${node.operator} operator`, '; only unary - and + on numbers are allowed')
    }
    const value = this.evaluate(node.argument, path, depth + 1)
    if (typeof value !== 'number') {
      throw this.error(node, path, `unary ${node.operator} applies only to numbers, found ${describeValue(value)}`)
    }
    return node.operator === '-' ? -value : value
  }

  private binary(node: BinaryExpression, path: readonly PropertyKey[], depth: number): number | string {
    const op = node.operator
    if (op !== '+' && op !== '-' && op !== '*' && op !== '/' && op !== '%') {
      throw this.notLiteral(node, path, `the ${op} operator`, '; only + - * / % are allowed')
    }
    if (node.left.type === 'PrivateIdentifier') throw this.notLiteral(node.left, path, 'a private name')
    const left = this.evaluate(node.left, path, depth + 1)
    const right = this.evaluate(node.right, path, depth + 1)
    if (typeof left === 'number' && typeof right === 'number') {
      switch (op) {
        case '+':
          return left + right
        case '-':
          return left - right
        case '*':
          return left * right
        case '/':
          return left / right
        case '%':
          return left % right
      }
    }
    // No implicit conversions: "a" + 1 in a config is far more likely a mistake than intent.
    if (op === '+' && typeof left === 'string' && typeof right === 'string') return left + right
    const wanted = op === '+' ? 'two numbers or two strings' : 'two numbers'
    throw this.error(node, path, `${op} needs ${wanted}, found ${describeValue(left)} and ${describeValue(right)}`)
  }

  private notLiteral(node: Node, path: readonly PropertyKey[], what: string, advice = ''): ConfigError {
    return this.error(
      node,
      path,
      `only literal values are allowed here, found ${what} (${this.text(node)}); replace it with the literal value${advice}`,
    )
  }

  private error(node: Node, path: readonly PropertyKey[], message: string): ConfigError {
    const key = path.length > 0 ? `${formatPath(path)}: ` : ''
    return new ConfigError(`${location(this.source, node.start, this.fileName)}: ${key}${message}`)
  }

  private text(node: Node): string {
    return snippet(this.source.slice(node.start, node.end))
  }
}

/** "CallExpression" -> "a call expression", with wording for the common cases. */
function describeNodeType(type: string): string {
  const special: Record<string, string> = {
    ThisExpression: '`this`',
    MemberExpression: 'a property access',
    AssignmentExpression: 'an assignment',
    UpdateExpression: 'an increment or decrement',
    TaggedTemplateExpression: 'a tagged template',
    ChainExpression: 'an optional chain',
    ImportExpression: 'an import()',
  }
  const known = special[type]
  if (known !== undefined) return known
  const words = type.replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase()
  return `${/^[aeiou]/.test(words) ? 'an' : 'a'} ${words}`
}

function describeValue(value: unknown): string {
  if (value === null) return 'null'
  if (value === undefined) return 'undefined'
  if (Array.isArray(value)) return 'an array'
  const type = typeof value
  return `${/^[aeiou]/.test(type) ? 'an' : 'a'} ${type}`
}
