// hashring 3.2 ships no types; only what the relay uses.
declare module 'hashring' {
  class HashRing {
    constructor(servers: Record<string, number>, algorithm: string, options: Record<string, number>)
    get(key: string): string | undefined
    add(servers: Record<string, number>): this
    remove(server: string): this
    readonly servers: { string: string }[]
  }
  export = HashRing
}
