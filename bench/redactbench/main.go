// Command redactbench redacts standard input to standard output with
// package redact, as the bundle does for a PBX log, for bench/redact.sh.
// With -gz the input is a gzip archive and so is the output. -values adds
// secret values (comma-separated) as the agent adds its configuration's.
//
//	go run ./bench/redactbench -values 'Api-Pass-1,Smtp-Pass-2' < callmanager.log > out.log
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/pbxagent/pbxagent/redact"
)

func main() {
	gz := flag.Bool("gz", false, "input and output are gzip archives")
	values := flag.String("values", "", "comma-separated secret values to match")
	flag.Parse()
	r := redact.New()
	if *values != "" {
		r = r.WithValues(strings.Split(*values, ",")...)
	}
	out := bufio.NewWriterSize(os.Stdout, 1<<20)
	var n int
	var err error
	if *gz {
		n, err = r.CopyGzip(out, os.Stdin, 0)
	} else {
		n, err = r.Copy(out, os.Stdin)
	}
	if err == nil {
		err = out.Flush()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "redactbench:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "redactions: %d\n", n)
}
