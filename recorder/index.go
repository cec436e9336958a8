package recorder

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/pbxagent/pbxagent/internal/atomicfile"
)

// writerTag is written into every index, so the recorder deletes only the
// segments it wrote.
const writerTag = "pbxagent recorder"

// maxCallIDs bounds the Call-IDs kept in one segment's index.
const maxCallIDs = 20000

// Index describes one finished segment, so a bundle finds its packets
// without reading every file.
type Index struct {
	// Writer is always "pbxagent recorder".
	Writer string `json:"writer"`
	// File is the segment's file name in the ring folder.
	File string `json:"file"`
	// Bytes is the segment file's size.
	Bytes int64 `json:"bytes"`
	// Stream is the size of the segment's pcapng stream when the file is
	// compressed (zero for an uncompressed segment).
	Stream int64 `json:"stream_bytes,omitempty"`
	// First and Last are the timestamps of the first and last packet.
	First time.Time `json:"first"`
	Last  time.Time `json:"last"`
	// Packets counts the packets in the segment; HEP those that came from
	// the HEP feed.
	Packets int64 `json:"packets"`
	HEP     int64 `json:"hep,omitempty"`
	// CallIDs are the SIP Call-IDs seen (at most 20000; CallIDsTruncated
	// says when more were seen).
	CallIDs          []string `json:"call_ids,omitempty"`
	CallIDsTruncated bool     `json:"call_ids_truncated,omitempty"`
	// Repaired is true when the segment was cut off by a crash and its
	// readable prefix was kept.
	Repaired bool `json:"repaired,omitempty"`
}

// PcapngBytes is the size of the segment's packets as pcapng, what
// extracting all of it writes.
func (x *Index) PcapngBytes() int64 {
	if x.Stream > 0 {
		return x.Stream
	}
	return x.Bytes
}

// Overlaps reports whether the segment holds packets between from and to.
func (x *Index) Overlaps(from, to time.Time) bool {
	return x.Packets > 0 && !x.Last.Before(from) && !x.First.After(to)
}

// Segment file names: seg-<start Unix ns, 19 digits>.pcapng.gz (.pcapng from
// earlier versions), with the suffix .open while it is written and
// .idx.json for its index.
var segName = regexp.MustCompile(`^seg-([0-9]{19})\.(pcapng(?:\.gz)?(?:\.open)?|idx\.json)$`)

// segKind sorts the kinds of ring file names parseSegName returns.
func segKind(kind string) (seg, open bool) {
	switch kind {
	case "pcapng", "pcapng.gz":
		return true, false
	case "pcapng.open", "pcapng.gz.open":
		return true, true
	}
	return false, false
}

func segmentBase(start time.Time) string { return fmt.Sprintf("seg-%019d", start.UnixNano()) }

// parseSegName returns the start time and kind of a ring file name.
func parseSegName(name string) (int64, string, bool) {
	m := segName.FindStringSubmatch(name)
	if m == nil {
		return 0, "", false
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		return 0, "", false
	}
	return n, m[2], true
}

// indexPath returns the index file of a segment file.
func indexPath(dir, seg string) string {
	return filepath.Join(dir, seg[:len("seg-")+19]+".idx.json")
}

func writeIndex(dir string, x *Index) error {
	data, err := json.Marshal(x)
	if err != nil {
		return err
	}
	return atomicfile.Write(indexPath(dir, x.File), data, 0o600)
}

// maxIndexFile bounds an index read into memory.
const maxIndexFile = 4 << 20

func readIndex(path string) (*Index, error) {
	f, err := openRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var x Index
	dec := json.NewDecoder(limitReader(f, maxIndexFile))
	if err := dec.Decode(&x); err != nil {
		return nil, fmt.Errorf("read index %s: %w", path, err)
	}
	if x.Writer != writerTag {
		return nil, fmt.Errorf("index %s was not written by the recorder", path)
	}
	return &x, nil
}

// callIDs collects the Call-IDs of one segment.
type callIDs struct {
	seen      map[string]struct{}
	list      []string
	truncated bool
}

func (c *callIDs) add(id []byte) {
	if c.seen == nil {
		c.seen = make(map[string]struct{})
	}
	if _, ok := c.seen[string(id)]; ok {
		return
	}
	if len(c.list) >= maxCallIDs {
		c.truncated = true
		return
	}
	s := string(id)
	c.seen[s] = struct{}{}
	c.list = append(c.list, s)
}

var (
	sipVersion = []byte("SIP/2.0")
	hdrCallID  = []byte("call-id")
)

// sipCallID finds the Call-ID header (or its compact form i) of a SIP
// message anywhere in a packet; it returns nil for packets that are not SIP.
// It runs for every recorded packet, so it only looks closer at lines that
// start with c or i, and allocates nothing.
func sipCallID(p []byte) []byte {
	if !bytes.Contains(p, sipVersion) {
		return nil
	}
	for {
		nl := bytes.IndexByte(p, '\n')
		if nl < 0 {
			return nil
		}
		p = p[nl+1:]
		if len(p) == 0 || p[0] == '\r' || p[0] == '\n' {
			return nil // end of headers
		}
		if c := p[0] | 0x20; c != 'c' && c != 'i' {
			continue
		}
		colon := bytes.IndexByte(p[:min(len(p), 17)], ':')
		if colon < 0 {
			continue
		}
		name := bytes.TrimSpace(p[:colon])
		if !bytes.EqualFold(name, hdrCallID) && !(len(name) == 1 && name[0]|0x20 == 'i') {
			continue
		}
		rest := p[colon+1:]
		end := bytes.IndexAny(rest, "\r\n")
		if end < 0 {
			end = len(rest)
		}
		id := bytes.TrimSpace(rest[:end])
		if len(id) == 0 || len(id) > 256 {
			return nil
		}
		return id
	}
}

// IsRingFile reports whether a file name is one the recorder writes in its
// folder (segments, indexes and its status file), for
// uninstalling.
func IsRingFile(name string) bool {
	if _, _, ok := parseSegName(name); ok {
		return true
	}
	// A repair's temporary file: .<segment>.<random>.tmp.
	if seg, rest, ok := strings.Cut(strings.TrimPrefix(name, "."), ".pcapng"); ok && name[0] == '.' && strings.HasSuffix(rest, ".tmp") {
		if _, _, ok := parseSegName(seg + ".pcapng"); ok {
			return true
		}
	}
	return name == "status.json"
}
