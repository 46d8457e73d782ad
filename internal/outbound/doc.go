// Package outbound makes HTTP requests to addresses chosen by users (webhook
// endpoints, connector base URLs) without letting those users reach what
// only keyward can reach: its own loopback, the private network around it,
// link-local addresses and the cloud metadata service.
//
// The rule is enforced where it cannot be dodged: in the dialer's Control
// hook, on the IP address actually being connected to, after DNS
// resolution. A name that resolves to a public address when an endpoint is
// saved and to 127.0.0.1 when it is called (DNS rebinding) is refused at the
// second dial. Refused ranges follow the IANA IPv4 and IPv6 special-purpose
// address registries; IPv4-mapped IPv6 addresses are judged as the IPv4
// address they carry, and NAT64 addresses (64:ff9b::/96) by the IPv4
// address they embed. The operator may allow ranges (Config.Allow), which
// then take precedence over the refusal; tests allow 127.0.0.1 for their
// receivers.
//
// Config.CheckURL checks an endpoint URL when it is saved (HTTPS unless
// HTTP is allowed, no user information, no ambiguous numeric host spellings,
// no metadata names). It serves the person typing the URL; the dial-time
// check is what keeps the promise.
//
// Requests made through a Client ignore proxy settings from the environment
// (a proxy would hide the real destination), follow no redirects unless
// allowed (each followed one is checked again), carry timeouts on every
// phase, and read at most Config.MaxResponseBytes of a response body.
package outbound
