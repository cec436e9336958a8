//go:build !genman

package main

import "github.com/spf13/cobra"

// buildCommands are the commands of package builds only (mancmd.go, built
// with the genman tag); the shipped binary has none.
func (a *app) buildCommands() []*cobra.Command { return nil }
