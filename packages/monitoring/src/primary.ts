/**
 * `@shallot/monitoring/primary`: importing this module runs {@link setupClusterPrimary} with its
 * defaults in the cluster primary, so that `/metrics` and `/stats` on any worker report the
 * whole cluster. For a primary you do not write yourself:
 *
 * ```sh
 * shallot-serve ./app.js --workers 4 --primary @shallot/monitoring/primary
 * ```
 *
 * or `import '@shallot/monitoring/primary'` at the top of your own primary. Importing it again
 * does nothing more; importing it in a cluster worker throws (it must run in the primary).
 *
 * @see https://github.com/shallot-js/shallot/tree/main/packages/monitoring#cluster
 * @module
 */
import { setupClusterPrimary } from './cluster.js'

/**
 * Removes the listeners this module installed in the primary (what
 * {@link setupClusterPrimary} returned). Rarely needed: a primary keeps them for its life.
 */
export const stopClusterPrimary: () => void = setupClusterPrimary()
