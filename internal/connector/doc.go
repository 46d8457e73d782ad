// Package connector knows the external systems keyward keeps credentials
// for: Shopify, Magento 2, Mirakl, WooCommerce, BigCommerce, Fortnox,
// RetailCRM, ReCharge, Klaviyo, Retail Express and another keyward.
//
// Each [Type] lists its fields (which are secret, which are required, how
// each is checked and normalised), its cheapest read-only probe, how the
// probe's answers map to the closed set of outcomes (keyward.Outcome), and
// how its credentials are added to a request sent on a caller's behalf.
//
// Several systems answer two outcomes with one status (Magento and
// WooCommerce 401, RetailCRM 403) or send an HTML page where JSON was
// expected (a WordPress host, RetailCRM for an unknown account, a
// Cloudflare challenge in front of Klaviyo), so classification reads the
// body as well as the status, and never trusts a body to be JSON.
//
// The package sends requests only through the [Doer] it is given; keyward
// gives it the SSRF-safe client of internal/outbound.
package connector
