/**
 * How the tests launch Debian's Chromium through playwright-core:
 * `chromium.launch(chromiumLaunchOptions())`. `/usr/bin/chromium` (no browser download is
 * possible), as root on a closed network. Plain options, so this package does not depend on
 * playwright-core.
 */
export function chromiumLaunchOptions(): {
  executablePath: string
  args: string[]
  timeout: number
} {
  return {
    executablePath: '/usr/bin/chromium',
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    // launching on a busy 2-core machine
    timeout: 30_000,
  }
}
