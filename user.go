package keyward

import (
	"net/mail"
	"strings"
	"time"
)

// User is a staff user of a tenant's back office.
type User struct {
	Versioned
	ID        string `json:"id"`
	TenantID  string `json:"-"`
	Email     string `json:"email"`
	Name      string `json:"name"`
	ProfileID string `json:"profile_id"`
	Active    bool   `json:"active"`
	// MustChangePassword is set when an administrator reset the password
	// or the operator issued a sign-in link: the user must choose a new
	// password before doing anything else.
	MustChangePassword bool      `json:"must_change_password"`
	PasswordHash       string    `json:"-"`
	CreatedAt          time.Time `json:"created_at"`
	UpdatedAt          time.Time `json:"updated_at"`
}

// UserCreate is the input for creating a user. An empty Password asks for a
// generated one, returned once.
type UserCreate struct {
	Email     string `json:"email"`
	Name      string `json:"name"`
	ProfileID string `json:"profile_id"`
	Password  string `json:"password"`
	Active    *bool  `json:"active"`
}

// Validate checks and normalises the input.
func (in *UserCreate) Validate() error {
	email, err := NormaliseEmail(in.Email)
	if err != nil {
		return err
	}
	in.Email = email
	if in.ProfileID == "" {
		return Invalid("profile_id", "profile_id is required: every user acts with one security profile")
	}
	if in.Password != "" && (len(in.Password) < 12 || len(in.Password) > 256) {
		return Invalid("password", "password must be 12 to 256 characters; leave it out to have one generated")
	}
	return ValidText("name", in.Name, 200)
}

// UserUpdate changes a user, read as a JSON Merge Patch (RFC 7396): fields
// left out keep their value; none of them can be removed (null).
type UserUpdate struct {
	Name      *string `json:"name"`
	ProfileID *string `json:"profile_id"`
	Active    *bool   `json:"active"`
}

// NormaliseEmail checks an e-mail address and returns it in lower case.
func NormaliseEmail(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || len(s) > 254 {
		return "", Invalid("email", "email %q is not a valid address such as \"ana@example.com\"", s)
	}
	return s, nil
}

// Token is a personal access token of a user, for the admin REST API. It
// acts with its user's profile, read fresh on every request.
type Token struct {
	ID         string     `json:"id"`
	TenantID   string     `json:"-"`
	UserID     string     `json:"user_id"`
	Name       string     `json:"name"`
	Hint       string     `json:"hint"`
	Digest     []byte     `json:"-"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
}

// TokenCreate is the input for creating a personal access token.
type TokenCreate struct {
	Name      string     `json:"name"`
	ExpiresAt *time.Time `json:"expires_at"`
}

// AuditEntry records one change: who, what, when, from where, which fields.
type AuditEntry struct {
	Seq        int64          `json:"seq"`
	TenantID   string         `json:"-"`
	Actor      string         `json:"actor"`
	ActorID    string         `json:"actor_id,omitempty"`
	Action     string         `json:"action"`
	ObjectType string         `json:"object_type"`
	ObjectID   string         `json:"object_id"`
	Address    string         `json:"address,omitempty"`
	Changes    map[string]any `json:"changes,omitempty"`
	At         time.Time      `json:"at"`
}

// PasswordChange is a user's change of their own password.
type PasswordChange struct {
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password"`
}

// ValidPassword checks a password a person chose.
func ValidPassword(field, pw string) error {
	if len(pw) < 12 || len(pw) > 256 {
		return Invalid(field, "the password must be 12 to 256 characters; a few unrelated words make a good one")
	}
	return nil
}
