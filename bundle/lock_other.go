//go:build !unix && !windows

package bundle

import "os"

func lockFile(*os.File) error { return nil }

func removeIfUnlocked(string) (bool, error) { return false, nil }
