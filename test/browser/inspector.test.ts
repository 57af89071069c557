/**
 * The web inspector in headless Chromium, served by a real server at /inspector/: the stream list
 * searched by prefix, the slider scrubbing the state at T (checked against /v1/state?at=), a
 * second pass over the same range making no request, live mode showing a new entry, several
 * stations compared at one time, the view following the URL's hash through Back and Forward, the
 * token field with access control on, and a 100,000-entry window listed without putting 100,000
 * rows in the page. A screenshot is saved under test/artifacts/.
 */
import { mkdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { Page } from 'playwright-core'
import { describe, expect } from 'vitest'
import { chromiumAvailable, launchChromium, openPage } from '../support/browser.ts'
import { append, createStateStream, getJson, liveTest } from '../support/live-server.ts'
import { SECRET, hsToken } from '../support/tokens.ts'

const ARTIFACTS = fileURLToPath(new URL('../artifacts/', import.meta.url))
// Entries carry their own ts, from a minute ahead (a writer's ts may not be before the stream's creation).
const BASE_TS = Math.ceil(Date.now() / 1000) * 1000 + 60_000
const STATIONS = ['weather/station-1', 'weather/station-2', 'weather/station-3']

/** A station's readings: one entry a second from BASE_TS (station i starts i·7 s later). */
async function seedStations(url: string, entries: number): Promise<void> {
  for (const [i, name] of STATIONS.entries()) {
    await createStateStream(url, name, 25)
    const messages = Array.from({ length: entries }, (_, n) => ({
      merge: { station: i + 1, t: Math.round((15 + 5 * Math.sin((n + i * 13) / 20)) * 10) / 10, n, ...(n % 40 === 0 && { rain: n / 40 }) },
      ts: BASE_TS + i * 7000 + n * 1000,
    }))
    await append(url, name, JSON.stringify(messages))
  }
}

/** The page's request count. */
async function requests(page: Page): Promise<number> {
  return Number(await page.getByTestId('traffic').getAttribute('data-requests'))
}

/** Drags the slider's thumb from its left end to its right end in `steps` moves, and back to `back`. */
async function dragAcross(page: Page, steps: number): Promise<void> {
  const box = await page.getByTestId('slider').boundingBox()
  if (box === null) throw new Error('no slider')
  const y = box.y + box.height / 2
  await page.mouse.move(box.x + 2, y)
  await page.mouse.down()
  for (let i = 0; i <= steps; i++) await page.mouse.move(box.x + 2 + ((box.width - 4) * i) / steps, y)
  await page.mouse.up()
}

/** Drags to `fraction` of the slider and returns the T the page settled on, once its state is shown. */
async function dragTo(page: Page, fraction: number): Promise<number> {
  const box = await page.getByTestId('slider').boundingBox()
  if (box === null) throw new Error('no slider')
  await page.mouse.click(box.x + 2 + (box.width - 4) * fraction, box.y + box.height / 2)
  return Number(await page.getByTestId('at').getAttribute('data-at'))
}

/** Waits until the page shows, for T, the state the server gives for T. */
async function expectStateAt(page: Page, url: string, name: string, at: number): Promise<void> {
  const { body } = await getJson<{ seq: number; state: unknown }>(url, `/v1/state/${name}?at=${at}`)
  await expect.poll(async () => page.getByTestId('at').getAttribute('data-seq')).toBe(String(body.seq))
  const raw = await page.getByTestId('state-raw').textContent()
  expect(JSON.parse(raw ?? 'null')).toEqual(body.state)
}

// In CI the browser must be there (.ci/run installs it): a missing one fails rather than skips.
describe.skipIf(!chromiumAvailable() && process.env.CI === undefined)('inspector in Chromium', () => {
  liveTest('scrubs, refetches nothing on a second pass, follows live, compares stations', async ({ serve }) => {
    const { url } = await serve()
    await seedStations(url, 300)
    const browser = await launchChromium()
    try {
      const { page, errors } = await openPage(browser, `${url}/inspector`)
      expect(page.url()).toBe(`${url}/inspector/`)
      await page.setViewportSize({ width: 1400, height: 900 })

      // The list, searched by prefix.
      await page.getByTestId('prefix').fill('weather/station-')
      await expect.poll(() => page.getByTestId('stream-list').locator('li').count()).toBe(3)
      await page.getByTestId('prefix').fill('weather/station-2')
      await expect.poll(() => page.getByTestId('stream-list').locator('li').count()).toBe(1)
      await page.getByTestId('prefix').fill('weather/')
      await expect.poll(() => page.getByTestId('stream-list').locator('li').count()).toBe(3)
      await page.getByTestId('stream-weather/station-1').click()
      await page.getByTestId('raw').click()
      await expectStateAt(page, url, STATIONS[0] as string, Number(await page.getByTestId('at').getAttribute('data-at')))

      // The slider: three times, each checked against the server.
      for (const fraction of [0.2, 0.55, 0.9]) await expectStateAt(page, url, STATIONS[0] as string, await dragTo(page, fraction))

      // A first pass over the whole range fetches the windows it crosses; a second pass, none.
      const before = await requests(page)
      await dragAcross(page, 60)
      await expectStateAt(page, url, STATIONS[0] as string, Number(await page.getByTestId('at').getAttribute('data-at')))
      const firstPass = (await requests(page)) - before
      await dragAcross(page, 60)
      for (const fraction of [0.2, 0.55, 0.9]) await expectStateAt(page, url, STATIONS[0] as string, await dragTo(page, fraction))
      const secondPass = (await requests(page)) - before - firstPass
      expect(firstPass).toBeGreaterThan(0)
      expect(secondPass).toBe(0)
      process.stdout.write(`inspector slider: first pass ${firstPass} requests, second pass ${secondPass}\n`)

      // Compare: the three stations side by side at T.
      for (const name of STATIONS) await page.getByTestId(`compare-${name}`).check()
      const at = await dragTo(page, 0.5)
      for (const name of STATIONS) {
        const { body } = await getJson<{ seq: number }>(url, `/v1/state/${name}?at=${at}`)
        await expect.poll(() => page.getByTestId(`compare-column-${name}`).getAttribute('data-seq')).toBe(String(body.seq))
      }

      // Live: an entry appended now appears, and T follows it.
      await page.getByTestId('live').check()
      await append(url, STATIONS[0] as string, JSON.stringify({ merge: { t: 99.5, note: 'live' } }))
      await expect.poll(() => page.getByTestId('at').getAttribute('data-seq')).toBe('301')
      await expect.poll(() => page.getByTestId('entries').locator('[data-seq="301"]').count()).toBe(1)
      expect(JSON.parse((await page.getByTestId('state-raw').textContent()) ?? 'null')).toMatchObject({ t: 99.5, note: 'live' })
      await page.getByTestId('raw').click()

      mkdirSync(ARTIFACTS, { recursive: true })
      await page.screenshot({ path: `${ARTIFACTS}inspector.png`, fullPage: true })
      expect(errors).toEqual([])
    } finally {
      await browser.close()
    }
  })

  liveTest('the view follows the hash: an edited hash, Back and Forward, a comparison per entry', async ({ serve }) => {
    const { url } = await serve()
    await seedStations(url, 30)
    const [one, two, three] = STATIONS as [string, string, string]
    const browser = await launchChromium()
    try {
      const { page, errors } = await openPage(browser, `${url}/inspector/#stream=${one}`)
      const shown = () => page.getByTestId('stream-view').getAttribute('data-stream')
      const hash = () => page.evaluate<string>('decodeURIComponent(location.hash)')
      const columns = () => page.locator('[data-testid^="compare-column-"]').count()
      await expect.poll(shown).toBe(one)

      // A hash set by hand (or by a link) changes the view.
      await page.evaluate(`location.hash = ${JSON.stringify(`#stream=${two}`)}`)
      await expect.poll(shown).toBe(two)

      // Picking a stream is a new entry: Back shows the one before, Forward the picked one again.
      await page.getByTestId(`stream-${three}`).click()
      await expect.poll(shown).toBe(three)
      expect(await hash()).toBe(`#stream=${three}`)
      await page.goBack()
      expect(await hash()).toBe(`#stream=${two}`)
      await expect.poll(shown).toBe(two)
      await expect.poll(() => page.locator('li.selected').textContent()).toContain(two)
      await page.goForward()
      await expect.poll(shown).toBe(three)

      // Ticking a comparison changes the entry shown, not the history: Back leaves it with that
      // entry, and Forward brings it back.
      await page.getByTestId(`compare-${one}`).check()
      await expect.poll(columns).toBe(1)
      expect(await hash()).toBe(`#stream=${three}&compare=${one}`)
      await page.goBack()
      await expect.poll(shown).toBe(two)
      await expect.poll(columns).toBe(0)
      expect(await page.getByTestId(`compare-${one}`).isChecked()).toBe(false)
      await page.goForward()
      await expect.poll(shown).toBe(three)
      await expect.poll(columns).toBe(1)
      await expect.poll(() => page.getByTestId(`compare-${one}`).isChecked()).toBe(true)

      // The first entry, the loaded link, is still the first.
      await page.goBack()
      await page.goBack()
      await expect.poll(shown).toBe(one)
      expect(await hash()).toBe(`#stream=${one}`)
      expect(errors).toEqual([])
    } finally {
      await browser.close()
    }
  })

  liveTest('with access control on, the token field lets the page in', async ({ serve }) => {
    const { url } = await serve({ auth: { secret: SECRET } })
    const admin = await hsToken({ scope: 'admin read:* write:*' })
    const response = await fetch(`${url}/v1/stream/weather/station-1`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json', 'stream-kind': 'state' },
      body: '[{"set":{"t":1}}]',
    })
    expect(response.status).toBe(201)
    const browser = await launchChromium()
    try {
      const { page, expectError } = await openPage(browser, `${url}/inspector/`)
      // Without a token the page's first requests are refused, as they should be.
      expectError(/401/)
      await expect.poll(async () => (await page.getByTestId('error').textContent()) ?? '').toContain('UNAUTHORIZED')
      await page.getByTestId('token').fill(admin)
      await page.getByTestId('token').press('Enter')
      await page.getByTestId('token').blur()
      await page.getByTestId('stream-weather/station-1').click()
      await page.getByTestId('raw').click()
      await expect.poll(async () => page.getByTestId('state-raw').textContent()).toBe('{"t":1}')
    } finally {
      await browser.close()
    }
  })

  liveTest('a window of 100,000 entries is listed with only the rows in view in the page', async ({ serve }) => {
    const { url } = await serve()
    const name = 'big/one-window'
    // One window: no snapshot before 200,000 entries, 100 MB or 100,000 s.
    const put = await fetch(`${url}/v1/stream/${name}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', 'stream-kind': 'state', 'stream-snapshot-entries': '200000', 'stream-snapshot-bytes': '100000000', 'stream-snapshot-ms': '100000000' },
    })
    expect(put.status).toBe(201)
    for (let batch = 0; batch < 20; batch++) {
      const messages = Array.from({ length: 5000 }, (_, i) => ({ merge: { n: batch * 5000 + i }, ts: BASE_TS + batch * 5000 + i }))
      await append(url, name, JSON.stringify(messages))
    }
    const browser = await launchChromium()
    try {
      const { page, errors } = await openPage(browser, `${url}/inspector/#stream=${name}`)
      await page.getByTestId('raw').click()
      await expect.poll(() => page.getByTestId('entries').getAttribute('data-count')).toBe('100000')
      const rows = await page.getByTestId('entries').locator('.entry').count()
      expect(rows).toBeLessThan(60)
      for (const fraction of [0.1, 0.5, 0.97]) await expectStateAt(page, url, name, await dragTo(page, fraction))
      expect(errors).toEqual([])
    } finally {
      await browser.close()
    }
  })
})
