package keyward

import (
	"slices"
	"strings"
	"time"
)

// Feature is a back-office capability a security profile may hold.
type Feature string

// The features.
const (
	FeatureAPIManagement Feature = "api_management"
	FeatureWebhooks      Feature = "webhooks"
	FeatureConnectors    Feature = "connectors"
	FeatureMerchants     Feature = "merchants"
	FeatureUsers         Feature = "users"
	FeatureAudit         Feature = "audit"
)

// Features lists every feature in display order.
var Features = []Feature{FeatureAPIManagement, FeatureWebhooks, FeatureConnectors, FeatureMerchants, FeatureUsers, FeatureAudit}

// Label is the feature's name as the back office shows it.
func (f Feature) Label() string {
	switch f {
	case FeatureAPIManagement:
		return "API Management"
	case FeatureWebhooks:
		return "Webhooks"
	case FeatureConnectors:
		return "Connectors"
	case FeatureMerchants:
		return "Merchants"
	case FeatureUsers:
		return "Users"
	case FeatureAudit:
		return "Audit"
	}
	return string(f)
}

// FeatureSet is a set of features.
type FeatureSet []Feature

// Has reports whether the set holds f.
func (s FeatureSet) Has(f Feature) bool { return slices.Contains(s, f) }

// ParseFeatures checks and normalises a list of feature names: known names
// only, no duplicates, in display order.
func ParseFeatures(field string, names []Feature) (FeatureSet, error) {
	out := FeatureSet{}
	for _, n := range names {
		f := Feature(strings.TrimSpace(string(n)))
		if !slices.Contains(Features, f) {
			return nil, Invalid(field, "unknown feature %q; known features are %s", n, featureList())
		}
		if !out.Has(f) {
			out = append(out, f)
		}
	}
	slices.SortFunc(out, func(a, b Feature) int { return slices.Index(Features, a) - slices.Index(Features, b) })
	return out, nil
}

func featureList() string {
	names := make([]string, len(Features))
	for i, f := range Features {
		names[i] = string(f)
	}
	return strings.Join(names, ", ")
}

// Profile is a security profile: a named set of features.
type Profile struct {
	Versioned
	ID        string     `json:"id"`
	TenantID  string     `json:"-"`
	Name      string     `json:"name"`
	Features  FeatureSet `json:"features"`
	CreatedAt time.Time  `json:"created_at"`
	UpdatedAt time.Time  `json:"updated_at"`
}

// ProfileCreate is the input for creating a profile.
type ProfileCreate struct {
	Name     string    `json:"name"`
	Features []Feature `json:"features"`
}

// ProfileUpdate changes a profile, read as a JSON Merge Patch (RFC 7396):
// fields left out keep their value.
type ProfileUpdate struct {
	Name     *string    `json:"name"`
	Features *[]Feature `json:"features"`
}

// Null applies a null member of the merge patch: "features": null removes
// every feature; name cannot be removed.
func (in *ProfileUpdate) Null(member string) error {
	if member == "features" {
		in.Features = new([]Feature)
		return nil
	}
	return cannotRemove(member)
}

// ValidName checks a display name: present, printable, at most max characters.
func ValidName(field, s string, max int) error {
	if strings.TrimSpace(s) == "" {
		return Invalid(field, "%s is required", field)
	}
	return ValidText(field, s, max)
}
