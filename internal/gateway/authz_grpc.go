package gateway

import (
	"context"
	"encoding/json"
	"net/http"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
)

// EnvoyAuthz is Envoy's gRPC external authorization service
// (envoy.service.auth.v3.Authorization) answering with an Authz's decisions.
type EnvoyAuthz struct {
	authv3.UnimplementedAuthorizationServer
	a *Authz
}

// Envoy returns the gRPC ext_authz service of a.
func (a *Authz) Envoy() *EnvoyAuthz { return &EnvoyAuthz{a: a} }

// Register adds the service to a gRPC server.
func (e *EnvoyAuthz) Register(s *grpc.Server) { authv3.RegisterAuthorizationServer(s, e) }

// Check decides one request Envoy describes. An allowed request gets the
// identity headers and the removal of every header carrying a keyward
// credential; a refused one the gateway's status and problem+json.
func (e *EnvoyAuthz) Check(ctx context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	hr := req.GetAttributes().GetRequest().GetHttp()
	h := make(http.Header, len(hr.GetHeaders()))
	for name, v := range hr.GetHeaders() {
		if len(name) > 0 && name[0] == ':' {
			continue // pseudo-headers
		}
		h.Add(name, v)
	}
	for _, hv := range hr.GetHeaderMap().GetHeaders() {
		if name := hv.GetKey(); len(name) > 0 && name[0] != ':' {
			v := hv.GetValue()
			if v == "" {
				v = string(hv.GetRawValue())
			}
			h.Add(name, v)
		}
	}
	var body []byte
	if raw := hr.GetRawBody(); len(raw) > 0 {
		body = raw
	} else if b := hr.GetBody(); b != "" {
		body = []byte(b)
	}
	x := e.a.obs.begin(ctx, h, "authz envoy")
	ans := e.a.DecideFrom(x.ctx, hr.GetMethod(), hr.GetPath(), h, body, e.client(ctx, req, h))
	e.a.obs.end(x, hr.GetMethod(), &ans)
	if ans.Allowed {
		ok := &authv3.OkHttpResponse{HeadersToRemove: credentialHeaders(h)}
		for name, vals := range ans.Header {
			for _, v := range vals {
				ok.Headers = append(ok.Headers, &corev3.HeaderValueOption{
					Header:       &corev3.HeaderValue{Key: name, Value: v},
					AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
				})
			}
		}
		if ans.RequestID != "" {
			ok.ResponseHeadersToAdd = append(ok.ResponseHeadersToAdd, &corev3.HeaderValueOption{
				Header:       &corev3.HeaderValue{Key: HeaderRequestID, Value: ans.RequestID},
				AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
			})
		}
		return &authv3.CheckResponse{
			Status:       &rpcstatus.Status{Code: int32(codes.OK)},
			HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: ok},
		}, nil
	}
	b, _ := json.Marshal(ans.Problem)
	denied := &authv3.DeniedHttpResponse{Status: &typev3.HttpStatus{Code: typev3.StatusCode(ans.Status)}, Body: string(b)}
	add := func(name, v string) {
		denied.Headers = append(denied.Headers, &corev3.HeaderValueOption{
			Header: &corev3.HeaderValue{Key: name, Value: v}, AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
		})
	}
	add("Content-Type", "application/problem+json")
	add("Cache-Control", "no-store")
	for name, vals := range ans.Header {
		for _, v := range vals {
			add(name, v)
		}
	}
	code := codes.PermissionDenied
	if ans.Status == http.StatusUnauthorized {
		code = codes.Unauthenticated
	}
	return &authv3.CheckResponse{
		Status:       &rpcstatus.Status{Code: int32(code), Message: ans.Problem.Code},
		HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: denied},
	}, nil
}
