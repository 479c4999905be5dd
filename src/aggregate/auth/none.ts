import { CachingGate, type GateResult, type NameResolver } from './key-gate'

/** `auth: "none"`: every key is admitted as it is. */
export class OpenGate extends CachingGate {
  constructor(private readonly resolveName: NameResolver) {
    super()
  }

  protected decide(buf: Buffer, keyStart: number, keyEnd: number, tagsStart: number, tagsEnd: number): GateResult {
    return this.resolveName(buf, keyStart, keyEnd, tagsStart, tagsEnd)
  }
}
