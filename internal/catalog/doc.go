// Package catalog describes the platform API that keys grant access to, as a
// list of methods. Each method pairs an HTTP method and a path pattern with
// the resource and access level it needs, the block it is shown in, where the
// request names its store, and whether merchants may call it.
//
// A catalog is read from YAML. The built-in commerce catalog (commerce.yaml,
// embedded in the binary) is also the annotated example of the format:
//
//	version: "2025-01"          # optional, free text
//	options: {method_override: false, path_params: false}
//	methods:
//	  - id: orders.get          # unique; keys list it in their allowlist
//	    method: GET             # GET, HEAD, POST, PUT, PATCH or DELETE
//	    path: /api/v5/orders/{id}   # {name} segments are parameters (at most 4)
//	    block: Orders           # display group; a block name selects all its methods
//	    resource: orders        # the permission resource checked
//	    access: read            # read or write
//	    store: {in: query, name: store}  # query, path or header; omit when none
//	    summary: Get one order
//	    merchant: false         # merchant credentials may call it
//	    owner:                  # for merchant methods scoped to their owner
//	      kind: record          # create, record or list
//	      id_field: id          # create: field of the JSON answer holding the id
//	      param: id             # record: path parameter holding the record id
//	      filter: merchant_id   # list: query parameter forced to the owner
//	      field: merchant_id    # the record's field naming its merchant
//	    references:             # body fields naming records the merchant must own
//	      - {field: job_id, resource: jobs}
//	    upgrade: websocket      # the one protocol the connection may switch to
//	    admin_only: false       # never callable by merchant credentials
//
// Unknown fields are rejected, and every error names the method and field at
// fault. A catalog is immutable once loaded and safe for concurrent use.
//
// Match resolves a request to its method through a segment trie built at
// load: a literal segment beats a parameter, a trailing slash is ignored, and
// a match does not allocate.
package catalog
