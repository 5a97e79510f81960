// Package crdio writes generated CRD files: only when their content changes,
// atomically, and removing files an earlier run wrote that are no longer made.
package crdio

import (
	"bytes"
	"os"
	"path/filepath"
)

// WriteIfChanged writes data to path unless the file already holds exactly
// data; the write goes through a temporary file and a rename.
func WriteIfChanged(path string, data []byte) error {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return nil
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// RemoveStale deletes the .yaml files in dir that tool wrote earlier
// (recognised by their "# Generated from ... by <tool>; do not edit." header)
// and that are not in keep, e.g. after an upgrade drops a CRD. It returns how
// many it removed.
func RemoveStale(dir, tool string, keep map[string]bool) (int, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range entries {
		if e.IsDir() || keep[e.Name()] || filepath.Ext(e.Name()) != ".yaml" {
			continue
		}
		p := filepath.Join(dir, e.Name())
		data, err := os.ReadFile(p)
		if err != nil {
			return n, err
		}
		first, _, _ := bytes.Cut(data, []byte("\n"))
		if bytes.HasPrefix(first, []byte("# Generated from ")) && bytes.HasSuffix(first, []byte(" by "+tool+"; do not edit.")) {
			if err := os.Remove(p); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}
