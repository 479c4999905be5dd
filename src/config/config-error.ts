/**
 * A config file that cannot be used. The message is meant for the operator as
 * it is: one line per problem, each starting with the file name. (Apart from
 * errors.ts, which needs zod: the running server never loads zod.)
 */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'ConfigError'
  }
}
