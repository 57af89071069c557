/**
 * The inspector page: the token field and the page's own traffic (requests made, bytes
 * received), the stream list, the selected stream's timeline and state at T, and the comparison
 * of several streams at the same T. The selection lives in the URL's hash
 * (`#stream=<name>&compare=<a>,<b>`), so a view can be linked to.
 */
import { useEffect, useMemo, useState } from 'preact/hooks'
import { Compare } from './compare.tsx'
import { Connection } from './connection.ts'
import { formatBytes } from './format.ts'
import { StreamList } from './stream-list.tsx'
import { StreamView } from './stream-view.tsx'

const TOKEN_KEY = 'statestream.token'

/** The statestream server: the one serving the page (`/inspector/` is below its root). */
function serverUrl(): string {
  return new URL('../', window.location.href).href
}

function readHash(): { stream: string | undefined; compare: string[] } {
  const params = new URLSearchParams(window.location.hash.slice(1))
  const compare = (params.get('compare') ?? '').split(',').filter((name) => name !== '')
  return { stream: params.get('stream') ?? undefined, compare }
}

function writeHash(stream: string | undefined, compare: readonly string[]): void {
  const params = new URLSearchParams()
  if (stream !== undefined) params.set('stream', stream)
  if (compare.length > 0) params.set('compare', compare.join(','))
  window.history.replaceState(null, '', `#${params.toString().replace(/%2F/g, '/').replace(/%2C/g, ',')}`)
}

export function App() {
  const initial = useMemo(readHash, [])
  const [token, setToken] = useState(() => sessionStorage.getItem(TOKEN_KEY) ?? '')
  const connection = useMemo(() => new Connection(serverUrl(), token), [])
  const [traffic, setTraffic] = useState({ ...connection.traffic })
  const [selected, setSelected] = useState<string | undefined>(initial.stream)
  const [compared, setCompared] = useState<string[]>(initial.compare)
  const [at, setAt] = useState<number>()
  const [headSeq, setHeadSeq] = useState(0)
  const [error, setError] = useState<string>()
  const [generation, setGeneration] = useState(0)

  useEffect(() => connection.onTraffic(() => setTraffic({ ...connection.traffic })), [connection])
  useEffect(() => writeHash(selected, compared), [selected, compared])

  const onError = (err: unknown) => {
    const { code, message } = err as { code?: string; message?: string }
    setError(`${code ?? 'ERROR'}: ${message ?? String(err)}${code === 'UNAUTHORIZED' || code === 'FORBIDDEN' ? ' (enter a token that grants it)' : ''}`)
  }
  const applyToken = (value: string) => {
    setToken(value)
    sessionStorage.setItem(TOKEN_KEY, value)
    connection.token = value
    setError(undefined)
    setGeneration((n) => n + 1)
  }
  const select = (name: string) => {
    setError(undefined)
    setSelected(name)
  }
  const stream = useMemo(() => (selected === undefined ? undefined : connection.client.stream(selected)), [selected, generation])

  return (
    <div class="inspector">
      <header class="top">
        <h1>statestream inspector</h1>
        <form class="token" onSubmit={(event) => event.preventDefault()}>
          <label>
          token{' '}
          <input
            type="password"
            data-testid="token"
            placeholder="bearer token, when auth is on"
            value={token}
            autocomplete="off"
            onChange={(event) => applyToken((event.target as HTMLInputElement).value)}
          />
          </label>
        </form>
        <span class="traffic" data-testid="traffic" data-requests={traffic.requests} data-bytes={traffic.bytes}>
          {traffic.requests} requests · {formatBytes(traffic.bytes)} received
        </span>
      </header>
      {error !== undefined && (
        <p class="error" data-testid="error">
          {error}
        </p>
      )}
      <div class="body">
        <StreamList
          client={connection.client}
          selected={selected}
          compared={compared}
          onSelect={select}
          onCompare={setCompared}
          onError={onError}
          generation={generation}
        />
        <main>
          {stream === undefined ? (
            <p class="empty">pick a stream</p>
          ) : (
            <StreamView key={`${stream.name}#${generation}`} stream={stream} at={at} onAt={setAt} onHead={setHeadSeq} onError={onError} />
          )}
          {compared.length > 0 && <Compare client={connection.client} names={compared} at={at ?? Date.now()} refresh={headSeq} onError={onError} />}
        </main>
      </div>
    </div>
  )
}
