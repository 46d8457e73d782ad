package service

import (
	"bytes"
	"context"
	"slices"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/auditchain"
	"github.com/keyward/keyward/internal/seal"
	"github.com/keyward/keyward/internal/store"
)

// AuditRecord is an audit entry as exported: the entry with its tenant
// and its links in the tenant's chain.
type AuditRecord struct {
	Seq        int64          `json:"seq"`
	TenantID   string         `json:"tenant_id,omitempty"`
	Actor      string         `json:"actor"`
	ActorID    string         `json:"actor_id,omitempty"`
	Action     string         `json:"action"`
	ObjectType string         `json:"object_type"`
	ObjectID   string         `json:"object_id"`
	Address    string         `json:"address,omitempty"`
	Changes    map[string]any `json:"changes,omitempty"`
	At         time.Time      `json:"at"`
	PrevHash   string         `json:"prev_hash"`
	Hash       string         `json:"hash"`
}

// ExportAudit calls fn with every audit entry whose time is in [from, to)
// (a zero bound is open), oldest first: the caller's tenant's entries for
// a tenant user holding the Audit feature, every tenant's for the
// operator. It is for shipping the log to a SIEM.
func (s *Service) ExportAudit(ctx context.Context, from, to time.Time, fn func(*AuditRecord) error) error {
	chain, all, err := auditScope(ctx)
	if err != nil {
		return err
	}
	if !from.IsZero() && !to.IsZero() && !from.Before(to) {
		return keyward.Invalid("to", "The end of the range must come after its start.")
	}
	return s.db.Read().EachAudit(ctx, chain, all, from, to, 0, func(r *store.AuditRow) error {
		return fn(&AuditRecord{
			Seq: r.Seq, TenantID: r.TenantID, Actor: r.Actor, ActorID: r.ActorID, Action: r.Action,
			ObjectType: r.ObjectType, ObjectID: r.ObjectID, Address: r.Address, Changes: r.Changes, At: r.At,
			PrevHash: r.PrevHash, Hash: r.Hash,
		})
	})
}

// auditScope is what part of the audit log the caller reads: its tenant's
// chain, or every chain for the operator.
func auditScope(ctx context.Context) (chain string, all bool, err error) {
	if a := keyward.ActorFrom(ctx); a != nil && a.TenantID == "" {
		if _, err := operatorActor(ctx); err != nil {
			return "", false, err
		}
		return "", true, nil
	}
	a, err := tenantActor(ctx, keyward.FeatureAudit)
	if err != nil {
		return "", false, err
	}
	return a.TenantID, false, nil
}

// AuditVerification is the outcome of VerifyAudit: one report per chain,
// and how many checkpoints carry no signature (written with no master key)
// or could not be checked (no master key now).
type AuditVerification struct {
	Chains    []auditchain.Report
	Unsigned  int
	Unchecked int
}

// OK reports whether every chain verified.
func (v *AuditVerification) OK() bool {
	for _, c := range v.Chains {
		if len(c.Problems) > 0 {
			return false
		}
	}
	return true
}

// checkpointPlace is where a checkpoint's signature is sealed.
func checkpointPlace(c auditchain.Checkpoint) seal.Place {
	return seal.Place{TenantID: c.Chain, RecordID: c.ID, Field: "audit_checkpoints.signature"}
}

