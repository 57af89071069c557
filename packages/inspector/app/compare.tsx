/**
 * Several streams side by side at one time T (`snapshotsAt`, the seed's grouper): each stream's
 * state after every entry with ts ≤ T, or "not yet" where it did not exist.
 */
import type { Json, Snapshot, StateStreamClient } from '@statestream/client'
import { useEffect, useRef, useState } from 'preact/hooks'
import { formatTime } from './format.ts'
import { JsonTree } from './json-tree.tsx'

export interface CompareProps {
  client: StateStreamClient
  names: readonly string[]
  at: number
  /** Changes when the selected stream got entries: the states are read again. */
  refresh: number
  onError: (err: unknown) => void
}

const NONE: ReadonlySet<string> = new Set()

export function Compare({ client, names, at, refresh, onError }: CompareProps) {
  const [states, setStates] = useState<Record<string, Snapshot<Json> | undefined>>({})
  const ticket = useRef(0)
  useEffect(() => {
    const mine = ++ticket.current
    client.snapshotsAt<Json>(names, at).then((found) => {
      if (mine === ticket.current) setStates(found)
    }, onError)
  }, [client, names.join('\n'), at, refresh])

  return (
    <section class="compare" data-testid="compare">
      <h2>
        {names.length} streams at {formatTime(at)}
      </h2>
      <div class="columns">
        {names.map((name) => {
          const snapshot = states[name]
          return (
            <div class="column" key={name} data-testid={`compare-column-${name}`} data-seq={snapshot?.seq ?? ''}>
              <h3>{name}</h3>
              {snapshot === undefined ? (
                <p class="empty">not yet</p>
              ) : (
                <>
                  <p class="meta">
                    #{snapshot.seq} · {formatTime(snapshot.ts)}
                  </p>
                  <JsonTree value={snapshot.state} changed={NONE} />
                </>
              )}
            </div>
          )
        })}
      </div>
    </section>
  )
}
