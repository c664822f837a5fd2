/*
 * Dates for log lines, formatted once per second (or per millisecond for ISO) and reused:
 * a busy server writes thousands of lines with the same date string.
 */

const CLF_MONTH = [
  'Jan',
  'Feb',
  'Mar',
  'Apr',
  'May',
  'Jun',
  'Jul',
  'Aug',
  'Sep',
  'Oct',
  'Nov',
  'Dec',
]

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n)
}

function pad3(n: number): string {
  return n < 10 ? `00${n}` : n < 100 ? `0${n}` : String(n)
}

let clfSecond = -1
let clfValue = ''

/** The common log format date of `ms` (`10/Oct/2000:13:55:36 +0000`), as morgan's `:date[clf]`. */
export function clfDate(ms: number): string {
  const second = Math.floor(ms / 1000)
  if (second !== clfSecond) {
    const d = new Date(second * 1000)
    clfValue = `${pad2(d.getUTCDate())}/${CLF_MONTH[d.getUTCMonth()]}/${d.getUTCFullYear()}:${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())} +0000`
    clfSecond = second
  }
  return clfValue
}

let webSecond = -1
let webValue = ''

/** The HTTP date of `ms` (`Tue, 10 Oct 2000 13:55:36 GMT`), as morgan's `:date[web]`. */
export function webDate(ms: number): string {
  const second = Math.floor(ms / 1000)
  if (second !== webSecond) {
    webValue = new Date(second * 1000).toUTCString()
    webSecond = second
  }
  return webValue
}

let isoSecond = -1
let isoPrefix = ''

/** The ISO 8601 UTC date of `ms` with milliseconds (`2000-10-10T13:55:36.123Z`), as `Date#toISOString`. */
export function isoDate(ms: number): string {
  const second = Math.floor(ms / 1000)
  if (second !== isoSecond) {
    // "2000-10-10T13:55:36." (years 0 to 9999; others fall back below)
    const iso = new Date(second * 1000).toISOString()
    isoPrefix = iso.length === 24 ? iso.slice(0, 20) : ''
    isoSecond = second
  }
  if (isoPrefix === '') return new Date(ms).toISOString()
  return `${isoPrefix}${pad3(ms - second * 1000)}Z`
}
