/**
 * The stream list: the server's streams in name order, searched by prefix, a page at a time.
 * Clicking a name inspects it; a checkbox adds it to the comparison.
 */
import type { StateStreamClient, StreamListing } from '@statestream/client'
import { useEffect, useState } from 'preact/hooks'

const PAGE = 200

export interface StreamListProps {
  client: StateStreamClient
  selected: string | undefined
  compared: readonly string[]
  onSelect: (name: string) => void
  onCompare: (names: string[]) => void
  onError: (err: unknown) => void
  /** Changes when the list should be read again (a new token). */
  generation: number
}

export function StreamList(props: StreamListProps) {
  const { client, onError } = props
  const [prefix, setPrefix] = useState('')
  const [streams, setStreams] = useState<StreamListing[]>([])
  const [next, setNext] = useState<string | null>(null)

  useEffect(() => {
    let current = true
    const timer = setTimeout(() => {
      client.streams({ prefix, limit: PAGE }).then(
        (page) => {
          if (!current) return
          setStreams(page.streams)
          setNext(page.next)
        },
        (err: unknown) => current && onError(err),
      )
    }, 150)
    return () => {
      current = false
      clearTimeout(timer)
    }
  }, [client, prefix, props.generation])

  const more = () => {
    if (next === null) return
    client.streams({ prefix, limit: PAGE, cursor: next }).then((page) => {
      setStreams((shown) => [...shown, ...page.streams])
      setNext(page.next)
    }, onError)
  }
  const toggle = (name: string, on: boolean) =>
    props.onCompare(on ? [...props.compared, name] : props.compared.filter((other) => other !== name))

  return (
    <nav class="streams">
      <input
        class="search"
        data-testid="prefix"
        placeholder="search by prefix (weather/)"
        value={prefix}
        onInput={(event) => setPrefix((event.target as HTMLInputElement).value)}
      />
      <ul data-testid="stream-list">
        {streams.map((stream) => (
          <li key={stream.name} class={stream.name === props.selected ? 'selected' : ''}>
            <input
              type="checkbox"
              title="compare"
              data-testid={`compare-${stream.name}`}
              checked={props.compared.includes(stream.name)}
              disabled={stream.kind !== 'state'}
              onChange={(event) => toggle(stream.name, (event.target as HTMLInputElement).checked)}
            />
            <button type="button" data-testid={`stream-${stream.name}`} disabled={stream.kind !== 'state'} onClick={() => props.onSelect(stream.name)}>
              {stream.name}
            </button>
            <span class="meta">
              {stream.kind === 'state' ? `#${stream.seq}` : stream.kind}
              {stream.closed ? ' closed' : ''}
            </span>
          </li>
        ))}
      </ul>
      {streams.length === 0 && <p class="empty">no streams{prefix === '' ? '' : ` starting with "${prefix}"`}</p>}
      {next !== null && (
        <button type="button" class="more" onClick={more}>
          more
        </button>
      )}
    </nav>
  )
}
