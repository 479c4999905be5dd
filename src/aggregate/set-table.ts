import type { KeyEntry } from './slots'

/*
 * Every set in columns by index, in creation order, as CounterTable keeps
 * the counters. Most sets get one distinct member per interval (a user id
 * seen once, a host name), and a JavaScript Set of one member cost about
 * 225 bytes, with 100 more for its object and an entry in a Map by name:
 * here a set holds its first member as the string itself, and becomes a
 * Set only at its second distinct member. A Set once made is kept (and
 * emptied at each flush), so a set that is steadily large makes no garbage.
 *
 * A set is live at index i while its key's `set` is i. Deleting one only
 * sets that to -1; the columns are compacted at the next take.
 */

type Members = string | Set<string> | undefined

export class SetTable {
  private entries: KeyEntry[] = []
  private members: Members[] = []
  private deleted = 0

  /** Live sets. */
  get size(): number {
    return this.entries.length - this.deleted
  }

  /** Creates `entry`'s set, empty; returns its index. */
  add(entry: KeyEntry): number {
    entry.set = this.entries.length
    this.entries.push(entry)
    this.members.push(undefined)
    return entry.set
  }

  /** Adds `member` to set `i`. */
  addMember(i: number, member: string): void {
    const members = this.members[i]
    if (members === undefined) this.members[i] = member
    else if (typeof members !== 'string') members.add(member)
    else if (members !== member) this.members[i] = new Set([members, member])
  }

  /** Deletes `entry`'s set, if it has one. */
  remove(entry: KeyEntry): void {
    const i = entry.set
    if (i < 0) return
    entry.set = -1
    this.members[i] = undefined
    this.deleted++
  }

  /** Every live set's key and members, in flush order. */
  *live(): Generator<[KeyEntry, string[]]> {
    for (let i = 0; i < this.entries.length; i++) {
      const entry = this.entries[i]!
      if (entry.set === i) yield [entry, membersOf(this.members[i])]
    }
  }

  /**
   * Appends every live set's name and number of members for a flush, then
   * empties them, or deletes them if `deleteAll`. Returns whether any was deleted.
   */
  take(names: string[], counts: number[], deleteAll: boolean): boolean {
    let deleted = false
    for (let i = 0; i < this.entries.length; i++) {
      const entry = this.entries[i]!
      if (entry.set !== i) continue
      const members = this.members[i]
      names.push(entry.name)
      counts.push(members === undefined ? 0 : typeof members === 'string' ? 1 : members.size)
      if (deleteAll) {
        this.remove(entry)
        deleted = true
      } else if (typeof members === 'string') this.members[i] = undefined
      else members?.clear()
    }
    if (this.deleted > 0) this.compact()
    return deleted
  }

  /** Drops deleted sets, keeping the order of the others. */
  private compact(): void {
    let kept = 0
    for (let i = 0; i < this.entries.length; i++) {
      const entry = this.entries[i]!
      if (entry.set !== i) continue
      this.entries[kept] = entry
      this.members[kept] = this.members[i]
      entry.set = kept++
    }
    this.entries.length = this.members.length = kept
    this.deleted = 0
  }
}

function membersOf(members: Members): string[] {
  return members === undefined ? [] : typeof members === 'string' ? [members] : [...members]
}
