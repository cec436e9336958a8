package collectors

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/pbxagent/pbxagent/internal/safefs"
)

// PBX reports the facts of the PortSIP installation: data folder, installed
// version, log folder and system.ini. It never reads system.ini's content,
// which holds the database superuser password.
type PBX struct {
	dataDir, logDir string
}

// NewPBX returns the PortSIP installation collector for the data folder and
// log folder (config.Config.PBX.DataDir and config.Config.LogDir()).
func NewPBX(dataDir, logDir string) *PBX { return &PBX{dataDir: dataDir, logDir: logDir} }

// PBXData is the pbx collector's Data.
type PBXData struct {
	DataDir       string `json:"data_dir"`
	DataDirExists bool   `json:"data_dir_exists"`
	// Version is the first line of <data_dir>/VERSION, empty when unreadable.
	Version      string `json:"version"`
	VersionFile  string `json:"version_file"`
	VersionError string `json:"version_error,omitempty"`
	// VersionRefused is the refusal reason (symlink, fifo, device, ...)
	// when VERSION was not a regular file and was not read.
	VersionRefused   string `json:"version_refused,omitempty"`
	LogDir           string `json:"log_dir"`
	LogDirExists     bool   `json:"log_dir_exists"`
	SystemINI        string `json:"system_ini"`
	SystemINIPresent bool   `json:"system_ini_present"`
}

// Collect reads the installation facts; it returns ErrNoData when the data
// folder does not exist (PortSIP is not installed here).
func (p *PBX) Collect(ctx context.Context) (*Report, error) {
	if p.dataDir == "" {
		return nil, noData("PortSIP data folder not configured")
	}
	fi, err := os.Stat(p.dataDir)
	switch {
	case os.IsNotExist(err):
		return nil, noData("PortSIP data folder %s not found", p.dataDir)
	case err != nil:
		return nil, fmt.Errorf("PortSIP data folder: %w", err)
	case !fi.IsDir():
		return nil, fmt.Errorf("PortSIP data folder %s is not a folder", p.dataDir)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	d := PBXData{
		DataDir: p.dataDir, DataDirExists: true,
		VersionFile: filepath.Join(p.dataDir, "VERSION"),
		LogDir:      p.logDir,
		SystemINI:   filepath.Join(p.dataDir, "system.ini"),
	}
	d.Version, err = firstLine(d.VersionFile)
	if err != nil {
		d.VersionError = err.Error()
		d.VersionRefused, _ = safefs.Refusal(err)
	}
	if fi, err := os.Stat(p.logDir); err == nil && fi.IsDir() {
		d.LogDirExists = true
	}
	if fi, err := os.Stat(d.SystemINI); err == nil && fi.Mode().IsRegular() {
		d.SystemINIPresent = true
	}

	version := d.Version
	if version == "" {
		version = "version unknown"
	}
	summary := fmt.Sprintf("PortSIP %s at %s", version, d.DataDir)
	if !d.LogDirExists {
		summary += "; log folder " + d.LogDir + " missing"
	}
	if !d.SystemINIPresent {
		summary += "; system.ini missing"
	}
	rows := [][]string{
		{"Data folder:", d.DataDir},
		{"Version:", orUnknown(d.Version)},
		{"Log folder:", fmt.Sprintf("%s (exists: %t)", d.LogDir, d.LogDirExists)},
		{"system.ini:", fmt.Sprintf("%s (present: %t)", d.SystemINI, d.SystemINIPresent)},
	}
	if d.VersionError != "" {
		rows = append(rows, []string{"VERSION file:", d.VersionError})
	}
	return &Report{State: StateOK, Summary: summary, Data: d, Text: textTable(rows)}, nil
}

// firstLine returns the first line of a file of the PBX, trimmed, reading
// at most 4 KiB through safefs: a symlink, FIFO or device named VERSION is
// refused, never followed or waited on.
func firstLine(path string) (string, error) {
	d, err := safefs.OpenDir(filepath.Dir(path), safefs.DirOptions{Owner: -1})
	if err != nil {
		return "", err
	}
	defer d.Close()
	f, err := d.Open(filepath.Base(path))
	if err != nil {
		return "", err
	}
	defer f.Close()
	head, err := safefs.ReadLimited(f, 4096)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	line, _, _ := strings.Cut(string(head), "\n")
	line = strings.TrimSpace(strings.TrimPrefix(line, "\ufeff"))
	if line == "" {
		return "", fmt.Errorf("%s: empty first line", path)
	}
	return line, nil
}
