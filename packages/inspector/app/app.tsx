/**
 * The inspector page: the token field and the page's own traffic (requests made, bytes
 * received), the stream list, the selected stream's timeline and state at T, and the comparison
 * of several streams at the same T. The selection lives in the URL's hash
 * (`#stream=<name>&compare=<a>,<b>`), so a view can be linked to: picking a stream is a new
 * history entry (Back returns to the one before), the comparison changes the current one, and
 * Back, Forward, a hash link or an edited hash show the selection that hash names.
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

/** The hash of a selection, with the names' slashes and commas left readable. */
function selectionHash(stream: string | undefined, compare: readonly string[]): string {
  const params = new URLSearchParams()
  if (stream !== undefined) params.set('stream', stream)
  if (compare.length > 0) params.set('compare', compare.join(','))
  return `#${params.toString().replace(/%2F/g, '/').replace(/%2C/g, ',')}`
}

function sameNames(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((name, i) => name === b[i])
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
  // The hash changed under the page (Back, Forward, a link, an edit): show what it names.
  // Traversals fire `popstate`, links and edits `hashchange` (often both: following twice is
  // harmless, as neither writes the hash).
  useEffect(() => {
    const follow = () => {
      const { stream, compare } = readHash()
      setSelected(stream)
      setCompared((shown) => (sameNames(shown, compare) ? shown : compare))
      setError(undefined)
    }
    window.addEventListener('popstate', follow)
    window.addEventListener('hashchange', follow)
    return () => {
      window.removeEventListener('popstate', follow)
      window.removeEventListener('hashchange', follow)
    }
  }, [])

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
    // Another stream is a page of its own for Back; the shown one again is not.
    if (name !== selected) window.history.pushState(null, '', selectionHash(name, compared))
    setSelected(name)
  }
  const compare = (names: string[]) => {
    // The comparison refines the view shown: ticking three streams is not three steps back.
    window.history.replaceState(null, '', selectionHash(selected, names))
    setCompared(names)
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
          onCompare={compare}
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
