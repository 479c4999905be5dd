import { createRequire } from 'node:module'
import type { FastifyServerOptions } from 'fastify'

/*
 * Fastify loads ajv (with ajv-formats and fast-uri) and fast-json-stringify
 * when an app is created, to compile route schemas: 570 KB of source and
 * 1.6 MB of RSS for the life of the process. The admin routes declare no
 * schema, so these compilers load only if a route ever does, from the
 * copies fastify itself depends on (the same compilers, built the same
 * way). Malformed requests get the same 400s: those come from fastify's
 * body parsers, not from ajv.
 */

type Builder = (...args: unknown[]) => never

const fromFastify = (): NodeRequire => createRequire(require.resolve('fastify'))

let validator: Builder | undefined
let serializer: Builder | undefined

/** The `schemaController` option for Fastify(): the default compilers, loaded on first use. */
export const lazySchemaCompilers: NonNullable<FastifyServerOptions['schemaController']> = {
  compilersFactory: {
    buildValidator: (...args) => (validator ??= (fromFastify()('@fastify/ajv-compiler') as () => Builder)())(...args),
    buildSerializer: (...args) => (serializer ??= (fromFastify()('@fastify/fast-json-stringify-compiler') as () => Builder)())(...args),
  },
}
