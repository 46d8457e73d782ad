// Package keyward is the Go client of keyward's REST API.
//
// A Client has a service per resource; every call takes a context and
// returns a *ProblemError when the node refuses, so a 4xx or 5xx is an
// error like any other:
//
//	client, err := keyward.NewClient("http://127.0.0.1:8080", keyward.WithToken(os.Getenv("KEYWARD_TOKEN")))
//	key, err := client.Keys.Create(ctx, keyward.KeyCreate{Name: "THQ", Permissions: &keyward.Permissions{"orders": "read"}})
//	if errors.Is(err, keyward.ErrConflict) { … } // or keyward.IsCode(err, "conflict")
//
// Lists are iterators that follow next_cursor page by page:
//
//	for k, err := range client.Keys.List(ctx, &keyward.ListKeysParams{Enabled: keyward.Bool(true)}) { … }
//
// Changes are JSON merge patches: a member left nil keeps its value,
// keyward.Null removes it. WithIfMatch makes a change conditional on the
// ETag that ETagInto kept:
//
//	var tag string
//	key, err = client.Keys.Get(ctx, id, keyward.ETagInto(&tag))
//	key, err = client.Keys.Update(ctx, id, keyward.KeyUpdate{Enabled: keyward.Bool(false), Methods: keyward.Null[[]string]()}, keyward.WithIfMatch(tag))
//
// Creates and other POSTs that the API document declares idempotent carry
// an Idempotency-Key (WithIdempotencyKey, or a random one), so that the
// client's retries never do a thing twice; no other call sends one.
// Merchants authenticate with WithMerchantCredentials; the operator's
// routes (Tenants, Licence.Grant) take the operator token.
//
// keyward.gen.go holds the request and answer types, generated from the
// API document (internal/api/openapi.json) by oapi-codegen, a tool
// dependency of this module: run "go generate" here after the document
// changes.
package keyward
