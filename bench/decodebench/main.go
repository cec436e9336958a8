// Command decodebench runs analyze/decode.Read over a capture file with a
// trivial consumer and prints what it counted and how fast, for
// bench/analyze.sh.
//
//	go run ./bench/decodebench FILE
package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"time"

	"github.com/pbxagent/pbxagent/analyze/decode"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: decodebench FILE")
		os.Exit(2)
	}
	fi, err := os.Stat(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "decodebench:", err)
		os.Exit(1)
	}
	var methods = map[string]int{}
	var ssrcs = map[uint32]int{}
	start := time.Now()
	st, err := decode.ReadFile(context.Background(), os.Args[1], decode.Options{}, func(e *decode.Event) error {
		switch {
		case e.SIP != nil:
			if e.SIP.Method != "" {
				methods[e.SIP.Method]++
			} else {
				methods[fmt.Sprint(e.SIP.Status)]++
			}
		case e.RTP != nil:
			ssrcs[e.RTP.SSRC]++
		}
		return nil
	})
	el := time.Since(start)
	if err != nil {
		fmt.Fprintln(os.Stderr, "decodebench:", err)
		os.Exit(1)
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Printf("packets=%d sip=%d rtp=%d rtcp=%d malformed=%d streams=%d elapsed=%.3fs mb_per_s=%.1f heap_sys_mib=%.1f gc=%d\n",
		st.Packets, st.SIP, st.RTP, st.RTCP, st.Malformed, len(ssrcs), el.Seconds(),
		float64(fi.Size())/1e6/el.Seconds(), float64(ms.HeapSys)/(1<<20), ms.NumGC)
	fmt.Printf("sip: %v\n", methods)
}
