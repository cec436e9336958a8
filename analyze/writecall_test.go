package analyze

import (
	"bytes"
	"context"
	"testing"

	"github.com/pbxagent/pbxagent/analyze/decode"
)

// Writing one call of a public capture yields exactly its SIP messages and
// its RTP, readable as pcapng.
func TestWriteCall(t *testing.T) {
	const file = "testdata/corpus/sngrep-aaa.pcap"
	ctx := context.Background()
	rep, err := AnalyzeFile(ctx, file, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var call *Dialog
	var rtp int64
	for i := range rep.Calls {
		if len(rep.Calls[i].Streams) > 0 {
			call = &rep.Calls[i]
			for _, s := range call.Streams {
				rtp += rep.Streams[s].Packets
			}
			break
		}
	}
	if call == nil || rtp == 0 {
		t.Fatal("no call with RTP in the corpus file")
	}
	var buf bytes.Buffer
	n, err := WriteCall(ctx, file, rep, call.CallID, &buf)
	if err != nil {
		t.Fatal(err)
	}
	var sip, got int64
	st, err := decode.Read(ctx, bytes.NewReader(buf.Bytes()), decode.Options{}, func(e *decode.Event) error {
		if e.SIP != nil {
			if e.SIP.CallID != call.CallID {
				t.Errorf("a message of another dialog: %s", e.SIP.CallID)
			}
			sip++
		}
		if e.RTP != nil {
			got++
		}
		return nil
	})
	if err != nil {
		t.Fatalf("the written file does not read back: %v", err)
	}
	if sip != int64(len(call.Messages)) || got != rtp || int64(n) != st.Packets || st.Packets != sip+rtp {
		t.Fatalf("wrote %d packets: %d SIP (want %d), %d RTP (want %d), stats %+v", n, sip, len(call.Messages), got, rtp, st)
	}
	if _, err := WriteCall(ctx, file, rep, "no-such-call", &buf); err == nil {
		t.Fatal("an unknown Call-ID is not an error")
	}
}