// VerifyAudit walks the audit log's chains (the caller's tenant's, or
// every one for the operator) and reports, for each, the first broken
// link and any checkpoint or head it contradicts. Checkpoint signatures
// are checked with the master keyring; a checkpoint whose signature does
// not open is reported, and not trusted.
func (s *Service) VerifyAudit(ctx context.Context) (*AuditVerification, error) {
	chain, all, err := auditScope(ctx)
	if err != nil {
		return nil, err
	}
	q := s.db.Read()
	heads, err := q.AuditHeads(ctx)
	if err != nil {
		return nil, err
	}
	headless, err := q.AuditChainsWithoutHead(ctx)
	if err != nil {
		return nil, err
	}
	for _, c := range headless {
		heads = append(heads, store.AuditHead{Chain: c})
	}
	slices.SortFunc(heads, func(a, b store.AuditHead) int { return cmpString(a.Chain, b.Chain) })
	v := &AuditVerification{}
	for _, h := range heads {
		if !all && h.Chain != chain {
			continue
		}
		r, err := s.verifyChain(ctx, q, h, v)
		if err != nil {
			return nil, err
		}
		v.Chains = append(v.Chains, r)
	}
	return v, nil
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// verifyChain walks one chain up to the head read before it.
func (s *Service) verifyChain(ctx context.Context, q *store.Q, h store.AuditHead, v *AuditVerification) (auditchain.Report, error) {
	cps, err := q.AuditCheckpoints(ctx, h.Chain)
	if err != nil {
		return auditchain.Report{}, err
	}
	// The head is read after the checkpoints, so every genuine checkpoint
	// pins an entry at or before it, however many nodes write meanwhile.
	if h.Seq != 0 {
		heads, err := q.AuditHeads(ctx)
		if err != nil {
			return auditchain.Report{}, err
		}
		for _, cur := range heads {
			if cur.Chain == h.Chain {
				h = cur
			}
		}
	}
	var bad []auditchain.Problem
	var trusted []auditchain.Checkpoint
	for _, c := range cps {
		switch {
		case c.Signature == "":
			v.Unsigned++
		case s.keyring == nil:
			v.Unchecked++
		default:
			got, err := s.keyring.Open(seal.Sealed(c.Signature), checkpointPlace(c.Checkpoint))
			if err != nil || !bytes.Equal(got, c.Digest()) {
				bad = append(bad, auditchain.Problem{Chain: h.Chain, Seq: c.Seq, Kind: "checkpoint",
					Message: "checkpoint " + c.ID + " does not carry a valid signature: it was altered or forged"})
				continue
			}
		}
		trusted = append(trusted, c.Checkpoint)
	}
	// The chain starts after the latest trim.
	var anchorSeq int64
	anchor := ""
	for _, c := range trusted {
		if c.TrimmedThrough > anchorSeq {
			anchorSeq, anchor = c.TrimmedThrough, c.TrimmedHash
		}
	}
	var pinned []auditchain.Checkpoint
	for _, c := range trusted {
		if c.Seq > anchorSeq {
			pinned = append(pinned, c)
		}
	}
	var links []auditchain.Link
	err = q.EachAudit(ctx, h.Chain, false, time.Time{}, time.Time{}, h.Seq, func(r *store.AuditRow) error {
		l := auditchain.Link{Seq: r.Seq, PrevHash: r.PrevHash, Hash: r.Hash}
		if r.Hash != "" {
			l.Computed = auditchain.Hash(r.PrevHash, r.Fields())
		}
		links = append(links, l)
		return nil
	})
	if err != nil {
		return auditchain.Report{}, err
	}
	if len(links) > 0 && links[0].Seq <= anchorSeq {
		bad = append(bad, auditchain.Problem{Chain: h.Chain, Seq: links[0].Seq, Kind: "checkpoint",
			Message: "entry " + itoa(links[0].Seq) + " is older than the latest trim, which removed entries up to " + itoa(anchorSeq) + ": it was put back"})
	}
	r := auditchain.Walk(h.Chain, links, anchorSeq, anchor, h.Seq, h.Hash, pinned)
	r.Problems = append(r.Problems, bad...)
	return r, nil
}

// AuditMaintenance trims audit entries older than retention (none when
// retention is 0) and writes a checkpoint for every chain that moved
// since its last one, each chain in one transaction. A trim's checkpoint
// records the last entry it removed, so what is kept still verifies.
// Checkpoints are signed with the master keyring when one is set. It is
// the operator's, or the system's at start and on a timer.
func (s *Service) AuditMaintenance(ctx context.Context, retention time.Duration) (trimmed int64, err error) {
	if _, err := operatorActor(ctx); err != nil {
		return 0, err
	}
	heads, err := s.db.Read().AuditHeads(ctx)
	if err != nil {
		return 0, err
	}
	for _, h := range heads {
		err := s.db.Write(ctx, func(q *store.Q) error {
			cp := auditchain.Checkpoint{ID: keyward.NewID("ckp"), Chain: h.Chain, CreatedAt: s.now().UTC().Truncate(auditchain.Precision)}
			if retention > 0 {
				through, hash, n, err := q.TrimAudit(ctx, h.Chain, s.now().Add(-retention))
				if err != nil {
					return err
				}
				cp.TrimmedThrough, cp.TrimmedHash, cp.TrimmedCount = through, hash, n
				trimmed += n
			}
			cur, err := q.AuditHeads(ctx)
			if err != nil {
				return err
			}
			for _, c := range cur {
				if c.Chain == h.Chain {
					cp.Seq, cp.Hash = c.Seq, c.Hash
				}
			}
			cps, err := q.AuditCheckpoints(ctx, h.Chain)
			if err != nil {
				return err
			}
			if cp.TrimmedCount == 0 && len(cps) > 0 && cps[len(cps)-1].Seq == cp.Seq {
				return nil // nothing new since the last checkpoint
			}
			if cp.TrimmedCount == 0 {
				// Keep the latest trim's record on every checkpoint.
				for _, c := range cps {
					if c.TrimmedThrough > cp.TrimmedThrough {
						cp.TrimmedThrough, cp.TrimmedHash = c.TrimmedThrough, c.TrimmedHash
					}
				}
			}
			sc := &store.StoredCheckpoint{Checkpoint: cp}
			if s.keyring != nil {
				sc.Signature = string(s.keyring.Seal(cp.Digest(), checkpointPlace(cp)))
			}
			return q.InsertAuditCheckpoint(ctx, sc)
		})
		if err != nil {
			return trimmed, err
		}
	}
	return trimmed, nil
}
