package config

import (
	"path/filepath"
	"time"
)

// Recorder configures the flight recorder of `pbxagent run`: a bounded ring
// of packet capture segments in the state folder, so a bundle can hold the
// SIP of a failure that already happened (`pbxagent bundle --last 15m`).
type Recorder struct {
	// Enabled turns the recorder on where packet capture is possible.
	Enabled bool `yaml:"enabled"`
	// Dir is the ring's own folder; empty means <state_dir>/recorder.
	Dir string `yaml:"dir"`
	// MaxSize caps the ring's bytes on disk; the ring also stays below the
	// disk watcher's warning level and above the bundle reserve.
	MaxSize ByteSize `yaml:"max_size"`
	// MaxAge deletes segments older than this.
	MaxAge Duration `yaml:"max_age"`
	// SegmentDuration and SegmentSize end a segment, whichever comes first.
	SegmentDuration Duration `yaml:"segment_duration"`
	SegmentSize     ByteSize `yaml:"segment_size"`
	// RTPPayload keeps RTP audio; by default only RTP headers are kept
	// (loss, jitter and timing stay measurable, no audio at rest).
	RTPPayload bool `yaml:"rtp_payload"`
	// Interfaces to capture on; empty means every interface that is up.
	Interfaces []string `yaml:"interfaces"`
}

func defaultRecorder() Recorder {
	return Recorder{
		Enabled:         true,
		MaxSize:         1 * GiB,
		MaxAge:          Duration(24 * time.Hour),
		SegmentDuration: Duration(5 * time.Minute),
		SegmentSize:     64 * MiB,
	}
}

// RecorderDir returns the effective ring folder.
func (c *Config) RecorderDir() string {
	if c.Recorder.Dir != "" {
		return c.Recorder.Dir
	}
	return filepath.Join(c.Agent.StateDir, "recorder")
}

func (c *Config) validateRecorder(goos string, add func(key, format string, args ...any)) {
	r := c.Recorder
	if r.Dir != "" && !isAbs(goos, r.Dir) {
		add("recorder.dir", "must be an absolute path, not %q", r.Dir)
	}
	if r.SegmentSize < 64*KiB {
		add("recorder.segment_size", "%s is too small; use at least 64KiB (default 64MiB)", r.SegmentSize)
	}
	if r.MaxSize < 2*r.SegmentSize {
		add("recorder.max_size", "%s must hold at least two segments of recorder.segment_size (%s)", r.MaxSize, r.SegmentSize)
	}
	if r.MaxAge.D() < time.Minute {
		add("recorder.max_age", "%s is too short; use at least 1m (default 24h)", r.MaxAge)
	}
	if r.SegmentDuration.D() < time.Second {
		add("recorder.segment_duration", "%s is too short; use at least 1s (default 5m)", r.SegmentDuration)
	}
}
