package bundle

import "time"

// ManifestName is the index file at the archive's root, written last.
const ManifestName = "manifest.json"

// ManifestVersion is bumped when a field changes meaning.
const ManifestVersion = 1

// Manifest is manifest.json: what the bundle holds, where each file came
// from, its SHA-256, and everything that could not be collected.
type Manifest struct {
	Version      int       `json:"manifest_version"`
	Host         string    `json:"host"`
	AgentVersion string    `json:"agent_version"`
	StartedAt    time.Time `json:"started_at"`
	FinishedAt   time.Time `json:"finished_at"`
	// Partial is true when the run was interrupted (Ctrl-C, SIGTERM, a
	// stopping service) and the bundle holds what was collected until then.
	Partial       bool   `json:"partial"`
	PartialReason string `json:"partial_reason,omitempty"`
	// CommandLine is the invocation with secrets removed.
	CommandLine []string `json:"command_line"`
	// Options are the effective bundle settings.
	Options map[string]any `json:"options,omitempty"`
	// Files lists every file in the archive except the manifest itself.
	Files []FileEntry `json:"files"`
	// Missing lists what was looked for but not collected, with the reason.
	Missing []MissingEntry `json:"missing,omitempty"`
	// Warnings are notes for the reader (caps reached, files that shrank).
	Warnings []string `json:"warnings,omitempty"`
	// Sections hold the long-running captures' own reports (log follow,
	// packet capture), keyed by collector name.
	Sections map[string]any `json:"sections,omitempty"`
}

// FileEntry describes one file in the archive.
type FileEntry struct {
	Path      string    `json:"path"`
	Size      int64     `json:"size"`
	SHA256    string    `json:"sha256"`
	Collector string    `json:"collector"`
	Source    string    `json:"source,omitempty"`
	ModTime   time.Time `json:"mtime,omitzero"`
	// TruncatedBytes were left out to respect the size caps; for logs these
	// are the oldest bytes (the tail is kept).
	TruncatedBytes int64 `json:"truncated_bytes"`
	// Redactions counts secrets replaced in this file.
	Redactions *int `json:"redactions,omitempty"`
	// Error is set when the file is incomplete, e.g. it could not be read
	// to the end (the rest is zero-filled and the hash covers what is in the
	// archive).
	Error string `json:"error,omitempty"`
}

// MissingEntry is something the bundle looked for and did not include.
type MissingEntry struct {
	Path      string `json:"path"`
	Collector string `json:"collector"`
	Reason    string `json:"reason"`
}
