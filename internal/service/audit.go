package service

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
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
	// Unverified marks an entry verification does not vouch for: it is
	// at or after the first break of its chain, or its chain's
	// checkpoints do not hold.
	Unverified bool `json:"unverified,omitempty"`
}

// ExportAudit calls fn with every audit entry whose time is in [from, to)
// (a zero bound is open), oldest first: the caller's tenant's entries for
// a tenant user holding the Audit feature, every tenant's for the
// operator. It is for shipping the log to a SIEM. The chains are verified
// first, over the same snapshot, and each entry verification does not
// vouch for is marked Unverified.
func (s *Service) ExportAudit(ctx context.Context, from, to time.Time, fn func(*AuditRecord) error) error {
	chain, all, err := auditScope(ctx)
	if err != nil {
		return err
	}
	if !from.IsZero() && !to.IsZero() && !from.Before(to) {
		return keyward.Invalid("to", "The end of the range must come after its start.")
	}
	return s.db.Snapshot(ctx, func(q *store.Q) error {
		v, err := s.verifyAudit(ctx, q, chain, all)
		if err != nil {
			return err
		}
		brokenAt := map[string]int64{}
		for _, c := range v.Chains {
			if c.BrokenAt != 0 {
				brokenAt[c.Chain] = c.BrokenAt
			}
		}
		f := store.AuditFilter{Chain: chain, All: all, From: from, To: to}
		return q.EachAudit(ctx, f, func(r *store.AuditRow) error {
			b, broken := brokenAt[r.TenantID]
			return fn(&AuditRecord{
				Seq: r.Seq, TenantID: r.TenantID, Actor: r.Actor, ActorID: r.ActorID, Action: r.Action,
				ObjectType: r.ObjectType, ObjectID: r.ObjectID, Address: r.Address, Changes: r.Changes, At: r.At,
				PrevHash: r.PrevHash, Hash: r.Hash, Unverified: broken && r.Seq >= b,
			})
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

// AuditWitness keeps, outside the database, the newest checkpoint this
// node wrote for each chain (see auditchain.FileWitness). Someone who can
// write the database but not the witness cannot then remove the newest
// checkpoints, with the entries after them, unnoticed.
type AuditWitness interface {
	// Heads returns the newest checkpoint recorded of each chain; nil when
	// there is no witness (yet).
	Heads() (map[string]auditchain.WitnessHead, error)
	Record(map[string]auditchain.WitnessHead) error
}

// WithAuditWitness sets where this node keeps its checkpoints' witness.
func WithAuditWitness(w AuditWitness) Option { return func(s *Service) { s.witness = w } }

// AuditChainReport is one chain's verification.
type AuditChainReport struct {
	auditchain.Report
	// Newest is the chain's newest trusted checkpoint; nil for none.
	Newest *auditchain.Checkpoint
	// Uncovered is how many entries come after the newest checkpoint,
	// held by their links alone until the next one.
	Uncovered int
}

// AuditVerification is the outcome of VerifyAudit: one report per chain.
// Unsigned counts checkpoints that carry no signature (written with no
// master key; with a master key now, they are not trusted) and Unchecked
// those whose signature could not be checked (no master key now).
// Signed tells whether a master key checked the checkpoints at all, and
// Witnessed whether a witness was found and compared with them.
type AuditVerification struct {
	Chains    []AuditChainReport
	Unsigned  int
	Unchecked int
	Signed    bool
	Witnessed bool
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

// VerifyAudit walks every entry of the audit log's chains (the caller's
// tenant's, or every one for the operator), over one snapshot, and
// reports for each the first broken link and any checkpoint or head it
// contradicts. Checkpoint signatures are checked with the master keyring;
// a checkpoint whose signature does not open is reported, and not
// trusted. The chained checkpoints must run without a gap up to the
// newest one this node's witness recorded.
func (s *Service) VerifyAudit(ctx context.Context) (*AuditVerification, error) {
	chain, all, err := auditScope(ctx)
	if err != nil {
		return nil, err
	}
	var v *AuditVerification
	err = s.db.Snapshot(ctx, func(q *store.Q) error {
		v, err = s.verifyAudit(ctx, q, chain, all)
		return err
	})
	return v, err
}

func (s *Service) verifyAudit(ctx context.Context, q *store.Q, chain string, all bool) (*AuditVerification, error) {
	v := &AuditVerification{Signed: s.keyring != nil}
	witness := map[string]auditchain.WitnessHead{}
	if s.witness != nil {
		w, err := s.witness.Heads()
		if err != nil {
			return nil, err
		}
		witness, v.Witnessed = w, w != nil
	}
	heads, err := q.AuditHeads(ctx)
	if err != nil {
		return nil, err
	}
	headOf := map[string]store.AuditHead{}
	for _, h := range heads {
		headOf[h.Chain] = h
	}
	chains, err := q.AuditChains(ctx)
	if err != nil {
		return nil, err
	}
	for c := range witness {
		chains = append(chains, c)
	}
	slices.Sort(chains)
	for _, c := range slices.Compact(chains) {
		if !all && c != chain {
			continue
		}
		var w *auditchain.WitnessHead
		if h, ok := witness[c]; ok {
			w = &h
		}
		h, hasHead := headOf[c]
		r, err := s.verifyChain(ctx, q, c, h, hasHead, w, v)
		if err != nil {
			return nil, err
		}
		v.Chains = append(v.Chains, r)
	}
	return v, nil
}

// trustedCheckpoints returns a chain's checkpoints that may be relied
// on: with a master key, those whose signature opens (one that does not,
// or a chained one with none, is a problem; an unchained one with none,
// written before a master key was set, is counted in v.Unsigned and left
// out); without one, all of them, unchecked.
func (s *Service) trustedCheckpoints(cps []*store.StoredCheckpoint, v *AuditVerification) (trusted []auditchain.Checkpoint, bad []auditchain.Problem) {
	for _, c := range cps {
		switch {
		case s.keyring == nil:
			if c.Signature == "" {
				v.Unsigned++
			} else {
				v.Unchecked++
			}
		case c.Signature == "" && c.Number > 0:
			// Chained checkpoints are only ever written signed; an unsigned
			// one would also hold its number against the next genuine one.
			bad = append(bad, auditchain.Problem{Chain: c.Chain, Seq: c.Seq, Kind: "checkpoint",
				Message: "checkpoint " + c.ID + " (number " + itoa(c.Number) + ") carries no signature: it was forged"})
			continue
		case c.Signature == "":
			v.Unsigned++
			continue
		default:
			got, err := s.keyring.Open(seal.Sealed(c.Signature), checkpointPlace(c.Checkpoint))
			if err != nil || !bytes.Equal(got, c.Digest()) {
				bad = append(bad, auditchain.Problem{Chain: c.Chain, Seq: c.Seq, Kind: "checkpoint",
					Message: "checkpoint " + c.ID + " does not carry a valid signature: it was altered or forged"})
				continue
			}
		}
		trusted = append(trusted, c.Checkpoint)
	}
	return trusted, bad
}

// newestChained returns the chained checkpoint with the highest number,
// or nil.
func newestChained(cps []auditchain.Checkpoint) *auditchain.Checkpoint {
	var n *auditchain.Checkpoint
	for i, c := range cps {
		if c.Number > 0 && (n == nil || c.Number > n.Number) {
			n = &cps[i]
		}
	}
	return n
}

// verifyChain walks every entry of one chain.
func (s *Service) verifyChain(ctx context.Context, q *store.Q, chain string, h store.AuditHead, hasHead bool, w *auditchain.WitnessHead, v *AuditVerification) (AuditChainReport, error) {
	cps, err := q.AuditCheckpoints(ctx, chain)
	if err != nil {
		return AuditChainReport{}, err
	}
	trusted, bad := s.trustedCheckpoints(cps, v)
	var chained []auditchain.Checkpoint
	for _, c := range trusted {
		if c.Number > 0 {
			chained = append(chained, c)
		}
	}
	bad = append(bad, auditchain.Sequence(chain, chained, w)...)
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
	// Entries without a hash are accepted only as far as a signed
	// checkpoint records them as written before the chain. Until this
	// node has a witness (and so has signed every chain once), as far as
	// the upgrade found them: after that, a legacy record added to the
	// database vouches for nothing.
	newest := newestChained(trusted)
	var legacyThrough int64
	if newest != nil {
		legacyThrough = newest.LegacyThrough
	} else if !v.Witnessed {
		if legacyThrough, _, err = q.AuditLegacy(ctx, chain); err != nil {
			return AuditChainReport{}, err
		}
	}
	if newest == nil && len(trusted) > 0 {
		newest = &trusted[len(trusted)-1]
	}
	var links []auditchain.Link
	err = q.EachAudit(ctx, store.AuditFilter{Chain: chain}, func(r *store.AuditRow) error {
		l := auditchain.Link{Seq: r.Seq, PrevHash: r.PrevHash, Hash: r.Hash}
		if r.Hash != "" {
			l.Computed = auditchain.Hash(r.PrevHash, r.Fields())
		}
		links = append(links, l)
		return nil
	})
	if err != nil {
		return AuditChainReport{}, err
	}
	if len(links) > 0 && links[0].Seq <= anchorSeq {
		bad = append(bad, auditchain.Problem{Chain: chain, Seq: links[0].Seq, Kind: "checkpoint",
			Message: "entry " + itoa(links[0].Seq) + " is older than the latest trim, which removed entries up to " + itoa(anchorSeq) + ": it was put back"})
	}
	r := AuditChainReport{Newest: newest}
	r.Report = auditchain.Walk(chain, links, auditchain.Bounds{
		AnchorSeq: anchorSeq, Anchor: anchor, LegacyThrough: legacyThrough,
		HasHead: hasHead, HeadSeq: h.Seq, HeadHash: h.Hash, Checkpoints: pinned,
	})
	r.Problems = append(r.Problems, bad...)
	r.Suspect(links)
	for _, l := range links {
		if newest == nil || l.Seq > newest.Seq {
			r.Uncovered++
		}
	}
	return r, nil
}

// AuditMaintenance trims audit entries older than retention (none when
// retention is 0) and writes a checkpoint for every chain that moved
// since its last one. A chain is verified first, and gets no checkpoint
// when it does not verify: a checkpoint never vouches for a break. With
// a master key, checkpoints are signed and chained (each holds the number
// and digest of the one before), and the newest of each chain is recorded
// in this node's witness; without one they are unsigned and unchained. A
// trim's checkpoint records the last entry it removed, so what is kept
// still verifies. It is the operator's, or the system's at start and on a
// timer; nodes sharing a database may run it at once.
func (s *Service) AuditMaintenance(ctx context.Context, retention time.Duration) (trimmed int64, err error) {
	if _, err := operatorActor(ctx); err != nil {
		return 0, err
	}
	chains, err := s.db.Read().AuditChains(ctx)
	if err != nil {
		return 0, err
	}
	witnessed := map[string]auditchain.WitnessHead{}
	var broken []string
	for _, chain := range chains {
		cp, n, err := s.checkpointChain(ctx, chain, retention)
		if errors.Is(err, errChainBroken) {
			broken = append(broken, chain)
			continue
		}
		if err != nil {
			return trimmed, err
		}
		trimmed += n
		if cp != nil && cp.Number > 0 {
			witnessed[chain] = auditchain.WitnessHead{Number: cp.Number, Seq: cp.Seq, Digest: cp.DigestHex(), At: cp.CreatedAt}
		}
	}
	if s.witness != nil && len(witnessed) > 0 {
		if err := s.witness.Record(witnessed); err != nil {
			return trimmed, fmt.Errorf("audit checkpoints written, but not recorded in the witness: %w", err)
		}
	}
	if len(broken) > 0 {
		return trimmed, fmt.Errorf("%d audit chains do not verify and got no checkpoint (%s): run \"keyward audit verify\"", len(broken), strings.Join(broken, ", "))
	}
	return trimmed, nil
}

// errChainBroken is returned by checkpointChain for a chain that does not
// verify.
var errChainBroken = errors.New("audit chain does not verify")

// checkpointChain verifies one chain over a snapshot, then trims and
// checkpoints it up to the head it verified. It returns the checkpoint
// written (nil when nothing moved, or another node wrote it first).
func (s *Service) checkpointChain(ctx context.Context, chain string, retention time.Duration) (*auditchain.Checkpoint, int64, error) {
	var r AuditChainReport
	var head store.AuditHead
	var trusted []auditchain.Checkpoint
	err := s.db.Snapshot(ctx, func(q *store.Q) error {
		heads, err := q.AuditHeads(ctx)
		if err != nil {
			return err
		}
		hasHead := false
		for _, h := range heads {
			if h.Chain == chain {
				head, hasHead = h, true
			}
		}
		var w *auditchain.WitnessHead
		var kept map[string]auditchain.WitnessHead
		if s.witness != nil {
			if kept, err = s.witness.Heads(); err != nil {
				return err
			}
			if h, ok := kept[chain]; ok {
				w = &h
			}
		}
		if r, err = s.verifyChain(ctx, q, chain, head, hasHead, w, &AuditVerification{Witnessed: kept != nil}); err != nil {
			return err
		}
		cps, err := q.AuditCheckpoints(ctx, chain)
		if err != nil {
			return err
		}
		trusted, _ = s.trustedCheckpoints(cps, &AuditVerification{})
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	if len(r.Problems) > 0 {
		s.log.Warn("audit chain does not verify; no checkpoint written for it", "chain", chain, "problem", r.Problems[0].Message)
		return nil, 0, errChainBroken
	}
	cp := auditchain.Checkpoint{ID: keyward.NewID("ckp"), Chain: chain, Seq: head.Seq, Hash: head.Hash,
		CreatedAt: s.now().UTC().Truncate(auditchain.Precision), LegacyThrough: r.LastLegacy, LegacyCount: int64(r.Legacy)}
	prev := newestChained(trusted)
	if s.keyring != nil {
		cp.Number = 1
		if prev != nil {
			cp.Number, cp.PrevDigest = prev.Number+1, prev.DigestHex()
			cp.LegacyThrough, cp.LegacyCount = prev.LegacyThrough, prev.LegacyCount
		}
	}
	// Keep the latest trim's record on every checkpoint.
	for _, c := range trusted {
		if c.TrimmedThrough > cp.TrimmedThrough {
			cp.TrimmedThrough, cp.TrimmedHash = c.TrimmedThrough, c.TrimmedHash
		}
	}
	var n int64
	err = s.db.Write(ctx, func(q *store.Q) error {
		if retention > 0 {
			through, hash, removed, err := q.TrimAudit(ctx, chain, s.now().Add(-retention), head.Seq)
			if err != nil {
				return err
			}
			if removed > 0 {
				cp.TrimmedThrough, cp.TrimmedHash, cp.TrimmedCount, n = through, hash, removed, removed
			}
		}
		if cp.TrimmedCount == 0 && r.Newest != nil && r.Newest.Seq == cp.Seq && (s.keyring == nil || r.Newest.Number > 0) {
			return errNothingNew
		}
		sc := &store.StoredCheckpoint{Checkpoint: cp}
		if s.keyring != nil {
			sc.Signature = string(s.keyring.Seal(cp.Digest(), checkpointPlace(cp)))
		}
		return q.InsertAuditCheckpoint(ctx, sc)
	})
	switch {
	case errors.Is(err, errNothingNew):
		return nil, 0, nil
	case store.IsUnique(err):
		return nil, 0, nil // another node wrote this checkpoint first
	case err != nil:
		return nil, 0, err
	}
	return &cp, n, nil
}

// errNothingNew rolls back a checkpoint that would repeat the last one.
var errNothingNew = errors.New("nothing new since the last checkpoint")
