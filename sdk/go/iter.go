package keyward

import (
	"context"
	"fmt"
	"iter"
	"net/url"
	"reflect"
	"strings"
	"time"
)

// page is any list answer: its records, and where the next page starts
// when there is one.
type page[T any] struct {
	Data       []T     `json:"data"`
	NextCursor *string `json:"next_cursor"`
}

// list walks a list a page at a time, following next_cursor (sent back as
// cursor) until a page has none. params are the operation's generated
// XxxParams (or nil); its Cursor, if set, is where to start.
func list[T any](ctx context.Context, c *Client, path string, params any) iter.Seq2[*T, error] {
	return func(yield func(*T, error) bool) {
		q := query(params)
		for {
			var p page[T]
			if _, err := c.do(ctx, op("GET", path, false, false).q(q), &p); err != nil {
				yield(nil, err)
				return
			}
			for i := range p.Data {
				if !yield(&p.Data[i], nil) {
					return
				}
			}
			if p.NextCursor == nil || *p.NextCursor == "" {
				return
			}
			if *p.NextCursor == q.Get("cursor") {
				yield(nil, fmt.Errorf("keyward: GET %s answered the same next_cursor twice", path))
				return
			}
			q = cloneValues(q)
			q.Set("cursor", *p.NextCursor)
		}
	}
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// Collect reads a whole list into a slice, stopping at the first error.
func Collect[T any](seq iter.Seq2[*T, error]) ([]*T, error) {
	var out []*T
	for v, err := range seq {
		if err != nil {
			return out, err
		}
		out = append(out, v)
	}
	return out, nil
}

// query encodes the members of a generated XxxParams that go in the query
// string: those with a form tag, nil ones left out.
func query(params any) url.Values {
	q := url.Values{}
	v := reflect.ValueOf(params)
	if !v.IsValid() || v.Kind() == reflect.Pointer && v.IsNil() {
		return q
	}
	v = reflect.Indirect(v)
	for i := range v.NumField() {
		name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("form"), ",")
		f := v.Field(i)
		if name == "" || f.Kind() == reflect.Pointer && f.IsNil() {
			continue
		}
		f = reflect.Indirect(f)
		switch x := f.Interface().(type) {
		case time.Time:
			q.Set(name, x.Format(time.RFC3339Nano))
		default:
			q.Set(name, fmt.Sprint(x))
		}
	}
	return q
}
