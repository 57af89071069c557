/**
 * A JSON value as a tree: objects and arrays fold, the members the entry at T changed are
 * highlighted (and the containers on the way to them marked). Large containers show their first
 * members and a count, so a huge state never renders in full.
 */
import { useState } from 'preact/hooks'

/** Most members of one container rendered before "… n more". */
const MEMBERS_SHOWN = 200

export interface JsonTreeProps {
  value: unknown
  /** JSON Pointers the entry at T changed (added, replaced or removed). */
  changed: ReadonlySet<string>
}

export function JsonTree({ value, changed }: JsonTreeProps) {
  return (
    <div class="json" data-testid="state">
      <Node name={undefined} value={value} pointer="" changed={changed} depth={0} />
    </div>
  )
}

interface NodeProps {
  name: string | undefined
  value: unknown
  pointer: string
  changed: ReadonlySet<string>
  depth: number
}

function Node({ name, value, pointer, changed, depth }: NodeProps) {
  const [open, setOpen] = useState(depth < 3)
  const isChanged = changed.has(pointer)
  const onPath = !isChanged && pointer !== '' && [...changed].some((other) => other.startsWith(`${pointer}/`))
  const label = name === undefined ? null : <span class="key">{name}: </span>
  const cls = `node${isChanged ? ' changed' : ''}${onPath ? ' on-path' : ''}`
  if (value === null || typeof value !== 'object') {
    return (
      <div class={cls} data-pointer={pointer}>
        {label}
        <span class={`value ${value === null ? 'null' : typeof value}`}>{JSON.stringify(value)}</span>
      </div>
    )
  }
  const members: Array<[string, unknown]> = Array.isArray(value) ? value.map((item, i) => [String(i), item]) : Object.entries(value)
  const [openMark, closeMark] = Array.isArray(value) ? ['[', ']'] : ['{', '}']
  return (
    <div class={cls} data-pointer={pointer}>
      <button type="button" class="fold" onClick={() => setOpen(!open)}>
        {open ? '▾' : '▸'}
      </button>
      {label}
      <span class="mark">
        {openMark}
        {!open && ` ${members.length} ${closeMark}`}
      </span>
      {open && (
        <div class="members">
          {members.slice(0, MEMBERS_SHOWN).map(([key, member]) => (
            <Node key={key} name={key} value={member} pointer={`${pointer}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`} changed={changed} depth={depth + 1} />
          ))}
          {members.length > MEMBERS_SHOWN && <div class="more">… {members.length - MEMBERS_SHOWN} more</div>}
        </div>
      )}
      {open && <span class="mark">{closeMark}</span>}
    </div>
  )
}
