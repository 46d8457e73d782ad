package keyward

import "github.com/oapi-codegen/nullable"

// The helpers below fill the optional members of request bodies without
// another import. In a merge patch (the XxxUpdate types) a nil pointer or
// an unset Nullable is left out and keeps the stored value; Null[T]()
// sends null, which removes it.

// Ptr returns a pointer to v.
func Ptr[T any](v T) *T { return &v }

// Bool returns a pointer to b.
func Bool(b bool) *bool { return &b }

// String returns a pointer to s.
func String(s string) *string { return &s }

// Int returns a pointer to n.
func Int(n int) *int { return &n }

// Set returns a nullable member that sends v.
func Set[T any](v T) nullable.Nullable[T] { return nullable.NewNullableWithValue(v) }

// Null returns a nullable member that sends null: in a merge patch,
// remove the member.
func Null[T any]() nullable.Nullable[T] { return nullable.NewNullNullable[T]() }
