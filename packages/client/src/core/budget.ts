/**
 * One memory budget for a whole client, across all its streams. Each stream's window index is a
 * member: it reports what it holds and which of its windows may go. When the total passes the
 * budget, windows go in one order across every stream: lowest `used` first, where `used` is the
 * shared clock's tick at a window's last use (or a negative number for windows only histories
 * read, so those go first, the last fetched first). Pure bookkeeping: no I/O, no timers.
 */

/** A window a member may let go of. */
export interface Candidate {
  /** Eviction order, lowest first. */
  used: number
}

/** A stream's share of the budget. */
export interface BudgetMember<C extends Candidate = Candidate> {
  /** Estimated bytes it holds. */
  readonly bytes: number
  /** Its windows that may go now (none in use), except `keep`. */
  candidates(keep: unknown): C[]
  /** Lets `candidate` go; returns the bytes this freed (it may also give some back to others). */
  evict(candidate: C): number
}

/** Default memory budget of a client: 64 MiB. */
export const DEFAULT_MAX_BYTES = 64 * 1024 * 1024

export class MemoryBudget {
  readonly maxBytes: number
  readonly #members = new Set<BudgetMember>()
  #clock = 0

  constructor(maxBytes = DEFAULT_MAX_BYTES) {
    this.maxBytes = maxBytes
  }

  /** The next tick of the clock every member stamps uses with. */
  tick(): number {
    this.#clock += 1
    return this.#clock
  }

  join(member: BudgetMember): void {
    this.#members.add(member)
  }

  leave(member: BudgetMember): void {
    this.#members.delete(member)
  }

  /** Estimated bytes held by every member. */
  get bytes(): number {
    let total = 0
    for (const member of this.#members) total += member.bytes
    return total
  }

  /** Evicts windows, lowest `used` first across every member, until the total is within the budget. `keep` stays. */
  enforce(keep?: unknown): void {
    let total = this.bytes
    if (total <= this.maxBytes) return
    const candidates: Array<{ member: BudgetMember; candidate: Candidate }> = []
    for (const member of this.#members) for (const candidate of member.candidates(keep)) candidates.push({ member, candidate })
    candidates.sort((a, b) => a.candidate.used - b.candidate.used)
    for (const { member, candidate } of candidates) {
      if (total <= this.maxBytes) return
      total -= member.evict(candidate)
    }
  }
}
