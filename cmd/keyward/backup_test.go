package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/store"
)

// A backup taken while keys are being changed holds every change
// acknowledged before the backup began; restored into a data folder, it
// serves them. Restore refuses a folder a serve is using.
func TestBackupUnderWriteLoadKeepsEveryAcknowledgedWrite(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, "--demo", "--data", dir)
	token := n.adminToken()

	// Each writer owns a key and numbers its description 1, 2, 3…; acked
	// holds, per key, the numbers acknowledged with when.
	type ack struct {
		n  int
		at time.Time
	}
	const writers = 4
	ids := make([]string, writers)
	acked := make([][]ack, writers)
	for w := range writers {
		ids[w], _ = createKey(t, n, token, fmt.Sprintf("load-%d", w))
	}
	stop := make(chan struct{})
	var acks atomic.Int64
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 1; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest("PATCH", n.url+"/api/v1/keys/"+ids[w], strings.NewReader(fmt.Sprintf(`{"description":"%d"}`, i)))
				req.Header.Set("Authorization", "Bearer "+token)
				req.Header.Set("Content-Type", "application/merge-patch+json")
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					continue
				}
				res.Body.Close()
				if res.StatusCode == 200 {
					acked[w] = append(acked[w], ack{i, time.Now()})
					acks.Add(1)
				}
			}
		}()
	}
	// The backup starts once changes are being acknowledged, and the
	// load goes on until some are acknowledged after it.
	waitFor(t, 30*time.Second, "true", func() string { return strconv.FormatBool(acks.Load() >= 20) })
	backup := filepath.Join(t.TempDir(), "keyward-backup.db")
	began := time.Now()
	var out bytes.Buffer
	if err := run(context.Background(), []string{"backup", "--data", dir, "--out", backup}, &out, &out); err != nil {
		t.Fatalf("backup: %v\n%s", err, out.String())
	}
	backedUp := acks.Load()
	waitFor(t, 30*time.Second, "true", func() string { return strconv.FormatBool(acks.Load() >= backedUp+20) })
	close(stop)
	wg.Wait()

	if err := run(context.Background(), []string{"restore", "--data", dir, "--from", backup}, &out, &out); err == nil || !strings.Contains(err.Error(), "another keyward serve") {
		t.Fatalf("restore into a served folder: %v", err)
	}
	if fi, err := os.Stat(backup); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v %v", fi, err)
	}
	restored := t.TempDir()
	out.Reset()
	if err := run(context.Background(), []string{"restore", "--data", restored, "--from", backup}, &out, &out); err != nil {
		t.Fatalf("restore: %v\n%s", err, out.String())
	}
	db, err := store.OpenCurrent(context.Background(), "", restored)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	before, after := 0, 0
	for w, id := range ids {
		last := 0
		for _, a := range acked[w] {
			if a.at.Before(began) {
				last, before = a.n, before+1
			} else {
				after++
			}
		}
		k, err := db.Read().KeyByID(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := strconv.Atoi(k.Description); got < last {
			t.Errorf("key %s: the backup holds change %d, but change %d was acknowledged before it began", id, got, last)
		}
	}
	if before < 20 || after == 0 {
		t.Fatalf("the load did not span the backup: %d changes acknowledged before it, %d after", before, after)
	}
	t.Logf("%d changes acknowledged before the backup began, all in it; %d after", before, after)
}

// Restore refuses a file that is not a keyward database, and changes
// nothing.
func TestRestoreRefusesWhatIsNotABackup(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	if err := run(context.Background(), []string{"tenant", "create", "--domain", "shop", "--data", dir}, &out, &out); err != nil {
		t.Fatal(err)
	}
	junk := filepath.Join(t.TempDir(), "junk.db")
	os.WriteFile(junk, []byte("not a database at all, but long enough to look like a header of one......"), 0o600)
	if err := run(context.Background(), []string{"restore", "--data", dir, "--from", junk}, &out, &out); err == nil || !strings.Contains(err.Error(), "nothing was changed") {
		t.Fatalf("restore of junk: %v", err)
	}
	out.Reset()
	if err := run(context.Background(), []string{"keys", "list", "--tenant", "shop", "--data", dir}, &out, &out); err != nil {
		t.Fatalf("the database after a refused restore: %v\n%s", err, out.String())
	}
}

// A serving node applies retention on its own: old per-minute usage is
// rolled up, and the log says what went.
func TestServeAppliesRetention(t *testing.T) {
	dir := t.TempDir()
	db, err := store.Open(context.Background(), "", dir)
	if err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-72 * time.Hour).Truncate(time.Hour)
	err = db.Write(context.Background(), func(q *store.Q) error {
		for i := range 30 {
			if err := q.AddUsage(context.Background(), "key_gone", old.Add(time.Duration(i)*time.Minute), 1); err != nil {
				return err
			}
		}
		return nil
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	n := startNode(t, "--data", dir, "--prune-interval", "100ms", "--log-level", "info")
	waitFor(t, 10*time.Second, "true", func() string {
		return strconv.FormatBool(strings.Contains(n.logs.text(), `"msg":"retention applied"`) && strings.Contains(n.logs.text(), `"usage_rolled_up":30`))
	})
}
