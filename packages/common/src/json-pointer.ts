import { ErrorCode, StateStreamError, quote } from './errors.ts'

/** Splits an RFC 6901 JSON Pointer into its unescaped reference tokens ("" is the root: []). */
export function parsePointer(pointer: string): string[] {
  if (pointer === '') return []
  if (!pointer.startsWith('/')) {
    throw new StateStreamError(ErrorCode.INVALID_MUTATION, `${quote(pointer)} is not a JSON Pointer (it must be empty or start with "/")`)
  }
  // RFC 6901 §3: "~" only ever starts the escapes "~0" and "~1".
  if (/~(?![01])/.test(pointer)) {
    throw new StateStreamError(ErrorCode.INVALID_MUTATION, `${quote(pointer)} is not a JSON Pointer ("~" must be followed by 0 or 1)`)
  }
  return pointer
    .slice(1)
    .split('/')
    .map((token) => token.replace(/~1/g, '/').replace(/~0/g, '~'))
}

/** Escapes one reference token for use in a JSON Pointer. */
export function escapePointerToken(token: string): string {
  return token.replace(/~/g, '~0').replace(/\//g, '~1')
}
