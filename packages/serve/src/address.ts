import type { AddressInfo } from 'node:net'

/** Where the server listens. */
export interface ServeAddress {
  /** The bound address, e.g. `127.0.0.1`, `::`. */
  address: string
  port: number
  family: 'IPv4' | 'IPv6'
  /** `http://127.0.0.1:8000`, `http://[::]:8000`. */
  url: string
}

/** @internal */
export function toServeAddress(info: Pick<AddressInfo, 'address' | 'port'>): ServeAddress {
  const v6 = info.address.includes(':')
  return {
    address: info.address,
    port: info.port,
    family: v6 ? 'IPv6' : 'IPv4',
    url: `http://${v6 ? `[${info.address}]` : info.address}:${info.port}`,
  }
}
