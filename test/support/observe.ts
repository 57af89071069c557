/**
 * Waiting on observables without depending on rxjs here: the first value that matches, or every
 * value until completion. Event-driven, so no test sleeps for an outcome.
 */

/**
 * Anything with rxjs's `subscribe` shape. Written as the three-callback signature, the last of
 * `Observable.subscribe`'s overloads, which is the one TypeScript infers `T` from.
 */
interface Subscribable<T> {
  subscribe(next: (value: T) => void, error: (err: unknown) => void, complete: () => void): { unsubscribe(): void }
}

/** The first value matching `predicate` (any value by default). */
export function first<T>(source: Subscribable<T>, predicate: (value: T) => boolean = () => true): Promise<T> {
  return new Promise((resolve, reject) => {
    let done = false
    let subscription: { unsubscribe(): void } | undefined
    subscription = source.subscribe(
      (value) => {
        if (done || !predicate(value)) return
        done = true
        resolve(value)
        subscription?.unsubscribe()
      },
      reject,
      () => {
        if (!done) reject(new Error('completed without a matching value'))
      },
    )
    if (done) subscription.unsubscribe()
  })
}

/** Every value until the source completes. */
export function collect<T>(source: Subscribable<T>): Promise<T[]> {
  return new Promise((resolve, reject) => {
    const values: T[] = []
    source.subscribe((value) => values.push(value), reject, () => resolve(values))
  })
}

/** The error the source fails with. */
export function failure(source: Subscribable<unknown>): Promise<unknown> {
  return new Promise((resolve, reject) => {
    source.subscribe(() => undefined, resolve, () => reject(new Error('completed without an error')))
  })
}
