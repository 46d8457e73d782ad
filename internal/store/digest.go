package store

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
)

// MigrationsDigest returns a hex digest of the engine's migrations, names
// and contents, so that a database migrated by one build can be told from
// one migrated by another (tests keep migrated templates under it).
func MigrationsDigest(e Engine) string {
	h := sha256.New()
	root := "migrations/" + string(e)
	err := fs.WalkDir(migrations, root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(migrations, path)
		if err != nil {
			return err
		}
		h.Write([]byte(path))
		h.Write([]byte{0})
		h.Write(b)
		h.Write([]byte{0})
		return nil
	})
	if err != nil {
		panic("store: read the embedded migrations: " + err.Error())
	}
	return hex.EncodeToString(h.Sum(nil))
}
