// Package policy compiles what an API key may do into a Policy and decides,
// for each proxied request, whether the key may make it. Compile checks the
// key's permissions, store access and method allowlist against a catalog and
// turns them into bitsets over the catalog's method indexes and a small store
// set, so that Decide, run on every request, is a few bit tests and a lookup
// that never allocate.
//
// Decide checks, in order: expiry, the merchant restriction, the method
// allowlist, the resource permission and the store. The first failing check
// gives the Decision's code, and Decision.Message explains it in a sentence a
// person can act on.
package policy
